"""Learning-rate schedules: η as a function of the epoch (or step) t, and the callbacks that apply them.

A schedule maps (t, η₀) to η_t, where η₀ is the optimizer's learning rate when training
began. :class:`LearningRateScheduler` sets ``optimizer.lr`` from a schedule before every
epoch (``per="epoch"``, t = epoch index) or every update (``per="step"``, t = number of
updates so far, ``optimizer.iterations``), so a resumed run continues where it stopped.
:class:`ReduceLROnPlateau` instead watches a validation metric. ``fit`` records the lr of
each epoch in ``History.history["lr"]`` (for ``per="step"``, the lr after the epoch's last step).

>>> import neuronlab as nl
>>> sched = nl.schedules.CosineDecay(T=10, warmup=2)
>>> [round(sched(t, 0.1), 4) for t in (0, 1, 2, 7, 12)]
[0.0333, 0.0667, 0.1, 0.05, 0.0]
"""

from __future__ import annotations

import math

from .callbacks import Callback
from .core import Registry
from .validation import Boolean, Instance, Integer, Options, Real, validated

__all__ = ["Schedule", "StepDecay", "ExponentialDecay", "CosineDecay", "LearningRateScheduler",
           "ReduceLROnPlateau", "get", "names"]

registry = Registry("schedule")

_LR = Real(low=0)  # what a schedule may return: a finite learning rate >= 0


class Schedule:
    """Base schedule: ``schedule(t, lr0)`` returns η_t for epoch or step t >= 0."""

    name = "schedule"

    def __call__(self, t: int, lr0: float) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


