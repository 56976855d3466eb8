"""Diagnostics as API: what the guide's "problems" chapter looks for, measured per layer.

For a layer with parameters θ (its W and B) after a backward pass:

* gradient norm   ‖∂C/∂θ‖ (Euclidean, over all of the layer's parameters): vanishing
  gradients make it tiny in the first layers, exploding ones huge;
* back-propagated ‖∂C/∂h^K‖, the error signal entering layer K (:func:`backprop_norms`);
* weight norm     ‖θ‖;
* update ratio    ‖Δθ‖ / ‖θ‖ of the last optimizer step (about 1e-3 is a healthy rule of thumb);
* dead ReLU       fraction of ReLU neurons whose output h is 0 for every sample of the batch
  (their ∂C/∂Z is 0: they no longer learn);
* saturated       fraction of sigmoid outputs with h < 1 - t or h > t (σ'(Z) = h(1 - h) < t(1 - t)),
  or of tanh outputs with |h| > t; t = 0.99 by default.

:func:`layer_stats` measures a model now; :class:`DiagnosticsCallback` records the same numbers
in ``History`` during ``fit`` and warns (:class:`GradientWarning`) when gradients vanish or explode.

>>> import numpy as np, neuronlab as nl
>>> m = nl.Sequential([nl.layers.Dense(4, "relu", input_dim=3), nl.layers.Dense(1)], seed=0)
>>> m.compile(loss="mse", optimizer="sgd")
>>> stats = nl.inspect.layer_stats(m, np.ones((8, 3)), np.zeros(8))
>>> [s["layer"] for s in stats]
['dense_1', 'dense_2']
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .callbacks import Callback
from .validation import Integer, check

__all__ = ["GradientWarning", "gradient_norms", "backprop_norms", "weight_norms", "update_ratios", "dead_fraction",
           "saturated_fraction", "layer_stats", "format_stats", "gradient_problems", "DiagnosticsCallback",
           "STAT_NAMES"]

STAT_NAMES = ("grad_norm", "weight_norm", "update_ratio", "dead_relu", "saturated")


class GradientWarning(UserWarning):
    """Gradients vanish (the first layer learns orders of magnitude slower than the last) or explode."""


def _trainable(model):
    return [layer for layer in model.layers if layer.params()]


def _norm(arrays) -> float:
    sq = 0.0
    for a in arrays:
        f = a.ravel()
        sq += float(np.dot(f, f))
    return math.sqrt(sq)


def gradient_norms(model) -> dict[str, float]:
    """‖∂C/∂θ‖ per trainable layer, from the ``Param.grad`` of the last backward pass."""
    return {layer.name: _norm(p.grad for p in layer.params()) for layer in _trainable(model)}


def weight_norms(model) -> dict[str, float]:
    """‖θ‖ per trainable layer."""
    return {layer.name: _norm(p.value for p in layer.params()) for layer in _trainable(model)}


def update_ratios(model, previous: dict[str, list[np.ndarray]]) -> dict[str, float]:
    """‖θ - θ_prev‖ / ‖θ_prev‖ per layer; ``previous`` maps layer names to copies of its params."""
    out = {}
    for layer in _trainable(model):
        old = previous.get(layer.name)
        if old is None:
            out[layer.name] = float("nan")
            continue
        sq = 0.0
        for p, o in zip(layer.params(), old):
            d = (p.value - o).ravel()
            sq += float(np.dot(d, d))
        denom = _norm(old)
        out[layer.name] = math.sqrt(sq) / denom if denom > 0 else float("inf") if sq > 0 else 0.0
    return out


def _cached_output(layer):
    """The layer's activation and its output H of the last training-mode forward pass (or None)."""
    return getattr(layer, "activation", None), getattr(layer, "H", None)


