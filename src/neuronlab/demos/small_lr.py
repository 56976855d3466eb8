"""A small η makes the new weights almost the old ones: the update ratio ‖ΔW‖ / ‖W‖ per layer.

The guide: "if η is small, the new weights are approximately equal to the old ones". The
size of that "approximately" is the update ratio ‖ΔW^K‖ / ‖W^K‖ of each layer K at each step
(ΔW = −η ∂C/∂W for plain SGD, so the ratio is proportional to η). A common rule of thumb puts
a healthy ratio near 1e-3. The same 2-32-32-1 tanh network, the same mini-batches (K = 32), on
the circles data set, trained with SGD at four η; the loss shows what each ratio buys.
"""

from __future__ import annotations

import numpy as np

from .. import layers as _layers
from .. import optimizers as _optim
from ..model import Sequential
from ._common import TAB10, circles, figure, prepare, save, table, write_json

TOPIC = "small-lr"
RATES = (0.001, 0.01, 0.1, 1.0)


def train(lr: float, X, y, steps: int, K: int, seed: int) -> dict:
    """``steps`` SGD train_steps at η = lr; per step the ratio ‖ΔW^K‖/‖W^K‖ of each layer's W and C."""
    model = Sequential([_layers.Dense(32, "tanh", input_dim=2), _layers.Dense(32, "tanh"),
                        _layers.Dense(1, "sigmoid")], seed=seed, dtype="float64")
    model.compile(loss="binary_crossentropy", optimizer=_optim.SGD(lr=lr))
    rng = np.random.default_rng(seed)
    ratios, loss = [[] for _ in range(3)], [model.evaluate(X, y)["loss"]]
    for _ in range(steps):
        idx = rng.choice(len(X), K, replace=False)
        before = model.get_weights()[0::2]  # W of each layer (B skipped)
        before = [w.copy() for w in before]
        model.train_step(X[idx], y[idx])
        after = model.get_weights()[0::2]
        for k, (w0, w1) in enumerate(zip(before, after)):
            ratios[k].append(float(np.linalg.norm(w1 - w0) / np.linalg.norm(w0)))
        loss.append(model.evaluate(X, y)["loss"])
    return {"lr": lr, "ratios": ratios, "loss": loss, "median_ratio": [float(np.median(r)) for r in ratios],
            "loss_drop": (loss[0] - loss[-1]) / loss[0]}


# Longer than ~60 lines on purpose: one claim of the guide from data to figures and table,
# read top to bottom; splitting it would scatter the claim over helpers that share its locals.
def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """Train one network at each η; record ‖ΔW^K‖/‖W^K‖ per layer and the loss per step.

    Returns
    -------
    dict
        ``runs["η = ..."]``: ``ratios`` [layer][step], ``median_ratio`` per layer, ``loss`` per
        step (full training set, entry 0 at init), ``loss_drop`` (relative, first to last).
    """
    out_dir = prepare(out_dir)
    rng = np.random.default_rng(seed)
    n, K = 512, 32
    steps = 150 if quick else 1000
    X, y = circles(n, rng)
    runs = {f"η = {lr:g}": train(lr, X, y, steps, K, seed) for lr in RATES}

    fig, axes = figure(1, 2, size=(12, 4.4))
    ax, ax_l = axes[0]
    t = np.arange(1, steps + 1)
    for k, (label, r) in enumerate(runs.items()):
        for layer, style in zip(range(3), ("-", "--", ":")):
            w = 10
            smooth = np.convolve(r["ratios"][layer], np.ones(w) / w, mode="valid")
            ax.loglog(t[w - 1:], smooth, style, color=TAB10[k], lw=1.8)
        ax_l.semilogx(np.arange(steps + 1) + 1, r["loss"], color=TAB10[k], lw=2, label=label)
    ax.axhline(1e-3, color="gray", lw=1)
    ax.text(11, 1.2e-3, "rule of thumb 1e-3", fontsize=9, color="gray")
    for k, label in enumerate(runs):  # two legends: colour = η, line style = layer
        ax.plot([], [], color=TAB10[k], lw=2, label=label)
    for layer, style in zip(range(3), ("-", "--", ":")):
        ax.plot([], [], style, color="black", label=f"layer {layer + 1}")
    ax.legend(fontsize=8.5, ncol=2, loc="lower left")
    ax.set(title="update ratio ‖ΔW^K‖ / ‖W^K‖ (mean of 10 steps)", xlabel="step", ylabel="ratio",
           ylim=(1e-7, 1))  # room below the lines for the legend
    ax_l.set(title="loss C on the training set", xlabel="step", ylabel="binary cross-entropy C")
    ax_l.legend(fontsize=9)
    for a in (ax, ax_l):
        a.grid(alpha=0.3, which="both")
        a.title.set_fontsize(11)
    fig.suptitle(f"SGD at four η, the same 2-32-32-1 tanh network and batches (K = {K}, circles, n = {n})",
                 fontsize=11)
    figures = [save(fig, out_dir, "small-lr_update_ratio")]

    numbers = {"n": n, "K": K, "steps": steps, "runs": runs, "figures": figures}
    table("small-lr: median update ratio ‖ΔW^K‖/‖W^K‖ per layer, and the loss",
          ["η", "layer 1", "layer 2", "layer 3", "C at start", "C at end", "drop"],
          [[label, *r["median_ratio"], r["loss"][0], r["loss"][-1], r["loss_drop"]] for label, r in runs.items()])
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
