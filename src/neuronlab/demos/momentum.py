"""Momentum as the guide writes it: an exponential moving average of the gradients.

Part 1, a noisy series x_t = sin(2πt/400) + N(0, 0.5²): the moving average
v_t = γ v_{t-1} + (1 − γ) x_t (v₀ = 0) removes more noise the larger γ is, and lags more.
v₀ = 0 pulls the first values towards 0 (v₁ = (1 − γ) x₁); PyTorch's form starts at v₁ = x₁;
Adam divides by 1 − γᵗ to undo the pull.

Part 2, mini-batch SGD on one loss, a linear regression y ≈ w x + b whose inputs x ~ N(3, 1)
make a long, narrow valley in (w, b): plain mini-batch SGD (K = 8), the guide's momentum
(``SGD(momentum=0.9, ema=True)``, same η, same batches) and full-batch GD for reference.
Measured: how much each step zig-zags (the mean cosine between consecutive steps: 1 is a
straight line, 0 random, −1 back and forth), the path length, and how far from the minimum the
weights wander at the end.
"""

from __future__ import annotations

import numpy as np

from .. import layers as _layers
from .. import optimizers as _optim
from ..model import Sequential
from ._common import TAB10, figure, prepare, save, save_gif, table, write_json

TOPIC = "momentum"
GAMMAS = (0.5, 0.9, 0.98)


def moving_average(x, gamma: float, start: str = "zero") -> np.ndarray:
    """v_t = γ v_{t-1} + (1 − γ) x_t for t = 1..T; v₀ = 0 (``"zero"``, the guide) or v₁ = x₁ (``"first"``)."""
    v, out = 0.0, np.empty(len(x))
    for t, xt in enumerate(x):
        v = xt if (t == 0 and start == "first") else gamma * v + (1.0 - gamma) * xt
        out[t] = v
    return out


def regression(n: int, rng):
    """x ~ N(3, 1), y = 2x − 1 + N(0, 0.5²): a narrow valley in (w, b)."""
    x = rng.normal(3.0, 1.0, size=(n, 1))
    return x, 2.0 * x - 1.0 + 0.5 * rng.normal(size=(n, 1))


def loss_grid(x, y, W, B) -> np.ndarray:
    """C(w, b) = (1/n) Σ (w x + b − y)² on a grid, for the contours."""
    r = W[..., None] * x[:, 0] + B[..., None] - y[:, 0]
    return np.mean(r * r, axis=-1)


def sgd_path(optimizer, x, y, batch: int | None, steps: int, start, seed: int) -> np.ndarray:
    """(w, b) after each of ``steps`` train_steps of a Dense(1) model; mini-batches drawn with ``seed``."""
    model = Sequential([_layers.Dense(1, input_dim=1)], seed=0, dtype="float64")
    model.compile(loss="mse", optimizer=optimizer)
    model.set_weights([np.array([[start[0]]]), np.array([start[1]])])
    rng, n = np.random.default_rng(seed), len(x)
    path = [tuple(start)]
    order = np.zeros(0, dtype=int)
    for _ in range(steps):
        if batch is None:
            idx = np.arange(n)
        else:
            if len(order) < batch:
                order = np.r_[order, rng.permutation(n)]
            idx, order = order[:batch], order[batch:]
        model.train_step(x[idx], y[idx])
        W, B = model.get_weights()
        path.append((float(W[0, 0]), float(B[0])))
    return np.array(path)


def path_numbers(path, minimum, tail: int) -> dict:
    d = np.diff(path, axis=0)
    norms = np.linalg.norm(d, axis=1)
    ok = (norms[:-1] > 0) & (norms[1:] > 0)
    cos = np.sum(d[:-1] * d[1:], axis=1)[ok] / (norms[:-1] * norms[1:])[ok]
    dist = np.linalg.norm(path - minimum, axis=1)
    return {"mean_cos_consecutive": float(cos.mean()), "path_length": float(norms.sum()),
            "final_distance": float(dist[-tail:].mean()), "distance": dist}