def dead_fraction(layer) -> float | None:
    """Fraction of the layer's ReLU neurons with h = 0 for every sample of the last training batch.

    None for layers without a ReLU activation or without a cached forward pass.
    """
    act, H = _cached_output(layer)
    if act is None or act.name != "relu" or H is None or H.size == 0:
        return None
    units = H.reshape(-1, H.shape[-1])
    return float(np.mean(~(units > 0).any(axis=0)))


def saturated_fraction(layer, threshold: float = 0.99) -> float | None:
    """Fraction of the last batch's outputs in the flat tails of a sigmoid or tanh.

    Sigmoid: h < 1 - t or h > t (so σ'(Z) = h(1 - h) < t(1 - t), under 4 % of its peak 0.25
    for t = 0.99). Tanh: |h| > t. None for other activations or without a cached forward.
    """
    if not 0.5 < threshold < 1.0:
        raise ValueError(f"saturated_fraction: threshold must be in (0.5, 1), got {threshold!r}")
    act, H = _cached_output(layer)
    if act is None or H is None or H.size == 0:
        return None
    if act.name == "sigmoid":
        return float(np.mean((H < 1.0 - threshold) | (H > threshold)))
    if act.name == "tanh":
        return float(np.mean(np.abs(H) > threshold))
    return None


def _probe_pass(model, X, y, where, on_layer=None):
    """One training-mode forward and backward pass on (X, y) that leaves no trace but ``Param.grad``
    and the cached activations: the generator (dropout masks) and the non-trainable buffers
    (BatchNorm running statistics) are put back, so a later ``fit`` runs as if it never happened."""
    if model.loss is None:
        raise ValueError(f"{where}: call model.compile(loss=..., optimizer=...) before {where}")
    rng_state = model.rng.bit_generator.state
    saved = [(arr, arr.copy()) for layer in model.layers for arr in layer.buffers().values()]
    try:
        return model.loss_and_grads(X, y, training=True, on_layer=on_layer)
    finally:
        model.rng.bit_generator.state = rng_state
        for arr, old in saved:
            arr[...] = old


def backprop_norms(model, X, y) -> dict[str, float]:
    """‖∂C/∂h^K‖ per layer: the error signal back-propagation carries into each layer's output.

    Runs one training-mode forward and backward pass on (X, y) with the layers' own
    ``backward`` (filling ``Param.grad``; no update). For an output layer whose loss gives
    ∂C/∂Z directly (softmax + cross-entropy, sigmoid + binary cross-entropy) the value is
    ‖∂C/∂Z^L‖. Each step back multiplies the signal by f'(Z) and Wᵀ, which is why it shrinks
    (vanishing) or grows (exploding) geometrically with depth. Input to output order.
    The model's generator and BatchNorm running statistics are left as they were.
    """
    out = {}

    def record(layer, G):
        out[layer.name] = _norm([G])  # before the layer's backward, which may overwrite G in place

    _probe_pass(model, X, y, "backprop_norms", record)
    return dict(reversed(out.items()))


def layer_stats(model, X=None, y=None, previous=None, threshold: float = 0.99) -> list[dict]:
    """Every diagnostic per trainable layer, as a list of dicts (input to output).

    Parameters
    ----------
    model : Sequential
        With X and y: compiled; one training-mode forward pass and one backward pass are run
        on (X, y) (no update; the generator and BatchNorm running statistics are left as they
        were). Without them: the state left by the last
        training step (``Param.grad``, the cached activations).
    previous : dict, optional
        Layer name → copies of its parameters before the last update, for ``update_ratio``
        (NaN without).

    Returns
    -------
    list of dict
        Keys: layer, activation, grad_norm, weight_norm, update_ratio, dead_relu, saturated
        (None where a statistic does not apply to the layer's activation).
    """
    if X is not None:
        if y is None:
            raise ValueError("layer_stats: give y with X")
        _probe_pass(model, X, y, "layer_stats")
    if not model.built:
        raise ValueError("layer_stats: the model is not built yet")
    g, w = gradient_norms(model), weight_norms(model)
    u = update_ratios(model, previous or {})
    out = []
    for layer in _trainable(model):
        act = getattr(layer, "activation", None)
        out.append({"layer": layer.name, "activation": getattr(act, "name", None),
                    "grad_norm": g[layer.name], "weight_norm": w[layer.name], "update_ratio": u[layer.name],
                    "dead_relu": dead_fraction(layer), "saturated": saturated_fraction(layer, threshold)})
    return out


