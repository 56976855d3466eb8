"""scikit-learn estimators over neuronlab: :class:`MLPClassifier` and :class:`MLPRegressor`.

They are scikit-learn estimators in full (``get_params``/``set_params``, ``clone``, tags,
``Pipeline``, ``GridSearchCV``, ``cross_val_score``) and pass scikit-learn's conformance
suite ``sklearn.utils.estimator_checks.parametrize_with_checks``. The network is a
:class:`neuronlab.Sequential`: hidden layers H = f(XW + B), each optionally followed by
``Dropout(dropout)``, then an output layer chosen from the target:

===========================  ===================  ==============================
target                       output layer         loss C
===========================  ===================  ==============================
binary (2 classes)           1 unit, sigmoid      binary cross-entropy
multiclass (k classes)       k units, softmax     categorical cross-entropy
multilabel indicator (n, k)  k units, sigmoid     binary cross-entropy
regression (n,) or (n, k)    1 or k units, linear mean squared error
===========================  ===================  ==============================

Names follow scikit-learn's ``MLPClassifier`` where it has the concept (``hidden_layer_sizes``,
``activation``, ``batch_size``, ``max_iter`` = epochs, ``shuffle``, ``tol``, ``early_stopping``,
``validation_fraction``, ``n_iter_no_change`` = patience, ``warm_start``, ``random_state``,
``verbose``) and neuronlab's elsewhere: ``optimizer`` (any registered name, in place of
``solver``), ``lr`` (η, in place of ``learning_rate_init``), ``weight_decay`` (λ, PyTorch's coupled
L2 g ← g + λW on every parameter, in place of ``alpha``), ``optimizer_params``, ``init``,
``dropout``, ``class_weight`` and ``dtype``.

Input is validated with scikit-learn's own ``validate_data`` before it reaches the model, so
bad input raises scikit-learn's errors and wording (NaN/inf, 1-D X, a wrong feature count,
continuous targets to a classifier, ...). Sparse input is not supported (densify it first).
"""

from __future__ import annotations

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.metrics import r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.utils import compute_sample_weight
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("neuronlab.sklearn needs scikit-learn >= 1.6: pip install 'neuronlab[sklearn]'") from exc

from . import activations as _activations
from . import initializers as _initializers
from . import optimizers as _optimizers
from .callbacks import Callback, EarlyStopping
from .layers import Dense, Dropout
from .model import Sequential
from .validation import Boolean, Instance, Integer, Options, Real, validate

__all__ = ["MLPClassifier", "MLPRegressor"]

_AUTO_BATCH = 200  # batch_size="auto" is min(200, n_samples), as scikit-learn's MLP
_UNITS = Integer(low=1)
_RATE = Real(low=0, high=1, high_open=True)  # a dropout ratio P


