"""One line per finished trial on the console (Ray Tune's own reporter is switched off)."""

from __future__ import annotations

from ray.tune import Callback

from .results import clean_text, failure_message, format_value

__all__ = ["TrialLines"]


class TrialLines(Callback):
    """``trial 3/16  lr=0.0021 layers=256: val_accuracy 0.9612 after 4/4 epochs`` (or stopped, or failed)."""

    def __init__(self, sweep, echo=print):
        self.names = list(sweep.params)
        self.metric, self.trials, self.echo = sweep.settings["metric"], sweep.settings["trials"], echo

    def _head(self, trials, trial) -> str:
        done = sum(t.status in ("TERMINATED", "ERROR") or t is trial for t in trials)  # counts a resumed sweep's too
        params = " ".join(f"{k}={format_value(trial.config[k])}" for k in self.names if k in trial.config)
        return f"trial {done}/{self.trials}  {params}"

    def on_trial_complete(self, iteration, trials, trial, **info):
        r = trial.last_result or {}
        epoch, planned = r.get("epoch", 0), r.get("epochs", 0)
        value = r.get(self.metric)
        how = "" if epoch >= planned else "  (stopped by ASHA)"
        shown = f"{value:.4f}" if isinstance(value, (int, float)) else "-"
        self.echo(f"{self._head(trials, trial)}: {self.metric} {shown} after {epoch}/{planned} epochs{how}")

    def on_trial_error(self, iteration, trials, trial, **info):
        error = None
        try:  # the text Ray wrote on the driver just before this call (not unpickled)
            with open(trial.error_file, encoding="utf-8", errors="replace") as f:
                error = f.read()
        except (OSError, TypeError):  # no error file: the line still says the trial failed
            pass
        self.echo(f"{self._head(trials, trial)}: failed: {clean_text(failure_message(error))}")
