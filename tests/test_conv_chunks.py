"""Conv2D in chunks and MaxPool2D/col2im compiled or not: the same results.

A window matrix above ``conv.KEEP_BYTES`` is not kept from forward to backward but rebuilt in
chunks of ``conv.CHUNK_BYTES``, and max pooling and col2im run compiled (numba,
``neuronlab.layers.conv_kernels``) or in NumPy. Here the matrix is kept or rebuilt in chunks
of about one sample, for both backends, and every output and gradient is compared with
PyTorch in float64 (≤ 1e-10) and with the one-piece run in float32 (≤ 1e-5); the parity cases
of ``test_conv.py`` (which run with the compiled kernels when numba is installed) run here
with NumPy too.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import neuronlab as nl
import neuronlab.layers.conv as conv
import neuronlab.layers.conv_kernels as conv_kernels
import test_conv
from conftest import use_kernels
from neuronlab.layers import Conv2D, MaxPool2D
from test_conv import CONV_CASES, POOL_CASES, nchw, nhwc

EXACT = 1e-10


@pytest.fixture(params=["numpy", "numba"])
def backend(request, monkeypatch):
    """NumPy (kernels switched off) or the numba kernels (compiled; numba is a test dependency)."""
    return use_kernels(monkeypatch, conv_kernels, request.param)


@pytest.fixture(params=["kept", "rebuilt"])
def chunks(request, monkeypatch):
    """The window matrix kept whole, or rebuilt in backward in chunks of about one sample."""
    rebuilt = request.param == "rebuilt"
    monkeypatch.setattr(conv, "KEEP_BYTES", 0 if rebuilt else 1 << 40)
    return rebuilt


CASES = [((5, 7, 7, 3), 4, 3, 1, "valid", "relu"), ((4, 8, 7, 1), 3, 5, 1, 2, "tanh"),
         ((5, 9, 8, 2), 3, (3, 2), 2, "valid", "gelu"), ((3, 6, 6, 1), 2, 3, 2, 1, None)]


@pytest.mark.parametrize("shape,filters,kernel,stride,padding,activation", CASES)
def test_chunked_conv2d_matches_torch(backend, chunks, monkeypatch, shape, filters, kernel, stride, padding,
                                      activation, rng):
    X = rng.normal(size=shape)
    layer = Conv2D(filters, kernel, stride=stride, padding=padding, activation=activation, name="c")
    layer.build(shape[1:], np.random.default_rng(0), np.float64)
    layer.B.value[...] = rng.normal(size=filters)
    sample = X[:1].size * np.prod(kernel) * 8
    monkeypatch.setattr(conv, "CHUNK_BYTES", sample)  # about one sample per chunk
    H = layer.forward(X, training=True).copy()
    G = rng.normal(size=H.shape)
    dX = layer.backward(G.copy())
    assert (len(layer._chunks(len(X))) > 1) == chunks

    tX = nchw(X).requires_grad_()
    tW = torch.tensor(nl.layers.kernel_to_torch(layer.W.value), requires_grad=True)
    tB = torch.tensor(layer.B.value.copy(), requires_grad=True)
    Z = F.conv2d(tX, tW, tB, stride=stride, padding=padding)
    out = {"relu": torch.relu, "tanh": torch.tanh, "gelu": F.gelu, None: lambda z: z}[activation](Z)
    (out * nchw(G)).sum().backward()
    np.testing.assert_allclose(H, nhwc(out), rtol=0, atol=EXACT)
    np.testing.assert_allclose(dX, nhwc(tX.grad), rtol=0, atol=EXACT)
    np.testing.assert_allclose(layer.W.grad, nl.layers.kernel_from_torch(tW.grad.numpy()), rtol=0, atol=EXACT)
    np.testing.assert_allclose(layer.B.grad, tB.grad.numpy(), rtol=0, atol=EXACT)


@pytest.mark.parametrize("shape,pool,stride", [((5, 8, 8, 3), 2, None), ((4, 9, 9, 2), 3, 2), ((3, 8, 7, 2), 2, 3)])
def test_max_pool_matches_torch(backend, shape, pool, stride, rng):
    """test_conv's max-pool check (ties go to the first maximum) on each backend."""
    test_conv.test_max_pool_matches_torch(shape, pool, stride, rng)


