"""Losses C(out, Y): the value (a mean) and ∂C/∂out (already divided by the count).

The network's output may carry leading axes beyond the batch, e.g. (n, T, k) for a
prediction at every time step: a loss works on the last axis and averages over all others,
so a per-step target Y of shape (n, T) trains a sequence model through ``fit``.

Losses that take logits (Keras' ``from_logits``, PyTorch's ``CrossEntropyLoss``): when the
output layer's activation is the loss's ``partner`` (softmax for categorical cross-entropy,
sigmoid for binary cross-entropy), ``Sequential.compile`` hands the loss the layer's Z
instead of its H. The loss then owns the fused, exact computation: log-sum-exp / softplus
of Z for the value (finite for logits of any size) and ∂C/∂Z = (P - Y)/n for the gradient,
which follows from the chain rule because the 1/P of the log cancels the P of f'. This
module is the only place that knows about the pairing.
"""

from __future__ import annotations

import copy

import numpy as np

from .core import Registry
from .validation import Real, check

__all__ = ["Loss", "MSE", "MAE", "Huber", "BinaryCrossEntropy", "CategoricalCrossEntropy",
           "SparseCategoricalCrossEntropy", "KLDivergence", "Hinge", "accuracy", "get", "names", "register"]

registry = Registry("loss")
register = registry.register


def _check_finite(y, where):
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        bad = np.argwhere(~np.isfinite(y))[0]
        raise ValueError(f"{where}: y contains NaN or inf (first at index {tuple(int(i) for i in bad)})")


def _shape_text(shape) -> str:
    return f"(n, {', '.join(map(str, shape))})"


def _per_row(w, G):
    """Sample weights (n,) shaped to broadcast over the other axes of G."""
    return w.reshape(-1, *([1] * (G.ndim - 1))).astype(G.dtype, copy=False)


class Loss:
    """Base loss. ``targets`` validates y once; ``value`` and ``gradient`` work per batch.

    Parameters
    ----------
    from_logits : bool
        The loss receives Z (pre-activation) rather than H; only for losses with a ``partner``
        activation. ``compile`` switches it on by itself for a softmax/sigmoid output layer.

    A subclass writes ``elementwise(out, Y)`` (the loss of every entry, shape of ``out``, or of
    every position for class losses) and ``_gradient(out, Y)`` (∂ of the sum of those, not yet
    divided by the count).
    """

    name = "loss"
    partner: str | None = None  # the activation whose Z this loss can take (fused gradient)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:  # saved by this name until registered under another
            cls.name = cls.__name__

    def __init__(self, from_logits: bool = False):
        if not isinstance(from_logits, (bool, np.bool_)):
            raise ValueError(f"{type(self).__name__}: from_logits must be True or False, got {from_logits!r}")
        if from_logits and self.partner is None:
            raise ValueError(f"{type(self).__name__}: from_logits=True needs a loss with a partner activation "
                             "(binary or categorical cross-entropy)")
        self.from_logits = bool(from_logits)

    def with_logits(self) -> Loss:
        """A copy of this loss that takes Z of its partner activation."""
        out = copy.copy(self)
        out.from_logits = True
        return out

    def targets(self, y, output_shape, dtype=np.float32, where="fit") -> np.ndarray:
        """Validate y against an output of ``output_shape`` (per sample); return it in the form used here."""
        output_shape = _as_shape(output_shape)
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise ValueError(f"{where}: y must be numeric, got dtype {y.dtype}")
        _check_finite(y, where)
        if output_shape[-1] == 1 and y.shape[1:] == output_shape[:-1]:
            y = y.reshape(*y.shape, 1)
        if y.ndim < 1 or y.shape[1:] != output_shape:
            raise ValueError(f"{where}: y of shape {y.shape} does not match the model's output "
                             f"{_shape_text(output_shape)} for loss {self.name!r}{_flatten_hint(output_shape)}")
        return y.astype(dtype, copy=False)

    def elementwise(self, out, Y) -> np.ndarray:
        raise NotImplementedError

    def _gradient(self, out, Y) -> np.ndarray:
        raise NotImplementedError

    def _count(self, out) -> int:
        """How many terms C averages over (all entries of out; class losses: all positions)."""
        return out.size

    def per_sample(self, out, Y) -> np.ndarray:
        """ℓ_i, the loss of each sample (n,), averaged over its entries; C is their mean."""
        ell = self.elementwise(out, Y)
        return ell.reshape(len(ell), -1).mean(axis=1)

    def value(self, out, Y, w=None) -> float:
        """C = (1/n) Σ_i w_i ℓ_i (w_i = 1 without sample weights)."""
        if w is None:
            return float(np.mean(self.elementwise(out, Y)))
        ell = self.per_sample(out, Y)
        return float(np.dot(w, ell) / len(ell))

    def gradient(self, out, Y, w=None) -> np.ndarray:
        """∂C/∂out (∂C/∂Z with ``from_logits``), rows scaled by the sample weights w_i."""
        G = self._gradient(out, Y)
        G *= 1.0 / self._count(out)
        if w is not None:
            G *= _per_row(w, G)
        return G

    def value_and_gradient(self, out, Y, w=None) -> tuple[float, np.ndarray]:
        """``(value(out, Y, w), gradient(out, Y, w))``; a loss may share work between the two."""
        return self.value(out, Y, w), self.gradient(out, Y, w)

    def config(self) -> dict:
        return {"from_logits": self.from_logits} if self.from_logits else {}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.config().items())})"


