"""Data in the forms users have: DataFrames, labels of any kind, batch iterables, files larger than memory.

- :func:`as_features` turns a pandas DataFrame into its numeric array, or names the first
  non-numeric column and how to encode it.
- :func:`encode_labels` numbers class labels of any hashable type (strings, pandas
  categoricals, ...) 0..c-1 and keeps the original values, so ``predict_classes`` can return them.
- :class:`Loader` serves shuffled batches of ``.npy`` files or ``np.memmap`` arrays by index,
  reading only the rows of each batch (``os.pread`` into one reused buffer), so a dataset
  many times the size of memory trains with a few batches in RAM: the pages read go to the
  operating system's cache, not to the process. ``fit(loader)`` / ``evaluate(loader)``.
- Any iterable of ``(X, y)`` or ``(X, y, w)`` batches (a generator, a ``torch`` DataLoader)
  works in ``fit`` with ``steps_per_epoch`` batches per epoch (:class:`StreamBatches`).
"""

from __future__ import annotations

import os

import numpy as np

from .validation import Boolean, Integer, check

__all__ = ["Loader", "as_features", "encode_labels", "is_batch_stream"]


# -- DataFrames and labels --------------------------------------------------------------------
def _is_dataframe(X) -> bool:
    return hasattr(X, "dtypes") and hasattr(X, "columns") and hasattr(X, "to_numpy")


def as_features(X, where: str):
    """X as an array: a DataFrame's numeric columns as they are; a non-numeric column is refused by name."""
    if not _is_dataframe(X):
        return X
    for column, dtype in X.dtypes.items():
        if getattr(dtype, "kind", "O") not in "biuf":
            raise ValueError(
                f"{where}: column {column!r} of X is not numeric (dtype {dtype}); encode it first, e.g. "
                f"X = X.drop(columns=[{column!r}]).join(pandas.DataFrame(nl.datasets.one_hot("
                f"nl.data.encode_labels(X[{column!r}])[0]), index=X.index).add_prefix({str(column) + '_'!r})), "
                "or use scikit-learn's ColumnTransformer with a OneHotEncoder (docs/extending.md, 'Data in the forms "
                "you have')")
    return X.to_numpy()


def _categories(y):
    """The categories of a pandas categorical (Series or Categorical), else None."""
    cat = getattr(y, "cat", None)
    if cat is not None and hasattr(cat, "categories"):
        return list(cat.categories)
    if hasattr(y, "categories") and hasattr(y, "codes"):
        return list(y.categories)
    return None


def needs_encoding(y) -> bool:
    """True for labels that are not numbers: strings, objects, pandas categoricals."""
    if _categories(y) is not None:
        return True
    kind = getattr(getattr(y, "dtype", None), "kind", None)
    if kind is None:
        kind = np.asarray(y).dtype.kind
    return kind in "OUSMm"


def encode_labels(y, classes=None, where: str = "fit") -> tuple[np.ndarray, list]:
    """Labels of any hashable type → (codes 0..c-1, classes), ``classes[code]`` the original label.

    New classes come from a pandas categorical's categories (their order) or the sorted
    distinct labels. With ``classes`` given, labels are coded by position in it; a label not
    among them raises ValueError naming it.
    """
    learned = _categories(y) if classes is None else None
    values = np.asarray(y, dtype=object).reshape(-1)
    if classes is None:
        if learned is None:
            try:
                learned = sorted(set(values.tolist()))
            except TypeError:  # labels of mixed, unorderable types: order of first appearance
                learned = list(dict.fromkeys(values.tolist()))
        classes = learned
    lookup = {c: i for i, c in enumerate(classes)}
    try:
        codes = np.fromiter((lookup[v] for v in values.tolist()), dtype=np.intp, count=len(values))
    except KeyError as e:
        raise ValueError(f"{where}: label {e.args[0]!r} of y is not one of the model's classes "
                         f"({', '.join(map(repr, classes[:10]))}{', ...' if len(classes) > 10 else ''})") from None
    except TypeError as e:
        raise ValueError(f"{where}: labels of y must be hashable ({e})") from None
    return codes.reshape(np.shape(values)), list(classes)


# -- streams of batches --------------------------------------------------------------------------
def is_batch_stream(X) -> bool:
    """True for what ``fit`` treats as batches: a Loader, a generator/iterator, or an iterable that is
    neither an array, a list/tuple of numbers nor a DataFrame."""
    if isinstance(X, Loader):
        return True
    if isinstance(X, (np.ndarray, list, tuple, str, bytes, dict)) or _is_dataframe(X):
        return False
    if hasattr(X, "__array__") or hasattr(X, "__array_interface__"):
        return False
    return hasattr(X, "__iter__") or hasattr(X, "__next__")


