"""Metrics: numbers reported next to the loss, streamed over batches so epoch values are exact.

A metric keeps sufficient statistics (counts, sums, per-class tallies), not per-batch means:
``update(P, Y, w=None)`` adds a batch, ``result()`` is the value over everything since
``reset()``. So an epoch's accuracy is correct / seen over all its batches, and RMSE and R² —
which are not means of per-batch values — are exact too. Each equals scikit-learn's function
on the same predictions (tests/test_metrics.py).

P is the model's output (probabilities for softmax/sigmoid outputs), Y the targets as the loss
checked them: integer labels (n,) or one-hot (n, k) for a k-class output, 0/1 for one sigmoid
output or for every output of a multi-label model. Metrics that only need argmax P or P > 0.5
set ``accepts_logits``; the model then gives them the logits Z of a fused output with
``from_logits=True`` (σ(Z) > ½ ⇔ Z > 0, argmax softmax(Z) = argmax Z), which costs nothing.

=========================  ======================================================
name                       value
=========================  ======================================================
accuracy (acc)             fraction of correct predictions
top_k_accuracy, top_5_...  fraction whose true class is among the k largest P
precision, recall, f1      binary (one output or two classes), positive class 1
precision_macro / _micro   mean of per-class values / from pooled counts (also
(recall_*, f1_*)           for every output of a multi-label model)
auc (roc_auc)              area under the ROC curve (binary), ties counted half
mae, mse, rmse, r2         per output over the last axis, then their mean
                           (scikit-learn's ``multioutput="uniform_average"``)
=========================  ======================================================
"""

from __future__ import annotations

import re

import numpy as np

from .core import Registry
from .validation import Boolean, Integer, Options, check

__all__ = ["Metric", "Accuracy", "TopKAccuracy", "Precision", "Recall", "F1", "AUC", "MAE", "MSE", "RMSE", "R2",
           "get", "names", "register", "registry"]


class Metric:
    """Base metric: streaming ``update(P, Y, w=None)``, ``result() -> float``, ``reset()``.

    A subclass keeps its statistics as attributes, sets them in ``reset`` (called by the
    constructor) and adds a batch to them in ``update``. ``name`` is the key in the logs and
    in ``History`` (``"val_" + name`` for validation data). ``per_batch = False`` keeps a
    metric whose ``result`` is costly (AUC sorts every score seen) out of the per-batch logs:
    it is computed once per epoch.
    """

    name = "metric"
    accepts_logits = False   # True: update(Z, Y, w, from_logits=True) is exact on logits
    per_batch = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:  # the log key until registered under another name
            cls.name = cls.__name__.lower()

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, P, Y, w=None) -> None:
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError

    def config(self) -> dict:
        return {}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.config().items())})"


registry = Registry("metric", base=Metric)
register = registry.register


def _weights(w, n):
    """Per-sample weights (n,) as float64, or ones."""
    if w is None:
        return np.ones(n)
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    if w.shape != (n,):
        raise ValueError(f"metric: w must have one weight per sample ({n}), got shape {w.shape}")
    return w