registry.base = Loss


def _as_shape(shape) -> tuple:
    return (int(shape),) if np.isscalar(shape) else tuple(int(d) for d in shape)


def _flatten_hint(output_shape) -> str:
    return "; put a Flatten layer before the output Dense layer" if len(output_shape) == 3 else ""


@registry.register("mse", "mean_squared_error")
class MSE(Loss):
    """C = mean over all entries of (Y_p - Y_t)²;  ∂C/∂Y_p = 2 (Y_p - Y_t) / (n k)."""

    def elementwise(self, out, Y):
        D = out - Y
        D *= D
        return D

    def value(self, out, Y, w=None):
        if w is not None:
            return super().value(out, Y, w)
        D = out - Y
        return float(np.vdot(D, D) / D.size)

    def _gradient(self, out, Y):
        G = out - Y
        G *= 2.0
        return G


@registry.register("mae", "mean_absolute_error", "l1")
class MAE(Loss):
    """C = mean over all entries of |Y_p - Y_t|;  ∂C/∂Y_p = sign(Y_p - Y_t) / (n k) (0 where equal, as PyTorch)."""

    def elementwise(self, out, Y):
        return np.abs(out - Y)

    def _gradient(self, out, Y):
        return np.sign(out - Y)


@registry.register("huber")
class Huber(Loss):
    """Huber loss with threshold δ (default 1): quadratic near the target, linear far from it.

    With D = Y_p - Y_t:  ℓ = ½D² if |D| <= δ else δ(|D| - ½δ);  ∂ℓ/∂Y_p = clip(D, -δ, δ).
    PyTorch's ``HuberLoss(delta=δ)``; Keras' ``Huber``.
    """

    def __init__(self, delta: float = 1.0):
        super().__init__()
        self.delta = check("Huber", "delta", delta, Real(low=0, low_open=True))

    def elementwise(self, out, Y):
        A = np.abs(out - Y)
        small = A <= self.delta
        return np.where(small, 0.5 * A * A, self.delta * (A - 0.5 * self.delta))

    def _gradient(self, out, Y):
        G = out - Y
        np.clip(G, -self.delta, self.delta, out=G)
        return G

    def config(self):
        return {"delta": self.delta} if self.delta != 1.0 else {}


def _softplus(Z):
    """log(1 + e^Z) without overflow: max(Z, 0) + log1p(e^{-|Z|})."""
    return np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z)))


def _sigmoid(Z):
    from .activations import Sigmoid

    return Sigmoid().forward(Z, out=np.empty_like(Z))


def _softmax(Z):
    from .activations import Softmax

    return Softmax().forward(Z, out=np.empty_like(Z))


@registry.register("binary_crossentropy", "bce")
class BinaryCrossEntropy(Loss):
    """C = -mean[Y log P + (1 - Y) log(1 - P)] over all outputs; Y in [0, 1].

    From logits Z (P = σ(Z)): ℓ = softplus(Z) - Y Z and ∂C/∂Z = (P - Y)/(n k).
    From probabilities, as PyTorch's BCELoss: log clamped at -100 and
    ∂C/∂P = (P - Y) / max(P (1 - P), 1e-12) / (n k).
    """

    partner = "sigmoid"

    def targets(self, y, output_shape, dtype=np.float32, where="fit"):
        Y = super().targets(y, output_shape, dtype, where)
        if Y.size and (Y.min() < 0 or Y.max() > 1):
            raise ValueError(f"{where}: binary_crossentropy targets must lie in [0, 1], "
                             f"got values in [{Y.min()}, {Y.max()}]")
        return Y

    def elementwise(self, out, Y):
        if self.from_logits:
            return _softplus(out) - Y * out
        with np.errstate(divide="ignore"):
            logp = np.maximum(np.log(out), -100.0)
            log1mp = np.maximum(np.log1p(-out), -100.0)
        return -(Y * logp + (1.0 - Y) * log1mp)

    def _gradient(self, out, Y):
        if self.from_logits:
            G = _sigmoid(out)
            G -= Y
            return G
        G = out - Y
        G /= np.maximum(out * (1.0 - out), 1e-12)
        return G


