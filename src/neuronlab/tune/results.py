"""What a sweep leaves behind: the table of trials, best.toml, the best model, figures.

``collect`` turns Ray Tune's ``ResultGrid`` into :class:`TrialRecord` rows (best first), writes
``trials.csv``, ``results.json``, ``best.toml`` (``neuronlab train --config best.toml`` reruns
the best trial), ``best_model.safetensors`` (evaluated once on the test set) and the figures
``curves.png`` and ``importance.png``, and prints the table.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field

from ..runs.config import write_toml
from .space import trial_config

__all__ = ["TrialRecord", "SweepResults", "collect", "records_from_grid", "table_lines", "failure_message",
           "clean_text", "format_value", "BEST_TOML", "BEST_MODEL"]

BEST_TOML, BEST_MODEL = "best.toml", "best_model.safetensors"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass
class TrialRecord:
    """One trial: its sampled ``params``, last ``value`` of the metric, how it ended, where it ran."""

    trial_id: str
    number: int
    params: dict
    status: str  # "completed", "stopped by ASHA" or "failed"
    value: float | None
    epochs_run: int
    epochs: int
    node_id: str | None
    error: str | None = None
    history: dict = field(default_factory=dict)  # per-epoch lists: epoch, loss, val_accuracy, ...
    checkpoint: str | None = None
    blas_threads: int | None = None


@dataclass
class SweepResults:
    """The sweep's trials best first, the best one, its test metrics and the files written."""

    out_dir: str
    metric: str
    mode: str
    records: list
    best: TrialRecord | None
    test: dict | None
    seconds: float
    files: dict

    @property
    def best_value(self):
        return None if self.best is None else self.best.value

    def table(self) -> list[str]:
        return table_lines(self.records, self.metric)


def clean_text(text) -> str:
    """One line of printable text (no control characters can reach a terminal)."""
    return " ".join(_CONTROL.sub(" ", str(text)).split())


def failure_message(error) -> str:
    """``Type: message`` of the exception a trial raised (Ray wraps it), or the text of its error file."""
    if error is None:
        return "unknown error"
    if isinstance(error, BaseException):
        cause = getattr(error, "cause", None) or error.__cause__ or error
        return f"{type(cause).__name__}: {cause}"
    lines = [line.strip() for line in str(error).splitlines() if re.match(r"^\s*\w+(\.\w+)*(Error|Exception)", line)]
    return re.sub(r"^[\w.]*\.(?=\w+(Error|Exception))", "", lines[-1]) if lines else clean_text(error)[-300:]


def format_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "''" if v == "" else str(v)


def _number(path: str) -> int:
    """The trial's counter in Ray's folder name ``<trainable>_<id>_<n>_...`` (creation order)."""
    m = re.search(r"_[0-9a-f]{5,}_(\d+)_", os.path.basename(path or ""))
    return int(m.group(1)) if m else 0


def records_from_grid(grid, metric: str, mode: str, names, epochs: int = 0) -> list[TrialRecord]:
    """Every trial of a ``ResultGrid``, best first; failed trials last, in creation order.

    ``epochs`` is the sweep's fixed epoch count, the plan of a trial that failed before reporting.
    """
    records = []
    for r in grid:
        df = r.metrics_dataframe
        history = {} if df is None or df.empty else {k: [float(v) for v in df[k]] for k in df.columns
                                                      if k in ("epoch", "loss", "accuracy", "val_loss",
                                                               "val_accuracy", "lr")}
        m = r.metrics or {}
        epochs_run, planned = int(m.get("epoch", 0)), int(m.get("epochs") or r.config.get("epochs", epochs))
        value = m.get(metric)
        value = float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
        if r.error is not None:
            status = "failed"
        elif planned and epochs_run < planned:
            status = "stopped by ASHA"
        else:
            status = "completed"
        records.append(TrialRecord(
            trial_id=str(m.get("trial_id") or os.path.basename(r.path or "")), number=_number(r.path),
            params={k: r.config[k] for k in names if k in r.config}, status=status,
            value=None if r.error is not None else value, epochs_run=epochs_run, epochs=planned,
            node_id=m.get("node_id"), error=clean_text(failure_message(r.error)) if r.error is not None else None,
            history=history, checkpoint=r.checkpoint.path if r.checkpoint is not None else None,
            blas_threads=m.get("blas_threads")))
    sign = -1 if mode == "max" else 1
    return sorted(records, key=lambda t: (t.value is None, sign * (t.value or 0.0), t.number))


