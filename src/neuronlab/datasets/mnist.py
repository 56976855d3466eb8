"""MNIST, shipped inside the package (gzipped IDX), verified by SHA-256 before first use.

MNIST by Yann LeCun, Corinna Cortes and Christopher J. C. Burges, CC BY-SA 3.0; see
``data/mnist/README.md`` for the source and attribution of these copies.
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources

import numpy as np

from ..core import DataError
from .idx import read_idx

__all__ = ["load_mnist", "MNIST_FILES", "mnist_dir"]

MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    "train-labels-idx1-ubyte.gz": "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    "t10k-images-idx3-ubyte.gz": "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    "t10k-labels-idx1-ubyte.gz": "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
}
_verified: set[str] = set()


def mnist_dir() -> str:
    """The folder of the shipped MNIST files."""
    return str(resources.files("neuronlab.datasets") / "data" / "mnist")


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verified_path(folder, name, expected) -> str:
    path = os.path.join(folder, name)
    if path in _verified:
        return path
    if not os.path.isfile(path):
        raise DataError(f"{path}: MNIST file missing")
    got = sha256_of(path)
    if got != expected:
        raise DataError(f"{path}: SHA-256 {got} does not match the expected {expected}")
    _verified.add(path)
    return path


def load_mnist(folder: str | None = None, flatten: bool = True, scale: bool = True,
               dtype=np.float32):
    """Load MNIST as ``(X_train, y_train), (X_test, y_test)``.

    Parameters
    ----------
    folder : str, optional
        Folder with the four gzipped IDX files; default: the copy shipped in the package.
    flatten : bool
        Images as (n, 784) rows (the guide's X) instead of (n, 28, 28).
    scale : bool
        Pixels divided by 255 into [0, 1] (else the raw 0-255 values).
    dtype
        Image dtype; labels are uint8 in 0-9.
    """
    folder = folder or mnist_dir()
    arrays = [read_idx(_verified_path(folder, name, sha)) for name, sha in MNIST_FILES.items()]
    X_tr, y_tr, X_te, y_te = arrays
    if len(X_tr) != len(y_tr) or len(X_te) != len(y_te):
        raise DataError(f"{folder}: image and label counts differ")

    def prep(X):
        X = X.reshape(len(X), -1) if flatten else X
        X = X.astype(dtype)
        if scale:
            X *= np.asarray(1.0 / 255.0, dtype=dtype)
        return X

    return (prep(X_tr), y_tr), (prep(X_te), y_te)
