"""SGD(momentum=γ, ema=True): the guide's exponential moving average with v₀ = 0, by hand."""

import numpy as np
import pytest
import torch

import neuronlab as nl
from neuronlab.core import Param


def steps(opt, w0, grads):
    """Apply ``opt`` to one parameter fed the given gradients; return the weights after each step."""
    p = Param(np.array(w0, dtype=np.float64), "w")
    out = []
    for g in grads:
        p.grad = np.array(g, dtype=np.float64)
        opt.step([p])
        out.append(p.value.copy())
    return out


def test_guide_momentum_equals_the_hand_computed_moving_average():
    gamma, eta, w0 = 0.9, 0.5, [1.0, -2.0]
    grads = [[1.0, 2.0], [3.0, -1.0], [-2.0, 0.5]]
    # by hand: v₀ = 0; v₁ = 0.1 g₁ = (0.1, 0.2); v₂ = 0.9 v₁ + 0.1 g₂ = (0.39, 0.08);
    # v₃ = 0.9 v₂ + 0.1 g₃ = (0.151, 0.122); W_t = W_{t-1} - 0.5 v_t
    hand_v = [[0.1, 0.2], [0.39, 0.08], [0.151, 0.122]]
    hand_w = [[0.95, -2.1], [0.755, -2.14], [0.6795, -2.201]]
    got = steps(nl.optimizers.SGD(lr=eta, momentum=gamma, ema=True), w0, grads)
    np.testing.assert_allclose(got, hand_w, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.diff(np.r_[[w0], got], axis=0), -eta * np.array(hand_v), atol=1e-12)


def test_first_step_is_ten_times_smaller_than_pytorchs_form_then_differs_by_gamma_t_g1():
    gamma, eta, w0 = 0.9, 0.1, [0.0]
    grads = [[1.0], [0.4], [-0.7], [2.0]]
    guide = steps(nl.optimizers.SGD(lr=eta, momentum=gamma, ema=True), w0, grads)
    torch_form = steps(nl.optimizers.SGD(lr=eta, momentum=gamma, dampening=gamma), w0, grads)
    assert torch_form[0][0] / guide[0][0] == pytest.approx(10.0, rel=1e-12)
    # PyTorch's buffer exceeds the guide's by γᵗ g₁ at step t
    v_guide = -np.diff(np.r_[[w0], guide], axis=0)[:, 0] / eta
    v_torch = -np.diff(np.r_[[w0], torch_form], axis=0)[:, 0] / eta
    np.testing.assert_allclose(v_torch - v_guide, gamma ** np.arange(1, 5) * grads[0][0], atol=1e-12)
    # and PyTorch itself computes that form
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=eta, momentum=gamma, dampening=gamma)
    for g in grads:
        w.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    assert float(w.detach()) == pytest.approx(torch_form[-1][0], abs=1e-15)


def test_guide_momentum_is_saved_and_loaded_with_the_model(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 3)), rng.normal(size=(32, 1))
    model = nl.Sequential([nl.layers.Dense(4, "tanh", input_dim=3), nl.layers.Dense(1)], seed=0)
    model.compile(loss="mse", optimizer=nl.optimizers.SGD(lr=0.1, momentum=0.8, ema=True))
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "m.safetensors"
    model.save(path)
    loaded = nl.load_model(path)
    assert loaded.optimizer.ema is True and loaded.optimizer.get_config()["ema"] is True
    model.fit(X, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    loaded.fit(X, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.params(), loaded.params()):
        np.testing.assert_array_equal(a.value, b.value)
    assert "ema" not in nl.optimizers.SGD(momentum=0.9).get_config()


@pytest.mark.parametrize("kwargs, words", [
    ({"momentum": 0.9, "ema": "yes"}, "ema"),
    ({"momentum": 0.0, "ema": True}, "0 < momentum < 1"),
    ({"momentum": 0.9, "dampening": 0.9, "ema": True}, "dampening = 0"),
    ({"momentum": 0.9, "nesterov": True, "ema": True}, "nesterov=False"),
])
def test_bad_guide_momentum_arguments_are_refused(kwargs, words):
    with pytest.raises((ValueError, TypeError), match=words):
        nl.optimizers.SGD(**kwargs)
