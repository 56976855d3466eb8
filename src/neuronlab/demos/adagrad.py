"""Adagrad's shrinking learning rate, next to RMSprop's and Adadelta's, per parameter over time.

Each of these optimizers scales every weight's step by its own factor, the *effective learning
rate* η_eff = ∣ΔW∣ / ∣g∣ of that weight:

- Adagrad: η / (√G + ε), G the *sum* of all past g²: it only ever shrinks (∝ 1/√t);
- RMSprop: η / (√E[g²] + ε), E[g²] a moving average: it levels off instead of dying;
- Adadelta: √(E[ΔW²] + ε) / √(E[g²] + ε) (η = 1): it starts tiny (√ε on top) and grows as
  the steps accumulate.

The model is a logistic regression with a frequent feature x₁ (every sample) and a rare one
x₂ (5 % of the samples, as a rare word): the rare weight sees a gradient in few steps, so its
Adagrad sum grows slowly and its rate stays large. Mini-batches of K = 10, the same batches
for every optimizer. η_eff is read from each optimizer's own state after every step.
"""

from __future__ import annotations

import numpy as np

from .. import layers as _layers
from .. import optimizers as _optim
from ..model import Sequential
from ._common import TAB10, figure, prepare, save, table, write_json

TOPIC = "adagrad"
PARAMS = {"w₁ (frequent x₁)": (0, 0), "w₂ (rare x₂)": (0, 1), "b": (1, 0)}


def rare_feature_data(n: int, rng, share: float = 0.05):
    """x₁ ~ N(0, 1); x₂ = 1 in ``share`` of the samples, else 0; y ~ Bernoulli(σ(2x₁ + 3x₂ − 0.5))."""
    x1 = rng.normal(size=n)
    x2 = (rng.random(n) < share).astype(np.float64)
    p = 1.0 / (1.0 + np.exp(-(2 * x1 + 3 * x2 - 0.5)))
    return np.c_[x1, x2], (rng.random(n) < p).astype(np.float64)


def train(opt, X, y, steps: int, K: int, seed: int) -> dict:
    """``steps`` mini-batch train_steps; η_eff = |ΔW| / |g| of each parameter after every step
    (NaN where the batch gave it no gradient: the rare weight when no x₂ = 1 was drawn)."""
    model = Sequential([_layers.Dense(1, "sigmoid", input_dim=2)], seed=0, dtype="float64")
    model.compile(loss="binary_crossentropy", optimizer=opt)
    rng, rates = np.random.default_rng(seed), {k: [] for k in PARAMS}
    for _ in range(steps):
        idx = rng.choice(len(X), K, replace=False)
        before = [w.copy() for w in model.get_weights()]
        model.train_step(X[idx], y[idx])
        grads = model.get_gradients()
        for k, (which, i) in PARAMS.items():
            g = float(grads[which].ravel()[i])
            dw = float(model.get_weights()[which].ravel()[i] - before[which].ravel()[i])
            rates[k].append(abs(dw) / abs(g) if abs(g) > 1e-12 else float("nan"))
    return {"rates": rates, "final_loss": model.evaluate(X, y)["loss"]}


def _ends(v, m: int = 10) -> tuple[float, float]:
    """The first finite value and the mean of the last ``m`` finite ones."""
    v = np.asarray(v)
    v = v[np.isfinite(v)]
    return float(v[0]), float(v[-m:].mean())


def eps_placement(g: float = 1e-6, eps: float = 1e-8, lr: float = 0.1) -> dict:
    """The first Adagrad step on a tiny gradient g: ε inside the root (the guide) vs outside (PyTorch)."""
    return {"g": g, "eps": eps, "inside_root": lr * g / np.sqrt(g * g + eps), "outside_root": lr * g / (abs(g) + eps)}


# Longer than ~60 lines on purpose: one claim of the guide from data to figures and table,
# read top to bottom; splitting it would scatter the claim over helpers that share its locals.
def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """Train the same model with Adagrad, RMSprop and Adadelta; record η_eff per parameter.

    Returns
    -------
    dict
        ``runs[optimizer]``: ``rates[param]`` per step, ``first`` (first step with a gradient) and
        ``last`` (mean of the last 10) rate per parameter,
        ``final_loss``; ``eps_placement``: the guide's ε inside the root vs PyTorch's outside.
    """
    out_dir = prepare(out_dir)
    rng = np.random.default_rng(seed)
    n, K = 2000, 10
    steps = 300 if quick else 2000
    X, y = rare_feature_data(n, rng)
    opts = {"Adagrad (η = 0.1)": _optim.Adagrad(lr=0.1),
            "RMSprop (η = 0.01, γ = 0.9)": _optim.RMSprop(lr=0.01, rho=0.9),
            "Adadelta (η = 1, γ = 0.95)": _optim.Adadelta()}
    runs = {}
    for label, opt in opts.items():
        r = train(opt, X, y, steps, K, seed)
        r["first"] = {k: _ends(v)[0] for k, v in r["rates"].items()}
        r["last"] = {k: _ends(v)[1] for k, v in r["rates"].items()}
        runs[label] = r

    fig, axes = figure(1, 3, size=(15, 4.4), sharey=True)
    t = np.arange(1, steps + 1)
    for c, (label, r) in enumerate(runs.items()):
        ax = axes[0][c]
        for k, (p, v) in enumerate(r["rates"].items()):
            rare = "rare" in p  # NaN where no gradient: dots, not a broken line
            ax.loglog(t, v, "." if rare else "-", color=TAB10[k], lw=1.8, ms=3, label=p)
        ax.set(title=label, xlabel="step t", ylabel="η_eff = |ΔW| / |g|" if c == 0 else None)
        ax.title.set_fontsize(11)
        ax.grid(alpha=0.3, which="both")
    if "Adagrad (η = 0.1)" in runs:
        first = runs["Adagrad (η = 0.1)"]["first"]["w₁ (frequent x₁)"]
        axes[0][0].loglog(t, first / np.sqrt(t), "k:", lw=1, label="∝ 1/√t")
        axes[0][0].legend(fontsize=9, loc="upper right")
    fig.suptitle(f"Effective learning rate per parameter, logistic regression, K = {K}, same batches "
                 f"(x₂ non-zero in 5 % of the samples)", fontsize=11)
    figures = [save(fig, out_dir, "adagrad_effective_lr")]

    eps = eps_placement()
    numbers = {"n": n, "K": K, "steps": steps, "runs": runs, "eps_placement": eps, "figures": figures}
    rows = []
    for label, r in runs.items():
        for p in PARAMS:
            rows.append([label, p, r["first"][p], r["last"][p], r["last"][p] / r["first"][p]])
    table("adagrad: effective learning rate η_eff = |ΔW| / |g| per parameter (first step with a gradient; "
          "mean of the last 10)", ["optimizer", "parameter", "first", "last", "last / first"], rows)
    table("adagrad: ε inside the root (the guide) vs outside (PyTorch), first step on g = 1e-6, η = 0.1",
          ["form", "step"], [["η g / √(g² + ε)", eps["inside_root"]], ["η g / (√g² + ε)", eps["outside_root"]]])
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
