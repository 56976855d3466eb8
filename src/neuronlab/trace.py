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

Printing is one walk over the record (:class:`_Walk`) that asks a renderer for the notation:
:class:`_TextRenderer` (terminal, Unicode) or :class:`_MarkdownRenderer` (Markdown + LaTeX).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from . import losses as _losses
from .layers import Dense
from .model import Sequential
from .validation import Options, Real, check

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
    momentum : float
        γ of the guide's momentum (0: plain gradient descent); the step is the first one from
        v₀ = 0, W ← W − η v with v = (1 − γ) ∂C/∂W.
    indexing : {"neuronlab", "guide"}
        The names printed by default: neuronlab's (from 1; W^K enters layer K) or the guide's
        (from 0; W^K leaves layer K). The numbers are the same.
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
    indexing: str = "neuronlab"
    momentum: float = 0.0

    def gradients(self) -> list[np.ndarray]:
        """[∂C/∂W^1, ∂C/∂b^1, ∂C/∂W^2, ...], the order of ``model.get_gradients()``."""
        return [a for layer in self.layers for a in (layer.dW, layer.dB)]

    def new_weights(self) -> list[np.ndarray]:
        """[W^1 - η ∂C/∂W^1, b^1 - η ∂C/∂b^1, ...], the order of ``model.get_weights()``."""
        return [a for layer in self.layers for a in (layer.W_new, layer.B_new)]

    def to_text(self, digits: int = 4, max_terms: int = 6, indexing: str | None = None) -> str:
        """The walk-through as plain text with readable tables (Unicode symbols)."""
        return _Walk(self, _TextRenderer(digits, max_terms, self._indexing(indexing))).render()

    def to_markdown(self, digits: int = 4, max_terms: int = 6, indexing: str | None = None) -> str:
        """The walk-through as Markdown with LaTeX equations ($...$ and $$...$$)."""
        return _Walk(self, _MarkdownRenderer(digits, max_terms, self._indexing(indexing))).render()

    def _indexing(self, indexing):
        return self.indexing if indexing is None else check("Trace", "indexing", indexing, _INDEXING)

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


_INDEXING = Options("neuronlab", "guide")


def trace(model: Sequential | None = None, X=None, y=None, lr: float = 0.5, loss=None,
          indexing: str = "neuronlab", momentum: float = 0.0) -> Trace:
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
    indexing : {"neuronlab", "guide"}
        How the symbols are numbered when printed. ``"neuronlab"``: from 1, W^K_ij enters
        layer K (x₁, W¹₁₁). ``"guide"``: the guide's names, from 0, W^K_ij leaves layer K
        (x₀, W⁰₀₀); see docs/NOTATION.md.
    momentum : float
        γ of the guide's momentum, 0 ≤ γ < 1 (``SGD(momentum=γ, ema=True)``): the traced step is
        the first one, from v₀ = 0, so W ← W − η (1 − γ) ∂C/∂W. 0: plain W ← W − η ∂C/∂W.

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
    lr = check("trace", "lr (η)", lr, Real(low=0, low_open=True))
    indexing = check("trace", "indexing", indexing, _INDEXING)
    momentum = check("trace", "momentum (γ)", momentum, Real(low=0, high=1, high_open=True))
    layers = _dense_layers(model)
    loss, X, Y, fused = _check_data(model, layers, X, y, loss)
    n, k = X.shape[0], layers[-1].units
    traces, P = _forward(layers, X)
    T = Y.tolist()
    C = _loss_value(loss.name, fused, P, T, traces[-1].Z.tolist(), n, k)
    dH, dZ = _loss_gradient(loss.name, fused, P, T, n, k)
    dY = None if dH is None else np.array(dH)
    # lr as given (not float(lr)): the update is W - lr * ((1 - γ) dW), as SGD computes it
    _backward(traces, dH, dZ, lr, n, 1.0 - momentum)
    return Trace(traces, X, Y, np.array(P), loss.name, float(C), float(lr), fused, dY, indexing, float(momentum))


