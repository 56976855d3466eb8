"""Dropout's mechanism: a new random mask every step, the 1/(1 − P) scaling, and inference without it.

In each training step every hidden neuron is dropped (its output set to 0) with probability P,
independently, with a new draw every step: each step trains a different thinned network. The
kept outputs are multiplied by 1/(1 − P) (inverted dropout), so the expected output of each
neuron equals its output without dropout; at inference nothing is dropped and nothing scaled.
A 4-16-16-1 ReLU network with ``Dropout(0.5)`` after each hidden layer, trained on a small
data set; the masks are read from the library's ``Dropout.mask`` after every ``train_step``.
"""

from __future__ import annotations

import numpy as np

from .. import layers as _layers
from .. import optimizers as _optim
from ..model import Sequential
from ._common import TAB10, figure, prepare, save, save_gif, table, write_json

TOPIC = "dropout-masks"
P = 0.5
WIDTHS = (4, 16, 16, 1)


def build(seed: int) -> Sequential:
    model = Sequential([_layers.Dense(16, "relu", input_dim=4), _layers.Dropout(P), _layers.Dense(16, "relu"),
                        _layers.Dropout(P), _layers.Dense(1, "sigmoid")], seed=seed, dtype="float64")
    model.compile(loss="binary_crossentropy", optimizer=_optim.SGD(lr=0.1))
    return model


def masks_over_steps(model, X, y, steps: int, K: int, rng) -> list[np.ndarray]:
    """The keep-mask of sample 0 of each batch, per Dropout layer: [layer] → (steps, units) bools."""
    drops = [layer for layer in model.layers if isinstance(layer, _layers.Dropout)]
    out = [[] for _ in drops]
    for _ in range(steps):
        idx = rng.choice(len(X), K, replace=False)
        model.train_step(X[idx], y[idx])
        for k, d in enumerate(drops):
            out[k].append(d.mask[0].copy())
    return [np.array(m) for m in out]


def scaling(model, x, draws: int) -> dict:
    """Hidden outputs h of one sample, and the mean over ``draws`` of Dropout's training output,
    with its 1/(1 − P) scaling and with the scaling undone; inference output."""
    drop = model.layers[1]
    model.forward(x, training=False)
    h = model.layers[0].H.copy()  # h¹ of the sample, cached by the Dense layer
    outs = np.array([drop.forward(h, training=True).copy() for _ in range(draws)])
    inference = drop.forward(h, training=False)
    return {"h": h[0], "train_mean": outs.mean(axis=0)[0], "unscaled_mean": outs.mean(axis=0)[0] * (1 - P),
            "kept_fraction": float((outs != 0).sum() / max(np.count_nonzero(h) * draws, 1)),
            "inference": inference[0], "inference_max_diff": float(np.max(np.abs(inference - h)))}


def draw_network(ax, masks_step):
    """The 4-16-16-1 network with the dropped neurons of one step crossed out."""
    xs = np.arange(len(WIDTHS))
    pos = [np.linspace(-1, 1, w) if w > 1 else np.zeros(1) for w in WIDTHS]
    keep = [np.ones(WIDTHS[0], bool), masks_step[0], masks_step[1], np.ones(1, bool)]
    from matplotlib.collections import LineCollection

    segments = [[(xs[a], pos[a][i]), (xs[a + 1], pos[a + 1][j])] for a in range(len(WIDTHS) - 1)
                for i in np.flatnonzero(keep[a]) for j in np.flatnonzero(keep[a + 1])]
    ax.add_collection(LineCollection(segments, colors="gray", linewidths=0.4, alpha=0.6))
    for a in range(len(WIDTHS)):
        on = keep[a]
        ax.scatter(np.full(on.sum(), xs[a]), pos[a][on], s=70, color=TAB10[0], zorder=3, edgecolors="k")
        ax.scatter(np.full((~on).sum(), xs[a]), pos[a][~on], s=70, color="white", zorder=3, edgecolors="lightgray")
        ax.scatter(np.full((~on).sum(), xs[a]), pos[a][~on], s=40, marker="x", color=TAB10[3], zorder=4)
    ax.set(xlim=(-0.4, 3.4), ylim=(-1.15, 1.15), xticks=xs, xticklabels=["x", "h¹", "h²", "y_p"], yticks=[])


