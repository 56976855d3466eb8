"""The configuration of a training run: defaults, TOML files, validation, run folders.

Precedence, lowest first: :data:`DEFAULTS` < a saved run's configuration (``--resume``) <
a TOML file (``--config``) < explicit options. Every bad value raises :class:`UsageError`
with the message ``neuronlab train`` prints.
"""

from __future__ import annotations

import json
import os
import time

from ..validation import Boolean, Instance, Integer, NoneOr, Options, Real, check
from .common import RUN_FILES, UsageError

__all__ = ["DEFAULTS", "SCHEDULES", "RECIPE_LR", "RUN_FILES", "UsageError", "parse_layers", "read_toml",
           "resolve_config", "write_toml", "make_optimizer", "build_model", "new_run_dir", "plan_run"]

DEFAULTS = {
    "data": "mnist",
    "test_data": None,
    "test_fraction": 0.1,
    "label_column": "auto",
    "header": "auto",  # a CSV's first line: True (a header), False (data), "auto" (read_csv's rule)
    "model": "mlp",
    "layers": [512, 256],
    "activation": "relu",
    "init": "he_normal",
    "dropout": 0.0,  # the recipe below; --dropout 0.2 regularises (and passes 98% an epoch later)
    "optimizer": "adam",
    "lr": None,  # None: RECIPE_LR for the optimizer if it has one (Adam: 3e-3), else its own default
    "momentum": None,
    "schedule": "cosine",
    "epochs": 5,
    "batch_size": 256,
    "seed": 0,
    "val_split": 0.0,
    "out": None,
}
SCHEDULES = ("cosine", "constant")
#: η of ``train``'s recipe when --lr is not given. The recipe (2026-11-30, MNIST, 784-512-256-10):
#: Adam from 3e-3, cosine decay per update over 5 epochs, batch 256, no dropout. With 2 BLAS
#: threads it passed 98.0% test accuracy after epoch 3 for seeds 0/1/2 (98.21/98.18/98.01%) and
#: ended at 98.36/98.42/98.31%. With dropout 0.2 seed 0 reached 97.98% after epoch 3 (98.12% on
#: one thread) and 98.38% at the end; Adam's own 1e-3 at batch 128 over 6 epochs needed 4 epochs
#: and ended at 98.21%. Optimizers not named here start from their own default.
RECIPE_LR = {"adam": 3e-3}
MAX_TOML_BYTES = 1 << 20
MAX_EPOCHS = 1_000_000
# options that must not change when a run is resumed (epochs may grow)
FROZEN_ON_RESUME = [k for k in DEFAULTS if k not in ("epochs", "out")]


def parse_layers(value):
    """Hidden layer widths from ``"512,256"``, ``"[512, 256]"``, ``""`` (none) or a list of ints."""
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
    if not (isinstance(value, (list, tuple)) and all(isinstance(v, int) and Integer(low=1).accepts(v) for v in value)):
        raise UsageError(f"layers: expected a list of positive integers, got {value!r}")
    return list(value)