@registry.register("categorical_crossentropy", "cross_entropy", "cce")
class CategoricalCrossEntropy(Loss):
    """C = -(1/n) Σ_i Σ_k Y_ik log P_ik over the last axis k, averaged over every other axis.

    Y is integer labels (shape of the output without its last axis) or one-hot / probabilities
    (shape of the output). Integer labels stay integers: log P_{i, y_i} is gathered, never a
    one-hot copy. From logits Z: log P = Z - log Σ_k e^{Z_k} (log-sum-exp) and ∂C/∂Z = (P - Y)/n.
    """

    partner = "softmax"

    def targets(self, y, output_shape, dtype=np.float32, where="fit"):
        output_shape = _as_shape(output_shape)
        y = np.asarray(y)
        k = output_shape[-1]
        if k > 1 and y.shape[1:] == (*output_shape[:-1], 1):
            y = y[..., 0]
        if y.ndim >= 1 and y.shape[1:] == output_shape[:-1]:
            return self._labels(y, k, where)
        return super().targets(y, output_shape, dtype, where)

    @staticmethod
    def _labels(y, k, where):
        if y.dtype.kind not in "biuf":
            raise ValueError(f"{where}: labels must be integers, got dtype {y.dtype}")
        _check_finite(y, where)
        if y.dtype.kind == "f" and not np.all(y == np.round(y)):
            raise ValueError(f"{where}: class labels must be whole numbers, got {y[y != np.round(y)][:3]}")
        if y.size and (y.min() < 0 or y.max() >= k):
            raise ValueError(f"{where}: labels must lie in [0, {k}) for an output of {k} "
                             f"classes, got values in [{y.min()}, {y.max()}]")
        return y.astype(np.intp)

    def _count(self, out):
        return out.size // out.shape[-1]

    def value_and_gradient(self, out, Y, w=None):
        """From logits with integer labels, one pass: S = e^{Z - max}, C = mean(log Σ S - (Z_y - max)),
        ∂C/∂Z = (S / Σ S - onehot(y)) / n (the training step's hot path)."""
        if not self.from_logits or Y.ndim != out.ndim - 1:
            return super().value_and_gradient(out, Y, w)
        k = out.shape[-1]
        Z2, y2 = out.reshape(-1, k), Y.reshape(-1)
        rows = np.arange(len(y2))
        G = Z2 - Z2.max(axis=1, keepdims=True)
        shifted_true = G[rows, y2]
        np.exp(G, out=G)
        total = G.sum(axis=1, keepdims=True)
        ell = np.log(total[:, 0]) - shifted_true          # −log P_{i, y_i} at every position
        G /= total
        G[rows, y2] -= 1.0
        G *= 1.0 / len(y2)
        if w is None:
            value = float(ell.sum() / len(ell))
        else:
            ell = ell.reshape(len(out), -1).mean(axis=1)
            value = float(np.dot(w, ell) / len(ell))
            G.reshape(out.shape)[...] *= _per_row(w, out)
        return value, G.reshape(out.shape)

    def _log_p(self, out):
        if self.from_logits:
            Zs = out - out.max(axis=-1, keepdims=True)
            Zs -= np.log(np.exp(Zs).sum(axis=-1, keepdims=True))
            return Zs
        with np.errstate(divide="ignore"):
            return np.maximum(np.log(out), np.log(np.finfo(out.dtype).tiny))

    def elementwise(self, out, Y):
        """−log P of the true class (or −Σ_k Y_k log P_k) at every position: shape of out without k."""
        logP = self._log_p(out)
        if Y.ndim == out.ndim - 1:
            return -np.take_along_axis(logP, Y[..., None], axis=-1)[..., 0]
        return -np.einsum("...k,...k->...", Y, logP)

    def _gradient(self, out, Y):
        labels = Y.ndim == out.ndim - 1
        if self.from_logits:
            G = _softmax(out)
            if labels:
                G2, y2 = G.reshape(-1, G.shape[-1]), Y.reshape(-1)
                G2[np.arange(len(y2)), y2] -= 1.0
            else:
                G -= Y
            return G
        # ∂C/∂P = -Y / P (output not softmax: rare; P floored to stay finite)
        Pf = np.maximum(out, np.finfo(out.dtype).tiny)
        if labels:
            G = np.zeros_like(out)
            G2, P2, y2 = G.reshape(-1, G.shape[-1]), Pf.reshape(-1, G.shape[-1]), Y.reshape(-1)
            rows = np.arange(len(y2))
            G2[rows, y2] = -1.0 / P2[rows, y2]
            return G
        return (-Y / Pf).astype(out.dtype, copy=False)


