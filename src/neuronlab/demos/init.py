"""Weight initialisation: forward spread, backward gradient spread and saturation, for all five.

A layer's output variance is about fan_in · Var(W) · (gain of f) times its input's, and the
gradient going back is scaled the same way by Wᵀ and f'. An initialiser is good for an
activation when, through a deep net, both stay level *and* the units do not saturate (tanh or
sigmoid outputs pinned near their limits, where f' ≈ 0; dead ReLU units). Measuring only the
forward spread misleads: He keeps tanh's activations larger than Xavier, but pushes more units
into saturation. The five initialisers: uniform U(±1/√fan_in), Xavier normal N(0, 2/(fan_in +
fan_out)), Xavier uniform U(±√(6/(fan_in + fan_out))), He normal N(0, 2/fan_in), He uniform
U(±√(6/fan_in)), each × sigmoid, tanh and ReLU, through the library's Dense layers
(``model.loss_and_grads``, ∂C/∂h^K read on the way back) on standard-normal inputs and
targets, MSE.
"""

from __future__ import annotations

import numpy as np

from .. import layers as _layers
from ..model import Sequential
from ._common import TAB10, figure, prepare, save, table, write_json

TOPIC = "init"
INITS = ("uniform", "xavier_normal", "xavier_uniform", "he_normal", "he_uniform")
ACTIVATIONS = ("sigmoid", "tanh", "relu")
STYLES = {"uniform": "-", "xavier_normal": "-", "xavier_uniform": "--", "he_normal": "-", "he_uniform": "--"}
COLORS = {"uniform": TAB10[7], "xavier_normal": TAB10[0], "xavier_uniform": TAB10[0], "he_normal": TAB10[3],
          "he_uniform": TAB10[3]}
SATURATED = 0.05  # a net with more than 5 % saturated (or dead) units in a layer is not recommended


def saturation(activation: str, H: np.ndarray) -> float:
    """Share of saturated units: |h| > 0.99 (tanh), h < 0.01 or > 0.99 (sigmoid), dead for every sample (ReLU)."""
    if activation == "tanh":
        return float(np.mean(np.abs(H) > 0.99))
    if activation == "sigmoid":
        return float(np.mean((H < 0.01) | (H > 0.99)))
    return float(np.mean(np.all(H == 0, axis=0)))


def measure(activation: str, init: str, depth: int, width: int, X, Y, seed: int) -> dict:
    """Forward std of h^K, backward std of ∂C/∂h^K and saturation per layer K = 1..depth."""
    layers = [_layers.Dense(width, activation, init=init, input_dim=X.shape[1])]
    layers += [_layers.Dense(width, activation, init=init) for _ in range(depth - 1)]
    model = Sequential(layers, seed=seed, dtype="float64")
    model.compile(loss="mse", optimizer="sgd")
    dH = {}

    def record(layer, G):  # ∂C/∂h^K, before the layer's own backward may overwrite it
        dH[layer.name] = float(G.std())
    model.loss_and_grads(X, Y, on_layer=record)
    H = [layer.H.copy() for layer in model.layers]  # cached by the forward pass of loss_and_grads
    fwd = [float(h.std()) for h in H]
    bwd = [dH[layer.name] for layer in model.layers]
    sat = [saturation(activation, h) for h in H]
    return {"forward_std": fwd, "backward_std": bwd, "saturation": sat, "forward_ratio": fwd[-1] / fwd[0],
            "backward_ratio": bwd[0] / bwd[-1], "max_saturation": max(sat), "first_layer_saturation": sat[0],
            "h1": H[0]}


def verdict(activation: str, res: dict) -> str | None:
    """The initialiser whose forward and backward spreads stay closest to level through the net
    (|log₁₀ forward ratio| + |log₁₀ backward ratio|), among those that saturate ≤ 5 % of units.

    ReLU's dead units are left out of the choice: with zero biases, scaling W does not change
    which units are dead, so every initialiser of one distribution kills the same ones."""
    ok = {i: r for i, r in res.items() if activation == "relu" or r["max_saturation"] <= SATURATED}
    if not ok:
        return None
    return min(ok, key=lambda i: abs(np.log10(ok[i]["forward_ratio"])) + abs(np.log10(ok[i]["backward_ratio"])))


