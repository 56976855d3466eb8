"""Sequential: a stack of layers, trained by the guide's loop of epochs and batches.

One epoch = every sample once, in batches of K = ``batch_size`` samples: K = n (None) is
gradient descent, K = 1 stochastic gradient descent, 1 < K < n mini-batch SGD. Each batch:
forward pass, loss C, backward pass (chain rule, layer by layer), optimizer update.
"""

from __future__ import annotations

import contextlib
import copy
import math
import sys
import time

import numpy as np

from . import data as _data
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optim
from . import threads as _threads
from .callbacks import Callback, CallbackList
from .core import Layer, NonFiniteError, all_finite, as_dtype
from .io import save_model
from .validation import Boolean, Integer, Real, check

__all__ = ["Sequential", "History"]


class History(Callback):
    """Per-epoch logs: ``history.history["loss"][e]`` is the mean training loss of epoch e."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


def _check_X(X, where: str, dtype) -> np.ndarray:
    """Validate X (2-D, numeric, finite; a DataFrame's numeric columns) and cast it once to the model's dtype."""
    X = np.asarray(_data.as_features(X, where))
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{where}: X must be numeric, got dtype {X.dtype}")
    if X.ndim < 2:
        raise ValueError(f"{where}: X must be at least 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{where}: X has no samples (shape {X.shape})")
    X = X.astype(dtype, copy=False)
    if not all_finite(X):
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{where}: X contains NaN or inf (first at row {bad[0]}, "
                         f"index {tuple(int(i) for i in bad[1:])})")
    return X


def _chunk_size(batch_size, n: int, where: str) -> int:
    """Rows per inference chunk: ``batch_size`` (a positive integer) or all n (None)."""
    if type(batch_size) is int and batch_size >= 1:  # the usual call, without the 5 µs of a full check
        return batch_size
    batch_size = check(where, "batch_size", batch_size, Integer(low=1), None)
    return n if batch_size is None else batch_size


def _fit_batch_size(batch_size, n: int) -> int:
    batch_size = check("fit", "batch_size", batch_size, Integer(low=1), None)
    return n if batch_size is None else min(batch_size, n)


def _diverged(where, loss, lr, norm, layer, detail) -> NonFiniteError:
    """The one NonFiniteError of a refused update, with its numbers as attributes."""
    err = NonFiniteError(f"training diverged {where}: loss = {loss}, lr = {lr}, gradient norm = {norm}; {detail}. "
                         "The update was not applied; the model keeps its last finite weights. "
                         "Try a smaller learning rate, gradient clipping (clipnorm=) or another init.")
    err.loss, err.lr, err.grad_norm, err.layer, err.where = loss, lr, norm, layer, detail
    if where.startswith("at epoch"):
        epoch, batch = where[len("at epoch "):].split(", batch ")
        err.epoch, err.batch = int(epoch), int(batch.split("/")[0])
    return err


def _printer(verbose, epochs, steps) -> Callback:
    """``verbose=1`` on a terminal with tqdm: a per-batch bar (loss, metrics, ETA); else one line per epoch."""
    if verbose == 1 and steps and _is_terminal(sys.stdout):
        try:
            import tqdm  # noqa: F401

            from .progress import ProgressBar
            return ProgressBar(epochs, steps, file=sys.stdout, disable=False)
        except ImportError:
            pass
    from .callbacks import EpochPrinter
    return EpochPrinter(epochs)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _label_dtype(classes):
    """The array dtype of the original labels: their common NumPy type, else object (mixed kinds)."""
    kinds = {type(c) for c in classes}
    return None if len(kinds) == 1 and not kinds & {tuple, frozenset} else object


def _json_classes(classes) -> list:
    """``classes_`` as JSON values for the model file: strings, integers, floats or bools."""
    out = []
    for c in classes:
        c = c.item() if isinstance(c, np.generic) else c
        if (not isinstance(c, (str, int, float, bool)) or (isinstance(c, float) and not math.isfinite(c))
                or (isinstance(c, str) and not (c.isprintable() and len(c) <= 1000))):
            raise ValueError(f"save: classes_ must be printable strings (at most 1000 characters) or finite numbers "
                             f"to be saved, got {c!r} ({type(c).__name__}); set model.classes_ to such labels")
        out.append(c)
    return out


def _checked_classes(classes, model) -> list:
    """``classes`` from a model file: distinct printable strings or numbers, one per class of the output."""
    ok = isinstance(classes, list) and all(
        (isinstance(c, str) and len(c) <= 1000 and c.isprintable())
        or (isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c)) or isinstance(c, bool)
        for c in classes)
    if not ok or len(set(map(repr, classes))) != len(classes):
        raise ValueError("classes must be a list of distinct printable strings or finite numbers")
    if model.built:
        k = model.output_dim
        if len(classes) != (2 if k == 1 else k):
            raise ValueError(f"classes has {len(classes)} entries for an output of {k} unit(s)")
    return classes


class _Batches:
    """The batches of one epoch: shuffled indices (not data) into reused buffers, K rows each."""

    def __init__(self, X, Y, w, K, rng):
        self.X, self.Y, self.w, self.K, self.rng = X, Y, w, K, rng
        self.count = -(-len(X) // K)
        self._bufs: dict[int, np.ndarray] = {}

    def epoch(self):
        X, Y, w, K, n = self.X, self.Y, self.w, self.K, len(self.X)
        order = self.rng.permutation(n) if self.rng is not None and K < n else None
        for lo in range(0, n, K):
            hi = min(lo + K, n)
            if order is None:
                yield X[lo:hi], Y[lo:hi], None if w is None else w[lo:hi]
                continue
            idx = order[lo:hi]
            buf = self._bufs.get(hi - lo)
            if buf is None:
                buf = self._bufs[hi - lo] = np.empty((hi - lo, *X.shape[1:]), dtype=X.dtype)
            # idx is in range; mode="clip" lets take write into the buffer without a copy
            yield np.take(X, idx, axis=0, out=buf, mode="clip"), Y[idx], None if w is None else w[idx]


class Sequential:
    """A feed-forward network H_K = f_K(... f_1(X W_1 + B_1) ... W_K + B_K).

    Parameters
    ----------
    layers : list of Layer
        In order from input to output. The first layer's ``input_dim`` (or the first
        data seen) fixes the input width; later widths are inferred.
    seed : int, optional
        Seeds the model's one ``np.random.Generator`` (initialisation, shuffling, dropout).
        Same seed, same data → bit-identical run. The global NumPy RNG is never used.
    dtype : {"float32", "float64"}
        Parameter and computation dtype; data is cast once at the boundary.

    Examples
    --------
    >>> import neuronlab as nl
    >>> m = nl.Sequential([nl.layers.Dense(2, "sigmoid", input_dim=4),
    ...                    nl.layers.Dense(1, "sigmoid")], seed=0)
    >>> m.predict(np.ones((3, 4))).shape
    (3, 1)
    """

    def __init__(self, layers=None, seed: int | None = None, dtype="float32"):
        self.seed = check("Sequential", "seed", seed, Integer(low=0), None)
        self.rng = np.random.default_rng(seed)
        self.dtype = as_dtype(dtype)
        self.layers: list[Layer] = []
        self.built = False
        self.loss: _losses.Loss | None = None
        self._criterion: _losses.Loss | None = None   # the loss on the raw output (logits when fused)
        self._head = None                              # the output activation the loss took over
        self.optimizer: _optim.Optimizer | None = None
        self.metrics: list[str] = []                   # the compiled metrics' names (log keys)
        self._metrics: list[_metrics.Metric] = []     # their instances for training ...
        self._val_metrics: list[_metrics.Metric] = []  # ... and for evaluate / validation
        self.classes_: list | None = None            # original labels of the classes, learned by fit
        self._metric_logs = True  # False while fit runs without a per-batch callback: metrics only stream
        self.stop_training = False
        self.history: History | None = None
        self.last_epoch_time = 0.0
        for layer in layers or []:
            self.add(layer)

    # -- construction -------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Append a layer (named ``dense_1``, ``dropout_1``, ... unless it has a name)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential takes Layer instances (for your own layer, subclass nl.Layer: see "
                            f"docs/extending.md), got {type(layer).__name__}")
        if layer.name is None:
            kind = getattr(type(layer), "name", type(layer).__name__.lower())
            count = sum(1 for other in self.layers if type(other) is type(layer)) + 1
            layer.name = f"{kind}_{count}"
        if any(other.name == layer.name for other in self.layers):
            raise ValueError(f"layer name {layer.name!r} is used twice")
        self.layers.append(layer)
        if self.loss is not None:
            self._choose_criterion()
        if self.built:
            layer.build(self.layers[-2].output_shape, self.rng, self.dtype)
            self._set_input_grad_flags()
        elif len(self.layers) == 1 and layer.input_shape is not None:
            self.build(layer.input_shape)

    def build(self, input_shape) -> None:
        """Create every layer's parameters for samples of ``input_shape`` (an int: features)."""
        if not self.layers:
            raise ValueError("the model has no layers")
        shape = (int(input_shape),) if np.isscalar(input_shape) else tuple(int(d) for d in input_shape)
        for layer in self.layers:
            shape = layer.build(shape, self.rng, self.dtype)
        self._set_input_grad_flags()
        self.built = True

    def _set_input_grad_flags(self):
        # no layer up to the first trainable one needs to compute ∂C/∂X
        trainable = [i for i, layer in enumerate(self.layers) if layer.params()]
        for i, layer in enumerate(self.layers):
            layer.needs_input_grad = bool(trainable) and i > trainable[0]

    def _ensure_built(self, input_shape) -> None:
        if not self.built:
            self.build(input_shape)

    @property
    def input_shape(self) -> tuple | None:
        """Shape of one sample (without the batch axis), once known."""
        return self.layers[0].input_shape if self.layers else None

    @property
    def input_dim(self) -> int | None:
        return self.layers[0].input_dim if self.layers else None

    @property
    def output_dim(self) -> int:
        if not self.built:
            raise ValueError("the model is not built yet: give the first layer input_dim or call fit/predict")
        return self.layers[-1].output_dim

    def params(self):
        """Every trainable Param, in ``get_weights`` order ([W1, B1, W2, B2, ...])."""
        if not self.built:
            return []
        return [p for layer in self.layers for p in layer.params()]

    def compile(self, loss="categorical_crossentropy", optimizer="sgd", metrics=None) -> None:
        """Choose the loss C, the optimizer and the metrics to report.

        When the output layer's activation is the loss's partner (softmax with categorical
        cross-entropy, sigmoid with binary cross-entropy), the loss receives the layer's Z
        (see :mod:`neuronlab.losses`): its value is exact for logits of any size and its
        gradient is ∂C/∂Z = (P - Y)/n. ``predict`` still returns P.
        """
        self.loss = _losses.get(loss)
        self.optimizer = _optim.get(optimizer)
        self._choose_criterion()
        self._set_metrics(metrics)

    def _set_metrics(self, metrics) -> None:
        """Metric instances (fresh copies: one set for training, one for evaluation) from names, classes or
        instances; a metric that asks (``multilabel=None``) learns from the loss whether outputs are labels."""
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"compile: metrics must be a list of names, Metric classes or instances, "
                            f"got {type(metrics).__name__}")
        made = []
        for spec in metrics or []:
            m = copy.deepcopy(_metrics.get(spec))
            if getattr(m, "multilabel", False) is None:
                m.multilabel = self._multilabel
            made.append(m)
        names = [m.name for m in made]
        if len(set(names)) != len(names) or "loss" in names:
            raise ValueError(f"compile: metric names must be distinct and not 'loss', got {names}")
        self._metrics, self._val_metrics = made, copy.deepcopy(made)
        self.metrics = names

    @property
    def compiled_metrics(self) -> list:
        """The training metric instances (their ``result()`` is the current epoch's running value)."""
        return list(self._metrics)

    def reset_metrics(self) -> None:
        """Start every compiled metric (training and evaluation) afresh."""
        for m in (*self._metrics, *self._val_metrics):
            m.reset()

    def _choose_criterion(self) -> None:
        """The loss on the network's raw output, and the activation that turns it into P."""
        last = self.layers[-1] if self.layers else None
        act = getattr(last, "activation", None)
        if (self.loss is not None and not self.loss.from_logits and act is not None
                and act.name == self.loss.partner and callable(getattr(last, "forward_z", None))):
            self._criterion, self._head = self.loss.with_logits(), act
        else:
            self._criterion, self._head = self.loss, None

    # -- passes -------------------------------------------------------------------------
    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """The network's output H for X by the training path (every layer caches its Z and H).

        ``training=True`` draws dropout masks and uses BatchNorm's batch statistics. For the
        whole step (loss, gradients, update) use :meth:`train_step` / :meth:`loss_and_grads`.
        """
        return self._predictions(self._forward(X, training))

    def _forward(self, X: np.ndarray, training: bool) -> np.ndarray:
        """What the loss reads: H of the output layer, or its Z when the loss takes logits."""
        *hidden, last = self.layers
        for layer in hidden:
            X = layer.forward(X, training)
        return last.forward_z(X, training) if self._head is not None else last.forward(X, training)

    def _backward(self, G: np.ndarray, on_layer=None) -> None:
        """Propagate ∂C/∂(what _forward returned) back through the layers, filling every ``Param.grad``.

        ``on_layer(layer, G)``, if given, sees the gradient arriving at each layer's output
        (∂C/∂Z for an output layer whose loss takes logits) before that layer's backward.
        """
        *hidden, last = self.layers
        if on_layer is not None:
            on_layer(last, G)
        G = last.backward_z(G) if self._head is not None else last.backward(G)
        for layer in reversed(hidden):
            if G is None:
                break
            if on_layer is not None:
                on_layer(layer, G)
            G = layer.backward(G)

    def _predictions(self, out: np.ndarray, copy: bool = True) -> np.ndarray:
        """P from the output of :meth:`_forward` (applies the output activation when the loss took Z)."""
        if self._head is None:
            return out
        return self._head.forward(out, out=np.empty_like(out) if copy else out)

    def _inference(self, X) -> np.ndarray:
        """Inference path: what the loss reads (Z of the output layer when the loss takes logits)."""
        *hidden, last = self.layers
        for layer in hidden:
            X = layer.predict(X)
        return last.predict_z(X) if self._head is not None else last.predict(X)

    # -- one step -----------------------------------------------------------------------
    def _require_compiled(self, where):
        if self.loss is None or self.optimizer is None:
            raise ValueError(f"{where}: call model.compile(loss=..., optimizer=...) before {where}")

    def _check_data(self, X, y, where, learn_classes=False):
        X = _check_X(X, where, self.dtype)
        self._ensure_built(X.shape[1:])
        self.layers[0].check_input(X)
        y = self._class_codes(y, where, learn_classes)
        Y = self._criterion.targets(y, self.layers[-1].output_shape, self.dtype, where)
        if len(Y) != len(X):
            raise ValueError(f"{where}: X has {len(X)} samples but y has {len(Y)}")
        return X, Y

    def _class_codes(self, y, where, learn):
        """Labels that are not numbers (strings, a pandas categorical) → class indices by ``classes_``
        (learned here by ``fit`` when the model has none yet); numeric y is returned as it is."""
        if not _data.needs_encoding(y):
            return y
        if self.classes_ is None and not learn:
            raise ValueError(f"{where}: y holds labels such as {np.asarray(y, dtype=object).reshape(-1)[:1][0]!r} "
                             "but the model has no classes_; fit it on such labels first, or give class indices")
        codes, classes = _data.encode_labels(y, self.classes_, where)
        if self.classes_ is None:
            k = self.layers[-1].output_shape[-1]
            if len(classes) != (2 if k == 1 else k):
                shown = ", ".join(map(repr, classes[:5])) + (", ..." if len(classes) > 5 else "")
                raise ValueError(f"{where}: y has {len(classes)} classes ({shown}) but the output layer has {k} "
                                 f"unit{'s' if k > 1 else ''} ({'2 classes' if k == 1 else f'{k} classes'})")
            self.classes_ = classes
        return codes

    def _batch(self, X, Y, sample_weight, where):
        """A batch as the step needs it: cast once, shapes checked (cheap: no pass over the data
        beyond the targets' range check; a NaN in X surfaces as a NonFiniteError)."""
        self._require_compiled(where)
        X = np.asarray(X)
        if X.dtype != self.dtype:
            X = _check_X(X, where, self.dtype)
        elif X.ndim < 2 or len(X) == 0:
            raise ValueError(f"{where}: X must be a non-empty batch of shape (n, ...), got shape {X.shape}")
        self._ensure_built(X.shape[1:])
        self.layers[0].check_input(X)
        Y = self._criterion.targets(Y, self.layers[-1].output_shape, self.dtype, where)
        if len(Y) != len(X):
            raise ValueError(f"{where}: X has {len(X)} samples but y has {len(Y)}")
        w = None if sample_weight is None else self._sample_weights(Y, sample_weight, None, where)
        return X, Y, w

    def _batch_logs(self, out, Y, loss, metrics=None) -> dict:
        """The loss of the batch and every metric's running value (metrics updated with this batch)."""
        logs = {"loss": loss}
        metrics = self._metrics if metrics is None else metrics
        if metrics:
            self._update_metrics(metrics, out, Y)
            if self._metric_logs:
                for m in metrics:
                    if m.per_batch:
                        logs[m.name] = m.result()
        return logs

    def _update_metrics(self, metrics, out, Y) -> None:
        """Feed a batch to each metric: P, or the logits Z of a fused output to metrics that read only
        argmax / the sign (σ(Z) > ½ ⇔ Z > 0, argmax softmax(Z) = argmax Z), so P is computed only if needed."""
        P = None
        for m in metrics:
            if self._head is None:
                m.update(out, Y)
            elif m.accepts_logits:
                m.update(out, Y, None, from_logits=True)
            else:
                if P is None:
                    P = self._predictions(out)
                m.update(P, Y)

    @property
    def _multilabel(self) -> bool:
        return isinstance(self.loss, _losses.BinaryCrossEntropy)

    def compute_loss(self, X, Y, sample_weight=None, training: bool = True) -> float:
        """C on one batch from a forward pass alone (no backward, no update).

        ``training=True`` runs the training path (dropout masks drawn from the model's
        generator, BatchNorm batch statistics), as :meth:`train_step` does.
        """
        X, Y, w = self._batch(X, Y, sample_weight, "compute_loss")
        out = self._forward(X, training=True) if training else self._inference(X)
        return self._criterion.value(out, Y, w)

    def loss_and_grads(self, X, Y, sample_weight=None, training: bool = True, on_layer=None) -> tuple[float, dict]:
        """C and ∂C/∂θ for one batch, without an update.

        ``training=True`` runs the training path (dropout masks drawn, BatchNorm batch
        statistics); False the inference behaviour of every layer. Every ``Param.grad`` is
        filled. Returns ``(C, {param name: copy of ∂C/∂param})`` in ``get_weights`` order.
        ``on_layer`` is passed to :meth:`backward`.
        """
        X, Y, w = self._batch(X, Y, sample_weight, "loss_and_grads")
        out = self._forward(X, training=training)
        loss = self._criterion.value(out, Y, w)
        self._backward(self._criterion.gradient(out, Y, w), on_layer)
        return loss, {p.name: p.grad.copy() for p in self.params()}

    def train_step(self, X, Y, sample_weight=None) -> dict:
        """One step of the guide's loop on one batch: forward, C, backward, optimizer update.

        Returns the batch logs: ``{"loss": C of this batch, <metric>: running value since the
        last :meth:`reset_metrics` (``fit`` resets every epoch), ...}``.
        A NaN/inf loss or gradient raises :class:`NonFiniteError` before the update, so the
        model keeps its last finite weights.
        """
        X, Y, w = self._batch(X, Y, sample_weight, "train_step")
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self._forward(X, training=True)
            loss, G = self._criterion.value_and_gradient(out, Y, w)
            logs = self._batch_logs(out, Y, loss)
            self._backward(G)
            self._update(loss)
        return logs

    def test_step(self, X, Y, sample_weight=None) -> dict:
        """The batch logs (loss, metrics of this batch alone) of the inference path, without any update."""
        X, Y, w = self._batch(X, Y, sample_weight, "test_step")
        for m in self._val_metrics:
            m.reset()
        out = self._inference(X)
        return self._batch_logs(out, Y, self._criterion.value(out, Y, w), self._val_metrics)

    def _update(self, loss):
        """The optimizer's update, refused when the loss or the gradient is NaN/inf.

        The loss is checked here; the optimizer checks the gradient norm ‖g‖ before touching
        any parameter. Either way the update is not applied and one :class:`NonFiniteError`
        gives the loss, η, ‖g‖ and the first layer, in backpropagation order (from the
        output), whose gradient is not finite; they are also its attributes.
        """
        params = self.params()
        if np.isfinite(loss):
            try:
                self.optimizer.step(params)
                return
            except NonFiniteError:
                pass  # reported below, with the loss and the layer
        norm = self.optimizer.global_norm(params)
        bad = next((p for p in reversed(params) if not np.isfinite(p.grad).all()), None)
        layer = None if bad is None else next(la.name for la in self.layers if any(p is bad for p in la.params()))
        where = (f"the gradient first went non-finite in layer {layer!r} ({bad.name}), going back from the output"
                 if bad is not None else "every gradient is finite")
        raise _diverged("in train_step", loss, self.optimizer.lr, norm, layer, where)

    # -- training ------------------------------------------------------------------------
    def fit(self, X, y=None, epochs: int = 1, batch_size: int | None = 32, shuffle: bool = True,
            validation_data=None, validation_split: float = 0.0, callbacks=None,
            verbose: int = 1, initial_epoch: int = 0, sample_weight=None,
            class_weight: dict | None = None, steps_per_epoch: int | None = None,
            validation_steps: int | None = None) -> History:
        """Train for ``epochs`` passes over (X, y) in batches of K = ``batch_size``: a loop over :meth:`train_step`.

        ``batch_size=None`` is full-batch gradient descent (K = n), 1 is SGD, k is
        mini-batch SGD. The order is reshuffled every epoch from the model's generator.
        y pairs with X row by row and may carry more axes: (n, T) integer targets for an
        output of shape (n, T, k) train a prediction at every time step. Class labels of any
        kind (strings, a pandas categorical) are numbered once; ``classes_`` keeps the originals
        (see :meth:`predict_classes`). X may be a DataFrame of numeric columns.
        X may instead be an iterable of ``(X, y)`` / ``(X, y, w)`` batches (an ``nl.data.Loader``,
        a generator: then give ``steps_per_epoch``), y then None.
        ``validation_split`` holds out the last fraction of (X, y) (before shuffling);
        ``validation_data`` (a pair, or an iterable of batches with ``validation_steps``)
        overrides it (as Keras), so then all of (X, y) is trained on.
        ``sample_weight`` (n,) and/or ``class_weight`` {label: weight} weight each sample's
        loss: C = (1/K) Σ_i w_i ℓ_i over a batch of K.
        ``verbose``: 0 silent, 1 a per-batch progress bar (loss, metrics, ETA) on a terminal
        with tqdm installed and one line per epoch otherwise, 2 one line per epoch.
        A NaN/inf loss or gradient stops training with :class:`NonFiniteError` before the
        update, so the model keeps its last finite weights.

        Returns
        -------
        History
            ``history.history`` maps "loss", metrics, "val_loss", "val_<metric>" and "lr"
            to per-epoch lists; metrics are exact over the epoch's batches (streamed).
        """
        self._require_compiled("fit")
        epochs = check("fit", "epochs", epochs, Integer(low=0))
        verbose = check("fit", "verbose", verbose, Integer(low=0, high=2), Boolean())
        if _data.is_batch_stream(X):
            for name, value in (("y", y), ("sample_weight", sample_weight), ("class_weight", class_weight)):
                if value is not None:
                    raise ValueError(f"fit: X is an iterable of (X, y[, w]) batches, so {name} must be None "
                                     "(each batch carries its own)")
            if validation_split:
                raise ValueError("fit: validation_split needs arrays; with batches give validation_data")
            batches = _data.StreamBatches(X, steps_per_epoch, "fit")
            K = getattr(X, "batch_size", None)
        else:
            if steps_per_epoch is not None:
                raise ValueError("fit: steps_per_epoch is for an iterable of batches; with arrays use batch_size")
            batches, validation_data = self._array_batches(X, y, batch_size, shuffle, sample_weight, class_weight,
                                                           validation_split, validation_data)
            K = batches.K
        validation = self._validation(validation_data, validation_steps)

        history = History()
        cbs = CallbackList([history, *(callbacks or [])], self)
        if verbose:
            cbs.append(_printer(verbose, epochs, batches.count))
        self.history = history
        self.stop_training = False
        # the running metric values in each batch's logs are for per-batch callbacks; none: skip them
        self._metric_logs = cbs.wants("on_batch_end")
        try:
            cbs.on_train_begin({})
            for epoch in range(initial_epoch, epochs):
                with self._threads(K):  # re-chosen each epoch
                    logs = self._fit_epoch(epoch, batches, validation, cbs)
                cbs.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
            cbs.on_train_end({})
        finally:
            self._metric_logs = True
        return history

    def _threads(self, K):
        """The BLAS thread policy for batches of K (none before the model is built, e.g. a stream's first epoch)."""
        if not self.built or not K:
            return contextlib.nullcontext()
        return _threads.blas_threads(_threads.batch_macs(self, K))

    def _array_batches(self, X, y, batch_size, shuffle, sample_weight, class_weight, validation_split,
                       validation_data):
        """Checked arrays → the epoch's batches, with the ``validation_split`` part held out as validation data."""
        if y is None:
            raise ValueError("fit: y is required with arrays X (or give X as an iterable of (X, y) batches)")
        shuffle = check("fit", "shuffle", shuffle, Boolean())
        X, Y = self._check_data(X, y, "fit", learn_classes=True)
        w = self._sample_weights(Y, sample_weight, class_weight, "fit")
        validation_split = check("fit", "validation_split", validation_split, Real(low=0, high=1, high_open=True))
        if validation_split and validation_data is None:
            n_val = int(round(len(X) * validation_split))
            if n_val == 0 or n_val == len(X):
                raise ValueError(f"fit: validation_split={validation_split} leaves no training or "
                                 f"validation sample out of {len(X)}")
            validation_data = (X[-n_val:], Y[-n_val:])
            X, Y = X[:-n_val], Y[:-n_val]
            w = None if w is None else w[:-n_val]
        K = _fit_batch_size(batch_size, len(X))
        return _Batches(X, Y, w, K, self.rng if shuffle else None), validation_data

    def _validation(self, validation_data, steps):
        """Validation data as ``("arrays", X, Y)`` or ``("stream", StreamBatches)``, checked once; or None."""
        if validation_data is None:
            return None
        if _data.is_batch_stream(validation_data):
            stream = _data.StreamBatches(validation_data, steps, "fit(validation_data)", arg="validation_steps")
            return ("stream", stream)
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a pair (X_val, y_val) or an iterable of (X, y) batches")
        return ("arrays", *self._check_data(*validation_data, where="fit(validation_data)"))

    def _fit_epoch(self, epoch, batches, validation, cbs) -> dict:
        """One epoch: every batch through :meth:`train_step`, then the epoch's logs."""
        cbs.on_epoch_begin(epoch, {})
        t0 = time.perf_counter()
        for m in self._metrics:
            m.reset()
        loss_sum, seen = 0.0, 0
        for b, (Xb, Yb, wb) in enumerate(batches.epoch()):
            size = len(Xb)
            cbs.on_batch_begin(b, {"size": size})
            try:
                logs = self.train_step(Xb, Yb, wb)
            except NonFiniteError as e:
                raise _diverged(f"at epoch {epoch + 1}, batch {b + 1}/{batches.count or '?'}", e.loss, e.lr,
                                e.grad_norm, e.layer, e.where) from None
            seen += size
            loss_sum += logs["loss"] * size
            cbs.on_batch_end(b, {**logs, "size": size})
            if self.stop_training:
                break
        logs = {"loss": loss_sum / max(seen, 1), **{m.name: m.result() for m in self._metrics}}
        if validation is not None:
            cbs.on_test_begin({})
            val = self._evaluate_batches(self._validation_batches(validation), cbs)
            cbs.on_test_end(val)
            logs.update({f"val_{k}": v for k, v in val.items()})
        logs["lr"] = float(self.optimizer.lr)
        self.last_epoch_time = time.perf_counter() - t0
        return logs

    def _validation_batches(self, validation, K=8192):
        if validation[0] == "stream":
            for Xb, Yb, wb in validation[1].epoch():
                yield self._batch(Xb, Yb, wb, "fit(validation_data)")
            return
        _, X, Y = validation
        for i in range(0, len(X), K):
            yield X[i:i + K], Y[i:i + K], None

    def _evaluate_batches(self, batches, cbs=None) -> dict:
        """Loss (size-weighted mean of the batch losses) and every metric, streamed over checked batches."""
        metrics = self._val_metrics
        for m in metrics:
            m.reset()
        loss_sum, seen = 0.0, 0
        for b, (Xb, Yb, wb) in enumerate(batches):
            if cbs is not None:
                cbs.on_test_batch_begin(b, {"size": len(Xb)})
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a diverged model: loss inf/nan
                out = self._inference(Xb)
                loss = self._criterion.value(out, Yb, wb)
            if metrics:
                self._update_metrics(metrics, out, Yb)
            loss_sum += loss * len(Xb)
            seen += len(Xb)
            if cbs is not None:
                cbs.on_test_batch_end(b, {"loss": loss, "size": len(Xb)})
        if not seen:
            raise ValueError("evaluate: no batch to evaluate")
        return {"loss": loss_sum / seen, **{m.name: m.result() for m in metrics}}

    def _sample_weights(self, Y, sample_weight, class_weight, where) -> np.ndarray | None:
        """Per-sample loss weights from ``sample_weight`` times ``class_weight[label]``."""
        w = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.shape != (len(Y),):
                raise ValueError(f"{where}: sample_weight must have shape ({len(Y)},), got {w.shape}")
            if not np.isfinite(w).all() or (w < 0).any():
                raise ValueError(f"{where}: sample_weight must be finite and >= 0")
        if class_weight is not None:
            out_shape = self.layers[-1].output_shape
            if len(out_shape) != 1:
                raise ValueError(f"{where}: class_weight needs one label per sample; the output has shape "
                                 f"(n, {', '.join(map(str, out_shape))}) (use sample_weight)")
            labels = Y if Y.ndim == 1 else (Y.argmax(axis=1) if Y.shape[1] > 1 else (Y[:, 0] > 0.5).astype(int))
            n_cls = self.output_dim if self.output_dim > 1 else 2
            table = np.ones(n_cls)
            for cls, cw in dict(class_weight).items():
                if self.classes_ is not None and cls in self.classes_:  # keyed by the original labels
                    cls = self.classes_.index(cls)
                if not isinstance(cls, (int, np.integer)) or not 0 <= cls < n_cls:
                    raise ValueError(f"{where}: class_weight key {cls!r} is not a class in [0, {n_cls})")
                table[cls] = float(cw)
            cw_samples = table[labels]
            w = cw_samples if w is None else w * cw_samples
        return None if w is None else w.astype(self.dtype)

    # -- inference ----------------------------------------------------------------------
    def predict(self, X, batch_size: int | None = 8192, callbacks=None) -> np.ndarray:
        """Output H of the last layer for X (probabilities for softmax/sigmoid outputs)."""
        X = _check_X(X, "predict", self.dtype)
        self._ensure_built(X.shape[1:])
        self.layers[0].check_input(X)
        K = _chunk_size(batch_size, len(X), "predict")
        # a diverged model predicts inf/nan without a RuntimeWarning on the user's terminal
        with _threads.blas_threads(lambda: _threads.batch_macs(self, min(K, len(X))), inference=True), \
                np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if not callbacks and len(X) <= K:  # the common call: one chunk, no hooks
                P = self._predictions(self._inference(X), copy=False)
                return P.copy() if np.may_share_memory(P, X) else P  # never a view of the caller's X
            cbs = CallbackList(callbacks or [], self)
            cbs.on_predict_begin({})
            parts = []
            for b, i in enumerate(range(0, len(X), K)):
                cbs.on_predict_batch_begin(b, {"size": min(K, len(X) - i)})
                parts.append(self._predictions(self._inference(X[i:i + K]), copy=False))
                cbs.on_predict_batch_end(b, {"size": len(parts[-1])})
            cbs.on_predict_end({})
        return np.concatenate(parts)

    def predict_classes(self, X, batch_size: int | None = 8192) -> np.ndarray:
        """The predicted class of each sample: argmax P over the last axis ([P > ½] for one output).

        As the original labels (``classes_``, learned when ``fit`` got labels such as strings or
        a pandas categorical, and saved in the model file), else as class indices.
        """
        P = self.predict(X, batch_size)
        idx = P.argmax(axis=-1) if P.shape[-1] > 1 else (P[..., 0] > 0.5).astype(np.intp)
        if self.classes_ is None:
            return idx
        return np.asarray(self.classes_, dtype=_label_dtype(self.classes_))[idx]

    def evaluate(self, X, y=None, batch_size: int | None = 8192, sample_weight=None, steps: int | None = None,
                 callbacks=None) -> dict:
        """Loss and the compiled metrics over all of (X, y) (or an iterable of batches): ``{"loss": ..., ...}``."""
        self._require_compiled("evaluate")
        cbs = CallbackList(callbacks or [], self)
        if _data.is_batch_stream(X):
            if y is not None or sample_weight is not None:
                raise ValueError("evaluate: X is an iterable of (X, y[, w]) batches, so y and sample_weight must "
                                 "be None")
            stream = _data.StreamBatches(X, steps, "evaluate", arg="steps", once=True)
            cbs.on_test_begin({})
            logs = self._evaluate_batches(self._validation_batches(("stream", stream)), cbs)
            cbs.on_test_end(logs)
            return logs
        if y is None:
            raise ValueError("evaluate: y is required with arrays X (or give X as an iterable of (X, y) batches)")
        X, Y = self._check_data(X, y, "evaluate")
        w = self._sample_weights(Y, sample_weight, None, "evaluate")
        K = _chunk_size(batch_size, len(X), "evaluate")
        cbs.on_test_begin({})
        with _threads.blas_threads(lambda: _threads.batch_macs(self, min(K, len(X))), inference=True):
            logs = self._evaluate_batches(((X[i:i + K], Y[i:i + K], None if w is None else w[i:i + K])
                                           for i in range(0, len(X), K)), cbs)
        cbs.on_test_end(logs)
        return logs

    # -- weights --------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """Copies of [W1, B1, W2, B2, ...], each W of shape (fan_in, fan_out)."""
        return [p.value.copy() for p in self.params()]

    def set_weights(self, weights) -> None:
        """Overwrite the parameters in place from a list shaped like ``get_weights()``."""
        params = self.params()
        if not self.built:
            raise ValueError("set_weights: the model is not built yet (give input_dim or call build)")
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(f"set_weights: expected {len(params)} arrays, got {len(weights)}")
        for p, w in zip(params, weights):
            w = np.asarray(w)
            if w.shape != p.value.shape:
                raise ValueError(f"set_weights: {p.name} has shape {p.value.shape}, got {w.shape}")
            if not np.isfinite(w).all():
                raise ValueError(f"set_weights: {p.name} contains NaN or inf")
        for p, w in zip(params, weights):
            p.value[...] = w

    def get_gradients(self) -> list[np.ndarray]:
        """Copies of the last computed [∂C/∂W1, ∂C/∂B1, ...] (also on each ``Param.grad``)."""
        return [p.grad.copy() for p in self.params()]

    def count_params(self) -> int:
        return int(sum(p.value.size for p in self.params()))

    def summary(self, print_fn=print) -> str:
        """A table of layers, output shapes and parameter counts (printed and returned)."""
        rows = [("Layer (type)", "Output shape", "Params")]
        for layer in self.layers:
            out = f"(None, {', '.join(map(str, layer.output_shape))})" if layer.output_shape else "?"
            rows.append((f"{layer.name} ({type(layer).__name__})", out,
                         f"{sum(p.value.size for p in layer.params()):,}"))
        w = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
        line = "-" * sum(w)
        text = [line] + [r[0].ljust(w[0]) + r[1].ljust(w[1]) + r[2].rjust(w[2]) for r in rows[:1]] + ["=" * sum(w)]
        text += [r[0].ljust(w[0]) + r[1].ljust(w[1]) + r[2].rjust(w[2]) for r in rows[1:]]
        text += ["=" * sum(w), f"Total params: {self.count_params():,}  (dtype {self.dtype})", line]
        out = "\n".join(text)
        if print_fn is not None:
            print_fn(out)
        return out

    def save(self, path, include_optimizer: bool = True, include_rng: bool = True, extra=None) -> None:
        """Write the model to a safetensors file; see :func:`neuronlab.io.save_model` and ``nl.load_model``."""
        save_model(self, path, include_optimizer=include_optimizer, include_rng=include_rng, extra=extra)

    def to_onnx(self, path, opset: int = 17) -> str:
        """Write the model as an ONNX file (``pip install "neuronlab[onnx]"``); see :mod:`neuronlab.interop.onnx`."""
        from .interop.onnx import to_onnx

        return to_onnx(self, path, opset=opset)

    def get_config(self) -> dict:
        """JSON-able architecture: layer types and their constructor arguments."""
        shape = list(self.input_shape) if self.input_shape else None
        config = {"seed": self.seed, "dtype": str(self.dtype), "input_shape": shape,
                  "layers": [{"type": getattr(type(la), "name", type(la).__name__), "name": la.name,
                              "config": la.config()} for la in self.layers]}
        if self.classes_ is not None:
            config["classes"] = _json_classes(self.classes_)
        return config

    @classmethod
    def from_config(cls, config: dict, before_build=None) -> Sequential:
        """Rebuild a model (unbuilt weights freshly initialised) from :meth:`get_config`.

        Layer types are looked up in the layer registry. ``before_build(layers, input_shape)``,
        if given, runs after the layers are made and before any allocates its parameters (the
        model-file loader checks the file's tensor shapes there).
        """
        from .layers import registry as layer_registry

        model = cls(seed=config.get("seed"), dtype=config.get("dtype", "float32"))
        layers, counts = [], {}
        for entry in config["layers"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("config") or {}, dict):
                raise TypeError("each layer must be an object with a 'config' object")
            layer = layer_registry.lookup(entry["type"]).from_config(dict(entry.get("config") or {}))
            if not isinstance(layer, Layer):
                raise TypeError(f"{entry['type']!r} did not make a layer")
            if entry.get("name") is not None:
                layer.name = str(entry["name"])
            else:  # the name add() gives, so that a file's tensors are found by name
                kind = getattr(type(layer), "name", type(layer).__name__.lower())
                counts[type(layer)] = counts.get(type(layer), 0) + 1
                layer.name = f"{kind}_{counts[type(layer)]}"
            layers.append(layer)
        shape = config.get("input_shape")
        if shape is None and layers:
            shape = layers[0].input_shape
        if before_build is not None:
            before_build(layers, shape)
        for layer in layers:
            model.add(layer)
        if config.get("input_shape") is not None and not model.built:
            model.build(tuple(config["input_shape"]))
        if config.get("classes") is not None:
            model.classes_ = _checked_classes(config["classes"], model)
        return model

    def __repr__(self):
        return f"Sequential({self.layers!r}, seed={self.seed!r})"