def _split(batch, where):
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        size = f" of length {len(batch)}" if hasattr(batch, "__len__") else ""
        raise ValueError(f"{where}: each batch must be a tuple (X, y) or (X, y, sample_weight), "
                         f"got {type(batch).__name__}{size}")
    return batch[0], batch[1], batch[2] if len(batch) == 3 else None


class StreamBatches:
    """The batches of one epoch from an iterable: ``steps`` of them (all of a finite one when None).

    A re-iterable source (a :class:`Loader`, a list) starts over each epoch; a one-shot
    iterator (a generator) continues where the last epoch stopped, so it must yield at least
    ``steps × epochs`` batches (an infinite generator does).
    """

    def __init__(self, source, steps, where="fit", arg="steps_per_epoch", once=False):
        self.source, self.where, self.arg = source, where, arg
        self.steps = check(where, arg, steps, Integer(low=1), None)
        self.one_shot = iter(source) is source
        if self.steps is None and self.one_shot and not once:
            raise ValueError(f"{where}: {arg} is required when the data is a generator or iterator "
                             "(it cannot be rewound); give the number of batches per epoch")
        self.count = self.steps if self.steps is not None else _length(source)
        self._it = None

    def epoch(self):
        it = self._it if self.one_shot and self._it is not None else iter(self.source)
        self._it = it
        b = 0
        while self.steps is None or b < self.steps:
            try:
                batch = next(it)
            except StopIteration:
                if self.steps is not None and b < self.steps:
                    raise ValueError(f"{self.where}: the batch iterable ran out after {b} batches of this epoch "
                                     f"({self.arg}={self.steps}); give a smaller {self.arg} or an "
                                     "iterable that starts over (a Loader, or a generator that loops)") from None
                return
            yield _split(batch, self.where)
            b += 1


def _length(source):
    try:
        return len(source)
    except TypeError:
        return None


