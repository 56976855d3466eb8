"""Exploding gradients: too-large initial weights, and two fixes (gradient clipping, a proper init).

With ReLU layers and W ~ N(0, (k σ_He)²), every layer multiplies the signal by about k, forward
(activations) and backward (the error ∂C/∂h that back-propagation carries): over 10 layers the
back-propagated gradient grows by ~k⁹ from the output to the input layer, the loss starts huge,
and one SGD step sends it to inf/NaN (``nl.NonFiniteError``). Clipping the global gradient norm
(``clipnorm``) keeps every step bounded so training stays finite and the loss falls; He
initialisation (k = 1) removes the cause.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import initializers as _init
from .. import layers as _layers
from .. import optimizers as _optim
from ..callbacks import LambdaCallback
from ..core import NonFiniteError
from ..inspect import DiagnosticsCallback, GradientWarning, backprop_norms, layer_stats
from ..model import Sequential
from ._common import TAB10, figure, prepare, regression_2d, save, table, write_json

TOPIC = "exploding"
SCALE = 2.0  # k: the too-large init is k × He's standard deviation


def deep_relu(init, depth: int = 10, width: int = 32, seed: int = 0) -> Sequential:
    layers = [_layers.Dense(width, "relu", init=init, input_dim=2)]
    layers += [_layers.Dense(width, "relu", init=init) for _ in range(depth - 2)]
    layers += [_layers.Dense(1, init=init)]
    return Sequential(layers, seed=seed)


# Longer than ~60 lines on purpose: one claim of the guide from data to figures and table,
# read top to bottom; splitting it would scatter the claim over helpers that share its locals.
def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """Per-layer gradient norms and loss curves for too-large init, + clipping, and He init.

    Returns
    -------
    dict
        Per run: ``backprop_norms`` (‖∂C/∂h^K‖, K = 1..10), ``grad_norms`` (‖∂C/∂W^K‖),
        ``initial_loss``, ``loss`` per epoch, ``diverged`` and where (``error``).
    """
    out_dir = prepare(out_dir)
    depth = 10
    n, epochs = (256, 3) if quick else (1024, 30)
    rng = np.random.default_rng(seed)
    X, y = regression_2d(n, rng)
    big = _init.VarianceScaling(scale=2.0 * SCALE ** 2, mode="fan_in")  # σ = k √(2 / fan_in)
    runs = [("too large (k = 2)", big, None), ("too large + clipnorm = 1", big, 1.0),
            ("He init", "he_normal", None)]
    results = {}
    for label, init, clip in runs:
        model = deep_relu(init, depth, seed=seed)
        model.compile(loss="mse", optimizer=_optim.SGD(lr=0.01, clipnorm=clip))
        initial = model.evaluate(X, y)["loss"]
        bp = backprop_norms(model, X, y)
        gn = [s["grad_norm"] for s in layer_stats(model)]
        cb = DiagnosticsCallback()
        batch_losses = [initial]
        rec = LambdaCallback(on_batch_end=lambda b, logs, out=batch_losses: out.append(logs["loss"]))
        error = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GradientWarning)
            try:
                model.fit(X, y, epochs=epochs, batch_size=32, verbose=0, callbacks=[cb, rec])
            except NonFiniteError as exc:
                error = str(exc)
                batch_losses.append(float("inf"))  # the step that was refused
        loss = list(model.history.history.get("loss", []))
        bpv = list(bp.values())
        results[label] = {"init_std_over_he": SCALE if init is big else 1.0, "clipnorm": clip,
                          "initial_loss": initial, "backprop_norms": bpv, "grad_norms": gn,
                          "growth_input_over_output": bpv[0] / bpv[-1],
                          "growth_per_layer": (bpv[0] / bpv[-1]) ** (1.0 / (depth - 1)),
                          "loss": loss, "batch_loss": batch_losses, "final_loss": loss[-1] if loss else float("nan"),
                          "diverged": error is not None, "error": error, "warnings": cb.warnings}

    fig, axes = figure(1, 3, size=(15, 4.4))
    ax0, ax1, ax2 = axes[0]
    idx = np.arange(1, depth + 1)
    for k, (label, r) in enumerate(results.items()):
        if r["clipnorm"] is None:  # clipping does not change the gradients at initialisation
            ax0.semilogy(idx, r["backprop_norms"], "o-", color=TAB10[k], lw=2, label=label)
            ax1.semilogy(idx, r["grad_norms"], "o-", color=TAB10[k], lw=2, label=label)
        bl = np.array(r["batch_loss"], dtype=np.float64)
        finite = np.isfinite(bl)
        steps = np.arange(len(bl)) + 1  # log x axis: the diverged run's few steps stay visible
        ax2.loglog(steps[finite], bl[finite], "o-" if finite.sum() < 10 else "-", color=TAB10[k],
                   lw=2.5 if finite.sum() < 10 else 1.2, ms=9,
                   label=label + (" → inf (NonFiniteError)" if r["diverged"] else ""))
        if r["diverged"]:
            last = steps[finite][-1]
            ax2.plot([last + 1], [1e7], "X", color=TAB10[k], ms=14)  # the refused step, drawn at the top
            ax2.annotate(f"update {last}: C = inf,\nNonFiniteError, training stops", xy=(last + 1, 1e7),
                         xytext=(8, 3e6), color=TAB10[k], fontsize=10, va="center",
                         arrowprops={"arrowstyle": "->", "color": TAB10[k]})
    ax0.set(title=r"back-propagated $\Vert\partial C/\partial h^K\Vert$ at initialisation",
            xlabel="layer K (1 = input side)", ylabel="norm (log)", xticks=idx)
    ax1.set(title=r"weight gradients $\Vert\partial C/\partial W^K\Vert$ at initialisation", xlabel="layer K",
            ylabel="norm (log)", xticks=idx)
    ax1.text(0.03, 0.6, "activations grow ×k per layer forward and ∂C/∂h ×k\nbackward, so ∂C/∂W = hᵀ ∂C/∂Z "
             "is level - and huge", transform=ax1.transAxes, fontsize=9, va="center")
    ax2.set(title="batch loss per update (MSE; 1 = at init)", xlabel="update step (log)", ylabel="C (log)",
            ylim=(1e-6, 3e7))  # room under the curves for the legend
    for ax in (ax0, ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.title.set_fontsize(11)
        ax.legend(fontsize=9, loc={ax0: "upper right", ax1: "lower right", ax2: "lower left"}[ax],
                  bbox_to_anchor={ax0: None, ax1: (1, 0.1), ax2: None}[ax])
    fig.suptitle(f"Exploding gradients: {depth}-layer ReLU nets, W ~ N(0, (k·σ_He)²), SGD η = 0.01, K = 32, "
                 f"n = {n}", fontsize=12)
    figures = [save(fig, out_dir, "exploding_gradients")]

    numbers = {"depth": depth, "n": n, "epochs": epochs, "k": SCALE, "runs": results, "figures": figures}
    table("exploding: back-propagated gradient growth and the loss",
          ["run", "‖∂C/∂h¹‖/‖∂C/∂h^10‖", "per layer", "initial C", "final C", "diverged"],
          [[lb, r["growth_input_over_output"], r["growth_per_layer"], r["initial_loss"], r["final_loss"],
            r["diverged"]] for lb, r in results.items()])
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
