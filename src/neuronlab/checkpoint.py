"""Checkpoints and graceful Ctrl-C, so that an interrupted run can be resumed exactly.

A checkpoint is an ordinary model file (see :mod:`neuronlab.io`) holding, besides the
weights, everything the training loop carries from one epoch to the next: the optimizer
state (momentum buffers, Adam's moments and step counts), the state of the model's random
generator (next epoch's shuffle, dropout masks), the history so far and the epoch number.
Resuming from the end of epoch k with ``fit(..., initial_epoch=k + 1)`` therefore
continues bit for bit as the uninterrupted run would have.

The first Ctrl-C asks training to stop after the current batch (the partial epoch is not
checkpointed); a second one interrupts at once.

Each checkpoint is written atomically and carries a checksum (:func:`neuronlab.io.save_model`):
a kill at any moment or a full disk leaves the previous checkpoint intact, and weights with
NaN or inf are never written (``NonFiniteError``; training itself stops before applying such
an update).
"""

from __future__ import annotations

import signal
import threading

from .callbacks import Callback
from .io import save_model

__all__ = ["Checkpoint", "GracefulInterrupt", "merge_history"]


def merge_history(prior: dict | None, new: dict | None) -> dict:
    """Concatenate per-epoch lists key by key (``prior`` first)."""
    out = {k: list(v) for k, v in (prior or {}).items()}
    for k, v in (new or {}).items():
        out.setdefault(k, []).extend(v)
    return out


class GracefulInterrupt(Callback):
    """Turn the first SIGINT (Ctrl-C) into ``model.stop_training`` after the current batch.

    Use as a context manager around ``fit`` (the handler is installed only in the main
    thread and restored on exit). ``request()`` does what Ctrl-C does, for tests.
    """

    def __init__(self):
        super().__init__()
        self.interrupted = False
        self.epoch = None  # the epoch during which the interrupt arrived
        self._previous = None

    def request(self, *_):
        if self.interrupted:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.interrupted = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self.request)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch

    def on_batch_end(self, batch, logs=None):
        if self.interrupted and self.model is not None:
            if self.epoch is None:
                self.epoch = getattr(self, "_current", None)
            self.model.stop_training = True


class Checkpoint(Callback):
    """Save the full training state to ``path`` at the end of every completed epoch.

    Parameters
    ----------
    path : str
        The checkpoint file (overwritten atomically each epoch).
    prior_history, prior_times : optional
        History and epoch times of the epochs before this ``fit`` call (when resuming).
    extra : dict, optional
        JSON-able data stored with every checkpoint (e.g. the run's configuration).
    interrupt : GracefulInterrupt, optional
        An epoch cut short by Ctrl-C is not checkpointed.
    """

    def __init__(self, path, prior_history=None, prior_times=None, extra=None, interrupt=None):
        super().__init__()
        self.path = path
        self.prior_history = prior_history or {}
        self.times = list(prior_times or [])
        self.extra = dict(extra or {})
        self.interrupt = interrupt
        self.last_epoch = None

    def history(self) -> dict:
        new = self.model.history.history if self.model is not None and self.model.history else {}
        return merge_history(self.prior_history, new)

    def on_epoch_end(self, epoch, logs=None):
        if self.interrupt is not None and self.interrupt.interrupted:
            return
        self.times.append(float(getattr(self.model, "last_epoch_time", 0.0)))
        extra = {**self.extra, "epoch": int(epoch), "history": self.history(), "epoch_times": self.times}
        save_model(self.model, self.path, include_optimizer=True, include_rng=True, extra=extra)
        self.last_epoch = epoch
