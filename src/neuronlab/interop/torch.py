"""PyTorch weight exchange: ``to_torch(model) -> torch.nn.Module``, ``from_torch(module, input_shape)``.

The PyTorch side is what a PyTorch user writes: images NCHW (``Conv2d`` weight (c_out, c_in,
kh, kw)), ``nn.Linear.weight`` = Wᵀ, ``batch_first=True`` recurrent layers. Where the two
layouts meet the weights move, not the data:

- **Flatten.** neuronlab flattens an NHWC image pixel by pixel (channels innermost), PyTorch
  flattens NCHW channel by channel. Feature j of PyTorch's flat vector is feature π(j) of
  neuronlab's, with π = arange(h·w·c).reshape(h, w, c).transpose(2, 0, 1).ravel(); so the
  Dense after a Flatten becomes ``Linear.weight = W[π].T`` (and a BatchNorm1d between them is
  permuted the same way). A Flatten whose features reach no Dense becomes
  ``ChannelsLastFlatten`` (permute to NHWC, then flatten).
- **Recurrent layers** become ``RecurrentOutput(nn.RNN/LSTM/GRU(batch_first=True),
  return_sequences)``, which returns the output sequence or its last step (PyTorch's modules
  return a tuple). Weights as in the README: ``weight_ih_l0 = W.T``, ``weight_hh_l0 = U.T``,
  ``bias_ih_l0 = B``, ``bias_hh_l0 = 0`` (GRU: ``bias_hh_l0[2u:] = Bhn``).
- **Activations** are separate modules after ``Linear`` / ``Conv2d`` / ``BatchNorm``; ``from_torch``
  folds each one back into the layer before it.

The torch module is returned in evaluation mode (``train(False)``) and in the model's dtype. torch is imported
inside the functions: neuronlab does not depend on it.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

from .. import activations as _act
from .. import layers as _layers
from ..layers.recurrent import LegacyFlattenTime
from . import ExportError

__all__ = ["to_torch", "from_torch", "torch_classes", "TO_TORCH", "flatten_permutation"]

TO_TORCH: dict[type, object] = {}   # layer class -> fn(ctx, layer, index) -> [torch modules]


def _torch():
    try:
        import torch
    except ImportError as e:  # an optional dependency
        raise ImportError("PyTorch exchange needs torch: pip install torch", name="torch") from e
    return torch


@functools.cache
def torch_classes() -> SimpleNamespace:
    """The two small ``nn.Module`` classes the exchange adds: ``RecurrentOutput``, ``ChannelsLastFlatten``."""
    nn = _torch().nn

    class RecurrentOutput(nn.Module):
        """``nn.RNN/LSTM/GRU(batch_first=True)`` in an ``nn.Sequential``: the outputs (n, T, u) or the last (n, u)."""

        def __init__(self, rnn, return_sequences: bool = False):
            super().__init__()
            self.rnn, self.return_sequences = rnn, bool(return_sequences)

        def forward(self, x):
            y = self.rnn(x)[0]
            return y if self.return_sequences else y[:, -1]

        def extra_repr(self):
            return f"return_sequences={self.return_sequences}"

    class ChannelsLastFlatten(nn.Module):
        """Flatten NCHW activations in neuronlab's NHWC order: ``x.permute(0, 2, 3, 1).flatten(1)``."""

        def forward(self, x):
            return x.permute(0, 2, 3, 1).flatten(1)

    return SimpleNamespace(RecurrentOutput=RecurrentOutput, ChannelsLastFlatten=ChannelsLastFlatten)


def flatten_permutation(h: int, w: int, c: int) -> np.ndarray:
    """π: PyTorch's flat feature j (NCHW order) is neuronlab's flat feature π[j] (NHWC order)."""
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).ravel()


# -- neuronlab -> torch -----------------------------------------------------------------------------
def _register(*classes):
    def deco(fn):
        for cls in classes:
            TO_TORCH[cls] = fn
        return fn
    return deco


