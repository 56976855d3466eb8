"""Convolution and pooling for images: Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D, Flatten.

Layout: images are NHWC, X of shape (n, height, width, channels) — one sample per row of
the batch axis, channels last, so that a pixel's channels are the "features" a Dense layer
would see. Data in PyTorch's NCHW layout converts once, at the boundary, with
:func:`to_nhwc`. A kernel W has shape (kh, kw, c_in, c_out): ``W[i, j, c, f]`` weighs
channel c of the pixel at offset (i, j) of the window for filter f. PyTorch's
``nn.Conv2d.weight`` is (c_out, c_in, kh, kw): :func:`kernel_from_torch` converts.

A convolution is the guide's Z = XW + B applied to every window: each kh×kw×c_in window
becomes one row of a matrix ("im2col", a strided view copied once), so the whole batch is
one matrix product Z = cols · W. The backward pass is the same product transposed, and
∂C/∂X adds the window gradients back ("col2im") — compiled loops when numba is installed
(:mod:`.conv_kernels`, as is max pooling), else one NumPy add per kernel offset, never a
loop over pixels or samples.

In training, a large window matrix is not kept from forward to backward but built again in
cache-sized chunks (``KEEP_BYTES``, ``CHUNK_BYTES``). Only the products use several threads
(BLAS). Splitting the batch among Python threads as well was measured and dropped: with BLAS
on 2 threads its idle worker spins between products and took the second core (a LeNet step
at batch 64: 12.1 ms split vs 9.0-9.8 ms not split).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import activations as _act
from .. import initializers as _init
from ..core import Layer, Param
from ..validation import Integer, Tuple, check
from .base import Buffers, WithActivation, registry
from .conv_kernels import kernels as _kernels

__all__ = ["Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Flatten",
           "to_nhwc", "to_nchw", "kernel_from_torch", "kernel_to_torch"]

# im2col rows of the inference path are built in chunks of at most this many elements
_PREDICT_COLS = 1 << 22
#: a convolution whose window matrix (kh·kw·c_in times its input) is at most this large keeps it
#: from forward to backward; a larger one is built again in backward, chunk by chunk, in a
#: buffer of CHUNK_BYTES that stays in the core's cache, instead of going to memory and back.
#: Measured on LeNet (bench_cnn.py's network, one thread, CPU ms per step, 2 epochs of 6400 after one):
#: batch 64 (second layer's matrix 10 MB) kept 10.2-10.3, rebuilt in 1 MB chunks 10.5; batch
#: 128 (20 MB) rebuilt in chunks of 0.25 / 0.5 / 1 / 2 / 4 / 8 MB 23.2-23.6 / 20.6-20.7 /
#: 20.6-21.8 / 23.0-23.4 / 22.9-24.1 / 24.9-25.2, kept 24.0-25.0.
KEEP_BYTES = 1 << 24
CHUNK_BYTES = 1 << 20


# -- layout helpers (the boundary with NCHW code such as PyTorch) -----------------------
def to_nhwc(X) -> np.ndarray:
    """(n, channels, height, width) → (n, height, width, channels), contiguous."""
    X = np.asarray(X)
    if X.ndim != 4:
        raise ValueError(f"to_nhwc: expected a 4-D array (n, channels, height, width), got shape {X.shape}")
    return np.ascontiguousarray(X.transpose(0, 2, 3, 1))


def to_nchw(X) -> np.ndarray:
    """(n, height, width, channels) → (n, channels, height, width), contiguous."""
    X = np.asarray(X)
    if X.ndim != 4:
        raise ValueError(f"to_nchw: expected a 4-D array (n, height, width, channels), got shape {X.shape}")
    return np.ascontiguousarray(X.transpose(0, 3, 1, 2))


def kernel_from_torch(W) -> np.ndarray:
    """PyTorch's (c_out, c_in, kh, kw) kernel → neuronlab's (kh, kw, c_in, c_out)."""
    return np.ascontiguousarray(np.asarray(W).transpose(2, 3, 1, 0))


def kernel_to_torch(W) -> np.ndarray:
    """neuronlab's (kh, kw, c_in, c_out) kernel → PyTorch's (c_out, c_in, kh, kw)."""
    return np.ascontiguousarray(np.asarray(W).transpose(3, 2, 0, 1))


# -- shared machinery ----------------------------------------------------------------------
def _pair(value, what: str, layer: str, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints (height, width), each >= minimum."""
    value = check(layer, what, value, Integer(low=minimum), Tuple(Integer(low=minimum), length=2))
    return value if isinstance(value, tuple) else (value, value)


