"""Activation functions H = f(Z), in the guide's order, stateless.

An activation holds no data from its last call, so one instance may serve any number of
layers. ``forward(Z, out)`` writes H = f(Z) into ``out`` (Z itself by default: the layer's own
buffer is reused); ``backward(dH, Z, H)`` turns ∂C/∂H into ∂C/∂Z with what the layer cached.
The built-ins read f' from H alone, so the layer may let H overwrite Z; an activation whose
derivative needs Z sets ``uses_Z = True`` and the layer then keeps Z apart from H.

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

Softmax normalises over the last axis, so it works on (n, k) rows and (n, T, k) sequences.
"""

from __future__ import annotations

import numpy as np

from .core import Registry
from .validation import Real, check

__all__ = ["Activation", "Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax", "get", "names"]

registry = Registry("activation")


class Activation:
    """Base activation: ``forward(Z, out) -> H`` and ``backward(dH, Z, H) -> dZ``, no state.

    A subclass writes ``forward`` and either ``derivative(Z, H)`` (element-wise f') or a
    ``backward`` of its own. Set ``uses_Z = True`` when f' needs Z rather than H.
    """

    name = "activation"
    uses_Z = False

    def forward(self, Z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """H = f(Z), written into ``out`` (default: Z itself, which must be a float array we own)."""
        raise NotImplementedError

    def derivative(self, Z: np.ndarray | None, H: np.ndarray) -> np.ndarray:
        """f'(Z) element-wise (from H for the built-ins; Z is None unless ``uses_Z``)."""
        raise NotImplementedError

    def backward(self, dH: np.ndarray, Z: np.ndarray | None, H: np.ndarray) -> np.ndarray:
        """∂C/∂Z = ∂C/∂H ⊙ f'(Z); may overwrite dH."""
        dH *= self.derivative(Z, H)
        return dH

    def config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _target(Z, out):
    return Z if out is None else out


@registry.register("linear", "identity", "none")
class Linear(Activation):
    """f(Z) = Z (the output of regression networks)."""

    def forward(self, Z, out=None):
        if out is None or out is Z:
            return Z
        np.copyto(out, Z)
        return out

    def derivative(self, Z, H):
        return np.ones_like(H)

    def backward(self, dH, Z, H):
        return dH


@registry.register("sigmoid", "logistic")
class Sigmoid(Activation):
    """σ(Z) = 1 / (1 + e^{-Z});  σ' = H (1 - H), at most 0.25 (at Z = 0)."""

    def forward(self, Z, out=None):
        # e^{-|Z|} never overflows; σ = 1/(1+e) for Z >= 0 and e/(1+e) for Z < 0.
        e = np.exp(-np.abs(Z))
        num = np.where(Z >= 0, 1.0, e).astype(Z.dtype, copy=False)
        e += 1.0
        return np.divide(num, e, out=_target(Z, out))

    def derivative(self, Z, H):
        return H * (1.0 - H)


@registry.register("tanh")
class Tanh(Activation):
    """tanh(Z);  tanh' = 1 - H²."""

    def forward(self, Z, out=None):
        return np.tanh(Z, out=_target(Z, out))

    def derivative(self, Z, H):
        return 1.0 - H * H


@registry.register("relu")
class ReLU(Activation):
    """ReLU(Z) = max(Z, 0);  ReLU' = [H > 0] (0 at Z = 0, as PyTorch)."""

    def forward(self, Z, out=None):
        return np.maximum(Z, 0, out=_target(Z, out))

    def derivative(self, Z, H):
        return (H > 0).astype(H.dtype)

    def backward(self, dH, Z, H):
        dH *= H > 0
        return dH


@registry.register("leaky_relu", "leakyrelu")
class LeakyReLU(Activation):
    """LeakyReLU(Z) = Z if Z > 0 else αZ (α > 0, default 0.01); f' = 1 if H > 0 else α."""

    def __init__(self, alpha: float = 0.01):
        self.alpha = check("LeakyReLU", "alpha", alpha, Real(low=0, low_open=True))  # > 0: f' is read from H

    def forward(self, Z, out=None):
        H = _target(Z, out)
        if H is not Z:
            np.copyto(H, Z)
        np.multiply(H, self.alpha, out=H, where=H < 0)
        return H

    def derivative(self, Z, H):
        return np.where(H > 0, 1.0, self.alpha).astype(H.dtype)

    def backward(self, dH, Z, H):
        np.multiply(dH, self.alpha, out=dH, where=H <= 0)
        return dH

    def config(self):
        return {"alpha": self.alpha}

    def __repr__(self):
        return f"LeakyReLU(alpha={self.alpha})"


@registry.register("softmax")
class Softmax(Activation):
    """S_j = e^{Z_j} / Σ_k e^{Z_k} over the last axis.

    Backward, without a per-sample Jacobian: ∂C/∂Z = S ⊙ (g - Σ_k g_k S_k) with g = ∂C/∂S.
    With categorical cross-entropy the loss takes Z instead and gives (S - Y)/n directly.
    """

    def forward(self, Z, out=None):
        # Subtracting the row maximum keeps e^{Z} <= 1: no overflow for any finite Z.
        S = np.subtract(Z, Z.max(axis=-1, keepdims=True), out=_target(Z, out))
        np.exp(S, out=S)
        S /= S.sum(axis=-1, keepdims=True)
        return S

    def derivative(self, Z, H):
        raise NotImplementedError("softmax has a Jacobian, not an element-wise derivative")

    def backward(self, dH, Z, H):
        dot = np.einsum("...k,...k->...", dH, H)[..., None]
        dH -= dot
        dH *= H
        return dH


def get(spec, **kwargs) -> Activation:
    """Return an activation from a name (``"relu"``), a class or an instance; None → linear."""
    if spec is None:
        return Linear()
    act = registry.get(spec, **kwargs)
    if not isinstance(act, Activation):
        raise TypeError(f"an activation must be a registered name or an nl.activations.Activation subclass "
                        f"instance, got {type(act).__name__}")
    return act


def names() -> list[str]:
    """The registered activation names."""
    return registry.names()
