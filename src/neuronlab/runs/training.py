"""One training run as ``neuronlab train`` does it, in steps: prepare, announce, fit, save, report.

:func:`run_training` writes the run folder (model, checkpoint, history, curves, config.toml,
run.json) and sends its progress lines to ``echo``.
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass, field, replace

import numpy as np

from .. import __version__
from .config import UsageError, build_model, write_toml
from .inputs import shape_for

__all__ = ["run_training", "write_history"]


@dataclass
class _Run:
    """A prepared run: the data scaled and shaped for the model, and where resuming starts."""

    cfg: dict
    out_dir: str
    echo: object
    data: object
    model: object
    X: np.ndarray
    y: np.ndarray
    Xt: np.ndarray
    yt: np.ndarray
    validation: tuple
    val_source: str
    info: dict
    prior_history: dict = field(default_factory=dict)
    prior_times: list = field(default_factory=list)
    initial_epoch: int = 0

    @property
    def ckpt_path(self) -> str:
        return os.path.join(self.out_dir, "checkpoint.safetensors")


@dataclass
class _Fit:
    interrupt: object
    ckpt: object
    history: dict
    times: list
    seconds: float


def run_training(cfg: dict, out_dir: str, resume: bool = False, callbacks=(), echo=print,
                 progress: bool | None = None, t0: float | None = None) -> dict:
    """Train as ``neuronlab train`` does; return the run summary (also written to run.json).

    ``cfg`` is a resolved configuration (:func:`resolve_config`). With ``resume`` the
    checkpoint in ``out_dir`` is loaded and training continues from its next epoch.
    ``callbacks`` are added to ``fit``'s (tests use them to simulate Ctrl-C). The summary
    has ``"interrupted": True`` when Ctrl-C stopped the run.
    """
    from .folders import claimed

    echo = _printable_echo(echo)  # data names and paths come from the file system: never terminal control
    t0 = time.perf_counter() if t0 is None else t0
    try:
        os.makedirs(out_dir, exist_ok=True)
        created = not os.listdir(out_dir)  # (an empty folder is removed again if the run fails)
    except OSError as e:
        raise UsageError(f"--out: cannot create {out_dir} ({e.strerror or e})") from None
    with claimed(out_dir, resume=resume, created=created):  # one run per folder, from here to the end
        run = _prepare(cfg, out_dir, resume, echo)
        _announce(run, resume)
        fit = _fit(run, callbacks, progress)
        if fit.interrupt.interrupted:
            return _interrupted(run, fit)
        summary, test = _save_results(run, fit, t0)
        _print_results(run, fit, test, t0)
        return summary


def _printable_echo(echo):
    from ..text import printable

    def out(message=""):
        echo("\n".join(printable(part) for part in str(message).split("\n")))

    return out


def _prepare(cfg, out_dir, resume, echo) -> _Run:
    """Load the data, build (or load, with ``resume``) the model, scale and shape the arrays."""
    from ..datasets import InputScaler, load_data, train_val_split
    from .folders import data_digest

    data = load_data(cfg["data"], test_data=cfg["test_data"], test_fraction=cfg["test_fraction"], seed=cfg["seed"],
                     label_column=cfg["label_column"], header=cfg.get("header", "auto"), log=lambda m: echo(m))
    X, y, Xt, yt = data.X_train, data.y_train, data.X_test, data.y_test
    val_source = "the test set"
    if cfg["val_split"]:
        (X, y), (Xv, yv) = train_val_split(X, y, cfg["val_split"], seed=cfg["seed"])
        val_source = f"{len(Xv):,} samples held out of the training data"
    scaler = InputScaler.auto(X)
    run = _Run(cfg, out_dir, echo, data, None, X, y, Xt, yt, (), val_source, {})
    if resume:
        _load_checkpoint(run)
    else:
        _build_model(run)
    run.info = {"classes": data.classes, "sample_shape": list(data.sample_shape), "scaler": scaler.get_config(),
                "data_name": data.name, "config": run.cfg,
                "data_sha256": {k: data_digest(cfg[k]) for k in ("data", "test_data")}}
    run.X = shape_for(run.model, scaler.transform(X), "train")
    run.Xt = shape_for(run.model, scaler.transform(Xt), "test")
    run.validation = ((run.Xt, yt) if not cfg["val_split"]
                      else (shape_for(run.model, scaler.transform(Xv), "validation"), yv))
    # the raw arrays are not needed once scaled: MNIST's uint8 copies are 55 MB of the run's peak memory
    run.data = replace(data, X_train=np.empty((0, *data.X_train.shape[1:]), data.X_train.dtype),
                       X_test=np.empty((0, *data.X_test.shape[1:]), data.X_test.dtype))
    return run


def _load_checkpoint(run: _Run) -> None:
    from ..saving import load_checkpoint

    run.model, extra = load_checkpoint(run.ckpt_path)
    run.prior_history, run.prior_times = extra.get("history", {}), extra.get("epoch_times", [])
    run.initial_epoch = int(extra.get("epoch", -1)) + 1
    if run.cfg.get("lr") is None:  # the run's base learning rate (the optimizer's may be decayed)
        run.cfg = {**run.cfg, "lr": (extra.get("config") or {}).get("lr", run.model.optimizer.lr)}


def _build_model(run: _Run) -> None:
    cfg, data = run.cfg, run.data
    if cfg["model"] == "mlp":
        check_mlp_memory(int(np.prod(data.sample_shape)), cfg["layers"], len(data.classes), cfg["batch_size"])
    run.model = model = build_model(cfg, data.sample_shape, len(data.classes))
    run.cfg = {**cfg, "lr": model.optimizer.lr}  # record the learning rate actually used


def available_memory() -> int | None:
    """Bytes of memory available now (Linux: MemAvailable; elsewhere free physical pages), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_mlp_memory(d: int, layers, k: int, batch_size: int) -> None:
    """Refuse, before allocating, an MLP whose training would need more memory than is available.

    Estimate: 4 bytes x (4 P + 3 K Σ n_l) for P parameters (weights, gradients, Adam's two
    moments) and the batch's pre-activations, activations and gradients over all widths n_l.
    """
    widths = [d, *layers, k]
    params = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))
    need = 4 * (4 * params + 3 * min(batch_size, 8192) * sum(widths))
    have = available_memory()
    if have is not None and need > have:
        raise UsageError(f"layers: an MLP {'-'.join(map(str, widths))} has {params:,} parameters and needs about "
                         f"{need / 2**30:,.1f} GiB to train; {have / 2**30:,.1f} GiB is available")


