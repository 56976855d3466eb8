"""``@nl.register("name")``: file a user class under a name, so strings and saved models find it.

The class's base decides the registry: a :class:`~neuronlab.losses.Loss` goes to the losses,
an :class:`~neuronlab.activations.Activation` to the activations, a
:class:`~neuronlab.metrics.Metric` to the metrics, a :class:`~neuronlab.core.Layer` to the
layers and an :class:`~neuronlab.optimizers.Optimizer` to the optimizers. A model file names
its layers (and loss, metrics, activations, optimizer) by these names; loading it needs the
same registration to have run (import the module that defines the class first).
"""

from __future__ import annotations

from . import activations, losses, metrics, optimizers
from .core import Layer
from .layers import registry as _layer_registry

__all__ = ["register"]


def _registries():
    return ((losses.Loss, losses.registry), (activations.Activation, activations.registry),
            (metrics.Metric, metrics.registry), (Layer, _layer_registry), (optimizers.Optimizer, optimizers.registry))


def register(name: str, *aliases: str):
    """Class decorator: register a Loss, Activation, Metric, Layer or Optimizer subclass under ``name``.

    >>> import neuronlab as nl
    >>> @nl.register("cube")
    ... class Cube(nl.activations.Activation):
    ...     uses_Z = True
    ...     def forward(self, Z, out=None):
    ...         return np.power(Z, 3, out=Z if out is None else out)
    ...     def derivative(self, Z, H):
    ...         return 3 * Z * Z
    >>> nl.layers.Dense(4, "cube").activation.name
    'cube'
    """
    def deco(cls):
        for base, registry in _registries():
            if isinstance(cls, type) and issubclass(cls, base):
                return registry.register(name, *aliases)(cls)
        kinds = ", ".join(f"{b.__module__.replace('neuronlab', 'nl').replace('.core', '')}.{b.__name__}"
                          for b, _ in _registries())
        raise TypeError(f"register: {getattr(cls, '__name__', cls)!r} must be a class that subclasses one of "
                        f"{kinds}")

    return deco
