"""neuronlab.sklearn: scikit-learn's own conformance suite, meta-estimators, and the estimators' promises."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn.datasets import (
    load_digits,
    load_iris,
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import NotFittedError
from sklearn.metrics import recall_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import compute_sample_weight
from sklearn.utils.estimator_checks import (
    check_classifiers_train,
    check_estimators_pickle,
    check_fit_idempotent,
    check_methods_subset_invariance,
    check_regressors_train,
    parametrize_with_checks,
)

import neuronlab as nl
from neuronlab.sklearn import MLPClassifier, MLPRegressor, glorot_uniform_like_sklearn

# short runs stop at max_iter on purpose; tests/test_sklearn_swap.py checks the warning itself
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y


def _quick_clf(**kw):
    return MLPClassifier(**{"hidden_layer_sizes": (16,), "lr": 0.01, "max_iter": 100, "random_state": 0, **kw})


# -- scikit-learn's conformance suite: every check, no expected failures ------------------------
@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)])
def test_sklearn_conformance(estimator, check, monkeypatch):
    # as in scikit-learn's CI: lets check_array_api_input run (NumPy inputs with array-API
    # dispatch on must give the same results) instead of skipping
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


# Configurations the suite's defaults do not reach, through the checks that apply to them (the
# sample-weight equivalence check does not: dropout masks and the early-stopping split depend on n).
FEATURE_CONFIGS = [
    dict(hidden_layer_sizes=(32, 16), dropout=0.1, activation="leaky_relu", init="he_uniform", lr=0.01),
    dict(optimizer="sgd", lr=0.05, optimizer_params={"momentum": 0.9, "nesterov": True}, batch_size=16,
         weight_decay=1e-4, activation="tanh"),
    dict(early_stopping=True, validation_fraction=0.2, n_iter_no_change=5, optimizer="rmsprop"),
    dict(hidden_layer_sizes=(16,), solver="lbfgs"),  # the weights live in L-BFGS-B's flat θ buffer
]


FEATURE_IDS = ["dropout", "sgd-nesterov", "early-stopping", "lbfgs"]


@pytest.mark.parametrize("cfg", FEATURE_CONFIGS, ids=FEATURE_IDS)
@pytest.mark.parametrize("check", [check_classifiers_train, check_fit_idempotent,
                                   check_methods_subset_invariance, check_estimators_pickle])
def test_feature_configs_pass_checks(cfg, check):
    check("MLPClassifier", MLPClassifier(max_iter=100, **cfg))


@pytest.mark.parametrize("cfg", FEATURE_CONFIGS, ids=FEATURE_IDS)
def test_feature_configs_regressor_train(cfg):
    check_regressors_train("MLPRegressor", MLPRegressor(max_iter=100, **cfg))


# -- meta-estimators ------------------------------------------------------------------------
def test_pipeline_gridsearch_cross_val_score():
    X, y = load_iris(return_X_y=True)
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", _quick_clf())])
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85
    grid = GridSearchCV(pipe, {"mlp__hidden_layer_sizes": [(4,), (16,)], "mlp__optimizer": ["adam", "rmsprop"]},
                        cv=3)
    grid.fit(X, y)
    assert grid.best_score_ > 0.85
    assert set(grid.best_params_) == {"mlp__hidden_layer_sizes", "mlp__optimizer"}
    assert grid.predict(X).shape == (150,)
    Xr, yr = make_regression(n_samples=150, n_features=5, noise=5.0, random_state=0)
    reg = make_pipeline(StandardScaler(), MLPRegressor((16,), lr=0.01, max_iter=200, random_state=0))
    r2 = cross_val_score(reg, Xr, yr / yr.std(), cv=3)
    assert r2.mean() > 0.9


# -- targets ----------------------------------------------------------------------------------
@pytest.mark.parametrize("labels", [["cat", "dog"], [3, 7], [-1, 1], ["a", "b", "c"], [10, 20, 30]])
def test_string_and_integer_labels(iris, labels):
    X, y = iris
    keep = y < len(labels)
    y_named = np.asarray(labels, dtype=object if isinstance(labels[0], str) else None)[y[keep]]
    clf = _quick_clf().fit(X[keep], y_named)
    assert_array_equal(clf.classes_, np.unique(y_named))
    assert set(clf.predict(X[keep])) <= set(labels)
    assert clf.score(X[keep], y_named) > 0.85
    proba = clf.predict_proba(X[keep])
    assert proba.shape == (keep.sum(), len(labels))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X[keep]))
    assert_allclose(clf.predict_log_proba(X[keep]), np.log(proba))
    Z = clf.decision_function(X[keep])
    if len(labels) == 2:  # one logit: Z > 0 means classes_[1], sigmoid(Z) its probability
        assert Z.shape == (keep.sum(),)
        assert_array_equal(clf.classes_[(Z > 0).astype(int)], clf.predict(X[keep]))
        assert_allclose(proba[:, 1], 1 / (1 + np.exp(-Z)), rtol=1e-5)
    else:
        assert_allclose(proba, np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True), rtol=1e-5)
    # binary: one sigmoid unit and binary cross-entropy; more classes: softmax
    assert clf.model_.output_dim == (1 if len(labels) == 2 else len(labels))
    assert clf.out_activation_ == ("logistic" if len(labels) == 2 else "softmax")
    assert isinstance(clf.model_.loss, nl.losses.BinaryCrossEntropy if len(labels) == 2 else
                      nl.losses.CategoricalCrossEntropy)


def test_multilabel():
    X, Y = make_multilabel_classification(n_samples=120, n_features=6, n_classes=4, random_state=0)
    clf = _quick_clf(max_iter=100).fit(StandardScaler().fit_transform(X), Y)
    assert_array_equal(clf.classes_, np.arange(4))
    pred = clf.predict(StandardScaler().fit_transform(X))
    assert pred.shape == Y.shape and set(np.unique(pred)) <= {0, 1}
    proba = clf.predict_proba(StandardScaler().fit_transform(X))
    assert proba.shape == Y.shape and (proba >= 0).all() and (proba <= 1).all()
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 4
    assert np.mean(pred == Y) > 0.75


@pytest.mark.parametrize("shape", [(), (1,), (3,)])
def test_regression_output_shapes(shape):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 5))
    W = rng.normal(size=(5, 3))
    Y = np.tanh(X @ W)
    y = Y[:, 0] if shape == () else Y[:, : shape[0]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = MLPRegressor((32,), lr=0.01, max_iter=300, n_iter_no_change=50, random_state=0).fit(X, y)
    # as scikit-learn: a column y warns and is used as (n,); one output predicts (n,)
    assert any("column-vector y" in str(w.message) for w in caught) == (shape == (1,))
    assert reg.predict(X).shape == ((80,) if shape in ((), (1,)) else y.shape)
    assert reg.n_outputs_ == (1 if shape == () else shape[0])
    assert reg.score(X, y) > 0.8


# -- the estimator is a thin layer over Sequential ------------------------------------------------
def test_matches_plain_sequential(iris):
    # multiclass log-loss, no L2 term, constant η: the estimator's step is Sequential's step
    X, y = iris[0].astype(np.float64), iris[1]
    clf = MLPClassifier((8,), activation="tanh", solver="sgd", alpha=0.0, learning_rate_init=0.1,
                        nesterovs_momentum=False, batch_size=16, shuffle=False, max_iter=5, n_iter_no_change=100,
                        random_state=3).fit(X, y)
    model = nl.Sequential([nl.layers.Dense(8, "tanh", input_dim=4), nl.layers.Dense(3, "softmax")],
                          dtype="float64")
    # scikit-learn's initialisation: Glorot uniform W and B from RandomState(random_state)
    model.set_weights(glorot_uniform_like_sklearn(np.random.RandomState(3), (4, 8, 3), "tanh", np.float64))
    model.compile("categorical_crossentropy", nl.optimizers.SGD(lr=0.1, momentum=0.9))
    hist = model.fit(X, y, epochs=5, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(clf.coefs_ + clf.intercepts_, model.get_weights()[::2] + model.get_weights()[1::2]):
        assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert_allclose(clf.loss_curve_, hist.history["loss"], rtol=1e-12)
    assert_allclose(clf.predict_proba(X), model.predict(X), rtol=1e-12)


def test_dtype_follows_X_unless_given(iris):
    X, y = iris
    assert _quick_clf(max_iter=2).fit(X, y).model_.dtype == np.float32
    assert _quick_clf(max_iter=2).fit(X.astype(np.float64), y).model_.dtype == np.float64
    assert _quick_clf(max_iter=2, dtype="float32").fit(X.astype(np.float64), y).model_.dtype == np.float32
    assert _quick_clf(max_iter=2).fit(X.astype(int), y).model_.dtype == np.float64


# -- determinism ------------------------------------------------------------------------------
def test_random_state_determinism(iris):
    X, y = iris
    a, b = _quick_clf(dropout=0.2).fit(X, y), _quick_clf(dropout=0.2).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = _quick_clf(dropout=0.2, random_state=1).fit(X, y)
    assert a.loss_curve_ != c.loss_curve_
    # None draws fresh entropy (never the global NumPy RNG); a RandomState is accepted
    d, e = _quick_clf(random_state=None).fit(X, y), _quick_clf(random_state=None).fit(X, y)
    assert d.loss_curve_ != e.loss_curve_
    state = np.random.get_state()
    _quick_clf(random_state=None, early_stopping=True).fit(X, y)
    assert all(np.array_equal(s, t) for s, t in zip(state, np.random.get_state()))
    f = _quick_clf(random_state=np.random.RandomState(5)).fit(X, y)
    g = _quick_clf(random_state=np.random.RandomState(5)).fit(X, y)
    assert f.loss_curve_ == g.loss_curve_


def test_dropout_only_in_training(iris):
    X, y = iris
    clf = _quick_clf(hidden_layer_sizes=(16, 8), dropout=(0.5, 0.0)).fit(X, y)
    kinds = [type(layer).__name__ for layer in clf.model_.layers]
    assert kinds == ["Dense", "Dropout", "Dense", "Dense"]
    assert clf.model_.layers[1].rate == 0.5
    assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))


# -- early stopping ----------------------------------------------------------------------------
def test_early_stopping_restores_best_weights():
    X, y = make_classification(n_samples=200, n_features=20, n_informative=3, flip_y=0.3, random_state=0)
    X = X.astype(np.float64)
    clf = MLPClassifier((128,), lr=0.01, max_iter=300, early_stopping=True, validation_fraction=0.25,
                        n_iter_no_change=8, tol=1e-3, random_state=0).fit(X, y)
    assert clf.n_iter_ < 300  # it overfits, so it stops
    assert len(clf.loss_curve_) == len(clf.validation_scores_) == clf.n_iter_ and clf.best_loss_ is None
    # scikit-learn's rule, replayed: an epoch does not improve when its score is below best + tol;
    # training stops at the first epoch where more than n_iter_no_change epochs in a row did not
    count, best = 0, -np.inf
    for epoch, score in enumerate(clf.validation_scores_, start=1):
        count = count + 1 if score < best + 1e-3 else 0
        best = max(best, score)
        assert (count > 8) == (epoch == clf.n_iter_)
    # the same split, recomputed (RandomState(0) after drawing the initial weights); the final
    # weights are those of the best validation score
    rs = np.random.RandomState(0)
    glorot_uniform_like_sklearn(rs, (20, 128, 1), "relu", np.float64)
    _, idx_val = train_test_split(np.arange(200), random_state=rs, test_size=0.25, stratify=y)
    assert clf.score(X[idx_val], y[idx_val]) == clf.best_validation_score_ == max(clf.validation_scores_)


def test_training_loss_tol_stops_without_early_stopping(iris):
    X, y = iris
    clf = _quick_clf(max_iter=2000, tol=1e-2, n_iter_no_change=3).fit(X, y)
    assert clf.n_iter_ < 2000 and clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.loss_ == clf.loss_curve_[-1]


# -- weights -------------------------------------------------------------------------------------
def test_class_weight_equals_sample_weight(iris):
    X, y = iris
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    a = _quick_clf(class_weight=weights).fit(X, y)
    b = _quick_clf().fit(X, y, sample_weight=np.array([weights[v] for v in y]))
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = _quick_clf(class_weight="balanced").fit(X[20:], y[20:])
    d = _quick_clf().fit(X[20:], y[20:], sample_weight=compute_sample_weight("balanced", y[20:]))
    assert_array_equal(c.predict_proba(X), d.predict_proba(X))
    # string labels: class_weight is keyed by the labels themselves
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    e = _quick_clf(class_weight={"setosa": 1.0, "versicolor": 3.0, "virginica": 0.5}).fit(X, names)
    assert_array_equal(a.predict_proba(X), e.predict_proba(X))


def test_balanced_class_weight_raises_minority_recall():
    X, y = make_classification(n_samples=600, n_features=8, weights=[0.93], class_sep=0.5, random_state=2)
    plain = MLPClassifier((16,), max_iter=60, random_state=0).fit(X, y)
    balanced = MLPClassifier((16,), max_iter=60, class_weight="balanced", random_state=0).fit(X, y)
    assert recall_score(y, balanced.predict(X)) > recall_score(y, plain.predict(X)) + 0.1


def test_sample_weight_scale_invariant_and_zero_means_removed(iris):
    X, y = iris
    w = np.random.default_rng(0).integers(0, 4, size=len(y)).astype(float)
    # scikit-learn's batch loss Σ w ℓ / Σ w: the scale of w does not matter (but for the L2 term α/(2 Σw))
    a = _quick_clf(alpha=0.0).fit(X, y, sample_weight=w)
    b = _quick_clf(alpha=0.0).fit(X, y, sample_weight=10 * w)
    assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-5, atol=1e-6)
    # full batch (K = n): zero weight == sample removed, integer weight == sample repeated
    full = dict(batch_size=None, max_iter=60)
    c = _quick_clf(**full).fit(X.astype(np.float64), y, sample_weight=w)
    d = _quick_clf(**full).fit(np.repeat(X, w.astype(int), axis=0).astype(np.float64), np.repeat(y, w.astype(int)))
    assert_allclose(c.predict_proba(X), d.predict_proba(X), rtol=1e-9, atol=1e-12)


def test_weights_leaving_one_class_raise(iris):
    X, y = iris
    with pytest.raises(ValueError, match="at least 2 classes"):
        _quick_clf().fit(X, y, sample_weight=(y == 1).astype(float))


# -- incremental training ------------------------------------------------------------------------
def test_partial_fit_equals_fit(iris):
    X, y = iris
    kw = dict(shuffle=False, n_iter_no_change=1000, max_iter=7)
    full = _quick_clf(**kw).fit(X, y)
    inc = _quick_clf(**kw)
    for i in range(7):
        inc.partial_fit(X, y, classes=[0, 1, 2] if i == 0 else None)
    # as scikit-learn: n_iter_ counts the last call's epochs, t_ every sample seen
    assert inc.n_iter_ == 1 and inc.t_ == full.t_ == 7 * 150 and inc.loss_curve_ == full.loss_curve_
    assert_array_equal(inc.predict_proba(X), full.predict_proba(X))
    reg_full = MLPRegressor((8,), **kw, random_state=0).fit(X[:, :3], X[:, 3])
    reg_inc = MLPRegressor((8,), **kw, random_state=0)
    for _ in range(7):
        reg_inc.partial_fit(X[:, :3], X[:, 3])
    assert_array_equal(reg_inc.predict(X[:, :3]), reg_full.predict(X[:, :3]))


def test_partial_fit_classes(iris):
    X, y = iris
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        _quick_clf().partial_fit(X, y)
    clf = _quick_clf().partial_fit(X[y == 0], y[y == 0], classes=[0, 1, 2])  # one class per batch is fine
    assert_array_equal(clf.classes_, [0, 1, 2]) and clf.predict_proba(X).shape == (150, 3)
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        clf.partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="not the same as on the first call"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="balanced"):
        _quick_clf(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])


def test_warm_start_continues(iris):
    X, y = iris
    # scikit-learn starts a new optimizer on every fit: with a stateless one (sgd without momentum)
    # and no shuffling, 3 + 3 warm epochs are 6 epochs
    kw = dict(n_iter_no_change=1000, solver="sgd", momentum=0.0, shuffle=False)
    once = _quick_clf(max_iter=6, **kw).fit(X, y)
    twice = _quick_clf(max_iter=3, warm_start=True, **kw).fit(X, y).fit(X, y)
    assert twice.n_iter_ == 3 and twice.t_ == 6 * 150 and twice.loss_curve_ == once.loss_curve_
    assert_array_equal(twice.predict_proba(X), once.predict_proba(X))
    cold = _quick_clf(max_iter=3, **kw).fit(X, y).fit(X, y)
    assert cold.n_iter_ == 3 and len(cold.loss_curve_) == 3


def test_warm_start_refuses_other_classes(iris):
    X, y = iris
    clf = _quick_clf(max_iter=2, warm_start=True).fit(X, y)
    superset = y.copy()
    superset[:5] = 3
    for Xs, ys in ((X[y < 2], y[y < 2]), (X, superset)):  # as scikit-learn: neither a subset nor a superset
        with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same classes"):
            clf.fit(Xs, ys)
    clf.fit(X[::-1], y[::-1])  # the same classes, in another order
    assert clf.t_ == 4 * 150


# -- hyperparameters -----------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", nl.optimizers.names())
def test_every_registered_optimizer(iris, optimizer):
    X, y = iris
    clf = MLPClassifier((16,), optimizer=optimizer, max_iter=30, random_state=0).fit(X, y)
    assert type(clf.model_.optimizer).name == optimizer
    assert np.isfinite(clf.loss_curve_).all() and clf.loss_curve_[-1] < clf.loss_curve_[0]


@pytest.mark.parametrize("activation", nl.activations.names())
@pytest.mark.parametrize("init", ["auto", *nl.initializers.names()])
def test_every_activation_and_init(iris, activation, init):
    X, y = iris
    clf = MLPClassifier((6,), activation=activation, init=init, max_iter=3, random_state=0).fit(X, y)
    assert clf.model_.layers[0].activation.name == activation
    assert np.isfinite(clf.predict_proba(X)).all()


def test_lr_and_weight_decay_reach_the_optimizer(iris):
    X, y = iris
    opt = _quick_clf(optimizer="sgd", lr=0.2, weight_decay=0.01, max_iter=1).fit(X, y).model_.optimizer
    assert (opt.lr, opt.weight_decay) == (0.2, 0.01)
    opt = _quick_clf(optimizer="adamw", lr=None, max_iter=1).fit(X, y).model_.optimizer
    assert (opt.lr, opt.weight_decay) == (1e-3, 0.01)  # None keeps the optimizer's defaults
    small = _quick_clf(weight_decay=0.0, max_iter=100).fit(X, y)
    decayed = _quick_clf(weight_decay=0.05, max_iter=100).fit(X, y)
    assert np.linalg.norm(decayed.coefs_[0]) < 0.8 * np.linalg.norm(small.coefs_[0])


def test_fitted_attributes(iris):
    X, y = iris
    clf = _quick_clf(hidden_layer_sizes=(5, 7)).fit(X, y)
    assert [w.shape for w in clf.coefs_] == [(4, 5), (5, 7), (7, 3)]
    assert [b.shape for b in clf.intercepts_] == [(5,), (7,), (3,)]
    assert clf.n_features_in_ == 4 and clf.n_iter_ == len(clf.loss_curve_) and clf.t_ == 150 * clf.n_iter_
    assert not hasattr(clf, "feature_names_in_")
    assert clf.get_params()["hidden_layer_sizes"] == (5, 7)


def test_coefs_are_the_networks_arrays(iris):
    X, y = iris
    clf = _quick_clf(max_iter=2).fit(X, y)
    clf.coefs_[-1][:] = 0.0  # in place, as on scikit-learn's lists
    clf.intercepts_[-1][:] = [0.0, 5.0, 0.0]
    assert_array_equal(clf.predict(X), np.ones(len(X)))
    clf.coefs_ = [np.zeros_like(w) for w in clf.coefs_]
    assert_allclose(clf.predict_proba(X)[0], np.exp([0, 5, 0]) / np.exp([0, 5, 0]).sum(), rtol=1e-5)
    with pytest.raises(ValueError, match=r"coefs_ must be 2 arrays of shapes \[\(4, 16\), \(16, 3\)\]"):
        clf.coefs_ = [np.zeros((4, 16))]


def test_verbose_prints_each_epoch(iris, capsys):
    X, y = iris
    _quick_clf(max_iter=3, verbose=1, n_iter_no_change=100).fit(X, y)
    assert capsys.readouterr().out.count("Iteration ") == 3


def test_pickle_roundtrip(iris):
    X, y = iris
    clf = _quick_clf().fit(X, y)
    assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), clf.predict_proba(X))


def test_feature_names_in_from_dataframe(iris):
    X, y = iris
    df = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    clf = _quick_clf().fit(df, y)
    assert_array_equal(clf.feature_names_in_, ["sl", "sw", "pl", "pw"])
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(df.rename(columns={"sl": "other"}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        clf.predict(X)


def test_digits_accuracy():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split((X / 16).astype(np.float32), y, test_size=0.25, random_state=0)
    clf = MLPClassifier((64,), max_iter=60, random_state=0).fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) > 0.95


# -- bad input: scikit-learn's errors and wording -----------------------------------------------------
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_bad_input_sklearn_messages(iris, Est):
    X, y = iris
    Xnan, Xinf = X.copy(), X.copy()
    Xnan[3, 1], Xinf[3, 1] = np.nan, np.inf
    est = Est((4,), max_iter=2, random_state=0)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.fit(Xnan, y)
    with pytest.raises(ValueError, match="Input X contains infinity"):
        est.fit(Xinf, y)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        est.fit(X[:, 0], y)
    with pytest.raises(NotFittedError):
        est.predict(X)
    with pytest.raises(ValueError, match="Found input variables with inconsistent numbers of samples"):
        est.fit(X, y[:-1])
    with pytest.raises(ValueError, match="Input y contains NaN"):
        est.fit(X, np.where(y == 1, np.nan, y))
    with pytest.raises(TypeError, match="Sparse data was passed"):
        est.fit(X, sparse.csr_matrix(y.reshape(-1, 1).astype(float)))  # sparse y: refused as scikit-learn
    est.fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 4 features as input"):
        est.predict(X[:, :3])
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        est.predict(X[0])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict(Xnan)


def test_continuous_target_to_classifier(iris):
    X, _ = iris
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        MLPClassifier(max_iter=2).fit(X, np.linspace(0, 1, len(X)))
    with pytest.raises(ValueError, match="1 class"):
        MLPClassifier(max_iter=2).fit(X, np.zeros(len(X)))


@pytest.mark.parametrize("param, value", [
    ("hidden_layer_sizes", (0,)), ("hidden_layer_sizes", "big"), ("activation", "nope"), ("init", "nope"),
    ("optimizer", "nope"), ("lr", -1.0), ("weight_decay", -0.1), ("optimizer_params", {"bogus": 1}),
    ("optimizer_params", [1]), ("batch_size", 0), ("batch_size", "big"), ("max_iter", 0), ("max_iter", 2.5),
    ("dropout", 1.0), ("dropout", (0.1, 0.2)), ("validation_fraction", 1.0), ("n_iter_no_change", 0),
    ("tol", -1), ("dtype", "int32"), ("random_state", -3),
])
def test_bad_params_name_the_parameter(iris, param, value):
    X, y = iris
    clf = _quick_clf(max_iter=2).set_params(**{param: value})  # never raises before fit
    with pytest.raises(ValueError, match=param if param != "dtype" else "dtype"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, y)
