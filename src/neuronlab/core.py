"""The building blocks every part stands on: Param, Layer, Registry and the library's errors.

Notation (the guide's): X is the input of a layer, one sample per row; W[i, j] is the
weight from neuron i of the previous layer to neuron j of this one; B the biases;
Z = XW + B the weighted sums; H = f(Z) the layer's output.
"""

from __future__ import annotations

import numpy as np

from .validation import Real, check

__all__ = ["Param", "Layer", "Registry", "NeuronlabError", "NonFiniteError", "DataError", "as_dtype", "check_number"]


class NeuronlabError(Exception):
    """Base class of the errors neuronlab raises beyond ValueError / TypeError."""


class NonFiniteError(NeuronlabError, FloatingPointError):
    """Training produced a NaN or infinite loss or gradient; the update was not applied."""


class DataError(NeuronlabError, ValueError):
    """A data file is missing, malformed, truncated or not what it claims to be."""


def check_number(name: str, value, *, low: float = 0.0, low_open: bool = False, high: float | None = None,
                 high_open: bool = False, owner: str | None = None) -> float:
    """Return ``value`` as a float after checking it is a finite real number within the bounds.

    Raises ValueError ``"<owner>: <name> must be a number >= low [and <= high], got <value>"``.
    """
    return check(owner, name, value, Real(low=low, low_open=low_open, high=high, high_open=high_open))


def as_dtype(dtype) -> np.dtype:
    """Return ``dtype`` as a NumPy float dtype, accepting only float32 and float64."""
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


class Param:
    """A trainable array and its gradient, allocated once.

    Attributes
    ----------
    value : ndarray
        The parameter (e.g. W of shape (fan_in, fan_out) or B of shape (fan_out,)).
    grad : ndarray
        ∂C/∂value from the last backward pass, same shape and dtype; written in place.
    name : str
        Unique within a model, e.g. ``"dense_1/W"``; optimizer state is keyed by it.
    """

    __slots__ = ("value", "grad", "name")

    def __init__(self, value: np.ndarray, name: str = ""):
        self.value = value
        self.grad = np.zeros_like(value)
        self.name = name

    def __repr__(self) -> str:
        return f"Param({self.name!r}, shape={self.value.shape}, dtype={self.value.dtype})"


class Layer:
    """Base layer: ``build`` once, then ``forward`` / ``backward`` on batches.

    Subclasses implement ``build(input_shape, rng, dtype) -> output_shape``, ``forward(X, training)``,
    ``backward(dH) -> dX`` (gradients of parameters written into ``Param.grad``) and
    ``predict(X)`` (the inference path: no caching, fresh arrays).
    """

    def __init__(self, name: str | None = None):
        self.name = name
        self.built = False
        self.input_shape: tuple[int, ...] | None = None   # per sample, without the batch axis
        self.output_shape: tuple[int, ...] | None = None
        self.needs_input_grad = True  # the model sets False on layers that need no ∂C/∂X
        self.rng: np.random.Generator | None = None
        self.dtype = np.dtype(np.float32)

    @property
    def input_dim(self) -> int | None:
        """Width of a 1-D input (``input_shape == (d,)``), else None."""
        return self.input_shape[0] if self.input_shape is not None and len(self.input_shape) == 1 else None

    @property
    def output_dim(self) -> int | None:
        """Last axis of the output (the number of neurons / classes)."""
        return self.output_shape[-1] if self.output_shape else None

    # -- lifecycle -------------------------------------------------------------------
    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> tuple:
        """Create parameters for inputs of ``input_shape`` (no batch axis); return the output shape."""
        self.input_shape = tuple(int(d) for d in input_shape)
        self.output_shape = self.input_shape
        self.rng = rng
        self.dtype = np.dtype(dtype)
        self.built = True
        return self.output_shape

    def param_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """Shapes of the trainable parameters ``build(input_shape)`` creates, by name (``{"W": (d, u)}``).

        The one source for ``build`` and the model-file loader, which checks a file's tensors
        against it before anything is allocated. Raises ValueError for an input the layer refuses.
        """
        return {}

    def buffer_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """Shapes of the non-trainable state ``build`` creates (see :meth:`buffers`), by name."""
        return {}

    def params(self) -> list[Param]:
        """The layer's trainable parameters, in ``get_weights`` order."""
        return []

    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trainable state saved with the model (e.g. BatchNorm's running statistics),
        keyed ``"<layer name>/<buffer>"``; the arrays are the layer's own (load writes into them)."""
        return {}

    # -- computation ------------------------------------------------------------------
    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dH: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.forward(X, training=False)

    # -- checks -----------------------------------------------------------------------
    def check_input(self, X: np.ndarray) -> None:
        """Raise ValueError naming this layer when X does not have its input shape."""
        if self.input_shape is not None and X.shape[1:] != self.input_shape:
            raise ValueError(
                f"layer {self.name!r}: expected input of shape (n, {', '.join(map(str, self.input_shape))}), "
                f"got shape {X.shape}"
            )

    def config(self) -> dict:
        """The JSON-able constructor arguments that rebuild this layer."""
        return {}

    @classmethod
    def from_config(cls, cfg: dict) -> Layer:
        """Rebuild an unbuilt layer from ``config()``."""
        return cls(**cfg)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class Registry:
    """Name → class table, so that strings in ``compile`` and the CLI find each piece.

    >>> reg = Registry("activation")
    >>> @reg.register("identity")
    ... class Identity: pass
    >>> reg.names()
    ['identity']
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, type] = {}

    def register(self, name: str, *aliases: str):
        def deco(cls):
            for key in (name, *aliases):
                self._items[key] = cls
            cls.name = name
            return cls

        return deco

    def names(self) -> list[str]:
        """Canonical names (aliases excluded), in registration order."""
        return list(dict.fromkeys(cls.name for cls in self._items.values()))

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def lookup(self, name: str) -> type:
        key = name.lower() if isinstance(name, str) else name
        if key not in self._items:
            raise ValueError(f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}")
        return self._items[key]

    def get(self, spec, **kwargs):
        """Return an instance from a name, a class, or an instance (returned as is)."""
        if isinstance(spec, str):
            return self.lookup(spec)(**kwargs)
        if isinstance(spec, type):
            return spec(**kwargs)
        if spec is None:
            raise ValueError(f"{self.kind} must be given; valid names: {', '.join(self.names())}")
        return spec
