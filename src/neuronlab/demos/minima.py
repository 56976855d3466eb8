"""Local and global minima: gradient descent from several starting points on a 1-D function.

C(w) = w⁴ - 3w² + w has a global minimum at w ≈ -1.30 (C ≈ -3.51), a local one at w ≈ 1.13
(C ≈ -1.07) and a maximum between them at w ≈ 0.17. Gradient descent only ever goes downhill,
so where it ends depends on where it starts: every start left of the maximum reaches the
global minimum, every start right of it stops in the local one. Momentum carries speed and
can roll over the hump from a high enough start. The updates are the library's own
``nl.optimizers.SGD`` steps on a one-element parameter.
"""

from __future__ import annotations

import numpy as np

from .. import optimizers as _optim
from ..core import Param
from ._common import TAB10, figure, prepare, save, table, write_json

TOPIC = "minima"


def C(w):
    """The loss curve C(w) = w⁴ - 3w² + w."""
    return w ** 4 - 3 * w ** 2 + w


def dC(w):
    """C'(w) = 4w³ - 6w + 1."""
    return 4 * w ** 3 - 6 * w + 1


def critical_points():
    """(global minimum, local maximum, local minimum) of C, from the roots of C'."""
    r = np.sort(np.roots([4.0, 0.0, -6.0, 1.0]).real)
    return float(r[0]), float(r[1]), float(r[2])


def descend(w0: float, opt, steps: int) -> np.ndarray:
    """The path w_0, w_1, ... of ``opt`` on C from ``w0``."""
    p = Param(np.array([w0], dtype=np.float64), "w")
    path = [w0]
    for _ in range(steps):
        p.grad[0] = dC(p.value[0])
        opt.step([p])
        path.append(float(p.value[0]))
    return np.array(path)


# Longer than ~60 lines on purpose: one claim of the guide from data to figures and table,
# read top to bottom; splitting it would scatter the claim over helpers that share its locals.
def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """GD (η = 0.02) and momentum (η = 0.005, μ = 0.9) from 8 starts; where does each end?

    Returns
    -------
    dict
        ``minima``: the global and local minimum; per method and start: ``end``, ``C_end``
        and ``reached`` ("global" or "local").
    """
    out_dir = prepare(out_dir)
    steps = 150 if quick else 300
    w_glob, w_max, w_loc = critical_points()
    starts = [-2.2, -1.5, -0.6, 0.1, 0.3, 0.8, 1.6, 2.2]
    methods = {"GD (η = 0.02)": lambda: _optim.SGD(lr=0.02),
               "momentum (η = 0.005, μ = 0.9)": lambda: _optim.SGD(lr=0.005, momentum=0.9)}
    results, paths = {}, {}
    for label, make in methods.items():
        results[label] = {}
        for w0 in starts:
            path = descend(w0, make(), steps)
            end = float(path[-1])
            reached = "global" if abs(end - w_glob) < 1e-3 else "local" if abs(end - w_loc) < 1e-3 else "none"
            results[label][str(w0)] = {"start": w0, "end": end, "C_end": float(C(end)), "reached": reached,
                                       "steps_to_1e-3": int(np.argmax(np.abs(path - end) < 1e-3))}
            paths[(label, w0)] = path

    fig, axes = figure(1, 3, size=(16, 4.8))
    w = np.linspace(-2.3, 2.3, 400)
    # at most six lines a panel: six of the starts on the curve, the three near the hump over time
    drawn = [w0 for w0 in starts if round(w0, 1) in (-2.2, -0.6, 0.1, 0.3, 1.6, 2.2)] or list(starts)[:6]
    near = [w0 for w0 in starts if round(w0, 1) in (0.1, 0.3, 2.2)] or list(starts)[:3]
    for c, label in enumerate(methods):
        ax = axes[0, c]
        ax.plot(w, C(w), color="black", lw=2, zorder=1)
        for k, w0 in enumerate(starts):
            if w0 not in drawn:
                continue
            path = paths[(label, w0)]
            ax.plot(path, C(path), "o-", color=TAB10[k], ms=3, lw=0.8, alpha=0.8,
                    label=f"w₀ = {w0:+.1f} → {results[label][str(w0)]['reached']}")
            ax.plot([w0], [C(w0)], "s", color=TAB10[k], ms=8, mec="black")
        ax.axvline(w_max, color="gray", ls=":", lw=1)
        ax.annotate(f"global min\nw = {w_glob:.2f}", xy=(w_glob, C(w_glob)), xytext=(w_glob + 0.6, C(w_glob) - 0.4),
                    arrowprops={"arrowstyle": "->"}, fontsize=9)
        ax.annotate(f"local min\nw = {w_loc:.2f}", xy=(w_loc, C(w_loc)), xytext=(w_loc - 0.3, C(w_loc) + 4),
                    arrowprops={"arrowstyle": "->"}, fontsize=9)
        ax.set(title=f"{label}: paths on C(w) = w⁴ - 3w² + w", xlabel="w", ylabel="C(w)", ylim=(-4.2, 19))
        ax.title.set_fontsize(11)
        ax.legend(fontsize=9, loc="upper center", ncol=2)  # above the curve: ylim leaves room
        ax.grid(alpha=0.3)
    ax = axes[0, 2]
    for k, w0 in enumerate(starts):
        if w0 not in near:
            continue
        ax.plot(paths[(list(methods)[0], w0)], color=TAB10[k], lw=2, label=f"GD from {w0:+.1f}")
        ax.plot(paths[(list(methods)[1], w0)], color=TAB10[k], lw=1.5, ls="--", label=f"momentum from {w0:+.1f}")
    ax.axhline(w_glob, color="black", lw=0.8)
    ax.axhline(w_loc, color="black", lw=0.8)
    ax.axhline(w_max, color="gray", ls=":", lw=1)
    ax.set(title="w per step (solid: GD, dashed: momentum)", xlabel="step", ylabel="w", xlim=(0, min(steps, 120)))
    ax.title.set_fontsize(11)
    ax.legend(fontsize=9, ncol=1, loc="center right")
    ax.grid(alpha=0.3)
    fig.suptitle("Gradient descent finds the minimum of the valley it starts in (dotted: the maximum between them)")
    figures = [save(fig, out_dir, "minima_paths")]

    numbers = {"function": "C(w) = w^4 - 3w^2 + w", "global_minimum": {"w": w_glob, "C": float(C(w_glob))},
               "local_minimum": {"w": w_loc, "C": float(C(w_loc))}, "maximum": w_max, "steps": steps,
               "runs": results, "figures": figures}
    table("minima: where each start ends",
          ["start w0", *(f"{m.split(' (')[0]} ends" for m in methods)],
          [[w0, *(f"{results[m][str(w0)]['end']:.3f} ({results[m][str(w0)]['reached']})" for m in methods)]
           for w0 in starts])
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
