"""Blocked element-wise updates (``optimizers.BLOCK``) give the same bits as whole-array updates."""

import numpy as np
import pytest

from neuronlab import optimizers
from neuronlab.core import Param

CASES = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "ema": True}),
    ("adam", {"lr": 1e-3}),
    ("adam", {"lr": 1e-3, "amsgrad": True, "weight_decay": 1e-2}),
    ("adamw", {"lr": 1e-3}),
]


def run(name, kwargs, block, steps=70, size=3 * 65_536 + 123):
    """``steps`` updates (past the 64th, where subnormals are flushed) of a (size,) parameter whose
    gradient is zero on a third of the entries, as always-black pixels are."""
    optimizers.BLOCK = block
    rng = np.random.default_rng(0)
    p = Param(rng.standard_normal(size).astype(np.float32), "w")
    opt = optimizers.get(name, **kwargs)
    for _ in range(steps):
        g = rng.standard_normal(size).astype(np.float32)
        g[: size // 3] = 0.0
        p.grad = g
        opt.step([p])
    return p.value, opt.state_dict()


@pytest.mark.parametrize("name,kwargs", CASES)
def test_blocked_update_is_bit_identical(name, kwargs, monkeypatch):
    monkeypatch.setattr(optimizers, "BLOCK", optimizers.BLOCK)  # restored after the test
    whole, whole_state = run(name, kwargs, block=10**9)
    blocked, blocked_state = run(name, kwargs, block=65_536)
    assert np.array_equal(whole, blocked)
    assert whole_state.keys() == blocked_state.keys()
    for key in whole_state:
        assert np.array_equal(whole_state[key], blocked_state[key]), key
