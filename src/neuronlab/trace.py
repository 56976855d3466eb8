"""One training step, neuron by neuron, with every number of the guide's equations printed.

``trace(model, X, y, lr)`` walks a small network of Dense layers with plain Python scalars
(one loop per sample, neuron and weight: this is pedagogy, not the hot path) and records

* the forward pass:  Z^K_j = Σ_i h^{K-1}_i W^K_ij + b^K_j,   h^K_j = f(Z^K_j)   (h^0 = x, h^last = y_p)
* the loss C(y_p, y_t),
* the backward pass: ∂C/∂h^K_j, ∂C/∂Z^K_j = ∂C/∂h^K_j f'(Z^K_j), ∂C/∂W^K_ij = Σ_samples h^{K-1}_i ∂C/∂Z^K_j,
  ∂C/∂b^K_j = Σ_samples ∂C/∂Z^K_j, and for a hidden neuron i the sum over the neurons j it
  feeds: ∂C/∂h^{K-1}_i = Σ_j ∂C/∂Z^K_j W^K_ij,
* the update W ← W - η ∂C/∂W, b ← b - η ∂C/∂b.

The walk never calls the layers' vectorised code; ``tests/test_trace.py`` proves that its
numbers equal ``model.forward`` / ``model.backward`` / ``Param.grad`` / ``SGD.step`` to float64
precision, and :func:`compare_with_library` repeats that check at run time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from . import losses as _losses
from .layers import Dense
from .model import Sequential

__all__ = ["trace", "Trace", "LayerTrace", "guide_network", "guide_example", "library_step",
           "compare_with_library", "SUPPORTED_ACTIVATIONS"]

SUPPORTED_ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")
_TINY64 = float(np.finfo(np.float64).tiny)


# ---------------------------------------------------------------------------------------------
# the scalar walk
# ---------------------------------------------------------------------------------------------
def _f(name: str, z: float, alpha: float) -> float:
    """h = f(z) for one neuron (elementwise activations), written as the library does."""
    if name == "linear":
        return z
    if name == "sigmoid":
        e = math.exp(-abs(z))
        return (1.0 if z >= 0 else e) / (1.0 + e)
    if name == "tanh":
        return math.tanh(z)
    if name == "relu":
        return z if z > 0 else 0.0
    if name == "leaky_relu":
        return z if z >= 0 else alpha * z
    raise ValueError(f"trace: activation {name!r} is not supported; supported: {', '.join(SUPPORTED_ACTIVATIONS)}")


def _fprime(name: str, h: float, alpha: float) -> float:
    """f'(Z) written with the output h = f(Z), as the guide does."""
    if name == "linear":
        return 1.0
    if name == "sigmoid":
        return h * (1.0 - h)
    if name == "tanh":
        return 1.0 - h * h
    if name == "relu":
        return 1.0 if h > 0 else 0.0
    if name == "leaky_relu":
        return 1.0 if h > 0 else alpha
    raise ValueError(f"trace: activation {name!r} is not supported")


def _softmax(z: list[float]) -> list[float]:
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


def _softplus(z: float) -> float:
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@dataclass
class LayerTrace:
    """The numbers of one Dense layer K during the traced step (rows = samples).

    ``X`` holds h^{K-1} (the layer's inputs), ``W[i, j]`` is W^K_ij, ``B[j]`` is b^K_j;
    ``dH`` is ∂C/∂h^K (None for an output layer whose loss gives ∂C/∂Z directly), ``dZ``
    is ∂C/∂Z^K, ``dW``/``dB`` the gradients, ``dX`` = ∂C/∂h^{K-1} sent back to layer K-1
    (None for the first layer), ``W_new``/``B_new`` the updated parameters.
    """

    index: int
    name: str
    activation: str
    alpha: float
    X: np.ndarray
    W: np.ndarray
    B: np.ndarray
    Z: np.ndarray
    H: np.ndarray
    fprime: np.ndarray | None = None
    dH: np.ndarray | None = None
    dZ: np.ndarray | None = None
    dW: np.ndarray | None = None
    dB: np.ndarray | None = None
    dX: np.ndarray | None = None
    W_new: np.ndarray | None = None
    B_new: np.ndarray | None = None