# -- a loader over files larger than memory -------------------------------------------------------
class _RowFile:
    """Rows of a C-ordered array stored in a file (``.npy`` or a memmap), read with ``os.pread``."""

    def __init__(self, array_or_path, where):
        if isinstance(array_or_path, (str, os.PathLike)):
            path = os.fspath(array_or_path)
            try:
                with open(path, "rb") as f:
                    version = np.lib.format.read_magic(f)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, fortran, dtype = read_header(f)
                    offset = f.tell()
            except OSError as e:
                raise ValueError(f"{where}: cannot read {path!r}: {e.strerror or e}") from None
            except ValueError as e:  # not a .npy file, or a header NumPy refuses
                raise ValueError(f"{where}: {path!r} is not a readable .npy file ({e})") from None
            if fortran:
                raise ValueError(f"{where}: {path} is stored in Fortran order; save it C-ordered")
        elif isinstance(array_or_path, np.memmap) and array_or_path.filename and array_or_path.flags.c_contiguous:
            arr = array_or_path
            path, shape, dtype = arr.filename, arr.shape, arr.dtype
            offset = arr.offset + _view_offset(arr)
        else:
            raise TypeError(f"{where}: expected a path to a .npy file or a C-contiguous np.memmap, "
                            f"got {type(array_or_path).__name__}")
        if dtype.hasobject or len(shape) < 1:
            raise ValueError(f"{where}: {path} must hold a numeric array of shape (n, ...), got {dtype} {shape}")
        self.path, self.shape, self.dtype, self.offset = path, tuple(shape), np.dtype(dtype), offset
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._fd = None
        self._row_views: dict[int, tuple] = {}

    def __len__(self):
        return self.shape[0]

    def take(self, idx, out):
        """out[j] = row idx[j]: one ``pread`` for a run of consecutive rows, else one per row."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        rb, n = self.row_bytes, len(idx)
        flat = memoryview(out.reshape(-1).view(np.uint8))  # out is a C-contiguous buffer of ours
        if n and int(idx[-1]) - int(idx[0]) == n - 1 and (n == 1 or bool((np.diff(idx) == 1).all())):
            self._read(flat, int(idx[0]), n)
            return out
        rows = self._row_views.get(id(out))
        if rows is None or rows[0] is not out:  # the per-row slices of this buffer, made once
            rows = self._row_views[id(out)] = (out, [flat[j * rb:(j + 1) * rb] for j in range(n)])
        pread, fd, offsets = os.preadv, self._fd, (np.asarray(idx, dtype=np.int64) * rb + self.offset).tolist()
        for view, offset in zip(rows[1], offsets):  # the hot loop: ~2.5 µs a row
            if pread(fd, [view], offset) != rb:
                raise ValueError(f"{self.path}: the file is shorter than its header says")
        return out

    def _read(self, flat, first, count):
        if os.preadv(self._fd, [flat[:count * self.row_bytes]], self.offset + first * self.row_bytes) \
                != count * self.row_bytes:
            raise ValueError(f"{self.path}: the file is shorter than its header says (rows from {first})")

    def close(self):
        if getattr(self, "_fd", None) is not None:  # (None too when __init__ refused the file)
            os.close(self._fd)
            self._fd = None

    def __getstate__(self):
        return {**self.__dict__, "_fd": None, "_row_views": {}}

    def __del__(self):
        self.close()


def _view_offset(arr) -> int:
    """Bytes between the start of a memmap's mapping and the view's first element."""
    base = arr
    while isinstance(base.base, np.memmap):
        base = base.base
    return int(arr.__array_interface__["data"][0] - base.__array_interface__["data"][0]) if base is not arr else 0


def _source(a, where, name):
    if a is None:
        return None
    if isinstance(a, (str, os.PathLike)) or isinstance(a, np.memmap):
        return _RowFile(a, f"{where}: {name}")
    return np.asarray(a)


class Loader:
    """Batches of (X, y[, w]) drawn by index from arrays, ``np.memmap`` arrays or ``.npy`` paths.

    Only the rows of the current batch are read (for files: ``os.pread`` into a reused buffer,
    so the process never maps the file and its resident memory stays a few batches), in the
    order of a fresh permutation each epoch (``shuffle=True``, from ``seed``) or in file order.
    Iterating gives one epoch; ``fit(loader, epochs=...)`` iterates it once per epoch.

    Parameters
    ----------
    X, y : array, np.memmap or path of a ``.npy`` file
        Features (n, ...) and targets (n, ...), paired row by row.
    sample_weight : array, memmap or path, optional
        Per-sample loss weights (n,).
    batch_size : int
        Rows per batch (the last batch may be smaller).
    shuffle : bool
        A new order every epoch.
    seed : int, optional
        Seeds the loader's own generator (the shuffling order).

    Examples
    --------
    >>> import neuronlab as nl
    >>> loader = nl.data.Loader("X.npy", "y.npy", batch_size=256, seed=0)   # doctest: +SKIP
    >>> model.fit(loader, epochs=3)                                          # doctest: +SKIP
    """

    def __init__(self, X, y, sample_weight=None, batch_size: int = 32, shuffle: bool = True, seed: int | None = None):
        self.batch_size = check("Loader", "batch_size", batch_size, Integer(low=1))
        self.shuffle = check("Loader", "shuffle", shuffle, Boolean())
        self.seed = check("Loader", "seed", seed, Integer(low=0), None)
        self.rng = np.random.default_rng(seed)
        self.sources = [_source(X, "Loader", "X"), _source(y, "Loader", "y"),
                        _source(sample_weight, "Loader", "sample_weight")]
        n = len(self.sources[0])
        for name, src in zip(("y", "sample_weight"), self.sources[1:]):
            if src is not None and len(src) != n:
                raise ValueError(f"Loader: X has {n} rows but {name} has {len(src)}")
        if n == 0:
            raise ValueError("Loader: X has no rows")
        self.n = n
        self._bufs: dict[tuple, np.ndarray] = {}

    def __len__(self):
        return -(-self.n // self.batch_size)

    def _take(self, k, src, idx):
        if src is None:
            return None
        if isinstance(src, np.ndarray):
            return src[idx]
        buf = self._bufs.get((k, len(idx)))
        if buf is None:  # one buffer per source and batch size, rewritten every batch
            buf = self._bufs[k, len(idx)] = np.empty((len(idx), *src.shape[1:]), dtype=src.dtype)
        src.take(idx, buf)
        return buf if k == 0 else buf.copy()  # X is reused (copy a batch to keep it); y and w are small

    def __iter__(self):
        order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        for lo in range(0, self.n, self.batch_size):
            idx = order[lo:lo + self.batch_size]
            X, y, w = (self._take(k, src, idx) for k, src in enumerate(self.sources))
            yield (X, y) if w is None else (X, y, w)

    def __repr__(self):
        return f"Loader(n={self.n}, batch_size={self.batch_size}, shuffle={self.shuffle}, seed={self.seed})"