class _ToTorch:
    """What the converters share: torch, the dtype, and the Flatten permutation not yet consumed."""

    def __init__(self, model):
        self.torch = _torch()
        self.nn = self.torch.nn
        self.dtype = self.torch.float64 if model.dtype == np.float64 else self.torch.float32
        self.layers = model.layers
        self.perm: np.ndarray | None = None

    def tensor(self, a):
        return self.torch.tensor(np.ascontiguousarray(a), dtype=self.dtype)

    def fill(self, module, **arrays):
        """Copy arrays into the module's parameters/buffers by name, in the model's dtype; return the module."""
        module.to(self.dtype)   # first: copying float64 into a float32 parameter would round it
        with self.torch.no_grad():
            for name, a in arrays.items():
                getattr(module, name).copy_(self.tensor(a))
        return module

    def activation(self, act, where) -> list:
        nn = self.nn
        modules = {_act.Linear: [], _act.Sigmoid: [nn.Sigmoid()], _act.Tanh: [nn.Tanh()], _act.ReLU: [nn.ReLU()],
                   _act.Softmax: [nn.Softmax(dim=-1)], _act.SELU: [nn.SELU()], _act.SiLU: [nn.SiLU()],
                   _act.Softplus: [nn.Softplus()], _act.GELUTanh: [nn.GELU(approximate="tanh")]}
        if isinstance(act, _act.LeakyReLU):
            return [nn.LeakyReLU(act.alpha)]
        if isinstance(act, _act.ELU):
            return [nn.ELU(act.alpha)]
        if type(act) is _act.GELU:
            return [nn.GELU(approximate=act.approximate)]
        if type(act) not in modules:
            raise ExportError(f"to_torch: activation {act.name!r} of layer {where!r} has no PyTorch module here "
                              f"(linear, sigmoid, tanh, relu, leaky_relu, softmax, elu, selu, gelu, gelu_tanh, silu, "
                              f"softplus)")
        return modules[type(act)]

    def take_perm(self, n: int) -> np.ndarray:
        """The pending Flatten permutation (identity when there is none)."""
        return np.arange(n) if self.perm is None else self.perm


@_register(_layers.Dense)
def _dense_to(ctx, layer, i):
    if len(layer.input_shape) == 3:
        raise ExportError(f"to_torch: layer {layer.name!r}: a Dense on NHWC images works on the channel axis, "
                          f"which is not the last axis in PyTorch's NCHW; add a Flatten before it")
    d, u = layer.W.value.shape
    rows = ctx.take_perm(d)
    ctx.perm = None
    lin = ctx.fill(ctx.nn.Linear(d, u), weight=layer.W.value[rows].T, bias=layer.B.value)
    return [lin, *ctx.activation(layer.activation, layer.name)]


@_register(_layers.Dropout)
def _dropout_to(ctx, layer, i):
    return [ctx.nn.Dropout(layer.rate)]


@_register(LegacyFlattenTime)
def _identity_to(ctx, layer, i):
    return [ctx.nn.Identity()]


@_register(_layers.Conv2D)
def _conv_to(ctx, layer, i):
    pt, pb, pl, pr = layer.pads
    (kh, kw), c, f = layer.kernel_size, layer.W.value.shape[2], layer.filters
    out = []
    if layer.padding == "same" and layer.stride == (1, 1):
        padding = "same"   # PyTorch puts the odd extra row/column at the bottom/right, as neuronlab
    elif pt == pb and pl == pr:
        padding = (pt, pl)
    else:  # "same" with stride > 1 may pad one more row at the bottom than at the top
        out.append(ctx.nn.ZeroPad2d((pl, pr, pt, pb)))
        padding = 0
    conv = ctx.nn.Conv2d(c, f, (kh, kw), stride=layer.stride, padding=padding)
    out.append(ctx.fill(conv, weight=_layers.kernel_to_torch(layer.W.value), bias=layer.B.value))
    return out + ctx.activation(layer.activation, layer.name)


@_register(_layers.MaxPool2D, _layers.AvgPool2D)
def _pool_to(ctx, layer, i):
    cls = ctx.nn.MaxPool2d if isinstance(layer, _layers.MaxPool2D) else ctx.nn.AvgPool2d
    return [cls(layer.pool_size, stride=layer.stride)]


@_register(_layers.GlobalAvgPool2D)
def _gap_to(ctx, layer, i):
    return [ctx.nn.AdaptiveAvgPool2d(1), ctx.nn.Flatten()]


def _dense_follows(layers, i) -> bool:
    """Whether the features flattened by layer i reach a Dense through feature-wise layers only."""
    for later in layers[i + 1:]:
        if isinstance(later, _layers.Dense):
            return True
        if not isinstance(later, (_layers.Dropout, _layers.BatchNorm, _layers.Flatten)):
            return False
    return False