# Longer than ~60 lines on purpose: one claim of the guide from data to figures and table,
# read top to bottom; splitting it would scatter the claim over helpers that share its locals.
def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """Every initialiser × activation: spreads per layer, saturation, and the verdict from them.

    Returns
    -------
    dict
        ``results[activation][init]``: ``forward_std``, ``backward_std``, ``saturation`` per
        layer, ``forward_ratio`` (last/first), ``backward_ratio`` (first/last), ``max_saturation``;
        ``best[activation]``: the verdict (None when every initialiser saturates);
        ``best_is_level[activation]``: whether its two ratios are both within 10× of 1.
    """
    out_dir = prepare(out_dir)
    depth, width, n = (10, 64, 128) if quick else (10, 256, 1000)
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n, width)), rng.normal(size=(n, width))
    results = {a: {i: measure(a, i, depth, width, X, Y, seed) for i in INITS} for a in ACTIVATIONS}
    best = {a: verdict(a, results[a]) for a in ACTIVATIONS}
    level = {a: bool(best[a]) and all(0.1 <= results[a][best[a]][k] <= 10 for k in ("forward_ratio", "backward_ratio"))
             for a in ACTIVATIONS}  # sigmoid: the best is only the least bad

    idx = np.arange(1, depth + 1)
    fig, axes = figure(2, 3, size=(15, 8))
    for c, act in enumerate(ACTIVATIONS):
        for r_, (key, what) in enumerate((("forward_std", "forward: std of h^K"),
                                          ("backward_std", "backward: std of ∂C/∂h^K"))):
            ax = axes[r_, c]
            for init, res in results[act].items():
                ax.semilogy(idx, res[key], STYLES[init], color=COLORS[init], lw=2, marker="o", ms=3, label=init)
            ax.set(title=f"{act}: {what}", xlabel="layer K", xticks=idx)
            ax.title.set_fontsize(11)
            ax.grid(alpha=0.3, which="both")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right center", fontsize=10)
    fig.suptitle(f"{depth} layers × {width} units, N(0, 1) inputs: both spreads should stay level "
                 "(solid: normal, dashed: uniform)", fontsize=11)
    figures = [save(fig, out_dir, "init_std_per_layer")]

    fig, axes = figure(1, 3, size=(15, 4.2))
    for c, act in enumerate(ACTIVATIONS):
        ax = axes[0, c]
        bins = np.linspace(0, 1, 41) if act == "sigmoid" else (np.linspace(-1, 1, 41) if act == "tanh"
                                                                else np.linspace(0, 6, 41))
        for init, res in results[act].items():
            ax.hist(np.clip(res["h1"].ravel(), bins[0], bins[-1]), bins=bins, histtype="step", lw=1.8,
                    color=COLORS[init], ls=STYLES[init], density=True,
                    label=f"{init}: {'dead' if act == 'relu' else 'saturated'} {res['first_layer_saturation']:.0%}")
        ax.set(title=f"{act}: layer-1 outputs h¹", xlabel="h¹", ylabel="density", yscale="log")
        ax.title.set_fontsize(11)
        ax.legend(fontsize=8.5, loc="upper center")
        ax.set_ylim(top=ax.get_ylim()[1] * 30)  # room for the legend above the histograms
    fig.suptitle("Saturation in the first layer: mass piled at the limits (sigmoid 0/1, tanh ±1; "
                 "ReLU: dead units)", fontsize=11)
    figures.append(save(fig, out_dir, "init_saturation"))

    for a in ACTIVATIONS:
        for r in results[a].values():
            r.pop("h1")
    numbers = {"depth": depth, "width": width, "n": n, "results": results, "best": best, "best_is_level": level,
               "figures": figures}
    table("init: forward std ratio h^10/h^1, backward std ratio ∂C/∂h^1 / ∂C/∂h^10, most saturated layer",
          ["activation", "init", "forward ratio", "backward ratio", "max saturated", "layer-1 saturated"],
          [[a, i, r["forward_ratio"], r["backward_ratio"], f"{r['max_saturation']:.1%}",
            f"{r['first_layer_saturation']:.1%}"] for a in ACTIVATIONS for i, r in results[a].items()])
    table("init: the verdict from these numbers (closest to level both ways; sigmoid/tanh: ≤ 5 % saturated)",
          ["activation", "best", "its spreads both within 10× of level"],
          [[a, best[a] or "none", bool(best[a]) and level[a]] for a in ACTIVATIONS])
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
