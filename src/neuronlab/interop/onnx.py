"""ONNX export: ``to_onnx(model, path)`` writes a graph that ONNX Runtime runs like ``model.predict``.

The graph's input is what ``predict`` takes: float32 rows (n, d), NHWC images (n, h, w, c),
sequences (n, T, d), or int64 tokens (n, T) when the first layer is an Embedding; the batch
axis n is symbolic, and so is T when every layer works step by step (no Flatten). Its output
is what ``predict`` returns (probabilities after a softmax).

Each layer family has one exporter, registered by layer class in ``EXPORTERS``; each
activation has one, registered by activation class in ``ACTIVATIONS``. An exporter receives
the graph being built, the layer and the name of its input tensor, and returns the name of
its output tensor. Layout: the tensor stays NHWC (neuronlab's) until a convolution or pool
needs NCHW (ONNX's); the graph then transposes once and stays NCHW through the following
spatial layers, and transposes back only where the order of the last axis matters (Dense,
Flatten, the output). Weights are stored as float32 whatever the model's dtype.

>>> nl.interop.onnx.to_onnx(model, "model.onnx")                      # doctest: +SKIP
>>> import onnxruntime as ort                                         # doctest: +SKIP
>>> ort.InferenceSession("model.onnx").run(None, {"input": X})[0]    # == model.predict(X)
"""

from __future__ import annotations

import os

import numpy as np

from .. import activations as _act
from .. import layers as _layers
from ..io import _atomic_write
from ..layers.recurrent import LegacyFlattenTime
from ..validation import Integer, check
from . import ExportError

__all__ = ["to_onnx", "build_graph", "EXPORTERS", "ACTIVATIONS", "register", "register_activation",
           "MIN_OPSET", "INPUT", "OUTPUT"]

MIN_OPSET = 17
INPUT, OUTPUT = "input", "output"
EXPORTERS: dict[type, object] = {}     # layer class -> fn(graph, layer, x) -> y
ACTIVATIONS: dict[type, object] = {}   # activation class -> fn(graph, activation, x) -> y

_NHWC_TO_NCHW, _NCHW_TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def register(*layer_classes):
    """Decorator: ``fn(graph, layer, x) -> y`` exports layers of these classes (exact class match)."""
    def deco(fn):
        for cls in layer_classes:
            EXPORTERS[cls] = fn
        return fn
    return deco


def register_activation(*activation_classes):
    """Decorator: ``fn(graph, activation, x) -> y`` exports these activations."""
    def deco(fn):
        for cls in activation_classes:
            ACTIVATIONS[cls] = fn
        return fn
    return deco


class Graph:
    """The nodes and weights of the graph being built, and the layout of the current tensor.

    ``layout`` is "NHWC" or "NCHW" for 4-D image tensors (None otherwise); ``nchw(x)`` and
    ``nhwc(x)`` return x in that layout, adding a Transpose only when it is not already.
    """

    def __init__(self, onnx_module):
        self.onnx = onnx_module
        self.nodes: list = []
        self.weights: list = []
        self.layout: str | None = None
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value, dtype=np.float32) -> str:
        """A weight (initializer) named after ``hint``."""
        name = self.fresh(hint)
        self.weights.append(self.onnx.numpy_helper.from_array(np.array(value, dtype=dtype), name))
        return name

    def node(self, op: str, inputs, hint: str | None = None, n_out: int = 1, **attrs):
        """Add one node; return its output name (or names, when ``n_out`` > 1)."""
        outs = [self.fresh(hint or op.lower()) for _ in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), outs, name=self.fresh(f"node_{op}"),
                                                     **attrs))
        return outs[0] if n_out == 1 else outs

    def nchw(self, x: str) -> str:
        if self.layout == "NCHW":
            return x
        self.layout = "NCHW"
        return self.node("Transpose", [x], "nchw", perm=_NHWC_TO_NCHW)

    def nhwc(self, x: str) -> str:
        if self.layout != "NCHW":
            return x
        self.layout = "NHWC"
        return self.node("Transpose", [x], "nhwc", perm=_NCHW_TO_NHWC)

    def activation(self, act, x: str, where: str) -> str:
        fn = ACTIVATIONS.get(type(act))
        if fn is None:
            raise ExportError(f"to_onnx: activation {act.name!r} of layer {where!r} has no ONNX exporter "
                              f"(exportable: {', '.join(sorted(a.name for a in ACTIVATIONS))}); register one "
                              f"with neuronlab.interop.onnx.register_activation")
        return fn(self, act, x)


