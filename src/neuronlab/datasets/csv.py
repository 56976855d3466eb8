"""CSV tables: numeric feature columns and one label column, with or without a header.

Numbers are parsed by NumPy's C reader (fast for MNIST-sized files). On a bad cell the
file is scanned again in Python only to say exactly where: ``row`` is the line number in
the file (1 = first line, the header if there is one) and ``column`` counts from 1.
"""

from __future__ import annotations

import csv as _csv
import os
import warnings

import numpy as np

from ..core import DataError

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


# Longer than ~60 lines on purpose: the hardened reader's checks run in the order the bytes are
# read (size, encoding, header, rows, labels), each with its row number; one pass, one place.
def read_csv(path, label_column="auto", header="auto", delimiter: str | None = "auto",
             dtype=np.float32):
    """Read a CSV file into ``(X, y)``.

    Parameters
    ----------
    path : str or path
        The file: one sample per line, cells separated by ``,``, ``;``, tab or spaces.
    label_column : "auto", int, str or None
        The column holding the labels: an index (negative counts from the end), a header
        name, or None for a table of features only (then y is None). ``"auto"``: a header
        column named label/labels/target/class/y, else the only non-numeric column, else
        the first column (as in MNIST CSVs).
    header : "auto", bool
        ``"auto"``: the first line is a header when none of its cells is a number.
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
        Missing or empty file, a non-numeric or empty feature cell (naming row and column),
        rows of different lengths, or an unknown label column.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            first = f.readline()
            second = f.readline()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read as text ({e})") from None
    if not first.strip():
        raise DataError(f"{path}: empty file (or empty first line)")
    if delimiter == "auto":
        delimiter = _sniff_delimiter(first)
    cells = _split(first, delimiter, path, 1)
    has_header = (not any(_is_number(c) for c in cells)) if header == "auto" else bool(header)
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
    kw = dict(delimiter=delimiter, skiprows=skip, comments=None, encoding="utf-8-sig", ndmin=2)
    if delimiter is not None:
        kw["quotechar"] = '"'
    try:
        X = np.loadtxt(path, dtype=np.float64, usecols=feat_cols, **kw)
    except ValueError:  # (UnicodeDecodeError included)
        _locate_bad_cell(path, delimiter, skip, n_cols, set(feat_cols), names)
        raise DataError(f"{path}: cannot parse as a numeric table") from None
    if X.shape[0] == 0:
        raise DataError(f"{path}: no data rows")
    _check_row_lengths(path, delimiter, skip, n_cols, X.shape[0])
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):
        r, c = int(bad[0][0]), feat_cols[int(bad[0][1])]
        raise DataError(f"{path}: row {r + skip + 1}, column {c + 1}{_name(names, c)}: value is NaN or infinite")
    y = None
    if label is not None:
        try:
            with warnings.catch_warnings():  # NumPy's note on blank lines (skipped, as for X)
                warnings.filterwarnings("ignore", message="Input line", category=UserWarning)
                y = np.loadtxt(path, dtype=str, usecols=[label], **kw).reshape(-1)
        except ValueError:
            _locate_bad_cell(path, delimiter, skip, n_cols, set(feat_cols), names)
            raise DataError(f"{path}: cannot read the label column {label + 1}") from None
        if len(y) != len(X):
            raise DataError(f"{path}: {len(X)} rows of features but {len(y)} labels")
        y = _label_values(y)
    return X.astype(dtype), y


def _name(names, c) -> str:
    return f" ({names[c]!r})" if names is not None and c < len(names) else ""


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


def _lines(path):
    """(line number, line) of a UTF-8 text file; DataError at the first line that is not UTF-8."""
    lineno = 0
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            for lineno, line in enumerate(f, start=1):  # noqa: B007 (used after a decode error)
                yield lineno, line
    except UnicodeDecodeError:
        raise DataError(f"{path}: row {lineno + 1} is not UTF-8 text") from None


def _locate_bad_cell(path, delimiter, skip, n_cols, feat_cols, names):
    """Raise DataError naming the first non-numeric/empty cell or ragged row (slow path)."""
    for lineno, line in _lines(path):
        if lineno <= skip or not line.strip():  # (NumPy skips blank lines too)
            continue
        cells = _split(line, delimiter, path, lineno)
        if len(cells) != n_cols:
            raise DataError(f"{path}: row {lineno} has {len(cells)} cells, expected {n_cols}")
        for c, cell in enumerate(cells):
            if c in feat_cols and not _is_number(cell):
                what = "is empty" if not cell else f"{cell[:40]!r} is not a number"
                raise DataError(f"{path}: row {lineno}, column {c + 1}{_name(names, c)}: {what}")


def _check_row_lengths(path, delimiter, skip, n_cols, n_rows):
    # loadtxt with usecols tolerates extra cells (and missing ones it does not use); make sure
    # every row has exactly n_cols
    for lineno, line in _lines(path):
        if lineno <= skip or not line.strip():
            continue
        if delimiter is None:
            found = len(line.split())
        elif '"' in line:
            found = len(_split(line, delimiter, path, lineno))
        else:
            found = line.count(delimiter) + 1
        if found != n_cols:
            raise DataError(f"{path}: row {lineno} has {found} cells, expected {n_cols}")


def _label_values(y: np.ndarray) -> np.ndarray:
    y = np.char.strip(y)
    try:
        v = y.astype(np.float64)
    except ValueError:
        return y
    if np.all(np.isfinite(v)) and np.all(v == np.round(v)):
        return v.astype(np.int64)
    return v