class _ValidationScore(Callback):
    """Records ``score(model.predict(X_val), y_val)`` at the end of every epoch."""

    def __init__(self, X, y, score):
        super().__init__()
        self.X, self.y, self.score = X, y, score
        self.scores: list[float] = []

    def on_epoch_end(self, epoch, logs=None):
        self.scores.append(float(self.score(self.model.predict(self.X), self.y)))


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, the network, the training loop."""

    _loss: str  # set per fit by the subclass
    _out_activation: str

    #: The hyperparameters' constraints (scikit-learn's ``_parameter_constraints``), checked in fit;
    #: hidden_layer_sizes, activation, init, optimizer, dropout and dtype are checked by their own code.
    _constraints = {
        "lr": (Real(low=0, low_open=True), None),
        "weight_decay": (Real(low=0), None),
        "optimizer_params": (Instance(dict), None),
        "batch_size": (Options("auto"), None, Integer(low=1)),
        "max_iter": Integer(low=1),
        "shuffle": Boolean(),
        "early_stopping": Boolean(),
        "validation_fraction": Real(low=0, low_open=True, high=1, high_open=True),
        "n_iter_no_change": Integer(low=1),
        "tol": Real(low=0),
        "warm_start": Boolean(),
        "random_state": (None, Integer(low=0), Instance(np.random.RandomState, np.random.Generator)),
        "verbose": (Boolean(), Integer(low=0)),
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, init="auto", optimizer="adam",
                 lr=None, optimizer_params=None, weight_decay=None, batch_size="auto", max_iter=200,
                 shuffle=True, dropout=0.0, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, warm_start=False, random_state=None, verbose=0,
                 dtype=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.init = init
        self.optimizer = optimizer
        self.lr = lr
        self.optimizer_params = optimizer_params
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.dropout = dropout
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    # -- parameters ------------------------------------------------------------------------
    def _hidden_sizes(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        if _UNITS.accepts(sizes):
            return (int(sizes),)
        try:
            sizes = tuple(sizes)
        except TypeError:
            sizes = None
        if sizes is None or not all(_UNITS.accepts(s) for s in sizes):
            raise ValueError(f"{type(self).__name__}: hidden_layer_sizes must be a positive integer or a sequence "
                             f"of positive integers, got {self.hidden_layer_sizes!r}")
        return tuple(int(s) for s in sizes)

    def _dropout_rates(self, n_hidden: int) -> tuple[float, ...]:
        rates = self.dropout
        if _RATE.accepts(rates):
            return (float(rates),) * n_hidden
        try:
            rates = tuple(rates)
        except TypeError:
            rates = None
        if rates is None or len(rates) != n_hidden or not all(_RATE.accepts(r) for r in rates):
            raise ValueError(f"{type(self).__name__}: dropout must be {_RATE.phrases()[0]} or one such number per "
                             f"hidden layer ({n_hidden}), got {self.dropout!r}")
        return tuple(float(r) for r in rates)

    def _check_params(self) -> None:
        """Validate every hyperparameter (scikit-learn: in fit, never in __init__)."""
        owner = type(self).__name__
        validate(owner, self._constraints, self.get_params(deep=False))
        self._hidden_sizes()
        if not isinstance(self.activation, str):
            raise ValueError(f"{owner}: activation must be a name, one of {_activations.names()}, "
                             f"got {self.activation!r}")
        _activations.get(self.activation)  # ValueError listing the valid names
        if not (isinstance(self.init, str) and (self.init == "auto" or self.init in _initializers.registry)):
            raise ValueError(f"{owner}: init must be 'auto' or one of {_initializers.names()}, got {self.init!r}")
        if not (isinstance(self.optimizer, str) and self.optimizer.lower() in _optimizers.registry):
            raise ValueError(f"{owner}: optimizer must be one of {_optimizers.names()}, got {self.optimizer!r}")
        self._dropout_rates(len(self._hidden_sizes()))
        if self.dtype is not None and np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"{owner}: dtype must be None (follow X), 'float32' or 'float64', got {self.dtype!r}")

    def _seeds(self) -> tuple[int | None, int]:
        """(model seed, validation-split seed) from ``random_state``; the global RNG is never used."""
        rs = self.random_state
        if Integer().accepts(rs):
            return int(rs), int(rs)
        if rs is None:
            model_seed, split_seed = np.random.SeedSequence().generate_state(2)  # fresh OS entropy
        elif isinstance(rs, np.random.Generator):
            model_seed, split_seed = rs.integers(0, 2**31 - 1, size=2)
        else:
            model_seed, split_seed = rs.randint(0, 2**31 - 1, size=2)
        return int(model_seed), int(split_seed) % (2**31 - 1)

    # -- the network -----------------------------------------------------------------------
    def _build(self, n_features: int, n_outputs: int, dtype) -> Sequential:
        sizes = self._hidden_sizes()
        rates = self._dropout_rates(len(sizes))
        layers = []
        width = n_features
        for units, rate in zip(sizes, rates):
            layers.append(Dense(units, self.activation, init=self.init, input_dim=width))
            if rate:
                layers.append(Dropout(rate))
            width = units
        layers.append(Dense(n_outputs, self._out_activation, init=self.init, input_dim=width))
        model = Sequential(layers, seed=self._seeds()[0], dtype=dtype)
        kwargs = dict(self.optimizer_params or {})
        if self.lr is not None:
            kwargs["lr"] = float(self.lr)
        if self.weight_decay is not None:
            kwargs["weight_decay"] = float(self.weight_decay)
        try:
            optimizer = _optimizers.get(self.optimizer.lower(), **kwargs)
        except TypeError as exc:
            raise ValueError(f"optimizer_params {sorted(kwargs)} do not fit optimizer {self.optimizer!r}: "
                             f"{exc}") from exc
        model.compile(loss=self._loss, optimizer=optimizer)
        return model

    def _batch(self, n: int) -> int | None:
        if self.batch_size == "auto":
            return min(_AUTO_BATCH, n)
        return self.batch_size  # None: full batch; a larger int is clipped to n by Sequential.fit

    # -- fitting ---------------------------------------------------------------------------
    def _validate_X_y(self, X, y, reset: bool):
        dtype = [np.float64, np.float32] if reset and self.dtype is None else (
            np.dtype(self.dtype) if reset else self.model_.dtype)
        return validate_data(self, X, y, reset=reset, dtype=dtype, multi_output=True,
                             y_numeric=not isinstance(self, ClassifierMixin))

    def _loss_weights(self, sample_weight, X, y, incremental: bool):
        """Per-sample loss weights w_i = sample_weight_i × class_weight[y_i], rescaled to mean 1.

        With mean-1 weights the batch loss (1/K) Σ w_i ℓ_i keeps its scale (and the learning
        rate its meaning), and a full batch with integer weights equals repeating samples.
        """
        w = None
        if sample_weight is not None:
            w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        class_weight = getattr(self, "class_weight", None)
        if class_weight is not None:
            if incremental and isinstance(class_weight, str):
                raise ValueError(f"class_weight={class_weight!r} is not supported by partial_fit, which sees "
                                 f"one batch at a time; pass a dict {{label: weight}} (e.g. from "
                                 f"sklearn.utils.class_weight.compute_class_weight) instead")
            cw = compute_sample_weight(class_weight, y)
            w = cw if w is None else w * cw
        if w is None:
            return None
        total = float(w.sum())
        if not total > 0:
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return w * (len(w) / total)

    def _fit(self, X, y, sample_weight=None, *, incremental=False, classes=None):
        self._check_params()
        fitted = hasattr(self, "model_")
        first = not fitted or not (incremental or self.warm_start)
        X, y = self._validate_X_y(X, y, reset=first)
        Y, n_outputs = self._targets(y, first, incremental, classes)
        w = self._loss_weights(sample_weight, X, y, incremental)
        self._check_weighted_targets(Y, w, incremental)
        if first:
            self.model_ = self._build(X.shape[1], n_outputs, X.dtype)
            self.loss_curve_ = []
            self.validation_loss_curve_ = self.validation_scores_ = self.best_validation_score_ = None
            self.n_iter_ = 0
            self.t_ = 0
        elif self.model_.output_dim != n_outputs:
            raise ValueError(f"y has {n_outputs} outputs but the fitted network has {self.model_.output_dim}; "
                             f"set warm_start=False to refit")

        epochs = 1 if incremental else self.max_iter
        callbacks, validation, val_score = [], None, None
        if not incremental and self.early_stopping:
            X, Y, w, validation = self._split_validation(X, Y, w)
            val_score = _ValidationScore(*validation, self._score_outputs)
            callbacks = [EarlyStopping("val_loss", patience=self.n_iter_no_change, min_delta=self.tol,
                                       restore_best_weights=True), val_score]
        elif not incremental:
            callbacks = [EarlyStopping("loss", patience=self.n_iter_no_change, min_delta=self.tol)]
        history = self.model_.fit(X, Y, epochs=epochs, batch_size=self._batch(len(X)), shuffle=self.shuffle,
                                  validation_data=validation, callbacks=callbacks, verbose=int(self.verbose),
                                  sample_weight=w)
        h = history.history
        self.loss_curve_ = [*self.loss_curve_, *map(float, h.get("loss", []))]
        self.n_iter_ += len(h.get("loss", []))
        self.t_ += len(X) * len(h.get("loss", []))
        if val_score is not None:
            self.validation_loss_curve_ = [float(v) for v in h["val_loss"]]
            self.validation_scores_ = val_score.scores
            self.best_validation_score_ = max(val_score.scores)
        elif not incremental:
            self.validation_loss_curve_ = self.validation_scores_ = self.best_validation_score_ = None
        return self

    def _split_validation(self, X, Y, w):
        """Hold out ``validation_fraction`` of the samples (stratified for single-label classes)."""
        stratify = None
        if isinstance(self, ClassifierMixin) and not self._multilabel:
            stratify = Y.ravel().astype(np.intp)  # int labels, or the 0/1 column of a binary target
        idx_train, idx_val = train_test_split(np.arange(len(X)), test_size=self.validation_fraction,
                                              random_state=self._seeds()[1], stratify=stratify)
        if len(idx_val) < 2:
            raise ValueError(f"early_stopping: the validation set would have {len(idx_val)} sample(s) out of "
                             f"{len(X)}; increase validation_fraction or the size of the data")
        w_train = None if w is None else w[idx_train]
        if w_train is not None:
            if not w_train.sum() > 0:
                raise ValueError("Sample weights of the training part (after the early_stopping split) "
                                 "must contain at least one non-zero number.")
            w_train = w_train * (len(w_train) / w_train.sum())
        return X[idx_train], Y[idx_train], w_train, (X[idx_val], Y[idx_val])

    def _check_weighted_targets(self, Y, w, incremental):
        """Hook: the classifier refuses a single class; the regressor accepts anything."""

    # -- prediction ------------------------------------------------------------------------
    def _forward(self, X) -> np.ndarray:
        """The network's output for X, validated as scikit-learn does (feature count and names)."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=self.model_.dtype)
        return self.model_.predict(X)

    # -- fitted parameters, in scikit-learn's names -------------------------------------------
    @property
    def coefs_(self) -> list[np.ndarray]:
        """W of every Dense layer, each (fan_in, fan_out) (copies)."""
        check_is_fitted(self, "model_")
        return [layer.W.value.copy() for layer in self.model_.layers if isinstance(layer, Dense)]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """B of every Dense layer (copies)."""
        check_is_fitted(self, "model_")
        return [layer.B.value.copy() for layer in self.model_.layers if isinstance(layer, Dense)]

    @property
    def out_activation_(self) -> str:
        """Name of the output layer's activation."""
        check_is_fitted(self, "model_")
        return self.model_.layers[-1].activation.name


