"""CSV tables: numeric feature columns and one label column, with or without a header.

Numbers are parsed by NumPy's C reader (fast for MNIST-sized files). On a bad cell the
file is scanned again in Python only to say exactly where: ``row`` is the line number in
the file (1 = first line, the header if there is one) and ``column`` counts from 1.
``.gz``, ``.bz2`` and ``.xz`` files are decompressed (within the limit of
:mod:`neuronlab.datasets.limits`) and read the same way.
"""

from __future__ import annotations

import csv as _csv
import io
import os
import re
import warnings

import numpy as np

from ..core import DataError
from ..text import printable
from .limits import compression, read_decompressed

__all__ = ["read_csv", "LABEL_NAMES"]

LABEL_NAMES = ("label", "labels", "target", "class", "y")


def _is_number(cell: str) -> bool:
    if not cell.isascii() or "_" in cell:  # what Python's float() takes beyond NumPy's parser
        return False
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _sniff_delimiter(line: str) -> str | None:
    for d in (",", ";", "\t"):
        if d in line:
            return d
    return None  # whitespace


def _split(line: str, delimiter: str | None, path="", lineno=0) -> list[str]:
    if delimiter is None:
        return line.split()
    try:
        return [c.strip() for c in next(_csv.reader([line], delimiter=delimiter), [])]
    except _csv.Error as e:
        raise DataError(f"{path}: row {lineno}: {e}") from None


class _Source:
    """The file's bytes, decompressed once (within the limit) when it is ``.gz``/``.bz2``/``.xz``,
    read again as often as needed: as lines numbered exactly, or as a text stream for NumPy."""

    def __init__(self, path):
        self.path = path
        kind = compression(path)
        self.data = None if kind is None else read_decompressed(path, kind)

    def binary(self):
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")

    def text(self):
        return io.TextIOWrapper(self.binary(), encoding="utf-8-sig", newline="")

    def lines(self):
        """(line number, line) with line breaks as Python's text files see them (\\n, \\r\\n, \\r);
        DataError naming the first line that is not UTF-8."""
        lineno = 0
        with self.binary() as f:
            for raw in f:
                if lineno == 0 and raw.startswith(_BOM):
                    raw = raw[len(_BOM):]
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    row = lineno + 1 + len(re.findall(rb"\r(?!\n)", raw[:e.start]))  # (lines a lone \r ended)
                    raise DataError(f"{self.path}: row {row} is not UTF-8 text (byte {raw[e.start]:#04x})") from None
                for part in _LONE_CR.split(text):
                    if part:
                        lineno += 1
                        yield lineno, part

    def first_lines(self, n):
        out = []
        for _, line in self.lines():
            out.append(line)
            if len(out) == n:
                break
        return out


_BOM = b"\xef\xbb\xbf"
_LONE_CR = re.compile(r"(?<=\r)(?!\n)")  # split after a \r that no \n follows (kept on its line)
_HEADER_SCAN = 1000  # rows looked at when the first row's text could be data