def _check_data(model: Sequential, layers: list[Dense], X, y, loss):
    """``(loss, X, Y, fused)``: the Loss, X as float64 rows, y_t one-hot, and whether the loss gives ∂C/∂Z."""
    if loss is None:
        loss = model.loss if model.loss is not None else "mse"
    loss = _losses.get(loss)
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
    fused = loss.partner is not None and out_act == loss.partner
    if out_act == "softmax" and not fused and n_out == 1:
        raise ValueError("trace: a softmax output needs more than one neuron")
    return loss, X, Y, fused


def _forward(layers: list[Dense], X: np.ndarray) -> tuple[list[LayerTrace], list[list[float]]]:
    """The forward pass, Z^K_j = Σ_i h^{K-1}_i W^K_ij + b^K_j, h^K_j = f(Z^K_j): (layer records, y_p)."""
    n = X.shape[0]
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
    return traces, A


def _loss_value(loss_name: str, fused: bool, P, T, Zout, n: int, k: int) -> float:
    """C(y_p, y_t) as the library computes it (from the logits Z when ``fused``)."""
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
    return C


def _loss_gradient(loss_name: str, fused: bool, P, T, n: int, k: int):
    """``(dH, dZ)`` of the output layer: ∂C/∂y_p and None, or None and ∂C/∂Z when ``fused``."""
    if fused:  # ∂C/∂Z = (y_p - y_t)/n (softmax + CE) or /(n k) (sigmoid + BCE)
        denom = n if loss_name == "categorical_crossentropy" else n * k
        return None, [[(P[s][c] - T[s][c]) / denom for c in range(k)] for s in range(n)]
    if loss_name == "mse":
        dH = [[2.0 * (P[s][c] - T[s][c]) / (n * k) for c in range(k)] for s in range(n)]
    elif loss_name == "binary_crossentropy":
        dH = [[(P[s][c] - T[s][c]) / max(P[s][c] * (1 - P[s][c]), 1e-12) / (n * k) for c in range(k)]
              for s in range(n)]
    else:
        dH = [[-T[s][c] / max(P[s][c], _TINY64) / n for c in range(k)] for s in range(n)]
    return dH, None


def _backward(traces: list[LayerTrace], dH, dZ, lr, n: int, keep: float = 1.0) -> None:
    """The backward pass and the update, output layer first; fills dH, fprime, dZ, dW, dB, dX, W_new, B_new."""
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
        # v = (1 − γ) ∂C/∂W: the guide's momentum from v₀ = 0 (the factor is 1.0 without momentum)
        lt.W_new = np.array([[Wl[i][j] - lr * (keep * dW[i][j]) for j in range(d_out)] for i in range(d_in)])
        lt.B_new = np.array([lt.B[j] - lr * (keep * dB[j]) for j in range(d_out)])
        if lt.index > 1:  # a hidden neuron i feeds every neuron j of this layer
            dH = [[sum(dZ[s][j] * Wl[i][j] for j in range(d_out)) for i in range(d_in)] for s in range(n)]
            lt.dX = np.array(dH)


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


def library_step(model: Sequential, X, y, lr: float = 0.5, loss=None, momentum: float = 0.0) -> dict:
    """The same step with the library's vectorised code, on a float64 copy of ``model``.

    ``model.forward`` → loss → ``model.backward`` (``Param.grad``) → ``SGD(lr).step`` (with
    ``momentum``: ``SGD(lr, momentum=γ, ema=True)``, the guide's momentum).
    Returns ``{"H": [h^1, ..., h^L], "C": C, "grads": [...], "weights": [...]}``.
    """
    from .diagnostics import clone
    from .optimizers import SGD

    copy = clone(model, np.float64)
    copy.compile(loss=loss if loss is not None else (model.loss if model.loss is not None else "mse"),
                 optimizer=SGD(lr=lr, momentum=momentum, ema=True) if momentum else SGD(lr=lr))
    X = np.asarray(X, dtype=np.float64)
    C, grads = copy.loss_and_grads(X, y)
    P = copy.forward(X, training=True)  # the trace's network has no dropout: the same pass again
    H = [layer.H.copy() for layer in copy.layers[:-1]] + [P]
    copy.optimizer.step(copy.params())
    return {"H": H, "C": float(C), "grads": list(grads.values()), "weights": copy.get_weights()}


