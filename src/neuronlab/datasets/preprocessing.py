"""Preprocessing: scale to [0, 1], standardise, one-hot, label encoding, stratified splits.

``InputScaler`` remembers the transform fitted on the training data (as JSON-able config)
so that a saved model applies exactly the same one to new inputs in ``evaluate`` and
``predict``.
"""

from __future__ import annotations

import numpy as np

from ..validation import Boolean, Integer, Options, Real, check, validated

__all__ = ["scale", "standardize", "standardise", "one_hot", "encode_labels", "train_val_split",
           "InputScaler"]


def scale(X, low=None, high=None, dtype=np.float32) -> np.ndarray:
    """Min-max scaling to [0, 1]: X' = (X - low) / (high - low).

    ``low``/``high`` default to 0/255 for uint8 data (images) and to X's min/max otherwise.
    """
    X = np.asarray(X)
    if X.dtype == np.uint8:
        low = 0.0 if low is None else low
        high = 255.0 if high is None else high
    low = float(np.min(X)) if low is None else float(low)
    high = float(np.max(X)) if high is None else float(high)
    if not high > low:
        raise ValueError(f"scale: high ({high}) must be greater than low ({low})")
    out = X.astype(dtype)
    out -= np.asarray(low, dtype=dtype)
    out *= np.asarray(1.0 / (high - low), dtype=dtype)
    return out


def standardize(X, mean=None, std=None, eps: float = 1e-8, dtype=np.float32):
    """Z = (X - μ) / (σ + ε) per feature (column); returns ``(Z, μ, σ)``.

    Pass the training set's μ and σ to transform validation or test data the same way.
    A constant feature (σ = 0) maps to 0.
    """
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0) if mean is None else np.asarray(mean, dtype=np.float64)
    std = X.std(axis=0) if std is None else np.asarray(std, dtype=np.float64)
    Z = (X - mean) / (std + eps)
    return Z.astype(dtype), mean, std


standardise = standardize


def one_hot(y, n_classes: int | None = None, dtype=np.float32) -> np.ndarray:
    """Y[i, y_i] = 1: integer labels (n,) → one-hot rows (n, n_classes)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"one_hot: labels must be 1-D, got shape {y.shape}")
    if y.size and (y.dtype.kind not in "iu" and not np.all(y == np.round(y))):
        raise ValueError("one_hot: labels must be whole numbers")
    n_classes = check("one_hot", "n_classes", n_classes, Integer(low=0), None)
    y = y.astype(np.int64)
    k = int(y.max()) + 1 if n_classes is None and y.size else int(n_classes or 0)
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"one_hot: labels must lie in [0, {k}), got values in [{y.min()}, {y.max()}]")
    Y = np.zeros((len(y), k), dtype=dtype)
    Y[np.arange(len(y)), y] = 1
    return Y


def encode_labels(y, classes=None) -> tuple[np.ndarray, list[str]]:
    """Class labels of any kind → (integer codes 0..k-1, class names).

    Integer labels that already are 0..k-1 keep their values (names "0", "1", ...); other
    labels (strings, or numbers like 1, 2, 3) are numbered in sorted order. With ``classes``
    given, labels are coded by their position in it and unknown labels raise ValueError.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    if classes is not None:
        names = [str(c) for c in classes]
        lookup = {name: i for i, name in enumerate(names)}
        keys = [_label_key(v) for v in y.tolist()]
        bad = [k for k in keys if k not in lookup]
        if bad:
            raise ValueError(f"label {bad[0]!r} is not one of the model's classes ({', '.join(names)})")
        return np.array([lookup[k] for k in keys], dtype=np.int64), names
    if y.dtype.kind in "iub" or (y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y))):
        yi = y.astype(np.int64)
        if yi.size and yi.min() >= 0 and np.array_equal(np.unique(yi), np.arange(yi.max() + 1)):
            return yi, [str(i) for i in range(int(yi.max()) + 1)]
        uniq, codes = np.unique(yi, return_inverse=True)
        return codes.astype(np.int64), [str(v) for v in uniq.tolist()]
    if y.dtype.kind == "f":
        raise ValueError("labels must be whole numbers or names, got fractional or non-finite values")
    uniq, codes = np.unique(y.astype(str), return_inverse=True)
    return codes.astype(np.int64), [str(v) for v in uniq.tolist()]


