import warnings

import numpy as np
import pytest
import torch

import neuronlab as nl
from neuronlab import activations as A

TORCH = {
    "linear": lambda z: z,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
    "softmax": lambda z: torch.softmax(z, dim=1),
}


def test_registry_lists_the_guides_activations_in_order():
    assert A.names() == ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"]


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown activation 'swish'.*sigmoid"):
        A.get("swish")


@pytest.mark.parametrize("name", A.names())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_for_huge_inputs(name, dtype):
    Z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4], [1e4, 1e4, -1e4, 0.0, 3.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            H = A.get(name).forward(Z.copy())
    assert np.isfinite(H).all() and H.dtype == dtype


@pytest.mark.parametrize("name", A.names())
def test_forward_and_backward_match_torch(name, rng):
    Z = rng.normal(scale=3.0, size=(7, 5))
    G = rng.normal(size=(7, 5))
    act = A.get(name)
    H = act.forward(Z.copy())
    dZ = act.backward(G.copy(), Z, H)
    zt = torch.tensor(Z, requires_grad=True)
    ht = TORCH[name](zt)
    ht.backward(torch.tensor(G))
    np.testing.assert_allclose(H, ht.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dZ, zt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_sigmoid_derivative_peaks_at_a_quarter():
    z = np.linspace(-6, 6, 1201)
    s = A.Sigmoid()
    d = s.derivative(z, s.forward(z.copy()))
    assert d.max() == pytest.approx(0.25) and z[d.argmax()] == pytest.approx(0.0)


def test_leaky_relu_alpha_and_validation():
    act = A.get("leaky_relu", alpha=0.2)
    np.testing.assert_allclose(act.forward(np.array([-1.0, 2.0])), [-0.2, 2.0])
    with pytest.raises(ValueError, match="alpha"):
        A.LeakyReLU(alpha=0.0)


def test_derivatives_keep_float32():
    H = np.linspace(-1, 1, 10, dtype=np.float32)
    for name in ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]:
        assert A.get(name).derivative(None, H).dtype == np.float32, name


def test_dense_accepts_activation_instances():
    layer = nl.layers.Dense(3, activation=A.LeakyReLU(0.3), input_dim=2)
    assert layer.activation.alpha == 0.3
    assert nl.layers.Dense.from_config(layer.config()).activation.alpha == 0.3
