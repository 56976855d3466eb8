"""How much a data file may make neuronlab allocate: the decompression limit and bounded reads.

A compressed file (``.gz``, ``.bz2``, ``.xz``, an ``.npz`` member) may inflate to at most
``ALLOWANCE + MAX_RATIO * its size`` bytes, and it is read in chunks so that memory follows the
bytes that really arrive and stops one chunk past the limit (a decompression bomb never
inflates further). Real data compresses far less than 100:1 (MNIST: 5:1).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zlib

from ..core import DataError

__all__ = ["MAX_RATIO", "ALLOWANCE", "decompressed_limit", "read_at_most", "compression", "read_decompressed"]

MAX_RATIO = 100
ALLOWANCE = 64 << 20
CHUNK = 1 << 20
XZ_MEMLIMIT = 128 << 20  # the xz decoder's own memory (xz -9 needs 65 MiB)
_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz"}
_OPEN = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}


def decompressed_limit(compressed_bytes: int) -> int:
    """The most bytes a compressed input of ``compressed_bytes`` may inflate to."""
    return ALLOWANCE + MAX_RATIO * int(compressed_bytes)


def read_at_most(f, nbytes: int) -> bytearray:
    """Up to ``nbytes`` from ``f``, in chunks: memory follows the bytes that really arrive."""
    data = bytearray()
    while len(data) < nbytes:
        chunk = f.read(min(CHUNK, nbytes - len(data)))
        if not chunk:
            break
        data += chunk
    return data


def compression(path) -> str | None:
    """``"gzip"``, ``"bz2"``, ``"xz"`` from the file's first bytes, or None."""
    with open(path, "rb") as f:
        head = f.read(6)
    return next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)


def read_decompressed(path, kind: str, limit: int | None = None) -> bytearray:
    """The whole decompressed content of ``path``; DataError once it passes ``limit`` bytes
    (default :func:`decompressed_limit` of the file size)."""
    limit = decompressed_limit(os.path.getsize(path)) if limit is None else limit
    try:
        if kind == "xz":
            data = _read_xz(path, limit + 1)
        else:
            with _OPEN[kind](path, "rb") as f:
                data = read_at_most(f, limit + 1)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as e:
        raise DataError(f"{path}: cannot decompress ({kind}: {e})") from None
    if len(data) > limit:
        raise DataError(f"{path}: decompresses to more than {limit:,} bytes (the limit for a "
                        f"{os.path.getsize(path):,}-byte file: {MAX_RATIO}x its size + {ALLOWANCE / 2**20:g} MiB)")
    return data


def _read_xz(path, nbytes: int) -> bytearray:
    """Up to ``nbytes`` of an xz file's content. An xz header chooses its decoder's dictionary (up to
    1.5 GiB), so the decoder gets a memory limit (XZ_MEMLIMIT: every preset of the xz tool fits)."""
    data = bytearray()
    dec = lzma.LZMADecompressor(lzma.FORMAT_AUTO, memlimit=XZ_MEMLIMIT)
    with open(path, "rb") as f:
        pending = b""
        while len(data) < nbytes:
            if dec.eof:  # concatenated streams: start again on what follows
                pending = dec.unused_data + pending
                if not pending.strip(b"\0"):
                    pending = f.read(CHUNK)
                    if not pending:
                        break
                    continue
                dec = lzma.LZMADecompressor(lzma.FORMAT_AUTO, memlimit=XZ_MEMLIMIT)
            if dec.needs_input and not pending:
                pending = f.read(CHUNK)
                if not pending:
                    raise EOFError("compressed file ended before the end-of-stream marker")
            data += dec.decompress(pending, max_length=min(CHUNK, nbytes - len(data)))
            pending = b""
    return data


def binary_source(path):
    """A binary stream of the file's content, decompressed (within the limit) when it is compressed."""
    kind = compression(path)
    if kind is None:
        return open(path, "rb")
    return io.BytesIO(read_decompressed(path, kind))
