"""What ``neuronlab evaluate`` and ``predict`` read: model files, evaluation data, input files.

Inputs to ``predict`` are PNG/JPEG (and other Pillow) images, ``.npy`` arrays, IDX files or
CSV rows; each yields one or more samples with a label for the output (``file`` or ``file[i]``).
"""

from __future__ import annotations

import os

import numpy as np

from ..core import NeuronlabError
from .config import UsageError

__all__ = ["IMAGE_EXT", "load_model_file", "scaler_of", "class_names", "shape_for", "eval_data", "read_inputs",
           "read_image"]

IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def load_model_file(model_path):
    """``(model, extra)`` of a model or checkpoint file; the model must be built."""
    from ..saving import load_checkpoint

    model, extra = load_checkpoint(model_path)
    if not model.built:
        raise NeuronlabError(f"{model_path}: the model has no input shape (never built)")
    return model, extra


def scaler_of(extra):
    """The input scaler saved with a run (none for a model saved without one)."""
    from ..datasets import InputScaler

    cfg = extra.get("scaler")
    return InputScaler.from_config(cfg) if isinstance(cfg, dict) else InputScaler("none")


def class_names(model, extra) -> list[str]:
    """The saved class names, else ``"0"``, ``"1"``, ... for each output (at least two)."""
    c = extra.get("classes")
    return [str(x) for x in c] if isinstance(c, list) else [str(i) for i in range(max(model.output_dim, 2))]


def shape_for(model, X, where):
    """``X`` reshaped to ``(n, *model.input_shape)``; NeuronlabError naming ``where`` if it does not fit."""
    shape = tuple(model.input_shape or ())
    per = int(np.prod(X.shape[1:]))
    if int(np.prod(shape)) != per:
        raise NeuronlabError(f"{where}: samples of shape {X.shape[1:]} ({per} values) do not fit the model's "
                             f"input shape {shape}")
    return X.reshape(len(X), *shape)


def eval_data(data_spec, extra, model):
    """The evaluation set: the saved run's test split, or all of ``data_spec`` (its test split if it has one).

    → ``(X, y, description)`` with ``y`` as class indices of the model's classes.
    """
    from ..datasets import encode_labels, load_data
    from ..datasets.load import read_source

    classes = class_names(model, extra)
    saved = extra.get("config") or {}
    if data_spec is None:
        if "data" not in saved:
            raise UsageError("this model file does not say what data it was trained on: give --data")
        d = load_data(saved["data"], test_data=saved.get("test_data"), test_fraction=saved.get("test_fraction", 0.1),
                      seed=saved.get("seed", 0), label_column=saved.get("label_column", "auto"))
        return d.X_test, d.y_test, f"{d.name}, {d.test_source}"
    X, y, Xt, yt, name, known = read_source(data_spec, saved.get("label_column", "auto"), True, None, None)
    X, y, what = (Xt, yt, "test set") if Xt is not None else (X, y, "all samples")
    if known is None:
        try:
            y, _ = encode_labels(y, classes)
        except ValueError as e:
            raise NeuronlabError(f"{data_spec}: {e}") from None
    return X, np.asarray(y).astype(np.int64), f"{name}, {what}"


def read_inputs(path, sample_shape, n_features):
    """→ list of (label, array of samples) for one INPUT argument."""
    from ..core import DataError
    from ..datasets import load_npy, read_csv, read_idx

    low = os.path.basename(path).lower()
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if low.endswith(IMAGE_EXT):
        return [(path, read_image(path, sample_shape)[None])]
    if low.endswith(".npy"):
        a = load_npy(path)
    elif "idx" in low or low.endswith((".idx", ".ubyte", ".ubyte.gz")):
        a = read_idx(path)
    elif low.endswith((".csv", ".tsv", ".txt")):
        X, _ = read_csv(path, label_column=None)
        if X.shape[1] == n_features + 1:  # a label column too: take the features
            X, _ = read_csv(path, label_column="auto")
        a = X
    else:
        raise DataError(f"{path}: unknown input format (PNG/JPEG image, .npy, IDX or .csv)")
    if a.size == n_features and a.ndim >= 1 and (a.shape == tuple(sample_shape) or a.ndim == 1):
        a = a.reshape(1, -1)
    if a.size % n_features or a.ndim < 2 or int(np.prod(a.shape[1:])) != n_features:
        raise DataError(f"{path}: array of shape {a.shape} does not hold samples of shape {tuple(sample_shape)}")
    return [(f"{path}[{i}]" if len(a) > 1 else path, a[i:i + 1]) for i in range(len(a))]


def read_image(path, sample_shape):
    """A grayscale image resized to the model's (H, W); dark-on-light images are inverted (MNIST is light-on-dark)."""
    from ..core import DataError

    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DataError("reading images needs Pillow: pip install 'neuronlab[cli]'") from None
    if len(sample_shape) < 2:
        raise DataError(f"{path}: this model takes {sample_shape[0]} features, not images")
    h, w = int(sample_shape[0]), int(sample_shape[1])
    try:
        with Image.open(path) as im:
            im = im.convert("L")
            if im.size != (w, h):
                im = im.resize((w, h), Image.LANCZOS)
            a = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable image ({e})") from None
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if border.mean() > 127:
        a = 255 - a
    return a
