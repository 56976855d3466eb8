"""Callbacks: code run by ``fit`` at the start/end of training, epochs and batches.

A callback sees the model as ``self.model``; setting ``self.model.stop_training = True``
ends training after the current batch.
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from .validation import Boolean, Instance, Integer, Options, Real, validated

__all__ = ["Callback", "CallbackList", "EpochPrinter", "EarlyStopping", "LambdaCallback", "ModelCheckpoint",
           "CSVLogger", "TensorBoard"]


class Callback:
    """Base class; override the hooks you need. ``logs`` is a dict of numbers.

    Keras' names work too: ``on_train_batch_begin`` / ``on_train_batch_end`` are the same hooks
    as ``on_batch_begin`` / ``on_batch_end``; ``on_test_*`` run in ``evaluate`` and in ``fit``'s
    validation, ``on_predict_*`` in ``predict``.
    """

    def __init__(self):
        self.model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


_BASE_HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))
# a hook the loop calls -> every name a callback may define it under (Keras' spelling included)
_ALIASES = {"on_batch_begin": ("on_batch_begin", "on_train_batch_begin"),
            "on_batch_end": ("on_batch_end", "on_train_batch_end")}


def _overrides(cb, name) -> bool:
    return name in vars(cb) or getattr(type(cb), name, None) is not getattr(Callback, name, None)


class CallbackList:
    """Calls each hook on every callback, in order."""

    def __init__(self, callbacks, model):
        self.callbacks = []
        for cb in callbacks:
            self.append(cb, model)
        self.model = model

    def append(self, cb, model=None):
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
        cb.set_model(model or self.model)
        self.callbacks.append(cb)
        for hook in _BASE_HOOKS:
            self.__dict__.pop(hook, None)

    def wants(self, hook) -> bool:
        """Whether any callback overrides ``hook`` (under any of its names)."""
        return any(_overrides(cb, name) for cb in self.callbacks for name in _ALIASES.get(hook, (hook,)))

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)
        # the callbacks that override this hook, bound once per list (a per-batch hook of no
        # callback then costs one empty loop)
        bound = [getattr(cb, name) for cb in self.callbacks for name in _ALIASES.get(hook, (hook,))
                 if _overrides(cb, name)]

        def call(*args):
            for method in bound:
                method(*args)

        if hook in _BASE_HOOKS:
            self.__dict__[hook] = call  # cached; append() clears the cache
        return call


class EpochPrinter(Callback):
    """``verbose=1``: one line per epoch with its time and logs."""

    def __init__(self, epochs, print_fn=print):
        super().__init__()
        self.epochs, self.print_fn = epochs, print_fn

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        t = getattr(self.model, "last_epoch_time", 0.0)
        parts = [f"{k}: {v:.4g}" for k, v in logs.items()]
        self.print_fn(f"Epoch {epoch + 1}/{self.epochs} - {t:.2f}s - " + " - ".join(parts))


def _buffers(model, copy=False) -> dict:
    """Every layer's non-trainable buffers (the layers' own arrays, or copies)."""
    return {k: (v.copy() if copy else v) for layer in model.layers for k, v in layer.buffers().items()}


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights`` the model ends with the weights (and non-trainable buffers,
    e.g. BatchNorm's running statistics) of its best epoch. ``min_delta`` counts by its size
    (``abs``, as Keras).
    """

    @validated({"monitor": Instance(str), "patience": Integer(low=0), "min_delta": Real(),
                "mode": Options("auto", "min", "max"), "restore_best_weights": Boolean()})
    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto",
                 restore_best_weights=False):
        super().__init__()
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.sign = 1.0 if mode == "min" else -1.0
        self.restore_best_weights = restore_best_weights
        self.best = np.inf
        self.best_epoch = None
        self.best_weights = None
        self.wait = 0
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.best_weights, self.best_epoch = np.inf, 0, None, None
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if not logs or self.monitor not in logs:
            raise ValueError(f"EarlyStopping: {self.monitor!r} is not in the logs "
                             f"({', '.join(logs or {})}); give validation data for val_* metrics")
        value = self.sign * logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = (self.model.get_weights(), _buffers(self.model, copy=True))
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            weights, buffers = self.best_weights
            self.model.set_weights(weights)
            for key, arr in _buffers(self.model).items():
                arr[...] = buffers[key]


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda e, logs: ...)``."""

    def __init__(self, **hooks):
        super().__init__()
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise ValueError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)


def _improved(mode, value, best) -> bool:
    return value < best if mode == "min" else value > best


def _auto_mode(mode, monitor) -> str:
    """'auto': maximise accuracies, F1, AUC, R² and the like; minimise losses and errors."""
    if mode != "auto":
        return mode
    higher = ("acc", "f1", "precision", "recall", "auc", "r2")
    return "max" if any(k in monitor for k in higher) else "min"


class ModelCheckpoint(Callback):
    """Save the model at the end of epochs: every epoch, or only when ``monitor`` improves.

    The file is ``model.save``'s (safetensors, written atomically: a crash leaves the old file or
    the new one), so ``nl.load_model(path)`` reads it back. ``path`` may hold fields filled from
    the epoch and its logs, as Keras: ``"ckpt-{epoch:02d}-{val_loss:.3f}.safetensors"``. The
    file's extra metadata records ``epoch`` (counted from 1) and the epoch's ``logs``.

    Parameters
    ----------
    path : str or PathLike
        Where to write (ends in ``.safetensors``).
    monitor : str
        The log value that decides "best" (``"val_loss"``, ``"val_accuracy"``, ``"loss"``, ...).
    mode : {"auto", "min", "max"}
        Whether smaller or larger is better; "auto" maximises accuracies/F1/AUC/R², minimises the rest.
    save_best_only : bool
        Write only when ``monitor`` improves on the best value so far.
    include_optimizer : bool
        Store the optimizer state too (resuming continues exactly).
    overwrite : bool
        Replace a file that existed before this callback wrote it (default False: FileExistsError,
        raised before training when ``path`` has no fields, else at the epoch that would replace it).
    """

    @validated({"monitor": Instance(str), "mode": Options("auto", "min", "max"), "save_best_only": Boolean(),
                "include_optimizer": Boolean(), "overwrite": Boolean()})
    def __init__(self, path, monitor="val_loss", mode="auto", save_best_only=False, include_optimizer=True,
                 overwrite=False):
        super().__init__()
        self.path = os.fspath(path)
        self.overwrite = overwrite
        self.monitor, self.save_best_only, self.include_optimizer = monitor, save_best_only, include_optimizer
        self.mode = _auto_mode(mode, monitor)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = None
        self.saved: list[str] = []

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = None
        if "{" not in self.path:
            self._refuse_to_replace(self.path)  # before any training, when the name is known

    def _refuse_to_replace(self, path):
        if not self.overwrite and path not in self.saved and os.path.lexists(path):
            raise FileExistsError(f"ModelCheckpoint: {path} already exists; pass overwrite=True to replace it")

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.save_best_only:
            if self.monitor not in logs:
                raise ValueError(f"ModelCheckpoint: monitor {self.monitor!r} is not in the logs "
                                 f"({', '.join(logs)}); give validation data for val_* values")
            value = float(logs[self.monitor])
            if not (math.isfinite(value) and _improved(self.mode, value, self.best)):
                return
            self.best, self.best_epoch = value, epoch
        try:
            path = self.path.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint: cannot fill the path {self.path!r} from epoch and the logs "
                             f"({', '.join(logs)}): {e}") from None
        self._refuse_to_replace(path)
        self.model.save(path, include_optimizer=self.include_optimizer,
                        extra={"epoch": epoch + 1, "logs": {k: float(v) for k, v in logs.items()}})
        self.saved.append(path)


class CSVLogger(Callback):
    """One CSV row per epoch: ``epoch`` (from 0, as Keras) and every log value; flushed each epoch.

    ``append=True`` continues an existing file (its header is kept); otherwise the file is
    started afresh at the beginning of training.
    """

    @validated({"separator": Instance(str), "append": Boolean()})
    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        if len(separator) != 1:
            raise ValueError(f"CSVLogger: separator must be one character, got {separator!r}")
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.keys = None
        self._file = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self.keys = None
        if exists:
            with open(self.filename, newline="") as f:
                header = next(csv.reader(f, delimiter=self.separator), None)
            self.keys = header[1:] if header else None
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # closed in on_train_end

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        writer = csv.writer(self._file, delimiter=self.separator)
        if self.keys is None:
            self.keys = list(logs)
            writer.writerow(["epoch", *self.keys])
        writer.writerow([epoch, *(repr(float(logs[k])) if k in logs else "" for k in self.keys)])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class TensorBoard(Callback):
    """Event files for TensorBoard (written by tensorboardX): every log value per epoch, as scalars.

    Training values go to ``<log_dir>/train`` and ``val_*`` values to ``<log_dir>/validation``
    under the same tag (``epoch_loss``, ``epoch_accuracy``, ...), so TensorBoard draws them on
    one chart. ``histogram_freq=k`` also writes histograms of every parameter and its last
    gradient every k epochs. ``pip install "neuronlab[tensorboard]"``; view with
    ``tensorboard --logdir <log_dir>``.
    """

    @validated({"histogram_freq": Integer(low=0)})
    def __init__(self, log_dir="logs", histogram_freq=0):
        super().__init__()
        try:
            from tensorboardX import SummaryWriter
        except ImportError as e:
            raise ImportError('TensorBoard needs the tensorboardX package: pip install "neuronlab[tensorboard]"') from e
        self._writer_class = SummaryWriter
        self.log_dir, self.histogram_freq = os.fspath(log_dir), histogram_freq
        self._writers = {}

    def _writer(self, which):
        if which not in self._writers:
            self._writers[which] = self._writer_class(os.path.join(self.log_dir, which))
        return self._writers[which]

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            which, tag = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            self._writer(which).add_scalar(f"epoch_{tag}", float(value), epoch)
        if self.histogram_freq and (epoch + 1) % self.histogram_freq == 0:
            writer = self._writer("train")
            for p in self.model.params():
                writer.add_histogram(p.name, p.value, epoch)
                writer.add_histogram(f"{p.name}/gradient", p.grad, epoch)
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, logs=None):
        for w in self._writers.values():
            w.close()
        self._writers = {}
