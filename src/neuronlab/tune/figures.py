"""The sweep's figures: the metric per epoch of every trial; parameter importance and parallel coordinates."""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["plot_curves", "plot_importance", "importances"]

_NA = -0.12  # where a parameter a trial did not use is drawn in the parallel coordinates


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw_trials(ax, drawn, best, metric):
    for t in drawn:
        x, y = t.history["epoch"], t.history[metric]
        if t is best:
            ax.plot(x, y, "-o", color="tab:green", lw=2.5, ms=5, zorder=3, label=f"best: trial {t.number}")
        elif t.status == "failed":
            ax.plot(x, y, ":", color="tab:red", lw=1)
            ax.plot(x[-1:], y[-1:], "x", color="tab:red", ms=9, mew=2)
        else:
            ax.plot(x, y, "-" if t.status == "completed" else "--", marker=".",
                    color="tab:blue" if t.status == "completed" else "tab:gray", lw=1, alpha=0.8)
    ax.set(xlabel="epoch", ylabel=metric)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)


def plot_curves(records, metric: str, path: str) -> str | None:
    """``metric`` per epoch for every trial (left) and zoomed on the best quarter of the trials (right).

    Best thick green, trials that ran all their epochs solid, ASHA-stopped dashed, failed ×.
    """
    drawn = [t for t in records if t.history.get("epoch") and t.history.get(metric)]
    if not drawn:
        return None
    plt = _pyplot()
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(12, 5))
    best = next((t for t in records if t.value is not None), None)
    _draw_trials(ax, drawn, best, metric)
    _draw_trials(zoom, drawn, best, metric)
    ax.plot([], [], "-", color="tab:blue", label="ran all its epochs")
    ax.plot([], [], "--", color="tab:gray", label="stopped by ASHA")
    if any(t.status == "failed" for t in drawn):
        ax.plot([], [], "x", color="tab:red", label="failed (last epoch reported)")
    n_failed_silent = sum(t.status == "failed" and t not in drawn for t in records)
    title = f"{metric} per epoch, {len(records)} trials"
    if n_failed_silent:
        title += f" ({n_failed_silent} failed before their first epoch)"
    ax.set_title(title)
    ax.legend(loc="best", fontsize=9)
    top = [t for t in records if t.value is not None and t in drawn][: max(3, len(records) // 4)]
    if top:  # the y range of the best quarter's whole curves, padded by 10%
        ys = [v for t in top for v in t.history[metric] if np.isfinite(v)]
        lo, hi = min(ys), max(ys)
        pad = 0.1 * (hi - lo) or 0.01 * (abs(hi) or 1.0)
        zoom.set_ylim(lo - pad, hi + pad)
    zoom.set_title(f"zoom: the best {len(top)} trials")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def importances(records, sweep) -> dict[str, float]:
    """Optuna's parameter importances (PED-ANOVA) over the trials that reported the metric.

    Empty when fewer than three trials finished or no parameter varied.
    """
    import optuna

    from .optuna_space import distribution

    done = [t for t in records if t.value is not None]
    if len(done) < 3:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if sweep.settings["mode"] == "max" else "minimize")
    for t in done:
        dists = {k: distribution(sweep.params[k]) for k in t.params if k in sweep.params}
        study.add_trial(optuna.trial.create_trial(params=dict(t.params), distributions=dists, value=t.value))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(optuna.importance.get_param_importances(study))
    except (ValueError, RuntimeError, ZeroDivisionError):  # too few distinct trials for the evaluator
        return {}


def _axis_positions(records, p):
    """Each trial's value of parameter ``p`` mapped to [0, 1] (log scale for log ranges, index for choices).

    A trial without the parameter (momentum under Adam) sits at ``_NA`` below the axis.
    """
    vals = [t.params.get(p.name) for t in records]
    if p.kind == "choice":
        labels = [str(v) for v in p.values]
        pos = [labels.index(str(v)) / max(len(labels) - 1, 1) if v is not None else _NA for v in vals]
        return pos, labels
    lo, hi = (float(v) for v in p.values)
    f = math.log if p.kind.startswith("log") else float
    pos = [(f(float(v)) - f(lo)) / (f(hi) - f(lo)) if v is not None else _NA for v in vals]
    return pos, [f"{lo:.3g}", f"{hi:.3g}"]


def plot_importance(records, sweep, path: str) -> str | None:
    """Left: Optuna's importance of each parameter; right: parallel coordinates coloured by the metric."""
    done = [t for t in records if t.value is not None]
    if not done:
        return None
    plt = _pyplot()
    metric = sweep.settings["metric"]
    params = list(sweep.params.values())
    imp = importances(records, sweep)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1, 2.2]})
    if imp:
        names = list(imp)[::-1]
        ax0.barh(names, [imp[n] for n in names], color="tab:blue")
        ax0.set(xlabel="importance (Optuna PED-ANOVA, sums to 1)", title=f"what moved {metric}")
    else:
        ax0.text(0.5, 0.5, "too few finished trials\nfor an importance estimate", ha="center", va="center")
        ax0.set_axis_off()
    values = np.array([t.value for t in done])  # best first (records are sorted)
    norm = plt.Normalize(values.min(), values.max() if values.max() > values.min() else values.min() + 1e-9)
    # colour by rank, not by value: one bad outlier would otherwise paint every good trial the same
    shade = 1 - np.arange(len(done)) / max(len(done) - 1, 1)
    cmap = plt.get_cmap("viridis")
    cols = [_axis_positions(done, p) for p in params]
    xs = np.arange(len(params) + 1)
    for i in reversed(range(len(done))):  # best drawn last, on top
        ys = [c[0][i] for c in cols] + [norm(values[i])]
        ax1.plot(xs, ys, "-o", color=cmap(shade[i]), lw=2.5 if i == 0 else 1.2, ms=3, alpha=0.9)
    for y, v in ((0, values.min()), (1, values.max())):
        ax1.text(len(params) + 0.03, y, f"{v:.4g}", fontsize=7, va="center")
    for j, (_, labels) in enumerate(cols):
        ax1.axvline(j, color="black", lw=0.6)
        for k, lab in enumerate(labels):
            ax1.text(j + 0.03, k / max(len(labels) - 1, 1), lab, fontsize=7, va="center")
        if any(c == _NA for c in cols[j][0]):
            ax1.text(j + 0.03, _NA, "not used", fontsize=7, va="center", color="gray")
    ax1.axvline(len(params), color="black", lw=0.6)
    ax1.set_xticks(xs, [p.name for p in params] + [metric])
    ax1.set_yticks([])
    ax1.set_title(f"{len(done)} trials that reported {metric} (colour: rank, yellow = best; thick: best)")
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=plt.Normalize(1, max(len(done), 2)), cmap=cmap.reversed()), ax=ax1)
    bar.ax.invert_yaxis()  # rank 1 (yellow) on top
    bar.set_label(f"rank by {metric}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
