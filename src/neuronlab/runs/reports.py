"""What ``neuronlab evaluate``, ``predict`` and ``info`` compute and the lines they print.

Each report is a list of strings, one per ``print`` (a string may hold a blank line):
``print("\\n".join(lines))`` shows what the command shows.

>>> ev = evaluate_model("runs/x/model.safetensors")      # doctest: +SKIP
>>> print("\\n".join(evaluation_lines(ev)))              # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from ..core import NeuronlabError
from .inputs import class_names, eval_data, load_model_file, read_inputs, scaler_of, shape_for

__all__ = ["Evaluation", "Prediction", "evaluate_model", "evaluation_lines", "save_confusion_matrix",
           "classification_report", "confusion_matrix_text", "predict_files", "prediction_lines", "info_lines",
           "probabilities"]


@dataclass
class Evaluation:
    """A model's results on an evaluation set; ``confusion[i, j]``: samples of class i predicted as j."""

    model_path: str
    what: str  # the data, e.g. "mnist, test set"
    classes: list
    confusion: np.ndarray
    loss: float
    accuracy: float
    n: int
    errors: int


@dataclass
class Prediction:
    """One row per input sample: its label (``file`` or ``file[i]``) and class probabilities."""

    labels: list
    probabilities: np.ndarray
    classes: list


BATCH_VALUES = 1 << 24  # values all layers' outputs may hold at once in evaluate/predict (64 MiB in float32)


