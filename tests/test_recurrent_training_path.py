"""The LSTM's and GRU's training path (feature-major buffers, fused per-step products).

Reused buffers across batch sizes and sequence lengths, the path without ∂C/∂X, and float32
parity with PyTorch at the benchmark's shapes (summation order differs from torch's). The
step loops run compiled (numba, optional) or in NumPy; the parity tests here run both
(``test_recurrent.py`` runs whichever is installed).
"""

import numpy as np
import pytest
import torch

import neuronlab.layers.recurrent_kernels as recurrent_kernels
from conftest import use_kernels
from neuronlab.layers import GRU, LSTM
from test_recurrent import close, torch_twin

CELLS = {"lstm": LSTM, "gru": GRU}


@pytest.fixture(params=["numpy", "numba"])
def backend(request, monkeypatch):
    """The step loops in NumPy (kernels off) or compiled by numba (a test dependency)."""
    return use_kernels(monkeypatch, recurrent_kernels, request.param)


def layer_of(kind, units, d, dtype, return_sequences=True, seed=0):
    layer = CELLS[kind](units, return_sequences=return_sequences, init="torch")
    layer.name = kind
    layer.build((5, d), np.random.default_rng(seed), dtype)
    return layer


def step(layer, X, R):
    """Forward, backward; copies of the output, ∂C/∂X and every parameter gradient."""
    out = layer.forward(X, training=True).copy()
    dX = layer.backward(R)
    return out, None if dX is None else dX.copy(), [p.grad.copy() for p in layer.params()]


@pytest.mark.parametrize("kind", CELLS)
def test_buffers_reused_across_shapes_give_the_same_results(kind, backend, rng):
    layer = layer_of(kind, 5, 3, np.float64)
    shapes = [(4, 6), (2, 3), (1, 1), (4, 6)]
    data = [(rng.normal(size=(n, T, 3)), rng.normal(size=(n, T, 5))) for n, T in shapes]
    data[3] = data[0]
    results = [step(layer, X, R) for X, R in data]
    for a, b in zip(results[0][:2] + tuple(results[0][2]), results[3][:2] + tuple(results[3][2])):
        np.testing.assert_array_equal(a, b)
    fresh = layer_of(kind, 5, 3, np.float64)
    for got, want in zip(results[1][2], step(fresh, *data[1])[2]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_without_input_gradient_the_parameter_gradients_are_unchanged(kind, return_sequences, rng):
    layer = layer_of(kind, 6, 4, np.float64, return_sequences)
    X = rng.normal(size=(3, 7, 4))
    R = rng.normal(size=(3, 7, 6) if return_sequences else (3, 6))
    out, dX, grads = step(layer, X, R)
    assert dX.shape == X.shape
    layer.needs_input_grad = False
    out2, dX2, grads2 = step(layer, X, R)
    assert dX2 is None
    np.testing.assert_array_equal(out, out2)
    for a, b in zip(grads, grads2):
        close(a, b, 1e-14)


@pytest.mark.parametrize("kind", CELLS)
def test_float32_parity_at_the_benchmark_shapes(kind, backend, rng):
    """Sequential-MNIST shapes (T = 28, d = 28), batch 64, 64 units: float32 within 1e-5 of torch float64."""
    layer = layer_of(kind, 64, 28, np.float32, return_sequences=False)
    mod = torch_twin(layer, kind, rng)
    X = rng.random((64, 28, 28)).astype(np.float32)
    R = rng.normal(size=(64, 64)).astype(np.float32)
    out = layer.forward(X, training=True)
    dX = layer.backward(R)
    Xt = torch.tensor(X.astype(np.float64), requires_grad=True)
    out_t = mod(Xt)[0][:, -1]
    (out_t * torch.tensor(R.astype(np.float64))).sum().backward()
    close(out, out_t, 1e-5)
    close(dX, Xt.grad, 1e-5)
    close(layer.W.grad, mod.weight_ih_l0.grad.T, 1e-5)
    close(layer.U.grad, mod.weight_hh_l0.grad.T, 1e-5)
    if kind == "lstm":
        close(layer.B.grad, mod.bias_ih_l0.grad, 1e-5)
    else:
        close(layer.Bhn.grad, mod.bias_hh_l0.grad[2 * 64:], 1e-5)


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("T", [1, 2])
def test_one_and_two_steps_match_torch(kind, T, backend, rng):
    """The first step skips H_0 = 0 in its products: T = 1 and 2 against torch, float64."""
    layer = layer_of(kind, 5, 3, np.float64)
    mod = torch_twin(layer, kind, rng)
    X = rng.normal(size=(4, T, 3))
    R = rng.normal(size=(4, T, 5))
    out = layer.forward(X, training=True)
    dX = layer.backward(R)
    Xt = torch.tensor(X, requires_grad=True)
    out_t = mod(Xt)[0]
    (out_t * torch.tensor(R)).sum().backward()
    close(out, out_t)
    close(dX, Xt.grad)
    close(layer.W.grad, mod.weight_ih_l0.grad.T)
    close(layer.U.grad, mod.weight_hh_l0.grad.T)
    if kind == "lstm":
        close(layer.B.grad, mod.bias_ih_l0.grad)
    else:
        close(layer.B.grad[2 * 5:], mod.bias_ih_l0.grad[2 * 5:])
        close(layer.Bhn.grad, mod.bias_hh_l0.grad[2 * 5:])


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_compiled_and_numpy_steps_agree(kind, return_sequences, monkeypatch, rng):
    """The numba loops and the NumPy calls compute the same numbers (to rounding), float64 and float32."""
    for dtype, tol in ((np.float64, 1e-13), (np.float32, 1e-6)):
        X = rng.normal(size=(6, 9, 4)).astype(dtype)
        R = rng.normal(size=(6, 9, 7) if return_sequences else (6, 7)).astype(dtype)
        runs = []
        for loaded in (False, None):
            monkeypatch.setattr(recurrent_kernels, "_loaded", loaded)
            monkeypatch.delenv("NEURONLAB_NUMBA", raising=False)
            runs.append(step(layer_of(kind, 7, 4, dtype, return_sequences), X, R))
        assert recurrent_kernels.kernels() is not None
        (out_a, dX_a, g_a), (out_b, dX_b, g_b) = runs
        for a, b in zip([out_a, dX_a, *g_a], [out_b, dX_b, *g_b]):
            close(a, b, tol)