_PARAMS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Units of each hidden layer; ``()`` gives no hidden layer.
    activation : str, default="relu"
        f of the hidden layers, any registered name (``neuronlab.activations.names()``:
        linear, sigmoid, tanh, relu, leaky_relu, ...; scikit-learn's "identity" and "logistic"
        are aliases).
    init : str, default="auto"
        Initializer of every W (``neuronlab.initializers.names()``); "auto" is He normal for
        the ReLU family and Xavier normal otherwise. B starts at zero.
    optimizer : str, default="adam"
        Any registered optimizer (``neuronlab.optimizers.names()``: sgd, adagrad, adadelta,
        rmsprop, adam, adamw, ...).
    lr : float, optional
        η, the learning rate (scikit-learn's ``learning_rate_init``); None keeps the
        optimizer's default (Adam 1e-3, SGD 1e-2, Adadelta 1.0, ...).
    optimizer_params : dict, optional
        Further optimizer arguments, e.g. ``{"momentum": 0.9, "nesterov": True}`` for sgd.
    weight_decay : float, optional
        λ of the L2 weight decay, PyTorch's ``weight_decay``: g ← g + λW on every W and B at
        every step (decoupled W ← W(1 - ηλ) for adamw). None keeps the optimizer's default
        (0; 0.01 for adamw). scikit-learn's ``alpha`` is λ = alpha / batch_size on W only.
    batch_size : int, "auto" or None, default="auto"
        K, the samples per update: "auto" is min(200, n_samples), None the full batch
        (gradient descent), 1 stochastic gradient descent.
    max_iter : int, default=200
        The number of epochs (passes over the training data) at most.
    shuffle : bool, default=True
        Reshuffle the samples every epoch (from the model's generator).
    dropout : float or tuple of float, default=0.0
        Dropout ratio P after each hidden layer (one value, or one per hidden layer).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified for classes), stop when the
        validation loss has not improved by ``tol`` for ``n_iter_no_change`` epochs, and end
        with the weights of the best epoch. When False, training stops when the training loss
        has not improved by ``tol`` for ``n_iter_no_change`` epochs (scikit-learn's rule).
    validation_fraction : float, default=0.1
        Fraction of the samples held out for early stopping.
    n_iter_no_change : int, default=10
        The patience, in epochs.
    tol : float, default=1e-4
        The smallest decrease of the monitored loss that counts as an improvement.
    warm_start : bool, default=False
        ``fit`` continues from the current weights and optimizer state instead of restarting.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the model's one ``np.random.Generator`` (initialisation, shuffling, dropout) and
        the validation split; an int gives the same run every time. None draws fresh entropy
        (the global NumPy RNG is never used).
    verbose : int, default=0
        Print one line per epoch.
    dtype : {None, "float32", "float64"}, default=None
        The network's dtype; None follows X as scikit-learn does (float32 stays float32,
        everything else is float64). float32 is about twice as fast.
"""

_ATTRS_DOC = """
    loss_curve_ : list of float
        Mean training loss of every epoch (without the weight-decay term).
    validation_loss_curve_ : list of float or None
        Validation loss of every epoch (``early_stopping=True`` only).
    validation_scores_ : list of float or None
        ``score`` on the validation set after every epoch (``early_stopping=True`` only).
    best_validation_score_ : float or None
        The best of ``validation_scores_``.
    n_iter_ : int
        Epochs run (summed over ``partial_fit`` calls and warm starts).
    t_ : int
        Training samples seen.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Column names seen in fit, when X had string column names (a DataFrame).
    coefs_, intercepts_ : list of ndarray
        W (fan_in, fan_out) and B of every Dense layer (copies).
    model_ : neuronlab.Sequential
        The trained network.
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = ("""Multi-layer perceptron classifier trained with neuronlab.

    Binary targets get one sigmoid output and binary cross-entropy, k > 2 classes a softmax
    layer and categorical cross-entropy, a multilabel indicator matrix k sigmoid outputs.
    Labels may be any sortable values (ints, strings).
""" + _PARAMS_DOC + """    class_weight : dict, "balanced" or None, default=None
        Loss weight of each class {label: weight}; "balanced" uses n / (k · count(label)).
        Multiplies ``sample_weight``.

    Attributes
    ----------
    classes_ : ndarray
        The class labels (``arange(k)`` for a multilabel indicator target).
""" + _ATTRS_DOC + """
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from neuronlab.sklearn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier((16,), max_iter=300, lr=0.01, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """)

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, init="auto", optimizer="adam",
                 lr=None, optimizer_params=None, weight_decay=None, batch_size="auto", max_iter=200,
                 shuffle=True, dropout=0.0, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, class_weight=None, warm_start=False, random_state=None,
                 verbose=0, dtype=None):
        super().__init__(hidden_layer_sizes, activation, init=init, optimizer=optimizer, lr=lr,
                         optimizer_params=optimizer_params, weight_decay=weight_decay, batch_size=batch_size,
                         max_iter=max_iter, shuffle=shuffle, dropout=dropout, early_stopping=early_stopping,
                         validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change, tol=tol,
                         warm_start=warm_start, random_state=random_state, verbose=verbose, dtype=dtype)
        self.class_weight = class_weight

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = False
        return tags

    # -- targets ---------------------------------------------------------------------------
    def _targets(self, y, first, incremental, classes):
        """Encode y for the network: int labels (k > 2), (n, 1) 0/1 (binary), (n, k) 0/1 (multilabel)."""
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(f"{type(self).__name__} supports binary, multiclass and multilabel-indicator "
                             f"targets, got {kind}")
        multilabel = kind == "multilabel-indicator"
        if not multilabel and y.ndim == 2:
            y = column_or_1d(y, warn=True)
        if first:
            if incremental and classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            if multilabel:
                self.classes_ = np.arange(y.shape[1])
            else:
                self.classes_ = unique_labels(y if classes is None or not incremental else classes)
                if len(self.classes_) < 2:
                    raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in y; got "
                                     f"1 class: {self.classes_[0]!r}")
            self._multilabel = multilabel
            self._loss = "binary_crossentropy" if multilabel or len(self.classes_) == 2 else \
                "categorical_crossentropy"
            self._out_activation = "sigmoid" if self._loss == "binary_crossentropy" else "softmax"
        else:
            if classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
                raise ValueError(f"classes={classes!r} is not the same as on the first call to partial_fit, "
                                 f"was {self.classes_!r}")
            if multilabel != self._multilabel:
                raise ValueError(f"y is {kind} but the classifier was fitted on "
                                 f"{'multilabel' if self._multilabel else 'single-label'} targets")
        dtype = self.model_.dtype if not first else np.float64
        if multilabel:
            if y.shape[1] != len(self.classes_):
                raise ValueError(f"y has {y.shape[1]} labels but the classifier was fitted with "
                                 f"{len(self.classes_)}")
            return np.asarray(y, dtype=dtype), len(self.classes_)
        idx = np.searchsorted(self.classes_, y)
        known = self.classes_[np.minimum(idx, len(self.classes_) - 1)] == y
        if not known.all():
            raise ValueError(f"y contains labels not in classes_ {self.classes_!r}: "
                             f"{np.unique(np.asarray(y)[~known])[:5]!r}")
        if len(self.classes_) == 2:
            return idx.astype(dtype).reshape(-1, 1), 1
        return idx.astype(np.intp), len(self.classes_)

    def _check_weighted_targets(self, Y, w, incremental):
        if incremental or self._multilabel:
            return
        labels = Y.ravel() if Y.ndim == 2 else Y
        present = np.unique(labels if w is None else labels[w > 0])
        if len(present) < 2:
            name = self.classes_[int(present[0])] if len(present) else None
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes with non-zero "
                             f"sample_weight; got 1 class: {name!r}")

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train the network on (X, y) for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a multilabel indicator matrix.
        sample_weight : array-like of shape (n_samples,), optional
            Loss weight of each sample, C = (1/K) Σ_i w_i ℓ_i with w rescaled to mean 1.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights and optimizer state.

        ``classes`` (every label that will ever be seen) is required on the first call.
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    # -- prediction ------------------------------------------------------------------------
    def _probabilities(self, P: np.ndarray) -> np.ndarray:
        if self._multilabel or P.shape[1] > 1:
            return P
        return np.hstack([1.0 - P, P])

    def _score_outputs(self, P, Y) -> float:
        """Validation accuracy from network outputs P and encoded targets Y (subset accuracy for multilabel)."""
        if self._multilabel:
            return float(np.mean(np.all((P > 0.5) == (Y > 0.5), axis=1)))
        pred = self._probabilities(P).argmax(axis=1)
        return float(np.mean(pred == (Y.ravel() if Y.ndim == 2 else Y)))

    def decision_function(self, X) -> np.ndarray:
        """Z = HW + B of the output layer (the logits): (n_samples,) for two classes, else (n_samples, k).

        For two classes Z > 0 means ``classes_[1]``; for k classes softmax(Z) is :meth:`predict_proba`.
        """
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=self.model_.dtype)
        *hidden, out = self.model_.layers
        chunks = []
        for lo in range(0, len(X), 8192):
            H = X[lo:lo + 8192]
            for layer in hidden:
                H = layer.predict(H)
            chunks.append(out.predict_z(H))
        Z = np.concatenate(chunks)
        return Z[:, 0] if not self._multilabel and len(self.classes_) == 2 else Z

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, (n_samples, n_classes), columns in the order of ``classes_``."""
        return self._probabilities(self._forward(X))

    def predict_log_proba(self, X) -> np.ndarray:
        """log of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample (a 0/1 indicator matrix for multilabel)."""
        P = self._forward(X)
        if self._multilabel:
            return (P > 0.5).astype(int)
        return self.classes_[self._probabilities(P).argmax(axis=1)]


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = ("""Multi-layer perceptron regressor trained with neuronlab (mean squared error).

    One linear output per target column; y of shape (n,) predicts (n,), y of shape (n, k)
    predicts (n, k).
