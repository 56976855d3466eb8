"""Memory through time: a vanilla RNN vs an LSTM on the adding problem at growing lengths.

Back-propagation through time multiplies ∂C/∂H_t by Uᵀ and f'(Z) once per step back, as
back-propagation through depth does per layer: along a tanh RNN the gradient that reaches
the first steps of a 100-step sequence is orders of magnitude smaller than at the last
step, so the network cannot learn what those steps held. The LSTM's cell state
C_t = F ⊙ C_{t-1} + I ⊙ G carries the gradient back additively (× F ≈ 1 per step), and
‖∂C/∂H_t‖ stays within a small factor along the whole sequence.

The task: the adding problem (``nl.datasets.adding_problem``), two marked numbers among T,
target their sum; answering the mean scores MSE 1/6 ≈ 0.167, "solved" is MSE < 0.01.
Training uses Adam with gradient clipping by global norm (clipnorm = 1), fresh data every
batch, and the same budget of updates for both networks.
"""

from __future__ import annotations

import time

import numpy as np

from .. import layers as _layers
from .. import optimizers as _optim
from ..datasets.sequences import adding_baseline_mse, adding_problem, single_blas_thread
from ..model import Sequential
from ._common import TAB10, figure, prepare, save, table, write_json

TOPIC = "memory"
KINDS = ("rnn", "lstm")
LABELS = {"rnn": "vanilla RNN (tanh)", "lstm": "LSTM", "gru": "GRU"}
SOLVED = 0.01


def adding_model(kind: str, length: int, units: int = 32, lr: float = 0.01, clipnorm: float = 1.0,
                 seed: int = 0) -> Sequential:
    """``kind`` ("rnn", "lstm" or "gru") with ``units`` → Dense(1), compiled for MSE with Adam + clipnorm."""
    cls = {"rnn": _layers.SimpleRNN, "lstm": _layers.LSTM, "gru": _layers.GRU}[kind]
    model = Sequential([cls(units, input_shape=(length, 2)), _layers.Dense(1)], seed=seed)
    model.compile(loss="mse", optimizer=_optim.Adam(lr=lr, clipnorm=clipnorm))
    return model


def train_adding(kind: str, length: int, steps: int, batch_size: int = 32, units: int = 32, lr: float = 0.01,
                 seed: int = 0, eval_every: int = 100, n_test: int = 1000, stop_below: float | None = None) -> dict:
    """Train ``kind`` on the adding problem of length T = ``length`` for up to ``steps`` updates.

    Every ``eval_every`` updates (on fresh data from a generator seeded by ``seed``) the test
    MSE on ``n_test`` fixed sequences is recorded; training stops early once it falls below
    ``stop_below`` (None: never).

    Returns
    -------
    dict
        ``steps`` and ``mse`` (the test curve), ``final_mse``, ``solved_at`` (first step with
        MSE < 0.01, or None), ``seconds`` and the trained ``model``.
    """
    model = adding_model(kind, length, units, lr, seed=seed)
    X_test, y_test = adding_problem(n_test, length, seed=10_000 + seed)
    rng = np.random.default_rng(seed)
    curve_steps, curve = [0], [model.evaluate(X_test, y_test)["loss"]]
    solved_at = None
    t0 = time.perf_counter()
    done = 0
    while done < steps:
        k = min(eval_every, steps - done)
        X, y = adding_problem(k * batch_size, length, seed=rng)
        model.fit(X, y, epochs=1, batch_size=batch_size, shuffle=False, verbose=0)
        done += k
        mse = model.evaluate(X_test, y_test)["loss"]
        curve_steps.append(done)
        curve.append(mse)
        if solved_at is None and mse < SOLVED:
            solved_at = done
        if stop_below is not None and mse < stop_below:
            break
    return {"steps": curve_steps, "mse": curve, "final_mse": curve[-1], "solved_at": solved_at,
            "seconds": time.perf_counter() - t0, "model": model}


def state_gradient_norms(model: Sequential, X, y) -> np.ndarray:
    """‖∂C/∂H_t‖ for t = 1..T (Frobenius norm over the batch) from one backward pass of the model's loss."""
    layer = model.layers[0]
    layer.track_state_grads = True
    try:
        model.loss_and_grads(X, y)
        return layer.state_grad_norms.copy()
    finally:
        layer.track_state_grads = False


