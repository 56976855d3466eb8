"""Layers: each file one family, all registered by name in ``registry``.

Row-vector convention: X is (n, d_in), W is (d_in, d_out), B is (d_out,), and
W[i, j] is the weight from neuron i of the previous layer to neuron j of this one.
"""

from ..core import Layer
from .base import Buffers, registry
from .dense import Dense, Dropout
from .embedding import Embedding
from .recurrent import GRU, LSTM, FlattenTime, SimpleRNN

__all__ = ["Layer", "Dense", "Dropout", "SimpleRNN", "LSTM", "GRU", "FlattenTime", "Embedding",
           "Buffers", "registry", "get", "names"]


def get(spec, **kwargs) -> Layer:
    """Return a layer from a registered name, a class or an instance."""
    return registry.get(spec, **kwargs)


def names() -> list[str]:
    """The registered layer names."""
    return registry.names()
