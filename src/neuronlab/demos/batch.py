"""Batch size K: gradient descent (K = n) vs stochastic (K = 1) vs mini-batch (1 < K < n).

The same network, data, η and epochs; only ``fit(batch_size=...)`` changes. GD makes one
smooth step per epoch; SGD makes n noisy steps (each sample pulls its own way: the guide's
zig-zag); mini-batches average K gradients, so the noise shrinks (its standard deviation by
about √K) while there are still n/K steps per epoch. Per epoch SGD and mini-batch get further;
per second of wall time the vectorised mini-batch wins, because one (K × d) matrix product
costs far less than K separate ones.
"""

from __future__ import annotations

import time

import numpy as np

from .. import layers as _layers
from .. import optimizers as _optim
from ..callbacks import Callback
from ..model import Sequential
from ._common import TAB10, figure, prepare, save, table, write_json

TOPIC = "batch"


class _Recorder(Callback):
    """Batch losses with their wall-clock times, and the full training loss after each epoch."""

    def __init__(self, X, y, watch: int = 0):
        super().__init__()
        self.X, self.y, self.watch = X, y, watch
        self.batch_loss, self.batch_time, self.epoch_loss, self.epoch_time = [], [], [], []
        self.full_loss = []  # the full training loss after each of the first ``watch`` updates
        self.t0 = 0.0
        self.paused = 0.0

    def on_train_begin(self, logs=None):
        self.epoch_loss.append(self.model.evaluate(self.X, self.y)["loss"])
        self.full_loss.append(self.epoch_loss[0])
        self.epoch_time.append(0.0)
        self.t0 = time.perf_counter()

    def on_batch_end(self, batch, logs=None):
        self.batch_loss.append(logs["loss"])
        self.batch_time.append(time.perf_counter() - self.t0 - self.paused)
        if len(self.full_loss) <= self.watch:  # not counted as training time
            t = time.perf_counter()
            self.full_loss.append(self.model.evaluate(self.X, self.y)["loss"])
            self.paused += time.perf_counter() - t

    def on_epoch_end(self, epoch, logs=None):
        t = time.perf_counter()
        self.epoch_time.append(t - self.t0 - self.paused)
        self.epoch_loss.append(self.model.evaluate(self.X, self.y)["loss"])  # not counted as training time
        self.paused += time.perf_counter() - t