def _per_position(w, P, n_rows):
    """Sample weights repeated for every position of a sample (the axes between batch and last)."""
    positions = (P.size // P.shape[-1]) // n_rows if n_rows else 1
    return np.repeat(_weights(w, n_rows), positions)


def _decisions(P, Y, multilabel, from_logits):
    """(predicted, true) labels, flat: argmax over the last axis, or [P > ½] per output."""
    if P.shape[-1] == 1 or multilabel:
        threshold = 0.0 if from_logits else 0.5
        return (P > threshold).reshape(-1).astype(np.intp), (Y.reshape(P.shape) > 0.5).reshape(-1).astype(np.intp)
    pred = P.argmax(axis=-1).reshape(-1)
    true = (Y if Y.ndim == P.ndim - 1 else Y.argmax(axis=-1)).reshape(-1)
    return pred, true.astype(np.intp)


@register("accuracy", "acc")
class Accuracy(Metric):
    """Fraction correct: argmax over the last axis, or [P > ½] = [Y > ½] for one output or every
    output of a multi-label model (``multilabel=None``: the model decides from its loss)."""

    accepts_logits = True

    def __init__(self, multilabel=None):
        self.multilabel = check("Accuracy", "multilabel", multilabel, Boolean(), None)
        super().__init__()

    def reset(self):
        self.correct = self.total = 0.0

    def update(self, P, Y, w=None, from_logits=False):
        pred, true = _decisions(P, Y, self.multilabel, from_logits)
        hit = pred == true
        if w is None:
            self.correct += float(np.count_nonzero(hit))
            self.total += hit.size
        else:
            ww = np.repeat(_weights(w, len(P)), hit.size // len(P))
            self.correct += float(ww @ hit)
            self.total += float(ww.sum())

    def result(self):
        return self.correct / self.total if self.total else 0.0


@register("top_k_accuracy")
class TopKAccuracy(Metric):
    """Fraction of samples whose true class is among the k largest outputs (sklearn's
    ``top_k_accuracy_score``); named ``top_<k>_accuracy`` in the logs."""

    accepts_logits = True

    def __init__(self, k: int = 5):
        self.k = check("TopKAccuracy", "k", k, Integer(low=1))
        self.name = f"top_{self.k}_accuracy"
        super().__init__()

    def reset(self):
        self.correct = self.total = 0.0

    def update(self, P, Y, w=None, from_logits=False):
        k_classes = P.shape[-1]
        if k_classes < 2:
            raise ValueError("TopKAccuracy: needs an output of two or more classes")
        P2 = P.reshape(-1, k_classes)
        true = (Y if Y.ndim == P.ndim - 1 else Y.argmax(axis=-1)).reshape(-1)
        true_score = P2[np.arange(len(P2)), true]
        hit = (P2 > true_score[:, None]).sum(axis=1) < self.k   # fewer than k classes score higher
        if w is None:
            self.correct += float(np.count_nonzero(hit))
            self.total += len(hit)
            return
        ww = _per_position(w, P, len(P))
        self.correct += float(ww @ hit)
        self.total += float(ww.sum())

    def result(self):
        return self.correct / self.total if self.total else 0.0

    def config(self):
        return {"k": self.k}


class _Counts(Metric):
    """Per-class true positives, false positives and false negatives (weighted), streamed."""

    accepts_logits = True
    kind = "precision"

    def __init__(self, average: str = "binary", multilabel=None):
        owner = type(self).__name__
        self.average = check(owner, "average", average, Options("binary", "macro", "micro"))
        self.multilabel = check(owner, "multilabel", multilabel, Boolean(), None)
        self.name = self.kind if self.average == "binary" else f"{self.kind}_{self.average}"
        super().__init__()

    def reset(self):
        self.tp = self.fp = self.fn = np.zeros(0)

    def _add(self, tp, fp, fn):
        if len(self.tp) < len(tp):
            pad = len(tp) - len(self.tp)
            self.tp, self.fp, self.fn = (np.concatenate([a, np.zeros(pad)]) for a in (self.tp, self.fp, self.fn))
        self.tp[:len(tp)] += tp
        self.fp[:len(fp)] += fp
        self.fn[:len(fn)] += fn

    def update(self, P, Y, w=None, from_logits=False):
        k = max(2, P.shape[-1])
        if self.average == "binary" and (k > 2 or (self.multilabel and P.shape[-1] > 1)):
            raise ValueError(f"{type(self).__name__}: average='binary' needs one output or two classes, the output "
                             f"has {P.shape[-1]}; use '{self.kind}_macro' or '{self.kind}_micro'")
        if self.multilabel and P.shape[-1] > 1:
            self._update_multilabel(P, Y, w, from_logits)
            return
        pred, true = _decisions(P, Y, self.multilabel, from_logits)
        # one bincount gives the batch's confusion matrix C[true, pred]: TP = diag, FP = column - diag, FN = row - diag
        weights = None if w is None else _per_position(w, P, len(P))
        C = np.bincount(true * k + pred, weights, minlength=k * k).reshape(k, k)
        tp = np.diagonal(C)
        self._add(tp, C.sum(axis=0) - tp, C.sum(axis=1) - tp)

    def _update_multilabel(self, P, Y, w, from_logits):
        """Every output is its own binary problem: counts per output column."""
        k = P.shape[-1]
        pred = P.reshape(-1, k) > (0.0 if from_logits else 0.5)
        true = Y.reshape(-1, k) > 0.5
        ww = _per_position(w, P, len(P))[:, None]
        self._add((ww * (pred & true)).sum(axis=0), (ww * (pred & ~true)).sum(axis=0),
                  (ww * (~pred & true)).sum(axis=0))

    def _score(self, tp, fp, fn):
        raise NotImplementedError

    def result(self):
        tp, fp, fn = self.tp, self.fp, self.fn
        if self.average == "binary":
            return float(self._score(tp[1:2], fp[1:2], fn[1:2])[0]) if len(tp) > 1 else 0.0
        if self.average == "micro":
            return float(self._score(tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True))[0])
        present = (tp + fp + fn) > 0 if not self.multilabel else np.ones(len(tp), bool)
        return float(self._score(tp, fp, fn)[present].mean()) if present.any() else 0.0

    def config(self):
        return {"average": self.average}


def _ratio(num, den):
    """num / den with 0 where den = 0 (scikit-learn's zero_division=0)."""
    return np.divide(num, den, out=np.zeros(len(num)), where=den > 0)


@register("precision")
class Precision(_Counts):
    """TP / (TP + FP) (sklearn's ``precision_score``; 0 when nothing is predicted positive)."""

    kind = "precision"

    def _score(self, tp, fp, fn):
        return _ratio(tp, tp + fp)


@register("recall")
class Recall(_Counts):
    """TP / (TP + FN) (sklearn's ``recall_score``)."""

    kind = "recall"

    def _score(self, tp, fp, fn):
        return _ratio(tp, tp + fn)


@register("f1")
class F1(_Counts):
    """2 TP / (2 TP + FP + FN), the harmonic mean of precision and recall (sklearn's ``f1_score``)."""

    kind = "f1"

    def _score(self, tp, fp, fn):
        return _ratio(2 * tp, 2 * tp + fp + fn)


@register("auc", "roc_auc")
class AUC(Metric):
    """Area under the ROC curve of a binary output (one sigmoid output, or the class-1 column of two).

    Kept exact: the scores and labels of the epoch are stored and ranked once in ``result``
    (the Mann–Whitney form, ties counted half), equal to sklearn's ``roc_auc_score``.
    """

    per_batch = False

    def reset(self):
        self._scores, self._labels, self._weights = [], [], []

    def update(self, P, Y, w=None):
        if P.shape[-1] > 2:
            raise ValueError(f"AUC: is for a binary output (one output or two classes), the output has {P.shape[-1]}")
        score = P[..., -1].reshape(-1)
        if Y.ndim == P.ndim and P.shape[-1] == 2:
            Y = Y.argmax(axis=-1)
        self._scores.append(np.asarray(score, dtype=np.float64))
        self._labels.append(Y.reshape(-1) > 0.5)
        self._weights.append(_per_position(w, P, len(P)))

    def result(self):
        if not self._scores:
            return 0.0
        s, y, w = (np.concatenate(a) for a in (self._scores, self._labels, self._weights))
        pos, neg = w[y].sum(), w[~y].sum()
        if pos == 0 or neg == 0:
            return float("nan")  # undefined with one class only (sklearn raises)
        order = np.argsort(s, kind="mergesort")
        s, y, w = s[order], y[order], w[order]
        # weighted count of negatives strictly below each score, plus half of those tied with it
        _, first, inverse = np.unique(s, return_index=True, return_inverse=True)
        neg_cum = np.concatenate([[0.0], np.cumsum(np.where(y, 0.0, w))])
        below = neg_cum[first]
        tied = np.add.reduceat(np.where(y, 0.0, w), first)
        credit = below[inverse] + 0.5 * tied[inverse]
        return float((w[y] * credit[y]).sum() / (pos * neg))


class _Regression(Metric):
    """Per-output sums over the last axis (every leading axis pooled), for MAE, MSE, RMSE and R²."""

    def reset(self):
        self.n = 0.0
        self.sums: dict[str, np.ndarray] = {}

    def _add(self, key, values):
        self.sums[key] = self.sums.get(key, 0.0) + values

    def update(self, P, Y, w=None):
        if Y.shape != P.shape:
            raise ValueError(f"{type(self).__name__}: needs targets shaped like the output {P.shape}, got {Y.shape}")
        k = P.shape[-1]
        D = (P - Y).reshape(-1, k).astype(np.float64, copy=False)
        ww = None if w is None else _per_position(w, P, len(P))  # None: every row weighs 1
        self.n += len(D) if ww is None else ww.sum()
        self._accumulate(D, Y.reshape(-1, k).astype(np.float64, copy=False), ww)

    @staticmethod
    def _sum(ww, A):
        """Σ_rows w A (per output)."""
        return A.sum(axis=0) if ww is None else ww @ A

    def _accumulate(self, D, Y, ww):
        raise NotImplementedError


@register("mae", "mean_absolute_error")
class MAE(_Regression):
    """Mean absolute error (sklearn's ``mean_absolute_error``)."""

    def _accumulate(self, D, Y, ww):
        self._add("abs", self._sum(ww, np.abs(D)))

    def result(self):
        return float(np.mean(self.sums["abs"] / self.n)) if self.n else 0.0


@register("mse", "mean_squared_error")
class MSE(_Regression):
    """Mean squared error (sklearn's ``mean_squared_error``)."""

    def _accumulate(self, D, Y, ww):
        self._add("sq", self._sum(ww, D * D))

    def result(self):
        return float(np.mean(self.sums["sq"] / self.n)) if self.n else 0.0


@register("rmse", "root_mean_squared_error")
class RMSE(MSE):
    """Root mean squared error per output, then their mean (sklearn's ``root_mean_squared_error``)."""

    def result(self):
        return float(np.mean(np.sqrt(self.sums["sq"] / self.n))) if self.n else 0.0


@register("r2", "r2_score")
class R2(_Regression):
    """R² = 1 - SS_res / SS_tot per output, then their mean (sklearn's ``r2_score``).

    SS_tot = Σ w (y - ȳ)² is streamed with Chan's merge of batch means, in float64. As scikit-learn,
    an output with constant targets scores 1 when predicted exactly and 0 otherwise.
    """

    def reset(self):
        super().reset()
        self.mean = self.m2 = 0.0

    def _accumulate(self, D, Y, ww):
        # Chan's merge of (count, mean, Σ w (y - mean)²): stable for any offset of y
        self._add("sq", self._sum(ww, D * D))
        nb = len(Y) if ww is None else ww.sum()
        n_before = self.n - nb
        mb = self._sum(ww, Y) / nb
        C = Y - mb
        m2b = self._sum(ww, C * C)
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / self.n)
        self.m2 = self.m2 + m2b + delta * delta * (n_before * nb / self.n)

    def result(self):
        if not self.n:
            return 0.0
        ss_res, ss_tot = self.sums["sq"], np.asarray(self.m2, dtype=np.float64)
        constant = ss_tot <= 1e-24 * self.n * np.maximum(np.asarray(self.mean) ** 2, 1.0)
        score = np.where(constant, np.where(ss_res == 0, 1.0, 0.0), 1.0 - ss_res / np.where(constant, 1.0, ss_tot))
        return float(np.mean(score))


_VARIANT = re.compile(r"^(precision|recall|f1)_(macro|micro|binary)$|^top_(\d+)_accuracy$")


def get(spec, **kwargs) -> Metric:
    """A metric from a name (``"mae"``, ``"f1_macro"``, ``"top_3_accuracy"``), a Metric subclass or an instance."""
    if isinstance(spec, str) and spec not in registry:
        match = _VARIANT.match(spec.lower())
        if match and match.group(3):
            return TopKAccuracy(k=int(match.group(3)), **kwargs)
        if match:
            return registry.lookup(match.group(1))(average=match.group(2), **kwargs)
    return registry.get(spec, **kwargs)


def names() -> list[str]:
    """The registered metric names."""
    return registry.names()