@registry.register("step")
class StepDecay(Schedule):
    """Step decay: η_t = η₀ γ^⌊t / step_size⌋ (``torch.optim.lr_scheduler.StepLR``).

    Parameters
    ----------
    step_size : int
        Epochs (or steps) between two decays.
    gamma : float
        γ, the factor applied at each decay.
    """

    @validated({"step_size": Integer(low=1), "gamma": Real(low=0, low_open=True)})
    def __init__(self, step_size: int, gamma: float = 0.1):
        self.step_size, self.gamma = step_size, gamma

    def __call__(self, t, lr0):
        return lr0 * self.gamma ** (t // self.step_size)

    def get_config(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


@registry.register("exponential")
class ExponentialDecay(Schedule):
    """Exponential decay: η_t = η₀ γ^(t / decay_steps).

    ``decay_steps=1`` is ``torch.optim.lr_scheduler.ExponentialLR``; a larger value is Keras'
    ``ExponentialDecay(decay_steps, decay_rate=γ)`` (the rate per ``decay_steps`` epochs or steps).
    """

    @validated({"gamma": Real(low=0, low_open=True), "decay_steps": Integer(low=1)})
    def __init__(self, gamma: float, decay_steps: int = 1):
        self.gamma, self.decay_steps = gamma, decay_steps

    def __call__(self, t, lr0):
        return lr0 * self.gamma ** (t / self.decay_steps)

    def get_config(self):
        return {"gamma": self.gamma, "decay_steps": self.decay_steps}


@registry.register("cosine")
class CosineDecay(Schedule):
    """Cosine decay from η₀ to η_min over T epochs (or steps), after an optional linear warm-up.

    With w = ``warmup`` and f₀ = ``warmup_start_factor``::

        η_t = η₀ (f₀ + (1 - f₀) t / w)                                for t < w
        η_t = η_min + (η₀ - η_min) (1 + cos(π (t - w) / T)) / 2       for w <= t <= w + T
        η_t = η_min                                                   afterwards

    The warm-up is ``torch.optim.lr_scheduler.LinearLR(start_factor=f₀, total_iters=w)`` and
    the decay ``CosineAnnealingLR(T_max=T, eta_min=η_min)``, chained as ``SequentialLR`` does;
    unlike ``CosineAnnealingLR``, η stays at η_min after T instead of rising again.
    """

    @validated({"T": Integer(low=1), "lr_min": Real(low=0), "warmup": Integer(low=0),
                "warmup_start_factor": Real(low=0, low_open=True, high=1)})
    def __init__(self, T: int, lr_min: float = 0.0, warmup: int = 0, warmup_start_factor: float = 1.0 / 3.0):
        self.T, self.lr_min, self.warmup, self.warmup_start_factor = T, lr_min, warmup, warmup_start_factor

    def __call__(self, t, lr0):
        if t < self.warmup:
            f0 = self.warmup_start_factor
            return lr0 * (f0 + (1.0 - f0) * t / self.warmup)
        s = min(t - self.warmup, self.T)
        return self.lr_min + (lr0 - self.lr_min) * (1.0 + math.cos(math.pi * s / self.T)) / 2.0

    def get_config(self):
        return {"T": self.T, "lr_min": self.lr_min, "warmup": self.warmup,
                "warmup_start_factor": self.warmup_start_factor}


class _FunctionSchedule(Schedule):
    """Wraps a plain function of t."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, t, lr0):
        return self.fn(t)

    def __repr__(self):
        return f"FunctionSchedule({self.fn!r})"


class LearningRateScheduler(Callback):
    """Sets ``optimizer.lr = schedule(t, η₀)`` before each epoch or each update.

    Parameters
    ----------
    schedule : Schedule, str or callable
        A :class:`Schedule`, a registered name with its arguments in ``kwargs``
        (``"step"``, ``"exponential"``, ``"cosine"``), or a function of t alone returning η_t.
    per : {"epoch", "step"}
        What t counts: epochs (the epoch index, ``initial_epoch`` respected) or optimizer
        updates (``optimizer.iterations``).
    **kwargs
        Arguments of a schedule given by name.

    η₀ is the optimizer's lr the first time training begins with this callback, so calling
    ``fit`` again continues the schedule rather than restarting it from a decayed lr.
    """

    @validated({"per": Options("epoch", "step")})
    def __init__(self, schedule, per: str = "epoch", **kwargs):
        super().__init__()
        if isinstance(schedule, str):
            schedule = get(schedule, **kwargs)
        elif kwargs:
            raise ValueError(f"LearningRateScheduler: keyword arguments {sorted(kwargs)} only go with a schedule name")
        if not isinstance(schedule, Schedule):
            if not callable(schedule):
                raise ValueError(f"LearningRateScheduler: schedule must be a Schedule, a name or a function of t, "
                                 f"got {schedule!r}")
            schedule = _FunctionSchedule(schedule)
        self.schedule, self.per = schedule, per
        self.lr0: float | None = None

    def _set(self, t):
        lr = self.schedule(t, self.lr0)
        if not _LR.accepts(lr):
            raise ValueError(f"LearningRateScheduler: the schedule gave lr = {lr!r} at t = {t}; "
                             f"it must be a finite number >= 0")
        self.model.optimizer.lr = float(lr)

    def on_train_begin(self, logs=None):
        if self.lr0 is None:
            self.lr0 = float(self.model.optimizer.lr)
        if self.per == "step":
            self._set(self.model.optimizer.iterations)

    def on_epoch_begin(self, epoch, logs=None):
        if self.per == "epoch":
            self._set(epoch)

    def on_batch_end(self, batch, logs=None):
        if self.per == "step":
            self._set(self.model.optimizer.iterations)


class ReduceLROnPlateau(Callback):
    """Multiply η by ``factor`` when ``monitor`` has not improved for more than ``patience`` epochs.

    Semantics of ``torch.optim.lr_scheduler.ReduceLROnPlateau``, checked each epoch end:
    a value improves on the best one when it is lower than best·(1 - threshold) (mode
    "min", threshold_mode "rel"), lower than best - threshold ("abs"), or higher than
    best·(1 + threshold) / best + threshold in mode "max". After more than ``patience``
    epochs without improvement, η ← max(η·factor, min_lr) (skipped when the change is below
    ``eps``), then ``cooldown`` epochs pass before bad epochs count again. Keras'
    ``min_delta`` is ``threshold`` with ``threshold_mode="abs"``.

    Parameters
    ----------
    monitor : str
        A key of the epoch logs, e.g. "val_loss" or "val_accuracy" (needs validation data).
    mode : {"auto", "min", "max"}
        "auto" is "max" for accuracies, "min" otherwise.
    """

    @validated({"monitor": Instance(str), "factor": Real(low=0, low_open=True, high=1, high_open=True),
                "patience": Integer(low=0), "mode": Options("auto", "min", "max"), "threshold": Real(low=0),
                "threshold_mode": Options("rel", "abs"), "cooldown": Integer(low=0), "min_lr": Real(low=0),
                "eps": Real(low=0), "verbose": (Boolean(), Integer(low=0))})
    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, mode: str = "auto",
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr: float = 0.0,
                 eps: float = 1e-8, verbose: bool = False):
        super().__init__()
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor, self.mode, self.threshold_mode = monitor, mode, threshold_mode
        self.factor, self.patience, self.threshold, self.cooldown = factor, patience, threshold, cooldown
        self.min_lr, self.eps, self.verbose = min_lr, eps, verbose
        self.reset()

    def reset(self):
        """Forget the best value and the counters."""
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, value: float) -> bool:
        """Whether ``value`` improves on the best one by more than the threshold."""
        if self.mode == "min":
            bar = self.best * (1.0 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold
            return value < bar
        bar = self.best * (1.0 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold
        return value > bar

    def step(self, value: float, optimizer) -> None:
        """Account for one epoch's metric ``value``; reduce ``optimizer.lr`` on a plateau."""
        value = float(value)
        if self.is_better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = float(optimizer.lr)
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                optimizer.lr = new
                if self.verbose:
                    print(f"ReduceLROnPlateau: {self.monitor} has not improved for {self.num_bad_epochs} epochs; "
                          f"lr {old:.4g} -> {new:.4g}")
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        if not logs or self.monitor not in logs:
            raise ValueError(f"ReduceLROnPlateau: {self.monitor!r} is not in the logs ({', '.join(logs or {})}); "
                             f"give validation data for val_* metrics")
        self.step(logs[self.monitor], self.model.optimizer)


def get(spec, **kwargs) -> Schedule:
    """Return a schedule from a name (``"cosine"``), a class or an instance."""
    return registry.get(spec, **kwargs)


def names() -> list[str]:
    return registry.names()
