"""One entry point for the data a command names: ``load_data("mnist" | PATH)``.

PATH may be a folder of IDX files named as MNIST's (``train-images-idx3-ubyte[.gz]``,
``t10k-labels-idx1-ubyte[.gz]``, ...: Fashion-MNIST, EMNIST and KMNIST come this way), a
CSV file (``.csv``, ``.tsv``, ``.txt``, each also ``.gz``/``.bz2``/``.xz``), or an ``.npz``
archive. Sources without a test split get a stratified one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np

from ..core import DataError
from .arrays import load_npz
from .csv import read_csv
from .idx import read_idx
from .preprocessing import encode_labels, train_val_split

__all__ = ["Dataset", "load_data", "load_idx_folder", "find_idx_files", "read_source"]


@dataclass
class Dataset:
    """Raw arrays (not yet scaled) with integer labels 0..k-1 and the class names."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    name: str
    test_source: str = "test set"
    notes: list[str] = field(default_factory=list)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.X_train.shape[1:])


_IDX_PATTERNS = {
    "train_images": re.compile(r"train[-_.]?images?[-_.]idx3[-_.]ubyte(\.gz)?$"),
    "train_labels": re.compile(r"train[-_.]?labels?[-_.]idx1[-_.]ubyte(\.gz)?$"),
    "test_images": re.compile(r"(t10k|test)[-_.]?images?[-_.]idx3[-_.]ubyte(\.gz)?$"),
    "test_labels": re.compile(r"(t10k|test)[-_.]?labels?[-_.]idx1[-_.]ubyte(\.gz)?$"),
}


def find_idx_files(folder) -> dict[str, str | None]:
    """Paths of the train/test image/label IDX files in ``folder`` (None where absent)."""
    folder = os.fspath(folder)
    names = sorted(os.listdir(folder))
    found: dict[str, str | None] = {}
    for role, pat in _IDX_PATTERNS.items():
        hits = [n for n in names if pat.search(n.lower()) and os.path.isfile(os.path.join(folder, n))]
        # an uncompressed copy next to its .gz is the same file: prefer the uncompressed one
        stems = {h[:-3] if h.endswith(".gz") else h for h in hits}
        if len(stems) > 1:
            raise DataError(f"{folder}: several files match {role.replace('_', ' ')}: {', '.join(hits)}")
        hits.sort(key=lambda h: h.endswith(".gz"))
        found[role] = os.path.join(folder, hits[0]) if hits else None
    return found


def _pair(images_path, labels_path):
    X, y = read_idx(images_path), read_idx(labels_path)
    if y.ndim != 1:
        raise DataError(f"{labels_path}: labels must be 1-D, got shape {y.shape}")
    if len(X) != len(y):
        raise DataError(f"{images_path} has {len(X)} images but {labels_path} has {len(y)} labels")
    return X, y