# Longer than ~60 lines on purpose: one claim of the guide from data to figures and table,
# read top to bottom; splitting it would scatter the claim over helpers that share its locals.
def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """Masks over training steps, the scaling over many draws, train vs inference.

    Returns
    -------
    dict
        ``masks`` [layer][step][unit] (True = kept), ``kept_fraction`` per layer over the steps,
        ``different_masks`` (share of consecutive steps whose masks differ), ``scaling``: mean
        training output over the draws with and without 1/(1 − P), the inference output.
    """
    out_dir = prepare(out_dir)
    rng = np.random.default_rng(seed)
    steps, draws = (8, 2000) if quick else (12, 20000)
    X = rng.normal(size=(64, 4))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.float64)
    model = build(seed)
    masks = masks_over_steps(model, X, y, steps, 8, rng)
    kept = [float(m.mean()) for m in masks]
    different = float(np.mean([np.any(m[t] != m[t + 1]) for m in masks for t in range(steps - 1)]))
    sc = scaling(model, X[:1], draws)

    fig, axes = figure(1, 3, size=(14, 4.4), gridspec_kw={"width_ratios": [1, 1, 1.3]})
    for k, m in enumerate(masks):
        ax = axes[0][k]
        ax.imshow(m.T, cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set(title=f"Dropout after layer {k + 1}: kept {kept[k]:.0%}", xlabel="training step",
               ylabel="neuron j of h" + "¹²"[k], xticks=range(steps), xticklabels=range(1, steps + 1))
        ax.title.set_fontsize(11)
    ax = axes[0][2]
    j = np.arange(len(sc["h"]))
    ax.bar(j - 0.27, sc["h"], 0.27, color=TAB10[0], label="h (no dropout) = inference output")
    ax.bar(j, sc["train_mean"], 0.27, color=TAB10[1], label=f"training, mean of {draws}: h·M/(1−P)")
    ax.bar(j + 0.27, sc["unscaled_mean"], 0.27, color=TAB10[2], label="the same without 1/(1−P)")
    ax.set(title=f"P = {P:g}: the scaling keeps E[output] = h", xlabel="neuron j of h¹", ylabel="output")
    ax.title.set_fontsize(11)
    ax.legend(fontsize=8.5, loc="upper left")
    ax.set_ylim(0, max(sc["h"].max(), sc["train_mean"].max()) * 1.45)
    fig.suptitle(f"White: kept, black: dropped (sample 0 of each batch); a new mask every step, P = {P:g}",
                 fontsize=11)
    figures = [save(fig, out_dir, "dropout-masks")]

    fig, axes = figure(1, 1, size=(4.6, 4.0))

    def frame(t):
        axes[0][0].clear()
        draw_network(axes[0][0], [m[t] for m in masks])
        axes[0][0].set_title(f"training step {t + 1}: dropped neurons ×", fontsize=11)
    figures.append(save_gif(fig, frame, steps, out_dir, "dropout-masks", fps=2))

    numbers = {"P": P, "steps": steps, "draws": draws, "masks": [m.tolist() for m in masks], "kept_fraction": kept,
               "different_masks": different, "scaling": sc, "figures": figures}
    nz = sc["h"] > 0
    table(f"dropout-masks: P = {P:g}, {steps} steps, {draws} draws for the means",
          ["quantity", "value"],
          [["kept share, layer 1 / layer 2", f"{kept[0]:.2f} / {kept[1]:.2f}"],
           ["consecutive steps with a different mask", different],
           ["mean training output / h (with 1/(1−P))", f"{np.mean(sc['train_mean'][nz] / sc['h'][nz]):.4f}"],
           ["the same without the scaling", f"{np.mean(sc['unscaled_mean'][nz] / sc['h'][nz]):.4f}"],
           ["max |inference output − h|", sc["inference_max_diff"]]])
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
