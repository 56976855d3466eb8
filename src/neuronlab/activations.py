"""Activation functions H = f(Z), in the guide's order, with derivatives from the output.

Each activation works in place on the layer's Z buffer (``forward``), caches its output H,
and turns ∂C/∂H into ∂C/∂Z in ``backward`` using only H:

====================  ===========================  ==================================
name                  f(Z)                         f'(Z) written with H = f(Z)
====================  ===========================  ==================================
linear                Z                            1
sigmoid               1 / (1 + e^{-Z})             H (1 - H)
tanh                  tanh Z                       1 - H²
relu                  max(Z, 0)                    [H > 0]
leaky_relu            Z if Z > 0 else αZ           1 if H > 0 else α      (α > 0)
softmax               e^{Z_j} / Σ_k e^{Z_k}        ∂C/∂Z = S ⊙ (g - Σ_k g_k S_k)
====================  ===========================  ==================================
"""

from __future__ import annotations

import numpy as np

from .core import Registry

__all__ = ["Activation", "Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax", "get", "names"]

registry = Registry("activation")


class Activation:
    """Base activation. ``apply`` is stateless; ``forward`` also caches H for ``backward``."""

    name = "activation"

    def __init__(self):
        self.H: np.ndarray | None = None
        self.Z: np.ndarray | None = None
        self.keep_logits = False  # set on the output layer when the loss wants Z too


    def apply(self, Z: np.ndarray) -> np.ndarray:
        """Return f(Z), overwriting Z when possible (Z must be a float array we own)."""
        raise NotImplementedError

    def forward(self, Z: np.ndarray) -> np.ndarray:
        if self.keep_logits:
            self.Z = Z.copy()  # apply() overwrites Z; a fused loss needs it for a stable value
        self.H = self.apply(Z)
        return self.H

    def derivative(self, H: np.ndarray) -> np.ndarray:
        """f'(Z) as a function of the output H (elementwise activations only)."""
        raise NotImplementedError

    def backward(self, dH: np.ndarray) -> np.ndarray:
        """∂C/∂Z = ∂C/∂H ⊙ f'(Z); may overwrite dH."""
        dH *= self.derivative(self.H)
        return dH

    def config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@registry.register("linear", "identity", "none")
class Linear(Activation):
    """f(Z) = Z (the output of regression networks)."""

    def apply(self, Z):
        return Z

    def derivative(self, H):
        return np.ones_like(H)

    def backward(self, dH):
        return dH


@registry.register("sigmoid", "logistic")
class Sigmoid(Activation):
    """σ(Z) = 1 / (1 + e^{-Z});  σ' = H (1 - H), at most 0.25 (at Z = 0)."""

    def apply(self, Z):
        # e^{-|Z|} never overflows; σ = 1/(1+e) for Z >= 0 and e/(1+e) for Z < 0.
        e = np.exp(-np.abs(Z))
        num = np.where(Z >= 0, 1.0, e).astype(Z.dtype, copy=False)
        e += 1.0
        np.divide(num, e, out=Z)
        return Z

    def derivative(self, H):
        return H * (1.0 - H)


@registry.register("tanh")
class Tanh(Activation):
    """tanh(Z);  tanh' = 1 - H²."""

    def apply(self, Z):
        return np.tanh(Z, out=Z)

    def derivative(self, H):
        return 1.0 - H * H


@registry.register("relu")
class ReLU(Activation):
    """ReLU(Z) = max(Z, 0);  ReLU' = [H > 0] (0 at Z = 0, as PyTorch)."""

    def apply(self, Z):
        return np.maximum(Z, 0, out=Z)

    def derivative(self, H):
        return (H > 0).astype(H.dtype)

    def backward(self, dH):
        dH *= self.H > 0
        return dH


@registry.register("leaky_relu", "leakyrelu")
class LeakyReLU(Activation):
    """LeakyReLU(Z) = Z if Z > 0 else αZ (α > 0, default 0.01); f' = 1 if H > 0 else α."""

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        if not alpha > 0:
            raise ValueError(f"leaky_relu: alpha must be > 0 (the derivative is read from H), got {alpha}")
        self.alpha = float(alpha)

    def apply(self, Z):
        np.multiply(Z, self.alpha, out=Z, where=Z < 0)
        return Z

    def derivative(self, H):
        return np.where(H > 0, 1.0, self.alpha).astype(H.dtype)

    def backward(self, dH):
        np.multiply(dH, self.alpha, out=dH, where=self.H <= 0)
        return dH

    def config(self):
        return {"alpha": self.alpha}

    def __repr__(self):
        return f"LeakyReLU(alpha={self.alpha})"


@registry.register("softmax")
class Softmax(Activation):
    """S_j = e^{Z_j} / Σ_k e^{Z_k}, row-wise.

    Backward, without a per-sample Jacobian: ∂C/∂Z = S ⊙ (g - Σ_k g_k S_k) with g = ∂C/∂S.
    With categorical cross-entropy the model skips this and uses the fused (S - Y)/n.
    """

    def apply(self, Z):
        # Subtracting the row maximum keeps e^{Z} <= 1: no overflow for any finite Z.
        Z -= Z.max(axis=1, keepdims=True)
        np.exp(Z, out=Z)
        Z /= Z.sum(axis=1, keepdims=True)
        return Z

    def derivative(self, H):
        raise NotImplementedError("softmax has a Jacobian, not an elementwise derivative")

    def backward(self, dH):
        S = self.H
        dot = np.einsum("ij,ij->i", dH, S)[:, None]
        dH -= dot
        dH *= S
        return dH


def get(spec, **kwargs) -> Activation:
    """Return an activation from a name (``"relu"``), a class or an instance; None → linear."""
    if spec is None:
        return Linear()
    return registry.get(spec, **kwargs)


def names() -> list[str]:
    """The registered activation names."""
    return registry.names()