def format_stats(stats: list[dict]) -> str:
    """A plain-text table of :func:`layer_stats`."""
    head = ["layer", "activation", "‖∂C/∂θ‖", "‖θ‖", "‖Δθ‖/‖θ‖", "dead ReLU", "saturated"]

    def fmt(v, pct=False):
        if v is None:
            return "-"
        if isinstance(v, float) and math.isnan(v):
            return "n/a"
        return f"{100 * v:.1f}%" if pct else f"{v:.3g}"
    rows = [[s["layer"], str(s["activation"]), fmt(s["grad_norm"]), fmt(s["weight_norm"]),
             fmt(s["update_ratio"]), fmt(s["dead_relu"], True), fmt(s["saturated"], True)] for s in stats]
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(wd) if i < 2 else c.rjust(wd) for i, (c, wd) in enumerate(zip(r, widths)))
             for r in [head] + rows]
    lines.insert(1, "  ".join("-" * wd for wd in widths))
    return "\n".join(lines)


def gradient_problems(grad_norms: dict[str, float], vanish_ratio: float = 1e-3,
                      explode_ratio: float = 1e3, explode_norm: float = 1e3) -> list[str]:
    """Messages for vanishing or exploding gradients in per-layer gradient norms (input first).

    Vanishing: ‖∂C/∂θ‖ of the first layer < ``vanish_ratio`` × that of the last. Exploding:
    the first layer's norm > ``explode_ratio`` × the last's, or any norm > ``explode_norm``,
    or a norm that is not finite.
    """
    names = list(grad_norms)
    if not names:
        return []
    first, last = grad_norms[names[0]], grad_norms[names[-1]]
    msgs = []
    bad = [n for n in names if not math.isfinite(grad_norms[n])]
    if bad:
        return [f"gradients are not finite in {', '.join(bad)}"]
    if len(names) > 1 and last > 0 and first / last < vanish_ratio:
        msgs.append(f"vanishing gradients: ‖∂C/∂θ‖ of {names[0]} is {first:.3g}, {first / last:.2g} × that of "
                    f"{names[-1]} ({last:.3g}); the first layers barely learn (try ReLU, He init, or BatchNorm)")
    if len(names) > 1 and last > 0 and first / last > explode_ratio:
        msgs.append(f"exploding gradients: ‖∂C/∂θ‖ grows from {last:.3g} in {names[-1]} to {first:.3g} in "
                    f"{names[0]} ({first / last:.2g} ×; try a smaller init or gradient clipping)")
    big = [n for n in names if grad_norms[n] > explode_norm]
    if big:
        msgs.append(f"exploding gradients: ‖∂C/∂θ‖ > {explode_norm:g} in {', '.join(big)} "
                    f"(largest {max(grad_norms[n] for n in big):.3g}; try gradient clipping, clipnorm=1.0)")
    return msgs


