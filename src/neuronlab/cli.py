"""The ``neuronlab`` command: train, evaluate, predict, info (and the guide's demo, trace).

``neuronlab train`` with no options trains the default MLP on the MNIST copy shipped in
the package and writes a run folder. Every error is one line on stderr and a non-zero
exit code (2 for usage errors); set ``NEURONLAB_DEBUG=1`` to see a traceback instead.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import csv  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

try:
    import click
except ImportError:  # the command-line extra is not installed
    click = None

import numpy as np  # noqa: E402

from . import __version__  # noqa: E402
from . import activations as _activations  # noqa: E402
from . import initializers as _initializers  # noqa: E402
from . import optimizers as _optimizers  # noqa: E402
from . import zoo as _zoo  # noqa: E402
from .core import NeuronlabError  # noqa: E402

__all__ = ["main", "run_training", "DEFAULTS", "resolve_config"]

DEFAULTS = {
    "data": "mnist",
    "test_data": None,
    "test_fraction": 0.1,
    "label_column": "auto",
    "model": "mlp",
    "layers": [512, 256],
    "activation": "relu",
    "init": "he_normal",
    "dropout": 0.2,
    "optimizer": "adam",
    "lr": None,  # None: the optimizer's own default (Adam: 1e-3)
    "momentum": None,
    "schedule": "cosine",
    "epochs": 6,
    "batch_size": 128,
    "seed": 0,
    "val_split": 0.0,
    "out": None,
}
SCHEDULES = ("cosine", "constant")
RUN_FILES = ("model.safetensors", "checkpoint.safetensors", "history.csv", "history.json", "curves.png",
             "config.toml", "run.json")
# options that must not change when a run is resumed (epochs may grow)
_FROZEN_ON_RESUME = [k for k in DEFAULTS if k not in ("epochs", "out")]


class UsageError(ValueError):
    """A bad option value or combination (exit code 2), usable without click."""


# -- configuration ---------------------------------------------------------------------------
def _parse_layers(value):
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "none", "[]"):
            return []
        try:
            value = [int(v) for v in text.replace(" ", "").strip("[]").split(",") if v]
        except ValueError:
            raise UsageError(f"--layers: expected comma-separated positive integers like 512,256, "
                             f"got {value!r}") from None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                       for v in value):
        raise UsageError(f"layers: expected a list of positive integers, got {value!r}")
    return list(value)


def _read_toml(path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise UsageError("--config needs Python 3.11+ or the 'tomli' package (pip install tomli)") from None
    if not os.path.isfile(path):
        raise UsageError(f"--config: {path}: no such file")
    try:
        with open(path, "rb") as f:
            cfg = tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"--config: {path}: not valid TOML ({e})") from None
    cfg = cfg.get("train", cfg)  # a [train] table or top-level keys
    cfg = {k.replace("-", "_"): v for k, v in cfg.items()}
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise UsageError(f"--config: {path}: unknown key {unknown[0]!r}; valid keys: {', '.join(DEFAULTS)}")
    return cfg


def resolve_config(cli: dict, config_path=None, base: dict | None = None) -> dict:
    """Merge defaults < ``base`` (a saved run) < TOML file < explicit command-line options; validate."""
    from . import activations, initializers, optimizers, zoo

    cfg = dict(DEFAULTS)
    if base:
        cfg.update({k: v for k, v in base.items() if k in DEFAULTS})
    if config_path:
        cfg.update(_read_toml(config_path))
    cfg.update({k: v for k, v in cli.items() if v is not None})
    cfg["layers"] = _parse_layers(cfg["layers"])

    def check(key, ok, what):
        if not ok:
            raise UsageError(f"{key.replace('_', '-')}: expected {what}, got {cfg[key]!r}")

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    def is_num(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    check("epochs", is_int(cfg["epochs"]) and cfg["epochs"] >= 1, "a positive integer")
    check("batch_size", is_int(cfg["batch_size"]) and cfg["batch_size"] >= 1, "a positive integer")
    check("seed", is_int(cfg["seed"]) and cfg["seed"] >= 0, "a non-negative integer")
    check("dropout", is_num(cfg["dropout"]) and 0 <= cfg["dropout"] < 1, "a number in [0, 1)")
    check("val_split", is_num(cfg["val_split"]) and 0 <= cfg["val_split"] < 1, "a number in [0, 1)")
    check("test_fraction", is_num(cfg["test_fraction"]) and 0 < cfg["test_fraction"] < 1, "a number in (0, 1)")
    check("lr", cfg["lr"] is None or (is_num(cfg["lr"]) and cfg["lr"] > 0), "a positive number")
    check("momentum", cfg["momentum"] is None or (is_num(cfg["momentum"]) and 0 <= cfg["momentum"] < 1),
          "a number in [0, 1)")
    for key, names in (("activation", activations.names()), ("init", initializers.names()),
                       ("optimizer", optimizers.names()), ("model", zoo.names())):
        check(key, isinstance(cfg[key], str), "a name")
        if cfg[key].lower() not in [n.lower() for n in names] and not (key == "init" and cfg[key] == "auto"):
            raise UsageError(f"{key}: unknown {key} {cfg[key]!r}; valid names: {', '.join(names)}")
        cfg[key] = cfg[key].lower()
    check("data", isinstance(cfg["data"], str) and cfg["data"], "a dataset name or path")
    check("schedule", cfg["schedule"] in SCHEDULES, f"one of {', '.join(SCHEDULES)}")
    if isinstance(cfg["label_column"], str) and cfg["label_column"].lstrip("-").isdigit():
        cfg["label_column"] = int(cfg["label_column"])
    return cfg


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)


def write_toml(path, cfg: dict, comment: str = "") -> None:
    """Write a flat config as TOML (None values are left out: they mean "the default")."""
    lines = [f"# {line}" for line in comment.splitlines()] if comment else []
    lines += [f"{k} = {_toml_value(v)}" for k, v in cfg.items() if v is not None]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


# -- training ----------------------------------------------------------------------------------
def _make_optimizer(cfg):
    from . import optimizers

    kwargs = {}
    if cfg["lr"] is not None:
        kwargs["lr"] = cfg["lr"]
    if cfg["momentum"] is not None:
        kwargs["momentum"] = cfg["momentum"]
    try:
        return optimizers.get(cfg["optimizer"], **kwargs)
    except TypeError:
        raise UsageError(f"--momentum does not apply to optimizer {cfg['optimizer']!r}") from None


def _new_run_dir(root="runs") -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, i = os.path.join(root, stamp), 2
    while os.path.exists(path):
        path, i = os.path.join(root, f"{stamp}-{i}"), i + 1
    return path


def _shape_for(model, X, where):
    shape = tuple(model.input_shape or ())
    per = int(np.prod(X.shape[1:]))
    if int(np.prod(shape)) != per:
        raise NeuronlabError(f"{where}: samples of shape {X.shape[1:]} ({per} values) do not fit the model's "
                             f"input shape {shape}")
    return X.reshape(len(X), *shape)


def _arch_text(model) -> str:
    dims = [str(model.input_dim or "x".join(map(str, model.input_shape or ())))]
    dims += [str(la.output_dim) for la in model.layers if la.params()]
    return "-".join(dims)


def run_training(cfg: dict, out_dir: str, resume: bool = False, callbacks=(), echo=print,
                 progress: bool | None = None, t0: float | None = None) -> dict:
    """Train as ``neuronlab train`` does; return the run summary (also written to run.json).

    ``cfg`` is a resolved configuration (:func:`resolve_config`). With ``resume`` the
    checkpoint in ``out_dir`` is loaded and training continues from its next epoch.
    ``callbacks`` are added to ``fit``'s (tests use them to simulate Ctrl-C). The summary
    has ``"interrupted": True`` when Ctrl-C stopped the run.
    """
    from .checkpoint import Checkpoint, GracefulInterrupt
    from .datasets import InputScaler, load_data, train_val_split
    from .io import load_checkpoint
    from .progress import ProgressBar

    t0 = time.perf_counter() if t0 is None else t0
    data = load_data(cfg["data"], test_data=cfg["test_data"], test_fraction=cfg["test_fraction"], seed=cfg["seed"],
                     label_column=cfg["label_column"], log=lambda m: echo(m))
    X, y, Xt, yt = data.X_train, data.y_train, data.X_test, data.y_test
    val_source = "the test set"
    if cfg["val_split"]:
        (X, y), (Xv, yv) = train_val_split(X, y, cfg["val_split"], seed=cfg["seed"])
        val_source = f"{len(Xv):,} samples held out of the training data"
    scaler = InputScaler.auto(X)
    ckpt_path = os.path.join(out_dir, "checkpoint.safetensors")

    prior_history, prior_times, initial_epoch = {}, [], 0
    if resume:
        model, extra = load_checkpoint(ckpt_path)
        prior_history, prior_times = extra.get("history", {}), extra.get("epoch_times", [])
        initial_epoch = int(extra.get("epoch", -1)) + 1
        if cfg.get("lr") is None:  # the run's base learning rate (the optimizer's may be decayed)
            cfg = {**cfg, "lr": (extra.get("config") or {}).get("lr", model.optimizer.lr)}
    else:
        from . import zoo

        model = zoo.get(cfg["model"]).builder(data.sample_shape, len(data.classes), layers=cfg["layers"],
                                                activation=cfg["activation"], init=cfg["init"],
                                                dropout=cfg["dropout"], seed=cfg["seed"])
        model.compile(loss="categorical_crossentropy", optimizer=_make_optimizer(cfg), metrics=["accuracy"])
        cfg = {**cfg, "lr": model.optimizer.lr}  # record the learning rate actually used
    info = {"classes": data.classes, "sample_shape": list(data.sample_shape), "scaler": scaler.get_config(),
            "data_name": data.name, "config": cfg}
    X = _shape_for(model, scaler.transform(X), "train")
    Xt = _shape_for(model, scaler.transform(Xt), "test")
    validation = (Xt, yt) if not cfg["val_split"] else (_shape_for(model, scaler.transform(Xv), "validation"), yv)

    opt = model.optimizer
    reg = f"dropout {cfg['dropout']}, " if cfg["dropout"] and cfg["model"] == "mlp" else ""
    lr_text = f"lr {cfg['lr']:g}" + (" with cosine decay" if cfg["schedule"] == "cosine" else "")
    echo(f"neuronlab {__version__} train: {cfg['model'].upper()} {_arch_text(model)} ({cfg['activation']}, {reg}"
         f"init {cfg['init']}), {type(opt).__name__} {lr_text}, batch {cfg['batch_size']}, "
         f"{cfg['epochs']} epochs, seed {cfg['seed']}")
    echo(f"data: {data.name}: {len(X):,} training / {len(Xt):,} test samples ({data.test_source}), "
         f"{len(data.classes)} classes; validation: {val_source}")
    if resume:
        echo(f"resuming {out_dir} after epoch {initial_epoch} of {cfg['epochs']}")

    steps = -(-len(X) // min(cfg["batch_size"], len(X)))
    if cfg["schedule"] == "cosine":
        from .schedules import CosineDecay, LearningRateScheduler

        # η_t = η₀ (1 + cos(π t / T)) / 2 per update t, T = all updates of the run; η₀ is fixed
        # here, not read from the optimizer, so that a resumed run continues the same curve
        sched = LearningRateScheduler(CosineDecay(T=cfg["epochs"] * steps), per="step")
        sched.lr0 = float(cfg["lr"])
        callbacks = [sched, *callbacks]
    interrupt = GracefulInterrupt()
    ckpt = Checkpoint(ckpt_path, prior_history, prior_times, extra=info, interrupt=interrupt)
    # progress None: bar only on a terminal; False: epoch lines only; True: always a bar
    bar = ProgressBar(cfg["epochs"], steps, print_fn=echo, disable=None if progress is None else not progress)
    cbs = [bar, interrupt, ckpt, *callbacks]
    t_fit = time.perf_counter()
    with interrupt:
        if initial_epoch < cfg["epochs"]:
            model.fit(X, y, epochs=cfg["epochs"], batch_size=cfg["batch_size"], validation_data=validation,
                      callbacks=cbs, verbose=0, initial_epoch=initial_epoch)
    fit_time = time.perf_counter() - t_fit
    history = ckpt.history() if model.history is not None and initial_epoch < cfg["epochs"] else prior_history
    times = ckpt.times

    if interrupt.interrupted:
        path = os.path.join(out_dir, "interrupted.safetensors")
        model.save(path, include_optimizer=False, extra={**info, "interrupted_in_epoch": interrupt.epoch})
        done = ckpt.last_epoch if ckpt.last_epoch is not None else initial_epoch - 1
        echo(f"\nInterrupted during epoch {(interrupt.epoch or 0) + 1}: the weights at that moment are in {path}.")
        if done >= 0:
            echo(f"The checkpoint holds epoch {done + 1}/{cfg['epochs']}; continue exactly where it left off with:\n"
                 f"  neuronlab train --resume {out_dir}")
        else:
            echo("No epoch was completed, so there is nothing to resume; start again with neuronlab train.")
        return {"interrupted": True, "run_dir": out_dir, "epochs_done": done + 1}

    test = model.evaluate(Xt, yt)
    total = time.perf_counter() - t0
    summary = {"test_loss": test["loss"], "test_accuracy": test["accuracy"], "epochs": cfg["epochs"],
               "time_total_s": round(total, 3), "time_fit_s": round(fit_time, 3),
               "epoch_times_s": [round(t, 4) for t in times], "neuronlab_version": __version__,
               "numpy_version": np.__version__, "n_train": len(X), "n_test": len(Xt),
               "data": data.name, "test_source": data.test_source, "validation": val_source,
               "first_epoch_reaching_98pct_val": next((i + 1 for i, a in enumerate(history.get("val_accuracy", []))
                                                      if a >= 0.98), None)}
    model.save(os.path.join(out_dir, "model.safetensors"), include_optimizer=False,
               extra={**info, "history": history, "test": test})
    _write_history(out_dir, history, times)
    from .plots import plot_history

    plot_history(history, os.path.join(out_dir, "curves.png"),
                 title=f"{data.name}: {cfg['model']} {_arch_text(model)}, test accuracy {100 * test['accuracy']:.2f}%",
                 val_label="test set" if not cfg["val_split"] else "validation")
    write_toml(os.path.join(out_dir, "config.toml"), {k: v for k, v in cfg.items() if k != "out"},
               comment=f"the configuration of this run; rerun with: neuronlab train --config {out_dir}/config.toml")
    with open(os.path.join(out_dir, "run.json"), "w", encoding="utf-8") as f:
        json.dump({"config": cfg, "summary": summary}, f, indent=2)
    summary["run_dir"] = out_dir
    summary["interrupted"] = False

    total = time.perf_counter() - t0
    echo("")
    echo(f"Test accuracy: {100 * test['accuracy']:.2f}%  (loss {test['loss']:.4f}, {len(Xt):,} {data.name} test "
         f"samples)")
    echo(f"Time: {total:.1f} s in all, {fit_time:.1f} s training")
    echo(f"Run folder: {out_dir}{os.sep}")
    echo("  model.safetensors       the trained model (safetensors + architecture JSON)")
    echo("  checkpoint.safetensors  last epoch with optimizer and RNG state (for --resume)")
    echo("  history.csv/.json       per-epoch loss and accuracy;  curves.png  learning curves")
    echo("  config.toml, run.json   the configuration used and this summary")
    model_path = os.path.join(out_dir, "model.safetensors")
    example = "digit.png" if len(data.sample_shape) >= 2 else "rows.csv"
    echo(f"Next: neuronlab evaluate {model_path}   |   neuronlab predict {model_path} {example}")
    return summary


def _write_history(out_dir, history: dict, times) -> None:
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


# -- evaluation and prediction helpers ---------------------------------------------------------------
def _load(model_path):
    from .io import load_checkpoint

    model, extra = load_checkpoint(model_path)
    if not model.built:
        raise NeuronlabError(f"{model_path}: the model has no input shape (never built)")
    return model, extra


def _scaler(extra):
    from .datasets import InputScaler

    cfg = extra.get("scaler")
    return InputScaler.from_config(cfg) if isinstance(cfg, dict) else InputScaler("none")


def _classes(model, extra) -> list[str]:
    c = extra.get("classes")
    return [str(x) for x in c] if isinstance(c, list) else [str(i) for i in range(max(model.output_dim, 2))]


def _probabilities(model, X) -> np.ndarray:
    P = model.predict(X)
    if P.shape[1] == 1:  # one sigmoid output: P(class 1)
        P = np.concatenate([1 - P, P], axis=1)
    return P


def _eval_data(data_spec, extra, model):
    """The evaluation set: the saved run's test split, or all of ``data_spec`` (its test split if it has one)."""
    from .datasets import encode_labels, load_data
    from .datasets.load import read_source

    classes = _classes(model, extra)
    saved = extra.get("config") or {}
    if data_spec is None:
        if "data" not in saved:
            raise UsageError("this model file does not say what data it was trained on: give --data")
        d = load_data(saved["data"], test_data=saved.get("test_data"), test_fraction=saved.get("test_fraction", 0.1),
                      seed=saved.get("seed", 0), label_column=saved.get("label_column", "auto"))
        return d.X_test, d.y_test, f"{d.name}, {d.test_source}"
    X, y, Xt, yt, name, known = read_source(data_spec, saved.get("label_column", "auto"), True, None, None)
    X, y, what = (Xt, yt, "test set") if Xt is not None else (X, y, "all samples")
    if known is None:
        try:
            y, _ = encode_labels(y, classes)
        except ValueError as e:
            raise NeuronlabError(f"{data_spec}: {e}") from None
    return X, np.asarray(y).astype(np.int64), f"{name}, {what}"


