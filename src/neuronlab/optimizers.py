"""Optimizers: one class, one update rule, applied in place to every parameter W with gradient g.

Gradient descent, SGD and mini-batch SGD are one rule, W ← W - η g; what differs is how
many samples K the gradient averages, chosen by ``fit(batch_size=...)``: K = n (None),
K = 1, or 1 < K < n.

Optimizer state (momentum buffers, accumulators) lives here, keyed by parameter name,
never on the layers; ``state_dict`` / ``load_state_dict`` expose it for saving and resuming.
"""

from __future__ import annotations

import numpy as np

from .core import Param, Registry

__all__ = ["Optimizer", "SGD", "get", "names"]

registry = Registry("optimizer")


def _check_hyper(name, value, low=0.0, low_open=False, high=None):
    ok = value is not None and np.isfinite(value) and (value > low if low_open else value >= low)
    if high is not None:
        ok = ok and value <= high
    if not ok:
        bound = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return float(value)


class Optimizer:
    """Base optimizer.

    Subclasses implement ``update(p, g, state)`` for one parameter; the base handles the
    (coupled, L2) weight decay g ← g + λW, the step counter, and per-parameter state.

    Parameters
    ----------
    lr : float
        η, the learning rate (a schedule may change it between steps).
    weight_decay : float
        λ of the L2 penalty added to the gradient, as PyTorch's ``weight_decay``.
    """

    name = "optimizer"

    def __init__(self, lr: float, weight_decay: float = 0.0):
        self.lr = _check_hyper("lr", lr, low_open=True)
        self.weight_decay = _check_hyper("weight_decay", weight_decay)
        self.iterations = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self._scratch: dict[str, np.ndarray] = {}

    # -- the step ---------------------------------------------------------------------
    def step(self, params: list[Param]) -> None:
        """Apply one update to every parameter, in place."""
        self.iterations += 1
        for p in params:
            self.update(p, self.gradient(p), self.state.setdefault(p.name, {}))

    def gradient(self, p: Param) -> np.ndarray:
        """g for this step: ∂C/∂W plus λW when weight decay is on (p.grad is left intact)."""
        if not self.weight_decay:
            return p.grad
        g = self.scratch(p, "g")
        np.multiply(p.value, self.weight_decay, out=g)
        g += p.grad
        return g

    def update(self, p: Param, g: np.ndarray, state: dict) -> None:
        raise NotImplementedError

    def scratch(self, p: Param, key: str) -> np.ndarray:
        """A reusable temporary buffer shaped like ``p`` (not part of the saved state)."""
        k = f"{p.name}:{key}"
        buf = self._scratch.get(k)
        if buf is None or buf.shape != p.value.shape or buf.dtype != p.value.dtype:
            buf = self._scratch[k] = np.empty_like(p.value)
        return buf

    # -- state ------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Hyperparameters that rebuild this optimizer: ``type(opt)(**opt.get_config())``."""
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat {"param_name/slot": array} plus "iterations", for saving."""
        out = {f"{pname}/{slot}": arr for pname, slots in self.state.items() for slot, arr in slots.items()}
        out["iterations"] = np.array(self.iterations, dtype=np.int64)
        return out

    def load_state_dict(self, flat: dict[str, np.ndarray]) -> None:
        self.state = {}
        for key, arr in flat.items():
            if key == "iterations":
                self.iterations = int(arr)
                continue
            pname, _, slot = key.rpartition("/")
            self.state.setdefault(pname, {})[slot] = np.array(arr)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@registry.register("sgd", "gd")
class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, in PyTorch's form.

    Without momentum: W ← W - η g.

    With momentum μ and dampening d (v starts as g on the first step)::

        v ← μ v + (1 - d) g
        W ← W - η v                     (nesterov=False)
        W ← W - η (g + μ v)             (nesterov=True)

    ``dampening = momentum`` gives the guide's exponential moving average
    v ← γ v + (1 - γ) g. Keras' momentum (v ← μv - ηg; W ← W + v) equals d = 0 for a
    constant η.
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.momentum = _check_hyper("momentum", momentum)
        self.dampening = _check_hyper("dampening", dampening)
        if nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov=True requires momentum > 0 and dampening = 0")
        self.nesterov = bool(nesterov)

    def update(self, p, g, state):
        if self.momentum:
            v = state.get("momentum_buffer")
            if v is None:
                v = state["momentum_buffer"] = g.copy()
            else:
                v *= self.momentum
                if self.dampening:
                    v += (1.0 - self.dampening) * g
                else:
                    v += g
            if self.nesterov:
                d = self.scratch(p, "d")
                np.multiply(v, self.momentum, out=d)
                d += g
                g = d
            else:
                g = v
        step = self.scratch(p, "step")
        np.multiply(g, self.lr, out=step)
        p.value -= step

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "dampening": self.dampening,
                "nesterov": self.nesterov}


def get(spec, **kwargs) -> Optimizer:
    """Return an optimizer from a name (``"sgd"``), a class or an instance."""
    return registry.get(spec, **kwargs)


def names() -> list[str]:
    return registry.names()