def _windows(Xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, Ho: int, Wo: int) -> np.ndarray:
    """Read-only view (n, Ho, Wo, kh, kw, C) of every kh×kw window of Xp (no copy)."""
    n, _, _, C = Xp.shape
    s0, s1, s2, s3 = Xp.strides
    return as_strided(Xp, (n, Ho, Wo, kh, kw, C), (s0, s1 * sh, s2 * sw, s1, s2, s3), writeable=False)


def _offset(A: np.ndarray, i: int, j: int, sh: int, sw: int, Ho: int, Wo: int) -> np.ndarray:
    """The (n, Ho, Wo, C) view of A holding kernel offset (i, j) of every window."""
    return A[:, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw, :]


# -- chunks of the batch -------------------------------------------------------------------
def _chunks(n: int, sample_bytes: int, chunk_bytes: int | None) -> list[tuple[int, int]]:
    """Rows [lo, hi) of a batch of n in chunks of about ``chunk_bytes`` (None: one chunk)."""
    size = n if chunk_bytes is None else max(1, chunk_bytes // max(1, sample_bytes))
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]


class _Scratch:
    """Scratch buffers by name: ``get(name, shape, dtype)``."""

    __slots__ = ("_named",)

    def __init__(self):
        self._named: dict[str, Buffers] = {}

    def get(self, name: str, shape, dtype) -> np.ndarray:
        return self._named.setdefault(name, Buffers()).get(shape, dtype)


def _activate(act, Z, out) -> None:
    """H = f(Z) into ``out`` (None: into Z)."""
    target = Z if out is None else out
    H = act.forward(Z, out=out)
    if H is not target:  # an activation that returns a new array
        np.copyto(target, H)


def _matmul_into(A, B, acc, first: bool, scratch: _Scratch) -> None:
    """acc = A @ B on the first chunk, acc += A @ B after it."""
    if first:
        np.matmul(A, B, out=acc)
    else:
        tmp = scratch.get("tmp" + str(acc.ndim), acc.shape, acc.dtype)
        np.matmul(A, B, out=tmp)
        acc += tmp


def _shape_str(shape) -> str:
    return "(n, " + ", ".join(map(str, shape)) + ")"


def _check_input_shape(value, layer: str):
    return check(layer, "input_shape", value, Tuple(Integer(low=1)), None)


class _Spatial2D(Layer):
    """Base of the layers on NHWC images: the shape checks and the window geometry."""

    def __init__(self, input_shape=None, name=None):
        super().__init__(name)
        self.declared_input_shape = _check_input_shape(input_shape, type(self).__name__)
        self.input_shape = self.declared_input_shape

    def _image_shape(self, input_shape) -> tuple[int, int, int]:
        """Validate the per-sample shape (height, width, channels) given to ``build``."""
        shape = tuple(int(d) for d in input_shape)
        kind = type(self).__name__
        if len(shape) != 3:
            hint = {2: "add a channel axis, e.g. X.reshape(n, height, width, 1)",
                    1: "reshape flat rows into images, e.g. X.reshape(n, 28, 28, 1)"}.get(len(shape), "")
            raise ValueError(f"layer {self.name!r}: {kind} takes 4-D images (n, height, width, channels), "
                             f"got input of shape {_shape_str(shape)}" + (f"; {hint}" if hint else ""))
        decl = self.declared_input_shape
        if decl is not None and decl != shape:
            what = "channel mismatch: " if decl[:2] == shape[:2] else ""
            raise ValueError(f"layer {self.name!r}: {what}{kind} was declared with input_shape "
                             f"{_shape_str(decl)} but receives {_shape_str(shape)}")
        return shape

    def check_input(self, X):
        if self.input_shape is None or X.shape[1:] == self.input_shape:
            return
        kind, want = type(self).__name__, _shape_str(self.input_shape)
        if X.ndim != 4:
            raise ValueError(f"layer {self.name!r}: {kind} takes 4-D images {want} (NHWC), got shape {X.shape}")
        if X.shape[-1] != self.input_shape[-1]:
            hint = ("; the data looks NCHW: convert with nl.layers.to_nhwc(X)"
                    if X.shape[1] == self.input_shape[-1] else "")
            raise ValueError(f"layer {self.name!r}: channel mismatch: {kind} expects {self.input_shape[-1]} "
                             f"channels, input {want}, got shape {X.shape}{hint}")
        raise ValueError(f"layer {self.name!r}: {kind} expects input of shape {want}, got shape {X.shape}")

    def _geometry(self, h, w, kh, kw, sh, sw, pads, what="kernel"):
        """Output height and width; ValueError when the window exceeds the padded input."""
        pt, pb, pl, pr = pads
        Hp, Wp = h + pt + pb, w + pl + pr
        if kh > Hp or kw > Wp:
            raise ValueError(f"layer {self.name!r}: {type(self).__name__} {what} {kh}x{kw} is larger than the "
                             f"padded input {Hp}x{Wp} (input {_shape_str((h, w, self._channels))}, padding "
                             f"top/bottom/left/right {pt}/{pb}/{pl}/{pr})")
        return (Hp - kh) // sh + 1, (Wp - kw) // sw + 1

    def _base_config(self) -> dict:
        return {} if self.declared_input_shape is None else {"input_shape": list(self.declared_input_shape)}


