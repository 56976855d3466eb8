"""Dense (the guide's H = f(XW + B)) and Dropout (ratio P).

Row-vector convention: X is (n, d_in), W is (d_in, d_out), B is (d_out,), and
W[i, j] is the weight from neuron i of the previous layer to neuron j of this one
(the guide's W^K_ij; PyTorch's ``nn.Linear.weight`` is W transposed).
"""

from __future__ import annotations

import numpy as np

from .. import activations as _act
from .. import initializers as _init
from ..core import Layer, Param
from ..validation import Integer, Real, check
from .base import Buffers, WithActivation, ones, registry

__all__ = ["Dense", "Dropout"]


@registry.register("dense")
class Dense(WithActivation, Layer):
    """Fully connected layer: Z = XW + B, H = f(Z), on the last axis of X.

    X of shape (n, d_in) gives (n, d_out); leading axes beyond the batch (e.g. time steps,
    X of shape (n, T, d_in)) are carried through, every position being one row of XW + B.

    Backward (the guide's level 3, vectorised over the batch)::

        ∂C/∂Z = ∂C/∂H ⊙ f'(Z)
        ∂C/∂W = Xᵀ ∂C/∂Z        (d_in, d_out)
        ∂C/∂B = Σ_rows ∂C/∂Z     (d_out,)
        ∂C/∂X = ∂C/∂Z Wᵀ         (n, d_in), passed to the previous layer

    Parameters
    ----------
    units : int
        Number of neurons (d_out).
    activation : str, Activation or None
        f; None means linear.
    init : str or Initializer
        For W; ``"auto"`` is He normal for relu/leaky_relu and Xavier normal otherwise.
        B starts at zero.
    input_dim : int, optional
        d_in; inferred from the first input when omitted.
    """

    def __init__(self, units: int, activation=None, init="auto", input_dim: int | None = None,
                 name: str | None = None):
        super().__init__(name)
        self.units = check("Dense", "units", units, Integer(low=1))
        input_dim = check("Dense", "input_dim", input_dim, Integer(low=1), None)
        self.activation = _act.get(activation)
        if init != "auto":
            _init.get(init)  # fail now, listing valid names, rather than at build
        self.init = init
        self.declared_input_dim = None if input_dim is None else int(input_dim)
        self.input_shape = None if input_dim is None else (self.declared_input_dim,)
        self.output_shape = (self.units,)
        self.W: Param | None = None
        self.B: Param | None = None
        self._out = Buffers()
        self._dX = Buffers()
        self.X: np.ndarray | None = None

    def param_shapes(self, input_shape):
        input_shape = tuple(input_shape)
        if not input_shape:
            raise ValueError(f"layer {self.name!r}: Dense takes input of shape (n, ..., features), got (n,)")
        return {"W": (input_shape[-1], self.units), "B": (self.units,)}

    def build(self, input_shape, rng, dtype=np.float32):
        input_shape = tuple(input_shape)
        shapes = self.param_shapes(input_shape)
        n_in = input_shape[-1]
        if self.declared_input_dim is not None and n_in != self.declared_input_dim:
            raise ValueError(f"layer {self.name!r}: input_dim={self.declared_input_dim} but it receives "
                             f"{n_in} features")
        super().build(input_shape, rng, dtype)
        init = _init.auto_for(self.activation.name) if self.init == "auto" else _init.get(self.init)
        self.W = Param(init(shapes["W"], rng, self.dtype), f"{self.name}/W")
        self.B = Param(np.zeros(shapes["B"], dtype=self.dtype), f"{self.name}/B")
        self.output_shape = (*input_shape[:-1], self.units)
        return self.output_shape

    def params(self):
        return [self.W, self.B]

    def forward_z(self, X, training=False):
        Z = self._out.get((*X.shape[:-1], self.units), self.dtype)
        np.matmul(X, self.W.value, out=Z)
        Z += self.B.value
        self.X = X
        return Z

    def backward_z(self, dZ):
        X2 = self.X.reshape(-1, self.X.shape[-1])  # leading axes (batch, time) are rows
        dZ2 = dZ.reshape(-1, self.units)
        np.matmul(X2.T, dZ2, out=self.W.grad)
        np.dot(ones(len(dZ2), dZ2.dtype), dZ2, out=self.B.grad)  # ∂C/∂B = 1ᵀ ∂C/∂Z
        if not self.needs_input_grad:
            return None
        dX = self._dX.get(self.X.shape, self.dtype)
        return np.matmul(dZ, self.W.value.T, out=dX)

    def predict_z(self, X):
        Z = X @ self.W.value
        Z += self.B.value
        return Z

    def config(self):
        cfg = {"units": self.units, **self.activation_config()}
        cfg["init"] = self.init if isinstance(self.init, str) else self.init.name
        if self.declared_input_dim is not None:
            cfg["input_dim"] = self.declared_input_dim
        return cfg


@registry.register("dropout")
class Dropout(Layer):
    """Inverted dropout with ratio P = ``rate``, the probability of dropping a neuron.

    Training: H = X ⊙ M / (1 - P) with M_ij ~ Bernoulli(1 - P) drawn from the model's
    generator (bool mask); inference: H = X (the scaling already kept E[H] = X).
    """

    def __init__(self, rate: float, name: str | None = None):
        super().__init__(name)
        self.rate = check("Dropout", "rate", rate, Real(low=0, high=1, high_open=True))
        self.mask: np.ndarray | None = None
        self._out = Buffers()
        self._u = Buffers()

    def forward(self, X, training=False):
        if not training or self.rate == 0.0:
            self.mask = None
            return X
        u = self._u.get(X.shape, np.float32)
        self.rng.random(dtype=np.float32, out=u)
        self.mask = u >= self.rate
        H = self._out.get(X.shape, X.dtype)
        np.multiply(X, self.mask, out=H)
        H *= 1.0 / (1.0 - self.rate)
        return H

    def backward(self, dH):
        if self.mask is None:
            return dH
        dH *= self.mask
        dH *= 1.0 / (1.0 - self.rate)
        return dH

    def predict(self, X):
        return X

    def config(self):
        return {"rate": self.rate}

