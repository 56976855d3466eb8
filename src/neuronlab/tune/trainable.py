"""One trial of a sweep, as a Ray Tune function trainable: build, ``fit``, report each epoch.

The driver reads and scales the data once (:func:`prepare_data`) and hands the arrays to
:func:`train_trial` through ``tune.with_parameters``: Ray puts them in its object store
once, and every trial on a node maps the same read-only copy (no copy per trial). The test
split stays in the driver: trials see only the training set and its validation split.

Each epoch :class:`ReportToTune` sends the epoch's metrics to Ray Tune with a checkpoint
(a neuronlab model file with optimizer and RNG state), so that ASHA can stop the trial after
any epoch, the best trial's model can be kept, and a resumed sweep continues an unfinished
trial from its last epoch. A :class:`~neuronlab.NonFiniteError` propagates: Ray records the
trial as failed with its message and the sweep goes on.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ..callbacks import Callback
from .space import trial_config

__all__ = ["prepare_data", "train_trial", "build_model", "ReportToTune", "CHECKPOINT_FILE"]

CHECKPOINT_FILE = "checkpoint.safetensors"


def prepare_data(fixed: dict, echo=None) -> tuple[dict, tuple]:
    """Read the sweep's data once, as ``neuronlab train`` does with the same options.

    → ``(bundle, (X_test, y_test))``: ``bundle`` holds the scaled float32 training part
    ``X``, ``y``, the validation split ``Xv``, ``yv`` (``val_split`` of the training set,
    drawn from ``seed``) and ``info`` (classes, sample shape, scaler, data name) for the model
    files. The test pair is scaled the same way and is used once, on the best model.
    """
    from ..datasets import InputScaler, load_data, train_val_split

    data = load_data(fixed["data"], test_data=fixed["test_data"], test_fraction=fixed["test_fraction"],
                     seed=fixed["seed"], label_column=fixed["label_column"], log=echo)
    (X, y), (Xv, yv) = train_val_split(data.X_train, data.y_train, fixed["val_split"], seed=fixed["seed"])
    scaler = InputScaler.auto(X)
    info = {"classes": data.classes, "sample_shape": list(data.sample_shape), "scaler": scaler.get_config(),
            "data_name": data.name, "test_source": data.test_source}
    bundle = {"X": scaler.transform(X), "y": np.asarray(y), "Xv": scaler.transform(Xv), "yv": np.asarray(yv),
              "info": info}
    return bundle, (scaler.transform(data.X_test), np.asarray(data.y_test))


def build_model(cfg: dict, info: dict):
    """The compiled model of ``neuronlab train`` for ``cfg`` (:func:`neuronlab.runs.build_model`)."""
    from ..runs import build_model as train_model

    return train_model(cfg, info["sample_shape"], len(info["classes"]))


def _blas_threads() -> int:
    """The largest thread count of the BLAS libraries loaded in this process (1 if none)."""
    from threadpoolctl import threadpool_info

    return max([lib["num_threads"] for lib in threadpool_info() if lib.get("user_api") == "blas"] or [1])


class ReportToTune(Callback):
    """At each epoch end: save a checkpoint file and report the epoch's metrics to Ray Tune.

    The report carries ``epoch`` (1-based), the logs of ``fit`` (loss, accuracy, val_loss,
    val_accuracy, lr), ``epochs`` (the trial's planned count), the Ray ``node_id`` the trial
    runs on and ``blas_threads`` (what threadpoolctl allowed).
    """

    def __init__(self, workdir: str, extra: dict, history: dict | None = None):
        super().__init__()
        self.workdir, self.extra = workdir, extra
        self.history = {k: list(v) for k, v in (history or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        import ray
        from ray import tune

        from ..io import save_model

        logs = {k: float(v) for k, v in (logs or {}).items()}
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)
        save_model(self.model, os.path.join(self.workdir, CHECKPOINT_FILE), include_optimizer=True, include_rng=True,
                   extra={**self.extra, "epoch": int(epoch), "history": self.history})
        metrics = {**logs, "epoch": int(epoch) + 1, "epochs": int(self.extra["config"]["epochs"]),
                   "node_id": ray.get_runtime_context().get_node_id(), "blas_threads": _blas_threads()}
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(self.workdir))


def train_trial(config: dict, *, data: dict, fixed: dict, cpus: int) -> None:
    """Ray Tune trainable: train one sampled configuration, reporting every epoch.

    ``config`` holds the sampled options, ``fixed`` the sweep's fixed ``train`` options,
    ``data`` the bundle of :func:`prepare_data` (from the object store), ``cpus`` the trial's
    CPUs: BLAS uses at most that many threads.
    """
    from threadpoolctl import threadpool_limits

    from ..threads import set_threads

    set_threads(cpus)  # fit's own thread choice (neuronlab.threads) would otherwise count idle cores of the node
    with threadpool_limits(limits=cpus, user_api="blas"), tempfile.TemporaryDirectory(prefix="nl-trial-") as work:
        _train(trial_config(fixed, config), data, work)


def _train(cfg: dict, data: dict, workdir: str) -> None:
    from ray import tune

    from ..runs.inputs import shape_for
    from ..saving import load_checkpoint
    from ..schedules import CosineDecay, LearningRateScheduler

    info = data["info"]
    start, history = 0, {}
    previous = tune.get_checkpoint()
    if previous is not None:  # a resumed sweep: continue this trial after its last reported epoch
        with previous.as_directory() as d:
            model, extra = load_checkpoint(os.path.join(d, CHECKPOINT_FILE))
        start, history = int(extra["epoch"]) + 1, extra.get("history", {})
        cfg = {**cfg, "lr": (extra.get("config") or {}).get("lr", cfg["lr"])}  # the base lr, not the decayed one
    else:
        model = build_model(cfg, info)
    cfg = {**cfg, "lr": cfg["lr"] if cfg["lr"] is not None else float(model.optimizer.lr)}
    X, Xv = shape_for(model, data["X"], "train"), shape_for(model, data["Xv"], "validation")
    callbacks = [ReportToTune(workdir, {**info, "config": cfg}, history)]
    if cfg["schedule"] == "cosine":  # as neuronlab train: η_t = η₀ (1 + cos(π t / T)) / 2 per update
        steps = -(-len(X) // min(cfg["batch_size"], len(X)))
        sched = LearningRateScheduler(CosineDecay(T=cfg["epochs"] * steps), per="step")
        sched.lr0 = float(cfg["lr"])
        callbacks.insert(0, sched)
    if start < cfg["epochs"]:
        model.fit(X, data["y"], epochs=cfg["epochs"], batch_size=cfg["batch_size"], validation_data=(Xv, data["yv"]),
                  callbacks=callbacks, verbose=0, initial_epoch=start)