@dataclass
class Trace:
    """The record of one traced training step; ``str(trace)`` is the terminal walk-through.

    Attributes
    ----------
    layers : list of LayerTrace
        K = 1 .. L, input to output.
    X, Y_true, Y_pred : ndarray
        x, y_t (one-hot for integer class labels) and y_p = h^L, one row per sample.
    loss_name : str
    C : float
        The loss value.
    lr : float
        η.
    fused : bool
        The loss gives ∂C/∂Z of the output layer directly (softmax + categorical
        cross-entropy, sigmoid + binary cross-entropy).
    dY : ndarray or None
        ∂C/∂y_p (None when ``fused``).
    """

    layers: list[LayerTrace]
    X: np.ndarray
    Y_true: np.ndarray
    Y_pred: np.ndarray
    loss_name: str
    C: float
    lr: float
    fused: bool
    dY: np.ndarray | None = None

    def gradients(self) -> list[np.ndarray]:
        """[∂C/∂W^1, ∂C/∂b^1, ∂C/∂W^2, ...], the order of ``model.get_gradients()``."""
        return [a for layer in self.layers for a in (layer.dW, layer.dB)]

    def new_weights(self) -> list[np.ndarray]:
        """[W^1 - η ∂C/∂W^1, b^1 - η ∂C/∂b^1, ...], the order of ``model.get_weights()``."""
        return [a for layer in self.layers for a in (layer.W_new, layer.B_new)]

    def to_text(self, digits: int = 4, max_terms: int = 6) -> str:
        """The walk-through as plain text with readable tables (Unicode symbols)."""
        return _render(self, _TextRenderer(digits, max_terms))

    def to_markdown(self, digits: int = 4, max_terms: int = 6) -> str:
        """The walk-through as Markdown with LaTeX equations ($...$ and $$...$$)."""
        return _render(self, _MarkdownRenderer(digits, max_terms))

    def __str__(self) -> str:
        return self.to_text()


def _dense_layers(model: Sequential) -> list[Dense]:
    if not isinstance(model, Sequential):
        raise TypeError(f"trace: model must be a Sequential, got {type(model).__name__}")
    if not model.built:
        raise ValueError("trace: the model is not built; give its first layer input_dim")
    layers = []
    for layer in model.layers:
        if type(layer) is not Dense:
            raise ValueError(f"trace: only Dense layers can be traced, layer {layer.name!r} is "
                             f"{type(layer).__name__}")
        act = layer.activation.name
        if act not in SUPPORTED_ACTIVATIONS:
            raise ValueError(f"trace: layer {layer.name!r} has activation {act!r}; supported: "
                             f"{', '.join(SUPPORTED_ACTIVATIONS)}")
        layers.append(layer)
    return layers


