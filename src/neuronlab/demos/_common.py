"""What every demo shares: the output folder, figures (matplotlib, imported lazily, no pyplot
state), the JSON of numbers, the printed table, and small seeded synthetic data sets."""

from __future__ import annotations

import json
import math
import os
import warnings

import numpy as np

__all__ = ["prepare", "figure", "save", "save_gif", "write_json", "table", "circles", "regression_2d", "TAB10"]

TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
         "#bcbd22", "#17becf", "#000000", "#aec7e8"]


def prepare(out_dir) -> str:
    """Create ``out_dir`` (and parents) and return it as a string."""
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    return out_dir


def figure(nrows: int = 1, ncols: int = 1, size=(6.4, 4.8), **kwargs):
    """A matplotlib Figure and its axes, drawn with the Agg canvas (no pyplot, no global backend)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - matplotlib is in the plots/test extras
        raise ImportError("the demos need matplotlib (pip install 'neuronlab[cli]')") from exc
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def save(fig, out_dir: str, name: str, dpi: int = 110) -> str:
    """Write ``fig`` as ``out_dir/name.png`` and return the path."""
    path = os.path.join(out_dir, f"{name}.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # constrained layout may warn on tight panels
        fig.savefig(path, dpi=dpi)
    return path


def save_gif(fig, draw_frame, frames: int, out_dir: str, name: str, fps: int = 8, dpi: int = 80) -> str:
    """Write ``out_dir/name.gif``: ``draw_frame(k)`` updates ``fig`` for frame k = 0..frames-1,
    each frame grabbed by matplotlib's ``PillowWriter``. Returns the path."""
    from matplotlib.animation import PillowWriter

    path = os.path.join(out_dir, f"{name}.gif")
    writer = PillowWriter(fps=fps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with writer.saving(fig, path, dpi):
            for k in range(frames):
                draw_frame(k)
                writer.grab_frame()
    return path


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else str(v)  # JSON has no NaN/inf: "nan", "inf"
    return v


def write_json(out_dir: str, topic: str, numbers: dict) -> str:
    """Write the numbers as ``out_dir/topic.json`` (NaN/inf as strings) and return the path."""
    path = os.path.join(out_dir, f"{topic}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_jsonable(numbers), f, indent=1, ensure_ascii=False)
    return path


def fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if not math.isfinite(v):
        return str(v)
    return f"{v:.{digits}g}"


def table(title: str, headers, rows, print_fn=print) -> str:
    """Print (and return) a small aligned table."""
    cells = [list(map(str, headers))] + [[fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [title, "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(cells[0], widths))),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
              for r in cells[1:]]
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text


def circles(n: int, rng: np.random.Generator):
    """2-D points x ~ N(0, I); label 1 outside the circle of radius √(2 ln 2) (half of them)."""
    X = rng.normal(size=(n, 2))
    y = ((X ** 2).sum(axis=1) > 2 * math.log(2)).astype(np.float64)
    return X, y


def regression_2d(n: int, rng: np.random.Generator):
    """x ~ U(-2, 2)², y = sin(1.5 x₁) cos(x₂): a smooth 2-D regression target."""
    X = rng.uniform(-2.0, 2.0, size=(n, 2))
    y = (np.sin(1.5 * X[:, 0]) * np.cos(X[:, 1]))[:, None]
    return X, y
