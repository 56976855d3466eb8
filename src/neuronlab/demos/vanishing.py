"""Vanishing gradients: a 10-layer network with sigmoid vs tanh vs ReLU.

Back-propagation multiplies the gradient by f'(Z) and Wᵀ at every layer. σ' <= 0.25, so
through 9 sigmoid layers the first layer's gradient ‖∂C/∂W¹‖ ends up orders of magnitude
smaller than the last layer's, and the first layers do not learn; tanh (f' <= 1, Xavier
init) and ReLU (f' = 1 where active, He init) keep the norms within a small factor.
Measured with ``nl.inspect`` on the library's own backward pass, at initialisation and
during training (``DiagnosticsCallback``).
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import initializers as _init
from .. import layers as _layers
from .. import optimizers as _optim
from ..inspect import DiagnosticsCallback, GradientWarning, layer_stats
from ..model import Sequential
from ._common import TAB10, circles, figure, prepare, save, table, write_json

TOPIC = "vanishing"
ACTIVATIONS = ("sigmoid", "tanh", "relu")  # init "auto": Xavier for sigmoid/tanh, He for relu


def deep_network(activation: str, depth: int = 10, width: int = 32, seed: int = 0, n_in: int = 2) -> Sequential:
    """``depth`` Dense layers (depth - 1 hidden of ``width``, then one sigmoid output), compiled for BCE."""
    layers = [_layers.Dense(width, activation, input_dim=n_in)]
    layers += [_layers.Dense(width, activation) for _ in range(depth - 2)]
    layers += [_layers.Dense(1, "sigmoid")]
    model = Sequential(layers, seed=seed)
    model.compile(loss="binary_crossentropy", optimizer=_optim.SGD(lr=0.1), metrics=["accuracy"])
    return model


# Longer than ~60 lines on purpose: one claim of the guide from data to figures and table,
# read top to bottom; splitting it would scatter the claim over helpers that share its locals.
def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """Per-layer gradient norms of 10-layer sigmoid / tanh / ReLU networks, at init and in training.

    Returns
    -------
    dict
        Per activation: ``grad_norms_init`` (layer 1..10), ``first_over_last_init``,
        ``first_over_last_trained``, ``loss`` and ``accuracy`` per epoch, plus the
        warnings the DiagnosticsCallback gave.
    """
    out_dir = prepare(out_dir)
    depth = 10
    n, epochs = (256, 4) if quick else (1024, 40)
    rng = np.random.default_rng(seed)
    X, y = circles(n, rng)
    results = {}
    for act in ACTIVATIONS:
        model = deep_network(act, depth, seed=seed)
        init = layer_stats(model, X, y)
        cb = DiagnosticsCallback()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GradientWarning)  # recorded in cb.warnings instead
            hist = model.fit(X, y, epochs=epochs, batch_size=32, verbose=0, callbacks=[cb])
        g = [s["grad_norm"] for s in init]
        names = [s["layer"] for s in init]
        first_series = hist.history[f"grad_norm/{names[0]}"]
        last_series = hist.history[f"grad_norm/{names[-1]}"]
        results[act] = {
            "init": _init.auto_for(act).name,
            "grad_norms_init": g,
            "first_over_last_init": g[0] / g[-1],
            "first_over_last_per_epoch": [a / b for a, b in zip(first_series, last_series)],
            "first_over_last_trained": first_series[-1] / last_series[-1],
            "grad_norms_trained": [hist.history[f"grad_norm/{nm}"][-1] for nm in names],
            "loss": hist.history["loss"], "accuracy": hist.history["accuracy"],
            "warnings": cb.warnings,
        }

    fig, axes = figure(1, 3, size=(15, 4.4))
    ax0, ax1, ax2 = axes[0]
    layers_idx = np.arange(1, depth + 1)
    for k, act in enumerate(ACTIVATIONS):
        r = results[act]
        label = f"{act} ({r['init']})"
        ax0.semilogy(layers_idx, r["grad_norms_init"], "o-", color=TAB10[k], lw=2, label=label)
        ax1.semilogy(np.arange(1, epochs + 1), r["first_over_last_per_epoch"], "o-", color=TAB10[k], lw=2,
                     ms=3, label=label)
        ax2.plot(np.arange(1, epochs + 1), r["loss"], color=TAB10[k], lw=2, label=label)
    ax0.set(title=f"‖∂C/∂W‖ per layer at initialisation ({depth} layers)", xlabel="layer K (1 = input side)",
            ylabel="gradient norm (log)", xticks=layers_idx)
    ax1.axhline(1e-3, color="gray", ls=":", lw=1)
    ax1.text(1, 1.4e-3, "10⁻³", color="gray", fontsize=9)
    ax1.set(title="first layer / last layer gradient norm", xlabel="epoch", ylabel="ratio (log)")
    ax2.set(title="training loss (binary cross-entropy)", xlabel="epoch", ylabel="C")
    for ax in (ax0, ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9)
    fig.suptitle(f"Vanishing gradients: {depth}-layer networks on 2-D circles (n = {n}, SGD η = 0.1, K = 32)")
    figures = [save(fig, out_dir, "vanishing_gradients")]

    numbers = {"depth": depth, "n": n, "epochs": epochs, "activations": results,
               "sigmoid_derivative_bound": 0.25 ** (depth - 1), "figures": figures}
    table(f"vanishing: ‖∂C/∂W¹‖ / ‖∂C/∂W^{depth}‖ (first / last layer)",
          ["activation", "init ratio", "trained ratio", "final loss", "final acc"],
          [[a, r["first_over_last_init"], r["first_over_last_trained"], r["loss"][-1], r["accuracy"][-1]]
           for a, r in results.items()])
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