def _report(cm, classes) -> list[str]:
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    w = max(5, *(len(c) for c in classes))
    lines = [f"{'class':>{w}}  precision  recall  f1-score  support"]
    for c, p, r, f, s in zip(classes, precision, recall, f1, support):
        lines.append(f"{c:>{w}}  {p:9.4f}  {r:6.4f}  {f:8.4f}  {s:7d}")
    lines.append(f"{'macro':>{w}}  {precision.mean():9.4f}  {recall.mean():6.4f}  {f1.mean():8.4f}  {support.sum():7d}")
    return lines


def _matrix_text(cm, classes) -> list[str]:
    w = max(len(str(cm.max())), *(len(c) for c in classes)) + 1
    head = " " * (w + 1) + "".join(f"{c:>{w}}" for c in classes) + "   <- predicted"
    return [head] + [f"{c:>{w}} " + "".join(f"{v:>{w}d}" for v in row) for c, row in zip(classes, cm)]


_IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _read_inputs(path, sample_shape, n_features):
    """→ list of (label, array of samples) for one INPUT argument."""
    from .core import DataError
    from .datasets import load_npy, read_csv, read_idx

    low = os.path.basename(path).lower()
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if low.endswith(_IMAGE_EXT):
        return [(path, _read_image(path, sample_shape)[None])]
    if low.endswith(".npy"):
        a = load_npy(path)
    elif "idx" in low or low.endswith((".idx", ".ubyte", ".ubyte.gz")):
        a = read_idx(path)
    elif low.endswith((".csv", ".tsv", ".txt")):
        X, _ = read_csv(path, label_column=None)
        if X.shape[1] == n_features + 1:  # a label column too: take the features
            X, _ = read_csv(path, label_column="auto")
        a = X
    else:
        raise DataError(f"{path}: unknown input format (PNG/JPEG image, .npy, IDX or .csv)")
    if a.size == n_features and a.ndim >= 1 and (a.shape == tuple(sample_shape) or a.ndim == 1):
        a = a.reshape(1, -1)
    if a.size % n_features or a.ndim < 2 or int(np.prod(a.shape[1:])) != n_features:
        raise DataError(f"{path}: array of shape {a.shape} does not hold samples of shape {tuple(sample_shape)}")
    return [(f"{path}[{i}]" if len(a) > 1 else path, a[i:i + 1]) for i in range(len(a))]


