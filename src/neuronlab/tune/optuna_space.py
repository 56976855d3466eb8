"""The search space as Optuna sees it: a define-by-run function and the distributions.

Define-by-run lets the space be conditional: ``momentum`` is only sampled for a trial whose
optimizer takes it (SGD, RMSprop), so TPE never learns from a value that had no effect.
"""

from __future__ import annotations

from .space import Param, Sweep, takes_momentum

__all__ = ["DefineByRun", "define_by_run", "suggest", "distribution", "max_epochs"]


def suggest(trial, p: Param):
    """Ask an ``optuna.Trial`` for a value of ``p``."""
    if p.kind == "choice":
        return trial.suggest_categorical(p.name, list(p.values))
    low, high = p.values
    if p.kind in ("int", "logint"):
        return trial.suggest_int(p.name, int(low), int(high), log=p.kind == "logint")
    return trial.suggest_float(p.name, float(low), float(high), log=p.kind == "loguniform")


def distribution(p: Param):
    """The ``optuna.distributions`` object of ``p`` (for a study rebuilt from the results)."""
    from optuna import distributions as d

    if p.kind == "choice":
        return d.CategoricalDistribution(list(p.values))
    low, high = p.values
    if p.kind in ("int", "logint"):
        return d.IntDistribution(int(low), int(high), log=p.kind == "logint")
    return d.FloatDistribution(float(low), float(high), log=p.kind == "loguniform")


class DefineByRun:
    """``space(trial)`` for ``OptunaSearch``: every searched option, momentum only where it applies.

    A class rather than a closure: Ray Tune pickles the searcher with the experiment state.
    """

    def __init__(self, sweep: Sweep):
        self.params = sorted(sweep.params.values(), key=lambda p: p.name == "momentum")  # optimizer first
        self.fixed_optimizer = sweep.fixed["optimizer"]

    def __call__(self, trial):
        optimizer = self.fixed_optimizer
        for p in self.params:
            if p.name == "momentum" and not takes_momentum(optimizer):
                continue
            value = suggest(trial, p)
            if p.name == "optimizer":
                optimizer = value


define_by_run = DefineByRun


def max_epochs(sweep: Sweep) -> int:
    """The most epochs any trial can run (ASHA's max_t)."""
    p = sweep.params.get("epochs")
    return int(max(p.values)) if p is not None else int(sweep.fixed["epochs"])
