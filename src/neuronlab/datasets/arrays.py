"""NumPy array files: ``.npy`` (one array) and ``.npz`` (named arrays), never unpickled.

An ``.npz`` dataset holds ``x_train``/``y_train`` and optionally ``x_test``/``y_test``
(Keras' ``mnist.npz`` layout), or just ``X``/``y``. Key names are matched without regard
to case, and common aliases are accepted (``images``/``labels``, ``data``/``target``, ...).
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from ..core import DataError

__all__ = ["load_npy", "load_npz"]

_X_KEYS = ("x_train", "train_x", "train_images", "x", "data", "images", "features", "inputs")
_Y_KEYS = ("y_train", "train_y", "train_labels", "y", "labels", "target", "targets")
_XT_KEYS = ("x_test", "test_x", "test_images")
_YT_KEYS = ("y_test", "test_y", "test_labels")


def _check_array(path, key, a):
    if a.dtype.kind not in "biuf" and not (a.dtype.kind == "U" and key.startswith("y")):
        raise DataError(f"{path}: array {key!r} has dtype {a.dtype}, expected numbers")
    return a


def load_npy(path) -> np.ndarray:
    """One array from a ``.npy`` file (``allow_pickle=False``: object arrays are refused)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npy array ({e})") from None
    if not isinstance(a, np.ndarray):
        raise DataError(f"{path}: expected one .npy array, found an archive")
    return _check_array(path, "array", a)


def load_npz(path, x_key: str | None = None, y_key: str | None = None):
    """Read ``((X_train, y_train), (X_test, y_test))`` from an ``.npz`` file.

    The test pair is ``(None, None)`` when the file has none; ``y_train`` is None when the
    file has only features.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable .npz archive ({e})") from None
    if not isinstance(arrays, dict) or not arrays:
        raise DataError(f"{path}: empty archive")
    lower = {k.lower(): k for k in arrays}

    def find(explicit, keys, required):
        if explicit is not None:
            if explicit not in arrays:
                raise DataError(f"{path}: no array named {explicit!r}; it has {', '.join(arrays)}")
            return arrays[explicit]
        for k in keys:
            if k in lower:
                return arrays[lower[k]]
        if required:
            raise DataError(f"{path}: no feature array found (looked for {', '.join(keys)}); "
                            f"it has {', '.join(arrays)}")
        return None

    X = _check_array(path, "x", find(x_key, _X_KEYS, True))
    y = find(y_key, _Y_KEYS, False)
    Xt, yt = find(None, _XT_KEYS, False), find(None, _YT_KEYS, False)
    for name, a, b in (("train", X, y), ("test", Xt, yt)):
        if a is not None and b is not None and len(a) != len(b):
            raise DataError(f"{path}: {name} features have {len(a)} samples but labels have {len(b)}")
    if (Xt is None) != (yt is None):
        raise DataError(f"{path}: has test {'features' if Xt is not None else 'labels'} without the other")
    return (X, y), (Xt, yt)
