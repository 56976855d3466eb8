"""What every layer file shares: the layer registry and reusable per-batch buffers."""

from __future__ import annotations

import numpy as np

from .. import activations as _act
from ..core import Registry

__all__ = ["registry", "Buffers", "WithActivation"]

registry = Registry("layer")


class Buffers:
    """Per-shape output buffers, so that the hot path allocates nothing after warm-up."""

    __slots__ = ("_bufs",)

    def __init__(self):
        self._bufs: dict[tuple, np.ndarray] = {}

    def get(self, shape, dtype) -> np.ndarray:
        key = (tuple(shape), np.dtype(dtype))
        buf = self._bufs.get(key)
        if buf is None:
            if len(self._bufs) > 4:  # a few sizes at most (full and last batch)
                self._bufs.clear()
            buf = self._bufs[key] = np.empty(shape, dtype=dtype)
        return buf


class WithActivation:
    """Mixin for layers ending in an activation f: f's name and arguments in ``config()``."""

    def activation_config(self) -> dict:
        cfg = {"activation": self.activation.name}
        if self.activation.config():
            cfg["activation_config"] = self.activation.config()
        return cfg

    @classmethod
    def from_config(cls, cfg: dict):
        cfg = dict(cfg)
        activation = _act.get(cfg.pop("activation", None), **cfg.pop("activation_config", {}))
        return cls(activation=activation, **cfg)