# Longer than ~60 lines on purpose: one claim of the guide from data to figures and table,
# read top to bottom; splitting it would scatter the claim over helpers that share its locals.
def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """Train one MNIST MLP with K = n, 1 and 32 at the same η; compare noise, epochs and wall time.

    Returns
    -------
    dict
        Per K: ``epoch_loss`` (full training loss after each epoch, entry 0 at init),
        ``epoch_time`` (training seconds), ``updates``, ``noise`` (std / mean of the batch
        losses of the last epoch: 0 for GD's single batch), ``up_fraction`` (share of the first
        updates after which the *full* training loss was higher than before: a step uphill).
    """
    from ..datasets import load_mnist

    out_dir = prepare(out_dir)
    n, epochs, lr = (300, 3, 0.05) if quick else (2000, 12, 0.05)
    (Xall, yall), _ = load_mnist()
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(Xall))[:n]
    X, y = Xall[idx], yall[idx]
    results = {}
    for label, K in [("GD (K = n)", None), ("SGD (K = 1)", 1), ("mini-batch (K = 32)", 32)]:
        model = Sequential([_layers.Dense(32, "relu", input_dim=784), _layers.Dense(10, "softmax")], seed=seed)
        model.compile(loss="categorical_crossentropy", optimizer=_optim.SGD(lr=lr))
        rec = _Recorder(X, y, watch=200)
        model.fit(X, y, epochs=epochs, batch_size=K, verbose=0, callbacks=[rec])
        bl = np.array(rec.batch_loss)
        last = bl[-(len(bl) // epochs):]  # the last epoch's updates
        up = np.diff(rec.full_loss) > 0  # consecutive *batch* losses compare different batches: not a step uphill
        results[label] = {"K": n if K is None else K, "updates": len(bl), "updates_per_epoch": len(bl) // epochs,
                          "epoch_loss": rec.epoch_loss, "epoch_time": rec.epoch_time,
                          "seconds_per_epoch": rec.epoch_time[-1] / epochs,
                          "noise": float(np.std(last) / np.mean(last)),
                          "up_fraction": float(np.mean(up)) if len(up) else 0.0,
                          "final_loss": rec.epoch_loss[-1], "batch_loss": bl.tolist(), "full_loss": rec.full_loss,
                          "batch_time": rec.batch_time}

    fig, axes = figure(2, 3, size=(15, 8))
    shown = 400
    for k, (label, r) in enumerate(results.items()):
        ax = axes[0, k]
        bl = np.array(r["batch_loss"])[:shown]
        steps = np.arange(1, len(bl) + 1)
        if len(bl) < 30:
            ax.plot(steps, bl, "o-", color=TAB10[k], lw=1.5, ms=4)
        else:
            w = 25
            ax.plot(steps, bl, color=TAB10[k], lw=0.6, alpha=0.6, label="batch loss")
            ax.plot(steps[w - 1:], np.convolve(bl, np.ones(w) / w, mode="valid"), color="black", lw=1.5,
                    label=f"moving mean of {w}")
            ax.legend(fontsize=9, loc="upper right")
            ax.set_ylim(0, min(float(bl.max()) * 1.05, 6.0))
        ax.set(title=f"{label}: {r['updates_per_epoch']} update(s) per epoch",
               xlabel=f"update step (first {min(shown, r['updates'])})", ylabel="batch loss C")
        ax.grid(alpha=0.3)
        ax.title.set_fontsize(11)
    ax_e, ax_t, ax_n = axes[1]
    for k, (label, r) in enumerate(results.items()):
        ax_e.plot(np.arange(epochs + 1), r["epoch_loss"], "o-", color=TAB10[k], lw=2, ms=4, label=label)
        ax_t.plot(r["epoch_time"][1:], r["epoch_loss"][1:], "o-", color=TAB10[k], lw=2, ms=4, label=label)
    labels = list(results)
    for k, label in enumerate(labels):
        fl = results[label]["full_loss"]
        ax_n.plot(np.arange(len(fl)), fl, "o-" if len(fl) < 30 else "-", color=TAB10[k], lw=1.5, ms=4,
                  label=f"{label}: {100 * results[label]['up_fraction']:.0f}% of steps uphill")
    ax_n.set_yscale("log")
    ax_n.set_ylim(bottom=0.15)  # room under the curves for the legend
    ax_n.legend(fontsize=9, loc="lower left")
    ax_e.set(title="full training loss after each epoch", xlabel="epoch", ylabel="C", yscale="log")
    ax_t.set(title="full training loss against training time", xlabel="training wall time (s, log)", ylabel="C",
             yscale="log", xscale="log")
    ax_n.set(title="full training loss after each of the first 200 updates", xlabel="update step", ylabel="C")
    for ax in (ax_e, ax_t):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9)
    ax_n.grid(alpha=0.3, which="both")
    fig.suptitle(f"Batch size K on MNIST ({n} training images, 784-32-10, SGD η = {lr}, {epochs} epochs)",
                 fontsize=12)
    figures = [save(fig, out_dir, "batch_size")]

    numbers = {"n": n, "epochs": epochs, "lr": lr, "runs": results, "figures": figures}
    table("batch: the same η and epochs, three batch sizes (uphill: full C rose, first 200 updates)",
          ["run", "updates", "noise", "uphill", "final C", "s/epoch"],
          [[lb, r["updates"], r["noise"], f"{100 * r['up_fraction']:.0f}%", r["final_loss"], r["seconds_per_epoch"]]
           for lb, r in results.items()])
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