def read_toml(path) -> dict:
    """The options in a TOML file (a ``[train]`` table or top-level keys; ``-`` or ``_`` in names)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise UsageError("--config needs Python 3.11+ or the 'tomli' package (pip install tomli)") from None
    if not os.path.isfile(path):
        raise UsageError(f"--config: {path}: no such file")
    if os.path.getsize(path) > MAX_TOML_BYTES:
        raise UsageError(f"--config: {path}: larger than {MAX_TOML_BYTES:,} bytes")
    try:
        with open(path, "rb") as f:
            cfg = tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise UsageError(f"--config: {path}: not valid TOML ({why})") from None
    except OSError as e:
        raise UsageError(f"--config: {path}: cannot read ({e.strerror or e})") from None
    cfg = cfg.get("train", cfg)  # a [train] table or top-level keys
    if not isinstance(cfg, dict):
        raise UsageError(f"--config: {path}: 'train' must be a table of options, got {type(cfg).__name__}")
    cfg = {k.replace("-", "_"): v for k, v in cfg.items()}
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise UsageError(f"--config: {path}: unknown key {unknown[0]!r}; valid keys: {', '.join(DEFAULTS)}")
    return cfg


def resolve_config(cli: dict, config_path=None, base: dict | None = None) -> dict:
    """Merge defaults < ``base`` (a saved run) < TOML file < explicit command-line options; validate."""
    cfg = dict(DEFAULTS)
    if base:
        cfg.update({k: v for k, v in base.items() if k in DEFAULTS})
    if config_path:
        cfg.update(read_toml(config_path))
    cfg.update({k: v for k, v in cli.items() if v is not None})
    cfg["layers"] = parse_layers(cfg["layers"])
    _check_numbers(cfg)
    _check_names(cfg)
    _check_paths(cfg)
    if isinstance(cfg["label_column"], str) and cfg["label_column"].lstrip("-").isdigit():
        cfg["label_column"] = int(cfg["label_column"])
    return cfg


def _check(cfg, key, ok, what):
    if not ok:
        raise UsageError(f"{key.replace('_', '-')}: expected {what}, got {cfg[key]!r}")


def _is_int(v):
    return isinstance(v, int) and Integer().accepts(v)  # TOML gives Python ints; never a bool


def _is_num(v):
    return isinstance(v, (int, float)) and Real().accepts(v)  # finite, never a bool


def _check_numbers(cfg):
    _check(cfg, "epochs", _is_int(cfg["epochs"]) and cfg["epochs"] >= 1, "a positive integer")
    _check(cfg, "epochs", cfg["epochs"] <= MAX_EPOCHS, f"at most {MAX_EPOCHS:,}")
    _check(cfg, "batch_size", _is_int(cfg["batch_size"]) and cfg["batch_size"] >= 1, "a positive integer")
    _check(cfg, "seed", _is_int(cfg["seed"]) and cfg["seed"] >= 0, "a non-negative integer")
    _check(cfg, "dropout", _is_num(cfg["dropout"]) and 0 <= cfg["dropout"] < 1, "a number in [0, 1)")
    _check(cfg, "val_split", _is_num(cfg["val_split"]) and 0 <= cfg["val_split"] < 1, "a number in [0, 1)")
    _check(cfg, "test_fraction", _is_num(cfg["test_fraction"]) and 0 < cfg["test_fraction"] < 1,
           "a number in (0, 1)")
    _check(cfg, "lr", cfg["lr"] is None or (_is_num(cfg["lr"]) and cfg["lr"] > 0), "a positive number")
    _check(cfg, "momentum", cfg["momentum"] is None or (_is_num(cfg["momentum"]) and 0 <= cfg["momentum"] < 1),
           "a number in [0, 1)")


def _check_names(cfg):
    """Names of registered components, matched case-insensitively and stored in lower case."""
    from .. import activations, initializers, optimizers, zoo

    for key, names in (("activation", activations.names()), ("init", initializers.names()),
                       ("optimizer", optimizers.names()), ("model", zoo.names())):
        _check(cfg, key, isinstance(cfg[key], str), "a name")
        if cfg[key].lower() not in [n.lower() for n in names] and not (key == "init" and cfg[key] == "auto"):
            raise UsageError(f"{key}: unknown {key} {cfg[key]!r}; valid names: {', '.join(names)}")
        cfg[key] = cfg[key].lower()
    _check(cfg, "data", isinstance(cfg["data"], str) and cfg["data"], "a dataset name or path")
    _check(cfg, "schedule", cfg["schedule"] in SCHEDULES, f"one of {', '.join(SCHEDULES)}")


def _typed(cfg, key, *constraints):
    try:
        cfg[key] = check(None, key.replace("_", "-"), cfg[key], *constraints)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _check_paths(cfg):
    """Data, test data, label column, header and out: their types, names a file system can store
    in config.toml and run.json (UTF-8), and data paths made absolute (evaluate works from any folder)."""
    _typed(cfg, "header", Boolean(), Options("auto"))
    _typed(cfg, "label_column", Integer(), Instance(str))
    _typed(cfg, "test_data", NoneOr(Instance(str)))
    _typed(cfg, "out", NoneOr(Instance(str)))
    for key in ("data", "test_data", "out", "label_column"):
        value = cfg[key]
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise UsageError(f"{key.replace('_', '-')}: {value!r} is not valid UTF-8 (a file name in another "
                                 f"encoding): rename it") from None
            if "\0" in value:
                raise UsageError(f"{key.replace('_', '-')}: {value!r} contains a NUL character")
    for key in ("data", "test_data"):
        if isinstance(cfg[key], str) and os.path.exists(cfg[key]):
            cfg[key] = os.path.abspath(cfg[key])


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


def make_optimizer(cfg):
    """The optimizer ``cfg`` names, with its ``lr`` (else ``RECIPE_LR``'s) and ``momentum`` where given."""
    from .. import optimizers

    kwargs = {}
    lr = cfg["lr"] if cfg["lr"] is not None else RECIPE_LR.get(str(cfg["optimizer"]).lower())
    if lr is not None:
        kwargs["lr"] = lr
    if cfg["momentum"] is not None:
        kwargs["momentum"] = cfg["momentum"]
    try:
        return optimizers.get(cfg["optimizer"], **kwargs)
    except TypeError:
        raise UsageError(f"--momentum does not apply to optimizer {cfg['optimizer']!r}") from None


def build_model(cfg, sample_shape, n_classes: int):
    """The compiled model ``train`` (and each ``tune`` trial) trains for ``cfg``: the zoo builder of
    ``cfg["model"]`` with its options, categorical cross-entropy, :func:`make_optimizer`, accuracy."""
    from .. import zoo

    model = zoo.get(cfg["model"]).builder(tuple(sample_shape), n_classes, layers=cfg["layers"],
                                          activation=cfg["activation"], init=cfg["init"], dropout=cfg["dropout"],
                                          seed=cfg["seed"])
    model.compile(loss="categorical_crossentropy", optimizer=make_optimizer(cfg), metrics=["accuracy"])
    return model


def new_run_dir(root="runs") -> str:
    """``root/<date-time>``, with ``-2``, ``-3``, ... added if that folder exists."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, i = os.path.join(root, stamp), 2
    while os.path.exists(path):
        path, i = os.path.join(root, f"{stamp}-{i}"), i + 1
    return path


def plan_run(options: dict, config_path=None, out=None, resume=None) -> tuple[dict, str]:
    """The resolved configuration and run folder of ``neuronlab train`` → ``(cfg, out_dir)``.

    ``options`` are the command-line options (None: not given). With ``resume`` the saved
    run's configuration is the base and only ``epochs`` may change (and only under a constant
    schedule); otherwise ``out`` (or ``runs/<date-time>``) is created and must not hold a run.
    """
    out, resume, config_path = (os.fspath(p) if p is not None else None for p in (out, resume, config_path))
    options = dict(options)
    if options.get("layers") is not None:
        options["layers"] = parse_layers(options["layers"])
    if resume:
        cfg, out_dir = _plan_resume(options, config_path, out, resume), resume
    else:
        cfg = resolve_config(options, config_path)
        out_dir = out or cfg["out"] or new_run_dir()
        _check_paths({**cfg, "out": out_dir})
        if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
            raise UsageError(f"--out: {out_dir} exists and is not a folder")
        from .folders import check_folder

        if os.path.isdir(out_dir):
            check_folder(out_dir)
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as e:
            raise UsageError(f"--out: cannot create {out_dir} ({e.strerror or e})") from None
    cfg["out"] = out_dir
    return cfg, out_dir


def _check_same_data(resume, cfg, saved) -> None:
    """The data files must be the ones the checkpoint was trained on (SHA-256), when it recorded them."""
    from .folders import data_digest

    if not isinstance(saved, dict):
        return
    for key in ("data", "test_data"):
        if saved.get(key) is not None and data_digest(cfg[key]) != saved[key]:
            raise UsageError(f"--resume: {cfg[key]} is not the data this run was trained on (its SHA-256 "
                             f"differs from the checkpoint's); resuming would continue on other data")


def _plan_resume(options, config_path, out, resume) -> dict:
    if not os.path.isdir(resume):
        raise UsageError(f"--resume: {resume}: no such run folder")
    ckpt = os.path.join(resume, "checkpoint.safetensors")
    if not os.path.isfile(ckpt):
        raise UsageError(f"--resume: {resume} has no checkpoint.safetensors to resume from")
    if out is not None and os.path.normpath(out) != os.path.normpath(resume):
        raise UsageError("--resume continues in its own folder; leave out --out")
    from ..saving import load_checkpoint

    _, extra = load_checkpoint(ckpt, compile=False)
    base = dict(extra.get("config")) if isinstance(extra.get("config"), dict) else {}
    for key in ("data", "test_data"):  # (runs saved before paths were stored absolute)
        if isinstance(base.get(key), str) and os.path.exists(base[key]):
            base[key] = os.path.abspath(base[key])
    cfg = resolve_config(options, config_path, base=base)
    if type(base.get("epochs")) is int and cfg["epochs"] < base["epochs"]:
        raise UsageError(f"--resume: --epochs {cfg['epochs']} is fewer than the run's {base['epochs']}; "
                         f"only --epochs may grow")
    _check_same_data(resume, cfg, extra.get("data_sha256"))
    frozen = FROZEN_ON_RESUME + (["epochs"] if cfg["schedule"] == "cosine" else [])
    changed = [k for k in frozen if k in base and cfg[k] != base[k]]
    if changed:
        raise UsageError(f"--resume: cannot change {changed[0].replace('_', '-')} of a run "
                         f"(was {base[changed[0]]!r}); only --epochs may grow, and only under "
                         f"--schedule constant (a cosine schedule is fixed by the run's length)")
    return cfg