def compare_with_library(t: Trace, model: Sequential, X, y, loss=None) -> float:
    """Largest relative difference between the trace and :func:`library_step` (all numbers)."""
    lib = library_step(model, X, y, t.lr, loss if loss is not None else t.loss_name, t.momentum)
    pairs = [(lt.H, h) for lt, h in zip(t.layers, lib["H"])]
    pairs += [(np.array(t.C), np.array(lib["C"]))]
    pairs += list(zip(t.gradients(), lib["grads"])) + list(zip(t.new_weights(), lib["weights"]))
    worst = 0.0
    for a, b in pairs:
        scale = max(float(np.abs(b).max(initial=0.0)), 1e-300)
        worst = max(worst, float(np.abs(a - b).max(initial=0.0)) / scale)
    return worst


# ---------------------------------------------------------------------------------------------
# rendering: one walk (_Walk), two notations (_TextRenderer for the terminal, _MarkdownRenderer
# for Markdown + LaTeX)
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
    """The notation :class:`_Walk` writes in: one subclass per output format.

    Shared here: numbers (``num``, ``pnum``), long sums cut to ``max_terms`` (``terms``) and the
    collected lines (``out``, ``text``). A subclass sets the operators and fixed formulas below
    and writes

    * strings: ``sym(base, K, *idx)`` base^K_idx (K None: no superscript; integer K and
      indices are neuronlab's, renamed by ``names`` under the guide's indexing), ``d(s)`` ∂C/∂s,
      ``f(act, arg)`` σ(arg), ``fprime(act)`` f' written with h, ``sum(idx)`` "Σ_idx ",
      ``ellipsis(k)`` for k terms left out, ``square(s)``, ``mean(m, body)`` 1/m (body),
      ``softmax_def(h, zj, zc)``, ``update_heading(lr, γ)``, ``update_after(lr, γ)`` (the update
      tables' last header), ``math(s)`` inline math within prose;
    * blocks, written out: ``title(s)``, ``heading(level, s)`` (1: the four sections, 2: a
      layer), ``eq(s)`` a displayed equation, ``para(s)``, ``table(headers, rows)`` (first
      column: labels; Markdown wraps symbol cells in $...$).
    """

    times = plus = minus = eta = ""  # × + − η
    nk = ""  # n·k (samples × outputs) in a denominator
    forward_heading = ""  # 1. Forward pass: Z = ..., h = f(Z)
    loss_formula: dict[str, str] = {}  # C = ..., per loss name
    dC_dyp: dict[str, str] = {}  # ∂C/∂y_p = ..., per loss name (outputs not fused with the loss)
    param_grad = ""  # ∂C/∂· (header of the update tables)

    def __init__(self, digits, max_terms, indexing: str = "neuronlab"):
        self.digits, self.max_terms = int(digits), int(max_terms)
        self.guide = indexing == "guide"
        self.lines: list[str] = []

    def names(self, base, K, idx):
        """neuronlab's numbering (from 1; W^K enters layer K) or the guide's (from 0; the
        superscript of W is the layer the weight leaves, K − 1). Letters (i, j, K) stay."""
        if not self.guide:
            return K, idx
        idx = tuple(i - 1 if isinstance(i, int) else i for i in idx)
        if base == "W" and isinstance(K, int):
            K -= 1
        return K, idx

    def label(self, j: int) -> str:
        """Neuron number j (neuronlab's, from 1) as printed in the tables' j column."""
        return str(j - 1 if self.guide else j)

    def weight_words(self) -> str:
        """What W^K_ij means under this indexing, for the notation line."""
        if self.guide:
            return ("weight from neuron i of layer K to neuron j of layer K+1 (the guide's names: "
                    "neurons and inputs counted from 0, the superscript of W is the layer the weight leaves)")
        return "weight from neuron i of layer K−1 to neuron j of layer K"

    def num(self, v: float) -> str:
        v = float(v)
        return "0" if v == 0 else f"{v:.{self.digits}g}"

    def pnum(self, v: float) -> str:
        """A number that may follow an operator: negative ones in parentheses."""
        s = self.num(v)
        return f"({s})" if s.startswith("-") else s

    def terms(self, parts: list[str]) -> str:
        """``parts`` joined by ``plus``, the middle ones replaced by an ellipsis beyond ``max_terms``."""
        if len(parts) > self.max_terms:
            head = parts[: self.max_terms - 2]
            parts = head + [self.ellipsis(len(parts) - len(head) - 1), parts[-1]]
        return self.plus.join(parts)

    def out(self, s: str = "") -> None:
        self.lines.append(s)

    def text(self) -> str:
        """Everything written so far, ending in one newline."""
        return "\n".join(self.lines).rstrip() + "\n"