def trace(model: Sequential | None = None, X=None, y=None, lr: float = 0.5, loss=None) -> Trace:
    """Trace one gradient-descent step W ← W - η ∂C/∂W of ``model`` on (X, y), neuron by neuron.

    The model is not modified. Every number comes from a scalar walk in float64 (the
    model's weights are read and cast); :func:`compare_with_library` checks them against the
    library's vectorised step.

    Parameters
    ----------
    model : Sequential, optional
        A built model of Dense layers (activations: linear, sigmoid, tanh, relu, leaky_relu,
        softmax). Default: the guide's 4-2-1 sigmoid network, :func:`guide_network`.
    X, y : array_like, optional
        The sample(s) x and target(s) y_t; default: one sample from :func:`guide_example`.
    lr : float
        η, the learning rate of the step.
    loss : str or Loss, optional
        C; default: the model's compiled loss, else ``"mse"``.

    Returns
    -------
    Trace
        ``print(trace)`` for the terminal, ``trace.to_markdown()`` for Markdown + LaTeX.

    Examples
    --------
    >>> import neuronlab as nl
    >>> t = nl.trace()                      # the guide's 4-2-1 sigmoid network, MSE
    >>> [layer.W.shape for layer in t.layers]
    [(4, 2), (2, 1)]
    """
    if model is None:
        model, X0, y0 = guide_example()
        X = X0 if X is None else X
        y = y0 if y is None else y
    elif X is None or y is None:
        raise ValueError("trace: give X and y with a model (or no model for the guide's example)")
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) or not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"trace: lr (η) must be a positive finite number, got {lr!r}")
    layers = _dense_layers(model)
    if loss is None:
        loss = model.loss if model.loss is not None else "mse"
    loss = _losses.get(loss)
    loss_name = loss.name
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != layers[0].W.value.shape[0]:
        raise ValueError(f"trace: X must have shape (n, {layers[0].W.value.shape[0]}) for layer "
                         f"{layers[0].name!r}, got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("trace: X contains NaN or inf")
    n_out = layers[-1].units
    Y = loss.targets(np.asarray(y), n_out, np.float64, "trace")
    if Y.ndim == 1:  # integer class labels → one-hot y_t
        labels = Y
        Y = np.zeros((len(labels), n_out))
        Y[np.arange(len(labels)), labels] = 1.0
    if len(Y) != len(X):
        raise ValueError(f"trace: X has {len(X)} samples but y has {len(Y)}")
    out_act = layers[-1].activation.name
    fused = loss.fused_activation is not None and out_act == loss.fused_activation
    if out_act == "softmax" and not fused and n_out == 1:
        raise ValueError("trace: a softmax output needs more than one neuron")

    n = X.shape[0]
    # ---- forward pass ------------------------------------------------------------------
    A = [[float(v) for v in row] for row in X]  # h^0 = x, one list per sample
    traces: list[LayerTrace] = []
    for K, layer in enumerate(layers, start=1):
        W = layer.W.value.astype(np.float64)
        B = layer.B.value.astype(np.float64)
        d_in, d_out = W.shape
        act = layer.activation.name
        alpha = float(getattr(layer.activation, "alpha", 0.0))
        Wl, Bl = W.tolist(), B.tolist()
        Z = [[0.0] * d_out for _ in range(n)]
        H = [[0.0] * d_out for _ in range(n)]
        for s in range(n):
            for j in range(d_out):
                z = 0.0
                for i in range(d_in):
                    z += A[s][i] * Wl[i][j]
                Z[s][j] = z + Bl[j]
            H[s] = _softmax(Z[s]) if act == "softmax" else [_f(act, z, alpha) for z in Z[s]]
        traces.append(LayerTrace(K, layer.name, act, alpha, np.array(A), W, B, np.array(Z), np.array(H)))
        A = H
    P = A

    # ---- loss ----------------------------------------------------------------------------
    T = Y.tolist()
    k = n_out
    Zout = traces[-1].Z.tolist()
    if loss_name == "mse":
        C = sum((P[s][c] - T[s][c]) ** 2 for s in range(n) for c in range(k)) / (n * k)
    elif loss_name == "binary_crossentropy":
        if fused:  # from the logits: softplus(Z) - y_t Z
            C = sum(_softplus(Zout[s][c]) - T[s][c] * Zout[s][c] for s in range(n) for c in range(k)) / (n * k)
        else:
            def log_clamped(v):
                return max(math.log(v), -100.0) if v > 0 else -100.0
            C = -sum(T[s][c] * log_clamped(P[s][c]) + (1 - T[s][c]) * log_clamped(1 - P[s][c])
                     for s in range(n) for c in range(k)) / (n * k)
    elif loss_name == "categorical_crossentropy":
        C = 0.0
        for s in range(n):
            if fused:  # log softmax(Z) by log-sum-exp
                m = max(Zout[s])
                lse = m + math.log(sum(math.exp(z - m) for z in Zout[s]))
                C -= sum(T[s][c] * (Zout[s][c] - lse) for c in range(k))
            else:
                C -= sum(T[s][c] * math.log(max(P[s][c], _TINY64)) for c in range(k))
        C /= n
    else:
        raise ValueError(f"trace: loss {loss_name!r} is not supported; supported: mse, "
                         f"binary_crossentropy, categorical_crossentropy")

    # ---- backward pass -------------------------------------------------------------------
    dY = None
    if fused:  # ∂C/∂Z = (y_p - y_t)/n (softmax + CE) or /(n k) (sigmoid + BCE)
        denom = n if loss_name == "categorical_crossentropy" else n * k
        dZ = [[(P[s][c] - T[s][c]) / denom for c in range(k)] for s in range(n)]
        dH = None
    else:
        if loss_name == "mse":
            dH = [[2.0 * (P[s][c] - T[s][c]) / (n * k) for c in range(k)] for s in range(n)]
        elif loss_name == "binary_crossentropy":
            dH = [[(P[s][c] - T[s][c]) / max(P[s][c] * (1 - P[s][c]), 1e-12) / (n * k) for c in range(k)]
                  for s in range(n)]
        else:
            dH = [[-T[s][c] / max(P[s][c], _TINY64) / n for c in range(k)] for s in range(n)]
        dY = np.array(dH)
    for lt in reversed(traces):
        Hl = lt.H.tolist()
        d_in, d_out = lt.W.shape
        if dH is not None:
            lt.dH = np.array(dH)
            if lt.activation == "softmax":  # ∂C/∂Z_j = S_j (g_j - Σ_c g_c S_c)
                dZ = []
                for s in range(n):
                    dot = sum(dH[s][c] * Hl[s][c] for c in range(d_out))
                    dZ.append([Hl[s][j] * (dH[s][j] - dot) for j in range(d_out)])
            else:
                fp = [[_fprime(lt.activation, h, lt.alpha) for h in row] for row in Hl]
                lt.fprime = np.array(fp)
                dZ = [[dH[s][j] * fp[s][j] for j in range(d_out)] for s in range(n)]
        lt.dZ = np.array(dZ)
        Xl = lt.X.tolist()
        Wl = lt.W.tolist()
        dW = [[sum(Xl[s][i] * dZ[s][j] for s in range(n)) for j in range(d_out)] for i in range(d_in)]
        dB = [sum(dZ[s][j] for s in range(n)) for j in range(d_out)]
        lt.dW, lt.dB = np.array(dW), np.array(dB)
        lt.W_new = np.array([[Wl[i][j] - lr * dW[i][j] for j in range(d_out)] for i in range(d_in)])
        lt.B_new = np.array([lt.B[j] - lr * dB[j] for j in range(d_out)])
        if lt.index > 1:  # a hidden neuron i feeds every neuron j of this layer
            dH = [[sum(dZ[s][j] * Wl[i][j] for j in range(d_out)) for i in range(d_in)] for s in range(n)]
            lt.dX = np.array(dH)
    return Trace(traces, X, Y, np.array(P), loss_name, float(C), float(lr), fused, dY)


# ---------------------------------------------------------------------------------------------
# the guide's example and the library's own step (for the check)
# ---------------------------------------------------------------------------------------------
def guide_network(layers=(4, 2, 1), activation: str = "sigmoid", output_activation: str | None = None,
                  seed: int = 0, decimals: int | None = 2) -> Sequential:
    """The guide's small network (default 4 inputs, 2 hidden, 1 output, sigmoid) in float64.

    Parameters
    ----------
    layers : sequence of int
        Widths, input first: (4, 2, 1) is x ∈ R⁴ → 2 hidden neurons → 1 output.
    activation : str
        f of the hidden layers (and of the output unless ``output_activation`` is given).
    seed : int
        Seeds the initial weights (the layers' default initialisers).
    decimals : int or None
        Round the initial weights to this many decimals so the walk can be followed with a
        pen (None: keep them as drawn).
    """
    widths = [int(w) for w in layers]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"guide_network: layers must list at least two positive widths, got {layers!r}")
    out_act = output_activation or activation
    dense = [Dense(w, activation=activation, input_dim=widths[0] if i == 0 else None)
             for i, w in enumerate(widths[1:-1])]
    dense.append(Dense(widths[-1], activation=out_act, input_dim=widths[0] if len(widths) == 2 else None))
    model = Sequential(dense, seed=seed, dtype="float64")
    if decimals is not None:
        model.set_weights([np.round(w, decimals) for w in model.get_weights()])
    return model


