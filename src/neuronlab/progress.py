"""Live training progress: a tqdm bar per epoch and one summary line per epoch.

The bar shows the running mean loss and metrics of the epoch so far and tqdm's ETA; it is
drawn on stderr and only on a terminal (``disable=None``), so logs and pipes get just the
per-epoch lines. Those go to ``print_fn`` (stdout by default)::

    Epoch 3/6 - 2.41s - loss 0.0743 - accuracy 97.69% - val_loss 0.0817 - val_accuracy 97.60%
"""

from __future__ import annotations

import sys

from .callbacks import Callback

__all__ = ["ProgressBar", "format_logs"]


def format_logs(logs: dict) -> str:
    """``loss 0.0743 - accuracy 97.69% - ...``: accuracies as percentages, ``lr`` omitted."""
    parts = []
    for k, v in logs.items():
        if k in ("lr", "size"):
            continue
        parts.append(f"{k} {100 * v:.2f}%" if k.endswith("accuracy") else f"{k} {v:.4f}")
    return " - ".join(parts)


class ProgressBar(Callback):
    """Per-batch tqdm bar (loss, metrics, ETA) and a per-epoch line with validation metrics.

    Parameters
    ----------
    epochs : int
        Total epochs of the run (for "Epoch e/E").
    steps : int
        Batches per epoch (the bar's total).
    print_fn : callable
        Receives each epoch line (default: ``print`` to stdout).
    disable : bool or None
        None: draw the bar only when stderr is a terminal.
    """

    def __init__(self, epochs: int, steps: int, print_fn=print, disable=None, file=None):
        super().__init__()
        self.epochs, self.steps, self.print_fn = int(epochs), int(steps), print_fn
        self.disable, self.file = disable, file
        self.bar = None
        self._n = self._loss = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        from tqdm.auto import tqdm

        self._n = self._loss = 0.0
        self.bar = tqdm(total=self.steps, desc=f"Epoch {epoch + 1}/{self.epochs}", unit="batch", leave=False,
                        disable=self.disable, file=self.file or sys.stderr, dynamic_ncols=True, mininterval=0.2)

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        k = float(logs.get("size", 1))
        self._n += k
        self._loss += k * float(logs.get("loss", 0.0))
        if self.bar is not None:
            self.bar.update(1)
            if self.bar.n == self.steps or batch % 10 == 0:
                # the loss is the batch's (averaged here); metrics arrive as the epoch's running values
                running = {"loss": self._loss / self._n, **{k: v for k, v in logs.items() if k not in ("loss", "size")}}
                self.bar.set_postfix_str(format_logs(running).replace(" - ", ", "), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        self.close()
        t = getattr(self.model, "last_epoch_time", 0.0)
        self.print_fn(f"Epoch {epoch + 1}/{self.epochs} - {t:.2f}s - {format_logs(logs or {})}")

    def on_train_end(self, logs=None):
        self.close()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
