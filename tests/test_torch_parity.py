"""Forward pass, loss, gradients and SGD trajectories against PyTorch for the same weights.

Convention mapping: our W is (fan_in, fan_out); torch.nn.Linear.weight is W.T.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import neuronlab as nl

ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda z: z,
       "leaky_relu": lambda z: F.leaky_relu(z, 0.01)}
CASES = [  # (hidden activations, output activation, loss)
    (("relu", "tanh"), "softmax", "categorical_crossentropy"),
    (("sigmoid", "leaky_relu"), "sigmoid", "binary_crossentropy"),
    (("tanh", "relu"), "linear", "mse"),
]


def make(hidden, out_act, dtype, seed=0, dropout=0.0):
    layers = [nl.layers.Dense(7, hidden[0], input_dim=5)]
    if dropout:
        layers.append(nl.layers.Dropout(dropout))
    layers += [nl.layers.Dense(6, hidden[1]), nl.layers.Dense(3, out_act)]
    return nl.Sequential(layers, seed=seed, dtype=dtype)


def data(loss, rng, n=16):
    X = rng.normal(size=(n, 5))
    if loss == "categorical_crossentropy":
        return X, rng.integers(0, 3, n)
    if loss == "binary_crossentropy":
        return X, (rng.random((n, 3)) > 0.5).astype(float)
    return X, rng.normal(size=(n, 3))


def torch_forward(model, X, hidden, out_act, loss, y, dtype, masks=()):
    """The same network in torch; returns (output, loss, [leaf tensors W1, B1, ...])."""
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    leaves = [torch.tensor(w, dtype=tdt, requires_grad=True) for w in model.get_weights()]
    h = torch.tensor(X, dtype=tdt)
    masks = list(masks)
    for i, act in enumerate(hidden):
        h = ACT[act](F.linear(h, leaves[2 * i].T, leaves[2 * i + 1]))
        if i == 0 and masks:
            h = h * torch.tensor(masks.pop(0), dtype=tdt)
    z = F.linear(h, leaves[4].T, leaves[5])
    if loss == "categorical_crossentropy":
        out, C = torch.softmax(z, 1), F.cross_entropy(z, torch.tensor(y))
    elif loss == "binary_crossentropy":
        out, C = torch.sigmoid(z), F.binary_cross_entropy_with_logits(z, torch.tensor(y, dtype=tdt))
    else:
        out, C = z, F.mse_loss(z, torch.tensor(y, dtype=tdt))
    return out, C, leaves


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("hidden,out_act,loss", CASES)
def test_forward_loss_and_gradients(hidden, out_act, loss, dtype, rtol, rng):
    X, y = data(loss, rng)
    m = make(hidden, out_act, dtype)
    m.compile(loss=loss)
    Xc = X.astype(dtype)
    C, _ = m.loss_and_grads(Xc, y)
    P = m.forward(Xc, training=True)
    out, Ct, leaves = torch_forward(m, X, hidden, out_act, loss, y, dtype)
    Ct.backward()
    atol = rtol * 1e-3
    np.testing.assert_allclose(P, out.detach().numpy(), rtol=rtol, atol=atol)
    assert C == pytest.approx(Ct.item(), rel=rtol)
    np.testing.assert_allclose(m.predict(X), out.detach().numpy(), rtol=rtol, atol=atol)
    assert m.evaluate(X, y)["loss"] == pytest.approx(Ct.item(), rel=rtol)
    for g, leaf in zip(m.get_gradients(), leaves):
        scale = np.abs(leaf.grad.numpy()).max()
        np.testing.assert_allclose(g, leaf.grad.numpy(), rtol=rtol, atol=rtol * scale)


def test_dropout_gradients_with_the_same_mask(rng):
    X, y = data("categorical_crossentropy", rng)
    m = make(("relu", "tanh"), "softmax", np.float64, dropout=0.5)
    m.compile(loss="categorical_crossentropy")
    state = m.rng.bit_generator.state
    m.loss_and_grads(X, y)
    m.rng.bit_generator.state = state  # the same mask again for P
    P = m.forward(X, training=True)
    mask = m.layers[1].mask / (1 - 0.5)
    out, Ct, leaves = torch_forward(m, X, ("relu", "tanh"), "softmax", "categorical_crossentropy", y,
                                    np.float64, masks=[mask])
    Ct.backward()
    np.testing.assert_allclose(P, out.detach().numpy(), rtol=1e-10)
    for g, leaf in zip(m.get_gradients(), leaves):
        np.testing.assert_allclose(g, leaf.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_huge_logits_keep_loss_and_gradient_finite():
    m = nl.Sequential([nl.layers.Dense(3, "softmax", input_dim=2)], seed=0, dtype="float64")
    m.compile(loss="categorical_crossentropy")
    m.set_weights([np.array([[1e4, -1e4, 0.0], [0.0, 0.0, 0.0]]), np.zeros(3)])
    X, y = np.array([[1.0, 0.0]]), np.array([1])
    C, grads = m.loss_and_grads(X, y)
    Ct = F.cross_entropy(torch.tensor([[1e4, -1e4, 0.0]], dtype=torch.float64), torch.tensor([1]))
    assert C == pytest.approx(Ct.item(), rel=1e-12)   # 2e4, not a clipped log
    assert all(np.isfinite(G).all() for G in grads.values())


SGD_CASES = [
    dict(momentum=0.9),
    dict(momentum=0.9, nesterov=True),
    dict(momentum=0.9, dampening=0.9),          # the guide's exponential moving average
    dict(momentum=0.5, weight_decay=1e-2),
    dict(momentum=0.9, nesterov=True, weight_decay=5e-3),
    dict(),
]


@pytest.mark.parametrize("opts", SGD_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "plain")
def test_sgd_trajectory_matches_torch(opts, rng):
    """50 mini-batch steps from the same weights end at torch.optim.SGD's weights."""
    X, y = data("categorical_crossentropy", rng, n=80)
    hidden = ("relu", "tanh")
    m = make(hidden, "softmax", np.float64)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.1, **opts))
    _, _, leaves = torch_forward(m, X, hidden, "softmax", "categorical_crossentropy", y, np.float64)
    opt = torch.optim.SGD(leaves, lr=0.1, **opts)
    m.fit(X, y, epochs=5, batch_size=8, shuffle=False, verbose=0)   # 5 epochs x 10 batches = 50 steps
    for step in range(50):
        lo = (step % 10) * 8
        opt.zero_grad()
        h = torch.tensor(X[lo:lo + 8])
        for i, act in enumerate(hidden):
            h = ACT[act](F.linear(h, leaves[2 * i].T, leaves[2 * i + 1]))
        F.cross_entropy(F.linear(h, leaves[4].T, leaves[5]), torch.tensor(y[lo:lo + 8])).backward()
        opt.step()
    for w, leaf in zip(m.get_weights(), leaves):
        np.testing.assert_allclose(w, leaf.detach().numpy(), rtol=1e-9, atol=1e-12)
