"""scikit-learn's MLP, trained by neuronlab: :class:`MLPClassifier` and :class:`MLPRegressor`.

Swap them in for ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``: the same parameter
names, defaults and meanings (``solver``, ``alpha``, ``learning_rate_init``, ``learning_rate`` with
``power_t``, ``momentum``, ``beta_1``, ``n_iter_no_change``, ``max_fun``, ...), the same fitted
attributes (``coefs_``, ``loss_curve_``, ``best_loss_``, ``n_iter_``, ``t_``, ...), and the same
training arithmetic, so the same ``random_state`` gives scikit-learn's model (tested to 1e-6 in
float64 for sgd and adam; lbfgs reaches scikit-learn's loss):

- initialisation: W and B ~ U(-b, b), b = √(6 / (fan_in + fan_out)) (2 in place of 6 for
  logistic), drawn from ``RandomState(random_state)`` in scikit-learn's order, which also draws
  the early-stopping split and every epoch's shuffle;
- the batch loss, over a batch of K samples with weights w (w_i = 1 without weights),
  L = Σ_i w_i ℓ_i / Σ_i w_i + α/(2 Σ_i w_i) Σ_layers ‖W‖² (no penalty on B), with
  ℓ_i = −Σ_k Y_ik log P_ik (log-loss, summed over labels) or ½ mean_k (P_ik − Y_ik)², and the step
  ∂L/∂Z = w_i (P_i − Y_i) / Σ_i w_i at the output, as scikit-learn's backpropagation;
- its stochastic solvers: "sgd" (momentum, Nesterov, ``learning_rate`` schedules) and "adam"
  (ε added to √v before the bias correction); "lbfgs" through ``scipy.optimize.minimize``
  (L-BFGS-B) on the full-batch loss and gradient of :meth:`Sequential.loss_and_grads`, its state in
  float64; as scikit-learn's, the network computes in X's dtype and ends in float64 (scipy's result);
- the stopping rule: an epoch does not improve when its training loss is above
  ``best_loss_ - tol`` (or, with ``early_stopping``, its validation score below
  ``best_validation_score_ + tol``); training stops when more than ``n_iter_no_change`` epochs in
  a row did not improve (``learning_rate="adaptive"`` divides η by 5 instead, while η > 1e-6),
  and with ``early_stopping`` ends with the weights of the best validation score.

neuronlab adds: ``solver`` may be any neuronlab optimizer name (``"rmsprop"``, ``"adamw"``, ...),
any hidden ``activation`` (``"leaky_relu"``, ...), ``init`` (a neuronlab initializer), ``dropout``,
``class_weight``, ``weight_decay`` (PyTorch's coupled L2 on every parameter, on top of ``alpha``),
``optimizer_params``, ``dtype``, ``batch_size=None`` (full batch), and ``optimizer`` / ``lr`` as
aliases of ``solver`` / ``learning_rate_init``. The network is a :class:`neuronlab.Sequential`
(``model_``); sparse X (CSR/CSC) is densified one batch at a time before the first layer.

Where neuronlab deliberately differs from scikit-learn (one line each):

- ``random_state=None`` draws fresh entropy; the global NumPy RNG is never used.
- y with a single class is refused by the classifier (scikit-learn fits it).
- Multi-output regression with lbfgs follows the gradient of the reported loss (scikit-learn's is k times larger).
- A NaN/inf gradient stops training (ValueError; with early stopping: a NaN score, the best weights kept).
- A batch whose sample weights are all zero is skipped (scikit-learn divides by zero).
- ``learning_rate`` schedules also drive neuronlab's other optimizers (scikit-learn: sgd only).
- MLPRegressor has no ``loss="poisson"``.

===========================  ===================  =============================================
target                       output layer         loss ℓ_i (scikit-learn's)
===========================  ===================  =============================================
binary (2 classes)           1 unit, logistic     −[y log p + (1 − y) log(1 − p)]
multiclass (k classes)       k units, softmax     −log P_{i, y_i}
multilabel indicator (n, k)  k units, logistic    the binary log-loss summed over the k labels
regression (n,) or (n, k)    1 or k units, linear ½ mean_k (P_ik − Y_ik)²
===========================  ===================  =============================================
"""

from __future__ import annotations

import math
import warnings

import numpy as np

try:
    import scipy.optimize
    from scipy import sparse
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.utils import compute_sample_weight
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("neuronlab.sklearn needs scikit-learn >= 1.6 and SciPy: "
                      "pip install 'neuronlab[sklearn]'") from exc

from . import activations as _activations
from . import initializers as _initializers
from . import optimizers as _optimizers
from . import threads as _threads
from .core import NonFiniteError
from .layers import Dense, Dropout
from .losses import MSE, BinaryCrossEntropy, CategoricalCrossEntropy
from .model import Sequential
from .validation import Boolean, Instance, Integer, Options, Real, validate

__all__ = ["MLPClassifier", "MLPRegressor"]

_AUTO_BATCH = 200    # batch_size="auto" is min(200, n_samples), as scikit-learn's MLP
_CHUNK = 8192        # rows per forward pass when predicting, or when densifying sparse X
_MIN_ADAPTIVE_LR = 1e-6  # learning_rate="adaptive" stops instead of dividing η once η <= this
_UNITS = Integer(low=1)
_RATE = Real(low=0, high=1, high_open=True)  # a dropout ratio P
_SKLEARN_NAMES = {"sigmoid": "logistic", "linear": "identity"}  # neuronlab activation -> scikit-learn's name