class DiagnosticsCallback(Callback):
    """Record :func:`layer_stats` during ``fit`` into ``History``, and warn when gradients vanish or explode.

    Every ``every``-th batch is measured right after its update (its gradients, the cached
    activations of its forward pass, and the step ‖Δθ‖ against a copy of θ taken before it);
    at each epoch's end the mean over that epoch's measured batches is appended to
    ``history.history["<stat>/<layer>"]`` (stat in ``STAT_NAMES``), next to "loss".

    Parameters
    ----------
    every : int
        Measure one batch in ``every`` (1: all; the copies of θ then cost one array copy per
        parameter and batch).
    warn : bool
        Emit one :class:`GradientWarning` per problem kind per ``fit`` (see :func:`gradient_problems`).
    keep_batches : bool
        Also keep each measured batch's stats in ``self.batches`` as (epoch, batch, stats).

    Examples
    --------
    >>> import numpy as np, neuronlab as nl
    >>> m = nl.Sequential([nl.layers.Dense(4, "tanh", input_dim=3), nl.layers.Dense(1)], seed=0)
    >>> m.compile(loss="mse", optimizer=nl.optimizers.SGD(lr=0.1))
    >>> h = m.fit(np.ones((8, 3)), np.zeros(8), epochs=2, verbose=0, callbacks=[nl.inspect.DiagnosticsCallback()])
    >>> len(h.history["grad_norm/dense_1"])
    2
    """

    def __init__(self, every: int = 1, warn: bool = True, vanish_ratio: float = 1e-3, explode_ratio: float = 1e3,
                 explode_norm: float = 1e3, threshold: float = 0.99, keep_batches: bool = False):
        super().__init__()
        every = check("DiagnosticsCallback", "every", every, Integer(low=1))
        self.every, self.warn, self.threshold, self.keep_batches = int(every), bool(warn), threshold, keep_batches
        self.limits = {"vanish_ratio": vanish_ratio, "explode_ratio": explode_ratio, "explode_norm": explode_norm}
        self.batches: list[tuple[int, int, list[dict]]] = []
        self.warnings: list[str] = []
        self._prev: dict[str, list[np.ndarray]] = {}
        self._count = 0
        self._epoch = 0
        self._acc: list[list[dict]] = []
        self._warned: set[str] = set()

    def _snapshot(self):
        for layer in _trainable(self.model):
            bufs = self._prev.get(layer.name)
            if bufs is None or any(b.shape != p.value.shape for b, p in zip(bufs, layer.params())):
                self._prev[layer.name] = [p.value.copy() for p in layer.params()]
            else:
                for b, p in zip(bufs, layer.params()):
                    np.copyto(b, p.value)

    def on_train_begin(self, logs=None):
        self._count = 0
        self._warned = set()
        self.warnings = []
        self._snapshot()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._acc = []

    def on_batch_end(self, batch, logs=None):
        self._count += 1
        if self._count % self.every == 0:
            stats = layer_stats(self.model, previous=self._prev, threshold=self.threshold)
            self._acc.append(stats)
            if self.keep_batches:
                self.batches.append((self._epoch, batch, stats))
        if (self._count + 1) % self.every == 0:  # θ before the next measured update
            self._snapshot()

    def on_epoch_end(self, epoch, logs=None):
        acc = self._acc or [layer_stats(self.model, threshold=self.threshold)]
        history = self.model.history.history if self.model.history is not None else {}
        mean = {}
        for i, layer_stat in enumerate(acc[0]):
            name = layer_stat["layer"]
            for stat in STAT_NAMES:
                vals = [a[i][stat] for a in acc if a[i][stat] is not None]
                if layer_stat[stat] is None:
                    continue
                v = float(np.mean(vals)) if vals else float("nan")
                history.setdefault(f"{stat}/{name}", []).append(v)
                if stat == "grad_norm":
                    mean[name] = v
        if self.warn:
            for msg in gradient_problems(mean, **self.limits):
                kind = msg.split(":")[0]
                if kind not in self._warned:
                    self._warned.add(kind)
                    self.warnings.append(f"epoch {epoch + 1}: {msg}")
                    warnings.warn(f"epoch {epoch + 1}: {msg}", GradientWarning, stacklevel=2)

    def series(self, stat: str) -> dict[str, list[float]]:
        """``{layer: per-epoch values}`` of one statistic from the model's History."""
        if stat not in STAT_NAMES:
            raise ValueError(f"series: stat must be one of {', '.join(STAT_NAMES)}, got {stat!r}")
        hist = self.model.history.history
        return {k.split("/", 1)[1]: v for k, v in hist.items() if k.startswith(stat + "/")}
