"""Each activation f and its derivative f' (the guide's activation functions).

Claim: the sigmoid's derivative σ'(Z) = σ(Z)(1 - σ(Z)) peaks at 0.25 (at Z = 0), so every
sigmoid layer multiplies the back-propagated gradient by at most 0.25; tanh' peaks at 1,
ReLU' is 1 for every Z > 0. The curves are computed by the library's activations
(``apply`` and ``derivative``), and each derivative is checked against central differences.
"""

from __future__ import annotations

import numpy as np

from .. import activations as _act
from ._common import TAB10, figure, prepare, save, table, write_json

TOPIC = "activations"


# Longer than ~60 lines on purpose: one claim of the guide from data to figures and table,
# read top to bottom; splitting it would scatter the claim over helpers that share its locals.
def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """Plot every registered element-wise activation and its derivative; return their peaks.

    Returns
    -------
    dict
        ``{"activations": {name: {"max_derivative", "argmax_z", "derivative_check_error",
        "f_range"}}, "sigmoid_peak": 0.25..., "sigmoid_10_layer_bound": 0.25**9, "figures": [...]}``
    """
    out_dir = prepare(out_dir)
    z = np.linspace(-6.0, 6.0, 1201 if not quick else 241)  # includes z = 0
    names = [n for n in _act.names() if n != "softmax"]  # softmax is not element-wise
    results, curves = {}, {}
    h = 1e-6
    for name in names:
        act = _act.get(name)
        f = act.forward(z.copy())
        d = act.derivative(z, f)
        numeric = (act.forward(z + h) - act.forward(z - h)) / (2 * h)
        smooth = np.abs(z) > 1e-3  # ReLU-like kinks at 0 have no derivative
        err = float(np.max(np.abs(d[smooth] - numeric[smooth])))
        i = int(np.argmax(d))
        results[name] = {"max_derivative": float(d[i]), "argmax_z": float(z[i]), "derivative_check_error": err,
                         "f_range": [float(f.min()), float(f.max())]}
        curves[name] = (f, d)

    ncols = 3
    nrows = -(-(len(names) + 1) // ncols)
    fig, axes = figure(nrows, ncols, size=(12, 3.6 * nrows))
    flat = axes.ravel()
    for k, name in enumerate(names):
        f, d = curves[name]
        ax = flat[k]
        ax.plot(z, f, color=TAB10[0], lw=2, label="f(Z)")
        ax.plot(z, d, color=TAB10[3], lw=2, ls="--", label="f'(Z)")
        r = results[name]
        ax.plot([r["argmax_z"]], [r["max_derivative"]], "o", color=TAB10[3], ms=5)
        extra = f", α = {_act.get(name).alpha:g}" if hasattr(_act.get(name), "alpha") else ""
        ax.set(title=f"{name}: max f' = {r['max_derivative']:.3g}{extra}", xlabel="Z", ylabel="value",
               ylim=(max(-1.2, min(-0.1, float(f.min()) - 0.1)), min(3.0, float(f.max()) + 0.2) if f.max() > 1.5
                     else 1.2))
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=9)
    ax = flat[len(names)]
    for k, name in enumerate(names):
        if name in ("sigmoid", "tanh", "relu"):
            ax.plot(z, curves[name][1], color=TAB10[k], lw=2, label=f"{name}'")
    ax.set(title="Derivatives compared", xlabel="Z", ylabel="f'(Z)", ylim=(-0.05, 1.15))
    if "sigmoid" in results:
        peak = results["sigmoid"]["max_derivative"]
        ax.axhline(0.25, color="gray", ls=":", lw=1)
        ax.annotate(f"σ' max = {peak:.2f}", xy=(0, peak), xytext=(1.2, 0.5),
                    arrowprops={"arrowstyle": "->", "color": "black"})
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    for ax in flat[len(names) + 1:]:
        ax.set_visible(False)
    fig.suptitle("Activation functions (solid) and their derivatives (dashed), from nl.activations")
    figures = [save(fig, out_dir, "activations_functions")]

    numbers = {"activations": results,
               "sigmoid_peak": results.get("sigmoid", {}).get("max_derivative"),
               "sigmoid_10_layer_bound": 0.25 ** 9,
               "figures": figures}
    table("activations: f'(Z) maximum (the sigmoid's is 0.25, so 9 sigmoid layers scale a gradient by <= 0.25^9 "
          f"= {0.25 ** 9:.2g})",
          ["activation", "max f'", "at Z", "f' vs numeric"],
          [[n, r["max_derivative"], r["argmax_z"], r["derivative_check_error"]] for n, r in results.items()])
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