def test_chunked_float32_training_steps_equal_one_piece(backend, monkeypatch, rng):
    """Three LeNet steps in float32: chunks of one sample vs one piece, losses and weights within 1e-5."""
    def trained(keep_bytes):
        monkeypatch.setattr(conv, "KEEP_BYTES", keep_bytes)
        m = nl.Sequential([Conv2D(6, 5, padding="same", activation="relu", input_shape=(16, 16, 1)), MaxPool2D(2),
                           Conv2D(8, 3, activation="relu"), MaxPool2D(2), nl.layers.Flatten(),
                           nl.layers.Dense(10, "softmax")], seed=0)
        m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.05, momentum=0.9))
        logs = [m.train_step(X[k:k + 32], y[k:k + 32])["loss"] for k in range(0, 96, 32)]
        return logs, m.get_weights()

    monkeypatch.setattr(conv, "CHUNK_BYTES", 1)  # one sample per chunk
    X = rng.random((96, 16, 16, 1)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 96)]
    (loss1, w1), (loss2, w2) = trained(1 << 40), trained(0)
    np.testing.assert_allclose(loss2, loss1, rtol=1e-5)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("shape,filters,kernel,stride,padding", CONV_CASES)
def test_numpy_conv2d_matches_torch(shape, filters, kernel, stride, padding, monkeypatch, rng):
    monkeypatch.setattr(conv_kernels, "_loaded", False)
    X = rng.normal(size=shape)
    layer = Conv2D(filters, kernel, stride=stride, padding=padding, name="c")
    layer.build(shape[1:], np.random.default_rng(0), np.float64)
    H = layer.forward(X, training=True).copy()
    G = rng.normal(size=H.shape)
    dX = layer.backward(G.copy())
    pt, pb, pl, pr = layer.pads
    tX = nchw(X).requires_grad_()
    tW = torch.tensor(nl.layers.kernel_to_torch(layer.W.value), requires_grad=True)
    out = F.conv2d(F.pad(tX, (pl, pr, pt, pb)), tW, stride=stride)
    (out * nchw(G)).sum().backward()
    np.testing.assert_allclose(H, nhwc(out), rtol=0, atol=EXACT)
    np.testing.assert_allclose(dX, nhwc(tX.grad), rtol=0, atol=EXACT)
    np.testing.assert_allclose(layer.W.grad, nl.layers.kernel_from_torch(tW.grad.numpy()), rtol=0, atol=EXACT)


@pytest.mark.parametrize("shape,pool,stride", POOL_CASES)
def test_numpy_and_compiled_max_pool_agree_on_ties(shape, pool, stride, monkeypatch, rng):
    """Rounded values tie inside windows: both backends route the gradient to the first maximum."""
    X = np.round(rng.normal(size=shape), 1)
    X[0, :2, :2, 0] = 0.0
    G = rng.normal(size=(shape[0], *built_pool(pool, stride, shape).output_shape))
    results = []
    for loaded in (False, None):
        monkeypatch.setattr(conv_kernels, "_loaded", loaded)
        layer = built_pool(pool, stride, shape)
        results.append((layer.forward(X, training=True).copy(), layer.backward(G.copy()).copy()))
    assert conv_kernels.kernels() is not None
    for a, b in zip(*results):  # overlapping windows add in another order: equal up to rounding
        np.testing.assert_allclose(a, b, rtol=0, atol=EXACT)


def built_pool(pool, stride, shape):
    layer = MaxPool2D(pool, stride, name="p")
    layer.build(shape[1:], np.random.default_rng(0), np.float64)
    return layer


def test_neuronlab_numba_0_switches_the_kernels_off(monkeypatch):
    monkeypatch.setattr(conv_kernels, "_loaded", None)
    monkeypatch.setenv("NEURONLAB_NUMBA", "0")
    assert conv_kernels.kernels() is None


def test_without_numba_the_numpy_path_runs(monkeypatch, rng):
    """numba missing (its import fails): no kernels, and a LeNet step still trains."""
    monkeypatch.setitem(__import__("sys").modules, "numba", None)
    monkeypatch.setattr(conv_kernels, "_loaded", None)
    assert conv_kernels.kernels() is None
    m = nl.Sequential([Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 1)), MaxPool2D(2),
                       nl.layers.Flatten(), nl.layers.Dense(3, "softmax")], seed=0)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.1))
    logs = m.train_step(rng.random((6, 8, 8, 1)).astype(np.float32), np.eye(3, dtype=np.float32)[[0, 1, 2] * 2])
    assert np.isfinite(logs["loss"]) and m.layers[1].masks.dtype == np.bool_