# -- scikit-learn's losses, as neuronlab losses -----------------------------------------------------
class _SklearnScaled:
    """Mixin: a neuronlab loss rescaled to scikit-learn's MLP loss (its value and its step).

    neuronlab's loss averages over all n·k output entries and weights as (1/n) Σ_i w_i ℓ_i;
    scikit-learn's is Σ_i w_i ℓ_i / Σ_i w_i with its own per-sample ℓ_i. The value is multiplied by
    ``value_factor(k)``, the gradient by ``grad_factor(k)``, both by n / Σ_i w_i.
    """

    def _factors(self, out, w):
        k = out.shape[-1]
        norm = 1.0 if w is None else len(w) / float(np.sum(w))
        return self.value_factor(k) * norm, self.grad_factor(k) * norm

    def value(self, out, Y, w=None):
        return super().value(out, Y, w) * self._factors(out, w)[0]

    def gradient(self, out, Y, w=None):
        G = super().gradient(out, Y, w)
        factor = self._factors(out, w)[1]
        if factor != 1.0:
            G *= factor
        return G

    def value_and_gradient(self, out, Y, w=None):
        return self.value(out, Y, w), self.gradient(out, Y, w)


class _LogLoss(_SklearnScaled, CategoricalCrossEntropy):
    """−mean_i log P_{i, y_i}: neuronlab's categorical cross-entropy already is scikit-learn's.

    ``Sequential.loss_and_grads`` asks for the value, then for the gradient of the same (out, Y, w):
    from logits with integer labels the value is computed in one pass with its gradient
    (``CategoricalCrossEntropy.value_and_gradient``), which the next ``gradient`` call on those
    same arrays takes instead of a second softmax (the small batches' hot path).
    """

    _pending = None  # (out, Y, w, ∂C/∂Z) of the last value, until the gradient is asked for

    @staticmethod
    def value_factor(k):
        return 1.0

    grad_factor = value_factor

    def value(self, out, Y, w=None):
        if not (self.from_logits and Y.ndim == out.ndim - 1):
            return super().value(out, Y, w)
        loss, G = CategoricalCrossEntropy.value_and_gradient(self, out, Y, w)
        self._pending = (out, Y, w, G)
        return loss * self._factors(out, w)[0]

    def gradient(self, out, Y, w=None):
        pending, self._pending = self._pending, None
        if pending is None or pending[0] is not out or pending[1] is not Y or pending[2] is not w:
            return super().gradient(out, Y, w)
        G, factor = pending[3], self._factors(out, w)[1]
        if factor != 1.0:
            G *= factor
        return G

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_pending", None)
        return state


class _BinaryLogLoss(_SklearnScaled, BinaryCrossEntropy):
    """scikit-learn's binary log-loss sums over the k labels (neuronlab's averages): × k."""

    @staticmethod
    def value_factor(k):
        return float(k)

    grad_factor = value_factor


class _SquaredError(_SklearnScaled, MSE):
    """½ mean over all entries of (P − Y)², with scikit-learn's step (P − Y)/n.

    scikit-learn's step is k times the gradient of its value for k > 1 outputs; ``consistent=True``
    (used by lbfgs, which needs the true gradient) takes the gradient of the value, (P − Y)/(n k).
    """

    consistent = False

    @staticmethod
    def value_factor(k):
        return 0.5

    def grad_factor(self, k):
        return 0.5 if self.consistent else 0.5 * k   # neuronlab's MSE step is 2(P − Y)/(n k)


class _SklearnAdam(_optimizers.Adam):
    """Adam as scikit-learn's MLP steps: W ← W − η √(1−β2ᵗ)/(1−β1ᵗ) · m / (√v + ε).

    neuronlab's Adam (PyTorch's) adds ε to √v̂ = √v / √(1−β2ᵗ) instead; the two differ only
    while √v is near ε.
    """

    def update(self, p, g, state):
        if self.amsgrad:
            return super().update(p, g, state)
        t = self.count(state)
        m = self.slot(state, "exp_avg", p)
        v = self.slot(state, "exp_avg_sq", p)
        s = self.scratch(p, "s")
        m *= self.beta1
        np.multiply(g, 1.0 - self.beta1, out=s)
        m += s
        np.multiply(g, g, out=s)
        s *= 1.0 - self.beta2
        v *= self.beta2
        v += s
        np.sqrt(v, out=s)
        s += self.eps
        np.divide(m, s, out=s)
        s *= self.lr * math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
        p.value -= s


def _rows(X, idx):
    """X[idx] as a dense array (sparse rows are densified here, one batch at a time)."""
    if sparse.issparse(X):
        return X[idx].toarray()
    if isinstance(idx, slice):
        return X[idx]
    return np.take(X, idx, axis=0)


def _flat_views(params) -> tuple[np.ndarray, np.ndarray]:
    """Make each Param's value and grad a view of one flat buffer (θ, ∂C/∂θ), in the order given.

    L-BFGS-B reads and writes θ as one vector; with the parameters living in it, no packing or
    unpacking is left per evaluation.
    """
    sizes = [p.value.size for p in params]
    theta = np.concatenate([p.value.reshape(-1) for p in params])
    grad = np.zeros_like(theta)
    lo = 0
    for p, size in zip(params, sizes):
        p.value = theta[lo:lo + size].reshape(p.value.shape)
        p.grad = grad[lo:lo + size].reshape(p.value.shape)
        lo += size
    return theta, grad


def _in_dtype(model: Sequential, dtype) -> Sequential:
    """The same network (architecture, weights, compiled loss and optimizer) in ``dtype``."""
    copy = Sequential.from_config({**model.get_config(), "dtype": np.dtype(dtype).name})
    copy.set_weights(model.get_weights())
    copy.compile(loss=model.loss, optimizer=model.optimizer)
    return copy


def glorot_uniform_like_sklearn(rs, sizes, activation, dtype):
    """scikit-learn's MLP initialisation: for each layer W ~ U(-b, b) of (fan_in, fan_out), then
    B ~ U(-b, b) of (fan_out,), b = √(factor / (fan_in + fan_out)), factor 2 for the logistic
    activation and 6 otherwise, drawn in that order from the RandomState ``rs``."""
    factor = 2.0 if activation in ("logistic", "sigmoid") else 6.0
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        weights.append(rs.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False))
        weights.append(rs.uniform(-bound, bound, fan_out).astype(dtype, copy=False))
    return weights


