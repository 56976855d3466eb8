"""Named model builders for ``neuronlab train --model NAME``.

A builder is called as ``builder(sample_shape, n_classes, *, layers, activation, init,
dropout, seed)`` and returns a built, uncompiled :class:`~neuronlab.Sequential` whose
output is a softmax over ``n_classes``. ``sample_shape`` is one sample's natural shape,
(28, 28) for MNIST images or (d,) for a table; the command reshapes the data to the
model's ``input_shape``, so a builder may ask for (784,), (28, 28, 1) or (1, 28, 28).
Builders may ignore options that mean nothing to them (a CNN ignores ``layers``).

Register one with::

    @zoo.register("cnn", "a small convolutional network")
    def build_cnn(sample_shape, n_classes, *, layers, activation, init, dropout, seed):
        ...
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .validation import Integer, Real, check

__all__ = ["register", "get", "names", "describe", "build_mlp", "ZooEntry"]


@dataclass(frozen=True)
class ZooEntry:
    name: str
    builder: Callable
    description: str


_ZOO: dict[str, ZooEntry] = {}
_UNITS = Integer(low=1)
_DROPOUT = Real(low=0, high=1, high_open=True)


def register(name: str, description: str = ""):
    """Decorator adding a builder under ``name``."""

    def deco(fn):
        _ZOO[name] = ZooEntry(name, fn, description or (fn.__doc__ or "").strip().splitlines()[0])
        return fn

    return deco


def get(name: str) -> ZooEntry:
    if name not in _ZOO:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(names())}")
    return _ZOO[name]


def names() -> list[str]:
    return list(_ZOO)


def describe() -> dict[str, str]:
    return {n: e.description for n, e in _ZOO.items()}


@register("mlp", "multilayer perceptron: Dense(n) + activation + Dropout per hidden layer, softmax output")
def build_mlp(sample_shape, n_classes, *, layers=(512, 256), activation="relu", init="he_normal",
              dropout=0.2, seed=0, **_ignored):
    """Multilayer perceptron: H_k = Dropout(f(H_{k-1} W_k + B_k)), output softmax(H W + B).

    The input is flattened: a 28×28 image becomes a row of 784 values.
    """
    from .layers import Dense, Dropout
    from .model import Sequential

    layers = [check("mlp", f"layers[{i}]", units, _UNITS) for i, units in enumerate(layers)]
    n_classes = check("mlp", "n_classes", n_classes, _UNITS)
    dropout = check("mlp", "dropout", dropout, _DROPOUT)
    d = int(math.prod(sample_shape))
    model = Sequential(seed=seed)
    for i, units in enumerate(layers):
        model.add(Dense(units, activation=activation, init=init, input_dim=d if i == 0 else None))
        if dropout:
            model.add(Dropout(dropout))
    model.add(Dense(n_classes, activation="softmax", init=init, input_dim=None if layers else d))
    return model


@register("cnn", "LeNet-style CNN: Conv(16, 5x5) + pool, Conv(32, 5x5) + pool, Dense(128) + Dropout, softmax output")
def build_cnn(sample_shape, n_classes, *, activation="relu", init="he_normal", dropout=0.2, seed=0, **_ignored):
    """LeNet-style convolutional network on NHWC images (height, width, channels).

    Conv2D(16, 5×5, same) → MaxPool2D(2) → Conv2D(32, 5×5) → MaxPool2D(2) → Flatten →
    Dense(128) → Dropout → Dense(n_classes, softmax): 28×28×1 → 28×28×16 → 14×14×16 →
    10×10×32 → 5×5×32 → 800 → 128 → 10. Samples of shape (h, w) get a channel axis
    (MNIST: 28×28×1); flat rows of a square number of values become square images. On small
    images (h or w < 18) the second convolution pads too ("same"), so 8×8 digits work.
    """
    from .layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D
    from .model import Sequential

    n_classes = check("cnn", "n_classes", n_classes, _UNITS)
    dropout = check("cnn", "dropout", dropout, _DROPOUT)
    shape = tuple(int(d) for d in sample_shape)
    if len(shape) == 1:
        side = math.isqrt(shape[0])
        if side * side != shape[0]:
            raise ValueError(f"cnn: samples of {shape[0]} values are not square images; the cnn model needs images "
                             f"(height, width) or (height, width, channels)")
        shape = (side, side, 1)
    elif len(shape) == 2:
        shape = (*shape, 1)
    elif len(shape) != 3:
        raise ValueError(f"cnn: expected images (height, width) or (height, width, channels), got samples of shape "
                         f"{shape}")
    pad2 = "valid" if min(shape[:2]) >= 18 else "same"
    model = Sequential([
        Conv2D(16, 5, padding="same", activation=activation, init=init, input_shape=shape), MaxPool2D(2),
        Conv2D(32, 5, padding=pad2, activation=activation, init=init), MaxPool2D(2), Flatten(),
        Dense(128, activation=activation, init=init),
    ], seed=seed)
    if dropout:
        model.add(Dropout(dropout))
    model.add(Dense(n_classes, activation="softmax", init=init))
    return model