class _TextRenderer(_Renderer):
    """Terminal text: Unicode super- and subscripts, underlined headings, aligned tables."""

    times, plus, minus, eta = "×", " + ", " − ", "η"
    nk = "n·k"
    forward_heading = "1. Forward pass: Z = Σ_i x_i W_ij + b_j, h = f(Z)"
    loss_formula = {"mse": "C = 1/(n·k) Σ (y_p − y_t)²",
                    "binary_crossentropy": "C = −1/(n·k) Σ [y_t log y_p + (1 − y_t) log(1 − y_p)]",
                    "categorical_crossentropy": "C = −1/n Σ_samples Σ_c y_t,c log y_p,c"}
    dC_dyp = {"mse": "∂C/∂y_p = 2 (y_p − y_t) / (n·k)",
              "binary_crossentropy": "∂C/∂y_p = (y_p − y_t) / (y_p (1 − y_p) n·k)",
              "categorical_crossentropy": "∂C/∂y_p = −y_t / (y_p n)"}
    param_grad = "∂C/∂·"

    @staticmethod
    def _idx(idx):
        idx = [str(i) for i in idx]
        if all(len(i) == 1 and i in _SUB_OK for i in idx):
            return "".join(idx).translate(_SUB)
        return "[" + ",".join(idx) + "]"

    def sym(self, base, K=None, *idx):
        K, idx = self.names(base, K, idx)
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

    def square(self, s):
        return f"{s}²"

    def mean(self, m, body):
        return f"1/{m} ({body})"

    def softmax_def(self, h, zj, zc):
        return f"{h} = exp({zj}) / Σ_c exp({zc})"

    def update_heading(self, lr, gamma=0.0):
        if gamma:
            return (f"4. Update with the guide's momentum: v = γ v₀ + (1 − γ) ∂C/∂W with v₀ = 0, W ← W − η v "
                    f"(η = {self.num(lr)}, γ = {self.num(gamma)})")
        return f"4. Update: W ← W − η ∂C/∂W (η = {self.num(lr)})"

    def update_after(self, lr, gamma=0.0):
        factor = f"{self.num(lr)}{self.times}{self.num(1 - gamma)}" if gamma else self.num(lr)
        return f"after = before {self.minus.strip()} {factor}{self.times}∂C/∂·"

    def math(self, s):
        return s

    def title(self, s):
        self.out(s)
        self.out("═" * len(s))

    def heading(self, level, s):
        self.out()
        self.out(s)
        if level in (1, 2):
            self.out(("═" if level == 1 else "─") * len(s))

    def eq(self, s):
        self.out("  " + s)

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
    """Markdown: # headings, pipe tables, LaTeX in $...$ (inline) and $$...$$ (displayed)."""

    times, plus, minus, eta = r" \cdot ", " + ", " - ", r"\eta"
    nk = "n k"
    forward_heading = r"1. Forward pass: $Z_j = \sum_i x_i W_{ij} + b_j$, $h_j = f(Z_j)$"
    loss_formula = {"mse": r"C = \frac{1}{n k} \sum (y_p - y_t)^2",
                    "binary_crossentropy": r"C = -\frac{1}{n k} \sum [y_t \log y_p + (1 - y_t)\log(1 - y_p)]",
                    "categorical_crossentropy": r"C = -\frac{1}{n} \sum_{s} \sum_c y_{t,c} \log y_{p,c}"}
    dC_dyp = {"mse": r"\frac{\partial C}{\partial y_p} = \frac{2 (y_p - y_t)}{n k}",
              "binary_crossentropy": r"\frac{\partial C}{\partial y_p} = \frac{y_p - y_t}{y_p (1 - y_p)\, n k}",
              "categorical_crossentropy": r"\frac{\partial C}{\partial y_p} = -\frac{y_t}{y_p\, n}"}
    param_grad = r"\partial C / \partial \cdot"

    def sym(self, base, K=None, *idx):
        K, idx = self.names(base, K, idx)
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

    def square(self, s):
        return f"{s}^2"

    def mean(self, m, body):
        return rf"\frac{{1}}{{{m}}}({body})"

    def softmax_def(self, h, zj, zc):
        return rf"{h} = e^{{{zj}}} / \sum_c e^{{{zc}}}"

    def update_heading(self, lr, gamma=0.0):
        if gamma:
            return (r"4. Update with the guide's momentum: "
                    r"$v = \gamma v_0 + (1 - \gamma) \frac{\partial C}{\partial W}$, "
                    rf"$v_0 = 0$, $W \leftarrow W - \eta v$ ($\eta = {self.num(lr)}$, $\gamma = {self.num(gamma)}$)")
        return rf"4. Update: $W \leftarrow W - \eta \frac{{\partial C}}{{\partial W}}$ ($\eta = {self.num(lr)}$)"

    def update_after(self, lr, gamma=0.0):
        factor = f"{self.num(lr)} \\cdot {self.num(1 - gamma)}" if gamma else self.num(lr)
        return rf"\text{{before}} - {factor} \cdot \partial C/\partial \cdot"

    def math(self, s):
        return f"${s}$"

    def title(self, s):
        self.out("# " + s)
        self.out()

    def heading(self, level, s):
        self.out()
        self.out("#" * (level + 1) + " " + s)
        self.out()

    def eq(self, s):
        self.out(f"$${s}$$")
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