def _stochastic(estimator) -> bool:
    """``available_if`` check of ``partial_fit``: only stochastic solvers train one epoch at a time."""
    if estimator._solver() == "lbfgs":
        raise AttributeError("partial_fit is only available for stochastic optimizers. lbfgs is not stochastic.")
    return True


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, the network, the solvers."""

    _out_activation: str  # the output layer's activation (neuronlab's name), set by the subclass

    #: The hyperparameters' constraints (scikit-learn's ``_parameter_constraints``), checked in fit;
    #: hidden_layer_sizes, activation, solver/optimizer, init, dropout and dtype are checked by their own code.
    _constraints = {
        "alpha": Real(low=0),
        "batch_size": (Options("auto"), None, Integer(low=1)),
        "learning_rate": Options("constant", "invscaling", "adaptive"),
        "learning_rate_init": Real(low=0, low_open=True),
        "power_t": Real(low=0),
        "max_iter": Integer(low=1),
        "shuffle": Boolean(),
        "random_state": (None, Integer(low=0), Instance(np.random.RandomState, np.random.Generator)),
        "tol": Real(low=0),
        "verbose": (Boolean(), Integer(low=0)),
        "warm_start": Boolean(),
        "momentum": Real(low=0, high=1),
        "nesterovs_momentum": Boolean(),
        "early_stopping": Boolean(),
        "validation_fraction": Real(low=0, high=1, high_open=True),
        "beta_1": Real(low=0, high=1, high_open=True),
        "beta_2": Real(low=0, high=1, high_open=True),
        "epsilon": Real(low=0, low_open=True),
        "n_iter_no_change": (Integer(low=1), Options(math.inf)),
        "max_fun": Integer(low=1),
        "lr": (Real(low=0, low_open=True), None),
        "weight_decay": (Real(low=0), None),
        "optimizer_params": (Instance(dict), None),
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, init="auto",
                 dropout=0.0, weight_decay=None, optimizer_params=None, dtype=None, optimizer=None, lr=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.init = init
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.optimizer_params = optimizer_params
        self.dtype = dtype
        self.optimizer = optimizer
        self.lr = lr

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

    def _solver(self) -> str:
        """The solver's name: ``optimizer`` (the alias) when given, else ``solver``; lower case."""
        name = self.solver if self.optimizer is None else self.optimizer
        return name.lower() if isinstance(name, str) else name

    def _lr_init(self) -> float:
        return float(self.learning_rate_init if self.lr is None else self.lr)

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
        which = "solver" if self.optimizer is None else "optimizer"
        solver = self._solver()
        if not (isinstance(solver, str) and (solver == "lbfgs" or solver in _optimizers.registry)):
            raise ValueError(f"{owner}: {which} must be 'lbfgs' or one of {_optimizers.names()}, "
                             f"got {getattr(self, which)!r}")
        rates = self._dropout_rates(len(self._hidden_sizes()))
        if solver == "lbfgs" and any(rates):
            raise ValueError(f"{owner}: dropout needs a stochastic solver; solver='lbfgs' minimises one "
                             f"deterministic loss, got dropout={self.dropout!r}")
        if self.dtype is not None and np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"{owner}: dtype must be None (follow X), 'float32' or 'float64', got {self.dtype!r}")

    def _random_states(self) -> tuple[np.random.RandomState, int]:
        """(RandomState of this fit, model seed), from ``random_state``, as scikit-learn's ``check_random_state``.

        The RandomState draws the initial weights, the early-stopping split and the shuffles in
        scikit-learn's order; the model's generator (seeded by the second value) draws dropout
        masks and neuronlab initializers. None draws fresh entropy (the global NumPy RNG is never used).
        """
        rs = self.random_state
        if isinstance(rs, np.random.RandomState):
            return rs, int(rs.randint(0, 2**31 - 1))
        if isinstance(rs, np.random.Generator):
            a, b = rs.integers(0, 2**31 - 1, size=2)
            return np.random.RandomState(int(a)), int(b)
        if rs is None:
            a, b = np.random.SeedSequence().generate_state(2)
            return np.random.RandomState(int(a)), int(b) % (2**31 - 1)
        return np.random.RandomState(int(rs)), int(rs)

    # -- the network -----------------------------------------------------------------------
    def _build(self, n_features: int, n_outputs: int, dtype, rs, seed) -> Sequential:
        sizes = self._hidden_sizes()
        rates = self._dropout_rates(len(sizes))
        init = "zeros" if self.init == "auto" else self.init  # "auto": set below from rs
        layers, width = [], n_features
        for units, rate in zip(sizes, rates):
            layers.append(Dense(units, self.activation, init=init, input_dim=width))
            if rate:
                layers.append(Dropout(rate))
            width = units
        layers.append(Dense(n_outputs, self._out_activation, init=init, input_dim=width))
        model = Sequential(layers, seed=seed, dtype=dtype)
        if self.init == "auto":
            model.set_weights(glorot_uniform_like_sklearn(rs, (n_features, *sizes, n_outputs), self.activation,
                                                          model.dtype))
        return model

    def _new_optimizer(self, solver: str) -> _optimizers.Optimizer:
        """A fresh optimizer for ``solver`` (scikit-learn starts one on every fit, keeps it across partial_fit)."""
        if solver == "lbfgs":
            return _optimizers.SGD()  # never steps: scipy's L-BFGS-B moves the weights; compile needs one
        kwargs = {}
        if solver == "sgd":
            kwargs = {"momentum": float(self.momentum),
                      "nesterov": bool(self.nesterovs_momentum and self.momentum > 0)}
        elif solver in ("adam", "adamw"):
            kwargs = {"beta1": float(self.beta_1), "beta2": float(self.beta_2), "eps": float(self.epsilon)}
        if self.weight_decay is not None:
            kwargs["weight_decay"] = float(self.weight_decay)
        kwargs.update(self.optimizer_params or {})
        kwargs["lr"] = self._lr_init()
        try:
            if solver == "adam":
                return _SklearnAdam(**kwargs)
            return _optimizers.get(solver, **kwargs)
        except TypeError as exc:
            raise ValueError(f"{type(self).__name__}: optimizer_params {sorted(kwargs)} do not fit solver "
                             f"{solver!r}: {exc}") from exc

    def _batch(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(_AUTO_BATCH, n)
        if self.batch_size is None:
            return n
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                          stacklevel=3)
        return min(self.batch_size, n)

    # -- fitting ---------------------------------------------------------------------------
    def _validate_X_y(self, X, y, reset: bool, solver: str):
        if not reset:
            dtype = self.model_.dtype
        else:
            dtype = [np.float64, np.float32] if self.dtype is None else np.dtype(self.dtype)
        X, y = validate_data(self, X, y, reset=reset, dtype=dtype, multi_output=True, accept_sparse=["csr", "csc"],
                             y_numeric=not isinstance(self, ClassifierMixin))
        return (X.tocsr() if sparse.issparse(X) else X), y

    def _loss_weights(self, sample_weight, X, y, incremental: bool):
        """Per-sample loss weights w_i = sample_weight_i × class_weight[y_i] (None when all are 1)."""
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
        if w is not None and not float(w.sum()) > 0:
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return w

    def _fit(self, X, y, sample_weight=None, *, incremental=False, classes=None):
        self._check_params()
        solver = self._solver()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not hasattr(self, "model_") or not (incremental or self.warm_start)
        X, y = self._validate_X_y(X, y, reset=first, solver=solver)
        Y, n_outputs = self._targets(y, first, incremental, classes)
        w = self._loss_weights(sample_weight, X, y, incremental)
        self._check_weighted_targets(Y, w, incremental)
        rs, seed = self._random_states()
        if first:
            self._initialize(X.shape[1], n_outputs, X.dtype, rs, seed, solver)
        elif self.model_.output_dim != n_outputs:
            raise ValueError(f"y has {n_outputs} outputs but the fitted network has {self.model_.output_dim}; "
                             f"set warm_start=False to refit")
        if not incremental or getattr(self, "_solver_of_optimizer", None) != solver:
            self.model_.compile(loss=self._new_loss(solver), optimizer=self._new_optimizer(solver))
            self._solver_of_optimizer = solver
        self._weights = [layer.W for layer in self.model_.layers if isinstance(layer, Dense)]
        try:
            if solver == "lbfgs":
                self._fit_lbfgs(X, Y, w)
            else:
                self._fit_stochastic(X, Y, w, rs, incremental)
        except NonFiniteError as exc:  # scikit-learn's message first, then neuronlab's diagnosis
            raise ValueError(f"Solver produced non-finite parameter weights. The input data may contain large "
                             f"values and need to be preprocessed. {type(self).__name__}: {exc}; scale X (e.g. "
                             f"StandardScaler) or lower learning_rate_init.") from exc
        return self

    def _initialize(self, n_features, n_outputs, dtype, rs, seed, solver):
        """The first fit: the network, and the training state scikit-learn keeps across warm starts."""
        self.model_ = self._build(n_features, n_outputs, dtype, rs, seed)
        self.n_outputs_ = n_outputs
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self._best_weights = self.model_.get_weights()
        if solver == "lbfgs":  # scikit-learn's lbfgs keeps no stopping state
            self.best_loss_ = self.validation_scores_ = self.best_validation_score_ = None
        elif self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = self.best_validation_score_ = None

    # -- the stochastic solvers ------------------------------------------------------------
    def _fit_stochastic(self, X, Y, w, rs, incremental):
        """scikit-learn's ``_fit_stochastic``: epochs of mini-batch steps, the stopping rule, the schedules."""
        n_total = X.shape[0]
        val = None
        if self.early_stopping:
            idx_train, idx_val = train_test_split(np.arange(n_total), random_state=rs,
                                                  test_size=self.validation_fraction, stratify=self._stratify(Y))
            if len(idx_val) < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of "
                                 "your dataset.")
            val = (X[idx_val], Y[idx_val], None if w is None else w[idx_val])
            X, Y, w = X[idx_train], Y[idx_train], None if w is None else w[idx_train]
        n = X.shape[0]
        K = self._batch(n)
        order = np.arange(n)
        self.n_iter_ = 0
        try:
            for _ in range(self.max_iter):
                if self.shuffle:  # sklearn.utils.shuffle(order, random_state=rs), without its per-call checks
                    perm = np.arange(n)
                    rs.shuffle(perm)
                    order = order[perm]
                try:
                    self.loss_ = self._epoch(X, Y, w, order if self.shuffle else None, K)
                except NonFiniteError:
                    if val is None:
                        raise
                    self._diverged(n)  # early stopping keeps the best weights, as scikit-learn
                    break
                self.n_iter_ += 1
                self.t_ += n
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                self._update_no_improvement_count(val)
                if self.learning_rate == "invscaling" and self._scheduled():
                    self._set_lr(self._lr_init() / (self.t_ + 1) ** self.power_t)
                if self._no_improvement_count > self.n_iter_no_change:
                    if self._stop():
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                                  f"optimization hasn't converged yet.", ConvergenceWarning, stacklevel=3)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=3)
        if self.early_stopping:
            self.model_.set_weights(self._best_weights)

    def _diverged(self, n) -> None:
        """A NaN/inf gradient during an epoch with early stopping: record it and stop (the best weights follow).

        scikit-learn carries on with NaN weights to max_iter (a NaN validation score never counts
        as "no improvement"); neuronlab's optimizer refuses the step, so training stops here.
        """
        self.n_iter_ += 1
        self.t_ += n
        self.loss_ = float("nan")
        self.loss_curve_.append(self.loss_)
        self.validation_scores_.append(float("nan"))
        warnings.warn(f"Training diverged (a NaN or infinite gradient) in epoch {self.n_iter_}; the weights of "
                      f"the best validation score are kept. Scale X or lower learning_rate_init.",
                      ConvergenceWarning, stacklevel=4)

    def _epoch(self, X, Y, w, order, K) -> float:
        """One pass over the batches; returns the epoch's loss, Σ_batches K_b L_b / n (penalty included).

        Each batch: C and every ∂C/∂θ from :meth:`Sequential.loss_and_grads`, then the L2 term
        α/(2 Σw) ‖W‖² and its gradient α W / Σw on the weights, then the optimizer's step.
        """
        model, n, total = self.model_, X.shape[0], 0.0
        params = model.params()
        for lo in range(0, n, K):
            idx = slice(lo, lo + K) if order is None else order[lo:lo + K]
            wb = None if w is None else w[idx]
            sw = (min(n, lo + K) - lo) if wb is None else float(wb.sum())
            if sw <= 0:  # every weight of the batch is zero: scikit-learn divides by zero here; skip it
                continue
            loss, _ = model.loss_and_grads(_rows(X, idx), Y[idx], wb)
            loss += self._penalty(sw)
            model.optimizer.step(params)
            total += loss * (min(n, lo + K) - lo)
        return total / n

    def _penalty(self, sw: float) -> float:
        """Add α W / Σw to every ∂C/∂W (never B) and return the loss term α/(2 Σw) Σ ‖W‖²."""
        if not self.alpha:
            return 0.0
        scale, squares = self.alpha / sw, 0.0
        for p in self._weights:
            flat = p.value.reshape(-1)
            squares += float(np.dot(flat, flat))
            p.grad += scale * p.value
        return 0.5 * scale * squares

    def _stratify(self, Y):
        """Labels to stratify the early-stopping split by: scikit-learn stratifies a single-output classifier only."""
        return None

    def _update_no_improvement_count(self, val) -> None:
        """scikit-learn's rule: no improvement when the loss is above ``best_loss_ - tol`` (or the
        validation score below ``best_validation_score_ + tol``); the best is kept separately."""
        if val is not None:
            score = self._validation_score(*val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            self._no_improvement_count = (self._no_improvement_count + 1
                                          if score < self.best_validation_score_ + self.tol else 0)
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_weights = self.model_.get_weights()
        else:
            last = self.loss_curve_[-1]
            self._no_improvement_count = self._no_improvement_count + 1 if last > self.best_loss_ - self.tol else 0
            if last < self.best_loss_:
                self.best_loss_ = last

    def _scheduled(self) -> bool:
        """``learning_rate`` schedules apply to every stochastic solver but adam (scikit-learn: sgd only)."""
        return self._solver() != "adam"

    def _stop(self) -> bool:
        """After ``n_iter_no_change`` epochs without improvement: stop, or (adaptive) divide η by 5."""
        what = "Validation score" if self.early_stopping else "Training loss"
        msg = f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} consecutive epochs."
        lr = self.model_.optimizer.lr
        if self.learning_rate != "adaptive" or not self._scheduled() or lr <= _MIN_ADAPTIVE_LR:
            if self.verbose:
                print(msg + (" Learning rate too small." if self.learning_rate == "adaptive" else "") + " Stopping.")
            return True
        self._set_lr(lr / 5.0)
        if self.verbose:
            print(f"{msg} Setting learning rate to {self.model_.optimizer.lr:f}")
        return False

    def _set_lr(self, lr: float) -> None:
        """Set η; SGD's momentum buffer v is rescaled by η_old/η so that the velocity η v carries over,
        as in scikit-learn's form v ← μ v − η g (neuronlab's SGD is PyTorch's, v ← μ v + g; W ← W − η v)."""
        opt = self.model_.optimizer
        if isinstance(opt, _optimizers.SGD) and opt.momentum:
            for slots in opt.state.values():
                if "momentum_buffer" in slots:
                    slots["momentum_buffer"] *= opt.lr / lr
        opt.lr = lr

    # -- lbfgs -----------------------------------------------------------------------------
    def _fit_lbfgs(self, X, Y, w):
        """Minimise the full-batch loss (penalty included) with scipy's L-BFGS-B from the current weights.

        max_iter, max_fun and tol are L-BFGS-B's maxiter, maxfun and gtol, as scikit-learn's. θ is
        packed as scikit-learn packs it (every W, then every B); the network's parameters and their
        gradients are views of two flat buffers, so an evaluation copies θ in once and hands the
        gradient buffer back (scipy copies it). BLAS threads are chosen once for the whole fit.
        """
        model, n = self.model_, X.shape[0]
        total = n if w is None else float(w.sum())
        theta, grad = _flat_views(self._packed_params())
        n_w = sum(p.value.size for p in self._weights)

        def loss_and_gradient(x):
            theta[...] = x  # scipy hands over a fresh array in x0's dtype each time
            loss = self._full_loss_and_grads(X, Y, w, total)
            if self.alpha:  # α/(2 Σw) Σ ‖W‖² on the W part of θ alone: its gradient α W / Σw
                scale = self.alpha / total
                grad[:n_w] += scale * theta[:n_w]
                loss += 0.5 * scale * float(np.dot(theta[:n_w], theta[:n_w]))
            return loss, grad

        def record(intermediate_result):
            self.loss_curve_.append(float(intermediate_result.fun))
            if self.verbose:
                print(f"Iteration {len(self.loss_curve_)}, loss = {intermediate_result.fun:.8f}")

        # scipy keeps L-BFGS-B's state in float64 and calls us with θ in x0's dtype (the network's)
        with _threads.blas_threads(lambda: _threads.batch_macs(model, min(n, _CHUNK) if sparse.issparse(X) else n)):
            res = scipy.optimize.minimize(loss_and_gradient, theta.copy(), method="L-BFGS-B", jac=True,
                                          callback=record, options={"maxfun": self.max_fun,
                                                                    "maxiter": self.max_iter, "gtol": self.tol})
        if self.dtype is None and res.x.dtype != model.dtype:  # scikit-learn's coefs_ are views of res.x
            self.model_ = _in_dtype(model, res.x.dtype)
            self._weights = [layer.W for layer in self.model_.layers if isinstance(layer, Dense)]
            theta, _ = _flat_views(self._packed_params())
        theta[...] = res.x
        self.n_iter_ = min(int(res.nit), self.max_iter)
        self.loss_ = float(res.fun)
        if res.status != 0:
            message = res.message.decode() if isinstance(res.message, bytes) else res.message
            warnings.warn(f"lbfgs failed to converge after {res.nit} iteration(s) (status={res.status}): "
                          f"{message}. Increase max_iter ({self.max_iter}) or max_fun ({self.max_fun}), or scale "
                          f"the data (e.g. StandardScaler).", ConvergenceWarning, stacklevel=3)

    def _packed_params(self) -> list:
        """The network's parameters in scikit-learn's packing order: every W (``coefs_``), then every B."""
        return self._weights + [p for p in self.model_.params() if not any(p is q for q in self._weights)]

    def _full_loss_and_grads(self, X, Y, w, total) -> float:
        """C over all of (X, Y) (no penalty) with every Param.grad filled; sparse X is densified in chunks of rows."""
        model, n = self.model_, X.shape[0]
        if not sparse.issparse(X):
            return model.loss_and_grads(X, Y, w, training=False)[0]
        loss, acc = 0.0, None
        for lo in range(0, n, _CHUNK):  # each chunk's C is normalised by its own Σw: reweight by Σw_c / Σw
            wc = None if w is None else w[lo:lo + _CHUNK]
            share = (min(n, lo + _CHUNK) - lo if wc is None else float(wc.sum())) / total
            if share <= 0:
                continue
            part, grads = model.loss_and_grads(X[lo:lo + _CHUNK].toarray(), Y[lo:lo + _CHUNK], wc, training=False)
            loss += share * part
            acc = {k: share * g for k, g in grads.items()} if acc is None else \
                {k: acc[k] + share * g for k, g in grads.items()}
        for p in model.params():
            p.grad[...] = acc[p.name]
        return loss

    # -- prediction ------------------------------------------------------------------------
    def _outputs(self, X) -> np.ndarray:
        """The network's output P for validated X (dense or CSR), a chunk of rows at a time."""
        if not sparse.issparse(X):
            return self.model_.predict(X, batch_size=_CHUNK)
        return np.concatenate([self.model_.predict(_rows(X, slice(lo, lo + _CHUNK)), batch_size=_CHUNK)
                               for lo in range(0, X.shape[0], _CHUNK)])

    def _forward(self, X) -> np.ndarray:
        """The network's output for X, validated as scikit-learn does (feature count and names)."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=self.model_.dtype, accept_sparse=["csr", "csc"])
        return self._outputs(X.tocsr() if sparse.issparse(X) else X)

    def _validation_score(self, X, Y, w) -> float:
        """``score`` on the held-out part (accuracy or R²); NaN when the network's output is not finite."""
        P = self._outputs(X)
        if not np.isfinite(P).all():
            return float("nan")
        return self._score_outputs(P, Y, w)

    def _check_weighted_targets(self, Y, w, incremental):
        """Hook: the classifier refuses a single class; the regressor accepts anything."""

    # -- fitted parameters, in scikit-learn's names -------------------------------------------
    def _dense_params(self, which: str) -> list:
        check_is_fitted(self, "model_")
        return [getattr(layer, which) for layer in self.model_.layers if isinstance(layer, Dense)]

    def _assign(self, which: str, arrays) -> None:
        """Write ``arrays`` into the network's W (or B), one per Dense layer, shapes checked."""
        params = self._dense_params(which)
        arrays = list(arrays)
        shapes = [p.value.shape for p in params]
        if [np.shape(a) for a in arrays] != shapes:
            raise ValueError(f"{type(self).__name__}: {'coefs_' if which == 'W' else 'intercepts_'} must be "
                             f"{len(shapes)} arrays of shapes {shapes}, got {[np.shape(a) for a in arrays]}")
        for p, a in zip(params, arrays):
            p.value[...] = a

    @property
    def coefs_(self) -> list[np.ndarray]:
        """W of every Dense layer, each (fan_in, fan_out): the network's own arrays, as scikit-learn's
        (editing one in place edits the network; assigning a list writes into it)."""
        return [p.value for p in self._dense_params("W")]

    @coefs_.setter
    def coefs_(self, arrays) -> None:
        self._assign("W", arrays)

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """B of every Dense layer: the network's own arrays (see ``coefs_``)."""
        return [p.value for p in self._dense_params("B")]

    @intercepts_.setter
    def intercepts_(self, arrays) -> None:
        self._assign("B", arrays)

    @property
    def n_layers_(self) -> int:
        """Layers counted as scikit-learn does: input, every hidden layer, output."""
        check_is_fitted(self, "model_")
        return 1 + sum(isinstance(layer, Dense) for layer in self.model_.layers)

    @property
    def out_activation_(self) -> str:
        """The output layer's activation in scikit-learn's name: "logistic", "softmax" or "identity"."""
        check_is_fitted(self, "model_")
        name = self.model_.layers[-1].activation.name
        return _SKLEARN_NAMES.get(name, name)


