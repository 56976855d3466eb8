"""Weight initialisation: one variance-scaling core behind the guide's schemes (untruncated).

==================  =====================================================
name                W ~
==================  =====================================================
uniform             U(-1/√fan_in, +1/√fan_in)
xavier_normal       N(0, σ²),  σ = √(2 / (fan_in + fan_out))
xavier_uniform      U(-a, a),  a = √(6 / (fan_in + fan_out))
he_normal           N(0, σ²),  σ = √(2 / fan_in)
he_uniform          U(-a, a),  a = √(6 / fan_in)
zeros               0
==================  =====================================================

A normal with variance s has the same variance as U(±√(3s)); so each scheme is
``variance_scaling(scale, mode, distribution)`` with s = scale / fan.
"""

from __future__ import annotations

import math

import numpy as np

from .core import Registry
from .validation import Options, Real, validated

__all__ = ["Initializer", "VarianceScaling", "Uniform", "XavierNormal", "XavierUniform",
           "HeNormal", "HeUniform", "Zeros", "get", "names", "auto_for"]

registry = Registry("initializer")


class Initializer:
    """Base: ``init(shape, rng, dtype)`` returns a new array; shape is (fan_in, fan_out, ...)."""

    name = "initializer"

    def __call__(self, shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape``: (d_in, d_out) for Dense.

    Higher-rank kernels (kh, kw, c_in, c_out) multiply the receptive field into both fans.
    """
    if len(shape) < 2:
        return int(shape[0]), int(shape[0])
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return int(shape[-2]) * receptive, int(shape[-1]) * receptive


class VarianceScaling(Initializer):
    """W with Var(W) = scale / fan, fan = fan_in, fan_out or their mean ("fan_avg"); scale > 0."""

    @validated({"scale": Real(low=0, low_open=True), "mode": Options("fan_in", "fan_out", "fan_avg"),
                "distribution": Options("normal", "uniform")})
    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "normal"):
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def std(self, shape) -> float:
        fan_in, fan_out = fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        return math.sqrt(self.scale / fan)

    def __call__(self, shape, rng, dtype=np.float32):
        s = self.std(shape)
        if self.distribution == "normal":
            return rng.normal(0.0, s, size=shape).astype(dtype)
        a = math.sqrt(3.0) * s
        return rng.uniform(-a, a, size=shape).astype(dtype)


@registry.register("uniform")
class Uniform(VarianceScaling):
    """U(±1/√fan_in): Var = 1/(3 fan_in) (PyTorch's nn.Linear default range)."""

    def __init__(self):
        super().__init__(1.0 / 3.0, "fan_in", "uniform")


@registry.register("xavier_normal", "glorot_normal")
class XavierNormal(VarianceScaling):
    """N(0, 2/(fan_in + fan_out)) (Glorot & Bengio 2010)."""

    def __init__(self):
        super().__init__(1.0, "fan_avg", "normal")


@registry.register("xavier_uniform", "glorot_uniform")
class XavierUniform(VarianceScaling):
    """U(±√(6/(fan_in + fan_out)))."""

    def __init__(self):
        super().__init__(1.0, "fan_avg", "uniform")


@registry.register("he_normal", "kaiming_normal")
class HeNormal(VarianceScaling):
    """N(0, 2/fan_in) (He et al. 2015), for the ReLU family."""

    def __init__(self):
        super().__init__(2.0, "fan_in", "normal")


@registry.register("he_uniform", "kaiming_uniform")
class HeUniform(VarianceScaling):
    """U(±√(6/fan_in))."""

    def __init__(self):
        super().__init__(2.0, "fan_in", "uniform")


@registry.register("zeros")
class Zeros(Initializer):
    """All zeros (biases; never for W, whose neurons would then stay identical)."""

    def __call__(self, shape, rng, dtype=np.float32):
        return np.zeros(shape, dtype=dtype)


RELU_FAMILY = ("relu", "leaky_relu")


def auto_for(activation_name: str) -> Initializer:
    """``init="auto"``: He normal for the ReLU family, Xavier normal otherwise."""
    return HeNormal() if activation_name in RELU_FAMILY else XavierNormal()


def get(spec, **kwargs) -> Initializer:
    """Return an initializer from a name, a class or an instance."""
    return registry.get(spec, **kwargs)


def names() -> list[str]:
    return registry.names()