@_register(_layers.Flatten)
def _flatten_to(ctx, layer, i):
    if len(layer.input_shape) != 3:
        return [ctx.nn.Flatten()]   # rows or (T, d) sequences: the same order in both libraries
    if not _dense_follows(ctx.layers, i):
        return [torch_classes().ChannelsLastFlatten()]
    ctx.perm = flatten_permutation(*layer.input_shape)
    return [ctx.nn.Flatten()]


@_register(_layers.BatchNorm)
def _batchnorm_to(ctx, layer, i):
    c = layer.gamma.value.shape[0]
    image = len(layer.input_shape) == 3
    bn = (ctx.nn.BatchNorm2d if image else ctx.nn.BatchNorm1d)(c, eps=layer.eps, momentum=layer.momentum)
    p = ctx.take_perm(c)   # a BatchNorm1d between Flatten and Dense sees PyTorch's feature order
    ctx.fill(bn, weight=layer.gamma.value[p], bias=layer.beta.value[p], running_mean=layer.running_mean[p],
             running_var=layer.running_var[p])
    return [bn, *ctx.activation(layer.activation, layer.name)]


@_register(_layers.Embedding)
def _embedding_to(ctx, layer, i):
    return [ctx.fill(ctx.nn.Embedding(layer.vocab, layer.dim), weight=layer.E.value)]


@_register(_layers.SimpleRNN, _layers.LSTM, _layers.GRU)
def _recurrent_to(ctx, layer, i):
    nn = ctx.nn
    d, u = layer.W.value.shape[0], layer.units
    if isinstance(layer, _layers.SimpleRNN):
        if layer.activation.name not in ("tanh", "relu"):
            raise ExportError(f"to_torch: layer {layer.name!r}: torch.nn.RNN has only tanh and relu, not "
                              f"{layer.activation.name!r}")
        rnn = nn.RNN(d, u, nonlinearity=layer.activation.name, batch_first=True)
    else:
        rnn = (nn.LSTM if isinstance(layer, _layers.LSTM) else nn.GRU)(d, u, batch_first=True)
    bias_hh = np.zeros_like(layer.B.value)
    if isinstance(layer, _layers.GRU):
        bias_hh[2 * u:] = layer.Bhn.value
    ctx.fill(rnn, weight_ih_l0=layer.W.value.T, weight_hh_l0=layer.U.value.T, bias_ih_l0=layer.B.value,
             bias_hh_l0=bias_hh)
    return [torch_classes().RecurrentOutput(rnn, layer.return_sequences)]


def to_torch(model):
    """The same network as a ``torch.nn.Sequential`` (NCHW images), in eval mode and the model's dtype.

    ``module(torch.tensor(to_nchw(X)))`` equals ``model.predict(X)`` for images, and
    ``module(torch.tensor(X))`` otherwise (long tensors for an Embedding's tokens).
    Raises :class:`~neuronlab.interop.ExportError` naming the first layer without a counterpart.
    """
    if not model.built:
        raise ExportError("to_torch: the model is not built yet (give the first layer its input shape, or call "
                          "fit/predict/build)")
    ctx = _ToTorch(model)
    modules = []
    for i, layer in enumerate(model.layers):
        fn = TO_TORCH.get(type(layer))
        if fn is None:
            raise ExportError(f"to_torch: layer {i} {layer.name!r} ({type(layer).__name__}) has no PyTorch "
                              f"counterpart; convertible: {', '.join(sorted(c.name for c in TO_TORCH))}")
        modules += fn(ctx, layer, i)
    return ctx.nn.Sequential(*modules).to(ctx.dtype).train(False)  # evaluation mode


# -- torch -> neuronlab -----------------------------------------------------------------------------
def _flat_modules(module) -> list:
    """The leaf modules of (nested) ``nn.Sequential`` containers, in order; nn.Identity dropped."""
    nn = _torch().nn
    if isinstance(module, nn.Sequential):
        return [m for child in module for m in _flat_modules(child)]
    return [] if isinstance(module, nn.Identity) else [module]


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