def guide_example(layers=(4, 2, 1), activation: str = "sigmoid", loss: str = "mse",
                  output_activation: str | None = None, seed: int = 0, n_samples: int = 1):
    """``(model, X, y)``: :func:`guide_network` and ``n_samples`` samples drawn from ``seed``.

    x_i ~ U(0, 1) rounded to one decimal; y_t is a class label for categorical
    cross-entropy, else 0 or 1 per output.
    """
    loss_obj = _losses.get(loss)
    if output_activation is None and loss_obj.name == "categorical_crossentropy":
        output_activation = "softmax"
    if output_activation is None and loss_obj.name == "binary_crossentropy":
        output_activation = "sigmoid"
    model = guide_network(layers, activation, output_activation, seed)
    rng = np.random.default_rng(seed + 1)
    n_in, n_out = int(layers[0]), int(layers[-1])
    X = np.round(rng.uniform(0.0, 1.0, size=(n_samples, n_in)), 1)
    if loss_obj.name == "categorical_crossentropy":
        y = rng.integers(0, n_out, size=n_samples)
    else:
        y = rng.integers(0, 2, size=(n_samples, n_out)).astype(np.float64)
    return model, X, y


def library_step(model: Sequential, X, y, lr: float = 0.5, loss=None) -> dict:
    """The same step with the library's vectorised code, on a float64 copy of ``model``.

    ``model.forward`` → loss → ``model.backward`` (``Param.grad``) → ``SGD(lr).step``.
    Returns ``{"H": [h^1, ..., h^L], "C": C, "grads": [...], "weights": [...]}``.
    """
    from .diagnostics import clone
    from .optimizers import SGD

    copy = clone(model, np.float64)
    copy.compile(loss=loss if loss is not None else (model.loss if model.loss is not None else "mse"),
                 optimizer=SGD(lr=lr))
    X, Y = copy._check_data(np.asarray(X, dtype=np.float64), y, "library_step")
    P = copy.forward(X, training=True)
    H = [layer.activation.H.copy() for layer in copy.layers]
    C = copy._batch_loss(P, Y)
    copy.backward(copy.loss.gradient(P, Y, fused=copy._fused))
    grads = copy.get_gradients()
    copy.optimizer.step(copy.params())
    return {"H": H, "C": float(C), "grads": grads, "weights": copy.get_weights()}


def compare_with_library(t: Trace, model: Sequential, X, y, loss=None) -> float:
    """Largest relative difference between the trace and :func:`library_step` (all numbers)."""
    lib = library_step(model, X, y, t.lr, loss if loss is not None else t.loss_name)
    pairs = [(lt.H, h) for lt, h in zip(t.layers, lib["H"])]
    pairs += [(np.array(t.C), np.array(lib["C"]))]
    pairs += list(zip(t.gradients(), lib["grads"])) + list(zip(t.new_weights(), lib["weights"]))
    worst = 0.0
    for a, b in pairs:
        scale = max(float(np.abs(b).max(initial=0.0)), 1e-300)
        worst = max(worst, float(np.abs(a - b).max(initial=0.0)) / scale)
    return worst