def load_idx_folder(folder):
    """``((X_train, y_train), (X_test, y_test))`` from a folder of MNIST-named IDX files.

    The test pair is ``(None, None)`` when the folder has no t10k/test files.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise DataError(f"{folder}: no such folder")
    f = find_idx_files(folder)
    if f["train_images"] is None or f["train_labels"] is None:
        raise DataError(f"{folder}: no train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] files")
    train = _pair(f["train_images"], f["train_labels"])
    if (f["test_images"] is None) != (f["test_labels"] is None):
        raise DataError(f"{folder}: has test {'images' if f['test_images'] else 'labels'} without the other")
    test = _pair(f["test_images"], f["test_labels"]) if f["test_images"] else (None, None)
    return train, test


CSV_SUFFIXES = tuple(f"{ext}{z}" for ext in (".csv", ".tsv", ".txt") for z in ("", ".gz", ".bz2", ".xz"))


def read_source(spec, label_column, download, cache, log, header="auto"):
    """→ (X_train, y_train, X_test, y_test, name, classes or None)."""
    key = str(spec).lower()
    if key == "mnist":
        from .mnist import load_mnist

        (X, y), (Xt, yt) = load_mnist(flatten=False, scale=False, dtype=np.uint8)
        return X, y, Xt, yt, "MNIST", [str(i) for i in range(10)]
    from .download import _ALIASES, SOURCES

    if key in SOURCES or key in _ALIASES:
        from .download import _canonical, dataset_folder
        from .download import download as fetch

        name = _canonical(key)
        folder = fetch(name, cache=cache, log=log) if download else dataset_folder(name, cache)
        (X, y), (Xt, yt) = load_idx_folder(folder)
        return X, y, Xt, yt, name, SOURCES[name]["classes"]
    path = os.fspath(spec)
    if os.path.isdir(path):
        (X, y), (Xt, yt) = load_idx_folder(path)
        return X, y, Xt, yt, os.path.basename(os.path.normpath(path)), None
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file or folder (and not a dataset name: mnist, "
                        f"{', '.join(SOURCES.keys() - {'mnist'})})")
    low = path.lower()
    if low.endswith(CSV_SUFFIXES):
        X, y = read_csv(path, label_column=label_column, header=header)
        if y is None:
            raise DataError(f"{path}: no label column")
        return X, y, None, None, os.path.basename(path), None
    if low.endswith(".npz"):
        (X, y), (Xt, yt) = load_npz(path)
        if y is None:
            raise DataError(f"{path}: no label array (y_train / y / labels)")
        return X, y, Xt, yt, os.path.basename(path), None
    if low.endswith(".npy"):
        raise DataError(f"{path}: a .npy file holds one array without labels; for training use an .npz "
                        f"with x_train and y_train (and x_test, y_test)")
    raise DataError(f"{path}: unknown data format (expected an IDX folder, .csv or .npz)")


def load_data(spec="mnist", test_data=None, test_fraction: float = 0.1, seed=0, label_column="auto",
              download: bool = True, cache: str | None = None, log=None, header="auto") -> Dataset:
    """Load a dataset by name or path, with integer labels and a test split.

    Parameters
    ----------
    spec : str or path
        ``"mnist"`` (shipped), ``"fashion-mnist"`` (downloaded to the cache once), an IDX
        folder, a ``.csv`` or an ``.npz``.
    test_data : str or path, optional
        A separate test set (same formats); its training part, or all of it, is used.
    test_fraction : float
        Share held out (stratified, drawn from ``seed``) when the source has no test split.
    header : "auto" or bool
        Whether a CSV's first line is a header (see :func:`read_csv`).
    """
    X, y, Xt, yt, name, classes = read_source(spec, label_column, download, cache, log, header)
    test_source = "test set"
    if test_data is not None:
        X2, y2, Xt2, yt2, tname, _ = read_source(test_data, label_column, download, cache, log, header)
        Xt, yt = (Xt2, yt2) if Xt2 is not None else (X2, y2)
        test_source = f"test data {tname}"
    if Xt is not None and Xt.shape[1:] != X.shape[1:]:
        raise DataError(f"{name}: training samples have shape {X.shape[1:]} but test samples {Xt.shape[1:]}")
    n_train = len(X)
    all_y = y if yt is None else np.concatenate([np.asarray(y), np.asarray(yt)])
    if classes is not None:  # a known dataset: labels are already 0..k-1
        codes, names = np.asarray(all_y).astype(np.int64), classes
        if codes.min() < 0 or codes.max() >= len(classes):
            raise DataError(f"{name}: labels outside 0..{len(classes) - 1}")
    else:
        try:
            codes, names = encode_labels(all_y)
        except ValueError as e:
            raise DataError(f"{name}: {e}") from None
    y, yt = codes[:n_train], (codes[n_train:] if yt is not None else None)
    if len(names) < 2:
        raise DataError(f"{name}: labels have a single class ({names[0] if names else 'none'}); need 2 or more")
    if Xt is None:
        try:
            (X, y), (Xt, yt) = train_val_split(X, y, test_fraction, seed=seed)
        except ValueError as e:
            raise DataError(f"{name}: {e}") from None
        test_source = f"stratified {test_fraction:.0%} held out (seed {seed})"
    return Dataset(X, y, Xt, yt, list(names), name, test_source)
