"""Dropout against over-fitting: a big network on a small, noisy training set, with and without dropout.

Sixty noisy "two moons" points, a 2-128-128-1 ReLU network trained far past the point of
fitting them. Without dropout it memorises the noise: the training loss keeps falling, the
validation loss turns back up, the gap between them grows, and the decision boundary curls
around single points. Dropout (rate P: every hidden neuron is dropped with probability P in
each training step; inverted dropout rescales the kept ones by 1/(1 - P)) stops the network
from relying on any single neuron: the gap stays smaller and the boundary smoother. Both
losses are measured in inference mode (no dropout) after every epoch.
"""

from __future__ import annotations

import numpy as np

from .. import layers as _layers
from .. import optimizers as _optim
from ..callbacks import Callback
from ..model import Sequential
from ._common import TAB10, figure, prepare, save, table, write_json

TOPIC = "dropout"


def moons(n: int, rng: np.random.Generator, noise: float = 0.35):
    """Two interleaved half circles with Gaussian noise; labels 0/1."""
    t = rng.uniform(0.0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(label == 0, np.cos(t), 1.0 - np.cos(t))
    y = np.where(label == 0, np.sin(t), 0.5 - np.sin(t))
    return np.c_[x, y] + noise * rng.normal(size=(n, 2)), label.astype(np.float64)


class _Curves(Callback):
    def __init__(self, train, val, every):
        super().__init__()
        self.train, self.val, self.every = train, val, every
        self.rows = []

    def _measure(self, epoch):
        tr, va = self.model.evaluate(*self.train), self.model.evaluate(*self.val)
        self.rows.append((epoch, tr["loss"], va["loss"], tr["accuracy"], va["accuracy"]))

    def on_train_begin(self, logs=None):
        self._measure(0)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self._measure(epoch + 1)


def build(rate: float, width: int = 128, seed: int = 0) -> Sequential:
    layers = [_layers.Dense(width, "relu", input_dim=2)]
    layers += [_layers.Dropout(rate)] if rate else []
    layers += [_layers.Dense(width, "relu")]
    layers += [_layers.Dropout(rate)] if rate else []
    layers += [_layers.Dense(1, "sigmoid")]
    model = Sequential(layers, seed=seed)
    model.compile(loss="binary_crossentropy", optimizer=_optim.SGD(lr=0.1, momentum=0.9), metrics=["accuracy"])
    return model


# Longer than ~60 lines on purpose: one claim of the guide from data to figures and table,
# read top to bottom; splitting it would scatter the claim over helpers that share its locals.
def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """Train the same network with dropout rate 0 and 0.5; compare the train/validation gap.

    Returns
    -------
    dict
        Per rate: ``epochs``, ``train_loss``, ``val_loss``, ``train_accuracy``,
        ``val_accuracy`` (measured every few epochs, entry 0 at init), the final ``loss_gap``
        (val - train) and ``accuracy_gap`` (train - val).
    """
    out_dir = prepare(out_dir)
    n_train, n_val, rate = 60, 2000, 0.5
    epochs = 100 if quick else 300
    every = 5
    rng = np.random.default_rng(seed)
    train, val = moons(n_train, rng), moons(n_val, rng)
    results, models = {}, {}
    for p in (0.0, rate):
        model = build(p, seed=seed)
        cb = _Curves(train, val, every)
        model.fit(*train, epochs=epochs, batch_size=10, verbose=0, callbacks=[cb])
        ep, tl, vl, ta, va = (list(c) for c in zip(*cb.rows))
        results[f"dropout {p:g}"] = {"rate": p, "epochs": ep, "train_loss": tl, "val_loss": vl, "train_accuracy": ta,
                                     "val_accuracy": va, "loss_gap": vl[-1] - tl[-1], "accuracy_gap": ta[-1] - va[-1],
                                     "best_val_loss": min(vl), "best_val_epoch": ep[int(np.argmin(vl))]}
        models[f"dropout {p:g}"] = model

    fig, axes = figure(1, 4, size=(18, 4.4))
    ax_l, ax_a = axes[0][:2]
    for k, (label, r) in enumerate(results.items()):
        ax_l.plot(r["epochs"], r["train_loss"], "--", color=TAB10[k], lw=2, label=f"{label}: train")
        ax_l.plot(r["epochs"], r["val_loss"], "-", color=TAB10[k], lw=2, label=f"{label}: validation")
        ax_a.plot(r["epochs"], r["train_accuracy"], "--", color=TAB10[k], lw=2, label=f"{label}: train")
        ax_a.plot(r["epochs"], r["val_accuracy"], "-", color=TAB10[k], lw=2, label=f"{label}: validation")
    ax_l.set(title="loss (inference mode)", xlabel="epoch", ylabel="binary cross-entropy C", yscale="log")
    ax_l.set_ylim(bottom=min(min(r["train_loss"]) for r in results.values()) / 8)  # room for the legend
    ax_a.set(title="accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0.4, 1.01))
    for ax in (ax_l, ax_a):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9)
    g = np.linspace(-2.0, 3.0, 200)
    G1, G2 = np.meshgrid(g, np.linspace(-1.8, 2.3, 160))
    grid = np.c_[G1.ravel(), G2.ravel()]
    for k, (label, model) in enumerate(models.items()):
        ax = axes[0][2 + k]
        P = model.predict(grid)[:, 0].reshape(G1.shape)
        ax.contourf(G1, G2, P, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
        ax.contour(G1, G2, P, levels=[0.5], colors="black", linewidths=1.5)
        Xt, yt = train
        ax.scatter(Xt[yt == 0, 0], Xt[yt == 0, 1], c=TAB10[0], edgecolors="k", s=25, label="class 0")
        ax.scatter(Xt[yt == 1, 0], Xt[yt == 1, 1], c=TAB10[3], edgecolors="k", s=25, label="class 1")
        r = results[label]
        ax.set(title=f"{label}: boundary (black), gap {r['loss_gap']:.2f}", xlabel="x₁", ylabel="x₂")
        ax.legend(fontsize=9, loc="lower left")
    fig.suptitle(f"Dropout on {n_train} noisy two-moons points (2-128-128-1 ReLU, SGD η = 0.1, momentum 0.9, "
                 f"K = 10, {epochs} epochs; validation: {n_val} new points)", fontsize=11)
    figures = [save(fig, out_dir, "dropout_overfitting")]

    numbers = {"n_train": n_train, "n_val": n_val, "epochs": epochs, "runs": results, "figures": figures}
    table("dropout: final train/validation loss and accuracy (inference mode)",
          ["run", "train C", "val C", "gap C", "train acc", "val acc", "gap acc"],
          [[lb, r["train_loss"][-1], r["val_loss"][-1], r["loss_gap"], r["train_accuracy"][-1],
            r["val_accuracy"][-1], r["accuracy_gap"]] for lb, r in results.items()])
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
