"""Moving averages of weights whose gradient stays 0 never sit in the (slow) subnormal range, and
clearing them leaves the weights exactly as the plain update rule gives them."""

import numpy as np
import pytest

import neuronlab as nl
from neuronlab.core import Param


def subnormal_count(a):
    return int(((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)).sum())


def zero_gradient_run(opt, steps=1200):
    """A weight row trained 5 steps on gradient 1e-3, then `steps` steps on gradient 0 (a black pixel)."""
    p = Param(np.full((4, 3), 0.05, dtype=np.float32), "w")
    p.grad = np.full_like(p.value, 1e-3)
    for t in range(5 + steps):
        if t == 5:
            p.grad[:2] = 0
        opt.step([p])
    return p, opt.state["w"]


def sgd_reference(steps=1200, lr=0.05, mu=0.9):
    """PyTorch's momentum SGD in float32 without any clearing."""
    w = np.full((4, 3), 0.05, dtype=np.float32)
    g = np.full_like(w, 1e-3)
    v = None
    for t in range(5 + steps):
        if t == 5:
            g[:2] = 0
        v = g.copy() if v is None else v * np.float32(mu) + g
        w = w - np.float32(lr) * v
    return w, v


def test_plain_arithmetic_does_reach_subnormals():
    _, v = sgd_reference()
    assert subnormal_count(v) > 0  # what the clearing exists for


def test_sgd_momentum_buffer_has_no_subnormals_and_weights_are_unchanged():
    p, state = zero_gradient_run(nl.optimizers.SGD(lr=0.05, momentum=0.9))
    assert subnormal_count(state["momentum_buffer"]) == 0
    w_ref, _ = sgd_reference()
    np.testing.assert_array_equal(p.value, w_ref)


@pytest.mark.parametrize("opt", [nl.optimizers.Adam(lr=1e-3), nl.optimizers.SGD(lr=0.05, momentum=0.9, ema=True)],
                         ids=["adam", "sgd-ema"])
def test_other_moving_averages_have_no_subnormals(opt):
    _, state = zero_gradient_run(opt, steps=1500)
    floats = [buf for buf in state.values() if np.issubdtype(buf.dtype, np.floating)]
    assert floats and all(subnormal_count(buf) == 0 for buf in floats)
