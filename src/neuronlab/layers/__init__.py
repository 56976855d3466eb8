"""Layers: each file one family, all registered by name in ``registry``.

Row-vector convention: X is (n, d_in), W is (d_in, d_out), B is (d_out,), and
W[i, j] is the weight from neuron i of the previous layer to neuron j of this one.
"""

from ..core import Layer
from .base import Buffers, register, registry
from .conv import (  # NHWC images
    AvgPool2D,
    Conv2D,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    kernel_from_torch,
    kernel_to_torch,
    to_nchw,
    to_nhwc,
)
from .dense import Dense, Dropout
from .embedding import Embedding
from .normalization import BatchNorm
from .recurrent import GRU, LSTM, SimpleRNN

__all__ = ["Layer", "Dense", "Dropout", "Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Flatten", "BatchNorm",
           "to_nhwc", "to_nchw", "kernel_from_torch", "kernel_to_torch",
           "SimpleRNN", "LSTM", "GRU", "Embedding", "Buffers", "registry", "register", "get", "names"]


def get(spec, **kwargs) -> Layer:
    """Return a layer from a registered name, a class or an instance."""
    return registry.get(spec, **kwargs)


def names() -> list[str]:
    """The registered layer names."""
    return registry.names()
