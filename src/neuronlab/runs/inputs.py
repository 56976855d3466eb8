"""What ``neuronlab evaluate`` and ``predict`` read: model files, evaluation data, input files.

Inputs to ``predict`` are PNG/JPEG (and other Pillow) images, ``.npy`` arrays, IDX files or
CSV rows; each yields one or more samples with a label for the output (``file`` or ``file[i]``).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from ..core import NeuronlabError
from .config import UsageError

__all__ = ["IMAGE_EXT", "load_model_file", "scaler_of", "class_names", "shape_for", "eval_data", "read_inputs",
           "read_image"]

IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def load_model_file(model_path):
    """``(model, extra)`` of a model or checkpoint file; the model must be built.

    ``extra`` is checked as the rest of the file is (ModelFileError otherwise): ``classes`` a
    list of one name per output, ``sample_shape`` positive integers holding the model's input
    values (never more: it sizes the images ``predict`` makes), ``scaler`` an input scaler for
    that many features. Class names stay as the file has them (evaluate matches data labels
    against them); every report prints them through :func:`neuronlab.text.printable`.
    """
    from ..saving import load_checkpoint

    model, extra = load_checkpoint(model_path)
    if not model.built:
        raise NeuronlabError(f"{model_path}: the model has no input shape (never built)")
    return model, _checked_extra(os.fspath(model_path), model, extra)


def _checked_extra(path, model, extra) -> dict:
    from ..io import ModelFileError
    from ..text import printable

    extra = dict(extra)
    n_in = int(np.prod(model.input_shape))
    k = max(model.output_dim, 2)
    if "classes" in extra:
        c = extra["classes"]
        if not (isinstance(c, list) and len(c) == k and all(isinstance(x, (str, int, float)) for x in c)):
            raise ModelFileError(f"{path}: metadata 'classes' must be a list of {k} names (one per output)")
    if extra.get("sample_shape") is not None:
        shape = extra["sample_shape"]
        ok = (isinstance(shape, list) and 1 <= len(shape) <= 8
              and all(type(d) is int and d >= 1 for d in shape) and int(np.prod(shape, dtype=object)) == n_in)
        if not ok:
            raise ModelFileError(f"{path}: metadata 'sample_shape' must be positive integers holding the model's "
                                 f"{n_in} input values, got {printable(shape, 80)}")
    if extra.get("scaler") is not None:
        extra["scaler"] = _checked_scaler(path, extra["scaler"], n_in)
    return extra


def _checked_scaler(path, cfg, n_in):
    """The saved scaler's config, refused unless it is a scaler for ``n_in`` features that gives
    finite values (σ ≥ 0, σ + ε > 0)."""
    from ..datasets import InputScaler
    from ..io import ModelFileError

    try:
        if not isinstance(cfg, dict):
            raise TypeError("not an object")
        scaler = InputScaler.from_config(cfg)
        if scaler.kind == "standardize":
            for name, v in (("mean", scaler.mean), ("std", scaler.std)):
                if v is None or v.shape != (n_in,) or not np.isfinite(v).all():
                    raise ValueError(f"{name} must be {n_in} finite numbers")
            if (scaler.std < 0).any() or not (scaler.std + scaler.eps > 0).all():
                raise ValueError("std must be >= 0 and std + eps > 0")
    except (TypeError, ValueError, OverflowError) as e:
        raise ModelFileError(f"{path}: metadata 'scaler' is not a valid input scaler ({str(e)[:200]})") from None
    return cfg


def scaler_of(extra):
    """The input scaler saved with a run (none for a model saved without one)."""
    from ..datasets import InputScaler

    cfg = extra.get("scaler")
    return InputScaler.from_config(cfg) if isinstance(cfg, dict) else InputScaler("none")


def class_names(model, extra) -> list[str]:
    """The saved class names (checked by :func:`load_model_file`), else ``"0"``, ``"1"``, ... for
    each output (at least two)."""
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
    from ..io import ModelFileError

    classes = class_names(model, extra)
    saved = extra.get("config") if isinstance(extra.get("config"), dict) else {}
    kinds = {"data": str, "test_data": (str, type(None)), "test_fraction": float, "seed": int,
             "label_column": (str, int)}
    bad = [k for k, t in kinds.items() if k in saved and (not isinstance(saved[k], t) or isinstance(saved[k], bool))]
    header = saved.get("header", "auto")
    if header not in (True, False, "auto"):
        bad.append("header")
    if bad:
        raise ModelFileError(f"the model file's metadata 'config' has a bad {bad[0]!r}")
    if data_spec is None:
        if "data" not in saved:
            raise UsageError("this model file does not say what data it was trained on: give --data")
        d = load_data(saved["data"], test_data=saved.get("test_data"), test_fraction=saved.get("test_fraction", 0.1),
                      seed=saved.get("seed", 0), label_column=saved.get("label_column", "auto"), header=header)
        return d.X_test, d.y_test, f"{d.name}, {d.test_source}"
    X, y, Xt, yt, name, known = read_source(data_spec, saved.get("label_column", "auto"), True, None, None, header)
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
    from ..datasets.load import CSV_SUFFIXES

    low = os.path.basename(path).lower()
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if low.endswith(IMAGE_EXT):
        return [(path, read_image(path, sample_shape)[None])]
    if low.endswith(".npy"):
        a = load_npy(path)
    elif "idx" in low or low.endswith((".idx", ".ubyte", ".ubyte.gz")):
        a = read_idx(path)
    elif low.endswith(CSV_SUFFIXES):
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


MAX_IMAGE_PIXELS = 1 << 25  # 32 Mpixels (e.g. 5792 x 5792): a larger image is refused before it is decoded


def read_image(path, sample_shape):
    """A grayscale image resized to the model's (H, W), as uint8 0..255; dark-on-light images are
    inverted (MNIST is light-on-dark).

    The pixel count is checked from the header before anything is decoded. Pixel values are
    converted by their real range: 8-bit and palette images as they are, 16-bit ones from
    0..65535, float images from 0..1 (or from their own minimum..maximum when outside it).
    """
    from ..core import DataError

    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DataError("reading images needs Pillow: pip install 'neuronlab[cli]'") from None
    if len(sample_shape) < 2:
        raise DataError(f"{path}: this model takes {sample_shape[0]} features, not images")
    h, w = int(sample_shape[0]), int(sample_shape[1])
    try:
        with warnings.catch_warnings():  # (Pillow warns of large images; they are refused just below)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise DataError(f"{path}: the image has {im.width} x {im.height} pixels "
                                f"(limit {MAX_IMAGE_PIXELS:,} pixels)")
            g = _gray_0_255(path, im)
    except DataError:
        raise
    except Image.DecompressionBombError as e:  # (a frame larger than its header says)
        raise DataError(f"{path}: refused as a decompression bomb ({e})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        raise DataError(f"{path}: not a readable image ({e})") from None
    if g.shape != (h, w):
        g = np.asarray(Image.fromarray(g.astype(np.float32)).resize((w, h), Image.LANCZOS), dtype=np.float32)
    a = np.clip(np.rint(g), 0, 255).astype(np.uint8)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if border.mean() > 127:
        a = 255 - a
    return a


def _gray_0_255(path, im) -> np.ndarray:
    """The image as float32 gray levels in 0..255, from its mode's real range."""
    from ..core import DataError

    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im.convert("I") if mode != "I" else im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        if a.min(initial=0) < 0 or a.max(initial=0) > 65535:  # 32-bit integers: their own range
            return _stretch(a)
        return (a * (255.0 / top)).astype(np.float32)
    if mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if not np.isfinite(a).all():
            raise DataError(f"{path}: the image holds NaN or infinite values")
        if a.size and a.min() >= 0 and a.max() <= 1:
            return (a * 255.0).astype(np.float32)
        return _stretch(a)
    if mode in ("1", "L", "P", "PA", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "La", "RGBa"):
        return np.asarray(im.convert("L"), dtype=np.float32)  # (a palette through its colours)
    raise DataError(f"{path}: unsupported image mode {mode!r}")


def _stretch(a) -> np.ndarray:
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    return ((a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)).astype(np.float32)
