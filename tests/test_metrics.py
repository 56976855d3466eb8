"""nl.metrics against scikit-learn on the same predictions, streamed over uneven batches; fit's History."""

import numpy as np
import pytest
from sklearn import metrics as skm

import neuronlab as nl
from neuronlab import metrics as M

TOL = 1e-6


def _stream(metric, P, Y, w=None, sizes=(7, 1, 30, 13)):
    """Feed P, Y in uneven batches (the epoch value must not depend on them)."""
    metric.reset()
    lo = 0
    for size in [*sizes, len(P)]:
        hi = min(lo + size, len(P))
        if hi > lo:
            metric.update(P[lo:hi], Y[lo:hi], None if w is None else w[lo:hi])
        lo = hi
    return metric.result()


@pytest.fixture
def multiclass(rng):
    P = rng.dirichlet(np.ones(4), size=200)
    y = np.where(rng.random(200) < 0.6, P.argmax(1), rng.integers(0, 4, 200))
    return P, y, rng.random(200)


@pytest.fixture
def binary(rng):
    y = rng.integers(0, 2, 150).astype(float)
    P = np.clip(0.3 * y + rng.random(150) * 0.7, 0, 1)[:, None]
    return P, y[:, None], rng.random(150)


@pytest.fixture
def regression(rng):
    Y = rng.normal(size=(120, 3)) * [1.0, 10.0, 0.1] + [0.0, 1000.0, -5.0]  # offsets: R² must stay exact
    P = Y + rng.normal(size=Y.shape) * [0.5, 4.0, 0.1]
    return P, Y, rng.random(120)


@pytest.mark.parametrize("weighted", [False, True])
def test_classification_metrics_equal_sklearn_on_multiclass(multiclass, weighted):
    P, y, w = multiclass
    w = w if weighted else None
    pred = P.argmax(1)
    kw = {"sample_weight": w}
    assert _stream(M.Accuracy(), P, y, w) == pytest.approx(skm.accuracy_score(y, pred, **kw), abs=TOL)
    for k in (1, 2, 3):
        assert _stream(M.TopKAccuracy(k), P, y, w) == pytest.approx(
            skm.top_k_accuracy_score(y, P, k=k, labels=range(4), **kw), abs=TOL)
    for cls, fn in ((M.Precision, skm.precision_score), (M.Recall, skm.recall_score), (M.F1, skm.f1_score)):
        for average in ("macro", "micro"):
            ours = _stream(cls(average=average), P, y, w)
            assert ours == pytest.approx(fn(y, pred, average=average, zero_division=0, **kw), abs=TOL), (cls, average)


def test_one_hot_targets_give_the_same_values(multiclass):
    P, y, _ = multiclass
    Y = np.eye(4)[y]
    for name in ("accuracy", "top_2_accuracy", "f1_macro", "precision_micro", "recall_macro"):
        assert _stream(M.get(name), P, Y) == pytest.approx(_stream(M.get(name), P, y), abs=1e-12), name


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_metrics_equal_sklearn(binary, weighted):
    P, Y, w = binary
    w = w if weighted else None
    y, pred = Y[:, 0], (P[:, 0] > 0.5).astype(int)
    kw = {"sample_weight": w}
    assert _stream(M.Accuracy(), P, Y, w) == pytest.approx(skm.accuracy_score(y, pred, **kw), abs=TOL)
    assert _stream(M.Precision(), P, Y, w) == pytest.approx(skm.precision_score(y, pred, **kw), abs=TOL)
    assert _stream(M.Recall(), P, Y, w) == pytest.approx(skm.recall_score(y, pred, **kw), abs=TOL)
    assert _stream(M.F1(), P, Y, w) == pytest.approx(skm.f1_score(y, pred, **kw), abs=TOL)
    assert _stream(M.AUC(), P, Y, w) == pytest.approx(skm.roc_auc_score(y, P[:, 0], **kw), abs=TOL)


def test_auc_counts_ties_as_sklearn(rng):
    y = rng.integers(0, 2, 300)
    scores = rng.integers(0, 5, 300) / 4.0  # many ties
    assert _stream(M.AUC(), scores[:, None], y[:, None].astype(float)) == pytest.approx(
        skm.roc_auc_score(y, scores), abs=1e-12)
    two = np.stack([1 - scores, scores], axis=1)  # two softmax columns: class 1's
    assert _stream(M.AUC(), two, y) == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)


