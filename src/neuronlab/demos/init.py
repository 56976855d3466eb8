"""Weight initialisation: the activations of every layer of a deep net, for uniform, Xavier and He.

A layer's output variance is about fan_in · Var(W) · (gain of f) times its input's. With
U(±1/√fan_in) (Var = 1/(3 fan_in)) the activations shrink layer by layer for tanh and for
ReLU (geometrically: ~1/√3 per layer for tanh near 0, ~1/√6 for ReLU); Xavier (Var =
2/(fan_in + fan_out) = 1/fan_in here) keeps tanh's within a few × over 10 layers (tanh' < 1
away from 0 still shrinks it slowly) but loses 1/√2 per ReLU layer; ReLU zeroes half of its
inputs and needs He's Var = 2/fan_in to stay level. Forward pass only, through
the library's Dense layers (``model.forward``), on standard-normal inputs.
"""

from __future__ import annotations

import numpy as np

from .. import layers as _layers
from ..model import Sequential
from ._common import TAB10, figure, prepare, save, table, write_json

TOPIC = "init"
INITS = ("uniform", "xavier_normal", "he_normal")
ACTIVATIONS = ("tanh", "relu")


def activations_per_layer(activation: str, init: str, depth: int, width: int, X, seed: int):
    """The outputs h^K of every layer K = 1..depth of a fresh ``depth``-layer net on X."""
    layers = [_layers.Dense(width, activation, init=init, input_dim=X.shape[1])]
    layers += [_layers.Dense(width, activation, init=init) for _ in range(depth - 1)]
    model = Sequential(layers, seed=seed)
    model.forward(X.astype(np.float32), training=True)
    return [layer.H.copy() for layer in model.layers]


# Longer than ~60 lines on purpose: one claim of the guide from data to figures and table,
# read top to bottom; splitting it would scatter the claim over helpers that share its locals.
def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """Histograms and standard deviations of each layer's activations, per init and activation.

    Returns
    -------
    dict
        ``std[activation][init]``: std of h^K for K = 1..depth; ``last_over_first``: their ratio;
        ``zero_fraction`` for ReLU (share of exact zeros in the last layer).
    """
    out_dir = prepare(out_dir)
    depth, width, n = (10, 128, 256) if quick else (10, 256, 1000)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, width))
    std, ratio, zeros, hs = {}, {}, {}, {}
    for act in ACTIVATIONS:
        std[act], ratio[act], zeros[act] = {}, {}, {}
        for init in INITS:
            H = activations_per_layer(act, init, depth, width, X, seed)
            hs[(act, init)] = H
            s = [float(h.std()) for h in H]
            std[act][init] = s
            ratio[act][init] = s[-1] / s[0]
            if act == "relu":
                zeros[act][init] = float(np.mean(H[-1] == 0))

    shown = [0, 2, 5, depth - 1]  # layers 1, 3, 6, 10
    fig, axes = figure(len(ACTIVATIONS), len(INITS), size=(15, 8))
    for r_, act in enumerate(ACTIVATIONS):
        for c, init in enumerate(INITS):
            ax = axes[r_, c]
            H = hs[(act, init)]
            if act == "tanh":
                bins = np.linspace(-1, 1, 61)
            else:
                top = max(float(np.percentile(H[k], 99.5)) for k in shown)
                bins = np.linspace(0, max(top, 1e-6), 61)
            for j, k in enumerate(shown):
                data = H[k].ravel() if act == "tanh" else H[k][H[k] > 0].ravel()
                ax.hist(data, bins=bins, histtype="step", lw=1.8, color=TAB10[j], density=True,
                        label=f"layer {k + 1}: std {std[act][init][k]:.2g}")
            ax.set(title=f"{act}, {init}", xlabel="h" if act == "tanh" else "h (> 0 only; zeros left out)",
                   ylabel="density", yscale="log")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
    fig.suptitle(f"Activations per layer of {depth}-layer, {width}-wide networks on N(0, 1) inputs "
                 f"(n = {n}): uniform U(±1/√fan_in), Xavier N(0, 2/(fan_in+fan_out)), He N(0, 2/fan_in)")
    figures = [save(fig, out_dir, "init_histograms")]

    fig, axes = figure(1, 2, size=(12, 4.4))
    idx = np.arange(1, depth + 1)
    for c, act in enumerate(ACTIVATIONS):
        ax = axes[0, c]
        for k, init in enumerate(INITS):
            ax.semilogy(idx, std[act][init], "o-", color=TAB10[k], lw=2, label=init)
        ax.set(title=f"{act}: std of h per layer", xlabel="layer K", ylabel=r"std($h^K$) (log)", xticks=idx)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9)
    fig.suptitle("Which initialisation keeps the signal alive through 10 layers")
    figures.append(save(fig, out_dir, "init_std_per_layer"))

    numbers = {"depth": depth, "width": width, "n": n, "std": std, "last_over_first": ratio,
               "zero_fraction": zeros, "figures": figures}
    table("init: std of the last layer's activations / the first layer's",
          ["activation", *INITS], [[a, *(ratio[a][i] for i in INITS)] for a in ACTIVATIONS])
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