def _read_image(path, sample_shape):
    """A grayscale image resized to the model's (H, W); dark-on-light images are inverted (MNIST is light-on-dark)."""
    from .core import DataError

    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DataError("reading images needs Pillow: pip install 'neuronlab[cli]'") from None
    if len(sample_shape) < 2:
        raise DataError(f"{path}: this model takes {sample_shape[0]} features, not images")
    h, w = int(sample_shape[0]), int(sample_shape[1])
    try:
        with Image.open(path) as im:
            im = im.convert("L")
            if im.size != (w, h):
                im = im.resize((w, h), Image.LANCZOS)
            a = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable image ({e})") from None
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if border.mean() > 127:
        a = 255 - a
    return a


# -- the click application ----------------------------------------------------------------------------
if click is not None:

    class _Main(click.Group):
        """A group whose errors are one line on stderr: exit 2 for usage, 1 otherwise, 130 on Ctrl-C."""

        def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
            if not standalone_mode:
                return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            debug = bool(os.environ.get("NEURONLAB_DEBUG"))
            code = 0
            try:
                rv = super().main(args, prog_name or "neuronlab", complete_var, standalone_mode=False, **extra)
                code = rv if isinstance(rv, int) else 0
            except click.UsageError as e:
                hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
                _fail(f"{e.format_message()}{hint}")
                code = 2
            except UsageError as e:
                _fail(str(e))
                code = 2
            except click.ClickException as e:
                _fail(e.format_message())
                code = e.exit_code
            except ImportError as e:
                if debug:
                    raise
                _fail(f"missing package {e.name or e}: pip install 'neuronlab[cli]'")
                code = 1
            except (click.Abort, KeyboardInterrupt):
                _fail("interrupted")
                code = 130
            except (NeuronlabError, ValueError, OSError) as e:
                if debug:
                    raise
                _fail(str(e) or type(e).__name__)
                code = 1
            except Exception as e:  # a bug: still one line, with a way to see more
                if debug:
                    raise
                _fail(f"internal error: {type(e).__name__}: {e} (set NEURONLAB_DEBUG=1 to see the traceback)")
                code = 1
            sys.exit(code)

    def _fail(msg: str) -> None:
        click.echo("error: " + " ".join(str(msg).split()), err=True)

    @click.group("neuronlab", cls=_Main, context_settings={"help_option_names": ["-h", "--help"],
                                                            "max_content_width": 100})
    @click.version_option(__version__, prog_name="neuronlab")
    def main():
        """neuronlab: the beginner's guide to neural networks, as fast verified NumPy code.

        Start with `neuronlab train`: it trains a multilayer perceptron on MNIST (shipped with
        the package) to about 98% test accuracy in under half a minute.
        """

    @main.command(short_help="Train a model (default: MLP on MNIST) and save it with its curves.")
    @click.option("--data", help="mnist (default, shipped), fashion-mnist (downloaded once), an IDX folder named "
                                 "like MNIST's, a .csv or an .npz.")
    @click.option("--test-data", help="A separate test set (same formats). Default: the source's test split, or a "
                                      "stratified --test-fraction of it.")
    @click.option("--test-fraction", type=float, help="Share held out as test set when the data has none [0.1].")
    @click.option("--label-column", help="CSV label column: index or header name [auto: label/target/class or first].")
    @click.option("--model", type=click.Choice(_zoo.names(), case_sensitive=False), help="Model from the zoo [mlp].")
    @click.option("--layers", help="Hidden layer widths, comma-separated [512,256]; '' for none.")
    @click.option("--activation", type=click.Choice(_activations.names(), case_sensitive=False),
                  help="Hidden activation [relu].")
    @click.option("--init", type=click.Choice([*_initializers.names(), "auto"], case_sensitive=False),
                  help="Weight initializer [he_normal].")
    @click.option("--dropout", type=float, help="Dropout ratio after each hidden layer [0.2].")
    @click.option("--optimizer", type=click.Choice(_optimizers.names(), case_sensitive=False),
                  help="Optimizer [adam].")
    @click.option("--lr", type=float, help="Learning rate η [the optimizer's default; Adam 1e-3].")
    @click.option("--momentum", type=float, help="Momentum μ (sgd, rmsprop).")
    @click.option("--schedule", type=click.Choice(SCHEDULES), help="Learning rate over the run: cosine decay "
                                                                   "from --lr to 0, or constant [cosine].")
    @click.option("--epochs", type=int, help=f"Passes over the training data [{DEFAULTS['epochs']}].")
    @click.option("--batch-size", type=int, help="Samples per batch K [128].")
    @click.option("--seed", type=int, help="Seed of the model's random generator [0].")
    @click.option("--val-split", type=float, help="Share of training data held out for validation [0: validate on "
                                                  "the test set].")
    @click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML file with any of these "
                                                                                   "options (command line wins).")
    @click.option("--out", type=click.Path(file_okay=False), help="Run folder [runs/<date-time>].")
    @click.option("--resume", type=click.Path(file_okay=False), help="Continue the interrupted run in this folder.")
    @click.option("--no-progress", is_flag=True, help="No progress bar (epoch lines only).")
    def train(config_path, out, resume, no_progress, **options):
        """Train a model and save it with its history, curves and configuration.

        With no options: MLP 784-512-256-10 (ReLU, dropout 0.2) on MNIST, Adam, batch 128.
        """
        out, resume, config_path = (os.fspath(p) if p is not None else None for p in (out, resume, config_path))
        if options.get("layers") is not None:
            options["layers"] = _parse_layers(options["layers"])
        if resume:
            if not os.path.isdir(resume):
                raise UsageError(f"--resume: {resume}: no such run folder")
            ckpt = os.path.join(resume, "checkpoint.safetensors")
            if not os.path.isfile(ckpt):
                raise UsageError(f"--resume: {resume} has no checkpoint.safetensors to resume from")
            if out is not None and os.path.normpath(out) != os.path.normpath(resume):
                raise UsageError("--resume continues in its own folder; leave out --out")
            from .io import load_checkpoint

            _, extra = load_checkpoint(ckpt, compile=False)
            base = extra.get("config") or {}
            cfg = resolve_config(options, config_path, base=base)
            frozen = _FROZEN_ON_RESUME + (["epochs"] if cfg["schedule"] == "cosine" else [])
            changed = [k for k in frozen if k in base and cfg[k] != base[k]]
            if changed:
                raise UsageError(f"--resume: cannot change {changed[0].replace('_', '-')} of a run "
                                 f"(was {base[changed[0]]!r}); only --epochs may grow, and only under "
                                 f"--schedule constant (a cosine schedule is fixed by the run's length)")
            out_dir = resume
        else:
            cfg = resolve_config(options, config_path)
            out_dir = out or cfg["out"] or _new_run_dir()
            if os.path.isdir(out_dir) and any(os.path.exists(os.path.join(out_dir, f)) for f in RUN_FILES):
                raise UsageError(f"--out: {out_dir} already holds a run; use --resume {out_dir} or another --out")
            os.makedirs(out_dir, exist_ok=True)
        cfg["out"] = out_dir
        summary = run_training(cfg, out_dir, resume=bool(resume), echo=click.echo,
                               progress=False if no_progress else None, t0=_T0)
        return 130 if summary.get("interrupted") else 0

    @main.command(short_help="Accuracy, per-class precision/recall and confusion matrix of a model.")
    @click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
    @click.option("--data", help="Data to evaluate on (default: the test split of the data the model was trained on).")
    @click.option("--out", type=click.Path(file_okay=False), help="Folder for confusion_matrix.png [the model's].")
    def evaluate(model_path, data, out):
        """Loss, accuracy, per-class precision/recall and the confusion matrix of MODEL."""
        model, extra = _load(model_path)
        classes = _classes(model, extra)
        X, y, what = _eval_data(data, extra, model)
        X = _shape_for(model, _scaler(extra).transform(X), "evaluate")
        if y.size and (y.min() < 0 or y.max() >= len(classes)):
            raise NeuronlabError(f"evaluate: labels outside the model's {len(classes)} classes")
        P = _probabilities(model, X)
        pred = P.argmax(axis=1)
        k = len(classes)
        cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
        if model.loss is None:
            model.compile("categorical_crossentropy", "sgd", ["accuracy"])
        loss = model.evaluate(X, y)["loss"] if model.output_dim == k else float("nan")
        acc = float(np.mean(pred == y))
        click.echo(f"{model_path} on {what}: {len(y):,} samples")
        click.echo(f"loss {loss:.4f}   accuracy {100 * acc:.2f}%   ({int((pred != y).sum())} errors)\n")
        for line in _report(cm, classes):
            click.echo(line)
        click.echo("\nconfusion matrix (rows: true class, columns: predicted)")
        for line in _matrix_text(cm, classes):
            click.echo(line)
        folder = out or os.path.dirname(os.path.abspath(model_path))
        os.makedirs(folder, exist_ok=True)
        from .plots import plot_confusion_matrix

        png = plot_confusion_matrix(cm, classes, os.path.join(folder, "confusion_matrix.png"),
                                    title=f"accuracy {100 * acc:.2f}% on {what}")
        click.echo(f"\nconfusion matrix image: {png}")

    @main.command(short_help="Classify images, IDX, CSV or NPY inputs with a model.")
    @click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
    @click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
    @click.option("--top", type=click.IntRange(1), default=1, show_default=True, help="Classes shown per input.")
    def predict(model_path, inputs, top):
        """Classify INPUT files: PNG/JPEG images, .npy arrays, IDX files or CSV rows."""
        model, extra = _load(model_path)
        classes = _classes(model, extra)
        sample_shape = tuple(extra.get("sample_shape") or model.input_shape)
        n_features = int(np.prod(sample_shape))
        scaler = _scaler(extra)
        rows = []
        for path in inputs:
            for label, a in _read_inputs(path, sample_shape, n_features):
                rows.append((label, a))
        if not rows:
            raise NeuronlabError("no samples in the inputs")
        X = np.concatenate([a.reshape(1, -1) if a.ndim == 1 else a.reshape(len(a), -1) for _, a in rows])
        P = _probabilities(model, _shape_for(model, scaler.transform(X), "predict"))
        width = max(len(label) for label, _ in rows)
        for (label, _), p in zip(rows, P):
            best = np.argsort(-p)[:top]
            text = "   ".join(f"class {classes[j] if j < len(classes) else j}  p={p[j]:.4f}" for j in best)
            click.echo(f"{label:<{width}}  {text}")

    @main.command(short_help="Architecture, parameter counts and training details of a model.")
    @click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
    def info(model_path):
        """Architecture, parameter counts and training details of MODEL."""
        from .io import read_header

        model, extra = _load(model_path)
        _, meta = read_header(model_path)
        click.echo(f"{model_path}: neuronlab model, format version {meta.get('format_version')}, written by "
                   f"neuronlab {meta.get('neuronlab_version', '?')}, {os.path.getsize(model_path):,} bytes")
        model.summary(print_fn=click.echo)
        opt = json.loads(meta["optimizer"]) if "optimizer" in meta else None
        if model.loss is not None:
            click.echo(f"loss: {model.loss.name}; metrics: {', '.join(model.metrics) or 'none'}")
        if opt:
            click.echo(f"optimizer state included: {opt['name']} {opt.get('config', {})}")
        if "classes" in extra:
            click.echo(f"classes ({len(extra['classes'])}): {', '.join(map(str, extra['classes']))}")
        cfg = extra.get("config") or {}
        if cfg:
            n_epochs = len((extra.get("history") or {}).get("loss", []))
            click.echo(f"trained on: {extra.get('data_name', cfg.get('data'))}, {n_epochs} epochs, optimizer "
                       f"{cfg.get('optimizer')} lr {cfg.get('lr')}, batch {cfg.get('batch_size')}, "
                       f"seed {cfg.get('seed')}")
        if "test" in extra:
            click.echo(f"test accuracy: {100 * extra['test'].get('accuracy', float('nan')):.2f}%  "
                       f"(loss {extra['test'].get('loss', float('nan')):.4f})")
        if "epoch" in extra:
            click.echo(f"checkpoint after epoch {extra['epoch'] + 1}")

    try:  # the guide's walk-throughs live in their own module, written separately
        from .cli_guide import demo, trace
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.cli_guide":
            raise
    else:
        main.add_command(demo)
        main.add_command(trace)

    try:  # the recurrent networks' text task (train/sample a char LSTM), written separately
        from .cli_rnn import generate
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.cli_rnn":
            raise
    else:
        main.add_command(generate)

else:

    def main(*args, **kwargs):
        sys.stderr.write("error: the neuronlab command needs its extras: pip install 'neuronlab[cli]'\n")
        sys.exit(1)
