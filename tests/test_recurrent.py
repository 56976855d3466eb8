"""SimpleRNN, LSTM, GRU: float64 gradient checks and exact parity with torch.nn.RNN / LSTM / GRU.

Weight mapping (row-vector convention): torch weight_ih_l0 = W.T, weight_hh_l0 = U.T,
bias_ih_l0 + bias_hh_l0 = B (split here into a random bias_hh and bias_ih = B - bias_hh);
the GRU's n-block recurrent bias is its own parameter Bhn = bias_hh_l0[2u:].
Gate order: LSTM (i, f, g, o), GRU (r, z, n), as PyTorch.
"""

import numpy as np
import pytest
import torch

import neuronlab as nl
from neuronlab.layers import GRU, LSTM, SimpleRNN

TOL = 1e-6
KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def make_layer(kind, units, return_sequences, init="torch"):
    if kind.startswith("rnn"):
        return SimpleRNN(units, activation=kind[4:], return_sequences=return_sequences, init=init)
    return {"lstm": LSTM, "gru": GRU}[kind](units, return_sequences=return_sequences, init=init)


def built(kind, units, d, return_sequences, dtype=np.float64, seed=0, init="torch"):
    layer = make_layer(kind, units, return_sequences, init)
    layer.name = kind
    layer.build((5, d), np.random.default_rng(seed), dtype)
    return layer


def torch_twin(layer, kind, rng):
    """The same recurrent layer in torch (float64), weights mapped explicitly."""
    d, u = layer.W.value.shape[0], layer.units
    if kind.startswith("rnn"):
        mod = torch.nn.RNN(d, u, nonlinearity=kind[4:], batch_first=True)
    else:
        mod = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](d, u, batch_first=True)
    mod = mod.double()
    B = layer.B.value.astype(np.float64)
    b_hh = rng.normal(size=B.shape)
    b_ih = B - b_hh
    if kind == "gru":  # the n block: B_n = bias_ih[2u:], Bhn = bias_hh[2u:]
        b_ih[2 * u:] = B[2 * u:]
        b_hh[2 * u:] = layer.Bhn.value
    with torch.no_grad():
        mod.weight_ih_l0.copy_(torch.tensor(layer.W.value.T))
        mod.weight_hh_l0.copy_(torch.tensor(layer.U.value.T))
        mod.bias_ih_l0.copy_(torch.tensor(b_ih))
        mod.bias_hh_l0.copy_(torch.tensor(b_hh))
    return mod


def close(ours, theirs, tol=1e-10):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape
    scale = max(np.abs(theirs).max(), 1e-12)
    err = np.abs(ours - theirs).max() / scale
    assert err < tol, err


# -- parity with PyTorch ----------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("init", ["torch", "auto"])
def test_parity_with_torch_float64(kind, return_sequences, init, rng):
    n, T, d, u = 3, 7, 4, 6
    layer = built(kind, u, d, return_sequences, init=init)
    mod = torch_twin(layer, kind, rng)
    X = rng.normal(size=(n, T, d))
    Xt = torch.tensor(X, requires_grad=True)
    out_t, state_t = mod(Xt)
    out = layer.forward(X, training=True)
    close(out, out_t if return_sequences else out_t[:, -1])
    # final states (h_n, c_n)
    states_t = state_t if kind == "lstm" else (state_t,)
    assert len(layer.final_state) == len(states_t)
    for ours, theirs in zip(layer.final_state, states_t):
        close(ours, theirs[0])
    # every gradient, for C = Σ out ⊙ R
    R = rng.normal(size=out.shape)
    ((out_t if return_sequences else out_t[:, -1]) * torch.tensor(R)).sum().backward()
    dX = layer.backward(R.copy())
    close(dX, Xt.grad)
    close(layer.W.grad, mod.weight_ih_l0.grad.T)
    close(layer.U.grad, mod.weight_hh_l0.grad.T)
    if kind == "gru":
        close(layer.B.grad[:2 * u], mod.bias_ih_l0.grad[:2 * u])  # = bias_hh grad on r, z
        close(layer.B.grad[2 * u:], mod.bias_ih_l0.grad[2 * u:])
        close(layer.Bhn.grad, mod.bias_hh_l0.grad[2 * u:])
    else:
        close(layer.B.grad, mod.bias_ih_l0.grad)
        close(layer.B.grad, mod.bias_hh_l0.grad)


