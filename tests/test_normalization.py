"""BatchNorm: float64 gradient checks and exact parity with torch BatchNorm1d/2d in train and eval mode."""

import numpy as np
import pytest
import torch

import neuronlab as nl
from neuronlab.layers import BatchNorm, Conv2D, Flatten

TOL = 1e-6
EXACT = 1e-10


def nchw(A):
    return torch.tensor(np.ascontiguousarray(A.transpose(0, 3, 1, 2)))


def to_ours(T):
    """torch output → our layout: (n, d) stays, NCHW → NHWC."""
    A = T.detach().numpy()
    return A if A.ndim == 2 else A.transpose(0, 2, 3, 1)


def to_torch(A):
    return torch.tensor(A) if A.ndim == 2 else nchw(A)


def built(layer, input_shape):
    layer.name = "bn"
    layer.build(input_shape, np.random.default_rng(0), np.float64)
    return layer


@pytest.mark.parametrize("shape", [(6, 4), (2, 3), (2, 5, 4, 3), (1, 3, 2, 2), (3, 1, 1, 5)])
@pytest.mark.parametrize("activation", [None, "tanh"])
def test_gradcheck_training_mode(shape, activation, rng):
    layer = BatchNorm(activation=activation)
    X = rng.normal(size=shape) * 2.0 + 1.0
    errors = nl.gradcheck(layer, X, max_entries=None)
    assert set(errors) == {"batchnorm/gamma", "batchnorm/beta", "X"}
    assert max(errors.values()) < TOL, errors


def test_gradcheck_with_trained_gamma_beta(rng):
    layer = built(BatchNorm(), (4, 3, 2))
    layer.gamma.value[...] = rng.normal(size=2)
    layer.beta.value[...] = rng.normal(size=2)
    assert max(nl.gradcheck(layer, rng.normal(size=(3, 4, 3, 2)), max_entries=None).values()) < TOL


def test_gradcheck_inside_a_cnn(rng):
    m = nl.Sequential([Conv2D(3, 3, padding="same", input_shape=(6, 6, 2)), BatchNorm(activation="tanh"),
                       Flatten(), nl.layers.Dense(8), BatchNorm(activation="relu"),
                       nl.layers.Dense(3, "softmax")], seed=0)
    m.compile(loss="categorical_crossentropy")
    errors = nl.gradcheck(m, rng.normal(size=(5, 6, 6, 2)), rng.integers(0, 3, 5), max_entries=None)
    # a bias right before BatchNorm has gradient exactly 0 (the batch mean cancels it): its
    # "error" is |numeric noise| / 1e-6 (the check's floor), so it gets a looser bound
    biases = {"conv2d_1/B", "dense_1/B"}
    assert len(errors) == 10 and max(v for k, v in errors.items() if k not in biases) < TOL, errors
    assert max(errors[k] for k in biases) < 1e-3, errors


@pytest.mark.parametrize("shape", [(16, 5), (7, 3), (4, 6, 5, 3), (2, 3, 7, 4)])
def test_matches_torch_train_then_eval(shape, rng):
    """Three training steps (outputs, gradients, running stats), then eval mode, as torch BatchNorm1d/2d."""
    c = shape[-1]
    layer = built(BatchNorm(momentum=0.2, eps=1e-3), shape[1:])
    tbn = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(c, momentum=0.2, eps=1e-3).double()
    gamma, beta = rng.normal(size=c), rng.normal(size=c)
    layer.gamma.value[...], layer.beta.value[...] = gamma, beta
    with torch.no_grad():
        tbn.weight.copy_(torch.tensor(gamma))
        tbn.bias.copy_(torch.tensor(beta))

    for step in range(3):
        X = rng.normal(size=shape) * (step + 1) + step
        G = rng.normal(size=shape)
        tbn.train()
        tbn.zero_grad()
        tX = to_torch(X).requires_grad_()
        out = tbn(tX)
        (out * to_torch(G)).sum().backward()
        H = layer.forward(X, training=True)
        np.testing.assert_allclose(H, to_ours(out), rtol=0, atol=EXACT)
        dX = layer.backward(G.copy())
        np.testing.assert_allclose(dX, to_ours(tX.grad), rtol=0, atol=EXACT)
        np.testing.assert_allclose(layer.gamma.grad, tbn.weight.grad.numpy(), rtol=0, atol=EXACT)
        np.testing.assert_allclose(layer.beta.grad, tbn.bias.grad.numpy(), rtol=0, atol=EXACT)
        np.testing.assert_allclose(layer.running_mean, tbn.running_mean.numpy(), rtol=0, atol=EXACT)
        np.testing.assert_allclose(layer.running_var, tbn.running_var.numpy(), rtol=0, atol=EXACT)

    # eval mode: running statistics in forward, predict and backward
    tbn.eval()
    tbn.zero_grad()
    X, G = rng.normal(size=shape), rng.normal(size=shape)
    tX = to_torch(X).requires_grad_()
    out = tbn(tX)
    (out * to_torch(G)).sum().backward()
    H = layer.forward(X, training=False)
    np.testing.assert_allclose(H, to_ours(out), rtol=0, atol=EXACT)
    np.testing.assert_allclose(layer.predict(X), to_ours(out), rtol=0, atol=EXACT)
    dX = layer.backward(G.copy())
    np.testing.assert_allclose(dX, to_ours(tX.grad), rtol=0, atol=EXACT)
    np.testing.assert_allclose(layer.gamma.grad, tbn.weight.grad.numpy(), rtol=0, atol=EXACT)
    np.testing.assert_allclose(layer.beta.grad, tbn.bias.grad.numpy(), rtol=0, atol=EXACT)
    # running statistics untouched by eval passes
    np.testing.assert_allclose(layer.running_var, tbn.running_var.numpy(), rtol=0, atol=EXACT)


