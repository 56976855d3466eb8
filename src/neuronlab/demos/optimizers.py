"""Optimizer paths on 2-D loss surfaces, and loss curves on MNIST.

Every rule runs through the library's own optimizers (``nl.optimizers``): GD, SGD (K = 1)
and mini-batch SGD are the same SGD class fed gradients of n, 1 or K samples; momentum and
Nesterov are SGD's options; then every other registered optimizer, by name, so that a newly
registered one appears here without editing this file. Each optimizer gets the learning rate
from a shared grid that gives it the lowest mean log-loss over the run (so none is shown
with a bad η), and the table reports that η.

Surfaces:

* ravine: least squares on 64 samples whose two features have scales 1 and 0.15 — the
  Hessian's eigenvalues differ 44×, the guide's narrow valley where GD zig-zags;
* Rosenbrock: (1 - a)² + 100 (b - a²)², minimum at (1, 1) (no data: no SGD variants);
* logistic: a real model, ``Dense(1, "sigmoid")`` on 1-D data with binary cross-entropy,
  trained by ``model.fit``; its two parameters are W and B, un-normalised x makes a valley.
"""

from __future__ import annotations

import inspect as _pyinspect
import math
import time
import warnings

import numpy as np

from .. import layers as _layers
from .. import optimizers as _optim
from ..callbacks import Callback, LambdaCallback
from ..core import NonFiniteError, Param
from ..model import Sequential
from ._common import TAB10, figure, prepare, save, table, write_json

TOPIC = "optimizers"
LR_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
MNIST_LR = {"sgd": 0.1, "momentum": 0.02, "nesterov": 0.02, "adagrad": 0.03, "adadelta": 1.0, "rmsprop": 0.001,
            "adam": 0.001, "adamw": 0.001}


def variants() -> list[dict]:
    """The optimizers shown: GD/SGD/mini-batch/momentum/Nesterov, then every other registered name."""
    out = [{"label": "GD", "name": "sgd", "kwargs": {}, "K": None, "key": "sgd"},
           {"label": "SGD (K=1)", "name": "sgd", "kwargs": {}, "K": 1, "key": "sgd"},
           {"label": "mini-batch (K=8)", "name": "sgd", "kwargs": {}, "K": 8, "key": "sgd"},
           {"label": "momentum 0.9", "name": "sgd", "kwargs": {"momentum": 0.9}, "K": None, "key": "momentum"},
           {"label": "Nesterov 0.9", "name": "sgd", "kwargs": {"momentum": 0.9, "nesterov": True}, "K": None,
            "key": "nesterov"}]
    out += [{"label": name, "name": name, "kwargs": {}, "K": None, "key": name}
            for name in _optim.names() if name != "sgd"]
    return out


# ---------------------------------------------------------------------------------------------
# surfaces
# ---------------------------------------------------------------------------------------------
class Ravine:
    """C(w) = (1/n) Σ (x_i·w - y_i)², features of scale 1 and 0.15 (an axis-aligned narrow valley)."""

    name, title = "ravine", "ravine: least squares, Hessian eigenvalues 2 and 0.045"
    start = (-2.5, -3.0)
    xlim, ylim = (-3.5, 3.5), (-4.0, 6.0)
    has_data = True
    steps = 150
    # the guide's zig-zag: GD with η near 2/λ_max overshoots across the valley at every step
    extra = ({"label": "GD (zig-zag)", "name": "sgd", "kwargs": {}, "K": None, "lr": 0.95},)

    def __init__(self, rng):
        n = 64
        Q, _ = np.linalg.qr(rng.normal(size=(n, 2)))
        self.X = math.sqrt(n) * Q * np.array([1.0, 0.15])  # (1/n) XᵀX = diag(1, 0.0225)
        self.y = self.X @ np.array([1.0, 2.0]) + 0.1 * rng.normal(size=n)
        self.n = n
        self.w_star = np.linalg.lstsq(self.X, self.y, rcond=None)[0]
        self.c_star = self.loss(self.w_star)

    def loss(self, w, idx=None):
        X, y = (self.X, self.y) if idx is None else (self.X[idx], self.y[idx])
        r = X @ w - y
        return float(r @ r / len(y))

    def grad(self, w, idx=None):
        X, y = (self.X, self.y) if idx is None else (self.X[idx], self.y[idx])
        return 2.0 * X.T @ (X @ w - y) / len(y)

    def grid(self, a, b):
        W = np.stack([a, b], axis=-1)
        r = W @ self.X.T - self.y
        return (r * r).mean(axis=-1)