# Longer than ~60 lines on purpose: one claim of the guide from data to figures and table,
# read top to bottom; splitting it would scatter the claim over helpers that share its locals.
def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """RNN vs LSTM: ‖∂C/∂H_t‖ through time, and the adding problem solved or not at each length.

    Returns
    -------
    dict
        ``grad_through_time`` (per kind: norms at init and after training on T = 100, and
        first/last ratios), ``lengths`` and per kind and length ``final_mse``, ``solved_at``,
        ``curve``; ``budget`` (updates), ``batch_size``, ``units``.
    """
    out_dir = prepare(out_dir)
    if quick:
        lengths, budget, grad_T, n_test = (10, 30), 300, 30, 200
    else:
        lengths, budget, grad_T, n_test = (25, 50, 100, 200), 3000, 100, 1000
    batch_size, units = 32, 32
    results: dict = {"lengths": list(lengths), "budget": budget, "batch_size": batch_size, "units": units,
                     "baseline_mse": adding_baseline_mse(), "solved_below": SOLVED, "runs": {}, "grad_through_time": {}}
    Xg, yg = adding_problem(256, grad_T, seed=20_000 + seed)
    with single_blas_thread():
        for kind in KINDS:
            results["runs"][kind] = {}
            for T in lengths:
                r = train_adding(kind, T, budget, batch_size, units, seed=seed, n_test=n_test,
                                 stop_below=SOLVED / 2)
                model = r.pop("model")
                results["runs"][kind][T] = {k: r[k] for k in ("final_mse", "solved_at", "seconds")}
                results["runs"][kind][T]["curve"] = {"steps": r["steps"], "mse": r["mse"]}
                if T == grad_T:
                    trained = state_gradient_norms(model, Xg, yg)
                    fresh = state_gradient_norms(adding_model(kind, T, units, seed=seed), Xg, yg)
                    results["grad_through_time"][kind] = {
                        "T": T, "init": fresh, "trained": trained,
                        "first_over_last_init": fresh[0] / fresh[-1],
                        "first_over_last_trained": trained[0] / trained[-1]}

    # -- figures ----------------------------------------------------------------------------
    fig, axes = figure(1, 3, size=(16, 4.6))
    ax0, ax1, ax2 = axes[0]
    for k, kind in enumerate(KINDS):
        g = results["grad_through_time"][kind]
        t = np.arange(1, g["T"] + 1)
        ax0.semilogy(t, g["init"] / g["init"][-1], color=TAB10[k], lw=2, label=f"{LABELS[kind]}, at init")
        ax0.semilogy(t, g["trained"] / g["trained"][-1], color=TAB10[k], lw=1.5, ls="--",
                     label=f"{LABELS[kind]}, trained")
        finals = [results["runs"][kind][T]["final_mse"] for T in lengths]
        ax1.semilogy(lengths, finals, "o-", color=TAB10[k], lw=2, label=LABELS[kind])
        curve = results["runs"][kind][grad_T]["curve"]
        ax2.semilogy(curve["steps"], curve["mse"], color=TAB10[k], lw=2, label=LABELS[kind])
    ax0.set(title=f"‖∂C/∂H_t‖ / ‖∂C/∂H_T‖ through time (T = {grad_T})", xlabel="time step t",
            ylabel="relative gradient norm (log)")
    for ax in (ax1, ax2):
        ax.axhline(adding_baseline_mse(), color="gray", ls=":", lw=1)
        ax.axhline(SOLVED, color="green", ls=":", lw=1)
        ax.text(ax.get_xlim()[0], adding_baseline_mse() * 1.1, " answer the mean (1/6)", color="gray", fontsize=8)
        ax.text(ax.get_xlim()[0], SOLVED * 1.1, " solved (0.01)", color="green", fontsize=8)
    ax1.set(title=f"test MSE after at most {budget} updates", xlabel="sequence length T", ylabel="MSE (log)",
            xticks=list(lengths))
    ax2.set(title=f"test MSE during training, T = {grad_T}", xlabel="update", ylabel="MSE (log)")
    for ax in (ax0, ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(f"Memory through time: the adding problem, {units} units, Adam η = 0.01, clipnorm 1, K = {batch_size}")
    results["figures"] = [save(fig, out_dir, "memory_gradients")]

    table(f"memory: adding problem, test MSE after at most {budget} updates (solved: < {SOLVED}; "
          f"answering the mean: {adding_baseline_mse():.3f})",
          ["T", *[LABELS[k] for k in KINDS], *[f"{k} solved at" for k in KINDS]],
          [[T, *[results["runs"][k][T]["final_mse"] for k in KINDS],
            *[results["runs"][k][T]["solved_at"] or "-" for k in KINDS]] for T in lengths])
    table(f"memory: ‖∂C/∂H_1‖ / ‖∂C/∂H_T‖, T = {grad_T}", ["network", "at init", "trained"],
          [[LABELS[k], results["grad_through_time"][k]["first_over_last_init"],
            results["grad_through_time"][k]["first_over_last_trained"]] for k in KINDS])
    results["json"] = write_json(out_dir, TOPIC, results)
    return results
