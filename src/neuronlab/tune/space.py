"""The sweep file of ``neuronlab tune``: fixed options, a search space, settings. No Ray here.

A sweep is a TOML file (or the same as a dict)::

    [train]                    # fixed for every trial: any `neuronlab train` option
    data = "mnist"
    epochs = 4
    val_split = 0.1            # validation = this share of the training set (default 0.1)

    [search]                   # one entry per searched option
    lr = {loguniform = [1e-4, 1e-1]}
    layers = {choice = ["256", "512,256"]}
    dropout = {uniform = [0, 0.5]}
    batch_size = {choice = [32, 64, 128]}

    [tune]                     # defaults of the command-line options
    trials = 16
    metric = "val_accuracy"
    mode = "max"

    [[points]]                 # optional: configurations tried first
    lr = 1e-3

A range is ``{uniform = [a, b]}`` or ``{loguniform = [a, b]}`` (real options),
``{int = [a, b]}`` or ``{logint = [a, b]}`` (integer options, both ends included), and any
option takes ``{choice = [v1, v2, ...]}``. Every bound and choice is checked with the rules
of ``neuronlab train``, so a sweep cannot propose a trial that ``train`` would refuse.
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass, field

from ..runs.config import DEFAULTS, UsageError, parse_layers, resolve_config
from ..validation import Integer, Options, check

__all__ = ["Param", "Sweep", "read_sweep", "SEARCHABLE", "FIXED_ONLY", "KINDS", "METRICS", "takes_momentum",
           "trial_config"]

# the model and training options; all other train options (data, test_data, test_fraction,
# label_column, val_split, seed, ...) define the data and its validation split, which every
# trial must share, so they are fixed
SEARCHABLE = tuple(k for k in ("model", "layers", "activation", "init", "dropout", "optimizer", "lr", "momentum",
                               "schedule", "epochs", "batch_size") if k in DEFAULTS)
FIXED_ONLY = tuple(k for k in DEFAULTS if k not in SEARCHABLE)
INT_KEYS = ("epochs", "batch_size")
REAL_KEYS = ("dropout", "lr", "momentum")
KINDS = {"choice": SEARCHABLE, "uniform": REAL_KEYS, "loguniform": REAL_KEYS, "int": INT_KEYS, "logint": INT_KEYS}
METRICS = {"val_accuracy": "max", "val_loss": "min", "accuracy": "max", "loss": "min"}
SETTINGS = {"trials": 16, "metric": "val_accuracy", "mode": None, "cpus_per_trial": 1, "grace_period": 1,
            "seed": 0}
DEFAULT_VAL_SPLIT = 0.1
MAX_CHOICES = 1000


@dataclass(frozen=True)
class Param:
    """One searched option: ``kind`` is choice, uniform, loguniform, int or logint.

    ``values`` holds the choices, or the two bounds (both included for int/logint). Layer
    choices are kept as text (``"512,256"``, ``""`` for none) so that a sampler can treat them
    as categories.
    """

    name: str
    kind: str
    values: tuple

    def describe(self) -> str:
        if self.kind == "choice":
            return f"one of {', '.join(map(repr, self.values))}"
        return f"{self.kind} in [{self.values[0]:g}, {self.values[1]:g}]"


@dataclass
class Sweep:
    """A parsed sweep: ``fixed`` is a resolved ``train`` configuration; ``params`` the space."""

    fixed: dict
    params: dict
    settings: dict
    points: list = field(default_factory=list)
    source: str = "<dict>"

    def to_dict(self) -> dict:
        """A plain dict that :func:`read_sweep` reads back into the same sweep."""
        search = {p.name: {p.kind: list(p.values)} for p in self.params.values()}
        train = {k: v for k, v in self.fixed.items() if v is not None and k != "out"}
        return {"train": train, "search": search, "tune": dict(self.settings), "points": list(self.points)}


def _where(source, *keys):
    return f"{source}: [{keys[0]}]" + (f" {keys[1]}" if len(keys) > 1 else "")


def read_sweep(spec) -> Sweep:
    """Read a sweep from a TOML path or a dict with ``train``, ``search``, ``tune``, ``points``.

    Raises :class:`~neuronlab.runs.UsageError` naming the table, the key and what is allowed.
    """
    source, raw = _load(spec)
    unknown = sorted(set(raw) - {"train", "search", "tune", "points"})
    if unknown:
        raise UsageError(f"{source}: unknown table [{unknown[0]}]; a sweep has [train], [search], [tune] and "
                         f"[[points]]")
    for table in ("train", "search", "tune"):
        if not isinstance(raw.get(table, {}), dict):
            raise UsageError(f"{source}: [{table}] must be a table")
    fixed = _fixed(source, raw.get("train", {}))
    search = {k.replace("-", "_"): v for k, v in raw.get("search", {}).items()}
    if not search:
        raise UsageError(f"{source}: [search] is empty; add at least one option, e.g. "
                         f"lr = {{loguniform = [1e-4, 0.1]}}")
    params = {name: _param(source, name, spec, fixed) for name, spec in search.items()}
    _check_momentum(source, fixed, params)
    settings = _settings(source, raw.get("tune", {}))
    points = _points(source, raw.get("points", []), params, fixed)
    return Sweep(fixed, params, settings, points, source)


def _load(spec) -> tuple[str, dict]:
    if isinstance(spec, dict):
        return "sweep", dict(spec)
    path = os.fspath(spec)
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    if not os.path.isfile(path):
        raise UsageError(f"--config: {path}: no such file")
    try:
        with open(path, "rb") as f:
            return path, tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"--config: {path}: not valid TOML ({e})") from None


def _fixed(source, table) -> dict:
    """The [train] table resolved as ``neuronlab train --config`` would; validation on a split."""
    table = {k.replace("-", "_"): v for k, v in table.items()}
    unknown = sorted(set(table) - set(DEFAULTS))
    if unknown:
        raise UsageError(f"{_where(source, 'train', unknown[0])}: unknown option; valid options: {', '.join(DEFAULTS)}")
    if table.get("out") is not None:
        raise UsageError(f"{_where(source, 'train', 'out')}: the output folder is tune's --out, not a train option")
    try:
        fixed = resolve_config(table)
    except UsageError as e:
        raise UsageError(f"{source}: [train] {e}") from None
    if not fixed["val_split"]:
        if "val_split" in table:  # an explicit 0 would validate on the test set
            raise UsageError(f"{_where(source, 'train', 'val_split')}: must be in (0, 1): tune validates on a "
                             f"split of the training set, never on the test set")
        fixed["val_split"] = DEFAULT_VAL_SPLIT
    return fixed


def _param(source, name, spec, fixed) -> Param:
    where = _where(source, "search", name)
    if name not in DEFAULTS:
        raise UsageError(f"{where}: unknown option; searchable options: {', '.join(SEARCHABLE)}")
    if name in FIXED_ONLY:
        raise UsageError(f"{where}: cannot be searched: it fixes the data or its validation split, which every "
                         f"trial shares; set it under [train] (searchable: {', '.join(SEARCHABLE)})")
    allowed = [k for k, keys in KINDS.items() if name in keys]
    example = {"choice": "[a, b, ...]", "uniform": "[low, high]", "loguniform": "[low, high]", "int": "[low, high]",
               "logint": "[low, high]"}
    forms = " or ".join(f"{{{k} = {example[k]}}}" for k in allowed)
    if not (isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in allowed):
        got = f"{next(iter(spec))!r}" if isinstance(spec, dict) and len(spec) == 1 else repr(spec)
        raise UsageError(f"{where}: expected {forms}, got {got}" + ("" if isinstance(spec, dict) else
                                                                    "; a fixed value belongs under [train]"))
    kind, values = next(iter(spec.items()))
    if not isinstance(values, list) or not values:
        raise UsageError(f"{where}: {kind} needs a non-empty list, got {values!r}")
    if kind == "choice":
        if len(values) > MAX_CHOICES:
            raise UsageError(f"{where}: at most {MAX_CHOICES} choices, got {len(values)}")
        return Param(name, kind, tuple(_checked_value(where, name, v, fixed) for v in values))
    return Param(name, kind, _bounds(where, name, kind, values, fixed))


def _bounds(where, name, kind, values, fixed) -> tuple:
    integer = kind in ("int", "logint")
    if len(values) != 2 or not all(_is_number(v, integer) for v in values):
        what = "integers" if integer else "numbers"
        raise UsageError(f"{where}: {kind} needs two {what} [low, high], got {values!r}")
    low, high = values
    if not low < high:
        raise UsageError(f"{where}: {kind} needs low < high, got [{low!r}, {high!r}]")
    if kind.startswith("log") and low <= 0:
        raise UsageError(f"{where}: {kind} needs 0 < low, got [{low!r}, {high!r}]")
    return tuple(_checked_value(where, name, v, fixed) for v in (low, high))


def _is_number(v, integer) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return isinstance(v, int) if integer else math.isfinite(v)


def _checked_value(where, name, value, fixed):
    """``value`` as ``neuronlab train`` would accept it for option ``name`` (else UsageError)."""
    if name == "layers":
        try:
            return ",".join(map(str, parse_layers(value)))
        except UsageError:
            raise UsageError(f"{where}: expected layer widths like \"512,256\" or [512, 256] ('' for none), "
                             f"got {value!r}") from None
    try:
        cfg = resolve_config({**fixed, name: value, "momentum": value if name == "momentum" else None})
    except UsageError as e:
        raise UsageError(f"{where}: {e}") from None
    return cfg[name]


def takes_momentum(optimizer: str) -> bool:
    """Whether the named optimizer has a ``momentum`` argument (SGD, RMSprop)."""
    from .. import optimizers

    return "momentum" in inspect.signature(optimizers.registry.lookup(optimizer)).parameters


def _check_momentum(source, fixed, params) -> None:
    optimizers = params["optimizer"].values if "optimizer" in params else (fixed["optimizer"],)
    if ("momentum" in params or fixed["momentum"] is not None) and not any(map(takes_momentum, optimizers)):
        key = ("search", "momentum") if "momentum" in params else ("train", "momentum")
        raise UsageError(f"{_where(source, *key)}: none of this sweep's optimizers ({', '.join(optimizers)}) takes "
                         f"momentum (sgd and rmsprop do)")


def _settings(source, table) -> dict:
    table = {k.replace("-", "_"): v for k, v in table.items()}
    unknown = sorted(set(table) - set(SETTINGS))
    if unknown:
        raise UsageError(f"{_where(source, 'tune', unknown[0])}: unknown setting; valid settings: "
                         f"{', '.join(SETTINGS)}")
    settings = {**SETTINGS, **table}
    try:
        return check_settings(settings)
    except ValueError as e:
        raise UsageError(f"{source}: [tune] {e}") from None


def check_settings(settings: dict) -> dict:
    """Trials, metric, mode, CPUs per trial, ASHA's grace period, sampler seed: checked, mode filled in."""
    s = dict(settings)
    s["trials"] = check("tune", "trials", s["trials"], Integer(low=1))
    s["metric"] = check("tune", "metric", s["metric"], Options(*METRICS))
    s["mode"] = check("tune", "mode", s["mode"] or METRICS[s["metric"]], Options("max", "min"))
    s["cpus_per_trial"] = check("tune", "cpus_per_trial", s["cpus_per_trial"], Integer(low=1))
    s["grace_period"] = check("tune", "grace_period", s["grace_period"], Integer(low=1))
    s["seed"] = check("tune", "seed", s["seed"], Integer(low=0))
    return s


def _points(source, points, params, fixed) -> list:
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise UsageError(f"{source}: [[points]] must be tables of searched options")
    out = []
    for i, point in enumerate(points):
        where = f"{source}: [[points]] #{i + 1}"
        point = {k.replace("-", "_"): v for k, v in point.items()}
        extra = sorted(set(point) - set(params))
        if extra:
            raise UsageError(f"{where}: {extra[0]!r} is not searched; searched options: {', '.join(params)}")
        out.append({k: _checked_value(f"{where} {k}", k, v, fixed) for k, v in point.items()})
    return out


def trial_config(fixed: dict, params: dict) -> dict:
    """The ``train`` configuration of one trial: the fixed options with the sampled ones.

    Layer choices come back to lists; ``momentum`` is left out (None) for an optimizer that
    does not take it, as ``neuronlab train`` would refuse it there.
    """
    cfg = {**fixed, **params}
    cfg["layers"] = parse_layers(cfg["layers"])
    if cfg.get("momentum") is not None and not takes_momentum(cfg["optimizer"]):
        cfg["momentum"] = None
    return cfg
