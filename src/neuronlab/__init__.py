"""neuronlab: the beginner's guide to neural networks, as fast, verified NumPy code.

>>> import neuronlab as nl
>>> model = nl.Sequential([nl.layers.Dense(8, activation="relu", input_dim=4),
...                        nl.layers.Dense(3, activation="softmax")], seed=0)
>>> model.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.1))
"""

from . import (
    activations,
    callbacks,
    datasets,
    demos,
    initializers,
    inspect,
    interop,
    layers,
    losses,
    optimizers,
    schedules,
)
from .core import DataError, Layer, NeuronlabError, NonFiniteError, Param
from .diagnostics import gradcheck
from .io import ModelFileError, save_model
from .model import History, Sequential
from .saving import load_checkpoint, load_model
from .threads import set_threads
from .trace import trace  # the function; import the module's other names from neuronlab.trace

__version__ = "0.1.0"

__all__ = [
    "Sequential", "History", "Layer", "Param", "gradcheck", "trace",
    "NeuronlabError", "NonFiniteError", "DataError", "ModelFileError", "load_model", "load_checkpoint", "save_model",
    "activations", "callbacks", "datasets", "initializers", "layers", "losses", "optimizers", "inspect", "schedules",
    "demos", "threads", "set_threads", "interop",
    "__version__",
]