@registry.register("conv2d", "conv")
class Conv2D(WithActivation, _Spatial2D):
    """2-D convolution on NHWC images: Z = cols(X) · W + B, H = f(Z).

    Each output pixel (p, q) of filter f is the guide's weighted sum over its window::

        Z[n, p, q, f] = Σ_{i, j, c} X_pad[n, p·sh + i, q·sw + j, c] · W[i, j, c, f] + B[f]

    With cols(X) the (n·Ho·Wo, kh·kw·c_in) matrix of windows, the backward pass is Dense's::

        ∂C/∂W = cols(X)ᵀ ∂C/∂Z,   ∂C/∂B = Σ ∂C/∂Z,   ∂C/∂X = col2im(∂C/∂Z Wᵀ)

    Parameters
    ----------
    filters : int
        c_out, the number of kernels (output channels).
    kernel_size : int or (int, int)
        (kh, kw).
    stride : int or (int, int)
        Step between windows.
    padding : {"valid", "same"} or int or (int, int)
        "valid": none. "same": zeros so that Ho = ceil(h / sh); the odd extra row/column goes at
        the bottom/right (PyTorch's ``padding="same"`` for stride 1, TensorFlow's for larger
        strides). An int p pads p zeros on every side (PyTorch's ``padding=p``).
    activation : str, Activation or None
        f; None means linear. Softmax is not allowed (it would normalise over the wrong axis).
    init : str or Initializer
        For W, fan_in = kh·kw·c_in; ``"auto"`` is He normal for relu/leaky_relu, else Xavier normal.
    input_shape : (height, width, channels), optional
        Per sample; inferred from the first input when omitted.
    """

    def __init__(self, filters: int, kernel_size, stride=1, padding="valid", activation=None, init="auto",
                 input_shape=None, name: str | None = None):
        super().__init__(input_shape, name)
        self.filters = check("Conv2D", "filters", filters, Integer(low=1))
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2D")
        self.stride = _pair(stride, "stride", "Conv2D")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Conv2D: padding must be 'valid', 'same' or an integer, got {padding!r}")
            self.padding = padding
        else:
            self.padding = _pair(padding, "padding", "Conv2D", minimum=0)
        self.activation = _act.get(activation)
        if self.activation.name == "softmax":
            raise ValueError("Conv2D: softmax is not a valid activation for a convolution; "
                             "use Flatten and a Dense softmax layer")
        if init != "auto":
            _init.get(init)
        self.init = init
        self.W: Param | None = None
        self.B: Param | None = None
        self._channels = None
        self._xp, self._cols, self._out, self._dxp, self._wb = (Buffers() for _ in range(5))
        self._scratch = _Scratch()
        self.xp: np.ndarray | None = None  # the padded input, kept from forward for backward
        self._keep_cols = True
        self.x_shape: tuple | None = None

    def _pads(self, h, w) -> tuple[int, int, int, int]:
        if self.padding == "valid":
            return 0, 0, 0, 0
        if self.padding == "same":
            pads = []
            for size, k, s in ((h, self.kernel_size[0], self.stride[0]), (w, self.kernel_size[1], self.stride[1])):
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            return tuple(pads)
        ph, pw = self.padding
        return ph, ph, pw, pw

    def param_shapes(self, input_shape):
        c = self._image_shape(input_shape)[2]
        kh, kw = self.kernel_size
        return {"W": (kh, kw, c, self.filters), "B": (self.filters,)}

    def build(self, input_shape, rng, dtype=np.float32):
        h, w, c = self._image_shape(input_shape)
        shapes = self.param_shapes(input_shape)
        self._channels = c
        kh, kw = self.kernel_size
        self.pads = self._pads(h, w)
        Ho, Wo = self._geometry(h, w, kh, kw, *self.stride, self.pads)
        super().build((h, w, c), rng, dtype)
        init = _init.auto_for(self.activation.name) if self.init == "auto" else _init.get(self.init)
        self.W = Param(init(shapes["W"], rng, self.dtype), f"{self.name}/W")
        self.B = Param(np.zeros(shapes["B"], dtype=self.dtype), f"{self.name}/B")
        self.output_shape = (Ho, Wo, self.filters)
        return self.output_shape

    def params(self):
        return [self.W, self.B]

    def _pad(self, X, buf: Buffers | None, copy: bool = False) -> np.ndarray:
        """X with its zero border, in ``buf`` (a new array when None); X itself when there is no
        padding, unless ``copy``."""
        pt, pb, pl, pr = self.pads
        padded = bool(pt or pb or pl or pr)
        if not (padded or copy):
            return X
        n, h, w, c = X.shape
        shape = (n, h + pt + pb, w + pl + pr, c)
        if buf is None:
            Xp = np.zeros(shape, dtype=self.dtype)
        else:
            Xp = buf.get(shape, self.dtype)
            if padded:
                Xp[:, :pt] = 0
                Xp[:, pt + h:] = 0
                Xp[:, pt:pt + h, :pl] = 0
                Xp[:, pt:pt + h, pl + w:] = 0
        Xp[:, pt:pt + h, pl:pl + w] = X
        return Xp

    def _im2col(self, X) -> np.ndarray:
        """The (n·Ho·Wo, kh·kw·c_in) matrix whose rows are the windows of X (inference; new arrays).

        With one input channel the matrix is built column by column, one copy of whole image
        rows per kernel offset, and returned as the transpose of a C-ordered (kh·kw, n·Ho·Wo)
        array (BLAS reads either order): 3x faster than copying 6-D windows with runs of kw floats.
        """
        Ho, Wo, _ = self.output_shape
        kh, kw = self.kernel_size
        n, c = X.shape[0], X.shape[-1]
        Xp = self._pad(X, None)
        if c == 1:
            cols_t = np.empty((kh * kw, n, Ho, Wo), self.dtype)
            for k in range(kh * kw):
                i, j = divmod(k, kw)
                np.copyto(cols_t[k], _offset(Xp, i, j, *self.stride, Ho, Wo)[..., 0])
            return cols_t.reshape(kh * kw, n * Ho * Wo).T
        view = _windows(Xp, kh, kw, *self.stride, Ho, Wo)
        return np.ascontiguousarray(view).reshape(n * Ho * Wo, kh * kw * c)

    # -- training: the batch in chunks (see the module docstring) --------------------------------
    def forward(self, X, training=False):
        return self._train_forward(X, self.activation)

    def forward_z(self, X, training=False):
        return self._train_forward(X, None)

    def backward(self, dH):
        return self._train_backward(dH, self.activation)

    def backward_z(self, dZ):
        return self._train_backward(dZ, None)

    def _chunks(self, n):
        """One chunk when the window matrix is kept, else chunks of CHUNK_BYTES of it."""
        Ho, Wo, _ = self.output_shape
        kh, kw = self.kernel_size
        sample = Ho * Wo * (kh * kw * self._channels + 1) * np.dtype(self.dtype).itemsize
        return _chunks(n, sample, None if self._keep_cols else CHUNK_BYTES)

    def _train_forward(self, X, act):
        """Z = cols(X) · W + B, then H = f(Z) in place (``act`` None: Z only), chunk by chunk.

        The padded copy of X stays for backward, which builds the window matrix again when it
        is too large to keep (``KEEP_BYTES``). With one input channel the matrix is built
        transposed with a last row of ones, so that the product with [W; B] adds the bias.
        """
        n = X.shape[0]
        Ho, Wo, F = self.output_shape
        K = self.kernel_size[0] * self.kernel_size[1] * self._channels
        Z = self._out.get((n, Ho, Wo, F), self.dtype)
        H = Z if act is None or not act.uses_Z else self._h_buffer.get(Z.shape, Z.dtype)
        self.xp = self._pad(X, self._xp, copy=True)  # kept for backward, in the layer's own buffer
        self._keep_cols = n * Ho * Wo * K * np.dtype(self.dtype).itemsize <= KEEP_BYTES
        if self._channels == 1:
            WB = self._wb.get((K + 1, F), self.dtype)
            WB[:K] = self.W.value.reshape(K, F)
            WB[K] = self.B.value
        else:
            WB = self.W.value.reshape(K, F)

        for lo, hi in self._chunks(n):
            z = Z[lo:hi].reshape(-1, F)
            np.matmul(self._chunk_cols(lo, hi), WB, out=z)
            if self._channels != 1:
                z += self.B.value
            if act is not None:
                _activate(act, Z[lo:hi], None if H is Z else H[lo:hi])
        self.x_shape = X.shape
        if act is None:
            return Z
        self.H, self.Z = H, (Z if act.uses_Z else None)
        return H

    def _chunk_cols(self, lo, hi, build=True) -> np.ndarray:
        """The window matrix of samples lo:hi, (m·Ho·Wo, kh·kw·c_in [+ 1]); ``build``: write it first.

        Kept for backward (``_keep_cols``): the batch's matrix in the layer's buffer, built in
        forward. Otherwise it is built in a chunk-sized buffer each time it is needed.
        One channel: built per kernel offset from whole image rows, as the transpose of a
        C-ordered array (BLAS reads either order), with a last row of ones for the bias.
        """
        Ho, Wo, _ = self.output_shape
        kh, kw = self.kernel_size
        n, m, Xp = self.xp.shape[0], hi - lo, self.xp[lo:hi]
        if self._channels == 1:
            if self._keep_cols:
                cols = self._cols.get((kh * kw + 1, n, Ho, Wo), self.dtype)[:, lo:hi]
            else:
                cols, build = self._scratch.get("cols", (kh * kw + 1, m, Ho, Wo), self.dtype), True
            if build:
                for k in range(kh * kw):
                    i, j = divmod(k, kw)
                    np.copyto(cols[k], _offset(Xp, i, j, *self.stride, Ho, Wo)[..., 0])
                cols[kh * kw] = 1
            return cols.reshape(kh * kw + 1, m * Ho * Wo).T
        shape = (Ho, Wo, kh, kw, self._channels)
        if self._keep_cols:
            cols = self._cols.get((n, *shape), self.dtype)[lo:hi]
        else:
            cols, build = self._scratch.get("cols", (m, *shape), self.dtype), True
        if build:
            np.copyto(cols, _windows(Xp, kh, kw, *self.stride, Ho, Wo))
        return cols.reshape(m * Ho * Wo, -1)

    def _train_backward(self, dG, act):
        """∂C/∂W = colsᵀ ∂C/∂Z and ∂C/∂B = Σ ∂C/∂Z, summed over the chunks; ∂C/∂X by col2im."""
        n = dG.shape[0]
        F, c = self.filters, self._channels
        kh, kw = self.kernel_size
        K = kh * kw * c
        rows = K + 1 if c == 1 else K  # with one channel the bias row of the window matrix gives ∂C/∂B
        _, h, w, _ = self.x_shape
        pt, pb, pl, pr = self.pads
        dXp = self._dxp.get((n, h + pt + pb, w + pl + pr, c), self.dtype) if self.needs_input_grad else None
        Wt = self.W.value.reshape(kh * kw, c, F).transpose(0, 2, 1)
        gW = self._scratch.get("gW", (rows, F), self.dtype)
        gB = self._scratch.get("gB", (F,), self.dtype)
        for index, (lo, hi) in enumerate(self._chunks(n)):
            dZ = dG[lo:hi]
            if act is not None:
                dZ = act.backward(dZ, None if self.Z is None else self.Z[lo:hi], self.H[lo:hi])
            dZ2 = dZ.reshape(-1, F)
            _matmul_into(self._chunk_cols(lo, hi, build=False).T, dZ2, gW, index == 0, self._scratch)
            if c != 1:
                ones = self._scratch.get("ones", (dZ2.shape[0],), self.dtype)
                ones.fill(1)  # Σ over pixels and samples as a product: a sum over axis 0 is slower
                _matmul_into(ones, dZ2, gB, index == 0, self._scratch)
            if dXp is not None:
                self._col2im(dZ2, Wt, dXp[lo:hi])
        np.copyto(self.W.grad.reshape(K, F), gW[:K])
        np.copyto(self.B.grad, gW[K] if c == 1 else gB)
        return None if dXp is None else dXp[:, pt:pt + h, pl:pl + w, :]

    def _col2im(self, dZ2, Wt, dXp):
        """∂C/∂X of one chunk (into dXp, its padded rows): ∂C/∂cols = ∂C/∂Z Wᵀ added back to each window's pixels."""
        m = dXp.shape[0]
        Ho, Wo, _ = self.output_shape
        kh, kw = self.kernel_size
        compiled = _kernels()
        if compiled is not None:  # one product (m·Ho·Wo, F)·(F, kh·kw·c_in), then compiled adds
            dcols = self._scratch.get("dcols", (dZ2.shape[0], kh * kw * self._channels), self.dtype)
            np.matmul(dZ2, self.W.value.reshape(-1, self.filters).T, out=dcols)
            compiled.col2im(dcols, kh, kw, *self.stride, Ho, Wo, dXp)
            return
        # NumPy: the batched product gives each offset's (m·Ho·Wo, c_in) block contiguous, for long adds
        dcols = self._scratch.get("dcols", (kh * kw, dZ2.shape[0], self._channels), self.dtype)
        np.matmul(dZ2, Wt, out=dcols)
        dXp.fill(0)
        for k in range(kh * kw):
            i, j = divmod(k, kw)
            _offset(dXp, i, j, *self.stride, Ho, Wo)[...] += dcols[k].reshape(m, Ho, Wo, self._channels)

    def predict_z(self, X):
        n = X.shape[0]
        Ho, Wo, F = self.output_shape
        kh, kw = self.kernel_size
        W2 = self.W.value.reshape(-1, F)
        Z = np.empty((n, Ho, Wo, F), dtype=self.dtype)
        chunk = max(1, _PREDICT_COLS // (Ho * Wo * kh * kw * X.shape[-1]))
        for lo in range(0, n, chunk):
            np.matmul(self._im2col(X[lo:lo + chunk]), W2, out=Z[lo:lo + chunk].reshape(-1, F))
        Z += self.B.value
        return Z

    def config(self):
        cfg = {"filters": self.filters, "kernel_size": list(self.kernel_size), "stride": list(self.stride),
               "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
               **self.activation_config()}
        cfg["init"] = self.init if isinstance(self.init, str) else self.init.name
        cfg.update(self._base_config())
        return cfg


class _Pool2D(_Spatial2D):
    """Shared parts of MaxPool2D and AvgPool2D: windows of pool_size, stride, no padding."""

    def __init__(self, pool_size=2, stride=None, input_shape=None, name=None):
        super().__init__(input_shape, name)
        kind = type(self).__name__
        self.pool_size = _pair(pool_size, "pool_size", kind)
        self.stride = self.pool_size if stride is None else _pair(stride, "stride", kind)
        self._channels = None
        self._out, self._dx = Buffers(), Buffers()
        self.x_shape: tuple | None = None

    def build(self, input_shape, rng, dtype=np.float32):
        h, w, c = self._image_shape(input_shape)
        self._channels = c
        Ho, Wo = self._geometry(h, w, *self.pool_size, *self.stride, (0, 0, 0, 0), what="pool_size")
        super().build((h, w, c), rng, dtype)
        self.output_shape = (Ho, Wo, c)
        return self.output_shape

    def _offsets(self):
        ph, pw = self.pool_size
        return [(i, j) for i in range(ph) for j in range(pw)]  # row-major, as PyTorch scans a window

    def _view(self, A, i, j):
        Ho, Wo, _ = self.output_shape
        return _offset(A, i, j, *self.stride, Ho, Wo)

    def config(self):
        return {"pool_size": list(self.pool_size), "stride": list(self.stride), **self._base_config()}


@registry.register("maxpool2d", "max_pool2d", "maxpool")
class MaxPool2D(_Pool2D):
    """Max pooling: H[n, p, q, c] = max over the window of X[n, p·sh + i, q·sw + j, c].

    The gradient flows only to the window's maximum; on ties, to the first one in row-major
    order (as PyTorch). Forward keeps one boolean mask per window offset (i, j) — "this
    offset holds the window's maximum" — and backward is ∂C/∂X[offset (i, j)] = ∂C/∂H ⊙ mask.

    Parameters
    ----------
    pool_size : int or (int, int)
        (ph, pw).
    stride : int or (int, int), optional
        Defaults to ``pool_size`` (non-overlapping windows). No padding; rows and columns
        that do not fill a window are dropped (PyTorch's ``ceil_mode=False``).
    """

    def __init__(self, pool_size=2, stride=None, input_shape=None, name: str | None = None):
        super().__init__(pool_size, stride, input_shape, name)
        self._masks, self._scratch = Buffers(), _Scratch()
        self.masks: np.ndarray | None = None  # compiled: (n, Ho, Wo, c) offsets; NumPy: one bool mask per offset
        self._compiled = False

    def _max(self, X, H):
        offsets = self._offsets()
        np.copyto(H, self._view(X, *offsets[0]))
        for i, j in offsets[1:]:
            np.maximum(H, self._view(X, i, j), out=H)
        return H

    def forward(self, X, training=False):
        shape = (X.shape[0], *self.output_shape)
        H = self._out.get(shape, self.dtype)
        compiled = _kernels()
        if compiled is not None:  # one index per output: the offset of the window's first maximum
            masks = self._masks.get(shape, np.uint8 if len(self._offsets()) <= 256 else np.uint16)
        else:
            masks = self._masks.get((len(self._offsets()), *shape), np.bool_)

        if compiled is not None:
            compiled.max_pool_forward(X, *self.pool_size, *self.stride, H, masks)
        else:
            self._max(X, H)
            self._first_max_masks(X, H, masks, self._scratch.get("taken", shape, np.bool_))
        self.masks, self.x_shape, self._compiled = masks, X.shape, compiled is not None
        return H

    def _first_max_masks(self, X, H, masks, taken):
        """masks[k]: offset k holds its window's maximum and no earlier offset does."""
        offsets = self._offsets()
        for k, (i, j) in enumerate(offsets):
            np.equal(self._view(X, i, j), H, out=masks[k])
            if k == 0:
                np.copyto(taken, masks[0])
            else:
                np.greater(masks[k], taken, out=masks[k])  # a tie with an earlier offset loses
                if k < len(offsets) - 1:
                    np.logical_or(taken, masks[k], out=taken)

    def backward(self, dH):
        if not self.needs_input_grad:
            return None
        dX = self._dx.get(self.x_shape, self.dtype)
        (ph, pw), (sh, sw) = self.pool_size, self.stride
        Ho, Wo, _ = self.output_shape

        if self._compiled:
            _kernels().max_pool_backward(dH, self.masks, ph, pw, sh, sw, dX)
        elif (sh, sw) == (ph, pw):  # windows tile the input: each pixel in at most one window
            dX[:, Ho * ph:] = 0
            dX[:, :, Wo * pw:] = 0
            for k, (i, j) in enumerate(self._offsets()):
                np.multiply(dH, self.masks[k], out=self._view(dX, i, j))
        else:
            dX.fill(0)
            tmp = self._scratch.get("tmp", dH.shape, self.dtype)
            for k, (i, j) in enumerate(self._offsets()):
                np.multiply(dH, self.masks[k], out=tmp)
                self._view(dX, i, j)[...] += tmp
        return dX

    def predict(self, X):
        return self._max(X, np.empty((X.shape[0], *self.output_shape), dtype=self.dtype))


@registry.register("avgpool2d", "avg_pool2d", "avgpool")
class AvgPool2D(_Pool2D):
    """Average pooling: H[n, p, q, c] = (1 / (ph·pw)) Σ_window X[n, p·sh + i, q·sw + j, c].

    Backward: each input pixel receives ∂C/∂H / (ph·pw) from every window that contains it.
    Parameters as :class:`MaxPool2D` (PyTorch's ``AvgPool2d`` without padding).
    """

    def __init__(self, pool_size=2, stride=None, input_shape=None, name: str | None = None):
        super().__init__(pool_size, stride, input_shape, name)
        self._g = Buffers()

    def _pool(self, X, H):
        offsets = self._offsets()
        np.copyto(H, self._view(X, *offsets[0]))
        for i, j in offsets[1:]:
            H += self._view(X, i, j)
        H *= 1.0 / len(offsets)
        return H

    def forward(self, X, training=False):
        self.x_shape = X.shape
        return self._pool(X, self._out.get((X.shape[0], *self.output_shape), self.dtype))

    def backward(self, dH):
        if not self.needs_input_grad:
            return None
        (ph, pw), (sh, sw) = self.pool_size, self.stride
        dX = self._dx.get(self.x_shape, self.dtype)
        g = self._g.get(dH.shape, self.dtype)
        np.multiply(dH, 1.0 / (ph * pw), out=g)
        if (sh, sw) == (ph, pw):  # windows tile the input: copy instead of accumulate
            Ho, Wo, _ = self.output_shape
            dX[:, Ho * ph:] = 0
            dX[:, :, Wo * pw:] = 0
            for i, j in self._offsets():
                np.copyto(self._view(dX, i, j), g)
            return dX
        dX.fill(0)
        for i, j in self._offsets():
            self._view(dX, i, j)[...] += g
        return dX

    def predict(self, X):
        return self._pool(X, np.empty((X.shape[0], *self.output_shape), dtype=self.dtype))


@registry.register("globalavgpool2d", "global_avg_pool2d", "globalavgpool")
class GlobalAvgPool2D(_Spatial2D):
    """Mean of each channel over the whole image: (n, h, w, c) → (n, c).

    H[n, c] = (1 / (h·w)) Σ_{p, q} X[n, p, q, c];  ∂C/∂X[n, p, q, c] = ∂C/∂H[n, c] / (h·w).
    """

    def __init__(self, input_shape=None, name: str | None = None):
        super().__init__(input_shape, name)
        self._dx = Buffers()
        self.x_shape: tuple | None = None

    def build(self, input_shape, rng, dtype=np.float32):
        h, w, c = self._image_shape(input_shape)
        super().build((h, w, c), rng, dtype)
        self.output_shape = (c,)
        return self.output_shape

    def forward(self, X, training=False):
        self.x_shape = X.shape
        return self.predict(X)

    def predict(self, X):
        return X.mean(axis=(1, 2), dtype=self.dtype)

    def backward(self, dH):
        if not self.needs_input_grad:
            return None
        n, h, w, c = self.x_shape
        dX = self._dx.get(self.x_shape, self.dtype)
        np.multiply(dH[:, None, None, :], 1.0 / (h * w), out=dX)
        return dX

    def config(self):
        return self._base_config()


@registry.register("flatten")
class Flatten(Layer):
    """(n, d1, d2, ...) → (n, d1·d2·...), in C order (for NHWC: pixel by pixel, channels innermost).

    PyTorch flattens NCHW channel by channel; to match a PyTorch network, permute its
    activations to NHWC before ``torch.flatten``.
    """

    def __init__(self, input_shape=None, name: str | None = None):
        super().__init__(name)
        self.declared_input_shape = _check_input_shape(input_shape, "Flatten")
        self.input_shape = self.declared_input_shape
        self.x_shape: tuple | None = None

    def build(self, input_shape, rng, dtype=np.float32):
        shape = tuple(int(d) for d in input_shape)
        if self.declared_input_shape is not None and shape != self.declared_input_shape:
            raise ValueError(f"layer {self.name!r}: Flatten was declared with input_shape "
                             f"{_shape_str(self.declared_input_shape)} but receives {_shape_str(shape)}")
        super().build(shape, rng, dtype)
        self.output_shape = (int(np.prod(shape)),)
        return self.output_shape

    def forward(self, X, training=False):
        self.x_shape = X.shape
        return X.reshape(X.shape[0], -1)

    def backward(self, dH):
        if not self.needs_input_grad:
            return None
        return dH.reshape(self.x_shape)

    def predict(self, X):
        return X.reshape(X.shape[0], -1)

    def config(self):
        return {} if self.declared_input_shape is None else {"input_shape": list(self.declared_input_shape)}