# Longer than ~60 lines on purpose: one claim of the guide from data to figures and table,
# read top to bottom; splitting it would scatter the claim over helpers that share its locals.
def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """The moving average on a noisy series; SGD paths with and without the guide's momentum.

    Returns
    -------
    dict
        ``series``: per γ the RMS error to the clean signal and the first values; ``runs``: per
        path the mean cosine between consecutive steps, the path length, the mean distance to
        the minimum over the last steps.
    """
    out_dir = prepare(out_dir)
    rng = np.random.default_rng(seed)
    T = 400
    t = np.arange(1, T + 1)
    clean = np.sin(2 * np.pi * t / 400)
    x = clean + 0.5 * rng.normal(size=T)
    series = {"raw": {"rms_error": float(np.sqrt(np.mean((x - clean)[50:] ** 2)))}}
    for g in GAMMAS:
        v = moving_average(x, g)
        series[f"γ = {g:g}"] = {"gamma": g, "v": v, "rms_error": float(np.sqrt(np.mean((v - clean)[50:] ** 2)))}
    v_first = moving_average(x, 0.9, "first")
    v_guide = series["γ = 0.9"]["v"]
    series["first_step"] = {"x1": float(x[0]), "guide_v1": float(v_guide[0]), "pytorch_v1": float(v_first[0])}

    fig, axes = figure(1, 2, size=(12, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    ax, ax0 = axes[0]
    ax.plot(t, x, ".", color="gray", ms=3, alpha=0.6, label="noisy x_t")
    for k, g in enumerate(GAMMAS):
        ax.plot(t, series[f"γ = {g:g}"]["v"], color=TAB10[k], lw=2,
                label=f"γ = {g:g}: RMS error {series[f'γ = {g:g}']['rms_error']:.2f}")
    ax.plot(t, clean, "k--", lw=1, label="clean signal")
    ax.set(title="v_t = γ v_t−1 + (1 − γ) x_t, v₀ = 0 (raw RMS error "
                 f"{series['raw']['rms_error']:.2f})", xlabel="t", ylabel="value")
    ax.legend(fontsize=8.5, loc="lower left", ncol=2)
    first = slice(0, 40)
    ax0.plot(t[first], x[first], ".", color="gray", label="x_t")
    ax0.plot(t[first], v_guide[first], color=TAB10[1], lw=2, label="guide: v₀ = 0")
    ax0.plot(t[first], v_first[first], color=TAB10[3], lw=2, label="PyTorch: v₁ = x₁")
    ax0.plot(t[first], v_guide[first] / (1 - 0.9 ** t[first]), ":", color="black", lw=2,
             label="guide / (1 − γᵗ) (Adam)")
    ax0.set(title="γ = 0.9, the first 40 steps", xlabel="t")
    ax0.legend(fontsize=8.5)
    for a in (ax, ax0):
        a.grid(alpha=0.3)
        a.title.set_fontsize(11)
    figures = [save(fig, out_dir, "momentum_moving_average")]

    n, K, eta, gamma = 200, 8, 0.04, 0.9
    steps = 150 if quick else 500
    X, Y = regression(n, rng)
    A = np.c_[X, np.ones(n)]
    minimum = np.linalg.lstsq(A, Y[:, 0], rcond=None)[0]
    start = (-1.0, 4.0)
    runs = {"mini-batch SGD": _optim.SGD(lr=eta), f"guide momentum γ = {gamma:g}": _optim.SGD(
        lr=eta, momentum=gamma, ema=True), "full-batch GD": _optim.SGD(lr=eta)}
    paths, res = {}, {}
    for label, opt in runs.items():
        paths[label] = sgd_path(opt, X, Y, None if "full" in label else K, steps, start, seed)
        res[label] = path_numbers(paths[label], minimum, steps // 5)
    ws = np.linspace(-1.5, 3.0, 200)
    bs = np.linspace(-3.5, 5.0, 200)
    WW, BB = np.meshgrid(ws, bs)
    C = loss_grid(X, Y, WW, BB)

    def draw_paths(ax, upto):
        ax.contour(WW, BB, np.log10(C), levels=15, colors="gray", linewidths=0.6)
        for k, (label, p) in enumerate(paths.items()):
            ax.plot(p[:upto + 1, 0], p[:upto + 1, 1], "-", color=TAB10[k], lw=1.3, alpha=0.9, label=label)
        ax.plot(*minimum, "*", color="black", ms=14, label="minimum")
        ax.set(xlabel="w", ylabel="b", xlim=(ws[0], ws[-1]), ylim=(bs[0], bs[-1]))

    fig, axes = figure(1, 2, size=(12, 4.6))
    draw_paths(axes[0][0], steps)
    axes[0][0].set_title(f"(w, b) over {steps} steps, η = {eta:g}, K = {K}", fontsize=11)
    axes[0][0].legend(fontsize=8.5, loc="upper right")
    ax = axes[0][1]
    for k, (label, r) in enumerate(res.items()):
        ax.semilogy(r["distance"], color=TAB10[k], lw=1.5,
                    label=f"{label}: mean cos {r['mean_cos_consecutive']:+.2f}")
    ax.set(xlabel="step", ylabel="‖(w, b) − minimum‖", title="distance to the minimum; cos between steps")
    ax.title.set_fontsize(11)
    ax.legend(fontsize=8.5)
    ax.grid(alpha=0.3, which="both")
    figures.append(save(fig, out_dir, "momentum_sgd_paths"))

    fig, axes = figure(1, 1, size=(5.5, 4.4))
    frames = 4 if quick else 30
    marks = np.linspace(1, steps, frames).astype(int)

    def frame(k):
        axes[0][0].clear()
        draw_paths(axes[0][0], marks[k])
        axes[0][0].set_title(f"step {marks[k]}", fontsize=11)
        axes[0][0].legend(fontsize=8, loc="upper right")
    figures.append(save_gif(fig, frame, frames, out_dir, "momentum_sgd_paths"))

    for r in res.values():
        r.pop("distance")
    numbers = {"series": {k: {kk: vv for kk, vv in v.items() if kk != "v"} for k, v in series.items()},
               "eta": eta, "K": K, "gamma": gamma, "steps": steps, "minimum": minimum, "runs": res,
               "figures": figures}
    table("momentum: the moving average over a noisy series (RMS error to the clean signal, t > 50)",
          ["series", "RMS error"], [[k, v["rms_error"]] for k, v in series.items() if "rms_error" in v])
    table(f"momentum: SGD paths on one loss (η = {eta:g}, K = {K}, {steps} steps)",
          ["run", "mean cos(step t, step t+1)", "path length", "distance to minimum (last 20%)"],
          [[k, r["mean_cos_consecutive"], r["path_length"], r["final_distance"]] for k, r in res.items()])
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
