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
    "elu": torch.nn.functional.elu,
    "selu": torch.nn.functional.selu,
    "gelu": torch.nn.functional.gelu,
    "gelu_tanh": lambda z: torch.nn.functional.gelu(z, approximate="tanh"),
    "silu": torch.nn.functional.silu,
    "softplus": torch.nn.functional.softplus,
}


def test_registry_lists_the_guides_activations_in_order():
    assert A.names() == ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "softmax",
                         "elu", "selu", "gelu", "gelu_tanh", "silu", "softplus"]


def test_every_registered_activation_has_a_torch_counterpart():
    assert set(A.names()) == set(TORCH), "a new activation needs its PyTorch counterpart here"


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown activation 'swishy'.*sigmoid"):
        A.get("swishy")


def test_swish_is_silu_and_gelu_tanh_is_gelu_approximate():
    assert type(A.get("swish")) is A.SiLU and A.get("swish").name == "silu"
    Z = np.linspace(-4, 4, 33)
    np.testing.assert_array_equal(A.get("gelu_tanh").forward(Z.copy()), A.GELU("tanh").forward(Z.copy()))
    with pytest.raises(ValueError, match="GELU: approximate must be one of 'none', 'tanh', got 'erf'"):
        A.GELU("erf")


@pytest.mark.parametrize("name", [n for n in A.names() if n != "softmax"])
def test_derivative_from_Z_and_H_matches_central_differences(name):
    act = A.get(name)
    Z = np.linspace(-5, 5, 101) + 0.013  # avoids the kinks at 0
    H = act.forward(Z.copy())
    h = 1e-6
    numeric = (act.forward(Z + h) - act.forward(Z - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(Z if act.uses_Z else None, H), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "silu"])
def test_a_layer_keeps_Z_for_activations_that_need_it(name, rng):
    layer = nl.layers.Dense(4, name, input_dim=3)
    nl.Sequential([layer], seed=0)
    X = rng.normal(size=(5, 3)).astype(np.float32)
    H = layer.forward(X, training=True)
    assert layer.Z is not None and layer.Z is not H
    np.testing.assert_allclose(H, A.get(name).forward(X @ layer.W.value + layer.B.value), rtol=1e-6)


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "silu"])
def test_simple_rnn_refuses_activations_whose_derivative_needs_Z(name):
    with pytest.raises(ValueError, match="SimpleRNN: activation must be element-wise with f' read from H"):
        nl.layers.SimpleRNN(3, activation=name)


@pytest.mark.parametrize("name", ["elu", "selu", "softplus"])
def test_simple_rnn_takes_activations_read_from_H(name, rng):
    layer = nl.layers.SimpleRNN(3, activation=name, input_shape=(4, 2))
    errors = nl.gradcheck(layer, rng.normal(size=(2, 4, 2)))
    assert max(errors.values()) < 1e-6, errors


def test_elu_alpha_is_saved_and_validated():
    layer = nl.layers.Dense(3, activation=A.ELU(0.5), input_dim=2)
    assert nl.layers.Dense.from_config(layer.config()).activation.alpha == 0.5
    with pytest.raises(ValueError, match="ELU: alpha must be a number > 0, got -1"):
        A.ELU(-1)


def test_a_plain_function_gets_one_type_error_naming_the_base_class():
    with pytest.raises(TypeError, match="nl.activations.Activation"):
        nl.layers.Dense(3, activation=np.tanh)


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