class _Walk:
    """A :class:`Trace` told in the guide's order: data, forward pass, loss, backward pass, update.

    Written once for both formats: what depends on the notation comes from the renderer ``r``.
    """

    def __init__(self, t: Trace, r: _Renderer):
        self.t, self.r = t, r
        self.n, self.k, self.L = t.X.shape[0], t.Y_true.shape[1], len(t.layers)
        self.shead = ["sample"] if self.n > 1 else []  # first column of the per-sample tables

    def render(self) -> str:
        self.header()
        self.forward()
        self.loss()
        self.backward()
        self.update()
        return self.r.text()

    # ---- helpers ---------------------------------------------------------------------------------
    def h(self, K, *idx) -> str:
        """h^K_idx; h^0 is x."""
        return self.r.sym("x", None, *idx) if K == 0 else self.r.sym("h", K, *idx)

    def sample(self, s: int) -> None:
        if self.n > 1:
            self.r.para(f"Sample {s + 1}:")

    def neuron_rows(self, lt: LayerTrace, cells) -> list[list[str]]:
        """One row per sample (when several) and neuron j: [sample], j, then ``cells(s, j)``."""
        return [([str(s + 1)] if self.n > 1 else []) + [self.r.label(j + 1)] + cells(s, j)
                for s in range(self.n) for j in range(lt.W.shape[1])]

    def param_rows(self, lt: LayerTrace, w_cells, b_cells) -> list[list[str]]:
        """One row per weight W^K_ij, then one per bias b^K_j: the symbol, then the cells."""
        r, K = self.r, lt.index
        d_in, d_out = lt.W.shape
        return ([[r.sym("W", K, i + 1, j + 1)] + w_cells(i, j) for i in range(d_in) for j in range(d_out)]
                + [[r.sym("b", K, j + 1)] + b_cells(j) for j in range(d_out)])

    def loss_key(self) -> str:
        """The formulas to print: any loss but mse and binary cross-entropy reads as categorical."""
        name = self.t.loss_name
        return name if name in ("mse", "binary_crossentropy") else "categorical_crossentropy"

    # ---- 0. title, notation, data ------------------------------------------------------------------
    def header(self) -> None:
        t, r, n = self.t, self.r, self.n
        widths = [t.layers[0].W.shape[0]] + [lt.W.shape[1] for lt in t.layers]
        acts = ", ".join(dict.fromkeys(lt.activation for lt in t.layers))
        r.title(f"One training step of a {'-'.join(map(str, widths))} network ({acts}; loss {t.loss_name}; "
                f"η = {r.num(t.lr)}; {n} sample{'s' if n > 1 else ''})")
        r.para(f"Notation: {r.math(r.sym('x', None, 'i'))} inputs; {r.math(r.sym('W', 'K', 'i', 'j'))} "
               f"{r.weight_words()}; {r.math(r.sym('b', 'K', 'j'))} bias; "
               f"{r.math(r.sym('Z', 'K', 'j'))} weighted sum; "
               f"{r.math(r.sym('h', 'K', 'j') + ' = f(' + r.sym('Z', 'K', 'j') + ')')} "
               f"output; {r.math('y_p')} prediction (= {r.math(r.sym('h', self.L))}), {r.math('y_t')} target, "
               f"{r.math('C')} loss, {r.math(r.eta)} learning rate.")
        k = self.k
        r.table(["sample"] + [r.sym("x", None, i + 1) for i in range(t.X.shape[1])]
                + [r.sym("y_t", None, c + 1) if k > 1 else "y_t" for c in range(k)],
                [[str(s + 1)] + [r.num(v) for v in t.X[s]] + [r.num(v) for v in t.Y_true[s]] for s in range(n)])

    # ---- 1. forward ----------------------------------------------------------------------------------
    def forward(self) -> None:
        r = self.r
        r.heading(1, r.forward_heading)
        for lt in self.t.layers:
            self.forward_layer(lt)
        r.para(f"Prediction {r.math('y_p')} = {r.math(r.sym('h', self.L))}: "
               + "; ".join("[" + ", ".join(r.num(v) for v in row) + "]" for row in self.t.Y_pred))

    def forward_layer(self, lt: LayerTrace) -> None:
        r, h, K = self.r, self.h, lt.index
        d_in, d_out = lt.W.shape
        r.heading(2, f"Layer {K} ({lt.name}): {d_in} → {d_out} neurons, f = {lt.activation}")
        r.table(["i ↓ j →"] + [r.label(j + 1) for j in range(d_out)],
                [[r.sym("W", K, i + 1, "j")] + [r.num(v) for v in lt.W[i]] for i in range(d_in)]
                + [[r.sym("b", K, "j")] + [r.num(v) for v in lt.B]])
        for s in range(self.n):
            self.sample(s)
            for j in range(d_out):
                syms = [h(K - 1, i + 1) + r.times + r.sym("W", K, i + 1, j + 1) for i in range(d_in)]
                nums = [r.pnum(lt.X[s, i]) + r.times + r.pnum(lt.W[i, j]) for i in range(d_in)]
                r.eq(f"{r.sym('Z', K, j + 1)} = {r.terms(syms)} + {r.sym('b', K, j + 1)} = "
                     f"{r.terms(nums)} + {r.pnum(lt.B[j])} = {r.num(lt.Z[s, j])}")
            if lt.activation == "softmax":
                r.eq(r.softmax_def(h(K, "j"), r.sym("Z", K, "j"), r.sym("Z", K, "c")))
            r.table(["j", r.sym("Z", K, "j"), f"{h(K, 'j')} = {r.f(lt.activation, r.sym('Z', K, 'j'))}"],
                    [[r.label(j + 1), r.num(lt.Z[s, j]), r.num(lt.H[s, j])] for j in range(d_out)])

    # ---- 2. loss ---------------------------------------------------------------------------------------
    def loss(self) -> None:
        t, r, n, k = self.t, self.r, self.n, self.k
        r.heading(1, "2. Loss")
        formula = r.loss_formula[self.loss_key()]
        if t.loss_name == "mse":
            nums = [r.square(f"({r.num(p)}{r.minus}{r.pnum(y)})") for p, y in zip(t.Y_pred.ravel(), t.Y_true.ravel())]
            r.eq(f"{formula} = " + (r.mean(n * k, r.terms(nums)) if n * k > 1 else nums[0]) + f" = {r.num(t.C)}")
        else:
            r.eq(f"{formula} = {r.num(t.C)}")
        over = f"n = {n} sample{'s' if n > 1 else ''}"
        if t.loss_name != "categorical_crossentropy":
            over += f" and k = {k} output{'s' if k > 1 else ''}"
        r.para(f"({t.loss_name}, as the library computes it: a mean over {over}.)")

    # ---- 3. backward -----------------------------------------------------------------------------------
    def backward(self) -> None:
        self.r.heading(1, "3. Backward pass (chain rule, from the output back)")
        for lt in reversed(self.t.layers):
            K = lt.index
            self.r.heading(2, f"Layer {K} ({lt.name}, {'output' if K == self.L else 'hidden'})")
            if K == self.L and self.t.fused:
                self.fused_output(lt)
            else:
                if K == self.L:
                    self.output_dH(lt)
                else:
                    self.hidden_dH(lt)
                self.activation_dZ(lt)
            self.param_grads(lt)

    def fused_output(self, lt: LayerTrace) -> None:
        """∂C/∂Z straight from the loss (softmax + CE, sigmoid + BCE)."""
        t, r, K = self.t, self.r, lt.index
        denom = "n" if t.loss_name == "categorical_crossentropy" else r.nk
        r.para(f"The loss is {t.loss_name} and the output is {lt.activation}, so their derivatives cancel: "
               + r.math(f"{r.d(r.sym('Z', K, 'j'))} = (y_p - y_t) / {denom}") + " directly.")
        r.table(self.shead + ["j", "y_p", "y_t", r.d(r.sym("Z", K, "j"))],
                self.neuron_rows(lt, lambda s, j: [r.num(t.Y_pred[s, j]), r.num(t.Y_true[s, j]),
                                                   r.num(lt.dZ[s, j])]))

    def output_dH(self, lt: LayerTrace) -> None:
        """∂C/∂y_p, the loss's derivative (worked out for one sample and one output of mse)."""
        t, r = self.t, self.r
        frm = r.dC_dyp[self.loss_key()]
        if t.loss_name == "mse" and self.n * self.k == 1:
            frm += (f" = 2{r.times}({r.num(t.Y_pred[0, 0])}{r.minus}{r.pnum(t.Y_true[0, 0])}) "
                    f"= {r.num(lt.dH[0, 0])}")
        r.eq(frm)

    def hidden_dH(self, lt: LayerTrace) -> None:
        """∂C/∂h^K_i of a hidden neuron: the sum over the neurons j of layer K+1 it feeds."""
        r, h, K = self.r, self.h, lt.index
        nxt = self.t.layers[K]  # layer K+1 (0-based index K)
        r.para(f"A hidden neuron i of layer {K} feeds every neuron j of layer {K + 1}, so its "
               f"gradient is the sum over them: "
               + r.math(f"{r.d(h(K, 'i'))} = {r.sum('j')}{r.d(r.sym('Z', K + 1, 'j'))}{r.times}"
                        f"{r.sym('W', K + 1, 'i', 'j')}"))
        for s in range(self.n):
            self.sample(s)
            for i in range(lt.W.shape[1]):
                syms = [r.d(r.sym("Z", K + 1, j + 1)) + r.times + r.sym("W", K + 1, i + 1, j + 1)
                        for j in range(nxt.W.shape[1])]
                nums = [r.pnum(nxt.dZ[s, j]) + r.times + r.pnum(nxt.W[i, j]) for j in range(nxt.W.shape[1])]
                r.eq(f"{r.d(h(K, i + 1))} = {r.terms(syms)} = {r.terms(nums)} = {r.num(lt.dH[s, i])}")

    def activation_dZ(self, lt: LayerTrace) -> None:
        """∂C/∂Z^K from ∂C/∂h^K through f: the softmax Jacobian, or f'(Z) neuron by neuron."""
        r, h, K = self.r, self.h, lt.index
        dZ = r.d(r.sym("Z", K, "j"))
        if lt.activation == "softmax":
            r.para("Softmax couples its outputs: " + r.math(f"{dZ} = {r.fprime('softmax')}")
                   + f" with g = {r.math(r.d('h'))}.")
            r.table(self.shead + ["j", r.d(h(K, "j")), r.sym("h", K, "j"), dZ],
                    self.neuron_rows(lt, lambda s, j: [r.num(lt.dH[s, j]), r.num(lt.H[s, j]), r.num(lt.dZ[s, j])]))
        else:
            r.table(self.shead + ["j", r.d(h(K, "j")), f"f'(Z) = {r.fprime(lt.activation)}",
                                  f"{dZ} = {r.d(h(K, 'j'))}{r.times}f'(Z)"],
                    self.neuron_rows(lt, lambda s, j: [r.num(lt.dH[s, j]), r.num(lt.fprime[s, j]),
                                                       r.num(lt.dZ[s, j])]))

    def param_grads(self, lt: LayerTrace) -> None:
        """∂C/∂W^K_ij and ∂C/∂b^K_j (the inputs and ∂C/∂Z beside them for one sample)."""
        r, h, K = self.r, self.h, lt.index
        over = f"{r.sum('samples')}" if self.n > 1 else ""
        dZ = r.d(r.sym("Z", K, "j"))
        r.para("Weights and biases: " + r.math(f"{r.d(r.sym('W', K, 'i', 'j'))} = {over}{h(K - 1, 'i')}{r.times}{dZ}")
               + ", " + r.math(f"{r.d(r.sym('b', K, 'j'))} = {over}{dZ}"))
        if self.n == 1:
            r.table(["", h(K - 1, "i"), dZ, "gradient"],
                    self.param_rows(lt, lambda i, j: [r.num(lt.X[0, i]), r.num(lt.dZ[0, j]), r.num(lt.dW[i, j])],
                                    lambda j: ["1", r.num(lt.dZ[0, j]), r.num(lt.dB[j])]))
        else:
            r.table(["", "gradient (sum over samples)"],
                    self.param_rows(lt, lambda i, j: [r.num(lt.dW[i, j])], lambda j: [r.num(lt.dB[j])]))

    # ---- 4. update ---------------------------------------------------------------------------------------
    def update(self) -> None:
        t, r = self.t, self.r
        r.heading(1, r.update_heading(t.lr, t.momentum))
        for lt in t.layers:
            self.update_layer(lt)

    def update_layer(self, lt: LayerTrace) -> None:
        r = self.r
        r.heading(2, f"Layer {lt.index} ({lt.name})")
        r.table(["", "before", r.param_grad, r.update_after(self.t.lr, self.t.momentum)],
                self.param_rows(lt, lambda i, j: [r.num(lt.W[i, j]), r.num(lt.dW[i, j]), r.num(lt.W_new[i, j])],
                                lambda j: [r.num(lt.B[j]), r.num(lt.dB[j]), r.num(lt.B_new[j])]))