def _label_key(v) -> str:
    if isinstance(v, float) and v == round(v):
        v = int(v)
    return str(v)


def train_val_split(X, y, val_fraction: float = 0.1, seed=None, stratify: bool = True):
    """Split (X, y) into ``(X_train, y_train), (X_val, y_val)``.

    Stratified (each class keeps its share in both parts, at least one sample per class in
    each when it has two or more); the choice is drawn from ``seed`` (int, None or Generator).
    Both parts keep the original order of their samples.
    """
    val_fraction = check("train_val_split", "val_fraction", val_fraction,
                         Real(low=0, low_open=True, high=1, high_open=True))
    stratify = check("train_val_split", "stratify", stratify, Boolean())
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"train_val_split: X has {len(X)} samples but y has {len(y)}")
    rng = np.random.default_rng(seed)
    n = len(y)
    is_val = np.zeros(n, dtype=bool)
    if stratify and y.ndim == 1:
        _, codes = np.unique(y, return_inverse=True)
        for c in range(int(codes.max()) + 1 if n else 0):
            idx = np.flatnonzero(codes == c)
            k = int(round(val_fraction * len(idx)))
            if len(idx) >= 2:
                k = min(max(k, 1), len(idx) - 1)
            is_val[rng.permutation(idx)[:k]] = True
    else:
        k = int(round(val_fraction * n))
        is_val[rng.permutation(n)[:k]] = True
    if is_val.all() or not is_val.any():
        raise ValueError(f"train_val_split: val_fraction={val_fraction} leaves an empty part of {n} samples")
    return (X[~is_val], y[~is_val]), (X[is_val], y[is_val])


class InputScaler:
    """The input transform of a model, fitted on training data and saved with it.

    kind ``"divide"``: X' = X / value (``value=255`` maps 8-bit images to [0, 1]);
    kind ``"standardize"``: X' = (X - μ) / (σ + ε) per feature; kind ``"none"``: X' = X.
    ``InputScaler.auto(X)`` picks divide-by-255 for uint8 (or 0..255 integer) data and
    standardisation otherwise.
    """

    @validated({"kind": Options("none", "divide", "standardize"), "value": Real(low=0, low_open=True),
                "eps": Real(low=0)})
    def __init__(self, kind: str = "none", value: float = 1.0, mean=None, std=None, eps: float = 1e-8):
        self.kind, self.value, self.eps = kind, value, eps
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.std = None if std is None else np.asarray(std, dtype=np.float64)

    @classmethod
    def auto(cls, X) -> InputScaler:
        X = np.asarray(X)
        if X.dtype == np.uint8 or (X.dtype.kind in "iu" and X.size and X.min() >= 0 and X.max() <= 255):
            return cls("divide", 255.0)
        flat = X.reshape(len(X), -1).astype(np.float64)
        return cls("standardize", mean=flat.mean(axis=0), std=flat.std(axis=0))

    def transform(self, X, dtype=np.float32) -> np.ndarray:
        X = np.asarray(X)
        if self.kind == "divide":
            out = X.astype(dtype)
            out *= np.asarray(1.0 / self.value, dtype=dtype)
            return out
        if self.kind == "standardize":
            flat = X.reshape(len(X), -1)
            if flat.shape[1] != self.mean.size:
                raise ValueError(f"input has {flat.shape[1]} features per sample, the scaler was fitted on "
                                 f"{self.mean.size}")
            return ((flat - self.mean) / (self.std + self.eps)).astype(dtype).reshape(X.shape)
        return X.astype(dtype)

    def get_config(self) -> dict:
        cfg = {"kind": self.kind}
        if self.kind == "divide":
            cfg["value"] = self.value
        if self.kind == "standardize":
            cfg.update(mean=self.mean.tolist(), std=self.std.tolist(), eps=self.eps)
        return cfg

    @classmethod
    def from_config(cls, cfg: dict) -> InputScaler:
        return cls(**cfg)

    def __repr__(self):
        return f"InputScaler(kind={self.kind!r})"
