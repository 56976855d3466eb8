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
elu                   Z if Z > 0 else α(e^Z - 1)   1 if H > 0 else H + α
selu                  λ elu_α(Z) (fixed λ, α)      λ if H > 0 else H + λα
gelu                  Z Φ(Z)  (Φ: normal CDF)      Φ(Z) + Z φ(Z)          (needs Z)
gelu_tanh             ½Z(1 + tanh(√(2/π)(Z+cZ³)))  its derivative          (needs Z)
silu (swish)          Z σ(Z)                       σ(Z)(1 + Z(1 - σ(Z)))  (needs Z)
softplus              log(1 + e^Z)                 1 - e^{-H} = σ(Z)
====================  ===========================  ==================================

Softmax normalises over the last axis, so it works on (n, k) rows and (n, T, k) sequences.
"""

from __future__ import annotations

import math

import numpy as np

from .core import Registry
from .validation import Options, Real, check

__all__ = ["Activation", "Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax", "ELU", "SELU", "GELU",
           "SiLU", "Softplus", "get", "names", "register"]

registry = Registry("activation")
register = registry.register


class Activation:
    """Base activation: ``forward(Z, out) -> H`` and ``backward(dH, Z, H) -> dZ``, no state.

    A subclass writes ``forward`` and either ``derivative(Z, H)`` (element-wise f') or a
    ``backward`` of its own. Set ``uses_Z = True`` when f' needs Z rather than H.
    """

    name = "activation"
    uses_Z = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:  # saved by this name until registered under another
            cls.name = cls.__name__

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


registry.base = Activation


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


@registry.register("elu")
class ELU(Activation):
    """ELU(Z) = Z if Z > 0 else α(e^Z - 1)  (α > 0, default 1);  f' = 1 if H > 0 else H + α."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = check("ELU", "alpha", alpha, Real(low=0, low_open=True))  # > 0: the sign of H is Z's

    def forward(self, Z, out=None):
        return _exponential_below_zero(Z, out, 1.0, self.alpha)

    def derivative(self, Z, H):
        return np.where(H > 0, 1.0, H + self.alpha).astype(H.dtype, copy=False)

    def config(self):
        return {"alpha": self.alpha}

    def __repr__(self):
        return f"ELU(alpha={self.alpha})"


def _exponential_below_zero(Z, out, scale, alpha):
    """H = scale·Z where Z > 0, scale·α(e^Z - 1) elsewhere (ELU's and SELU's shape), into ``out`` (or Z)."""
    positive = Z > 0                     # taken before H may overwrite Z
    neg = np.expm1(np.minimum(Z, 0))     # e^Z - 1 <= 0: no overflow for any Z
    neg *= scale * alpha
    H = np.multiply(Z, scale, out=_target(Z, out))
    np.copyto(H, neg, where=~positive)
    return H


@registry.register("selu")
class SELU(Activation):
    """SELU(Z) = λ ELU_α(Z), λ ≈ 1.0507, α ≈ 1.6733 (self-normalising);  f' = λ if H > 0 else H + λα."""

    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946

    def forward(self, Z, out=None):
        return _exponential_below_zero(Z, out, self.scale, self.alpha)

    def derivative(self, Z, H):
        return np.where(H > 0, self.scale, H + self.scale * self.alpha).astype(H.dtype, copy=False)


def _erf(x):
    """The error function, element-wise (SciPy's when installed, else the standard library's)."""
    try:
        from scipy.special import erf
    except ImportError:  # pragma: no cover - scipy comes with the sklearn and test extras
        return np.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)
    return erf(x)


@registry.register("gelu")
class GELU(Activation):
    """GELU(Z) = Z Φ(Z) with Φ(Z) = ½(1 + erf(Z/√2));  f' = Φ(Z) + Z φ(Z), φ(Z) = e^{-Z²/2}/√(2π).

    ``approximate="tanh"`` is the tanh form ½Z(1 + tanh(√(2/π)(Z + 0.044715 Z³))) (PyTorch's
    ``approximate="tanh"``; registered as ``gelu_tanh``). f' needs Z, so the layer keeps it.
    """

    uses_Z = True
    _C = 0.044715
    _K = math.sqrt(2.0 / math.pi)

    def __init__(self, approximate: str = "none"):
        self.approximate = check("GELU", "approximate", approximate, Options("none", "tanh"))

    def forward(self, Z, out=None):
        if self.approximate == "tanh":
            F = self._tanh_inner(Z)
        else:
            F = _erf(Z * (1.0 / math.sqrt(2.0)))
        F += 1.0
        F *= 0.5                         # Φ(Z), or its tanh approximation
        return np.multiply(Z, F, out=_target(Z, out))

    def _tanh_inner(self, Z):
        """tanh(√(2/π)(Z + cZ³))."""
        return np.tanh(self._K * (Z + self._C * Z * Z * Z))

    def derivative(self, Z, H):
        if self.approximate == "tanh":
            t = self._tanh_inner(Z)
            return 0.5 * (1.0 + t) + 0.5 * Z * (1.0 - t * t) * self._K * (1.0 + 3.0 * self._C * Z * Z)
        cdf = 0.5 * (1.0 + _erf(Z * (1.0 / math.sqrt(2.0))))
        return cdf + Z * np.exp(-0.5 * Z * Z) * (1.0 / math.sqrt(2.0 * math.pi))

    def config(self):
        return {"approximate": self.approximate} if self.approximate != "none" else {}

    def __repr__(self):
        return f"GELU(approximate={self.approximate!r})"


@registry.register("gelu_tanh")
class GELUTanh(GELU):
    """GELU in its tanh approximation (``GELU(approximate="tanh")``)."""

    def __init__(self):
        super().__init__("tanh")

    def config(self):
        return {}

    def __repr__(self):
        return "GELUTanh()"


@registry.register("silu", "swish")
class SiLU(Activation):
    """SiLU(Z) = Z σ(Z) (swish);  f' = σ(Z)(1 + Z(1 - σ(Z))). f' needs Z, so the layer keeps it."""

    uses_Z = True

    def forward(self, Z, out=None):
        S = Sigmoid().forward(Z, out=np.empty_like(Z))
        return np.multiply(Z, S, out=_target(Z, out))

    def derivative(self, Z, H):
        S = Sigmoid().forward(Z, out=np.empty_like(Z))
        D = 1.0 - S
        D *= Z
        D += 1.0
        D *= S
        return D


@registry.register("softplus")
class Softplus(Activation):
    """softplus(Z) = log(1 + e^Z) (a smooth ReLU);  f' = σ(Z) = 1 - e^{-H}, read from H."""

    def forward(self, Z, out=None):
        # max(Z, 0) + log1p(e^{-|Z|}): e^{-|Z|} <= 1 never overflows
        tail = np.log1p(np.exp(-np.abs(Z)))
        H = np.maximum(Z, 0, out=_target(Z, out))
        H += tail
        return H

    def derivative(self, Z, H):
        return -np.expm1(-H)


def get(spec, **kwargs) -> Activation:
    """Return an activation from a name (``"relu"``), a class or an instance; None → linear."""
    if spec is None:
        return Linear()
    return registry.get(spec, **kwargs)


def names() -> list[str]:
    """The registered activation names."""
    return registry.names()
