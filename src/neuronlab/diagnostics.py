"""Gradient checking: back-propagation's ∂C/∂W against float64 central differences.

    ∂C/∂W_ij ≈ (C(W_ij + h) - C(W_ij - h)) / 2h

run on a float64 copy of the model or layer, so float32 rounding never hides a wrong formula.
"""

from __future__ import annotations

import copy

import numpy as np

from .activations import Activation
from .core import Layer
from .losses import Loss
from .model import Sequential

__all__ = ["gradcheck", "clone"]


def clone(model: Sequential, dtype=None) -> Sequential:
    """A new model with the same architecture, weights, buffers, loss and dtype (or ``dtype``)."""
    config = {**model.get_config(), "dtype": str(np.dtype(dtype or model.dtype))}
    new = Sequential.from_config(config)
    if model.built:
        if not new.built:
            new.build(model.input_shape)
        new.set_weights(model.get_weights())
        for src, dst in zip(model.layers, new.layers):
            for key, arr in dst.buffers().items():
                arr[...] = src.buffers()[key]
    if model.loss is not None:
        new.compile(loss=copy.copy(model.loss), optimizer="sgd", metrics=model.compiled_metrics)
    new.classes_ = model.classes_
    return new


def _max_rel_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-6) -> float:
    """max |a - n| over the entries, divided by the largest gradient magnitude (≥ ``floor``)."""
    scale = max(float(np.abs(analytic).max(initial=0.0)), float(np.abs(numeric).max(initial=0.0)), floor)
    return float(np.abs(analytic - numeric).max(initial=0.0) / scale)


def gradcheck(model_or_layer, X, y=None, h: float = 1e-6, max_entries: int | None = 2000,
              seed: int = 0) -> dict[str, float]:
    """Compare back-propagated gradients with central differences, in float64.

    Parameters
    ----------
    model_or_layer : Sequential, Layer, Loss or Activation
        A compiled model (C is its loss); a single layer (C = Σ H ⊙ R for a fixed random R,
        which also checks ∂C/∂X); a loss (C = loss.value(X, y), checks ``gradient`` w.r.t.
        its input X: the output, or Z with ``from_logits``); or an activation (C = Σ f(Z) ⊙ R
        with Z = X, checks ``backward``).
    X, y : array_like
        Data; ``y`` is required for a model and a loss, ignored for a layer and an activation.
    h : float
        Central-difference step.
    max_entries : int or None
        Check at most this many randomly chosen entries per parameter (None: all).
    seed : int
        For R and the choice of entries. Dropout masks are frozen by replaying the
        model's generator state before every forward pass.

    Returns
    -------
    dict
        Parameter name (and "X" for a layer) → max |analytic - numeric| / max |gradient|.
    """
    pick_rng = np.random.default_rng(seed)
    X = np.array(X, dtype=np.float64, order="C")  # a private contiguous copy: perturbed in place below
    if isinstance(model_or_layer, (Loss, Activation)):
        return {"X": _check_function(model_or_layer, X, y, h, max_entries, pick_rng)}
    if isinstance(model_or_layer, Sequential):
        if model_or_layer.loss is None:
            raise ValueError("gradcheck: call model.compile(loss=...) before gradcheck")
        model = clone(model_or_layer, np.float64)

        def loss_of(inp):
            return model.compute_loss(inp, y, training=True), None

        def backward(_):
            model.loss_and_grads(X, y, training=True)
            return None
        check_input = False
    elif isinstance(model_or_layer, Layer):
        src = model_or_layer
        layer = type(src).from_config(src.config())
        layer.name = src.name or type(src).__name__.lower()
        model = Sequential([layer], seed=seed, dtype=np.float64)
        model.build(X.shape[1:])
        if src.built and src.params():
            for p, q in zip(layer.params(), src.params()):
                p.value[...] = q.value
        layer.needs_input_grad = True
        R = None

        def loss_of(inp):
            nonlocal R
            H = layer.forward(inp, training=True)
            if R is None:
                R = pick_rng.standard_normal(H.shape)
            return float(np.vdot(H, R)), H

        def backward(H):
            return layer.backward(R.copy())
        check_input = True
    else:
        raise TypeError(f"gradcheck takes a Sequential, a Layer, a Loss or an Activation, got "
                        f"{type(model_or_layer).__name__}")

    rng_state = model.rng.bit_generator.state

    def C(inp):
        model.rng.bit_generator.state = rng_state  # same dropout mask every time
        return loss_of(inp)[0]

    model.rng.bit_generator.state = rng_state
    _, out = loss_of(X)
    model.rng.bit_generator.state = rng_state  # the model's backward runs its own forward pass
    dX = backward(out)
    targets = [(p.name, p.value, p.grad.copy()) for p in model.params()]
    if check_input:
        targets.append(("X", X, np.array(dX)))
    return {name: _compare(arr, analytic, lambda: C(X), h, max_entries, pick_rng) for name, arr, analytic in targets}


def _check_function(fn, X, y, h, max_entries, pick_rng) -> float:
    """The error measure of a loss's ``gradient`` or an activation's ``backward`` at X, in float64."""
    if isinstance(fn, Loss):
        if y is None:
            raise ValueError("gradcheck: a loss needs y (the targets)")
        Y = fn.targets(y, X.shape[1:], np.float64, "gradcheck")
        analytic = fn.gradient(X.copy(), Y)

        def C():
            return fn.value(X, Y)
    else:
        R = pick_rng.standard_normal(X.shape)
        H = fn.forward(X.copy())
        analytic = fn.backward(R.copy(), X.copy() if fn.uses_Z else None, H)

        def C():
            return float(np.vdot(fn.forward(X.copy()), R))
    return _compare(X, np.asarray(analytic, dtype=np.float64), C, h, max_entries, pick_rng)


def _compare(arr, analytic, C, h, max_entries, pick_rng) -> float:
    """Perturb entries of ``arr`` in place by ±h, C() each time: the error measure on those entries."""
    flat = arr.reshape(-1)
    idx = np.arange(flat.size)
    if max_entries is not None and flat.size > max_entries:
        idx = pick_rng.choice(flat.size, max_entries, replace=False)
    numeric = np.empty(len(idx))
    for k, i in enumerate(idx):
        old = flat[i]
        flat[i] = old + h
        c_plus = C()
        flat[i] = old - h
        c_minus = C()
        flat[i] = old
        numeric[k] = (c_plus - c_minus) / (2 * h)
    return _max_rel_error(analytic.reshape(-1)[idx], numeric)
