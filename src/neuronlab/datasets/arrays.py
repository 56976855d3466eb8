"""NumPy array files: ``.npy`` (one array) and ``.npz`` (named arrays), never unpickled.

An ``.npz`` dataset holds ``x_train``/``y_train`` and optionally ``x_test``/``y_test``
(Keras' ``mnist.npz`` layout), or just ``X``/``y``. Key names are matched without regard
to case, and common aliases are accepted (``images``/``labels``, ``data``/``target``, ...).
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib

import numpy as np

from ..core import DataError
from .limits import ALLOWANCE, MAX_RATIO, decompressed_limit, read_at_most

__all__ = ["load_npy", "load_npz"]

_X_KEYS = ("x_train", "train_x", "train_images", "x", "data", "images", "features", "inputs")
_Y_KEYS = ("y_train", "train_y", "train_labels", "y", "labels", "target", "targets")
_XT_KEYS = ("x_test", "test_x", "test_images")
_YT_KEYS = ("y_test", "test_y", "test_labels")


def _check_array(path, key, a):
    if a.dtype.kind not in "biuf" and not (a.dtype.kind == "U" and key.startswith("y")):
        raise DataError(f"{path}: array {key!r} has dtype {a.dtype}, expected numbers")
    return a


def _read_npy(f, available: int, where: str) -> np.ndarray:
    """One ``.npy`` array from the binary stream ``f`` holding ``available`` bytes.

    The header's shape and dtype are checked against the bytes really there before anything of
    that size is allocated; object dtypes (which need pickle) are refused.
    """
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as e:
        raise DataError(f"{where}: not a readable .npy array ({e})") from None
    if dtype.hasobject:
        raise DataError(f"{where}: holds Python objects (they need pickle, which is never used)")
    count = 1
    for d in shape:
        count *= d
    nbytes = count * dtype.itemsize
    if nbytes != available - f.tell():
        raise DataError(f"{where}: the header declares shape {shape} ({nbytes:,} bytes) but "
                        f"{available - f.tell():,} data bytes follow")
    data = read_at_most(f, nbytes)
    if len(data) != nbytes:
        raise DataError(f"{where}: truncated ({len(data):,} of {nbytes:,} data bytes)")
    a = np.frombuffer(data, dtype=dtype, count=count)
    return a.reshape(shape[::-1]).T if fortran else a.reshape(shape)


def load_npy(path) -> np.ndarray:
    """One array from a ``.npy`` file (never unpickled: object arrays are refused)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            if f.read(4) == b"PK\x03\x04":
                raise DataError(f"{path}: expected one .npy array, found an archive")
            f.seek(0)
            a = _read_npy(f, os.fstat(f.fileno()).st_size, path)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    return _check_array(path, "array", a)


def _npz_members(path) -> dict[str, np.ndarray]:
    """Every ``.npy`` member of the archive; the sizes its directory declares are checked
    first (against the decompression limit), and each member is read with that limit."""
    limit = decompressed_limit(os.path.getsize(path))
    arrays = {}
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            total = sum(i.file_size for i in infos)
            if total > limit:
                raise DataError(f"{path}: its members declare {total:,} bytes uncompressed, more than this "
                                f"{os.path.getsize(path):,}-byte file may hold ({MAX_RATIO}x its size + "
                                f"{ALLOWANCE >> 20} MiB)")
            for info in infos:
                if info.is_dir():
                    continue
                if not info.filename.endswith(".npy"):
                    raise DataError(f"{path}: member {info.filename[:80]!r} is not a .npy array")
                key = info.filename[:-4]
                if key in arrays:
                    raise DataError(f"{path}: member {info.filename[:80]!r} appears twice")
                with z.open(info) as f:  # (zipfile stops at the declared size and checks the CRC)
                    data = read_at_most(f, info.file_size + 1)
                arrays[key] = _read_npy(io.BytesIO(data), len(data), f"{path}: member {info.filename[:80]!r}")
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
            ValueError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: not a readable .npz archive ({e})") from None
    return arrays


def load_npz(path, x_key: str | None = None, y_key: str | None = None):
    """Read ``((X_train, y_train), (X_test, y_test))`` from an ``.npz`` file.

    The test pair is ``(None, None)`` when the file has none; ``y_train`` is None when the
    file has only features. Every array must have samples (at least one axis), labels one axis.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    arrays = _npz_members(path)
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
    for key, a, ndim in (("features", X, None), ("labels", y, 1), ("test features", Xt, None), ("test labels", yt, 1)):
        if a is not None and (a.ndim == 0 or (ndim is not None and a.ndim != ndim)):
            raise DataError(f"{path}: the {key} array has shape {a.shape}; expected "
                            f"{'one axis' if ndim else 'one sample per row'}")
        if a is not None:
            _check_array(path, "y" if "labels" in key else "x", a)
    for name, a, b in (("train", X, y), ("test", Xt, yt)):
        if a is not None and b is not None and len(a) != len(b):
            raise DataError(f"{path}: {name} features have {len(a)} samples but labels have {len(b)}")
    if (Xt is None) != (yt is None):
        raise DataError(f"{path}: has test {'features' if Xt is not None else 'labels'} without the other")
    return (X, y), (Xt, yt)