""" + _PARAMS_DOC + """
    Attributes
    ----------
    n_outputs_ : int
        Number of target columns.
""" + _ATTRS_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> from neuronlab.sklearn import MLPRegressor
    >>> X = np.linspace(-1, 1, 64).reshape(-1, 1)
    >>> reg = MLPRegressor((16,), activation="tanh", lr=0.01, random_state=0).fit(X, X[:, 0] ** 2)
    >>> reg.predict(X[:3]).shape
    (3,)
    """)

    _loss = "mse"
    _out_activation = "linear"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = False
        return tags

    def _targets(self, y, first, incremental, classes):
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if first:
            self.n_outputs_ = Y.shape[1]
            self._y_1d = y.ndim == 1
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs but the regressor was fitted with {self.n_outputs_}")
        return Y, Y.shape[1]

    def _score_outputs(self, P, Y) -> float:
        return float(r2_score(Y, P))

    def fit(self, X, y, sample_weight=None):
        """Train the network on (X, y) for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
            Loss weight of each sample, C = (1/K) Σ_i w_i ℓ_i with w rescaled to mean 1.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights and optimizer state."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predicted targets, (n_samples,) or (n_samples, n_outputs) like the y of fit."""
        P = self._forward(X)
        return P[:, 0] if self._y_1d else P