# -- activations ------------------------------------------------------------------------------------
@register_activation(_act.Linear)
def _linear(g, act, x):
    return x


@register_activation(_act.Sigmoid, _act.Tanh, _act.ReLU)
def _elementwise(g, act, x):
    return g.node({"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}[act.name], [x])


@register_activation(_act.LeakyReLU)
def _leaky_relu(g, act, x):
    return g.node("LeakyRelu", [x], alpha=float(act.alpha))


@register_activation(_act.Softmax)
def _softmax(g, act, x):
    return g.node("Softmax", [x], axis=-1)  # over the last axis, as neuronlab (opset >= 13)


@register_activation(_act.ELU)
def _elu(g, act, x):
    return g.node("Elu", [x], alpha=float(act.alpha))


@register_activation(_act.SELU)
def _selu(g, act, x):
    return g.node("Selu", [x], alpha=float(act.alpha), gamma=float(act.scale))


@register_activation(_act.Softplus)
def _softplus(g, act, x):
    return g.node("Softplus", [x])


@register_activation(_act.SiLU)
def _silu(g, act, x):
    """Z σ(Z)."""
    return g.node("Mul", [x, g.node("Sigmoid", [x])])


@register_activation(_act.GELU, _act.GELUTanh)
def _gelu(g, act, x):
    """Z Φ(Z), Φ(Z) = ½(1 + erf(Z/√2)), or ½(1 + tanh(√(2/π)(Z + 0.044715 Z³))) (opset 17 has no Gelu op)."""
    if act.approximate == "tanh":
        cube = g.node("Mul", [g.node("Mul", [x, x]), x])
        inner = g.node("Add", [x, g.node("Mul", [cube, g.const("gelu_c", act._C)])])
        t = g.node("Tanh", [g.node("Mul", [inner, g.const("gelu_k", act._K)])])
    else:
        t = g.node("Erf", [g.node("Mul", [x, g.const("inv_sqrt2", 1.0 / np.sqrt(2.0))])])
    phi = g.node("Mul", [g.node("Add", [t, g.const("one", 1.0)]), g.const("half", 0.5)])
    return g.node("Mul", [x, phi])


# -- layers -----------------------------------------------------------------------------------------
@register(_layers.Dense)
def _dense(g, layer, x):
    """Z = XW + B on the last axis (MatMul broadcasts over the leading axes), then f."""
    x = g.nhwc(x)
    z = g.node("MatMul", [x, g.const(f"{layer.name}/W", layer.W.value)])
    z = g.node("Add", [z, g.const(f"{layer.name}/B", layer.B.value)])
    return g.activation(layer.activation, z, layer.name)


@register(_layers.Dropout, LegacyFlattenTime)
def _identity(g, layer, x):
    """Dropout at inference (and the legacy flatten_time) pass X through."""
    return g.node("Identity", [x])


@register(_layers.Conv2D)
def _conv2d(g, layer, x):
    pt, pb, pl, pr = layer.pads
    z = g.node("Conv", [g.nchw(x), g.const(f"{layer.name}/W", _layers.kernel_to_torch(layer.W.value)),
                        g.const(f"{layer.name}/B", layer.B.value)],
               kernel_shape=list(layer.kernel_size), strides=list(layer.stride), pads=[pt, pl, pb, pr])
    return g.activation(layer.activation, z, layer.name)


@register(_layers.MaxPool2D, _layers.AvgPool2D)
def _pool2d(g, layer, x):
    op = "MaxPool" if isinstance(layer, _layers.MaxPool2D) else "AveragePool"
    return g.node(op, [g.nchw(x)], kernel_shape=list(layer.pool_size), strides=list(layer.stride))


@register(_layers.GlobalAvgPool2D)
def _global_avg_pool2d(g, layer, x):
    y = g.node("GlobalAveragePool", [g.nchw(x)])     # (n, c, 1, 1)
    g.layout = None
    return g.node("Flatten", [y], axis=1)


@register(_layers.Flatten)
def _flatten(g, layer, x):
    """C order of the NHWC sample (pixel by pixel, channels innermost), as neuronlab's Flatten."""
    y = g.node("Flatten", [g.nhwc(x)], axis=1)
    g.layout = None
    return y


@register(_layers.BatchNorm)
def _batchnorm(g, layer, x):
    """Inference: (X - running_mean) · γ/√(running_var + ε) + β per channel, then f."""
    scale = layer.gamma.value / np.sqrt(layer.running_var + layer.eps)
    shape = (-1, 1, 1) if g.layout == "NCHW" else (-1,)   # the channel axis, for broadcasting
    z = g.node("Sub", [x, g.const(f"{layer.name}/running_mean", layer.running_mean.reshape(shape))])
    z = g.node("Mul", [z, g.const(f"{layer.name}/scale", scale.reshape(shape))])
    z = g.node("Add", [z, g.const(f"{layer.name}/beta", layer.beta.value.reshape(shape))])
    return g.activation(layer.activation, z, layer.name)


@register(_layers.Embedding)
def _embedding(g, layer, x):
    if g.input_dtype != "int64" or x != INPUT:    # tokens that arrive as floats from an earlier layer
        x = g.node("Cast", [x], to=g.onnx.TensorProto.INT64)
    return g.node("Gather", [g.const(f"{layer.name}/E", layer.E.value), x], axis=0)


# ONNX's gate orders: LSTM (i, o, f, c), GRU (z, r, h); neuronlab's (and PyTorch's): (i, f, g, o), (r, z, n)
_GATES = {"simple_rnn": ("RNN", [0]), "lstm": ("LSTM", [0, 3, 1, 2]), "gru": ("GRU", [1, 0, 2])}
_RNN_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid"}


def _blocks(A, order, u):
    """The gate blocks of A's first axis (G·u, ...) rearranged into ``order``."""
    return np.concatenate([A[k * u:(k + 1) * u] for k in order])


@register(_layers.SimpleRNN, _layers.LSTM, _layers.GRU)
def _recurrent(g, layer, x):
    """ONNX's RNN/LSTM/GRU ops, time-major: W = Wᵀ and R = Uᵀ with the gates reordered, B = [Wb, Rb].

    ONNX adds Wb and Rb; neuronlab keeps one B (PyTorch's bias_ih + bias_hh), so Wb = B, Rb = 0 —
    except GRU's n block, whose recurrent bias Bhn sits inside R ⊙ (·): Rb_h = Bhn with
    ``linear_before_reset=1`` (PyTorch's GRU).
    """
    op, order = _GATES[type(layer).name]
    u = layer.units
    W = _blocks(layer.W.value.T, order, u)[None]
    R = _blocks(layer.U.value.T, order, u)[None]
    Rb = np.zeros(len(order) * u)
    attrs = {"hidden_size": u}
    if op == "RNN":
        name = layer.activation.name
        if name == "leaky_relu":
            attrs.update(activations=["LeakyRelu"], activation_alpha=[float(layer.activation.alpha)])
        elif name in _RNN_ACTIVATIONS:
            attrs["activations"] = [_RNN_ACTIVATIONS[name]]
        else:
            return _simple_rnn_unrolled(g, layer, x)
    if op == "GRU":
        Rb[2 * u:] = layer.Bhn.value
        attrs["linear_before_reset"] = 1
    B = np.concatenate([_blocks(layer.B.value, order, u), Rb])[None]
    xt = g.node("Transpose", [x], "time_major", perm=[1, 0, 2])                 # (T, n, d)
    inputs = [xt, g.const(f"{layer.name}/W", W), g.const(f"{layer.name}/R", R), g.const(f"{layer.name}/B", B)]
    Y, Y_h = g.node(op, inputs, layer.name.replace("/", "_"), n_out=2, **attrs)  # (T, 1, n, u), (1, n, u)
    if not layer.return_sequences:
        return g.node("Squeeze", [Y_h, g.const("axis0", [0], np.int64)])
    y = g.node("Squeeze", [Y, g.const("axis1", [1], np.int64)])
    return g.node("Transpose", [y], "batch_major", perm=[1, 0, 2])


def _simple_rnn_unrolled(g, layer, x):
    """H_t = f(X_t W + H_{t-1} U + B), one step after another (T is fixed by the input shape).

    For the activations ONNX's RNN op does not have (linear, elu, softplus, ...): each step
    reuses the activation's own exporter.
    """
    A = g.node("Add", [g.node("MatMul", [x, g.const(f"{layer.name}/W", layer.W.value)]),
                       g.const(f"{layer.name}/B", layer.B.value)])               # X_t W + B, every step
    U, h, steps = g.const(f"{layer.name}/U", layer.U.value), None, []
    for t in range(layer.input_shape[0]):
        z = g.node("Gather", [A, g.const("step", t, np.int64)], axis=1)          # (n, u)
        if h is not None:
            z = g.node("Add", [z, g.node("MatMul", [h, U])])
        h = g.activation(layer.activation, z, layer.name)
        if layer.return_sequences:
            steps.append(g.node("Unsqueeze", [h, g.const("axis1", [1], np.int64)]))
    return g.node("Concat", steps, axis=1) if layer.return_sequences else g.node("Identity", [h])


# -- the model --------------------------------------------------------------------------------------
def _exporters(model) -> list:
    """Every layer's exporter, or one ExportError naming the first layer without one."""
    if not model.built:
        raise ExportError("to_onnx: the model is not built yet (give the first layer its input shape, or call "
                          "fit/predict/build)")
    found = []
    for i, layer in enumerate(model.layers):
        fn = EXPORTERS.get(type(layer))
        if fn is None:
            names = sorted(getattr(cls, "name", cls.__name__) for cls in EXPORTERS)
            raise ExportError(f"to_onnx: layer {i} {layer.name!r} ({type(layer).__name__}) has no ONNX exporter; "
                              f"exportable layers: {', '.join(names)} (add one with "
                              f"neuronlab.interop.onnx.register)")
        found.append(fn)
    return found


def _free_time_axis(model) -> bool:
    """Whether the graph may take any sequence length T, as ``predict`` does.

    True for a model that starts with an Embedding or a recurrent layer and holds only layers
    that work on every step alike (no Flatten, no SimpleRNN unrolled over a fixed T).
    """
    first, steps = model.layers[0], (_layers.Embedding, _layers.LSTM, _layers.GRU, _layers.SimpleRNN)
    if not isinstance(first, steps):
        return False
    for layer in model.layers:
        if isinstance(layer, _layers.SimpleRNN) and layer.activation.name not in (*_RNN_ACTIVATIONS, "leaky_relu"):
            return False
        if not isinstance(layer, (*steps, _layers.Dense, _layers.Dropout, LegacyFlattenTime)):
            return False
    return True


def _io_shapes(model) -> tuple[list, list]:
    """The declared input and output shapes: batch axis "n", and "T" for a free time axis."""
    inp, out = ["n", *model.input_shape], ["n", *model.layers[-1].output_shape]
    if _free_time_axis(model):
        inp[1] = "T"
        if len(out) == 3:   # (n, T, k): one output per step
            out[1] = "T"
    return inp, out


def build_graph(model, opset: int = MIN_OPSET):
    """The ``onnx.ModelProto`` of ``model`` (checked by ``onnx.checker``), without writing it."""
    try:
        import onnx
    except ImportError as e:  # an optional dependency
        raise ImportError('to_onnx needs the onnx package: pip install "neuronlab[onnx]"', name="onnx") from e
    opset = check("to_onnx", "opset", opset, Integer(low=MIN_OPSET, high=onnx.defs.onnx_opset_version()))
    exporters = _exporters(model)
    g = Graph(onnx)
    tokens = isinstance(model.layers[0], _layers.Embedding)
    g.input_dtype = "int64" if tokens else "float32"
    g.layout = "NHWC" if len(model.input_shape) == 3 else None
    x = INPUT
    for fn, layer in zip(exporters, model.layers, strict=True):
        x = fn(g, layer, x)
        if g.layout is not None and len(layer.output_shape) != 3:
            g.layout = None    # no longer an image
        elif g.layout is None and len(layer.output_shape) == 3:
            g.layout = "NHWC"  # an image again (e.g. a Dense on NHWC pixels)
    g.nodes.append(onnx.helper.make_node("Identity", [g.nhwc(x)], [OUTPUT], name="output"))
    elem = onnx.TensorProto.INT64 if tokens else onnx.TensorProto.FLOAT
    inp, out = _io_shapes(model)
    graph = onnx.helper.make_graph(g.nodes, "neuronlab", [onnx.helper.make_tensor_value_info(INPUT, elem, inp)],
                                   [onnx.helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, out)],
                                   g.weights)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   producer_name="neuronlab")
    proto.ir_version = min(proto.ir_version, 10)  # readable by ONNX Runtime releases of the last years
    onnx.checker.check_model(proto, full_check=True)
    return proto


def to_onnx(model, path, opset: int = MIN_OPSET) -> str:
    """Write ``model`` as an ONNX file at ``path`` (atomically); return the path.

    ``onnxruntime.InferenceSession(path).run(None, {"input": X})[0]`` equals ``model.predict(X)``
    (within float32 rounding). Raises :class:`~neuronlab.interop.ExportError` naming the first
    layer (or activation) without an exporter, before anything is written.
    """
    proto = build_graph(model, opset)
    _atomic_write(path, proto.SerializeToString())
    return os.fspath(path)

