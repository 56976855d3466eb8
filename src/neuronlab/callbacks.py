"""Callbacks: code run by ``fit`` at the start/end of training, epochs and batches.

A callback sees the model as ``self.model``; setting ``self.model.stop_training = True``
ends training after the current batch.
"""

from __future__ import annotations

import numpy as np

from .validation import Boolean, Instance, Integer, Options, Real, validated

__all__ = ["Callback", "CallbackList", "EpochPrinter", "EarlyStopping", "LambdaCallback"]


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
