"""Plots as PNG files: learning curves and confusion matrices.

matplotlib is imported only when a plot is drawn, and only its object API is used
(``Figure`` + the Agg canvas): no pyplot, no global backend switch, no window.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["plot_history", "plot_confusion_matrix"]


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_history(history: dict, path, title: str | None = None, val_label: str = "validation") -> str:
    """Loss (left) and accuracy (right) per epoch, training and validation; returns ``path``.

    ``history`` maps "loss", "accuracy", "val_loss", "val_accuracy" to per-epoch lists
    (``History.history``); missing keys are skipped.
    """
    has_acc = any(k.endswith("accuracy") for k in history)
    fig = _figure(10 if has_acc else 5.5, 4)
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    panels = [("loss", "loss (cross-entropy)")] + ([("accuracy", "accuracy (%)")] if has_acc else [])
    for ax, (key, label) in zip(axes, panels):
        for name, style, what in ((key, "o-", "training"), (f"val_{key}", "s--", val_label)):
            values = history.get(name)
            if not values:
                continue
            v = np.asarray(values, dtype=float) * (100 if key == "accuracy" else 1)
            epochs = np.arange(1, len(v) + 1)
            ax.plot(epochs, v, style, label=what, markersize=4)
            if key == "accuracy":
                up = name.startswith("val_")
                ax.annotate(f"{v[-1]:.2f}%", (epochs[-1], v[-1]), textcoords="offset points",
                            xytext=(0, 6 if up else -12), ha="center", fontsize=8)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
        n = max((len(history.get(k) or []) for k in history), default=1)
        ax.set_xticks(np.arange(1, n + 1, max(1, n // 10)))
    if title:
        fig.suptitle(title)
    fig.savefig(os.fspath(path))
    return os.fspath(path)


def plot_confusion_matrix(cm, classes, path, title: str | None = None) -> str:
    """A confusion matrix (rows: true class, columns: predicted) with counts in the cells."""
    cm = np.asarray(cm)
    k = len(cm)
    size = max(4.5, 0.5 * k + 2)
    fig = _figure(size + 1, size)
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(k), [str(c) for c in classes], rotation=45 if max(map(len, map(str, classes))) > 2 else 0,
                  ha="right" if max(map(len, map(str, classes))) > 2 else "center")
    ax.set_yticks(range(k), [str(c) for c in classes])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if k <= 30:
        top = cm.max() if cm.size else 0
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7 if k > 12 else 8,
                            color="white" if cm[i, j] > top / 2 else "black")
    if title:
        ax.set_title(title)
    fig.savefig(os.fspath(path))
    return os.fspath(path)