class _FromTorch:
    """The walk over the modules: neuronlab layers, the weights to copy once built, and the state."""

    def __init__(self, modules, rank: int):
        self.modules, self.pos = modules, 0
        self.layers: list = []
        self.setters: list = []       # fn() that copies weights into a built layer
        self.rank = rank              # axes of one sample (3: an NCHW image)
        self.image_shape = None       # (h, w, c) of the images, when known
        self.flatten = None           # the Flatten of images whose order the next Linear must undo

    def fail(self, module, why: str):
        raise ExportError(f"from_torch: module {self.pos} ({type(module).__name__}) {why}")

    def activation(self):
        """The activation module right after the current one, consumed (None when there is none)."""
        nn = _torch().nn
        nxt = self.modules[self.pos + 1] if self.pos + 1 < len(self.modules) else None
        simple = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.SELU: "selu", nn.SiLU: "silu"}
        if type(nxt) in simple:
            act = simple[type(nxt)]
        elif isinstance(nxt, nn.LeakyReLU):
            act = _act.LeakyReLU(nxt.negative_slope)
        elif isinstance(nxt, nn.ELU):
            act = _act.ELU(nxt.alpha)
        elif isinstance(nxt, nn.GELU):
            act = "gelu_tanh" if nxt.approximate == "tanh" else "gelu"
        elif isinstance(nxt, nn.Softplus) and nxt.beta == 1:
            act = "softplus"   # (PyTorch returns Z itself above threshold=20, where log(1 + e^Z) - Z < 3e-9)
        elif isinstance(nxt, nn.Softmax) and nxt.dim in (-1, self.rank):
            act = "softmax"
        else:
            return None
        self.pos += 1
        return act

    def add(self, layer, setter=None):
        self.layers.append(layer)
        if setter is not None:
            self.setters.append(setter)


def _copy(param, array, flatten=None):
    """Write ``array`` into a neuronlab Param or buffer, checking the shape; rows (the first axis)
    reordered from PyTorch's flatten order when ``flatten`` is the Flatten they come from."""
    target = param.value if hasattr(param, "value") else param
    if target.shape != array.shape:
        what = getattr(param, "name", None) or "a BatchNorm statistic"
        raise ExportError(f"from_torch: {what}: the module gives shape {array.shape} where the layer has "
                          f"{target.shape}; does input_shape match what the module takes?")
    target[...] = array if flatten is None else array[_nhwc_order(flatten, len(array))]


def _nhwc_order(flatten, n: int) -> np.ndarray:
    """Indices that put n features in PyTorch's NCHW flatten order into neuronlab's NHWC order.

    Called once the model is built, when ``flatten`` (or None: no reordering) knows its input.
    """
    return np.arange(n) if flatten is None else np.argsort(flatten_permutation(*flatten.input_shape))


def _linear_from(st, m):
    act = st.activation()
    W = _np(m.weight).T
    b = _np(m.bias) if m.bias is not None else np.zeros(W.shape[1])
    layer, flat = _layers.Dense(m.out_features, act), st.flatten
    st.flatten = None
    st.add(layer, lambda: (_copy(layer.W, W, flat), _copy(layer.B, b)))


def _conv_from(st, m, pad=None):
    if m.groups != 1 or tuple(m.dilation) != (1, 1) or m.padding_mode != "zeros":
        st.fail(m, "uses groups, dilation or a padding mode other than zeros, which Conv2D does not have")
    if pad is not None:   # a ZeroPad2d (left, right, top, bottom) right before the convolution
        if any(m.padding) if not isinstance(m.padding, str) else m.padding != "valid":
            st.fail(m, "is padded twice (ZeroPad2d and its own padding)")
        padding = _padding_from_pads(pad)
    elif isinstance(m.padding, str):
        padding = m.padding
    else:
        padding = "valid" if tuple(m.padding) == (0, 0) else tuple(int(p) for p in m.padding)
    act = st.activation()
    W, b = _layers.kernel_from_torch(_np(m.weight)), _np(m.bias) if m.bias is not None else np.zeros(m.out_channels)
    layer, where = _layers.Conv2D(m.out_channels, tuple(m.kernel_size), stride=tuple(m.stride), padding=padding,
                                  activation=act), st.pos

    def setter():
        if pad is not None and layer.padding == "same" and layer.pads != (pad[2], pad[3], pad[0], pad[1]):
            raise ExportError(f"from_torch: module {where - 1} (ZeroPad2d) pads {pad} (left, right, top, bottom) "
                              f"unevenly, which is not Conv2D's padding='same' {layer.pads} (top, bottom, left, "
                              f"right) for this input")
        _copy(layer.W, W), _copy(layer.B, b)

    st.add(layer, setter)


