"""Conv2D, pooling and Flatten: float64 gradient checks and exact parity with PyTorch (NHWC vs NCHW)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import neuronlab as nl
from neuronlab.layers import AvgPool2D, Conv2D, Flatten, GlobalAvgPool2D, MaxPool2D

TOL = 1e-6      # gradient check: max |analytic - numeric| / max |gradient|
EXACT = 1e-10   # float64 parity with PyTorch


def nchw(A):
    """Our NHWC array → a torch NCHW tensor (the transpose is spelled out on purpose)."""
    return torch.tensor(np.ascontiguousarray(A.transpose(0, 3, 1, 2)))


def nhwc(T):
    return T.detach().numpy().transpose(0, 2, 3, 1)


def built(layer, input_shape, seed=0):
    layer.name = layer.name or type(layer).__name__.lower()
    layer.build(input_shape, np.random.default_rng(seed), np.float64)
    return layer


def distinct(rng, shape):
    """Values at least 1e-3 apart (max pooling's argmax is then stable under the ±1e-6 steps)."""
    return rng.permutation(np.prod(shape)).reshape(shape) * 1e-3 - np.prod(shape) * 5e-4


# -- gradient checks ---------------------------------------------------------------------------
CONV_CASES = [
    # (input (n, h, w, c), filters, kernel, stride, padding)
    ((2, 7, 7, 3), 4, 3, 1, "valid"),
    ((2, 7, 6, 2), 3, 3, 1, "same"),
    ((1, 9, 8, 2), 3, (3, 2), 2, "valid"),          # batch of 1, odd sizes, stride 2
    ((2, 8, 7, 1), 2, 4, 1, "same"),                # even kernel: the extra pad at bottom/right
    ((3, 7, 9, 2), 3, (2, 3), (2, 3), 1),           # integer padding, unequal strides
    ((1, 5, 5, 3), 2, 5, 1, 0),                     # kernel as large as the input
    ((2, 6, 5, 2), 3, 3, 2, "same"),                # "same" with stride 2 (TensorFlow's rule)
    ((2, 4, 4, 3), 5, 1, 1, "valid"),               # 1x1 convolution
]


@pytest.mark.parametrize("shape,filters,kernel,stride,padding", CONV_CASES)
def test_conv2d_gradcheck(shape, filters, kernel, stride, padding, rng):
    X = rng.normal(size=shape)
    layer = Conv2D(filters, kernel, stride=stride, padding=padding, activation="tanh")
    errors = nl.gradcheck(layer, X, max_entries=None)
    assert set(errors) == {"conv2d/W", "conv2d/B", "X"}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("shape,pool,stride", [
    ((2, 6, 6, 3), 2, None), ((1, 7, 5, 2), 2, None), ((2, 7, 7, 2), 3, 2), ((2, 5, 6, 1), (2, 3), 1),
    ((2, 8, 7, 2), 2, 3),  # gaps between windows
])
@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
def test_pooling_gradcheck(cls, shape, pool, stride, rng):
    X = distinct(rng, shape)
    errors = nl.gradcheck(cls(pool, stride), X, max_entries=None)
    assert errors["X"] < TOL, errors


@pytest.mark.parametrize("cls,shape", [(GlobalAvgPool2D, (2, 5, 3, 4)), (GlobalAvgPool2D, (1, 1, 1, 2)),
                                       (Flatten, (3, 4, 3, 2)), (Flatten, (1, 5, 2))])
def test_shape_layers_gradcheck(cls, shape, rng):
    errors = nl.gradcheck(cls(), rng.normal(size=shape), max_entries=None)
    assert errors["X"] < TOL, errors


def test_small_cnn_gradcheck(rng):
    X = rng.normal(size=(3, 9, 9, 2))
    y = rng.integers(0, 4, 3)
    m = nl.Sequential([Conv2D(3, 3, padding="same", activation="tanh", input_shape=(9, 9, 2)),
                       MaxPool2D(2), Conv2D(4, 2, stride=2, activation="sigmoid"), GlobalAvgPool2D(),
                       nl.layers.Dense(4, "softmax")], seed=0)
    m.compile(loss="categorical_crossentropy")
    errors = nl.gradcheck(m, X, y, max_entries=None)
    assert len(errors) == 6 and max(errors.values()) < TOL, errors


def test_a_wrong_conv_gradient_is_caught(monkeypatch, rng):
    """The check must be able to fail: drop the last kernel offset from col2im."""
    X = rng.normal(size=(2, 5, 5, 2))
    assert max(nl.gradcheck(Conv2D(2, 3, padding=1), X).values()) < TOL
    orig = Conv2D.backward

    def broken(self, dH):
        dX = orig(self, dH)
        dX[:, -1, -1, :] = 0.0
        return dX

    monkeypatch.setattr(Conv2D, "backward", broken)
    assert nl.gradcheck(Conv2D(2, 3, padding=1), X)["X"] > 1e-3


# -- parity with PyTorch (float64, NHWC <-> NCHW and (kh, kw, cin, cout) <-> (cout, cin, kh, kw)) -----
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("shape,filters,kernel,stride,padding", [c for c in CONV_CASES if c[4] != "same" or c[3] == 1])
def test_conv2d_matches_torch(shape, filters, kernel, stride, padding, rng):
    X = rng.normal(size=shape)
    layer = built(Conv2D(filters, kernel, stride=stride, padding=padding), shape[1:])
    layer.B.value[...] = rng.normal(size=filters)
    H = layer.forward(X, training=True)
    G = rng.normal(size=H.shape)
    dX = layer.backward(G.copy())

    tX = nchw(X).requires_grad_()
    tW = torch.tensor(layer.W.value.transpose(3, 2, 0, 1).copy(), requires_grad=True)  # (cout, cin, kh, kw)
    tB = torch.tensor(layer.B.value.copy(), requires_grad=True)
    out = F.conv2d(tX, tW, tB, stride=stride, padding=padding)
    (out * nchw(G)).sum().backward()

    np.testing.assert_allclose(H, nhwc(out), rtol=0, atol=EXACT)
    np.testing.assert_allclose(layer.predict(X), H, rtol=0, atol=EXACT)
    np.testing.assert_allclose(dX, nhwc(tX.grad), rtol=0, atol=EXACT)
    np.testing.assert_allclose(layer.W.grad, tW.grad.numpy().transpose(2, 3, 1, 0), rtol=0, atol=EXACT)
    np.testing.assert_allclose(layer.B.grad, tB.grad.numpy(), rtol=0, atol=EXACT)


def test_conv2d_same_stride2_is_tensorflows_asymmetric_padding(rng):
    """PyTorch refuses padding='same' with stride 2; pad explicitly (bottom/right extra) and compare."""
    X = rng.normal(size=(2, 6, 5, 2))
    layer = built(Conv2D(3, 3, stride=2, padding="same"), X.shape[1:])
    assert layer.output_shape == (3, 3, 3)
    # h = 6: total pad (3-1)*2 + 3 - 6 = 1 → (0, 1); w = 5: (3-1)*2 + 3 - 5 = 2 → (1, 1)
    tX = F.pad(nchw(X), (1, 1, 0, 1))
    out = F.conv2d(tX, torch.tensor(layer.W.value.transpose(3, 2, 0, 1).copy()), stride=2)
    np.testing.assert_allclose(layer.forward(X), nhwc(out), rtol=0, atol=EXACT)


POOL_CASES = [((3, 8, 8, 4), 2, None), ((2, 7, 9, 3), 2, None), ((2, 9, 9, 2), 3, 2),
              ((1, 6, 7, 2), (2, 3), (1, 2)), ((2, 8, 7, 2), 2, 3)]


@pytest.mark.parametrize("shape,pool,stride", POOL_CASES)
def test_max_pool_matches_torch(shape, pool, stride, rng):
    # rounded values create ties inside windows: the gradient must go to the first max, as PyTorch's
    X = np.round(rng.normal(size=shape), 1)
    X[0, :2, :2, 0] = 0.0
    layer = built(MaxPool2D(pool, stride), shape[1:])
    H = layer.forward(X, training=True)
    G = rng.normal(size=H.shape)
    dX = layer.backward(G.copy())
    tX = nchw(X).requires_grad_()
    out = F.max_pool2d(tX, pool, stride=stride)
    (out * nchw(G)).sum().backward()
    np.testing.assert_allclose(H, nhwc(out), rtol=0, atol=EXACT)
    np.testing.assert_allclose(layer.predict(X), H, rtol=0, atol=EXACT)
    np.testing.assert_allclose(dX, nhwc(tX.grad), rtol=0, atol=EXACT)


@pytest.mark.parametrize("shape,pool,stride", POOL_CASES)
def test_avg_pool_matches_torch(shape, pool, stride, rng):
    X = rng.normal(size=shape)
    layer = built(AvgPool2D(pool, stride), shape[1:])
    H = layer.forward(X, training=True)
    G = rng.normal(size=H.shape)
    dX = layer.backward(G.copy())
    tX = nchw(X).requires_grad_()
    out = F.avg_pool2d(tX, pool, stride=stride)
    (out * nchw(G)).sum().backward()
    np.testing.assert_allclose(H, nhwc(out), rtol=0, atol=EXACT)
    np.testing.assert_allclose(layer.predict(X), H, rtol=0, atol=EXACT)
    np.testing.assert_allclose(dX, nhwc(tX.grad), rtol=0, atol=EXACT)


def test_global_avg_pool_matches_torch(rng):
    X = rng.normal(size=(3, 5, 4, 6))
    layer = built(GlobalAvgPool2D(), X.shape[1:])
    H = layer.forward(X, training=True)
    G = rng.normal(size=H.shape)
    dX = layer.backward(G.copy())
    tX = nchw(X).requires_grad_()
    out = F.adaptive_avg_pool2d(tX, 1).flatten(1)
    (out * torch.tensor(G)).sum().backward()
    np.testing.assert_allclose(H, out.detach().numpy(), rtol=0, atol=EXACT)
    np.testing.assert_allclose(dX, nhwc(tX.grad), rtol=0, atol=EXACT)


class TorchLeNet(torch.nn.Module):
    """The same small CNN in PyTorch; it flattens NHWC-ordered activations to match Flatten."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.c2 = torch.nn.Conv2d(4, 6, 3)
        self.fc = torch.nn.Linear(6 * 2 * 2, 5)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.c1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.c2(x)), 2)
        return self.fc(x.permute(0, 2, 3, 1).flatten(1))


def test_cnn_training_trajectory_matches_torch(rng):
    """Five SGD-momentum steps of a Conv-Pool-Conv-Pool-Dense network: same losses and weights."""
    X = rng.normal(size=(8, 12, 12, 1))
    y = rng.integers(0, 5, 8)
    m = nl.Sequential([Conv2D(4, 3, padding="same", activation="relu", input_shape=(12, 12, 1)), MaxPool2D(2),
                       Conv2D(6, 3, activation="tanh"), AvgPool2D(2), Flatten(),
                       nl.layers.Dense(5, "softmax")], seed=0, dtype="float64")
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.1, momentum=0.9))
    net = TorchLeNet().double()
    with torch.no_grad():
        W1, B1, W2, B2, W3, B3 = m.get_weights()
        net.c1.weight.copy_(torch.tensor(W1.transpose(3, 2, 0, 1).copy()))
        net.c1.bias.copy_(torch.tensor(B1))
        net.c2.weight.copy_(torch.tensor(W2.transpose(3, 2, 0, 1).copy()))
        net.c2.bias.copy_(torch.tensor(B2))
        net.fc.weight.copy_(torch.tensor(W3.T.copy()))
        net.fc.bias.copy_(torch.tensor(B3))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    hist = m.fit(X, y, epochs=5, batch_size=None, shuffle=False, verbose=0)
    tx, ty = nchw(X), torch.tensor(y)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = F.cross_entropy(net(tx), ty)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    np.testing.assert_allclose(hist.history["loss"], losses, rtol=0, atol=EXACT)
    W1, _, W2, _, W3, _ = m.get_weights()
    np.testing.assert_allclose(W1, net.c1.weight.detach().numpy().transpose(2, 3, 1, 0), rtol=0, atol=EXACT)
    np.testing.assert_allclose(W2, net.c2.weight.detach().numpy().transpose(2, 3, 1, 0), rtol=0, atol=EXACT)
    np.testing.assert_allclose(W3, net.fc.weight.detach().numpy().T, rtol=0, atol=EXACT)


# -- the model around them ------------------------------------------------------------------
def lenet(**kw):
    return nl.Sequential([Conv2D(6, 5, padding="same", activation="relu", input_shape=(28, 28, 1)), MaxPool2D(2),
                          Conv2D(16, 5, activation="relu"), MaxPool2D(2), Flatten(),
                          nl.layers.Dense(120, "relu"), nl.layers.Dense(84, "relu"),
                          nl.layers.Dense(10, "softmax")], **kw)


def test_summary_shows_image_shapes_and_parameter_counts():
    text = lenet(seed=0).summary(print_fn=None)
    for expected in ["(None, 28, 28, 6)", "(None, 14, 14, 6)", "(None, 10, 10, 16)", "(None, 5, 5, 16)",
                     "(None, 400)", "156", "2,416", "48,120", "Total params: 61,706"]:
        assert expected in text, (expected, text)


def test_float32_training_step_stays_float32(rng):
    m = lenet(seed=0)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.01, momentum=0.9))
    m.fit(rng.random((16, 28, 28, 1)), rng.integers(0, 10, 16), epochs=1, batch_size=8, verbose=0)
    assert all(w.dtype == np.float32 for w in m.get_weights())
    assert m.predict(rng.random((3, 28, 28, 1))).dtype == np.float32


def test_predict_in_chunks_equals_forward(monkeypatch, rng):
    import neuronlab.layers.conv as conv

    layer = built(Conv2D(3, 3, stride=2, padding=1, activation="relu"), (9, 9, 2))
    X = rng.normal(size=(7, 9, 9, 2))
    expected = layer.forward(X).copy()
    monkeypatch.setattr(conv, "_PREDICT_COLS", 100)  # forces chunks of one sample
    np.testing.assert_allclose(layer.predict(X), expected, rtol=0, atol=EXACT)  # GEMM blocking may differ


def test_config_round_trip_and_registry():
    layers = [Conv2D(8, (3, 5), stride=(2, 1), padding=(1, 2), activation="leaky_relu", init="he_uniform",
                     input_shape=(10, 12, 3)),
              Conv2D(4, 3, padding="same"), MaxPool2D(3, 2), AvgPool2D((2, 1)), GlobalAvgPool2D(), Flatten()]
    for layer in layers:
        copy = type(layer).from_config(layer.config())
        assert copy.config() == layer.config()
        assert nl.layers.registry.lookup(type(layer).name) is type(layer)
    assert set(["conv2d", "maxpool2d", "avgpool2d", "globalavgpool2d", "flatten"]) <= set(nl.layers.names())


def test_first_layer_rebuilds_from_config_and_clone_predicts_the_same(rng):
    m = lenet(seed=3)
    X = rng.random((4, 28, 28, 1))
    twin = nl.diagnostics.clone(m)
    np.testing.assert_array_equal(m.predict(X), twin.predict(X))


def test_nchw_helpers_round_trip(rng):
    X = rng.normal(size=(2, 3, 4, 5))
    assert nl.layers.to_nhwc(X).shape == (2, 4, 5, 3)
    np.testing.assert_array_equal(nl.layers.to_nchw(nl.layers.to_nhwc(X)), X)
    W = rng.normal(size=(6, 3, 2, 4))  # torch (cout, cin, kh, kw)
    assert nl.layers.kernel_from_torch(W).shape == (2, 4, 3, 6)
    np.testing.assert_array_equal(nl.layers.kernel_to_torch(nl.layers.kernel_from_torch(W)), W)
    with pytest.raises(ValueError, match="4-D"):
        nl.layers.to_nhwc(X[0])


# -- bad input: one ValueError naming the layer and the shapes --------------------------------------
def test_wrong_rank_names_layer_and_shape(rng):
    m = lenet(seed=0)
    with pytest.raises(ValueError, match=r"conv2d_1.*4-D.*\(n, 28, 28, 1\).*\(5, 784\)"):
        m.predict(rng.random((5, 784)))
    m2 = nl.Sequential([Conv2D(4, 3), Flatten(), nl.layers.Dense(2)], seed=0)
    with pytest.raises(ValueError, match=r"conv2d_1.*4-D.*\(n, 28, 28\).*add a channel axis"):
        m2.predict(rng.random((5, 28, 28)))


def test_channel_mismatch_names_layer_and_shapes(rng):
    m = lenet(seed=0)
    with pytest.raises(ValueError, match=r"conv2d_1.*channel mismatch.*1 channels.*\(2, 28, 28, 3\)"):
        m.predict(rng.random((2, 28, 28, 3)))
    with pytest.raises(ValueError, match=r"looks NCHW.*to_nhwc"):
        m.predict(rng.random((2, 1, 28, 28)))
    conv = Conv2D(4, 3, input_shape=(8, 8, 3))
    conv.name = "c"
    with pytest.raises(ValueError, match=r"'c'.*channel mismatch.*\(n, 8, 8, 3\).*\(n, 8, 8, 1\)"):
        conv.build((8, 8, 1), np.random.default_rng(0))


def test_kernel_larger_than_padded_input(rng):
    with pytest.raises(ValueError, match=r"conv2d_1.*kernel 5x5 is larger than the padded input 4x6.*\(n, 4, 6, 1\)"):
        nl.Sequential([Conv2D(2, 5, input_shape=(4, 6, 1))], seed=0)
    m = nl.Sequential([Conv2D(2, 5), Flatten()], seed=0)
    with pytest.raises(ValueError, match=r"conv2d_1.*kernel 5x5 is larger than the padded input 3x3"):
        m.predict(rng.random((2, 3, 3, 1)))
    ok = nl.Sequential([Conv2D(2, 5, padding=1, input_shape=(4, 6, 1))], seed=0)  # padded: 6x8
    assert ok.layers[0].output_shape == (2, 4, 2)
    with pytest.raises(ValueError, match=r"maxpool2d_1.*pool_size 3x3 is larger than the padded input 2x2"):
        nl.Sequential([MaxPool2D(3, input_shape=(2, 2, 4))], seed=0)


@pytest.mark.parametrize("kwargs,match", [
    ({"filters": 0, "kernel_size": 3}, "filters"),
    ({"filters": 2, "kernel_size": 0}, "kernel_size"),
    ({"filters": 2, "kernel_size": (3, 3, 3)}, "kernel_size"),
    ({"filters": 2, "kernel_size": 3, "stride": 0}, "stride"),
    ({"filters": 2, "kernel_size": 3, "padding": "full"}, "padding"),
    ({"filters": 2, "kernel_size": 3, "padding": -1}, "padding"),
    ({"filters": 2, "kernel_size": 3, "activation": "softmax"}, "softmax"),
    ({"filters": 2, "kernel_size": 3, "init": "nope"}, "initializer"),
    ({"filters": 2, "kernel_size": 3, "input_shape": (28, 28, 0)}, "input_shape"),
])
def test_bad_conv_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Conv2D(**kwargs)


def test_bad_pool_arguments():
    with pytest.raises(ValueError, match="pool_size"):
        MaxPool2D(0)
    with pytest.raises(ValueError, match="stride"):
        AvgPool2D(2, stride=(1, 0))
