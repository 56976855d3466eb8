"""The playground's data: six 2-D sets in the square [-R, R]², feature transforms, uploads.

Classification sets come from :mod:`neuronlab.datasets.synthetic` (circles, XOR, two Gaussian
blobs, spirals), rescaled into the square; the two regression sets (a tilted plane and a sum
of Gaussian bumps) are defined here because the library has no 2-D regression generator.
Labels: 0/1 for classification, a number in about [-1, 1] for regression, always shaped (n, 1).
"""

from __future__ import annotations

import os
import re
import tempfile

import numpy as np

from ..core import DataError
from ..datasets import csv as _csv
from ..datasets import synthetic
from ..validation import Integer, Options, Real, check

__all__ = ["RADIUS", "CLASSIFICATION", "REGRESSION", "DATASETS", "FEATURES", "make_data", "features",
           "read_upload", "MAX_UPLOAD_BYTES"]

RADIUS = 3.0  # the data and the heat maps live in [-RADIUS, RADIUS]²
CLASSIFICATION = ("circle", "xor", "gaussians", "spiral")
REGRESSION = ("plane", "bumps")
DATASETS = CLASSIFICATION + REGRESSION
MAX_UPLOAD_BYTES = 1_000_000
MAX_UPLOAD_ROWS = 5_000

#: name -> (label shown on the page, function of x1, x2)
FEATURES = {
    "x1": ("x₁", lambda a, b: a),
    "x2": ("x₂", lambda a, b: b),
    "x1sq": ("x₁²", lambda a, b: a * a),
    "x2sq": ("x₂²", lambda a, b: b * b),
    "x1x2": ("x₁x₂", lambda a, b: a * b),
    "sinx1": ("sin x₁", lambda a, b: np.sin(a)),
    "sinx2": ("sin x₂", lambda a, b: np.sin(b)),
}


def make_data(name: str, n_samples: int = 500, noise: float = 0.1, seed: int = 0):
    """``(X, y)``: ``n_samples`` points of set ``name`` in [-R, R]², X float32 (n, 2), y float32 (n, 1).

    ``noise`` (0 to 0.5) is the library generator's noise in units of the unscaled set
    (spiral: the angle in radians; gaussians: added to a base spread of 0.35).
    """
    name = check("playground", "dataset", name, Options(*DATASETS))
    n = check("playground", "n_samples", n_samples, Integer(low=8, high=5000))
    noise = check("playground", "noise", noise, Real(low=0, high=0.5))
    rng = np.random.default_rng(seed)
    if name == "circle":
        X, y = synthetic.make_circles(n, noise=noise, factor=0.5, seed=rng)
        X = X * 2.5
    elif name == "xor":
        X, y = synthetic.make_xor(n, noise=noise + 0.15, seed=rng)
        X = (X - 0.5) * 3.0
    elif name == "gaussians":
        X, y = synthetic.make_blobs(n, noise=0.35 + noise, centers=[[-1.0, -1.0], [1.0, 1.0]], seed=rng)
        X = X * 1.4
    elif name == "spiral":
        X, y = synthetic.make_spirals(n, noise=noise, turns=1.0, seed=rng)
        X = X * 2.8
    else:
        X = rng.uniform(-RADIUS, RADIUS, size=(n, 2))
        if name == "plane":
            y = (X[:, 0] + X[:, 1]) / (2 * RADIUS)
        else:  # two bumps of opposite sign
            y = (np.exp(-((X[:, 0] - 1.2) ** 2 + (X[:, 1] - 1.2) ** 2) / 1.5)
                 - np.exp(-((X[:, 0] + 1.2) ** 2 + (X[:, 1] + 1.2) ** 2) / 1.5))
        y = y + rng.normal(0.0, noise, size=n)
    X = np.clip(X, -RADIUS, RADIUS)
    return X.astype(np.float32), np.asarray(y, dtype=np.float32).reshape(-1, 1)


def features(X: np.ndarray, names) -> np.ndarray:
    """The network's input: one column per transform in ``names`` (from :data:`FEATURES`) of x = (x₁, x₂)."""
    a, b = X[:, 0], X[:, 1]
    return np.stack([FEATURES[f][1](a, b) for f in names], axis=1).astype(X.dtype, copy=False)


def _label_column(data: bytes):
    """"auto" when the header names a label column (label, target, class, ...), else the last column."""
    first = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").lower()
    names = {c.strip().strip('"') for c in re.split(r"[,;\t ]", first)}
    return "auto" if names & set(_csv.LABEL_NAMES) else -1


def read_upload(data: bytes, filename: str = "upload.csv"):
    """``(X, y, task)`` from an uploaded CSV: two feature columns and a label column.

    The bytes go through neuronlab's hardened CSV reader (:func:`neuronlab.datasets.csv.read_csv`)
    from a private temporary file; errors name ``filename``, never the server's path. Labels
    that are two classes become 0/1 (classification); other numbers are a regression target.
    Features are rescaled into [-R, R]².

    Raises
    ------
    DataError
        Too large, unreadable, not two feature columns, too few or too many rows.
    """
    shown = os.path.basename(str(filename))[:80] or "upload.csv"
    shown = "".join(c for c in shown if c.isprintable())
    if len(data) > MAX_UPLOAD_BYTES:
        raise DataError(f"{shown}: the file is {len(data):,} bytes; the playground takes at most "
                        f"{MAX_UPLOAD_BYTES:,}")
    fd, path = tempfile.mkstemp(suffix=".csv", prefix="neuronlab-upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            X, y = _csv.read_csv(path, label_column=_label_column(data))
        except DataError as e:
            raise DataError(str(e).replace(path, shown)) from None
    finally:
        os.unlink(path)
    if y is None or X.shape[1] != 2:
        raise DataError(f"{shown}: needs two feature columns and a label column, got {X.shape[1]} feature "
                        f"column(s)" + ("" if y is not None else " and no label"))
    if not 8 <= len(X) <= MAX_UPLOAD_ROWS:
        raise DataError(f"{shown}: needs 8 to {MAX_UPLOAD_ROWS:,} rows, got {len(X):,}")
    classes = np.unique(y)
    if y.dtype.kind in "US":
        if len(classes) != 2:
            raise DataError(f"{shown}: the label column has {len(classes)} classes; the playground takes 2 "
                            f"(or numbers for regression)")
        y, task = (y == classes[1]).astype(np.float32), "classification"
    elif len(classes) == 2:
        y, task = (y == classes[1]).astype(np.float32), "classification"
    else:
        y, task = y.astype(np.float32), "regression"
    lo, hi = X.min(axis=0), X.max(axis=0)
    X = (X - (lo + hi) / 2) / np.maximum((hi - lo) / 2, 1e-12) * (RADIUS * 0.9)
    return X.astype(np.float32), y.reshape(-1, 1), task