# Longer than ~60 lines on purpose: the hardened reader's checks run in the order the bytes are
# read (size, encoding, header, rows, labels), each with its row number; one pass, one place.
def read_csv(path, label_column="auto", header="auto", delimiter: str | None = "auto",
             dtype=np.float32):
    """Read a CSV file (plain, or ``.gz``/``.bz2``/``.xz`` compressed) into ``(X, y)``.

    Parameters
    ----------
    path : str or path
        The file: one sample per line, cells separated by ``,``, ``;``, tab or spaces.
        Compressed files are recognised by their first bytes and may inflate to at most
        100x their size + 64 MiB.
    label_column : "auto", int, str or None
        The column holding the labels: an index (negative counts from the end), a header
        name, or None for a table of features only (then y is None). ``"auto"``: a header
        column named label/labels/target/class/y, else the only non-numeric column, else
        the first column (as in MNIST CSVs).
    header : "auto", bool
        True: the first line is a header; False: it is data. ``"auto"``: no header when
        every cell of the first line is a number; a header when one of its cells is a label
        name (label, target, ...) or is text above a number in the second line; data when each
        of its text cells appears again in its column below (a repeated class name); otherwise
        DataError asking for ``header=True`` or ``False`` (``--header/--no-header``): a header
        never silently becomes a row of data.
    delimiter : "auto", str or None
        None splits on whitespace.

    Returns
    -------
    X : ndarray (n, d) of ``dtype``
    y : ndarray (n,) or None
        Numbers (float64, whole-number labels as int64) or strings when the column has names.

    Raises
    ------
    DataError
        Missing or empty file, a non-numeric or empty feature cell, a value that is NaN,
        infinite or overflows ``dtype``, a line that is not UTF-8 (each naming its row and
        column), rows of different lengths, an unknown label column, an ambiguous header, or a
        compressed file past the decompression limit.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    if header not in ("auto", True, False):
        raise DataError(f"{path}: header must be 'auto', True or False, got {header!r}")
    try:
        source = _Source(path)
        first, second = (source.first_lines(2) + ["", ""])[:2]
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if not first.strip():
        raise DataError(f"{path}: empty file (or empty first line)")
    if delimiter == "auto":
        delimiter = _sniff_delimiter(first)
    cells = _split(first, delimiter, path, 1)
    has_header = _has_header(source, cells, delimiter) if header == "auto" else header
    names = cells if has_header else None
    if has_header and not second.strip():
        raise DataError(f"{path}: has a header but no data rows")
    n_cols = len(cells)
    data_cells = _split(second, delimiter, path, 2) if has_header else cells

    label = _resolve_label(path, label_column, names, data_cells, n_cols)
    feat_cols = [c for c in range(n_cols) if c != label]
    if not feat_cols:
        raise DataError(f"{path}: no feature columns besides the label column")
    skip = 1 if has_header else 0
    kw = dict(delimiter=delimiter, skiprows=skip, comments=None, ndmin=2)
    if delimiter is not None:
        kw["quotechar"] = '"'
    try:
        with source.text() as f:
            X = np.loadtxt(f, dtype=np.float64, usecols=feat_cols, **kw)
    except ValueError:  # (UnicodeDecodeError included)
        _locate_bad_cell(source, delimiter, skip, n_cols, set(feat_cols), names)
        raise DataError(f"{path}: cannot parse as a numeric table") from None
    if X.shape[0] == 0:
        raise DataError(f"{path}: no data rows")
    _check_row_lengths(source, delimiter, skip, n_cols)
    _check_finite(source, X, skip, feat_cols, names, "value is NaN or infinite")
    with np.errstate(over="ignore"):  # (an overflow is reported just below, with its place)
        out = X.astype(dtype)
    if out.dtype.kind == "f":  # 1e39 is finite in float64 and inf in float32
        _check_finite(source, out, skip, feat_cols, names, f"value overflows {out.dtype} (beyond "
                      f"±{np.finfo(out.dtype).max:.4g})", original=X)
    y = None
    if label is not None:
        try:
            with warnings.catch_warnings(), source.text() as f:  # NumPy's note on blank lines (skipped, as for X)
                warnings.filterwarnings("ignore", message="Input line", category=UserWarning)
                y = np.loadtxt(f, dtype=str, usecols=[label], **kw).reshape(-1)
        except ValueError:
            _locate_bad_cell(source, delimiter, skip, n_cols, set(feat_cols), names)
            raise DataError(f"{path}: cannot read the label column {label + 1}") from None
        if len(y) != len(X):
            raise DataError(f"{path}: {len(X)} rows of features but {len(y)} labels")
        y = _label_values(y)
    return out, y


def _has_header(source, cells, delimiter) -> bool:
    """The documented ``header="auto"`` rule (see :func:`read_csv`)."""
    text = [i for i, c in enumerate(cells) if not _is_number(c)]
    if not text:
        return False
    if any(cells[i].strip().lower() in LABEL_NAMES for i in text):
        return True
    rows = []
    for lineno, line in source.lines():
        if lineno == 1 or not line.strip():
            continue
        rows.append(_split(line, delimiter, source.path, lineno))
        if len(rows) >= _HEADER_SCAN:
            break
    if not rows:
        return True
    if any(i < len(rows[0]) and _is_number(rows[0][i]) for i in text):
        return True  # text above a number: a column name
    if all(any(i < len(r) and r[i] == cells[i] for r in rows) for i in text):
        return False  # every text cell is a value its column repeats (a class name)
    raise DataError(f"{source.path}: cannot tell whether row 1 ({printable(', '.join(cells), 80)}) is a header "
                    f"or data: say which with header=True/False (--header/--no-header)")


def _check_finite(source, A, skip, feat_cols, names, what, original=None):
    bad = np.argwhere(~np.isfinite(A) if original is None else ~np.isfinite(A) & np.isfinite(original))
    if len(bad):
        r, c = int(bad[0][0]), feat_cols[int(bad[0][1])]
        raise DataError(f"{source.path}: row {_line_of_row(source, skip, r)}, column {c + 1}{_name(names, c)}: "
                        f"{what}")


def _line_of_row(source, skip, r) -> int:
    """The line number of data row ``r`` (blank lines are skipped, as NumPy does)."""
    seen = -1
    for lineno, line in source.lines():
        if lineno > skip and line.strip():
            seen += 1
            if seen == r:
                return lineno
    return r + skip + 1


def _name(names, c) -> str:
    return f" ({printable(names[c], 80)!r})" if names is not None and c < len(names) else ""


def _resolve_label(path, label_column, names, data_cells, n_cols):
    if label_column is None:
        return None
    if label_column == "auto":
        if names is not None:
            for i, name in enumerate(names):
                if name.strip().lower() in LABEL_NAMES:
                    return i
        text = [i for i, c in enumerate(data_cells) if not _is_number(c)]
        return text[0] if len(text) == 1 else 0
    if isinstance(label_column, str) and not label_column.lstrip("-").isdigit():
        if names is None or label_column not in names:
            have = f"; the header has: {', '.join(names)}" if names else " (the file has no header)"
            raise DataError(f"{path}: no column named {label_column!r}{have}")
        return names.index(label_column)
    i = int(label_column)
    if not -n_cols <= i < n_cols:
        raise DataError(f"{path}: label column {i} is out of range for {n_cols} columns")
    return i % n_cols


def _locate_bad_cell(source, delimiter, skip, n_cols, feat_cols, names):
    """Raise DataError naming the first non-numeric/empty cell, ragged row or non-UTF-8 line (slow path)."""
    for lineno, line in source.lines():
        if lineno <= skip or not line.strip():  # (NumPy skips blank lines too)
            continue
        cells = _split(line, delimiter, source.path, lineno)
        if len(cells) != n_cols:
            raise DataError(f"{source.path}: row {lineno} has {len(cells)} cells, expected {n_cols}")
        for c, cell in enumerate(cells):
            if c in feat_cols and not _is_number(cell):
                what = "is empty" if not cell else f"{printable(cell, 40)!r} is not a number"
                raise DataError(f"{source.path}: row {lineno}, column {c + 1}{_name(names, c)}: {what}")


def _check_row_lengths(source, delimiter, skip, n_cols):
    # loadtxt with usecols tolerates extra cells (and missing ones it does not use); make sure
    # every row has exactly n_cols
    for lineno, line in source.lines():
        if lineno <= skip or not line.strip():
            continue
        if delimiter is None:
            found = len(line.split())
        elif '"' in line:
            found = len(_split(line, delimiter, source.path, lineno))
        else:
            found = line.count(delimiter) + 1
        if found != n_cols:
            raise DataError(f"{source.path}: row {lineno} has {found} cells, expected {n_cols}")


def _label_values(y: np.ndarray) -> np.ndarray:
    y = np.char.strip(y)
    try:
        v = y.astype(np.float64)
    except ValueError:
        return y
    if np.all(np.isfinite(v)) and np.all(v == np.round(v)):
        return v.astype(np.int64)
    return v