class Rosenbrock:
    """C(a, b) = (1 - a)² + 100 (b - a²)², minimum C = 0 at (1, 1)."""

    name, title = "rosenbrock", "Rosenbrock (1 - a)² + 100 (b - a²)²"
    start = (-1.5, 2.0)
    xlim, ylim = (-2.0, 2.0), (-1.0, 3.0)
    has_data = False
    steps = 2000

    def __init__(self, rng):
        self.w_star = np.array([1.0, 1.0])
        self.c_star = 0.0

    def loss(self, w, idx=None):
        a, b = w
        return float((1 - a) ** 2 + 100 * (b - a * a) ** 2)

    def grad(self, w, idx=None):
        a, b = w
        return np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])

    def grid(self, a, b):
        return (1 - a) ** 2 + 100 * (b - a * a) ** 2


class _PathRecorder(Callback):
    """Record (W, B) of a one-neuron model after every update; stop after ``steps`` updates."""

    def __init__(self, steps):
        super().__init__()
        self.steps, self.path = steps, []

    def _point(self):
        layer = self.model.layers[0]
        return (float(layer.W.value[0, 0]), float(layer.B.value[0]))

    def on_train_begin(self, logs=None):
        self.path = [self._point()]

    def on_batch_end(self, batch, logs=None):
        self.path.append(self._point())
        if len(self.path) > self.steps:
            self.model.stop_training = True


