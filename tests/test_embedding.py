"""Embedding: parity with torch.nn.Embedding (forward, gradient with repeated tokens), gradient checks."""

import numpy as np
import pytest
import torch

import neuronlab as nl
from neuronlab.layers import LSTM, Embedding


def built(vocab=7, dim=4, T=5, dtype=np.float64, seed=0, **kw):
    layer = Embedding(vocab, dim, **kw)
    layer.name = "emb"
    layer.build((T,), np.random.default_rng(seed), dtype)
    return layer


def test_forward_and_gradient_match_torch(rng):
    layer = built()
    tokens = rng.integers(0, 7, (6, 5))
    tokens[0, :3] = 2  # repeated tokens: their gradients add up
    mod = torch.nn.Embedding(7, 4).double()
    with torch.no_grad():
        mod.weight.copy_(torch.tensor(layer.E.value))
    H = layer.forward(tokens, training=True)
    Ht = mod(torch.tensor(tokens))
    np.testing.assert_allclose(H, Ht.detach().numpy(), rtol=0, atol=0)
    R = rng.normal(size=H.shape)
    (Ht * torch.tensor(R)).sum().backward()
    assert layer.backward(R) is None  # tokens have no gradient
    np.testing.assert_allclose(layer.E.grad, mod.weight.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(layer.predict(tokens), H)


def test_default_init_is_standard_normal_like_torch():
    layer = built(vocab=400, dim=50, dtype=np.float32)
    E = layer.E.value
    assert E.dtype == np.float32
    assert abs(E.mean()) < 0.02 and abs(E.std() - 1.0) < 0.02
    assert built(init="xavier_uniform").E.value.std() < 0.6


def test_float_tokens_from_the_model_boundary(rng):
    """Sequential casts X to float32: whole-number floats are accepted, others refused."""
    layer = built()
    tokens = rng.integers(0, 7, (3, 5))
    np.testing.assert_array_equal(layer.forward(tokens.astype(np.float32)), layer.forward(tokens))
    with pytest.raises(ValueError, match="whole numbers"):
        layer.forward(tokens + 0.5)


@pytest.mark.parametrize("n", [1, 4])
def test_gradcheck_embedding_lstm_model(n, rng):
    X = rng.integers(0, 6, (n, 5))
    y = rng.integers(0, 3, n)
    m = nl.Sequential([Embedding(6, 3, input_length=5), LSTM(4), nl.layers.Dense(3, "softmax")], seed=3)
    m.compile(loss="categorical_crossentropy")
    errors = nl.gradcheck(m, X, y, max_entries=None)
    assert set(errors) == {"embedding_1/E", "lstm_1/W", "lstm_1/U", "lstm_1/B", "dense_1/W", "dense_1/B"}
    assert max(errors.values()) < 1e-6, errors


def test_fit_and_any_length(rng):
    X = rng.integers(0, 5, (40, 6))
    y = (X == 3).any(axis=1).astype(int)
    m = nl.Sequential([Embedding(5, 4, input_length=6), LSTM(8), nl.layers.Dense(2, "softmax")], seed=0)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.Adam(lr=0.02, clipnorm=1.0))
    h = m.fit(X, y, epochs=8, batch_size=10, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert m.predict(X[:, :2]).shape == (40, 2)


def test_bad_arguments_and_tokens():
    with pytest.raises(ValueError, match="vocab"):
        Embedding(0, 3)
    with pytest.raises(ValueError, match="dim"):
        Embedding(5, 2.5)
    with pytest.raises(ValueError, match="initializer"):
        Embedding(5, 2, init="nope")
    layer = built()
    with pytest.raises(ValueError, match=r"emb.*\[0, 7\).*\[0, 7\]"):
        layer.forward(np.array([[0, 1, 2, 3, 7]]))
    with pytest.raises(ValueError, match=r"\[-1, "):
        layer.forward(np.array([[0, -1, 2, 3, 4]]))
    with pytest.raises(ValueError, match=r"emb.*shape \(2, 5, 1\)"):
        layer.forward(np.zeros((2, 5, 1)))


def test_config_round_trip():
    layer = Embedding(9, 3, init="xavier_uniform", input_length=4)
    copy = Embedding.from_config(layer.config())
    assert copy.config() == layer.config() and copy.input_shape == (4,)