def test_multilabel_precision_recall_f1_equal_sklearn(rng):
    Y = (rng.random((80, 3)) > 0.5).astype(float)
    P = np.clip(0.4 * Y + 0.6 * rng.random((80, 3)), 0, 1)
    pred = (P > 0.5).astype(int)
    for average in ("macro", "micro"):
        assert _stream(M.F1(average, multilabel=True), P, Y) == pytest.approx(
            skm.f1_score(Y, pred, average=average, zero_division=0), abs=TOL)
        assert _stream(M.Precision(average, multilabel=True), P, Y) == pytest.approx(
            skm.precision_score(Y, pred, average=average, zero_division=0), abs=TOL)
    assert _stream(M.Accuracy(multilabel=True), P, Y) == pytest.approx((pred == Y).mean(), abs=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_regression_metrics_equal_sklearn(regression, weighted):
    P, Y, w = regression
    w = w if weighted else None
    kw = {"sample_weight": w}
    assert _stream(M.MAE(), P, Y, w) == pytest.approx(skm.mean_absolute_error(Y, P, **kw), abs=TOL)
    assert _stream(M.MSE(), P, Y, w) == pytest.approx(skm.mean_squared_error(Y, P, **kw), rel=TOL)
    assert _stream(M.RMSE(), P, Y, w) == pytest.approx(skm.root_mean_squared_error(Y, P, **kw), rel=TOL)
    assert _stream(M.R2(), P, Y, w) == pytest.approx(skm.r2_score(Y, P, **kw), abs=TOL)


def test_r2_of_a_constant_target_follows_sklearn():
    Y = np.full((10, 1), 3.0)
    assert _stream(M.R2(), Y.copy(), Y) == 1.0 == skm.r2_score(Y, Y)
    assert _stream(M.R2(), Y + 0.1, Y) == 0.0 == skm.r2_score(Y, Y + 0.1)


def test_names_variants_and_refusals():
    assert M.get("acc").name == "accuracy" and M.get("top_3_accuracy").k == 3
    assert M.get("f1_macro").name == "f1_macro" and M.get("f1").average == "binary"
    assert M.get("roc_auc").name == "auc" and M.get("mean_absolute_error").name == "mae"
    with pytest.raises(ValueError, match="unknown metric 'f2'; valid names: accuracy"):
        M.get("f2")
    with pytest.raises(ValueError, match="F1: average must be one of 'binary', 'macro', 'micro', got 'weighted'"):
        M.F1(average="weighted")
    with pytest.raises(ValueError, match="TopKAccuracy: k must be a positive integer, got 0"):
        M.TopKAccuracy(0)
    with pytest.raises(ValueError, match="Precision: average='binary' needs one output or two classes"):
        M.Precision().update(np.eye(3), np.arange(3))
    with pytest.raises(TypeError, match=r"got the function 'my_metric'.*subclass nl.metrics.Metric"):
        M.get(my_metric)


def my_metric(P, Y):
    return 0.0


def _classifier(rng, out="softmax", k=3):
    X = rng.normal(size=(150, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5) if k == 3 else (X[:, 0] + X[:, 1] > 0).astype(int)
    m = nl.Sequential([nl.layers.Dense(8, "tanh", input_dim=4), nl.layers.Dense(k if out == "softmax" else 1, out)],
                      seed=0)
    return m, X, y


def test_fit_records_exact_epoch_metrics_for_train_and_validation(rng):
    m, X, y = _classifier(rng)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.3),
              metrics=["accuracy", M.F1("macro"), M.TopKAccuracy, "top_2_accuracy"])
    Xv, yv = X[:40], y[:40]
    h = m.fit(X, y, epochs=3, batch_size=16, validation_data=(Xv, yv), verbose=0)
    assert {"loss", "accuracy", "f1_macro", "top_5_accuracy", "top_2_accuracy", "val_loss", "val_accuracy",
            "val_f1_macro", "val_top_2_accuracy"} <= set(h.history)
    assert all(len(v) == 3 for v in h.history.values())
    P = m.predict(Xv)
    assert h.history["val_f1_macro"][-1] == pytest.approx(skm.f1_score(yv, P.argmax(1), average="macro"), abs=TOL)
    assert h.history["val_accuracy"][-1] == pytest.approx(skm.accuracy_score(yv, P.argmax(1)), abs=TOL)
    ev = m.evaluate(Xv, yv, batch_size=7)
    assert ev["f1_macro"] == pytest.approx(h.history["val_f1_macro"][-1], abs=1e-12)