def test_model_uses_running_stats_at_inference(rng):
    m = nl.Sequential([nl.layers.Dense(4, input_dim=3), BatchNorm(), nl.layers.Dense(2, "softmax")], seed=0)
    m.compile(loss="categorical_crossentropy", optimizer="sgd")
    X = rng.normal(size=(64, 3)) * 3 + 5
    m.fit(X, rng.integers(0, 2, 64), epochs=2, batch_size=16, verbose=0)
    bn = m.layers[1]
    assert not np.allclose(bn.running_mean, 0) and not np.allclose(bn.running_var, 1)
    # one sample at a time gives the same prediction as the whole batch: no batch statistics at inference
    np.testing.assert_allclose(m.predict(X[:1]), m.predict(X)[:1], rtol=1e-6)
    np.testing.assert_allclose(m.predict(X), m.forward(X, training=False), rtol=1e-6)


def test_buffers_are_named_live_arrays():
    m = nl.Sequential([Conv2D(2, 3, input_shape=(5, 5, 1)), BatchNorm()], seed=0)
    bufs = m.layers[1].buffers()
    assert sorted(bufs) == ["batchnorm_1/running_mean", "batchnorm_1/running_var"]
    assert all(b.shape == (2,) and b.dtype == np.float32 for b in bufs.values())
    bufs["batchnorm_1/running_var"][...] = 4.0  # loading writes in place
    assert np.all(m.layers[1].running_var == 4.0)
    assert [p.name for p in m.layers[1].params()] == ["batchnorm_1/gamma", "batchnorm_1/beta"]
    assert BatchNorm().buffers() == {}


def test_config_round_trip():
    bn = BatchNorm(momentum=0.05, eps=1e-3, activation="relu", input_shape=(4, 4, 8))
    assert BatchNorm.from_config(bn.config()).config() == bn.config()
    assert nl.layers.get("batchnorm") is not None


def test_bad_input(rng):
    with pytest.raises(ValueError, match=r"'bn'.*more than 1 value per channel.*\(1, 4\)"):
        built(BatchNorm(), (4,)).forward(rng.normal(size=(1, 4)), training=True)
    with pytest.raises(ValueError, match=r"'bn'.*\(n, features\) or images.*\(n, 3, 4\)"):
        built(BatchNorm(), (3, 4))
    m = nl.Sequential([BatchNorm(input_shape=(8, 8, 3))], seed=0)
    with pytest.raises(ValueError, match=r"batchnorm_1.*\(n, 8, 8, 3\).*\(2, 8, 8, 1\)"):
        m.predict(rng.random((2, 8, 8, 1)))
    bn = BatchNorm(input_shape=(8, 8, 3))
    bn.name = "b"
    with pytest.raises(ValueError, match=r"'b'.*channel mismatch"):
        bn.build((8, 8, 1), np.random.default_rng(0))
    for kwargs, match in [({"momentum": 1.5}, "momentum"), ({"eps": 0}, "eps"), ({"activation": "softmax"}, "softmax"),
                          ({"input_shape": (3, 4)}, "input_shape")]:
        with pytest.raises(ValueError, match=match):
            BatchNorm(**kwargs)
