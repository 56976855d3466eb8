"""Every registered loss against PyTorch in float64 (value and gradient at 1e-10), and its checks.

The table is driven by the registry: a new loss fails here until it has a PyTorch counterpart.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import neuronlab as nl
from neuronlab import losses as L

N, K = 9, 4


def _regression(rng):
    return rng.normal(size=(N, K)) * 2.0, rng.normal(size=(N, K)) * 2.0


def _soft_labels(rng):
    Y = rng.random((N, K))
    Y[0, 1] = 0.0  # 0 log 0 = 0
    return Y / Y.sum(axis=1, keepdims=True)


def _probabilities(rng):
    return torch.softmax(torch.tensor(rng.normal(size=(N, K))), 1).numpy()


# name -> (make (out, y) from rng, torch C(out_tensor, y)); out is what the loss receives
TORCH = {
    "mse": (_regression, lambda o, y: F.mse_loss(o, torch.tensor(y))),
    "mae": (_regression, lambda o, y: F.l1_loss(o, torch.tensor(y))),
    "huber": (_regression, lambda o, y: F.huber_loss(o, torch.tensor(y), delta=1.0)),
    "binary_crossentropy": (lambda r: (r.uniform(0.02, 0.98, (N, K)), (r.random((N, K)) > 0.5).astype(float)),
                            lambda o, y: F.binary_cross_entropy(o, torch.tensor(y))),
    "categorical_crossentropy": (lambda r: (_probabilities(r), r.integers(0, K, N)),
                                 lambda o, y: F.nll_loss(torch.log(o), torch.tensor(y))),
    "sparse_categorical_crossentropy": (lambda r: (_probabilities(r), r.integers(0, K, N)),
                                        lambda o, y: F.nll_loss(torch.log(o), torch.tensor(y))),
    "kl_divergence": (lambda r: (_probabilities(r), _soft_labels(r)),
                      lambda o, y: F.kl_div(torch.log(o), torch.tensor(y), reduction="batchmean")),
    "hinge": (lambda r: (r.normal(size=(N, K)), np.where(r.random((N, K)) > 0.5, 1.0, -1.0)),
              lambda o, y: torch.clamp(1 - torch.tensor(y) * o, min=0).mean()),
}

# losses with a partner activation, from its logits: torch's own fused form
TORCH_LOGITS = {
    "binary_crossentropy": (lambda r: (r.normal(scale=3, size=(N, K)), (r.random((N, K)) > 0.5).astype(float)),
                            lambda z, y: F.binary_cross_entropy_with_logits(z, torch.tensor(y))),
    "categorical_crossentropy": (lambda r: (r.normal(scale=3, size=(N, K)), r.integers(0, K, N)),
                                 lambda z, y: F.cross_entropy(z, torch.tensor(y))),
    "sparse_categorical_crossentropy": (lambda r: (r.normal(scale=3, size=(N, K)), r.integers(0, K, N)),
                                        lambda z, y: F.cross_entropy(z, torch.tensor(y))),
    "kl_divergence": (lambda r: (r.normal(scale=3, size=(N, K)), _soft_labels(r)),
                      lambda z, y: F.kl_div(F.log_softmax(z, 1), torch.tensor(y), reduction="batchmean")),
}


def test_every_registered_loss_has_a_torch_counterpart():
    assert set(L.names()) == set(TORCH), "a new loss needs its PyTorch counterpart here"
    assert {n for n in L.names() if L.get(n).partner} == set(TORCH_LOGITS)


def _compare(loss, out, y, torch_fn):
    Y = loss.targets(y, out.shape[1:], np.float64)
    C, G = loss.value_and_gradient(out.copy(), Y)
    ot = torch.tensor(out, requires_grad=True)
    Ct = torch_fn(ot, y)
    Ct.backward()
    assert C == pytest.approx(Ct.item(), rel=1e-10, abs=1e-14)
    np.testing.assert_allclose(G, ot.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert loss.value(out, Y) == pytest.approx(C, rel=1e-12)
    np.testing.assert_allclose(loss.gradient(out.copy(), Y), G, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("name", sorted(TORCH))
def test_value_and_gradient_match_torch(name, rng):
    make, torch_fn = TORCH[name]
    out, y = make(rng)
    _compare(L.get(name), out, y, torch_fn)


@pytest.mark.parametrize("name", sorted(TORCH_LOGITS))
def test_value_and_gradient_from_logits_match_torch(name, rng):
    make, torch_fn = TORCH_LOGITS[name]
    Z, y = make(rng)
    _compare(L.get(name, from_logits=True), Z, y, torch_fn)


@pytest.mark.parametrize("delta", [0.3, 2.5])
def test_huber_delta_matches_torch(delta, rng):
    out, y = _regression(rng)
    _compare(L.Huber(delta=delta), out, y, lambda o, t: F.huber_loss(o, torch.tensor(t), delta=delta))
    assert L.Huber(delta=delta).config() == {"delta": delta}


def test_hinge_turns_0_1_labels_into_minus_1_1(rng):
    out = rng.normal(size=(N, 1))
    y01 = rng.integers(0, 2, N)
    loss = L.get("hinge")
    assert loss.value(out, loss.targets(y01, (1,))) == pytest.approx(
        loss.value(out, loss.targets(2 * y01 - 1, (1,))), rel=1e-12)
    with pytest.raises(ValueError, match=r"hinge targets must be labels in \{-1, 1\}"):
        loss.targets(np.array([0.5, 1.0]), (1,))


def test_kl_divergence_refuses_negative_targets():
    with pytest.raises(ValueError, match="kl_divergence targets must be probabilities"):
        L.get("kld").targets(np.array([[0.5, -0.5]]), (2,))


def test_sparse_categorical_crossentropy_takes_labels_and_refuses_one_hot(rng):
    loss = L.get("sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy takes integer labels of shape"):
        loss.targets(np.eye(3)[[0, 1, 2]], (3,))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        loss.targets(np.array([0, 3]), (3,))


@pytest.mark.parametrize("name,out_act", [("huber", "linear"), ("mae", "tanh"), ("hinge", "tanh"),
                                          ("kl_divergence", "softmax"), ("kl_divergence", "sigmoid")])
def test_new_losses_train_through_fit_and_gradcheck(name, out_act, rng):
    X = rng.normal(size=(24, 3))
    y = _soft_labels(rng)[:, :2] if name == "kl_divergence" else np.sign(rng.normal(size=(24, 2)))
    if name == "kl_divergence":
        y = np.tile(_soft_labels(rng)[:, :2], (3, 1))[:24]
        y = y / y.sum(axis=1, keepdims=True)
    m = nl.Sequential([nl.layers.Dense(5, "tanh", input_dim=3), nl.layers.Dense(2, out_act)], seed=0)
    m.compile(loss=name, optimizer=nl.optimizers.SGD(lr=0.05))
    assert max(nl.gradcheck(m, X, y).values()) < 1e-6
    h = m.fit(X, y, epochs=5, batch_size=8, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_a_plain_function_as_loss_gets_one_type_error_naming_the_base_class():
    m = nl.Sequential([nl.layers.Dense(1, input_dim=2)])
    with pytest.raises(TypeError, match=r"got the function 'mse_fn'.*subclass nl.losses.Loss"):
        m.compile(loss=lambda_free_mse)


def mse_fn(out, y):
    return ((out - y) ** 2).mean()


lambda_free_mse = mse_fn