class Logistic:
    """A real model: one sigmoid neuron h = σ(W x + B) on 1-D data, binary cross-entropy."""

    name, title = "logistic", "real model: σ(W·x + B), binary cross-entropy on 32 samples"
    start = (-2.0, 3.0)
    xlim, ylim = (-2.5, 3.0), (-6.0, 4.0)
    has_data = True
    steps = 150

    def __init__(self, rng):
        n = 32
        self.n = n
        self.x = np.concatenate([rng.normal(1.0, 1.2, n // 2), rng.normal(3.0, 1.2, n // 2)])[:, None]
        self.y = np.repeat([0.0, 1.0], n // 2)
        self.model = Sequential([_layers.Dense(1, "sigmoid", input_dim=1)], seed=0, dtype="float64")
        self.model.compile(loss="binary_crossentropy", optimizer="sgd")
        # the minimum, by Newton's method on the same loss (a reference independent of the optimizers)
        A = np.c_[self.x[:, 0], np.ones(n)]
        theta = np.zeros(2)
        for _ in range(50):
            p = 1.0 / (1.0 + np.exp(-A @ theta))
            H = (A * (p * (1 - p))[:, None]).T @ A / n
            theta -= np.linalg.solve(H, A.T @ (p - self.y) / n)
        self.w_star = theta
        self.c_star = self.loss(theta)

    def loss(self, w, idx=None):
        self.model.set_weights([np.array([[w[0]]]), np.array([w[1]])])
        return self.model.evaluate(self.x, self.y)["loss"]

    def grid(self, a, b):
        return np.vectorize(lambda u, v: self.loss((u, v)))(a, b)

    def train(self, opt, K, steps):
        """Train the real model with ``fit``; return the path of (W, B) after each update."""
        m = self.model
        m.set_weights([np.array([[self.start[0]]]), np.array([self.start[1]])])
        m.compile(loss="binary_crossentropy", optimizer=opt)
        rec = _PathRecorder(steps)
        per_epoch = 1 if K is None else -(-self.n // K)
        m.fit(self.x, self.y, epochs=-(-steps // per_epoch) + 1, batch_size=K, verbose=0, callbacks=[rec])
        return np.array(rec.path[: steps + 1])


def _descend(surface, opt, K, steps, rng):
    """Run ``opt`` from the surface's start; K = None: full gradient, else K-sample batches."""
    if isinstance(surface, Logistic):
        path = surface.train(opt, K, steps)
    else:
        p = Param(np.array(surface.start, dtype=np.float64), "w")
        path = [p.value.copy()]
        order, pos = None, 0
        for _ in range(steps):
            idx = None
            if K is not None:
                if order is None or pos + K > surface.n:
                    order, pos = rng.permutation(surface.n), 0
                idx, pos = order[pos:pos + K], pos + K
            p.grad[...] = surface.grad(p.value, idx)
            opt.step([p])
            path.append(p.value.copy())
            if not np.isfinite(p.value).all() or np.abs(p.value).max() > 1e6:
                break
        path = np.array(path)
    losses = np.array([surface.loss(w) for w in path])
    return path, losses


def _score(losses, c_star, c0):
    """Mean log10 of the gap to the minimum (lower is better); inf for a diverged run."""
    if len(losses) == 0 or not np.isfinite(losses).all() or losses.max() > 1e3 * max(c0, 1.0):
        return math.inf
    return float(np.mean(np.log10(np.maximum(losses - c_star, 0.0) + 1e-12)))


def _steps_to(losses, c_star, c0, tol=1e-4):
    """First step at which C - C* < tol (C₀ - C*), or None."""
    hit = np.nonzero(losses - c_star < tol * (c0 - c_star))[0]
    return int(hit[0]) if len(hit) else None


def _run_surface(surface, grid, seed, steps):
    c0 = surface.loss(np.array(surface.start))
    out = {}
    for v in variants() + list(getattr(surface, "extra", ())):
        if "lr" in v:  # a fixed η, shown for what it does rather than tuned
            grid_v = (v["lr"],)
        else:
            grid_v = grid
        if v["K"] is not None and not surface.has_data:
            continue
        best = None
        for lr in grid_v:
            opt = _optim.get(v["name"], lr=lr, **v["kwargs"])
            rng = np.random.default_rng(seed)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    path, losses = _descend(surface, opt, v["K"], steps, rng)
                except (NonFiniteError, FloatingPointError, ValueError):
                    continue
            s = _score(losses, surface.c_star, c0)
            if best is None or s < best[0]:
                best = (s, lr, path, losses)
        if best is None or not math.isfinite(best[0]):
            out[v["label"]] = {"lr": None, "diverged_at_every_lr": True}
            continue
        s, lr, path, losses = best
        out[v["label"]] = {"lr": lr, "score": s, "final_gap": float(losses[-1] - surface.c_star),
                           "steps_to_1e-4": _steps_to(losses, surface.c_star, c0), "end": path[-1].tolist(),
                           "path": path.tolist(), "loss": losses.tolist()}
    return out, c0


def _families(labels) -> tuple[list[str], list[str]]:
    """The labels split into the SGD family (plain, K, momentum, Nesterov) and the adaptive rest,
    so that no loss panel holds more than about six lines."""
    sgd_like = {v["label"] for v in variants() if v["name"] == "sgd"} | {"GD (zig-zag)", "mini-batch SGD"}
    return [lb for lb in labels if lb in sgd_like], [lb for lb in labels if lb not in sgd_like]


def _loss_panel(ax, res, labels, c_star, title, legend_ax=None, legend_loc="upper left"):
    colors = {lb: TAB10[k % len(TAB10)] for k, lb in enumerate(res)}
    for label in labels:
        r = res[label]
        if r.get("lr") is not None:
            ls = np.maximum(np.array(r["loss"]) - c_star, 1e-12)
            ax.semilogy(np.arange(len(ls)), ls, color=colors[label], lw=1.5, label=label)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("update step", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    if legend_ax is None:
        ax.legend(fontsize=8.5, loc="lower left")
    else:  # in an empty panel, off the curves
        legend_ax.add_artist(legend_ax.legend(*ax.get_legend_handles_labels(), loc=legend_loc, fontsize=9.5,
                                              title=title.split(": ")[1], title_fontsize=10))


def _plot_surface(surface, res, c0, out_dir):
    """Small multiples: one contour panel per optimizer with its path, then the loss curves in two groups."""
    labels = list(res)
    slots = len(labels) + 3  # paths, two loss panels, one panel for their legends
    ncols = min((5, 4), key=lambda c: -(-slots // c) * c - slots)
    nrows = -(-slots // ncols)
    fig, axes = figure(nrows, ncols, size=(3.3 * ncols, 3.2 * nrows))
    flat = axes.ravel()
    res_n = 140 if not isinstance(surface, Logistic) else 50
    a = np.linspace(*surface.xlim, res_n)
    b = np.linspace(*surface.ylim, res_n)
    A, B = np.meshgrid(a, b)
    gap = np.maximum(surface.grid(A, B) - surface.c_star, 1e-6)
    levels = np.geomspace(max(gap.min(), 1e-3), gap.max(), 14)
    for k, label in enumerate(labels):
        ax, r = flat[k], res[label]
        color = TAB10[k % len(TAB10)]
        ax.contour(A, B, np.log10(gap), levels=np.log10(levels), cmap="viridis", linewidths=0.8, alpha=0.7)
        if r.get("lr") is None:
            ax.set_title(f"{label}: diverged at every η", fontsize=10)
        else:
            P = np.array(r["path"])
            ax.plot(P[:, 0], P[:, 1], "-", color=color, lw=1.4, marker="." if len(P) <= 400 else None, ms=3)
            steps = r["steps_to_1e-4"]
            reached = f"{steps} steps" if steps is not None else f"not in {len(P) - 1}"
            ax.set_title(f"{label}, η = {r['lr']:g}\n{reached}", fontsize=10.5)
        ax.plot(*surface.start, "ko", ms=5)
        ax.plot(*surface.w_star, "*", color="gold", mec="black", ms=12)
        ax.set(xlim=surface.xlim, ylim=surface.ylim)
        ax.tick_params(labelsize=8)
        if k % ncols == 0:
            ax.set_ylabel("B" if isinstance(surface, Logistic) else "w₂", fontsize=10)
        if k >= len(labels) - ncols:
            ax.set_xlabel("W" if isinstance(surface, Logistic) else "w₁", fontsize=10)
    sgd_like, adaptive = _families(labels)
    spare = flat[len(labels) + 2]
    spare2 = flat[len(labels) + 3] if len(flat) > len(labels) + 3 else spare  # a panel per legend if there is room
    for ax in (spare, spare2):
        ax.axis("off")
    _loss_panel(flat[len(labels)], res, sgd_like, surface.c_star, "C − C*: SGD family", spare, "upper left")
    _loss_panel(flat[len(labels) + 1], res, adaptive, surface.c_star, "C − C*: adaptive", spare2,
                "upper left" if spare2 is not spare else "lower left")
    for ax in flat[len(labels) + 4:]:
        ax.set_visible(False)
    fig.suptitle(f"{surface.title}: paths from ● to ★ (minimum), each optimizer at its best η of "
                 f"{list(LR_GRID)};\nsteps until C − C* < 10⁻⁴ (C₀ − C*)", fontsize=12)
    return save(fig, out_dir, f"optimizers_{surface.name}", dpi=90)


def _mnist_curves(out_dir, seed, n_train=20000, epochs=2, K=64):
    from ..datasets import load_mnist

    (Xtr, ytr), (Xte, yte) = load_mnist()
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(Xtr))[:n_train]
    Xtr, ytr = Xtr[idx], ytr[idx]
    res = {}
    for v in variants():
        if v["K"] is not None:  # on MNIST every optimizer runs mini-batches of K: plain SGD is "GD"'s rule
            continue
        label = "mini-batch SGD" if v["label"] == "GD" else v["label"]
        cls = _optim.registry.lookup(v["name"])
        lr = MNIST_LR.get(v["key"], _pyinspect.signature(cls).parameters["lr"].default)
        model = Sequential([_layers.Dense(128, "relu", input_dim=784), _layers.Dense(10, "softmax")], seed=seed)
        model.compile(loss="categorical_crossentropy", optimizer=_optim.get(v["name"], lr=lr, **v["kwargs"]),
                      metrics=["accuracy"])
        losses = []
        rec = LambdaCallback(on_batch_end=lambda b, logs, losses=losses: losses.append(logs["loss"]))
        t0 = time.perf_counter()
        model.fit(Xtr, ytr, epochs=epochs, batch_size=K, verbose=0, callbacks=[rec])
        seconds = time.perf_counter() - t0
        ev = model.evaluate(Xte, yte)
        res[label] = {"lr": lr, "batch_loss": losses, "test_accuracy": ev["accuracy"], "test_loss": ev["loss"],
                      "seconds": seconds}
    fig, axes = figure(1, 2, size=(13, 4.8), sharey=True)
    w = 25
    colors = {lb: TAB10[k % len(TAB10)] for k, lb in enumerate(res)}
    for ax, group, name in zip(axes[0], _families(list(res)), ("SGD family", "adaptive")):
        for label in group:
            r = res[label]
            ls = np.array(r["batch_loss"])
            smooth = np.convolve(ls, np.ones(w) / w, mode="valid")
            ax.plot(np.arange(w - 1, len(ls)), smooth, color=colors[label], lw=1.8,
                    label=f"{label} (η={r['lr']:g}): test acc {100 * r['test_accuracy']:.1f}%")
        ax.set(yscale="log", title=name, xlabel="update step")
        ax.title.set_fontsize(11)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9, loc="upper right")
    axes[0][0].set_ylabel("cross-entropy C (batch, moving mean of 25)")
    fig.suptitle(f"MNIST 784-128-10, {n_train} training images, K = {K}, {epochs} epochs", fontsize=12)
    return res, save(fig, out_dir, "optimizers_mnist")


def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """Optimizer paths on the ravine, Rosenbrock and a real model; MNIST loss curves unless ``quick``.

    Returns
    -------
    dict
        ``surfaces[name][label]``: chosen ``lr``, ``steps_to_1e-4`` (first step with
        C - C* < 10⁻⁴ (C₀ - C*), None if never), ``final_gap``, ``path`` and ``loss``;
        ``mnist[label]``: ``test_accuracy``, ``seconds``, ``batch_loss`` (unless quick).
    """
    out_dir = prepare(out_dir)
    rng = np.random.default_rng(seed)
    grid = LR_GRID if not quick else (0.001, 0.01, 0.1, 1.0)
    surfaces = [Ravine(rng), Rosenbrock(rng), Logistic(rng)]
    numbers = {"lr_grid": list(grid), "optimizers": [v["label"] for v in variants()], "surfaces": {},
               "figures": []}
    rows = []
    for surface in surfaces:
        steps = surface.steps if not quick else min(surface.steps, 120 if surface.name != "rosenbrock" else 400)
        res, c0 = _run_surface(surface, grid, seed, steps)
        numbers["surfaces"][surface.name] = {"start": list(surface.start), "minimum": surface.w_star.tolist(),
                                            "c_star": surface.c_star, "c0": c0, "steps": steps, "runs": res}
        numbers["figures"].append(_plot_surface(surface, res, c0, out_dir))
        for label, r in res.items():
            rows.append([surface.name, label, r.get("lr"), r.get("steps_to_1e-4"), r.get("final_gap")])
    if not quick:
        numbers["mnist"], path = _mnist_curves(out_dir, seed)
        numbers["figures"].append(path)
    table("optimizers: best η on the grid, steps until C - C* < 1e-4 (C0 - C*), final C - C*",
          ["surface", "optimizer", "η", "steps", "final gap"], rows)
    if not quick:
        table("optimizers on MNIST", ["optimizer", "η", "test acc", "seconds"],
              [[k, r["lr"], r["test_accuracy"], r["seconds"]] for k, r in numbers["mnist"].items()])
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
