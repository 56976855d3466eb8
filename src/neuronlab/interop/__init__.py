"""Leaving and entering neuronlab: ONNX export and PyTorch weight exchange.

    onnx.py    to_onnx(model, path): an ONNX graph (opset >= 17) that ONNX Runtime runs with
               the same outputs as ``model.predict``; one exporter per layer family
    torch.py   to_torch(model) -> torch.nn.Module and from_torch(module, input_shape) -> Sequential

Both optional dependencies (``pip install "neuronlab[onnx]"``, ``torch``) are imported inside
the functions, so ``import neuronlab`` never needs them.
"""

from ..core import NeuronlabError

__all__ = ["ExportError", "to_onnx", "to_torch", "from_torch"]


class ExportError(NeuronlabError, ValueError):
    """A model (or module) holds a layer that has no counterpart in the target format."""


def to_onnx(model, path, opset: int = 17):
    """Write ``model`` as an ONNX file; see :func:`neuronlab.interop.onnx.to_onnx`."""
    from .onnx import to_onnx as _to_onnx

    return _to_onnx(model, path, opset=opset)


def to_torch(model):
    """The same network as a ``torch.nn.Module``; see :func:`neuronlab.interop.torch.to_torch`."""
    from .torch import to_torch as _to_torch

    return _to_torch(model)


def from_torch(module, input_shape, seed=None, dtype=None):
    """A Sequential with the weights of a PyTorch module; see :func:`neuronlab.interop.torch.from_torch`."""
    from .torch import from_torch as _from_torch

    return _from_torch(module, input_shape, seed=seed, dtype=dtype)
