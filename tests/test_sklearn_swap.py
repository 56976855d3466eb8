"""neuronlab.sklearn swapped in for sklearn.neural_network: the same parameters give scikit-learn's model.

Every test fits scikit-learn's estimator and neuronlab's with the same arguments, in float64, and
compares what both expose. The same ``random_state`` gives the same initial weights (checked
directly below), the same early-stopping split and the same shuffles, so the stochastic solvers
must agree to rounding; lbfgs must reach scikit-learn's loss.
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.optimize
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn import neural_network as sk
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from neuronlab import sklearn as nls
from neuronlab import threads

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(kind):
    """(estimator kind, X, y) for each target kind: 240 standardised float64 samples, 8 features."""
    if kind in ("binary", "multiclass"):
        X, y = make_classification(240, 8, n_informative=5, n_classes=2 if kind == "binary" else 4,
                                   random_state=0)
        return "C", StandardScaler().fit_transform(X), y
    if kind == "multilabel":
        X, Y = make_multilabel_classification(240, 8, n_classes=4, random_state=0)
        return "C", StandardScaler().fit_transform(X), Y
    X, y = make_regression(240, 8, n_targets=1 if kind == "regression" else 3, noise=1.0, random_state=0)
    return "R", X, y / y.std()


KINDS = ["binary", "multiclass", "multilabel", "regression", "regression-3-outputs"]


def _pair(kind, **params):
    """scikit-learn's and neuronlab's estimator, fitted with the same parameters on the same data."""
    est, X, y = _data(kind)
    fit_kw = {"sample_weight": params.pop("sample_weight")(len(X))} if "sample_weight" in params else {}
    theirs = (sk.MLPClassifier if est == "C" else sk.MLPRegressor)(**params).fit(X, y, **fit_kw)
    ours = (nls.MLPClassifier if est == "C" else nls.MLPRegressor)(**params).fit(X, y, **fit_kw)
    return theirs, ours, X, y


def _assert_same_weights(theirs, ours, atol=1e-6):
    assert [w.shape for w in ours.coefs_] == [w.shape for w in theirs.coefs_]
    for a, b in zip(theirs.coefs_ + theirs.intercepts_, ours.coefs_ + ours.intercepts_):
        assert_allclose(b, a, rtol=0, atol=atol)


BASE = dict(hidden_layer_sizes=(9, 6), activation="tanh", alpha=1e-3, batch_size=32, max_iter=10, tol=0.0,
            n_iter_no_change=1000, random_state=5)


def test_same_random_state_same_initial_weights(monkeypatch):
    # record what scikit-learn draws; a step of 1e-300 leaves neuronlab's initial weights as they are
    drawn = []
    original = sk.MLPClassifier._init_coef

    def record(self, fan_in, fan_out, dtype):
        coef, intercept = original(self, fan_in, fan_out, dtype)
        drawn.extend([coef.copy(), intercept.copy()])  # scikit-learn then updates them in place
        return coef, intercept

    monkeypatch.setattr(sk.MLPClassifier, "_init_coef", record)
    for activation in ("relu", "logistic"):  # Glorot's factor 6, or 2 for logistic
        drawn.clear()
        _, X, y = _data("multiclass")
        sk.MLPClassifier((9, 6), activation=activation, max_iter=1, random_state=5).fit(X, y)
        ours = nls.MLPClassifier((9, 6), activation=activation, solver="sgd", momentum=0.0, alpha=0.0,
                                 learning_rate_init=1e-300, max_iter=1, random_state=5).fit(X, y)
        for a, b in zip(drawn, [w for pair in zip(ours.coefs_, ours.intercepts_) for w in pair]):
            assert_array_equal(b, a)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("solver, extra", [
    ("sgd", dict(learning_rate_init=0.05)),
    ("sgd", dict(learning_rate_init=0.05, learning_rate="invscaling", power_t=0.3, nesterovs_momentum=False)),
    ("adam", dict(learning_rate_init=0.01, beta_1=0.8, epsilon=1e-6)),
], ids=["sgd", "sgd-invscaling", "adam"])
def test_stochastic_solvers_give_sklearns_weights(kind, solver, extra):
    theirs, ours, X, _ = _pair(kind, solver=solver, **BASE, **extra)
    _assert_same_weights(theirs, ours)
    assert ours.n_iter_ == theirs.n_iter_ == 10 and ours.t_ == theirs.t_
    assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)  # L2 term included, as scikit-learn
    assert_allclose(ours.loss_, theirs.loss_, rtol=1e-9)
    assert_allclose(ours.best_loss_, theirs.best_loss_, rtol=1e-9)
    for name in ("n_layers_", "n_outputs_", "out_activation_", "n_features_in_"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.validation_scores_ is theirs.validation_scores_ is None
    if hasattr(theirs, "classes_"):
        assert_array_equal(ours.classes_, theirs.classes_)
        assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-6, atol=1e-9)
    if kind.startswith("regression"):
        assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-6, atol=1e-9)
    else:
        assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_explicitly_set_weights_give_sklearns_weights(solver):
    # the same initial weights set by hand (not from random_state): both warm-start from them
    _, X, y = _data("multiclass")
    rng = np.random.default_rng(7)
    sizes = (8, 9, 6, 4)
    start_w = [rng.normal(size=shape) for shape in zip(sizes[:-1], sizes[1:])]
    start_b = [rng.normal(size=units) for units in sizes[1:]]
    params = dict(BASE, solver=solver, learning_rate_init=0.05 if solver == "sgd" else 0.01, warm_start=True)
    fitted = []
    for Est in (sk.MLPClassifier, nls.MLPClassifier):
        clf = Est(**dict(params, max_iter=1)).fit(X, y)
        clf.coefs_, clf.intercepts_ = [w.copy() for w in start_w], [b.copy() for b in start_b]
        fitted.append(clf.set_params(max_iter=10).fit(X, y))
    _assert_same_weights(*fitted)
    assert fitted[1].n_iter_ == 10 and fitted[1].t_ == fitted[0].t_


def test_sample_weights_as_sklearn():
    def weights(n):
        return np.random.default_rng(1).integers(0, 4, n).astype(float)

    for solver in ("sgd", "adam"):
        theirs, ours, _, _ = _pair("multiclass", solver=solver, sample_weight=weights, **BASE)
        _assert_same_weights(theirs, ours)
        assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_early_stopping_stops_at_sklearns_epoch(kind, solver):
    params = dict(BASE, hidden_layer_sizes=(32,), activation="relu", max_iter=300, tol=1e-4, n_iter_no_change=5,
                  early_stopping=True, validation_fraction=0.2, learning_rate_init=0.05 if solver == "sgd" else 0.01)
    theirs, ours, _, _ = _pair(kind, solver=solver, **params)
    assert theirs.n_iter_ < 300 and ours.n_iter_ == theirs.n_iter_
    assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-9)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_, rel=1e-9)
    assert ours.best_loss_ is theirs.best_loss_ is None
    _assert_same_weights(theirs, ours)  # the weights of the best validation score, restored


@pytest.mark.parametrize("learning_rate", ["constant", "adaptive"])
def test_training_loss_rule_and_adaptive_rate_as_sklearn(learning_rate):
    # stops (or divides η by 5) after more than n_iter_no_change epochs without a tol-sized gain
    params = dict(BASE, max_iter=400, tol=1e-3, n_iter_no_change=3, learning_rate=learning_rate,
                  learning_rate_init=0.2)
    theirs, ours, _, _ = _pair("binary", solver="sgd", **params)
    assert theirs.n_iter_ < 400 and ours.n_iter_ == theirs.n_iter_
    assert_allclose(ours.best_loss_, theirs.best_loss_, rtol=1e-9)
    _assert_same_weights(theirs, ours)
    if learning_rate == "adaptive":
        assert ours.model_.optimizer.lr == pytest.approx(theirs._optimizer.learning_rate)
        assert ours.model_.optimizer.lr < 0.2


@pytest.mark.parametrize("kind", KINDS)
def test_lbfgs_follows_sklearns_path_and_reaches_its_loss(kind):
    # the same first 15 L-BFGS-B iterations (for k > 1 regression outputs neuronlab follows the
    # gradient of the loss it reports, scikit-learn a k-times larger one: not the same path there)
    theirs, ours, _, _ = _pair(kind, solver="lbfgs", **dict(BASE, max_iter=15))
    assert ours.n_iter_ == theirs.n_iter_ == 15
    if kind != "regression-3-outputs":
        _assert_same_weights(theirs, ours)
    assert ours.loss_ <= theirs.loss_ + 1e-4 and ours.loss_ == pytest.approx(theirs.loss_, abs=1e-4)
    # to convergence on a convex problem (no hidden layer): the same minimum
    theirs, ours, _, _ = _pair(kind, solver="lbfgs", **dict(BASE, hidden_layer_sizes=(), max_iter=500))
    assert ours.loss_ == pytest.approx(theirs.loss_, abs=1e-4)
    assert len(ours.loss_curve_) == ours.n_iter_ and ours.loss_curve_[-1] == pytest.approx(ours.loss_)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lbfgs_dtypes_as_sklearn(monkeypatch, dtype):
    # scipy keeps L-BFGS-B's state in float64 and calls the objective with θ in x0's dtype: both
    # networks compute in X's dtype; both fitted networks are in the dtype of scipy's result
    # (scikit-learn's coefs_ are views of it: float64 even for float32 X), and so is a warm refit
    _, X, y = _data("multiclass")
    X = X.astype(dtype)
    seen, minimize = {}, scipy.optimize.minimize

    def spy(fun, x0, *args, **kwargs):
        def objective(x, *a):
            loss, g = fun(x, *a)
            seen.setdefault(lib, []).append((x.dtype, g.dtype))
            return loss, g
        return minimize(objective, x0, *args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    params = dict(BASE, solver="lbfgs", max_iter=8, warm_start=True)
    fitted = {}
    for lib, Est in (("theirs", sk.MLPClassifier), ("ours", nls.MLPClassifier)):
        fitted[lib] = Est(**params).fit(X, y)
        assert set(seen[lib]) == {(np.dtype(dtype), np.dtype(dtype))}, lib
    theirs, ours = fitted["theirs"], fitted["ours"]
    assert [a.dtype for a in ours.coefs_ + ours.intercepts_] == [a.dtype for a in theirs.coefs_ + theirs.intercepts_]
    if dtype == np.float32:  # scipy's float64 iterate itself, not float32 values widened
        assert any((a != a.astype(np.float32)).any() for a in ours.coefs_)
    assert ours.predict_proba(X).dtype == theirs.predict_proba(X).dtype
    assert_array_equal(pickle.loads(pickle.dumps(ours)).predict_proba(X), ours.predict_proba(X))
    _assert_same_weights(theirs, ours, atol=1e-4 if dtype == np.float32 else 1e-6)
    assert ours.loss_ == pytest.approx(theirs.loss_, abs=1e-5)
    for lib in fitted:  # the second fit starts from the float64 weights
        seen[lib] = []
        fitted[lib].fit(X, y)
        assert set(seen[lib]) == {(np.dtype(np.float64), np.dtype(np.float64))}, lib
    assert ours.loss_ == pytest.approx(theirs.loss_, abs=1e-5)


def test_lbfgs_chooses_blas_threads_once_for_the_whole_fit(monkeypatch):
    # one choice of the thread policy per fit, for the full-batch products (n × the largest W)
    _, X, y = _data("multiclass")
    choices, real = [], threads.blas_threads

    def spy(macs, inference=False):
        choices.append((macs() if callable(macs) else macs, inference))
        return real(macs, inference)

    monkeypatch.setattr(threads, "blas_threads", spy)
    clf = nls.MLPClassifier(**dict(BASE, solver="lbfgs", max_iter=6)).fit(X, y)
    assert clf.n_iter_ == 6
    assert choices == [(len(X) * max(w.size for w in clf.coefs_), False)]


def test_lbfgs_warns_at_max_iter_and_has_no_partial_fit():
    _, X, y = _data("multiclass")
    for Est in (sk.MLPClassifier, nls.MLPClassifier):
        with pytest.warns(ConvergenceWarning):
            clf = Est((16,), solver="lbfgs", max_iter=3, random_state=0).fit(X, y)
        assert clf.n_iter_ == 3 and not hasattr(clf, "partial_fit")
        with pytest.raises(AttributeError, match="partial_fit"):
            clf.partial_fit(X, y)
        with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
            Est((16,), max_iter=3, random_state=0).fit(X, y)


def test_sparse_input_as_dense_and_as_sklearn():
    _, X, y = _data("multiclass")
    X = np.where(np.abs(X) < 0.8, 0.0, X)  # mostly zeros
    for solver in ("adam", "lbfgs"):
        params = dict(BASE, solver=solver, max_iter=10)
        dense = nls.MLPClassifier(**params).fit(X, y)
        for fmt in (sparse.csr_matrix, sparse.csc_matrix):
            ours = nls.MLPClassifier(**params).fit(fmt(X), y)
            for a, b in zip(dense.coefs_, ours.coefs_):
                assert_allclose(b, a, rtol=1e-12, atol=1e-14)
            assert_allclose(ours.predict_proba(fmt(X)), dense.predict_proba(X), rtol=1e-12)
        theirs = sk.MLPClassifier(**params).fit(sparse.csr_matrix(X), y)
        _assert_same_weights(theirs, ours)


def test_same_parameters_and_defaults_as_sklearn():
    for theirs, ours in ((sk.MLPClassifier(), nls.MLPClassifier()), (sk.MLPRegressor(), nls.MLPRegressor())):
        expected = theirs.get_params()
        expected.pop("loss", None)  # MLPRegressor's poisson loss is not offered
        got = ours.get_params()
        assert {k: got[k] for k in expected} == expected


def test_partial_fit_as_sklearn():
    _, X, y = _data("multiclass")
    params = dict(BASE, solver="sgd", learning_rate_init=0.05)
    theirs, ours = sk.MLPClassifier(**params), nls.MLPClassifier(**params)
    for i in range(4):
        batch = slice(60 * i, 60 * (i + 1))
        for est in (theirs, ours):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.partial_fit(X[batch], y[batch], classes=np.unique(y) if i == 0 else None)
    _assert_same_weights(theirs, ours)
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_
    for est in (theirs, ours):
        with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
            est.partial_fit(X, y + 1)
        with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
            est.set_params(early_stopping=True).partial_fit(X, y)


def test_divergence_as_sklearn():
    _, X, y = _data("regression")
    # without early stopping: scikit-learn's error and wording (neuronlab's diagnosis follows it)
    huge = np.finfo(np.float64).max * np.random.default_rng(0).uniform(size=(10, 2))
    for Est in (sk.MLPRegressor, nls.MLPRegressor):
        with pytest.raises(ValueError, match="Solver produced non-finite parameter weights. The input data may "
                                             "contain large values and need to be preprocessed."):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # overflow in scikit-learn's arithmetic
                Est().fit(huge, y[:10])
    # with early stopping: the last validation score is NaN and the best weights are kept
    params = dict(hidden_layer_sizes=100, activation="identity", solver="sgd", learning_rate_init=1.0,
                  max_iter=20, early_stopping=True, random_state=0)
    for Est in (sk.MLPRegressor, nls.MLPRegressor):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = Est(**params).fit(X, y)
        assert np.isnan(est.validation_scores_[-1]) and isinstance(est.validation_scores_[-1], float)
        assert all(np.isfinite(w).all() for w in est.coefs_)


def test_early_stopping_split_stratified_as_sklearn():
    X, y = [[1, 2], [2, 3], [3, 4], [4, 5]], [0, 0, 0, 1]
    for Est in (sk.MLPClassifier, nls.MLPClassifier):
        with pytest.raises(ValueError, match=r"The least populated classes in y have only 1 member.*Classes with "
                                             r"too few members are: \['True'\]"):
            Est(early_stopping=True).fit(X, y)