def _arch_text(model) -> str:
    dims = [str(model.input_dim or "x".join(map(str, model.input_shape or ())))]
    dims += [str(la.output_dim) for la in model.layers if la.params()]
    return "-".join(dims)


def _announce(run: _Run, resume: bool) -> None:
    cfg, echo = run.cfg, run.echo
    reg = f"dropout {cfg['dropout']}, " if cfg["dropout"] and cfg["model"] == "mlp" else ""
    lr_text = f"lr {cfg['lr']:g}" + (" with cosine decay" if cfg["schedule"] == "cosine" else "")
    echo(f"neuronlab {__version__} train: {cfg['model'].upper()} {_arch_text(run.model)} ({cfg['activation']}, "
         f"{reg}init {cfg['init']}), {type(run.model.optimizer).__name__} {lr_text}, batch {cfg['batch_size']}, "
         f"{cfg['epochs']} epochs, seed {cfg['seed']}")
    echo(f"data: {run.data.name}: {len(run.X):,} training / {len(run.Xt):,} test samples ({run.data.test_source}), "
         f"{len(run.data.classes)} classes; validation: {run.val_source}")
    if resume:
        echo(f"resuming {run.out_dir} after epoch {run.initial_epoch} of {cfg['epochs']}")


def _fit(run: _Run, callbacks, progress) -> _Fit:
    """``model.fit`` with the schedule, progress bar, Ctrl-C handler and per-epoch checkpoint."""
    from ..checkpoint import Checkpoint, GracefulInterrupt
    from ..progress import ProgressBar

    cfg, model = run.cfg, run.model
    steps = -(-len(run.X) // min(cfg["batch_size"], len(run.X)))
    if cfg["schedule"] == "cosine":
        from ..schedules import CosineDecay, LearningRateScheduler

        # η_t = η₀ (1 + cos(π t / T)) / 2 per update t, T = all updates of the run; η₀ is fixed
        # here, not read from the optimizer, so that a resumed run continues the same curve
        sched = LearningRateScheduler(CosineDecay(T=cfg["epochs"] * steps), per="step")
        sched.lr0 = float(cfg["lr"])
        callbacks = [sched, *callbacks]
    interrupt = GracefulInterrupt()
    ckpt = Checkpoint(run.ckpt_path, run.prior_history, run.prior_times, extra=run.info, interrupt=interrupt)
    # progress None: bar only on a terminal; False: epoch lines only; True: always a bar
    bar = ProgressBar(cfg["epochs"], steps, print_fn=run.echo, disable=None if progress is None else not progress)
    cbs = [bar, interrupt, ckpt, *callbacks]
    t_fit = time.perf_counter()
    with interrupt:
        if run.initial_epoch < cfg["epochs"]:
            model.fit(run.X, run.y, epochs=cfg["epochs"], batch_size=cfg["batch_size"], validation_data=run.validation,
                      callbacks=cbs, verbose=0, initial_epoch=run.initial_epoch)
    seconds = time.perf_counter() - t_fit
    trained = model.history is not None and run.initial_epoch < cfg["epochs"]
    return _Fit(interrupt, ckpt, ckpt.history() if trained else run.prior_history, ckpt.times, seconds)


def _interrupted(run: _Run, fit: _Fit) -> dict:
    """Save the weights of the interrupted epoch and say how to resume."""
    cfg, echo, interrupt = run.cfg, run.echo, fit.interrupt
    path = os.path.join(run.out_dir, "interrupted.safetensors")
    run.model.save(path, include_optimizer=False, extra={**run.info, "interrupted_in_epoch": interrupt.epoch})
    done = fit.ckpt.last_epoch if fit.ckpt.last_epoch is not None else run.initial_epoch - 1
    echo(f"\nInterrupted during epoch {(interrupt.epoch or 0) + 1}: the weights at that moment are in {path}.")
    if done >= 0:
        echo(f"The checkpoint holds epoch {done + 1}/{cfg['epochs']}; continue exactly where it left off with:\n"
             f"  neuronlab train --resume {run.out_dir}")
    else:
        echo("No epoch was completed, so there is nothing to resume; start again with neuronlab train.")
    return {"interrupted": True, "run_dir": run.out_dir, "epochs_done": done + 1}


def _save_results(run: _Run, fit: _Fit, t0: float) -> tuple[dict, dict]:
    """Test the model and write model.safetensors, history, curves.png, config.toml and run.json."""
    cfg, data, out_dir, history = run.cfg, run.data, run.out_dir, fit.history
    test = run.model.evaluate(run.Xt, run.yt)
    total = time.perf_counter() - t0
    summary = {"test_loss": test["loss"], "test_accuracy": test["accuracy"], "epochs": cfg["epochs"],
               "time_total_s": round(total, 3), "time_fit_s": round(fit.seconds, 3),
               "epoch_times_s": [round(t, 4) for t in fit.times], "neuronlab_version": __version__,
               "numpy_version": np.__version__, "n_train": len(run.X), "n_test": len(run.Xt),
               "data": data.name, "test_source": data.test_source, "validation": run.val_source,
               "first_epoch_reaching_98pct_val": next((i + 1 for i, a in enumerate(history.get("val_accuracy", []))
                                                      if a >= 0.98), None)}
    run.model.save(os.path.join(out_dir, "model.safetensors"), include_optimizer=False,
                   extra={**run.info, "history": history, "test": test})
    write_history(out_dir, history, fit.times)
    from ..plots import plot_history
    from ..text import printable

    plot_history(history, os.path.join(out_dir, "curves.png"),
                 title=printable(f"{data.name}: {cfg['model']} {_arch_text(run.model)}, test accuracy "
                                 f"{100 * test['accuracy']:.2f}%"),
                 val_label="test set" if not cfg["val_split"] else "validation")
    write_toml(os.path.join(out_dir, "config.toml"), {k: v for k, v in cfg.items() if k != "out"},
               comment=f"the configuration of this run; rerun with: neuronlab train --config {out_dir}/config.toml")
    with open(os.path.join(out_dir, "run.json"), "w", encoding="utf-8") as f:
        json.dump({"config": cfg, "summary": summary}, f, indent=2)
    summary["run_dir"] = out_dir
    summary["interrupted"] = False
    return summary, test


def _print_results(run: _Run, fit: _Fit, test: dict, t0: float) -> None:
    echo, out_dir, data = run.echo, run.out_dir, run.data
    total = time.perf_counter() - t0
    echo("")
    echo(f"Test accuracy: {100 * test['accuracy']:.2f}%  (loss {test['loss']:.4f}, {len(run.Xt):,} {data.name} test "
         f"samples)")
    echo(f"Time: {total:.1f} s in all, {fit.seconds:.1f} s training")
    echo(f"Run folder: {out_dir}{os.sep}")
    echo("  model.safetensors       the trained model (safetensors + architecture JSON)")
    echo("  checkpoint.safetensors  last epoch with optimizer and RNG state (for --resume)")
    echo("  history.csv/.json       per-epoch loss and accuracy;  curves.png  learning curves")
    echo("  config.toml, run.json   the configuration used and this summary")
    model_path = os.path.join(out_dir, "model.safetensors")
    example = "digit.png" if len(data.sample_shape) >= 2 else "rows.csv"
    echo(f"Next: neuronlab evaluate {model_path}   |   neuronlab predict {model_path} {example}")


def write_history(out_dir, history: dict, times) -> None:
    """history.csv and history.json: one row per epoch, with each epoch's seconds."""
    keys = list(history)
    n = max((len(v) for v in history.values()), default=0)
    with open(os.path.join(out_dir, "history.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["epoch", *keys, "time_s"])
        for i in range(n):
            row = [history[k][i] if i < len(history[k]) else "" for k in keys]
            w.writerow([i + 1, *[repr(float(v)) if v != "" else "" for v in row],
                        f"{times[i]:.4f}" if i < len(times) else ""])
    with open(os.path.join(out_dir, "history.json"), "w", encoding="utf-8") as f:
        json.dump({"epoch": list(range(1, n + 1)), **history, "time_s": list(times)}, f, indent=2)
