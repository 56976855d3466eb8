"""Sequential: the training loop, determinism, dtypes and errors for bad input."""

import numpy as np
import pytest

import neuronlab as nl


def mlp(seed=0, dtype="float32", dropout=0.0, input_dim=4):
    layers = [nl.layers.Dense(8, "relu", input_dim=input_dim)]
    if dropout:
        layers.append(nl.layers.Dropout(dropout))
    layers.append(nl.layers.Dense(3, "softmax"))
    m = nl.Sequential(layers, seed=seed, dtype=dtype)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.1, momentum=0.9),
              metrics=["accuracy"])
    return m


@pytest.fixture
def Xy(rng):
    X = rng.normal(size=(64, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)


# -- the guide's networks ---------------------------------------------------------------------
def test_guide_4_2_1_sigmoid_network_learns_xor_like_data():
    """The guide's figure: 4 inputs, 2 hidden sigmoid neurons, 1 sigmoid output."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, size=(200, 4)).astype(float)
    y = np.logical_xor(X[:, 0], X[:, 1]).astype(float)  # XOR of two inputs, two distractors
    m = nl.Sequential([nl.layers.Dense(2, "sigmoid", input_dim=4), nl.layers.Dense(1, "sigmoid")], seed=3)
    m.compile(loss="binary_crossentropy", optimizer=nl.optimizers.SGD(lr=1.0, momentum=0.9), metrics=["accuracy"])
    assert m.evaluate(X, y)["accuracy"] < 0.8
    m.fit(X, y, epochs=300, batch_size=20, verbose=0)
    assert m.evaluate(X, y)["accuracy"] == 1.0
    assert [w.shape for w in m.get_weights()] == [(4, 2), (2,), (2, 1), (1,)]


def test_xor_four_points_full_batch_gd():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0])
    m = nl.Sequential([nl.layers.Dense(4, "tanh", input_dim=2), nl.layers.Dense(1, "sigmoid")], seed=0)
    m.compile(loss="binary_crossentropy", optimizer=nl.optimizers.SGD(lr=0.5, momentum=0.9), metrics=["accuracy"])
    h = m.fit(X, y, epochs=500, batch_size=None, verbose=0)
    assert h.history["loss"][-1] < 0.05 and h.history["accuracy"][-1] == 1.0


# -- fit / evaluate / predict -----------------------------------------------------------------
def test_fit_returns_history_with_all_keys(Xy):
    X, y = Xy
    h = mlp().fit(X[:48], y[:48], epochs=3, batch_size=16, validation_data=(X[48:], y[48:]), verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert all(len(v) == 3 for v in h.history.values()) and h.epoch == [0, 1, 2]


def test_validation_split_holds_out_the_last_fraction(Xy):
    X, y = Xy
    m1, m2 = mlp(), mlp()
    h1 = m1.fit(X, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    h2 = m2.fit(X[:48], y[:48], epochs=2, batch_size=8, validation_data=(X[48:], y[48:]), verbose=0)
    assert h1.history == h2.history


@pytest.mark.parametrize("K,steps", [(None, 1), (1, 64), (10, 7), (64, 1), (1000, 1)])
def test_batch_size_is_the_guides_K(K, steps, Xy):
    """K = n: gradient descent (one step per epoch); K = 1: SGD; 1 < K < n: mini-batch."""
    X, y = Xy
    m = mlp()
    m.fit(X, y, epochs=2, batch_size=K, verbose=0)
    assert m.optimizer.iterations == 2 * steps


def test_evaluate_and_predict(Xy):
    X, y = Xy
    m = mlp()
    m.fit(X, y, epochs=20, batch_size=8, verbose=0)
    res = m.evaluate(X, y)
    P = m.predict(X)
    assert set(res) == {"loss", "accuracy"} and res["accuracy"] > 0.8
    assert P.shape == (64, 3) and P.dtype == np.float32
    np.testing.assert_allclose(P.sum(1), 1, rtol=1e-6)
    assert res["accuracy"] == pytest.approx(np.mean(P.argmax(1) == y))
    np.testing.assert_array_equal(m.predict(X, batch_size=5), P)


def test_one_hot_and_integer_labels_train_identically(Xy):
    X, y = Xy
    h1 = mlp().fit(X, y, epochs=2, verbose=0)
    h2 = mlp().fit(X, np.eye(3)[y], epochs=2, verbose=0)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-6)


def test_sample_and_class_weights(Xy):
    X, y = Xy
    m = mlp()
    base = m.evaluate(X, y)["loss"]
    assert m.evaluate(X, y, sample_weight=np.full(len(y), 2.0))["loss"] == pytest.approx(2 * base, rel=1e-6)
    h1 = mlp().fit(X, y, epochs=2, verbose=0, class_weight={0: 2.0, 1: 2.0, 2: 2.0})
    h2 = mlp().fit(X, y, epochs=2, verbose=0, sample_weight=np.full(len(y), 2.0))
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-6)


def test_summary_and_lazy_build(capsys):
    m = nl.Sequential([nl.layers.Dense(5, "relu"), nl.layers.Dense(2, "softmax")], seed=0)
    assert not m.built
    m.predict(np.zeros((1, 3)))
    text = m.summary()
    assert "dense_1 (Dense)" in text and "Total params: 32" in text  # 3*5+5 + 5*2+2
    assert "Total params" in capsys.readouterr().out


def test_get_set_weights_roundtrip_and_gradients_per_layer(Xy):
    X, y = Xy
    m = mlp()
    w = m.get_weights()
    m.fit(X, y, epochs=1, verbose=0)
    grads = m.get_gradients()
    assert [g.shape for g in grads] == [x.shape for x in w]
    np.testing.assert_array_equal(grads[0], m.layers[0].W.grad)
    m.set_weights(w)
    for a, b in zip(m.get_weights(), w):
        np.testing.assert_array_equal(a, b)


# -- determinism and dtype --------------------------------------------------------------------
def test_same_seed_is_bit_identical_and_other_seed_differs(Xy):
    X, y = Xy
    runs = [mlp(seed=s, dropout=0.3) for s in (7, 7, 8)]
    hs = [m.fit(X, y, epochs=3, batch_size=8, verbose=0).history for m in runs]
    assert hs[0] == hs[1]
    for a, b in zip(runs[0].get_weights(), runs[1].get_weights()):
        assert a.tobytes() == b.tobytes()
    assert hs[0]["loss"] != hs[2]["loss"]


def test_global_numpy_rng_is_never_touched(Xy):
    X, y = Xy
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    m = mlp(seed=None, dropout=0.5)
    m.fit(X, y, epochs=2, batch_size=8, verbose=0)
    m.predict(X)
    nl.gradcheck(m, X[:4], y[:4], max_entries=5)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_float32_survives_training_and_float64_on_request(Xy):
    X, y = Xy
    for dtype in (np.float32, np.float64):
        m = mlp(dtype=dtype, dropout=0.2)
        m.fit(X.astype(np.float64), y, epochs=1, batch_size=8, verbose=0)
        for p in m.params():
            assert p.value.dtype == dtype and p.grad.dtype == dtype, p.name
        assert m.predict(X).dtype == dtype


def test_dropout_is_identity_at_inference_and_scales_in_training():
    d = nl.Sequential([nl.layers.Dropout(0.25)], seed=0)
    X = np.ones((2000, 50), dtype=np.float32)
    np.testing.assert_array_equal(d.predict(X), X)
    H = d.forward(X, training=True)
    assert set(np.unique(H)) == {0.0, np.float32(1 / 0.75)}
    assert (H == 0).mean() == pytest.approx(0.25, abs=0.01)
    assert H.mean() == pytest.approx(1.0, abs=0.02)


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("X,y,match", [
    (np.zeros(4), np.zeros(1), r"X must be at least 2-D .* shape \(4,\)"),
    (np.zeros((5, 3)), np.zeros(5), r"layer 'dense_1': expected input of shape \(n, 4\), got shape \(5, 3\)"),
    (np.zeros((5, 4)), np.zeros(4), r"X has 5 samples but y has 4"),
    (np.zeros((5, 4)), np.array([0, 1, 2, 3, 0]), r"labels must lie in \[0, 3\).*\[0, 3\]"),
    (np.zeros((5, 4)), np.array([0, 1, -1, 2, 0]), r"labels must lie in \[0, 3\)"),
    (np.array([[0, 0, np.nan, 0]] * 5), np.zeros(5), r"X contains NaN or inf \(first at row 0"),
    (np.zeros((5, 4)), np.array([0, 1, np.nan, 2, 0]), r"y contains NaN or inf"),
    (np.zeros((5, 4)), np.zeros((5, 2)), r"y of shape \(5, 2\) does not match the model's output \(n, 3\)"),
    (np.array([["a"] * 4] * 5), np.zeros(5), r"X must be numeric"),
])
def test_bad_input_gets_one_clear_value_error(X, y, match):
    with pytest.raises(ValueError, match=match):
        mlp().fit(X, y, verbose=0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(batch_size=0), "batch_size must be a positive integer or None"),
    (dict(batch_size=-3), "batch_size"),
    (dict(epochs=-1), "epochs must be a non-negative integer"),
    (dict(validation_split=1.5), "validation_split"),
])
def test_bad_fit_arguments(kwargs, match, Xy):
    with pytest.raises(ValueError, match=match):
        mlp().fit(*Xy, verbose=0, **kwargs)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown activation 'sigmund'; valid names: linear, sigmoid"):
        nl.layers.Dense(3, activation="sigmund")
    with pytest.raises(ValueError, match="unknown loss 'hingey'; valid names: mse, mae, huber, binary_crossentropy"):
        mlp().compile(loss="hingey")
    with pytest.raises(ValueError, match="unknown optimizer 'sgdd'; valid names: sgd"):
        mlp().compile(optimizer="sgdd")
    with pytest.raises(ValueError, match="unknown metric 'f2'; valid names: accuracy"):
        mlp().compile(metrics=["f2"])


def test_fit_before_compile():
    m = nl.Sequential([nl.layers.Dense(2, input_dim=2)])
    with pytest.raises(ValueError, match=r"call model.compile\(loss=..., optimizer=...\) before fit"):
        m.fit(np.zeros((2, 2)), np.zeros(2))


def test_layer_argument_errors():
    for bad in (0, -1, 2.5, "8"):
        with pytest.raises(ValueError, match="units must be a positive integer"):
            nl.layers.Dense(bad)
    for bad in (-0.1, 1.0, 2):
        with pytest.raises(ValueError, match=r"rate must be a number >= 0 and < 1"):
            nl.layers.Dropout(bad)
    with pytest.raises(ValueError, match="lr must be"):
        nl.optimizers.SGD(lr=0)


def test_divergence_stops_with_epoch_batch_lr_and_keeps_finite_weights(Xy):
    X, y = Xy
    m = nl.Sequential([nl.layers.Dense(8, "relu", input_dim=4), nl.layers.Dense(1)], seed=0)
    m.compile(loss="mse", optimizer=nl.optimizers.SGD(lr=1e3))
    with pytest.raises(nl.NonFiniteError, match=r"epoch \d+, batch \d+/8.*lr = 1000"):
        m.fit(X * 100, y * 1e3, epochs=50, batch_size=8, verbose=0)
    assert all(np.isfinite(w).all() for w in m.get_weights())


@pytest.mark.parametrize("last", ["rnn", "batchnorm"])
def test_sigmoid_output_layer_without_logits_is_not_fused(last):
    # compile used to mark any last sigmoid layer as fused with binary cross-entropy: a SimpleRNN
    # ignored the flag (wrong gradient) and predict/evaluate called a logits() it does not have
    rng = np.random.default_rng(0)
    if last == "rnn":
        X = rng.standard_normal((16, 5, 3))
        layers = [nl.layers.SimpleRNN(2, activation="sigmoid", input_shape=(5, 3))]
    else:
        X = rng.standard_normal((16, 2))
        layers = [nl.layers.BatchNorm(activation="sigmoid", input_shape=(2,))]
    y = (rng.random((16, 2)) > 0.5).astype(float)
    m = nl.Sequential(layers, seed=0)
    m.compile("binary_crossentropy", "sgd")
    assert max(nl.gradcheck(m, X, y).values()) < 1e-6
    m.fit(X, y, epochs=1, batch_size=8, verbose=0)
    P = m.predict(X)
    assert P.shape == (16, 2) and ((P > 0) & (P < 1)).all()
    assert np.isfinite(m.evaluate(X, y)["loss"])


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_predict_and_evaluate_reject_a_bad_batch_size(bad):
    # batch_size=-1 made evaluate return {"loss": 0.0}; 0 raised range()'s own message
    m = nl.Sequential([nl.layers.Dense(1, input_dim=2)], seed=0)
    m.compile("mse", "sgd")
    X, y = np.ones((3, 2)), np.ones(3)
    with pytest.raises(ValueError, match="predict: batch_size"):
        m.predict(X, batch_size=bad)
    with pytest.raises(ValueError, match="evaluate: batch_size"):
        m.evaluate(X, y, batch_size=bad)
    assert m.predict(X, batch_size=2).shape == (3, 1) and m.evaluate(X, y, batch_size=None)["loss"] >= 0


def test_validation_data_overrides_validation_split(Xy):
    # with both, the last quarter of X used to be dropped from training and validated on nowhere
    X, y = Xy
    m1, m2 = mlp(), mlp()
    h1 = m1.fit(X, y, epochs=2, batch_size=8, validation_split=0.25, validation_data=(X[:8], y[:8]), verbose=0)
    h2 = m2.fit(X, y, epochs=2, batch_size=8, validation_data=(X[:8], y[:8]), verbose=0)
    assert h1.history == h2.history
