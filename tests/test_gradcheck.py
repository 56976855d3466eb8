"""Back-propagation against float64 central differences, for every registered piece."""

import numpy as np
import pytest

import neuronlab as nl
from neuronlab import activations as A

TOL = 1e-6


def _labels_for(loss, rng, n, k):
    if loss == "categorical_crossentropy":
        return rng.integers(0, k, n)
    if loss == "binary_crossentropy":
        return (rng.random((n, k)) > 0.5).astype(float)
    return rng.normal(size=(n, k))


@pytest.mark.parametrize("activation", A.names())
def test_dense_with_every_activation(activation, rng):
    X = rng.normal(size=(6, 5))
    errors = nl.gradcheck(nl.layers.Dense(4, activation=activation), X)
    assert set(errors) == {"dense/W", "dense/B", "X"}
    assert max(errors.values()) < TOL, errors


def test_dropout_with_fixed_mask(rng):
    X = rng.normal(size=(8, 6))
    errors = nl.gradcheck(nl.layers.Dropout(0.4), X)
    assert errors["X"] < TOL


@pytest.mark.parametrize("loss,out_act", [
    ("mse", "linear"), ("mse", "sigmoid"),
    ("binary_crossentropy", "sigmoid"),           # fused
    ("binary_crossentropy", "softmax"),           # unfused (probabilities in (0, 1))
    ("categorical_crossentropy", "softmax"),      # fused
    ("categorical_crossentropy", "sigmoid"),      # unfused
])
def test_every_loss(loss, out_act, rng):
    X = rng.normal(size=(10, 4))
    y = _labels_for(loss, rng, 10, 3)
    m = nl.Sequential([nl.layers.Dense(5, "tanh", input_dim=4), nl.layers.Dense(3, out_act)], seed=1)
    m.compile(loss=loss)
    assert max(nl.gradcheck(m, X, y).values()) < TOL


def test_one_hot_targets_and_sample_weights(rng):
    X = rng.normal(size=(10, 4))
    Y = np.eye(3)[rng.integers(0, 3, 10)]
    m = nl.Sequential([nl.layers.Dense(3, "softmax", input_dim=4)], seed=2)
    m.compile(loss="categorical_crossentropy")
    assert max(nl.gradcheck(m, X, Y).values()) < TOL


def test_four_layer_stack_with_dropout(rng):
    X = rng.normal(size=(12, 6))
    y = rng.integers(0, 4, 12)
    m = nl.Sequential([
        nl.layers.Dense(8, "relu", input_dim=6), nl.layers.Dropout(0.3),
        nl.layers.Dense(7, "leaky_relu"), nl.layers.Dense(6, "sigmoid"),
        nl.layers.Dense(4, "softmax"),
    ], seed=3)
    m.compile(loss="categorical_crossentropy")
    errors = nl.gradcheck(m, X, y)
    assert len(errors) == 8 and max(errors.values()) < TOL, errors


def test_gradcheck_runs_in_float64_for_a_float32_model(rng):
    m = nl.Sequential([nl.layers.Dense(3, "sigmoid", input_dim=2)], seed=0)
    m.compile(loss="mse")
    assert m.dtype == np.float32
    assert max(nl.gradcheck(m, rng.normal(size=(5, 2)), rng.normal(size=(5, 3))).values()) < TOL


def test_a_wrong_derivative_is_caught(monkeypatch, rng):
    """The check must be able to fail: break tanh' (1 - H instead of 1 - H²)."""
    X = rng.normal(size=(6, 5))
    assert max(nl.gradcheck(nl.layers.Dense(4, "tanh"), X).values()) < TOL
    monkeypatch.setattr(A.Tanh, "derivative", lambda self, Z, H: 1.0 - H)
    assert max(nl.gradcheck(nl.layers.Dense(4, "tanh"), X).values()) > 1e-2


def test_a_wrong_fused_gradient_is_caught(monkeypatch, rng):
    X, y = rng.normal(size=(6, 3)), rng.integers(0, 3, 6)
    m = nl.Sequential([nl.layers.Dense(3, "softmax", input_dim=3)], seed=0)
    m.compile(loss="categorical_crossentropy")
    original = nl.losses.CategoricalCrossEntropy._gradient
    monkeypatch.setattr(nl.losses.CategoricalCrossEntropy, "_gradient",
                        lambda self, out, Y: 2 * original(self, out, Y))
    assert max(nl.gradcheck(m, X, y).values()) > 0.5


def test_layer_input_gradient_of_a_non_contiguous_x_and_x_left_unchanged(rng):
    # X.T used to be perturbed through a reshape copy: numeric ∂C/∂X = 0, error reported as 1.0
    X = rng.standard_normal((6, 4))
    before = X.copy()
    errors = nl.gradcheck(nl.layers.Dense(3, "tanh"), X.T)
    assert errors["X"] < 1e-6, errors
    np.testing.assert_array_equal(X, before)
