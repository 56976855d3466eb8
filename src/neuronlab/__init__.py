"""neuronlab: the beginner's guide to neural networks, as fast, verified NumPy code.

>>> import neuronlab as nl
>>> model = nl.Sequential([nl.layers.Dense(8, activation="relu", input_dim=4),
...                        nl.layers.Dense(3, activation="softmax")], seed=0)
>>> model.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.1))
"""

from . import (
    activations,
    callbacks,
    data,
    datasets,
    demos,
    initializers,
    inspect,
    interop,
    layers,
    losses,
    metrics,
    optimizers,
    schedules,
)
from .core import DataError, Layer, NeuronlabError, NonFiniteError, Param
from .diagnostics import gradcheck
from .io import ModelFileError, save_model
from .model import History, Sequential
from .registration import register
from .saving import load_checkpoint, load_model
from .threads import set_threads
from .trace import trace  # the function; import the module's other names from neuronlab.trace

__version__ = "0.1.0"

__all__ = [
    "Sequential", "History", "Layer", "Param", "gradcheck", "trace",
    "NeuronlabError", "NonFiniteError", "DataError", "ModelFileError", "load_model", "load_checkpoint", "save_model",
    "activations", "callbacks", "datasets", "initializers", "layers", "losses", "optimizers", "inspect", "schedules",
    "demos", "threads", "set_threads", "interop", "metrics", "data", "register",
    "__version__",
]


def __getattr__(name):
    """``nl.tune`` (hyper-parameter sweeps) is imported on first use: it needs the runs package, loaded later."""
    if name == "tune":
        import importlib

        return importlib.import_module(f"{__name__}.tune")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