_PARAMS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Units of each hidden layer; ``()`` gives no hidden layer.
    activation : str, default="relu"
        f of the hidden layers: scikit-learn's "identity", "logistic", "tanh", "relu", or any
        neuronlab activation (``neuronlab.activations.names()``: leaky_relu, ...).
    solver : str, default="adam"
        "sgd", "adam" or "lbfgs" as scikit-learn, or any neuronlab optimizer name (rmsprop,
        adagrad, adadelta, adamw, ...; their other arguments through ``optimizer_params``).
    alpha : float, default=0.0001
        α of the L2 term α/(2 Σw) Σ ‖W‖² added to every batch's loss (weights only, not B).
    batch_size : int, "auto" or None, default="auto"
        K, the samples per step: "auto" is min(200, n_samples); None (neuronlab) the full batch.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        η's schedule: constant; η = learning_rate_init / (t_ + 1)^power_t after every epoch; or
        η / 5 instead of stopping (while η > 1e-6). Ignored by adam, as scikit-learn (which also
        ignores it for lbfgs; neuronlab applies it to its other optimizers too).
    learning_rate_init : float, default=0.001
        η at the start of every fit (``lr`` is an alias that wins when given).
    power_t : float, default=0.5
        The exponent of "invscaling".
    max_iter : int, default=200
        Epochs at most (stochastic solvers), or L-BFGS-B iterations (lbfgs).
    shuffle : bool, default=True
        Reshuffle the samples every epoch.
    random_state : int, RandomState, Generator or None, default=None
        An int gives scikit-learn's initial weights, split and shuffles for that int (a fresh
        ``RandomState(random_state)`` on every fit, as scikit-learn); it also seeds dropout.
        None draws fresh entropy (never the global NumPy RNG, unlike scikit-learn).
    tol : float, default=1e-4
        The smallest improvement of the training loss (or validation score) that counts; lbfgs's
        ``gtol``.
    verbose : bool or int, default=False
        Print the loss of every epoch (iteration for lbfgs).
    warm_start : bool, default=False
        ``fit`` starts from the current weights (with a new optimizer, as scikit-learn); y must
        have the same classes.
    momentum : float, default=0.9
        μ of sgd: v ← μ v − η g, W ← W + v.
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for sgd: W ← W + μ v − η g.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` (stratified for binary targets only, as scikit-learn),
        stop when the validation score has not improved by ``tol`` for more than
        ``n_iter_no_change`` epochs, and end with the weights of the best score.
    validation_fraction : float, default=0.1
        Fraction of the samples held out for early stopping.
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's β1, β2 and ε (ε added to √v before the bias correction, as scikit-learn).
    n_iter_no_change : int or inf, default=10
        Epochs without improvement tolerated; training stops after one more.
    max_fun : int, default=15000
        Loss evaluations at most (lbfgs).
    init : str, default="auto"
        "auto" is scikit-learn's Glorot-uniform W and B; any neuronlab initializer
        (``neuronlab.initializers.names()``) draws W from the model's generator, with B = 0.
    dropout : float or tuple of float, default=0.0
        Dropout ratio P after each hidden layer (one value, or one per hidden layer); not with lbfgs.
    weight_decay : float, optional
        PyTorch's coupled L2 g ← g + λW on every parameter, B included, on top of ``alpha`` (None:
        the optimizer's default, 0; 0.01 for adamw).
    optimizer_params : dict, optional
        Further arguments of the optimizer, e.g. ``{"centered": True}`` for rmsprop; they override
        momentum, nesterovs_momentum, beta_1, beta_2 and epsilon.
    dtype : {None, "float32", "float64"}, default=None
        The network's dtype; None follows X as scikit-learn does (float32 stays float32, the rest is
        float64); lbfgs then computes in X's dtype and, as scikit-learn, ends with float64 weights.
    optimizer : str, optional
        Alias of ``solver`` (neuronlab's earlier name); wins when given.
    lr : float, optional
        Alias of ``learning_rate_init``; wins when given.
"""

_ATTRS_DOC = """
    loss_ : float
        The loss of the last epoch (mean of the batch losses, penalty included), or lbfgs's final loss.
    best_loss_ : float or None
        The smallest ``loss_curve_`` entry (None with early stopping or lbfgs, as scikit-learn).
    loss_curve_ : list of float
        ``loss_`` of every epoch (every L-BFGS-B iteration for lbfgs, which scikit-learn does not record).
    validation_scores_ : list of float or None
        ``score`` on the validation set after every epoch (``early_stopping=True`` only).
    best_validation_score_ : float or None
        The best of ``validation_scores_``.
    n_iter_ : int
        Epochs (or L-BFGS-B iterations) run by the last call to fit/partial_fit.
    t_ : int
        Training samples seen, summed over warm starts and ``partial_fit`` calls.
    n_layers_ : int
        Number of layers: input, hidden layers, output.
    n_outputs_ : int
        Number of output units.
    out_activation_ : str
        "logistic", "softmax" or "identity".
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Column names seen in fit, when X had string column names (a DataFrame).
    coefs_, intercepts_ : list of ndarray
        W (fan_in, fan_out) and B of every Dense layer: the network's arrays (assignable).
    model_ : neuronlab.Sequential
        The trained network.
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = ("""Multi-layer perceptron classifier, scikit-learn's ``MLPClassifier`` trained by neuronlab.

    Binary targets get one logistic output, k > 2 classes a softmax layer, a multilabel
    indicator matrix k logistic outputs; the loss is scikit-learn's log-loss. Labels may be any
    sortable values (ints, strings). y with a single class is refused (scikit-learn fits it).
""" + _PARAMS_DOC + """    class_weight : dict, "balanced" or None, default=None
        Loss weight of each class {label: weight}; "balanced" uses n / (k · count(label)).
        Multiplies ``sample_weight`` (neuronlab; scikit-learn's MLP has none).

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
    >>> clf = MLPClassifier((16,), max_iter=300, learning_rate_init=0.01, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """)

    _out_activation = "softmax"  # set per fit from the target

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 class_weight=None, init="auto", dropout=0.0, weight_decay=None, optimizer_params=None,
                 dtype=None, optimizer=None, lr=None):
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
                         learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
                         max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
                         warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
                         early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
                         beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
                         init=init, dropout=dropout, weight_decay=weight_decay, optimizer_params=optimizer_params,
                         dtype=dtype, optimizer=optimizer, lr=lr)
        self.class_weight = class_weight

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        return tags

    # -- targets ---------------------------------------------------------------------------
    def _targets(self, y, first, incremental, classes):
        """Encode y for the network: int labels (k > 2), (n, 1) 0/1 (binary), (n, k) 0/1 (multilabel).

        On a warm start y must have exactly the classes of the first fit; in partial_fit its
        labels must be among them (scikit-learn's checks).
        """
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(f"{type(self).__name__} supports binary, multiclass and multilabel-indicator "
                             f"targets, got {kind}")
        multilabel = kind == "multilabel-indicator"
        if not multilabel and y.ndim == 2:
            y = column_or_1d(y, warn=True)
        if first:
            self._define_classes(y, multilabel, incremental, classes)
        else:
            self._check_classes(y, multilabel, incremental, classes)
        dtype = self.model_.dtype if not first else np.float64
        if multilabel:
            if y.shape[1] != len(self.classes_):
                raise ValueError(f"y has {y.shape[1]} labels but the classifier was fitted with "
                                 f"{len(self.classes_)}")
            return np.asarray(y, dtype=dtype), len(self.classes_)
        idx = np.searchsorted(self.classes_, y)
        if len(self.classes_) == 2:
            return idx.astype(dtype).reshape(-1, 1), 1
        return idx.astype(np.intp), len(self.classes_)

    def _define_classes(self, y, multilabel, incremental, classes):
        if incremental and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if multilabel:
            self.classes_ = np.arange(y.shape[1])
        else:
            self.classes_ = unique_labels(y if classes is None or not incremental else classes)
            if len(self.classes_) < 2:
                raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in y; got "
                                 f"1 class: {self.classes_[0]!r}")
            if incremental and len(np.setdiff1d(unique_labels(y), self.classes_)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {unique_labels(y)}.")
        self._multilabel = multilabel
        self._out_activation = "sigmoid" if multilabel or len(self.classes_) == 2 else "softmax"

    def _check_classes(self, y, multilabel, incremental, classes):
        if classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(f"classes={classes!r} is not the same as on the first call to partial_fit, "
                             f"was {self.classes_!r}")
        if multilabel != self._multilabel:
            raise ValueError(f"y is {'multilabel' if multilabel else 'single-label'} but the classifier was "
                             f"fitted on {'multilabel' if self._multilabel else 'single-label'} targets")
        if multilabel:
            return
        seen = unique_labels(y)
        if not incremental:  # a warm start: exactly the same classes
            if set(seen) != set(self.classes_):
                raise ValueError(f"warm_start can only be used where `y` has the same classes as in the previous "
                                 f"call to fit. Previously got {self.classes_}, `y` has {seen}")
        elif len(np.setdiff1d(seen, self.classes_)):
            raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                             f"'y' has {seen}.")

    def _new_loss(self, solver):
        return _BinaryLogLoss() if self._out_activation == "sigmoid" else _LogLoss()

    def _stratify(self, Y):
        return Y.astype(bool) if Y.ndim == 2 and Y.shape[1] == 1 else None  # scikit-learn's binarized y

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
        """Train the network on (X, y).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a multilabel indicator matrix.
        sample_weight : array-like of shape (n_samples,), optional
            Loss weight w_i of each sample: L = Σ_i w_i ℓ_i / Σ_i w_i per batch, as scikit-learn.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing from the current weights and optimizer state.

        ``classes`` (every label that will ever be seen) is required on the first call.
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    # -- prediction ------------------------------------------------------------------------
    def _probabilities(self, P: np.ndarray) -> np.ndarray:
        if self._multilabel or P.shape[1] > 1:
            return P
        return np.hstack([1.0 - P, P])

    def _predicted_codes(self, P):
        if self._multilabel:
            return (P > 0.5).astype(int)
        return self._probabilities(P).argmax(axis=1)

    def _score_outputs(self, P, Y, w) -> float:
        """Accuracy (subset accuracy for multilabel) of network outputs P against encoded targets Y."""
        true = Y.astype(int) if self._multilabel else (Y.ravel() if Y.ndim == 2 else Y).astype(np.intp)
        return float(accuracy_score(true, self._predicted_codes(P), sample_weight=w))

    def decision_function(self, X) -> np.ndarray:
        """Z = HW + B of the output layer (the logits): (n_samples,) for two classes, else (n_samples, k).

        For two classes Z > 0 means ``classes_[1]``; for k classes softmax(Z) is :meth:`predict_proba`.
        """
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=self.model_.dtype, accept_sparse=["csr", "csc"])
        X = X.tocsr() if sparse.issparse(X) else X
        *hidden, out = self.model_.layers
        chunks = []
        for lo in range(0, X.shape[0], _CHUNK):
            H = _rows(X, slice(lo, lo + _CHUNK))
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
        codes = self._predicted_codes(self._forward(X))
        return codes if self._multilabel else self.classes_[codes]


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = ("""Multi-layer perceptron regressor, scikit-learn's ``MLPRegressor`` trained by neuronlab.

    One linear output per target column and scikit-learn's squared error ½ mean (P − Y)²; y of
    shape (n,) or (n, 1) predicts (n,), y of shape (n, k) predicts (n, k). For k > 1 outputs
    lbfgs follows the gradient of that loss (scikit-learn's is k times larger; its sgd/adam step,
    (P − Y)/n, is kept for them).
""" + _PARAMS_DOC + """
    Attributes
    ----------
""" + _ATTRS_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> from neuronlab.sklearn import MLPRegressor
    >>> X = np.linspace(-1, 1, 64).reshape(-1, 1)
    >>> reg = MLPRegressor((16,), activation="tanh", solver="lbfgs", random_state=0).fit(X, X[:, 0] ** 2)
    >>> reg.predict(X[:3]).shape
    (3,)
    """)

    _out_activation = "linear"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = True
        return tags

    def _targets(self, y, first, incremental, classes):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if not first and Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs but the regressor was fitted with {self.n_outputs_}")
        return Y, Y.shape[1]

    def _new_loss(self, solver):
        loss = _SquaredError()
        loss.consistent = solver == "lbfgs"
        return loss

    def _score_outputs(self, P, Y, w) -> float:
        return float(r2_score(Y, P, sample_weight=w))

    def fit(self, X, y, sample_weight=None):
        """Train the network on (X, y).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
            Loss weight w_i of each sample: L = Σ_i w_i ℓ_i / Σ_i w_i per batch, as scikit-learn.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    @available_if(_stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights and optimizer state."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predicted targets, (n_samples,) for one output, else (n_samples, n_outputs)."""
        P = self._forward(X)
        return P[:, 0] if P.shape[1] == 1 else P
