"""Hyper-parameter sweeps of ``neuronlab train`` on Ray Tune: Optuna's TPE proposes, ASHA stops bad trials.

    space.py         the sweep file: fixed options, search space, settings (no Ray needed)
    optuna_space.py  the space as an Optuna define-by-run function and distributions
    trainable.py     one trial: data from Ray's object store, fit, a report per epoch
    run.py           run(): Ray embedded or joined by address, Tuner, resume
    results.py       table of trials, best.toml, best model, test evaluation
    figures.py       metric per epoch of every trial; importance and parallel coordinates
    console.py       one line per finished trial

Ray Tune and Optuna come with ``pip install "neuronlab[tune]"``; this package imports them
only when a sweep runs.

>>> import neuronlab as nl
>>> res = nl.tune.run("examples/sweep.toml", trials=8, out="runs/sweep")   # doctest: +SKIP
>>> res.best.params, res.best.value, res.test                              # doctest: +SKIP
"""

from .run import EXTRA_HINT, run
from .space import Param, Sweep, read_sweep

__all__ = ["run", "read_sweep", "Sweep", "Param", "EXTRA_HINT"]