def _padding_from_pads(pad):
    """Conv2D's padding for a ZeroPad2d (left, right, top, bottom): even pads, else "same" (checked once built)."""
    left, right, top, bottom = pad
    return (top, left) if top == bottom and left == right else "same"


def _batchnorm_from(st, m):
    if not m.track_running_stats or m.momentum is None:
        st.fail(m, "needs running statistics and a momentum (BatchNorm's inference uses them)")
    c = m.num_features
    gamma = _np(m.weight) if m.affine else np.ones(c)
    beta = _np(m.bias) if m.affine else np.zeros(c)
    mean, var = _np(m.running_mean), _np(m.running_var)
    layer, flat = _layers.BatchNorm(momentum=m.momentum, eps=m.eps, activation=st.activation()), st.flatten

    def setter():  # a BatchNorm1d between Flatten and Linear sees PyTorch's order
        _copy(layer.gamma, gamma, flat), _copy(layer.beta, beta, flat)
        _copy(layer.running_mean, mean, flat), _copy(layer.running_var, var, flat)

    st.add(layer, setter)


def _recurrent_from(st, m, return_sequences):
    nn = _torch().nn
    rnn = m
    if rnn.num_layers != 1 or rnn.bidirectional or not rnn.batch_first or getattr(rnn, "proj_size", 0):
        st.fail(m, "must be one layer, one direction, batch_first=True and without projection")
    u = rnn.hidden_size
    Wt, Ut = _np(rnn.weight_ih_l0).T, _np(rnn.weight_hh_l0).T
    b_ih = _np(rnn.bias_ih_l0) if rnn.bias else np.zeros(Wt.shape[1])
    b_hh = _np(rnn.bias_hh_l0) if rnn.bias else np.zeros(Wt.shape[1])
    if isinstance(rnn, nn.GRU):
        layer = _layers.GRU(u, return_sequences=return_sequences)
        B = b_ih.copy()
        B[:2 * u] += b_hh[:2 * u]
        Bhn = b_hh[2 * u:]
        st.add(layer, lambda: (_copy(layer.W, Wt), _copy(layer.U, Ut), _copy(layer.B, B), _copy(layer.Bhn, Bhn)))
    else:
        if isinstance(rnn, nn.LSTM):
            layer = _layers.LSTM(u, return_sequences=return_sequences)
        else:
            layer = _layers.SimpleRNN(u, activation=rnn.nonlinearity, return_sequences=return_sequences)
        B = b_ih + b_hh
        st.add(layer, lambda: (_copy(layer.W, Wt), _copy(layer.U, Ut), _copy(layer.B, B)))
    st.rank = 2 if return_sequences else 1