def table_lines(records, metric: str) -> list[str]:
    """The table of trials as aligned text, best first."""
    names = list(dict.fromkeys(k for t in records for k in t.params))
    head = ["rank", "trial", metric, "epochs", "status", "node", *names]
    rows = [[str(i + 1), str(t.number), "-" if t.value is None else f"{t.value:.4f}", f"{t.epochs_run}/{t.epochs}",
             t.status, (t.node_id or "-")[:8], *[format_value(t.params[k]) if k in t.params else "-" for k in names]]
            for i, t in enumerate(records)]
    widths = [max(len(r[j]) for r in [head, *rows]) for j in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    lines += [f"trial {t.number} failed: {t.error}" for t in records if t.error]
    return lines


def _write_csv(path, records, metric) -> None:
    names = list(dict.fromkeys(k for t in records for k in t.params))
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["rank", "trial", metric, "epochs_run", "epochs", "status", "node_id", *names, "error"])
        for i, t in enumerate(records):
            w.writerow([i + 1, t.number, "" if t.value is None else repr(t.value), t.epochs_run, t.epochs, t.status,
                        t.node_id or "", *[t.params.get(k, "") for k in names], t.error or ""])


def _save_best(best, sweep, out_dir, test_pair, info) -> dict:
    """best.toml, best_model.safetensors, and the best model's one evaluation on the test set."""
    from ..saving import load_checkpoint
    from .trainable import CHECKPOINT_FILE

    cfg = trial_config(sweep.fixed, best.params)
    write_toml(os.path.join(out_dir, BEST_TOML), {k: v for k, v in cfg.items() if k != "out"},
               comment=f"the best trial of the sweep in {out_dir} ({sweep.settings['metric']} {best.value:.4f}); "
                       f"rerun with:\nneuronlab train --config {os.path.join(out_dir, BEST_TOML)}")
    if best.checkpoint is None:
        return {}
    model, extra = load_checkpoint(os.path.join(best.checkpoint, CHECKPOINT_FILE))
    from ..runs.inputs import shape_for

    X_test, y_test = test_pair
    test = model.evaluate(shape_for(model, X_test, "test"), y_test)
    model.save(os.path.join(out_dir, BEST_MODEL), include_optimizer=False,
               extra={**info, "config": extra.get("config", cfg), "history": extra.get("history", {}),
                      "test": test})
    return {k: float(v) for k, v in test.items()}


def collect(grid, sweep, out_dir, test_pair, info, seconds, echo=print) -> SweepResults:
    """Write the sweep's results into ``out_dir`` and print the table; see the module docstring."""
    from .figures import plot_curves, plot_importance

    s = sweep.settings
    records = records_from_grid(grid, s["metric"], s["mode"], list(sweep.params), sweep.fixed["epochs"])
    best = next((t for t in records if t.value is not None), None)
    files = {"table": os.path.join(out_dir, "trials.csv"), "results": os.path.join(out_dir, "results.json")}
    _write_csv(files["table"], records, s["metric"])
    test = None
    if best is not None:
        test = _save_best(best, sweep, out_dir, test_pair, info)
        files.update(best_toml=os.path.join(out_dir, BEST_TOML), best_model=os.path.join(out_dir, BEST_MODEL))
    files["curves"] = plot_curves(records, s["metric"], os.path.join(out_dir, "curves.png"))
    files["importance"] = plot_importance(records, sweep, os.path.join(out_dir, "importance.png"))
    files = {k: v for k, v in files.items() if v}
    res = SweepResults(out_dir, s["metric"], s["mode"], records, best, test, seconds, files)
    with open(files["results"], "w", encoding="utf-8") as f:
        json.dump({"metric": s["metric"], "mode": s["mode"], "seconds": round(seconds, 3), "test": test,
                   "best": None if best is None else asdict(best), "trials": [asdict(t) for t in records],
                   "files": files}, f, indent=2)
    _print(res, echo)
    return res


def _print(res: SweepResults, echo) -> None:
    echo("")
    for line in res.table():
        echo(line)
    echo("")
    if res.best is None:
        echo(f"No trial reported {res.metric}: nothing to keep. Time: {res.seconds:.1f} s")
        return
    stopped = sum(t.status == "stopped by ASHA" for t in res.records)
    failed = sum(t.status == "failed" for t in res.records)
    echo(f"Best: trial {res.best.number}, {res.metric} {res.best.value:.4f} on the validation split; "
         f"test accuracy {100 * res.test.get('accuracy', float('nan')):.2f}% (evaluated once, best model only)"
         if res.test else f"Best: trial {res.best.number}, {res.metric} {res.best.value:.4f}")
    echo(f"{len(res.records)} trials: {stopped} stopped early by ASHA, {failed} failed; {res.seconds:.1f} s")
    echo(f"Output: {res.out_dir}{os.sep}  trials.csv, results.json, best.toml, best_model.safetensors, curves.png, "
         f"importance.png")
    echo(f"Next: neuronlab train --config {res.files.get('best_toml')}")
