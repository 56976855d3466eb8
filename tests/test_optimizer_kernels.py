"""The compiled one-pass SGD/Adam updates (optimizer_kernels) give the same bits as the NumPy code."""

import numpy as np
import pytest

import neuronlab as nl
from neuronlab import optimizer_kernels
from neuronlab.core import Param

SHAPES = [(300, 300), (7, 5), (13,)]  # 90,000 elements: more than one of NumPy's blocks
STEPS = 70  # past step 64, where near-subnormal moving averages are flushed


def _grads(dtype, seed=0):
    """STEPS gradients per shape; a patch of each is tiny on step 1 and 0 after, so that its moving
    averages decay towards the subnormal range and are flushed on step 64."""
    rng = np.random.default_rng(seed)
    tiny = np.finfo(dtype).tiny * 100
    out = []
    for step in range(STEPS):
        gs = []
        for shape in SHAPES:
            g = rng.standard_normal(shape).astype(dtype)
            flat = g.reshape(-1)
            flat[:4] = tiny if step == 0 else 0
            gs.append(g)
        out.append(gs)
    return out


def _run(opt, dtype, backend, monkeypatch):
    monkeypatch.setattr(optimizer_kernels, "_loaded", False if backend == "numpy" else None)
    if backend == "numba":
        monkeypatch.delenv("NEURONLAB_NUMBA", raising=False)
        assert optimizer_kernels.kernels() is not None
    rng = np.random.default_rng(1)
    params = [Param(rng.standard_normal(s).astype(dtype), f"p{i}") for i, s in enumerate(SHAPES)]
    for gs in _grads(dtype):
        for p, g in zip(params, gs):
            p.grad = g
        opt.step(params)
    return [p.value for p in params], opt.state


OPTIMIZERS = {
    "sgd": lambda: nl.optimizers.SGD(lr=0.05),
    "momentum": lambda: nl.optimizers.SGD(lr=0.05, momentum=0.9),
    "dampening": lambda: nl.optimizers.SGD(lr=0.05, momentum=0.9, dampening=0.3),
    "nesterov": lambda: nl.optimizers.SGD(lr=0.05, momentum=0.8, nesterov=True),
    "ema": lambda: nl.optimizers.SGD(lr=0.05, momentum=0.9, ema=True),
    "momentum_clipped_decayed": lambda: nl.optimizers.SGD(lr=0.05, momentum=0.9, weight_decay=1e-3, clipnorm=5.0),
    "adam": lambda: nl.optimizers.Adam(lr=3e-3),
    "adam_decayed": lambda: nl.optimizers.Adam(lr=1e-3, beta1=0.8, beta2=0.99, weight_decay=1e-2),
    "adamw": lambda: nl.optimizers.AdamW(lr=1e-3, weight_decay=1e-2),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_compiled_update_is_bit_identical_to_numpy(name, dtype, monkeypatch):
    opt = OPTIMIZERS[name]()
    want, want_state = _run(opt, dtype, "numpy", monkeypatch)
    got, got_state = _run(OPTIMIZERS[name](), dtype, "numba", monkeypatch)
    for w, g in zip(want, got):
        assert g.dtype == dtype
        np.testing.assert_array_equal(g, w)
        assert np.array_equal(np.signbit(g), np.signbit(w))
    for pname, slots in want_state.items():
        for key, arr in slots.items():
            np.testing.assert_array_equal(got_state[pname][key], arr, err_msg=f"{pname}/{key}")
    coupled_decay = opt.weight_decay and not opt.decoupled_weight_decay  # λW enters g: the patch is not 0
    if ("momentum_buffer" in want_state["p0"] or "exp_avg" in want_state["p0"]) and not coupled_decay:
        slot = want_state["p0"].get("momentum_buffer", want_state["p0"].get("exp_avg"))
        assert (slot.reshape(-1)[:4] == 0).all(), "the flushed patch is exactly 0"


def test_compiled_update_is_used_and_falls_back(monkeypatch):
    """Contiguous float arrays take the compiled loop; a non-contiguous parameter takes NumPy's."""
    monkeypatch.delenv("NEURONLAB_NUMBA", raising=False)
    monkeypatch.setattr(optimizer_kernels, "_loaded", None)
    calls = []
    real = optimizer_kernels.kernels()

    class Spy:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(real, name)

    monkeypatch.setattr(optimizer_kernels, "_loaded", Spy())
    opt = nl.optimizers.SGD(lr=0.1, momentum=0.9)
    p = Param(np.ones((4, 6), np.float32), "w")
    p.grad = np.ones((4, 6), np.float32)
    opt.step([p])
    assert calls == ["sgd_momentum"]
    q = Param(np.ones((6, 4), np.float32).T, "t")  # a transposed view
    q.grad = np.ones((4, 6), np.float32)
    opt.step([q])
    assert calls == ["sgd_momentum"] and np.allclose(q.value, 1 - 0.1)


def test_numba_off_by_environment(monkeypatch):
    monkeypatch.setenv("NEURONLAB_NUMBA", "0")
    monkeypatch.setattr(optimizer_kernels, "_loaded", None)
    assert optimizer_kernels.kernels() is None
