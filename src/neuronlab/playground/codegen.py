"""The Python script a playground run can be taken away as: ``nl.Sequential`` and ``train_step``."""

from __future__ import annotations

from .config import task_of

__all__ = ["python_code"]


def _optimizer(c: dict) -> str:
    args = ", ".join([f"lr={c['lr']!r}", f"weight_decay={c['l2']!r}"]
                     + [f"{k}={v!r}" for k, v in c["optimizer_params"].items()])
    return f"nl.optimizers.get({c['optimizer']!r}, {args})"


def _training(plan) -> str:
    """The plan's steps as Python: train(steps, K) calls and the η / optimizer changes between them."""
    lines = []
    for entry in plan:
        if entry[0] == "train":
            lines.append(f"train({entry[1]}, K={entry[2]})")
        elif entry[0] == "lr":
            lines.append(f"model.optimizer.lr = {entry[1]!r}                # η changed here (optimizer state kept)")
        else:
            lines.append(f"model.compile(loss=model.loss.name, optimizer={_optimizer(entry[1])})  # a new optimizer")
    return "\n".join(lines) or "# (no training step yet)"


def python_code(config: dict, plan, steps: int) -> str:
    """A script that rebuilds the session's model and redoes its ``steps`` training steps.

    ``config`` is the settings at step 0 and ``plan`` what followed (steps with their K, η and
    optimizer changes). Same data (``neuronlab.playground.datasets``), same batches (a
    permutation per epoch from ``default_rng(seed)``), same model: it ends with the weights the
    page shows.
    """
    # Long only because most of it is the script's own text, kept in one readable template.
    c = config
    upload = c["dataset"].startswith("upload:")
    out_act = "sigmoid" if task_of(c["dataset"]) == "classification" else "linear"
    layers = []
    for i, w in enumerate(c["hidden"]):
        first = ", input_dim=len(FEATURES)" if i == 0 else ""
        layers.append(f"    nl.layers.Dense({w}, {c['activation']!r}, init={c['init']!r}{first}),")
        if c["dropout"] > 0:
            layers.append(f"    nl.layers.Dropout({c['dropout']!r}),")
    first = "" if c["hidden"] else ", input_dim=len(FEATURES)"
    layers.append(f"    nl.layers.Dense(1, {out_act!r}, init={c['init']!r}{first}),")
    if upload:
        data = ("# the data came from an uploaded CSV: read it the same way\n"
                "X, y, _ = read_upload(open('your.csv', 'rb').read(), 'your.csv')")
    else:
        data = f"X, y = make_data({c['dataset']!r}, n_samples={c['n_samples']}, noise={c['noise']!r}, seed=SEED)"
    title = f"{c['dataset']}, {c['hidden']} {c['activation']}, {c['optimizer']}, {steps} steps"
    return f'''"""A neuronlab playground run: {title}."""
import numpy as np

import neuronlab as nl
from neuronlab.playground.datasets import features, make_data, read_upload  # noqa: F401

SEED = {c['seed']}
FEATURES = {c['features']!r}
{data}
n_train = min(max(int(round(len(X) * {c['train_ratio']!r})), 1), len(X) - 1)
F = features(X, FEATURES).astype(np.float64)
y = y.astype(np.float64)
F_train, y_train, F_test, y_test = F[:n_train], y[:n_train], F[n_train:], y[n_train:]

model = nl.Sequential([
{chr(10).join(layers)}
], seed=SEED, dtype="float64")
model.compile(loss={c['loss']!r}, optimizer={_optimizer(c)})

rng = np.random.default_rng(SEED)         # one permutation of the training set per epoch
order, cursor = rng.permutation(n_train), 0


def train(steps, K):
    """``steps`` steps of the guide's loop, each on the next K samples (K = 1: SGD, K = n: GD)."""
    global order, cursor
    for _ in range(steps):
        if cursor >= n_train:
            order, cursor = rng.permutation(n_train), 0
        idx = order[cursor:cursor + K]
        cursor += len(idx)
        model.train_step(F_train[idx], y_train[idx])


{_training(plan)}

print("train", model.test_step(F_train, y_train), "test", model.test_step(F_test, y_test))
model.save("playground.safetensors")
'''