def test_train_metrics_of_an_epoch_are_exact_over_its_batches(rng):
    """Without shuffling and with lr = 0 the weights stay put: the epoch's value is the metric on all of X."""
    m, X, y = _classifier(rng, out="sigmoid", k=2)
    opt = nl.optimizers.SGD(lr=0.1)
    opt.lr = 0.0  # (a schedule's value; the constructor wants > 0)
    m.compile(loss="binary_crossentropy", optimizer=opt, metrics=["auc", "f1", "rmse"])
    h = m.fit(X, y, epochs=1, batch_size=13, shuffle=False, verbose=0)
    P = m.predict(X)[:, 0]
    assert h.history["auc"][0] == pytest.approx(skm.roc_auc_score(y, P), abs=TOL)
    assert h.history["f1"][0] == pytest.approx(skm.f1_score(y, P > 0.5), abs=TOL)
    assert h.history["rmse"][0] == pytest.approx(skm.root_mean_squared_error(y, P), abs=TOL)


def test_regression_metrics_in_history(rng):
    X = rng.normal(size=(90, 3))
    y = X @ [1.0, -2.0, 0.5] + 3.0
    m = nl.Sequential([nl.layers.Dense(1, input_dim=3)], seed=0)
    m.compile(loss="huber", optimizer="adam", metrics=["mae", "mse", "rmse", "r2"])
    h = m.fit(X, y, epochs=2, batch_size=32, validation_split=0.2, verbose=0)
    assert {"mae", "mse", "rmse", "r2", "val_mae", "val_r2"} <= set(h.history)
    ev = m.evaluate(X, y)
    P = m.predict(X)[:, 0]
    assert ev["r2"] == pytest.approx(skm.r2_score(y, P), abs=TOL)
    assert ev["mae"] == pytest.approx(skm.mean_absolute_error(y, P), abs=TOL)


def test_train_step_streams_until_reset_and_test_step_is_per_batch(rng):
    m, X, y = _classifier(rng)
    m.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    P0 = m.predict(X[:50]).argmax(1)
    assert m.test_step(X[:50], y[:50])["accuracy"] == pytest.approx((P0 == y[:50]).mean())
    P1 = m.predict(X[50:60]).argmax(1)
    assert m.test_step(X[50:60], y[50:60])["accuracy"] == pytest.approx((P1 == y[50:60]).mean())
    first = m.train_step(X[:50], y[:50])["accuracy"]
    assert first == pytest.approx((P0 == y[:50]).mean())
    m.compiled_metrics[0].update(np.eye(3)[y[:10]], y[:10])  # 10 more right answers stream into the running value
    assert m.compiled_metrics[0].result() == pytest.approx((first * 50 + 10) / 60)
    m.reset_metrics()
    assert m.compiled_metrics[0].total == 0


def test_no_metric_means_only_the_loss(rng):
    m, X, y = _classifier(rng)
    m.compile(loss="categorical_crossentropy")
    assert m.train_step(X[:8], y[:8]).keys() == {"loss"}
    assert m.fit(X, y, epochs=1, verbose=0).history.keys() == {"loss", "lr"}


def test_metrics_that_need_P_get_P_from_a_fused_output(rng):
    """MSE of probabilities needs P; accuracy reads the logits: both match their definition on P."""
    m, X, y = _classifier(rng)
    m.compile(loss="categorical_crossentropy", metrics=["mse", "accuracy"])
    ev = m.evaluate(X, np.eye(3)[y])
    P = m.predict(X)
    assert ev["mse"] == pytest.approx(skm.mean_squared_error(np.eye(3)[y], P), abs=TOL)
    assert ev["accuracy"] == pytest.approx((P.argmax(1) == y).mean(), abs=1e-12)


def test_compile_refuses_bad_metrics():
    m = nl.Sequential([nl.layers.Dense(2, "softmax", input_dim=2)])
    with pytest.raises(TypeError, match="compile: metrics must be a list"):
        m.compile(metrics="accuracy")
    with pytest.raises(ValueError, match="metric names must be distinct"):
        m.compile(metrics=["acc", "accuracy"])


@pytest.fixture
def restore_metrics():
    saved = dict(nl.metrics.registry._items)
    yield
    nl.metrics.registry._items.clear()
    nl.metrics.registry._items.update(saved)


def test_a_user_metric_streams_through_fit_and_reloads_by_name(rng, tmp_path, restore_metrics):
    @nl.register("count_seen")
    class CountSeen(nl.metrics.Metric):
        def reset(self):
            self.n = 0

        def update(self, P, Y, w=None):
            self.n += len(P)

        def result(self):
            return float(self.n)

    m, X, y = _classifier(rng)
    m.compile(loss="categorical_crossentropy", metrics=[CountSeen])
    h = m.fit(X, y, epochs=2, batch_size=32, validation_data=(X[:10], y[:10]), verbose=0)
    assert h.history["count_seen"] == [150.0, 150.0] and h.history["val_count_seen"] == [10.0, 10.0]
    m.save(tmp_path / "m.safetensors")
    assert nl.load_model(tmp_path / "m.safetensors").metrics == ["count_seen"]