@pytest.mark.parametrize("kind", KINDS)
def test_parity_float32(kind, rng):
    layer = built(kind, 8, 3, True, dtype=np.float32)
    mod = torch_twin(layer, kind, rng)
    X = rng.normal(size=(4, 6, 3)).astype(np.float32)
    out = layer.forward(X, training=True)
    assert out.dtype == np.float32
    dX = layer.backward(np.ones_like(out))
    assert dX.dtype == np.float32 and layer.U.grad.dtype == np.float32
    Xt = torch.tensor(X.astype(np.float64), requires_grad=True)
    out_t = mod(Xt)[0]
    out_t.sum().backward()
    close(out, out_t, 1e-5)
    close(dX, Xt.grad, 1e-4)
    close(layer.U.grad, mod.weight_hh_l0.grad.T, 1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_run_from_a_state_matches_torch_and_chunks(kind, rng):
    """Inference from a given initial state (h0, c0) = torch's; two halves = the whole."""
    n, T, d, u = 2, 8, 3, 5
    layer = built(kind, u, d, True)
    mod = torch_twin(layer, kind, rng)
    X = rng.normal(size=(n, T, d))
    state = tuple(rng.normal(size=(n, u)) for _ in range(2 if kind == "lstm" else 1))
    out, final = layer.run(X, state)
    ts = tuple(torch.tensor(s[None]) for s in state)
    out_t, final_t = mod(torch.tensor(X), ts if kind == "lstm" else ts[0])
    close(out, out_t)
    for ours, theirs in zip(final, final_t if kind == "lstm" else (final_t,)):
        close(ours, theirs[0])
    first, mid = layer.run(X[:, :3], state)
    second, final2 = layer.run(X[:, 3:], mid)
    close(np.concatenate([first, second], axis=1), out, 1e-12)
    close(layer.predict(X), layer.forward(X)[...], 1e-12)


# -- gradient checks --------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("n", [1, 3])
def test_gradcheck_layer(kind, return_sequences, n, rng):
    X = rng.normal(size=(n, 5, 3))
    layer = make_layer(kind, 4, return_sequences, init="torch" if kind == "rnn_relu" else "auto")
    errors = nl.gradcheck(layer, X, max_entries=None)
    names = {"W", "U", "B", "X"} | ({"Bhn"} if kind == "gru" else set())
    assert {k.split("/")[-1] for k in errors} == names
    assert max(errors.values()) < TOL, errors


def test_gradcheck_stacked_model_with_loss(rng):
    """LSTM(return_sequences) → GRU → SimpleRNN → Dense softmax, through cross-entropy."""
    X = rng.normal(size=(4, 6, 3))
    y = rng.integers(0, 3, 4)
    m = nl.Sequential([LSTM(5, return_sequences=True, input_shape=(6, 3)), GRU(4, return_sequences=True),
                       SimpleRNN(3), nl.layers.Dense(3, "softmax")], seed=2)
    m.compile(loss="categorical_crossentropy")
    errors = nl.gradcheck(m, X, y, max_entries=None)
    assert max(errors.values()) < TOL, errors


def test_a_wrong_recurrent_gradient_is_caught(rng, monkeypatch):
    """Dropping the cell-state path through the forget gate must fail the check."""
    layer = LSTM(3, return_sequences=True)
    orig = LSTM.backward

    def broken(self, dH):
        dX = orig(self, dH)
        self.U.grad *= 1.01
        return dX

    monkeypatch.setattr(LSTM, "backward", broken)
    errors = nl.gradcheck(layer, rng.normal(size=(2, 4, 2)))
    assert errors["lstm/U"] > 1e-3


# -- behaviour --------------------------------------------------------------------------
def test_state_grad_norms_vanish_for_tanh_rnn_not_lstm(rng):
    """‖∂C/∂H_t‖ for a loss on the last step only: tiny at t = 0 for the RNN, not the LSTM."""
    X = rng.normal(size=(16, 60, 2))
    ratios = {}
    for kind in ("rnn_tanh", "lstm"):
        layer = built(kind, 16, 2, False, dtype=np.float64, init="auto")
        layer.track_state_grads = True
        H = layer.forward(X, training=True)
        layer.backward(np.ones_like(H))
        g = layer.state_grad_norms
        assert g.shape == (60,) and np.all(g > 0)
        ratios[kind] = g[0] / g[-1]
    assert ratios["rnn_tanh"] < 1e-4 < ratios["lstm"], ratios


def test_model_fit_predict_and_variable_length(rng):
    X = rng.normal(size=(32, 7, 2)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(int)
    m = nl.Sequential([LSTM(8, input_shape=(7, 2)), nl.layers.Dense(2, "softmax")], seed=0)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.Adam(lr=0.01, clipnorm=1.0),
              metrics=["accuracy"])
    hist = m.fit(X, y, epochs=5, batch_size=8, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert m.predict(X).shape == (32, 2)
    assert m.predict(X[:, :3]).shape == (32, 2)  # any number of time steps
    assert m.predict(X).dtype == np.float32


def test_seeded_build_is_deterministic():
    a = LSTM(4)
    b = LSTM(4)
    a.build((3, 2), np.random.default_rng(1))
    b.build((3, 2), np.random.default_rng(1))
    for p, q in zip(a.params(), b.params()):
        assert np.array_equal(p.value, q.value)
    # auto init: orthogonal recurrent blocks, forget-gate bias 1
    U = a.U.value.astype(np.float64)
    for k in range(4):
        blk = U[:, 4 * 0 + k * 4:(k + 1) * 4]
        np.testing.assert_allclose(blk.T @ blk, np.eye(4), atol=1e-6)
    assert np.array_equal(a.B.value, np.repeat([0.0, 1.0, 0.0, 0.0], 4).astype(np.float32))


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip(kind):
    layer = make_layer(kind, 3, True, init="auto")
    copy = type(layer).from_config(layer.config())
    assert copy.config() == layer.config()
    shaped = LSTM(2, input_shape=(4, 3))
    assert LSTM.from_config(shaped.config()).input_shape == (4, 3)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="units"):
        LSTM(0)
    with pytest.raises(ValueError, match="return_sequences"):
        GRU(3, return_sequences="yes")
    with pytest.raises(ValueError, match="init"):
        SimpleRNN(3, init="zeros")
    with pytest.raises(ValueError, match="element-wise"):
        SimpleRNN(3, activation="softmax")
    with pytest.raises(ValueError, match="input_shape"):
        LSTM(3, input_shape=(5,))
    with pytest.raises(ValueError, match="lstm_1.*sequences"):
        nl.Sequential([nl.layers.Dense(3, input_dim=4), LSTM(2)])
    layer = built("lstm", 3, 2, False)
    with pytest.raises(ValueError, match=r"lstm.*\(n, timesteps, 2\).*\(4, 5, 3\)"):
        layer.forward(np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match="shape"):
        layer.forward(np.zeros((4, 2)))
    layer.forward(np.zeros((4, 5, 2)), training=True)
    with pytest.raises(ValueError, match=r"backward expected .*\(4, 3\)"):
        layer.backward(np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match="state"):
        layer.run(np.zeros((4, 5, 2)), (np.zeros((4, 3)), np.zeros((3, 3))))