@registry.register("sparse_categorical_crossentropy")
class SparseCategoricalCrossEntropy(CategoricalCrossEntropy):
    """Categorical cross-entropy with integer labels (Keras' name); one-hot targets are refused."""

    def targets(self, y, output_shape, dtype=np.float32, where="fit"):
        output_shape = _as_shape(output_shape)
        y = np.asarray(y)
        if output_shape[-1] > 1 and y.shape[1:] == (*output_shape[:-1], 1):
            y = y[..., 0]
        if y.ndim < 1 or y.shape[1:] != output_shape[:-1]:
            raise ValueError(f"{where}: sparse_categorical_crossentropy takes integer labels of shape "
                             f"{_shape_text(output_shape[:-1]) if len(output_shape) > 1 else '(n,)'}, "
                             f"got y of shape {y.shape}")
        return self._labels(y, output_shape[-1], where)


def _xlogy(Y, L):
    """Y · L with 0 where Y = 0 (so 0 log 0 = 0, as ``torch.xlogy``)."""
    return np.where(Y == 0, 0.0, Y * L).astype(L.dtype, copy=False)


@registry.register("kl_divergence", "kld", "kullback_leibler_divergence")
class KLDivergence(Loss):
    """C = (1/n) Σ_i Σ_k Y_ik (log Y_ik - log P_ik) over the last axis k (0 log 0 = 0).

    Y is a distribution per position (rows summing to 1, e.g. soft labels); P the output
    (softmax). PyTorch's ``kl_div(log P, Y, reduction="batchmean")``, Keras' ``KLDivergence``.
    From the logits Z of a softmax output: log P = Z - log Σ e^Z and ∂C/∂Z = (P Σ_k Y_k - Y)/n.
    """

    partner = "softmax"

    def targets(self, y, output_shape, dtype=np.float32, where="fit"):
        Y = super().targets(y, output_shape, dtype, where)
        if Y.size and Y.min() < 0:
            raise ValueError(f"{where}: kl_divergence targets must be probabilities (>= 0), got a minimum of {Y.min()}")
        return Y

    def _count(self, out):
        return out.size // out.shape[-1]

    def _log_p(self, out):
        return CategoricalCrossEntropy._log_p(self, out)

    def elementwise(self, out, Y):
        with np.errstate(divide="ignore"):
            logY = np.log(np.where(Y > 0, Y, 1.0))
        return np.sum(_xlogy(Y, logY - self._log_p(out)), axis=-1)

    def _gradient(self, out, Y):
        if self.from_logits:
            G = _softmax(out)
            G *= Y.sum(axis=-1, keepdims=True)
            G -= Y
            return G
        return (-Y / np.maximum(out, np.finfo(out.dtype).tiny)).astype(out.dtype, copy=False)


@registry.register("hinge")
class Hinge(Loss):
    """C = mean over all entries of max(0, 1 - Y_t · Y_p) with labels Y_t in {-1, 1} (0/1 labels become -1/1).

    ∂ℓ/∂Y_p = -Y_t where 1 - Y_t Y_p > 0, else 0. Keras' ``Hinge``; train a linear (tanh) output.
    """

    def targets(self, y, output_shape, dtype=np.float32, where="fit"):
        Y = super().targets(y, output_shape, dtype, where)
        values = np.unique(Y)
        if not np.isin(values, (-1, 0, 1)).all():
            raise ValueError(f"{where}: hinge targets must be labels in {{-1, 1}} (or {{0, 1}}), "
                             f"got values {values[:5].tolist()}")
        if not (Y < 0).any():
            Y = 2 * Y - 1  # 0/1 labels, as Keras
        return Y.astype(dtype, copy=False)

    def elementwise(self, out, Y):
        return np.maximum(1.0 - Y * out, 0.0)

    def _gradient(self, out, Y):
        return np.where(Y * out < 1.0, -Y, 0.0).astype(out.dtype, copy=False)


def accuracy(P: np.ndarray, Y: np.ndarray, multilabel: bool = False, threshold: float = 0.5) -> float:
    """Fraction correct: argmax over the last axis (Y labels or one-hot); for one output,
    or every output of a multi-label (binary cross-entropy) model, [P > 0.5] = [Y > 0.5].

    On logits Z of a sigmoid/softmax output pass ``threshold=0``: σ(Z) > 0.5 ⇔ Z > 0 and the
    argmax of softmax(Z) is the argmax of Z, so P need not be computed."""
    if P.shape[-1] == 1 or multilabel:
        return float(np.mean((P > threshold) == (Y.reshape(P.shape) > 0.5)))  # (n,) labels: no (n, n) broadcast
    pred = P.argmax(axis=-1)
    true = Y if Y.ndim == P.ndim - 1 else Y.argmax(axis=-1)
    return float(np.mean(pred == true))


def get(spec, **kwargs) -> Loss:
    """Return a loss from a registered name, a class or an instance."""
    return registry.get(spec, **kwargs)


def names() -> list[str]:
    return registry.names()
