"""The playground's settings: defaults, what each may be, and the model they describe.

A config is a plain JSON-able dict (what ``POST /api/config`` takes); :func:`checked` validates
a change with :mod:`neuronlab.validation` (one wording for every refused value) and
:func:`build_model` turns a config into a compiled :class:`neuronlab.Sequential`.
"""

from __future__ import annotations

import inspect

from .. import activations as _activations
from .. import initializers as _initializers
from .. import optimizers as _optimizers
from ..layers import Dense, Dropout
from ..model import Sequential
from ..validation import Integer, Options, Real, check
from .datasets import CLASSIFICATION, DATASETS, FEATURES

__all__ = ["DEFAULTS", "LOSSES", "checked", "build_model", "optimizer_params", "task_of", "MAX_LAYERS",
           "MAX_NEURONS"]

MAX_LAYERS, MAX_NEURONS = 6, 8
LOSSES = {"classification": ("binary_crossentropy", "mse"), "regression": ("mse",)}
# hyper-parameters that have their own control on the page (or that the page does not show)
_OWN_CONTROLS = ("self", "lr", "weight_decay")

DEFAULTS = {
    "dataset": "circle", "noise": 0.1, "train_ratio": 0.5, "n_samples": 500,
    "features": ["x1", "x2"], "hidden": [4, 2], "activation": "tanh", "loss": "binary_crossentropy",
    "optimizer": "sgd", "lr": 0.1, "optimizer_params": {}, "batch_size": 10, "dropout": 0.0,
    "init": "auto", "l2": 0.0, "seed": 0,
}


def task_of(dataset: str) -> str:
    """"classification" (0/1 labels, sigmoid output) or "regression" (linear output)."""
    return "classification" if dataset in CLASSIFICATION or dataset == "upload:classification" else "regression"


def optimizer_params(name: str) -> dict:
    """``{hyper-parameter: default}`` of a registered optimizer, besides lr and weight decay (L2)."""
    cls = _optimizers.registry.lookup(name)
    return {k: (None if p.default is inspect.Parameter.empty else p.default)
            for k, p in inspect.signature(cls.__init__).parameters.items() if k not in _OWN_CONTROLS}


def _check_hidden(value) -> list[int]:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_LAYERS:
        raise ValueError(f"playground: hidden must be a list of at most {MAX_LAYERS} layer widths, got {value!r}")
    return [check("playground", f"hidden[{i}]", w, Integer(low=1, high=MAX_NEURONS)) for i, w in enumerate(value)]


def _check_features(value) -> list[str]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"playground: features must be a non-empty list of {', '.join(FEATURES)}, got {value!r}")
    names = [check("playground", "features", f, Options(*FEATURES)) for f in value]
    return [f for f in FEATURES if f in names]  # the page's order, no repeats


_SPEC = {
    "noise": Real(low=0, high=0.5), "train_ratio": Real(low=0.1, high=0.9),
    "n_samples": Integer(low=20, high=2000), "lr": Real(low=0, low_open=True, high=10),
    "dropout": Real(low=0, high=0.9), "l2": Real(low=0, high=1), "seed": Integer(low=0, high=2**31 - 1),
}


def checked(config: dict, change: dict, uploaded: bool = False) -> dict:
    """``config`` updated by ``change``, every value checked; raises ValueError naming the bad setting.

    A change of dataset to the other task (classification ↔ regression) also picks that task's
    first loss unless the change names one; a change of optimizer starts from its defaults.
    """
    if not isinstance(change, dict):
        raise ValueError(f"playground: the config must be a JSON object, got {type(change).__name__}")
    unknown = sorted(set(change) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"playground: unknown setting {unknown[0]!r}; settings: {', '.join(DEFAULTS)}")
    new = {**config, **change}
    names = [*DATASETS, *(["upload:classification", "upload:regression"] if uploaded else [])]
    new["dataset"] = check("playground", "dataset", new["dataset"], Options(*names))
    for key, spec in _SPEC.items():
        new[key] = check("playground", key, new[key], spec)
    new["hidden"] = _check_hidden(new["hidden"])
    new["features"] = _check_features(new["features"])
    new["activation"] = check("playground", "activation", new["activation"],
                              Options(*[a for a in _activations.names() if a != "softmax"]))
    new["init"] = check("playground", "init", new["init"], Options("auto", *_initializers.names()))
    new["optimizer"] = check("playground", "optimizer", new["optimizer"], Options(*_optimizers.names()))
    new["batch_size"] = check("playground", "batch_size (K)", new["batch_size"], Integer(low=1), Options("n"))
    losses = LOSSES[task_of(new["dataset"])]
    if "loss" not in change and new["loss"] not in losses:
        new["loss"] = losses[0]
    new["loss"] = check("playground", f"loss for {task_of(new['dataset'])}", new["loss"], Options(*losses))
    if change.get("optimizer", config.get("optimizer")) != config.get("optimizer") and "optimizer_params" not in change:
        new["optimizer_params"] = {}
    new["optimizer_params"] = _check_optimizer_params(new["optimizer"], new["optimizer_params"])
    make_optimizer(new)  # the optimizer's own checks (@validated), e.g. nesterov without momentum
    return new


def _check_optimizer_params(name: str, params) -> dict:
    if not isinstance(params, dict):
        raise ValueError(f"playground: optimizer_params must be a JSON object, got {params!r}")
    allowed = optimizer_params(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"playground: {name} has no hyper-parameter {unknown[0]!r}; it has "
                         f"{', '.join(allowed) or 'none besides lr'}")
    return dict(params)


def make_optimizer(config: dict):
    """The configured optimizer: lr η, L2 as ``weight_decay`` and its own hyper-parameters."""
    return _optimizers.get(config["optimizer"], lr=config["lr"], weight_decay=config["l2"],
                           **config["optimizer_params"])


def build_model(config: dict, n_inputs: int) -> Sequential:
    """Dense hidden layers (each followed by Dropout(P) when P > 0) and one output neuron, compiled.

    The output is sigmoid for classification (with binary cross-entropy the loss takes its
    logits) and linear for regression. float64, so the neuron detail equals ``nl.trace``'s walk.
    """
    init = config["init"]
    layers = []
    for i, width in enumerate(config["hidden"]):
        layers.append(Dense(width, config["activation"], init=init, input_dim=n_inputs if i == 0 else None))
        if config["dropout"] > 0:
            layers.append(Dropout(config["dropout"]))
    out_act = "sigmoid" if task_of(config["dataset"]) == "classification" else "linear"
    layers.append(Dense(1, out_act, init=init, input_dim=None if config["hidden"] else n_inputs))
    model = Sequential(layers, seed=config["seed"], dtype="float64")
    model.compile(loss=config["loss"], optimizer=make_optimizer(config))
    return model
