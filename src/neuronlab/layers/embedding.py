"""Embedding: integer tokens → learned vectors (a Dense layer fed one-hot rows, without the product)."""

from __future__ import annotations

import numpy as np

from .. import initializers as _init
from ..core import Layer, Param
from ..validation import Integer, check
from .base import Buffers, registry

__all__ = ["Embedding"]


@registry.register("embedding")
class Embedding(Layer):
    """Look-up table: H[..., :] = E[X[...], :] for integer tokens X in [0, vocab).

    Token k is the one-hot row e_k and H = e_k E, a Dense layer without bias whose
    product is a row look-up. Backward adds each row of ∂C/∂H to the row of E it came from::

        ∂C/∂E_k = Σ over positions p with X_p = k of ∂C/∂H_p

    Tokens have no gradient: ``backward`` returns None (an Embedding is a first layer).

    Parameters
    ----------
    vocab : int
        Number of distinct tokens.
    dim : int
        Length of each vector.
    init : str or Initializer
        "normal" (default): N(0, 1), as ``torch.nn.Embedding``; else any registered
        initializer, with fan_in = vocab and fan_out = dim.
    input_length : int, optional
        Tokens per sample, so that the model builds at once (other lengths still work).

    Notes
    -----
    The model casts X to its float dtype at the boundary; float tokens are accepted when
    they are whole numbers (exact up to 2^24 in float32).
    """

    def __init__(self, vocab: int, dim: int, init="normal", input_length: int | None = None,
                 name: str | None = None):
        super().__init__(name)
        vocab, dim = check("Embedding", "vocab", vocab, Integer(low=1)), check("Embedding", "dim", dim, Integer(low=1))
        input_length = check("Embedding", "input_length", input_length, Integer(low=1), None)
        if init != "normal":
            _init.get(init)
        self.vocab, self.dim, self.init = int(vocab), int(dim), init
        self.input_length = None if input_length is None else int(input_length)
        self.input_shape = None if input_length is None else (self.input_length,)
        self.E: Param | None = None
        self._out = Buffers()
        self.idx: np.ndarray | None = None

    def param_shapes(self, input_shape):
        return {"E": (self.vocab, self.dim)}

    def build(self, input_shape, rng, dtype=np.float32):
        super().build(tuple(input_shape), rng, dtype)
        if self.init == "normal":
            E = rng.standard_normal((self.vocab, self.dim)).astype(self.dtype)
        else:
            E = _init.get(self.init)((self.vocab, self.dim), rng, self.dtype)
        self.E = Param(E, f"{self.name}/E")
        self.output_shape = (*self.input_shape, self.dim)
        return self.output_shape

    def params(self):
        return [self.E]

    def check_input(self, X):
        """Any sequence length is accepted; the rank must match the built input."""
        if self.input_shape is not None and X.ndim != len(self.input_shape) + 1:
            raise ValueError(f"layer {self.name!r}: Embedding expected tokens of shape (n, "
                             f"{', '.join(map(str, self.input_shape))}), got shape {X.shape}")

    def tokens(self, X) -> np.ndarray:
        """X as an intp index array, checked: whole numbers in [0, vocab)."""
        X = np.asarray(X)
        self.check_input(X)
        if X.dtype.kind not in "biuf":
            raise ValueError(f"layer {self.name!r}: tokens must be integers, got dtype {X.dtype}")
        idx = X.astype(np.intp)
        if X.dtype.kind == "f" and not np.array_equal(idx, X):
            raise ValueError(f"layer {self.name!r}: tokens must be whole numbers, got e.g. "
                             f"{X[idx != X].ravel()[:3]}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.vocab):
            raise ValueError(f"layer {self.name!r}: tokens must lie in [0, {self.vocab}) (vocab={self.vocab}), "
                             f"got values in [{idx.min()}, {idx.max()}] in X of shape {X.shape}")
        return idx

    def forward(self, X, training=False):
        self.idx = self.tokens(X)
        H = self._out.get((*self.idx.shape, self.dim), self.dtype)
        np.take(self.E.value, self.idx, axis=0, out=H)
        return H

    def backward(self, dH):
        g = self.E.grad
        g[...] = 0.0
        np.add.at(g, self.idx.ravel(), dH.reshape(-1, self.dim))
        return None

    def predict(self, X):
        return self.E.value[self.tokens(X)]

    def config(self):
        cfg = {"vocab": self.vocab, "dim": self.dim, "init": self.init if isinstance(self.init, str)
               else self.init.name}
        if self.input_length is not None:
            cfg["input_length"] = self.input_length
        return cfg