def batch_size_for(model) -> int:
    """Samples per forward pass so that the layers' outputs stay within :data:`BATCH_VALUES`
    (a model file bounds one sample's outputs; this bounds a batch's)."""
    per = int(np.prod(model.input_shape or (1,)))
    per += sum(int(np.prod(la.output_shape)) for la in model.layers if la.output_shape)
    return int(min(8192, max(1, BATCH_VALUES // max(per, 1))))


def _printable_lines(lines) -> list[str]:
    """Every line without control characters (class names, data names, paths come from files)."""
    from ..text import printable

    return ["\n".join(printable(part) for part in line.split("\n")) for line in lines]


def _shown_names(classes) -> list[str]:
    from ..text import printable

    return [printable(c, 40) for c in classes]


def probabilities(model, X) -> np.ndarray:
    """Class probabilities, two columns for a model with one sigmoid output."""
    P = model.predict(X, batch_size=batch_size_for(model))
    if P.ndim != 2:
        raise NeuronlabError(f"the model gives outputs of shape (n, {', '.join(map(str, P.shape[1:]))}) per input; "
                             f"classifying needs one row of class scores per sample")
    if P.shape[1] == 1:  # one sigmoid output: P(class 1)
        P = np.concatenate([1 - P, P], axis=1)
    return P


# -- evaluate -------------------------------------------------------------------------------------------
def evaluate_model(model_path, data=None) -> Evaluation:
    """Evaluate a model file on ``data`` (default: the test split of the data it was trained on)."""
    model, extra = load_model_file(model_path)
    classes = class_names(model, extra)
    X, y, what = eval_data(data, extra, model)
    X = shape_for(model, scaler_of(extra).transform(X), "evaluate")
    if y.size and (y.min() < 0 or y.max() >= len(classes)):
        raise NeuronlabError(f"evaluate: labels outside the model's {len(classes)} classes")
    P = probabilities(model, X)
    pred = P.argmax(axis=1)
    k = len(classes)
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    if model.loss is None:
        model.compile("categorical_crossentropy", "sgd", ["accuracy"])
    loss = model.evaluate(X, y, batch_size=batch_size_for(model))["loss"] if model.output_dim == k else float("nan")
    acc = float(np.mean(pred == y))
    return Evaluation(model_path, what, classes, cm, loss, acc, len(y), int((pred != y).sum()))


def evaluation_lines(ev: Evaluation) -> list[str]:
    """Loss, accuracy, the per-class report and the confusion matrix, as ``neuronlab evaluate`` prints them."""
    lines = [f"{ev.model_path} on {ev.what}: {ev.n:,} samples",
             f"loss {ev.loss:.4f}   accuracy {100 * ev.accuracy:.2f}%   ({ev.errors} errors)\n"]
    classes = _shown_names(ev.classes)  # (cleaned before the columns are sized)
    lines += classification_report(ev.confusion, classes)
    lines.append("\nconfusion matrix (rows: true class, columns: predicted)")
    lines += confusion_matrix_text(ev.confusion, classes)
    return _printable_lines(lines)


def save_confusion_matrix(ev: Evaluation, out=None) -> str:
    """Draw confusion_matrix.png into ``out`` (default: the model's folder); return its path."""
    folder = out or os.path.dirname(os.path.abspath(ev.model_path))
    os.makedirs(folder, exist_ok=True)
    from ..plots import plot_confusion_matrix
    from ..text import printable

    return plot_confusion_matrix(ev.confusion, _shown_names(ev.classes),
                                 os.path.join(folder, "confusion_matrix.png"),
                                 title=printable(f"accuracy {100 * ev.accuracy:.2f}% on {ev.what}", 120))


def classification_report(cm, classes) -> list[str]:
    """Precision, recall, F1 and support per class and their macro average, from a confusion matrix."""
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    w = max(5, *(len(c) for c in classes))
    lines = [f"{'class':>{w}}  precision  recall  f1-score  support"]
    for c, p, r, f, s in zip(classes, precision, recall, f1, support):
        lines.append(f"{c:>{w}}  {p:9.4f}  {r:6.4f}  {f:8.4f}  {s:7d}")
    lines.append(f"{'macro':>{w}}  {precision.mean():9.4f}  {recall.mean():6.4f}  {f1.mean():8.4f}  {support.sum():7d}")
    return lines


def confusion_matrix_text(cm, classes) -> list[str]:
    """The confusion matrix as a table: rows the true class, columns the predicted one."""
    w = max(len(str(cm.max())), *(len(c) for c in classes)) + 1
    head = " " * (w + 1) + "".join(f"{c:>{w}}" for c in classes) + "   <- predicted"
    return [head] + [f"{c:>{w}} " + "".join(f"{v:>{w}d}" for v in row) for c, row in zip(classes, cm)]


# -- predict --------------------------------------------------------------------------------------------
def predict_files(model_path, inputs) -> Prediction:
    """Class probabilities of every sample in the ``inputs`` files (images, .npy, IDX, CSV)."""
    model, extra = load_model_file(model_path)
    classes = class_names(model, extra)
    if model.classes_ is not None and "classes" not in extra:  # labels fit learned (strings, categories)
        classes = [str(c) for c in model.classes_]
    sample_shape = tuple(extra.get("sample_shape") or model.input_shape)
    n_features = int(np.prod(sample_shape))
    scaler = scaler_of(extra)
    rows = []
    for path in inputs:
        rows += read_inputs(os.fspath(path), sample_shape, n_features)
    if not rows:
        raise NeuronlabError("no samples in the inputs")
    X = np.concatenate([a.reshape(1, -1) if a.ndim == 1 else a.reshape(len(a), -1) for _, a in rows])
    P = probabilities(model, shape_for(model, scaler.transform(X), "predict"))
    return Prediction([label for label, _ in rows], P, classes)


def prediction_lines(pred: Prediction, top: int = 1) -> list[str]:
    """One line per sample: its label and its ``top`` most probable classes."""
    from ..text import printable

    labels, classes = [printable(label) for label in pred.labels], _shown_names(pred.classes)
    width = max(len(label) for label in labels)
    lines = []
    for label, p in zip(labels, pred.probabilities):
        best = np.argsort(-p)[:top]
        text = "   ".join(f"class {classes[j] if j < len(classes) else j}  p={p[j]:.4f}" for j in best)
        lines.append(f"{label:<{width}}  {text}")
    return _printable_lines(lines)


# -- info -----------------------------------------------------------------------------------------------
def info_lines(model_path) -> list[str]:
    """Format, architecture, parameter counts and training details of a model file."""
    from ..io import read_header

    model, extra = load_model_file(model_path)
    _, meta = read_header(model_path)
    lines = [f"{model_path}: neuronlab model, format version {meta.get('format_version')}, written by "
             f"neuronlab {meta.get('neuronlab_version', '?')}, {os.path.getsize(model_path):,} bytes"]
    model.summary(print_fn=lines.append)
    opt = _mapping(json.loads(meta["optimizer"])) if "optimizer" in meta else None  # (load_model checked it)
    if model.loss is not None:
        lines.append(f"loss: {model.loss.name}; metrics: {', '.join(model.metrics) or 'none'}")
    if opt:
        lines.append(f"optimizer state included: {opt.get('name')} {opt.get('config', {})}")
    if "classes" in extra or model.classes_ is not None:
        names = extra["classes"] if "classes" in extra else model.classes_
        lines.append(f"classes ({len(names)}): {', '.join(map(str, names))}")
    # the rest of extra is the caller's JSON: shown only where it has the expected shape
    cfg, history, test = (_mapping(extra.get(k)) for k in ("config", "history", "test"))
    if cfg:
        losses = history.get("loss")
        n_epochs = len(losses) if isinstance(losses, list) else 0
        lines.append(f"trained on: {extra.get('data_name', cfg.get('data'))}, {n_epochs} epochs, optimizer "
                     f"{cfg.get('optimizer')} lr {cfg.get('lr')}, batch {cfg.get('batch_size')}, "
                     f"seed {cfg.get('seed')}")
    if _is_real(test.get("accuracy")) and _is_real(test.get("loss")):
        lines.append(f"test accuracy: {100 * test['accuracy']:.2f}%  (loss {test['loss']:.4f})")
    if type(extra.get("epoch")) is int:
        lines.append(f"checkpoint after epoch {extra['epoch'] + 1}")
    return _printable_lines(lines)


def _mapping(v) -> dict:
    return v if isinstance(v, dict) else {}


def _is_real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
