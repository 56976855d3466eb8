"""Batch normalisation: each feature (or image channel) standardised over the batch, then scaled.

Works on (n, d) rows (PyTorch's ``BatchNorm1d``) and on NHWC images (n, h, w, c)
(``BatchNorm2d``): the statistics of a channel are taken over every axis but the last,
m = n (rows) or m = n·h·w (images) values.
"""

from __future__ import annotations

import numpy as np

from .. import activations as _act
from ..core import Layer, Param
from ..validation import Integer, Real, Tuple, check
from .base import Buffers, WithActivation, registry

__all__ = ["BatchNorm"]


@registry.register("batchnorm", "batch_norm", "batchnormalization")
class BatchNorm(WithActivation, Layer):
    """Batch normalisation (Ioffe & Szegedy 2015), with running statistics for inference.

    Training, per channel, over the m values of the batch::

        μ = (1/m) Σ X,   σ² = (1/m) Σ (X - μ)²,   X̂ = (X - μ) / √(σ² + ε),   H = f(γ X̂ + β)

    and the running statistics move towards the batch's (PyTorch's convention, with the
    unbiased variance)::

        running_mean ← (1 - momentum) running_mean + momentum μ
        running_var  ← (1 - momentum) running_var  + momentum σ² m / (m - 1)

    Inference (``predict``, or ``forward(training=False)``) uses them instead of μ, σ².
    Backward in training mode, with g = ∂C/∂(γ X̂ + β)::

        ∂C/∂β = Σ g,   ∂C/∂γ = Σ g X̂,   ∂C/∂X = (γ / √(σ² + ε)) (g - ∂C/∂β / m - X̂ ∂C/∂γ / m)

    Parameters
    ----------
    momentum : float
        Weight of the new batch in the running statistics (PyTorch's, default 0.1; Keras'
        ``momentum`` is 1 minus this).
    eps : float
        ε added to the variance before the square root (default 1e-5, as PyTorch).
    activation : str, Activation or None
        f applied after the affine step, so that Conv2D → BatchNorm → ReLU is one layer
        pair (Conv2D without activation, then ``BatchNorm(activation="relu")``).
    input_shape : (d,) or (height, width, channels), optional
        Per sample; inferred from the first input when omitted.

    Notes
    -----
    γ (``gamma``, starts at 1) and β (``beta``, starts at 0) are trainable Params; the running
    statistics are state, not parameters: :meth:`buffers` returns them by name for saving.
    """

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5, activation=None, input_shape=None,
                 name: str | None = None):
        super().__init__(name)
        self.momentum = check("BatchNorm", "momentum", momentum, Real(low=0, high=1))
        self.eps = check("BatchNorm", "eps", eps, Real(low=0, low_open=True))
        self.activation = _act.get(activation)
        if self.activation.name == "softmax":
            raise ValueError("BatchNorm: softmax is not a valid activation here; use a Dense softmax layer")
        input_shape = check("BatchNorm", "input_shape", input_shape, Tuple(Integer(low=1), length=1),
                            Tuple(Integer(low=1), length=3), None)
        self.declared_input_shape = input_shape
        self.input_shape = input_shape
        self.gamma: Param | None = None
        self.beta: Param | None = None
        self.running_mean: np.ndarray | None = None
        self.running_var: np.ndarray | None = None
        self._xhat, self._out, self._dx = Buffers(), Buffers(), Buffers()
        self.xhat: np.ndarray | None = None
        self.inv_std: np.ndarray | None = None
        self.x_shape: tuple | None = None
        self.training = False

    def param_shapes(self, input_shape):
        shape = tuple(int(d) for d in input_shape)
        if len(shape) not in (1, 3):
            raise ValueError(f"layer {self.name!r}: BatchNorm takes (n, features) or images (n, height, width, "
                             f"channels), got input of shape (n, {', '.join(map(str, shape))})")
        return {"gamma": (shape[-1],), "beta": (shape[-1],)}

    def buffer_shapes(self, input_shape):
        c = self.param_shapes(input_shape)["gamma"]
        return {"running_mean": c, "running_var": c}

    def build(self, input_shape, rng, dtype=np.float32):
        shape = tuple(int(d) for d in input_shape)
        shapes = {**self.param_shapes(shape), **self.buffer_shapes(shape)}
        if self.declared_input_shape is not None and shape != self.declared_input_shape:
            what = "channel mismatch: " if shape[:-1] == self.declared_input_shape[:-1] else ""
            raise ValueError(f"layer {self.name!r}: {what}BatchNorm was declared with input_shape "
                             f"{self.declared_input_shape} but receives {shape}")
        super().build(shape, rng, dtype)
        self.gamma = Param(np.ones(shapes["gamma"], dtype=self.dtype), f"{self.name}/gamma")
        self.beta = Param(np.zeros(shapes["beta"], dtype=self.dtype), f"{self.name}/beta")
        self.running_mean = np.zeros(shapes["running_mean"], dtype=self.dtype)
        self.running_var = np.ones(shapes["running_var"], dtype=self.dtype)
        self.output_shape = shape
        return shape

    def params(self):
        return [self.gamma, self.beta]

    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trainable state to save with the weights: ``{"<name>/running_mean": ..., "<name>/running_var": ...}``.

        The arrays are the layer's own: load a model by writing into them in place
        (``layer.buffers()[key][...] = saved``).
        """
        if not self.built:
            return {}
        return {f"{self.name}/running_mean": self.running_mean, f"{self.name}/running_var": self.running_var}

    def forward_z(self, X, training=False):
        c = self.input_shape[-1]
        X2 = X.reshape(-1, c)
        m = X2.shape[0]
        xhat = self._xhat.get(X2.shape, self.dtype)
        if training:
            if m < 2:
                raise ValueError(f"layer {self.name!r}: BatchNorm needs more than 1 value per channel in training, "
                                 f"got input of shape {X.shape}")
            mu = X2.mean(axis=0)
            np.subtract(X2, mu, out=xhat)
            var = np.einsum("ij,ij->j", xhat, xhat) / m   # biased σ², used to normalise
            inv_std = 1.0 / np.sqrt(var + self.eps)
            xhat *= inv_std
            a = self.momentum
            self.running_mean *= 1.0 - a
            self.running_mean += a * mu
            self.running_var *= 1.0 - a
            self.running_var += (a * m / (m - 1)) * var
        else:
            inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
            np.subtract(X2, self.running_mean, out=xhat)
            xhat *= inv_std
        self.xhat, self.inv_std, self.x_shape, self.training = xhat, inv_std.astype(self.dtype), X.shape, training
        Z = self._out.get(X.shape, self.dtype)
        Z2 = Z.reshape(-1, c)
        np.multiply(xhat, self.gamma.value, out=Z2)
        Z2 += self.beta.value
        return Z

    def backward_z(self, g):
        c = self.input_shape[-1]
        g2 = g.reshape(-1, c)
        m = g2.shape[0]
        np.sum(g2, axis=0, out=self.beta.grad)
        np.einsum("ij,ij->j", g2, self.xhat, out=self.gamma.grad)
        if not self.needs_input_grad:
            return None
        scale = self.gamma.value * self.inv_std
        dX = self._dx.get(self.x_shape, self.dtype)
        dX2 = dX.reshape(-1, c)
        if self.training:
            np.multiply(self.xhat, self.gamma.grad / m, out=dX2)
            np.subtract(g2, dX2, out=dX2)
            dX2 -= self.beta.grad / m
            dX2 *= scale
        else:
            np.multiply(g2, scale, out=dX2)
        return dX

    def predict_z(self, X):
        c = self.input_shape[-1]
        scale = self.gamma.value / np.sqrt(self.running_var + self.eps)
        Z = X - self.running_mean.reshape((1,) * (X.ndim - 1) + (c,))
        Z *= scale
        Z += self.beta.value
        return Z.astype(self.dtype, copy=False)

    def config(self):
        cfg = {"momentum": self.momentum, "eps": self.eps, **self.activation_config()}
        if self.declared_input_shape is not None:
            cfg["input_shape"] = list(self.declared_input_shape)
        return cfg
