"""Losses C(Y_p, Y_t): the value (a batch mean) and ∂C/∂Y_p (already divided by n).

Fused output gradients, chosen once in ``compile``:

* softmax + categorical cross-entropy: ∂C/∂Z = (P - Y) / n,
* sigmoid + binary cross-entropy:      ∂C/∂Z = (P - Y) / (n k)  (mean over all n·k outputs).

Both follow from ∂C/∂Z = ∂C/∂P · ∂P/∂Z, where the 1/P of the log cancels the P of the
activation's derivative; they hold only for these pairs, which is why ``fused_activation``
names the activation. The fused form stays finite however large the logits are, and the
value is then computed from the logits Z (log-sum-exp / softplus), not from log P.
"""

from __future__ import annotations

import numpy as np

from .core import Registry

__all__ = ["Loss", "MSE", "BinaryCrossEntropy", "CategoricalCrossEntropy", "get", "names"]

registry = Registry("loss")


def _check_finite(y, where):
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        bad = np.argwhere(~np.isfinite(y))[0]
        raise ValueError(f"{where}: y contains NaN or inf (first at index {tuple(int(i) for i in bad)})")


class Loss:
    """Base loss. ``targets`` validates y once; ``value`` and ``gradient`` work per batch."""

    name = "loss"
    fused_activation: str | None = None

    def targets(self, y, n_out: int, dtype=np.float32, where="fit") -> np.ndarray:
        """Validate y against an output of ``n_out`` units; return it in the form used here."""
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise ValueError(f"{where}: y must be numeric, got dtype {y.dtype}")
        _check_finite(y, where)
        if y.ndim == 1 and n_out == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[1] != n_out:
            raise ValueError(f"{where}: y of shape {y.shape} does not match the model's output "
                             f"(n, {n_out}) for loss {self.name!r}")
        return y.astype(dtype, copy=False)

    def per_sample(self, P, Y, Z=None) -> np.ndarray:
        """ℓ_i, the loss of each sample (n,); C is their mean."""
        raise NotImplementedError

    def value(self, P, Y, Z=None, w=None) -> float:
        """C = (1/n) Σ_i w_i ℓ_i (w_i = 1 without sample weights)."""
        ell = self.per_sample(P, Y, Z)
        return float(np.mean(ell) if w is None else np.dot(w, ell) / len(ell))

    def gradient(self, P, Y, fused: bool = False, w=None) -> np.ndarray:
        """∂C/∂P (or ∂C/∂Z when ``fused``), rows scaled by the sample weights w_i."""
        G = self._gradient(P, Y, fused)
        if w is not None:
            G *= w.reshape(-1, *([1] * (G.ndim - 1))).astype(G.dtype, copy=False)
        return G

    def _gradient(self, P, Y, fused: bool) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


@registry.register("mse", "mean_squared_error")
class MSE(Loss):
    """C = mean over all n·k elements of (Y_p - Y_t)²;  ∂C/∂Y_p = 2 (Y_p - Y_t) / (n k)."""

    def per_sample(self, P, Y, Z=None):
        D = P - Y
        return np.einsum("ij,ij->i", D, D) / D.shape[1]

    def value(self, P, Y, Z=None, w=None):
        if w is not None:
            return super().value(P, Y, Z, w)
        D = P - Y
        return float(np.vdot(D, D) / D.size)

    def _gradient(self, P, Y, fused=False):
        G = P - Y
        G *= 2.0 / G.size
        return G


def _softplus(Z):
    """log(1 + e^Z) without overflow: max(Z, 0) + log1p(e^{-|Z|})."""
    return np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z)))