# ---------------------------------------------------------------------------------------------
# rendering: one walk, two notations (terminal text and Markdown + LaTeX)
# ---------------------------------------------------------------------------------------------
_PLAIN = re.compile(r"^[A-Za-z ()↓→,.]*$|^-?[0-9.e+-]+$")
_SUP = str.maketrans("0123456789-K", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻ᴷ")
_SUB = str.maketrans("0123456789ijks", "₀₁₂₃₄₅₆₇₈₉ᵢⱼₖₛ")
_SUB_OK = set("0123456789ijks")
_FNAME_TEXT = {"linear": "id", "sigmoid": "σ", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "LReLU",
               "softmax": "softmax"}
_FNAME_TEX = {"linear": r"\mathrm{id}", "sigmoid": r"\sigma", "tanh": r"\tanh", "relu": r"\mathrm{ReLU}",
              "leaky_relu": r"\mathrm{LReLU}", "softmax": r"\mathrm{softmax}"}
_FPRIME_TEXT = {"linear": "1", "sigmoid": "h(1−h)", "tanh": "1−h²", "relu": "[h>0]", "leaky_relu": "1 or α",
                "softmax": "S(g − Σ g S)"}
_FPRIME_TEX = {"linear": "1", "sigmoid": "h(1-h)", "tanh": "1-h^2", "relu": "[h>0]",
               "leaky_relu": r"1 \text{ or } \alpha", "softmax": r"S_j(g_j - \textstyle\sum_c g_c S_c)"}


class _Renderer:
    def __init__(self, digits, max_terms):
        self.digits, self.max_terms = int(digits), int(max_terms)
        self.lines: list[str] = []

    def num(self, v: float) -> str:
        v = float(v)
        return "0" if v == 0 else f"{v:.{self.digits}g}"

    def pnum(self, v: float) -> str:
        """A number that may follow an operator: negative ones in parentheses."""
        s = self.num(v)
        return f"({s})" if s.startswith("-") else s

    def terms(self, parts: list[str], plus: str) -> str:
        if len(parts) > self.max_terms:
            head = parts[: self.max_terms - 2]
            parts = head + [self.ellipsis(len(parts) - len(head) - 1), parts[-1]]
        return plus.join(parts)

    def out(self, s: str = "") -> None:
        self.lines.append(s)


class _TextRenderer(_Renderer):
    times, plus, minus, eta, ddots = "×", " + ", " − ", "η", "…"

    @staticmethod
    def _idx(idx):
        idx = [str(i) for i in idx]
        if all(len(i) == 1 and i in _SUB_OK for i in idx):
            return "".join(idx).translate(_SUB)
        return "[" + ",".join(idx) + "]"

    def sym(self, base, K=None, *idx):
        return base + ("" if K is None else str(K).translate(_SUP)) + self._idx(idx)

    def ellipsis(self, k):
        return f"… ({k} more terms)"

    def d(self, sym):
        return f"∂C/∂{sym}"

    def f(self, act, arg):
        return f"{_FNAME_TEXT[act]}({arg})"

    def fprime(self, act):
        return _FPRIME_TEXT[act]

    def sum(self, idx):
        return f"Σ_{idx} "

    def math(self, s):
        return s

    def eq(self, s):
        self.out("  " + s)

    def heading(self, level, s):
        self.out()
        if level == 1:
            self.out(s)
            self.out("═" * len(s))
        elif level == 2:
            self.out(s)
            self.out("─" * len(s))
        else:
            self.out(s)

    def para(self, s):
        self.out(s)

    def table(self, headers, rows):
        cells = [list(headers)] + [list(r) for r in rows]
        widths = [max(len(str(r[c])) for r in cells) for c in range(len(headers))]

        def line(r):
            return "  " + "  ".join(str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in
                                    enumerate(zip(r, widths))).rstrip()
        self.out(line(cells[0]))
        self.out("  " + "  ".join("─" * w for w in widths))
        for r in cells[1:]:
            self.out(line(r))


class _MarkdownRenderer(_Renderer):
    times, plus, minus, eta, ddots = r" \cdot ", " + ", " - ", r"\eta", r"\dots"

    def sym(self, base, K=None, *idx):
        sup = "" if K is None else f"^{{{K}}}"
        idx = [str(i) for i in idx]
        sub = "" if not idx else "_{" + ("".join(idx) if all(len(i) == 1 for i in idx) else ",".join(idx)) + "}"
        base = {"Σ": r"\Sigma"}.get(base, base)
        return f"{base}{sup}{sub}"

    def ellipsis(self, k):
        return rf"\dots_{{({k}\ \text{{more}})}}"

    def d(self, sym):
        return rf"\frac{{\partial C}}{{\partial {sym}}}"

    def f(self, act, arg):
        return f"{_FNAME_TEX[act]}({arg})"

    def fprime(self, act):
        return _FPRIME_TEX[act]

    def sum(self, idx):
        return rf"\sum_{{{idx}}} "

    def math(self, s):
        return f"${s}$"

    def eq(self, s):
        self.out(f"$${s}$$")
        self.out()

    def heading(self, level, s):
        self.out()
        self.out("#" * (level + 1) + " " + s)
        self.out()

    def para(self, s):
        self.out(s)
        self.out()

    def table(self, headers, rows):
        def cell(v):
            v = str(v)
            plain = not v or v.startswith("$") or _PLAIN.match(v)
            return v if plain else f"${v}$"
        self.out("| " + " | ".join(cell(h) for h in headers) + " |")
        self.out("|" + "|".join("---" for _ in headers) + "|")
        for r in rows:
            self.out("| " + " | ".join(cell(v) for v in r) + " |")
        self.out()


def _render(t: Trace, r: _Renderer) -> str:
    n = t.X.shape[0]
    L = len(t.layers)
    widths = [t.layers[0].W.shape[0]] + [lt.W.shape[1] for lt in t.layers]
    acts = ", ".join(dict.fromkeys(lt.activation for lt in t.layers))
    title = (f"One training step of a {'-'.join(map(str, widths))} network ({acts}; loss {t.loss_name}; "
             f"η = {r.num(t.lr)}; {n} sample{'s' if n > 1 else ''})")
    is_md = isinstance(r, _MarkdownRenderer)
    if is_md:
        r.out("# " + title)
        r.out()
    else:
        r.out(title)
        r.out("═" * len(title))

    shead = ["sample"] if n > 1 else []

    def srow(s):
        return [str(s + 1)] if n > 1 else []

    def h(K, *idx):  # h^0 is x
        return r.sym("x", None, *idx) if K == 0 else r.sym("h", K, *idx)

    r.para(f"Notation: {r.math(r.sym('x', None, 'i'))} inputs; {r.math(r.sym('W', 'K', 'i', 'j'))} weight from "
           f"neuron i of layer K−1 to neuron j of layer K; {r.math(r.sym('b', 'K', 'j'))} bias; "
           f"{r.math(r.sym('Z', 'K', 'j'))} weighted sum; "
           f"{r.math(r.sym('h', 'K', 'j') + ' = f(' + r.sym('Z', 'K', 'j') + ')')} "
           f"output; {r.math('y_p')} prediction (= {r.math(r.sym('h', L))}), {r.math('y_t')} target, "
           f"{r.math('C')} loss, {r.math(r.eta)} learning rate.")
    r.table(["sample"] + [r.sym("x", None, i + 1) for i in range(t.X.shape[1])]
            + [r.sym("y_t", None, c + 1) if t.Y_true.shape[1] > 1 else "y_t" for c in range(t.Y_true.shape[1])],
            [[str(s + 1)] + [r.num(v) for v in t.X[s]] + [r.num(v) for v in t.Y_true[s]] for s in range(n)])

    # ---- 1. forward --------------------------------------------------------------------------
    r.heading(1, "1. Forward pass: Z = Σ_i x_i W_ij + b_j, h = f(Z)" if not is_md else
              r"1. Forward pass: $Z_j = \sum_i x_i W_{ij} + b_j$, $h_j = f(Z_j)$")
    for lt in t.layers:
        K = lt.index
        d_in, d_out = lt.W.shape
        r.heading(2, f"Layer {K} ({lt.name}): {d_in} → {d_out} neurons, f = {lt.activation}")
        r.table(["i ↓ j →"] + [str(j + 1) for j in range(d_out)],
                [[r.sym("W", K, i + 1, "j")] + [r.num(v) for v in lt.W[i]] for i in range(d_in)]
                + [[r.sym("b", K, "j")] + [r.num(v) for v in lt.B]])
        for s in range(n):
            if n > 1:
                r.para(f"Sample {s + 1}:")
            for j in range(d_out):
                syms = [h(K - 1, i + 1) + r.times + r.sym("W", K, i + 1, j + 1) for i in range(d_in)]
                nums = [r.pnum(lt.X[s, i]) + r.times + r.pnum(lt.W[i, j]) for i in range(d_in)]
                Zs = r.sym("Z", K, j + 1)
                r.eq(f"{Zs} = {r.terms(syms, r.plus)} + {r.sym('b', K, j + 1)} = "
                     f"{r.terms(nums, r.plus)} + {r.pnum(lt.B[j])} = {r.num(lt.Z[s, j])}")
            if lt.activation == "softmax":
                r.eq(f"{h(K, 'j')} = exp({r.sym('Z', K, 'j')}) / Σ_c exp({r.sym('Z', K, 'c')})" if not is_md else
                     rf"{h(K, 'j')} = e^{{{r.sym('Z', K, 'j')}}} / \sum_c e^{{{r.sym('Z', K, 'c')}}}")
            r.table(["j", r.sym("Z", K, "j"), f"{h(K, 'j')} = {r.f(lt.activation, r.sym('Z', K, 'j'))}"],
                    [[str(j + 1), r.num(lt.Z[s, j]), r.num(lt.H[s, j])] for j in range(d_out)])
    r.para(f"Prediction {r.math('y_p')} = {r.math(r.sym('h', L))}: "
           + "; ".join("[" + ", ".join(r.num(v) for v in row) + "]" for row in t.Y_pred))

    # ---- 2. loss -------------------------------------------------------------------------------
    k = t.Y_true.shape[1]
    r.heading(1, "2. Loss")
    if t.loss_name == "mse":
        formula = ("C = 1/(n·k) Σ (y_p − y_t)²" if not is_md else
                   r"C = \frac{1}{n k} \sum (y_p - y_t)^2")
        nums = [f"({r.num(p)}{r.minus}{r.pnum(y)})²" if not is_md else f"({r.num(p)}{r.minus}{r.pnum(y)})^2"
                for p, y in zip(t.Y_pred.ravel(), t.Y_true.ravel())]
        r.eq(f"{formula} = " + (f"1/{n * k} ({r.terms(nums, r.plus)})" if n * k > 1 else nums[0])
             + f" = {r.num(t.C)}" if not is_md else
             f"{formula} = " + (rf"\frac{{1}}{{{n * k}}}({r.terms(nums, r.plus)})" if n * k > 1 else nums[0])
             + f" = {r.num(t.C)}")
    elif t.loss_name == "binary_crossentropy":
        r.eq(("C = −1/(n·k) Σ [y_t log y_p + (1 − y_t) log(1 − y_p)]" if not is_md else
              r"C = -\frac{1}{n k} \sum [y_t \log y_p + (1 - y_t)\log(1 - y_p)]") + f" = {r.num(t.C)}")
    else:
        r.eq(("C = −1/n Σ_samples Σ_c y_t,c log y_p,c" if not is_md else
              r"C = -\frac{1}{n} \sum_{s} \sum_c y_{t,c} \log y_{p,c}") + f" = {r.num(t.C)}")
    over = f"n = {n} sample{'s' if n > 1 else ''}"
    if t.loss_name != "categorical_crossentropy":
        over += f" and k = {k} output{'s' if k > 1 else ''}"
    r.para(f"({t.loss_name}, as the library computes it: a mean over {over}.)")

    # ---- 3. backward -----------------------------------------------------------------------------
    r.heading(1, "3. Backward pass (chain rule, from the output back)")
    for lt in reversed(t.layers):
        K = lt.index
        d_in, d_out = lt.W.shape
        kind = "output" if K == L else "hidden"
        r.heading(2, f"Layer {K} ({lt.name}, {kind})")
        if K == L and t.fused:
            denom = "n" if t.loss_name == "categorical_crossentropy" else "n·k" if not is_md else "n k"
            r.para(f"The loss is {t.loss_name} and the output is {lt.activation}, so their derivatives cancel: "
                   + r.math(f"{r.d(r.sym('Z', K, 'j'))} = (y_p - y_t) / {denom}") + " directly.")
            rows = [srow(s) + [str(j + 1), r.num(t.Y_pred[s, j]), r.num(t.Y_true[s, j]), r.num(lt.dZ[s, j])]
                    for s in range(n) for j in range(d_out)]
            r.table(shead + ["j", "y_p", "y_t", r.d(r.sym("Z", K, "j"))], rows)
        else:
            if K == L:
                if t.loss_name == "mse":
                    frm = ("∂C/∂y_p = 2 (y_p − y_t) / (n·k)" if not is_md else
                           r"\frac{\partial C}{\partial y_p} = \frac{2 (y_p - y_t)}{n k}")
                elif t.loss_name == "binary_crossentropy":
                    frm = ("∂C/∂y_p = (y_p − y_t) / (y_p (1 − y_p) n·k)" if not is_md else
                           r"\frac{\partial C}{\partial y_p} = \frac{y_p - y_t}{y_p (1 - y_p)\, n k}")
                else:
                    frm = ("∂C/∂y_p = −y_t / (y_p n)" if not is_md else
                           r"\frac{\partial C}{\partial y_p} = -\frac{y_t}{y_p\, n}")
                if t.loss_name == "mse" and n * k == 1:
                    frm += (f" = 2{r.times}({r.num(t.Y_pred[0, 0])}{r.minus}{r.pnum(t.Y_true[0, 0])}) "
                            f"= {r.num(lt.dH[0, 0])}")
                r.eq(frm)
            else:
                nxt = t.layers[K]  # layer K+1 (0-based index K)
                r.para(f"A hidden neuron i of layer {K} feeds every neuron j of layer {K + 1}, so its "
                       f"gradient is the sum over them: "
                       + r.math(f"{r.d(h(K, 'i'))} = {r.sum('j')}{r.d(r.sym('Z', K + 1, 'j'))}{r.times}"
                                f"{r.sym('W', K + 1, 'i', 'j')}"))
                for s in range(n):
                    if n > 1:
                        r.para(f"Sample {s + 1}:")
                    for i in range(d_out):
                        syms = [r.d(r.sym("Z", K + 1, j + 1)) + r.times + r.sym("W", K + 1, i + 1, j + 1)
                                for j in range(nxt.W.shape[1])]
                        nums = [r.pnum(nxt.dZ[s, j]) + r.times + r.pnum(nxt.W[i, j]) for j in range(nxt.W.shape[1])]
                        r.eq(f"{r.d(h(K, i + 1))} = {r.terms(syms, r.plus)} = {r.terms(nums, r.plus)} = "
                             f"{r.num(lt.dH[s, i])}")
            if lt.activation == "softmax":
                r.para("Softmax couples its outputs: " + r.math(
                    f"{r.d(r.sym('Z', K, 'j'))} = {r.fprime('softmax')}") + f" with g = {r.math(r.d('h'))}.")
                r.table(shead + ["j", r.d(h(K, "j")), r.sym("h", K, "j"), r.d(r.sym("Z", K, "j"))],
                        [srow(s) + [str(j + 1), r.num(lt.dH[s, j]), r.num(lt.H[s, j]), r.num(lt.dZ[s, j])]
                         for s in range(n) for j in range(d_out)])
            else:
                r.table(shead + ["j", r.d(h(K, "j")), f"f'(Z) = {r.fprime(lt.activation)}",
                         f"{r.d(r.sym('Z', K, 'j'))} = {r.d(h(K, 'j'))}{r.times}f'(Z)"],
                        [srow(s) + [str(j + 1), r.num(lt.dH[s, j]),
                          r.num(lt.fprime[s, j]), r.num(lt.dZ[s, j])] for s in range(n) for j in range(d_out)])
        over = f"{r.sum('samples')}" if n > 1 else ""
        r.para("Weights and biases: " + r.math(
            f"{r.d(r.sym('W', K, 'i', 'j'))} = {over}{h(K - 1, 'i')}{r.times}{r.d(r.sym('Z', K, 'j'))}")
            + ", " + r.math(f"{r.d(r.sym('b', K, 'j'))} = {over}{r.d(r.sym('Z', K, 'j'))}"))
        if n == 1:
            rows = [[r.sym("W", K, i + 1, j + 1), r.num(lt.X[0, i]), r.num(lt.dZ[0, j]), r.num(lt.dW[i, j])]
                    for i in range(d_in) for j in range(d_out)]
            rows += [[r.sym("b", K, j + 1), "1", r.num(lt.dZ[0, j]), r.num(lt.dB[j])] for j in range(d_out)]
            r.table(["", h(K - 1, "i"), r.d(r.sym("Z", K, "j")), "gradient"], rows)
        else:
            rows = [[r.sym("W", K, i + 1, j + 1), r.num(lt.dW[i, j])] for i in range(d_in) for j in range(d_out)]
            rows += [[r.sym("b", K, j + 1), r.num(lt.dB[j])] for j in range(d_out)]
            r.table(["", "gradient (sum over samples)"], rows)

    # ---- 4. update -----------------------------------------------------------------------------
    r.heading(1, f"4. Update: W ← W − η ∂C/∂W (η = {r.num(t.lr)})" if not is_md else
              rf"4. Update: $W \leftarrow W - \eta \frac{{\partial C}}{{\partial W}}$ ($\eta = {r.num(t.lr)}$)")
    for lt in t.layers:
        K = lt.index
        d_in, d_out = lt.W.shape
        r.heading(2, f"Layer {K} ({lt.name})")
        rows = [[r.sym("W", K, i + 1, j + 1), r.num(lt.W[i, j]), r.num(lt.dW[i, j]), r.num(lt.W_new[i, j])]
                for i in range(d_in) for j in range(d_out)]
        rows += [[r.sym("b", K, j + 1), r.num(lt.B[j]), r.num(lt.dB[j]), r.num(lt.B_new[j])] for j in range(d_out)]
        r.table(["", "before", "∂C/∂·" if not is_md else r"\partial C / \partial \cdot",
                 f"after = before {r.minus.strip()} {r.num(t.lr)}{r.times}∂C/∂·" if not is_md else
                 rf"\text{{before}} - {r.num(t.lr)} \cdot \partial C/\partial \cdot"], rows)
    text = "\n".join(r.lines).rstrip() + "\n"
    return text