def _step(st, m) -> None:
    """Turn module ``m`` (at ``st.pos``) into neuronlab layers; the walk's one dispatch."""
    nn = _torch().nn
    cls = torch_classes()
    if isinstance(m, nn.Linear):
        _linear_from(st, m)
    elif isinstance(m, nn.ZeroPad2d):
        nxt = st.modules[st.pos + 1] if st.pos + 1 < len(st.modules) else None
        if not isinstance(nxt, nn.Conv2d):
            st.fail(m, "is supported only right before a Conv2d")
        st.pos += 1
        _conv_from(st, nxt, pad=tuple(m.padding))
    elif isinstance(m, nn.Conv2d):
        _conv_from(st, m)
    elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        pad, ceil = m.padding, m.ceil_mode
        if (pad if isinstance(pad, int) else any(pad)) or ceil or getattr(m, "dilation", 1) not in (1, (1, 1)):
            st.fail(m, "uses padding, dilation or ceil_mode, which the pools do not have")
        cls2 = _layers.MaxPool2D if isinstance(m, nn.MaxPool2d) else _layers.AvgPool2D
        st.add(cls2(m.kernel_size, stride=m.stride))
    elif isinstance(m, nn.AdaptiveAvgPool2d):
        nxt = st.modules[st.pos + 1] if st.pos + 1 < len(st.modules) else None
        if m.output_size not in (1, (1, 1)) or not isinstance(nxt, nn.Flatten):
            st.fail(m, "is supported only as AdaptiveAvgPool2d(1) followed by Flatten (GlobalAvgPool2D)")
        st.pos += 1
        st.add(_layers.GlobalAvgPool2D())
        st.rank = 1
    elif isinstance(m, cls.ChannelsLastFlatten):
        st.add(_layers.Flatten())
        st.rank = 1
    elif isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            st.fail(m, "must flatten from axis 1 to the end")
        layer = _layers.Flatten()
        if st.rank == 3:
            st.flatten = layer
        st.add(layer)
        st.rank = 1
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        _batchnorm_from(st, m)
    elif isinstance(m, nn.Dropout):
        st.add(_layers.Dropout(m.p))
    elif isinstance(m, nn.Embedding):
        if m.max_norm is not None:
            st.fail(m, "uses max_norm, which Embedding does not have")
        E = _np(m.weight)
        layer = _layers.Embedding(m.num_embeddings, m.embedding_dim)
        st.add(layer, lambda: _copy(layer.E, E))
        st.rank += 1
    elif isinstance(m, cls.RecurrentOutput):
        _recurrent_from(st, m.rnn, m.return_sequences)
    elif isinstance(m, (nn.RNN, nn.LSTM, nn.GRU)):
        st.fail(m, "returns a tuple; wrap it as neuronlab.interop.torch.torch_classes().RecurrentOutput(rnn, "
                   "return_sequences)")
    elif isinstance(m, (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.Softmax, nn.ELU, nn.SELU, nn.GELU, nn.SiLU,
                        nn.Softplus)):
        st.fail(m, "does not follow a Linear, Conv2d or BatchNorm; neuronlab applies activations inside those "
                   "layers")
    else:
        st.fail(m, "has no neuronlab counterpart (Linear, Conv2d, ZeroPad2d, MaxPool2d, AvgPool2d, "
                   "AdaptiveAvgPool2d(1)+Flatten, Flatten, BatchNorm1d/2d, Dropout, Embedding, RecurrentOutput, "
                   "activations)")


def from_torch(module, input_shape, seed: int | None = None, dtype=None):
    """A built :class:`~neuronlab.Sequential` computing what ``module`` computes, with its weights.

    Parameters
    ----------
    module : torch.nn.Module
        An ``nn.Sequential`` (nested ones are flattened) or one module, of the kinds
        :func:`to_torch` produces: Linear, Conv2d (ZeroPad2d before it), MaxPool2d, AvgPool2d,
        AdaptiveAvgPool2d(1)+Flatten, Flatten, BatchNorm1d/2d, Dropout, Embedding,
        ``RecurrentOutput(nn.RNN/LSTM/GRU(batch_first=True))``, each activation right after the
        Linear/Conv2d/BatchNorm it belongs to.
    input_shape : tuple
        One sample as PyTorch sees it, without the batch axis: (C, H, W) for images (the
        neuronlab model then takes (n, H, W, C)), (d,) for rows, (T, d) for sequences, (T,) for tokens.
    seed : int, optional
        The Sequential's seed (its generator drives dropout and shuffling when training goes on).
    dtype : "float32" or "float64", optional
        Default: the module's parameters' (float32 when it has none).
    """
    torch = _torch()
    shape = tuple(int(d) for d in input_shape)
    modules = _flat_modules(module)
    if not modules:
        raise ExportError("from_torch: the module holds no layers")
    st = _FromTorch(modules, rank=len(shape))
    if len(shape) == 3:
        st.image_shape = (shape[1], shape[2], shape[0])
    while st.pos < len(modules):
        _step(st, modules[st.pos])
        st.pos += 1
    if st.flatten is not None:
        raise ExportError("from_torch: an nn.Flatten of images reaches no Linear; neuronlab flattens NHWC, so the "
                          "output order would differ (use ChannelsLastFlatten)")
    if dtype is None:
        params = list(module.parameters())
        dtype = "float64" if params and params[0].dtype == torch.float64 else "float32"
    from ..model import Sequential

    model = Sequential(st.layers, seed=seed, dtype=dtype)
    model.build(st.image_shape if st.image_shape else shape)
    for setter in st.setters:
        setter()
    return model