@registry.register("binary_crossentropy", "bce")
class BinaryCrossEntropy(Loss):
    """C = -mean[Y log P + (1 - Y) log(1 - P)] over all n·k outputs; Y in [0, 1].

    Unfused (output not sigmoid), as PyTorch's BCELoss: log clamped at -100 and
    ∂C/∂P = (P - Y) / max(P (1 - P), 1e-12) / (n k).
    """

    fused_activation = "sigmoid"

    def targets(self, y, n_out, dtype=np.float32, where="fit"):
        Y = super().targets(y, n_out, dtype, where)
        if Y.size and (Y.min() < 0 or Y.max() > 1):
            raise ValueError(f"{where}: binary_crossentropy targets must lie in [0, 1], "
                             f"got values in [{Y.min()}, {Y.max()}]")
        return Y

    def per_sample(self, P, Y, Z=None):
        if Z is not None:  # from logits: softplus(Z) - Y Z
            return np.mean(_softplus(Z) - Y * Z, axis=1)
        with np.errstate(divide="ignore"):
            logp = np.maximum(np.log(P), -100.0)
            log1mp = np.maximum(np.log1p(-P), -100.0)
        return -np.mean(Y * logp + (1.0 - Y) * log1mp, axis=1)

    def _gradient(self, P, Y, fused=False):
        G = P - Y
        if not fused:
            G /= np.maximum(P * (1.0 - P), 1e-12)
        G *= 1.0 / G.size
        return G


@registry.register("categorical_crossentropy", "cross_entropy", "cce",
                   "sparse_categorical_crossentropy")
class CategoricalCrossEntropy(Loss):
    """C = -(1/n) Σ_i Σ_k Y_ik log P_ik, Y integer labels (n,) or one-hot / probabilities (n, k).

    Integer labels stay integers (no one-hot copy): log P_{i, y_i} is gathered directly.
    """

    fused_activation = "softmax"

    def targets(self, y, n_out, dtype=np.float32, where="fit"):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1 and n_out > 1:
            y = y[:, 0]
        if y.ndim == 1:
            if y.dtype.kind not in "biuf":
                raise ValueError(f"{where}: labels must be integers, got dtype {y.dtype}")
            _check_finite(y, where)
            if y.dtype.kind == "f":
                if not np.all(y == np.round(y)):
                    raise ValueError(f"{where}: class labels must be whole numbers, got {y[y != np.round(y)][:3]}")
            if y.size and (y.min() < 0 or y.max() >= n_out):
                raise ValueError(f"{where}: labels must lie in [0, {n_out}) for an output of {n_out} "
                                 f"classes, got values in [{y.min()}, {y.max()}]")
            return y.astype(np.intp)
        return super().targets(y, n_out, dtype, where)

    @staticmethod
    def _log_softmax(Z):
        Zs = Z - Z.max(axis=1, keepdims=True)
        return Zs - np.log(np.exp(Zs).sum(axis=1, keepdims=True))

    def per_sample(self, P, Y, Z=None):
        if Z is not None:
            logP = self._log_softmax(Z)
        else:
            with np.errstate(divide="ignore"):
                logP = np.maximum(np.log(P), np.log(np.finfo(P.dtype).tiny))
        if Y.ndim == 1:
            return -logP[np.arange(len(P)), Y]
        return -np.einsum("ij,ij->i", Y, logP)

    def _gradient(self, P, Y, fused=False):
        n = P.shape[0]
        if fused:
            G = P.copy()
            if Y.ndim == 1:
                G[np.arange(n), Y] -= 1.0
            else:
                G -= Y
            G *= 1.0 / n
            return G
        # ∂C/∂P = -Y / P / n (output not softmax: rare; P floored to stay finite)
        Pf = np.maximum(P, np.finfo(P.dtype).tiny)
        if Y.ndim == 1:
            G = np.zeros_like(P)
            G[np.arange(n), Y] = -1.0 / Pf[np.arange(n), Y]
        else:
            G = -Y / Pf
        G *= 1.0 / n
        return G.astype(P.dtype, copy=False)


def accuracy(P: np.ndarray, Y: np.ndarray, multilabel: bool = False) -> float:
    """Fraction correct: argmax over several classes (Y labels or one-hot); for one output,
    or every output of a multi-label (binary cross-entropy) model, [P > 0.5] = [Y > 0.5]."""
    if P.shape[1] == 1 or multilabel:
        return float(np.mean((P > 0.5) == (Y.reshape(P.shape) > 0.5)))  # (n,) labels: no (n, n) broadcast
    pred = P.argmax(axis=1)
    true = Y if Y.ndim == 1 else Y.argmax(axis=1)
    return float(np.mean(pred == true))


def get(spec, **kwargs) -> Loss:
    return registry.get(spec, **kwargs)


def names() -> list[str]:
    return registry.names()
