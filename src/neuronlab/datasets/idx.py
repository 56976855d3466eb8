"""The IDX file format of MNIST, Fashion-MNIST and EMNIST, gzipped or not.

Layout: 2 zero bytes, a type byte, the number of dimensions d, then d big-endian uint32
sizes, then the values in C order, big-endian. The reader checks every field and reads
exactly the declared number of bytes, in chunks, so a truncated file or a gzip bomb is
caught with memory bounded by the data actually present (never by a declared size).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from ..core import DataError
from .limits import ALLOWANCE, MAX_RATIO, decompressed_limit, read_at_most

__all__ = ["read_idx", "write_idx"]

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder(">").str: k for k, v in _TYPES.items()}
MAX_BYTES = 2**33  # 8 GiB: larger declared sizes are treated as corrupt


def _is_gzip(path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def read_idx(path, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into an array of its declared shape.

    Raises
    ------
    DataError
        Missing file, not gzip where it says .gz, bad magic number, unknown type code,
        declared size over ``max_bytes``, truncated data or trailing bytes.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    opener = gzip.open if _is_gzip(path) else open
    if path.endswith(".gz") and opener is open:
        raise DataError(f"{path}: named .gz but is not a gzip file")
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0:
                raise DataError(f"{path}: not an IDX file (magic number {head.hex() or 'missing'})")
            code, ndim = head[2], head[3]
            if code not in _TYPES:
                raise DataError(f"{path}: unknown IDX type code 0x{code:02x}")
            if not 1 <= ndim <= 32:  # (NumPy 1.x arrays have at most 32 axes)
                raise DataError(f"{path}: IDX file declares {ndim} dimensions (1 to 32 supported)")
            dims_raw = f.read(4 * ndim)
            if len(dims_raw) < 4 * ndim:
                raise DataError(f"{path}: truncated IDX header")
            shape = struct.unpack(f">{ndim}I", dims_raw)
            dtype = np.dtype(_TYPES[code])
            nbytes = span = dtype.itemsize
            for d in shape:
                nbytes *= d
                span *= max(d, 1)  # (NumPy refuses such shapes even with a 0 among them)
            if max(nbytes, span) > max_bytes:
                raise DataError(f"{path}: declared shape {shape} needs {nbytes} bytes (limit {max_bytes})")
            if opener is not open and nbytes > decompressed_limit(os.path.getsize(path)):
                raise DataError(f"{path}: declared shape {shape} needs {nbytes:,} bytes, more than this "
                                f"{os.path.getsize(path):,}-byte gzip file may decompress to "
                                f"({MAX_RATIO}x its size + {ALLOWANCE >> 20} MiB)")
            if opener is open:  # uncompressed: the file size must be exactly header + data
                found = os.fstat(f.fileno()).st_size - 4 - 4 * ndim
                if found < nbytes:
                    raise DataError(f"{path}: truncated: shape {shape} needs {nbytes} data bytes, found {found}")
            data = read_at_most(f, nbytes)  # memory follows the bytes that arrive, not the header
            if len(data) < nbytes:
                raise DataError(f"{path}: truncated: shape {shape} needs {nbytes} data bytes, found {len(data)}")
            if f.read(1):  # a gzip bomb stops here: nothing past the declared size is decompressed
                raise DataError(f"{path}: trailing bytes after the {nbytes} data bytes of shape {shape}")
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    X = np.frombuffer(data, dtype=dtype).reshape(shape)  # writable: data is a bytearray
    if dtype.byteorder == ">":
        X = X.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return X


def write_idx(path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (gzip when ``compress`` or when path ends in .gz)."""
    array = np.asarray(array)
    big = array.dtype.newbyteorder(">").str
    if big not in _CODES:
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX type code")
    header = bytes([0, 0, _CODES[big], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(big).tobytes()
    compress = path.endswith(".gz") if compress is None else compress
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(payload)
