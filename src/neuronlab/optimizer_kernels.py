"""One-pass SGD and Adam updates, compiled with numba (optional: ``pip install neuronlab[fast]``).

In NumPy, SGD with momentum is four passes over W, g, v and a scratch block (v ← μv, v ← v + g,
s ← ηv, W ← W - s) and Adam is twelve; each pass reads and writes memory. Compiled, each update
is one loop that reads every element once. The loops do the same floating-point operations in
the same order as :mod:`neuronlab.optimizers`' NumPy code (no fused multiply-add, no
reassociation), so both give the same bits; a test compares them. Measured on one thread
(2026-11-30), ``optimizer.step`` (with its gradient-norm check): SGD momentum on the
784-256-128-10 MLP 204 → 114 µs, Adam on the 784-512-256-10 MLP 1140 → 464 µs.

Without numba, or with ``NEURONLAB_NUMBA=0``, the optimizers run their NumPy code.
"""

from __future__ import annotations

import numpy as np

from .layers.base import compiled

__all__ = ["kernels"]

_loaded = None


def kernels():
    """The compiled updates (a namespace), or None without numba or with ``NEURONLAB_NUMBA=0``.

    Loaded on first use: about 0.2 s to import numba and read the kernels from numba's cache,
    a few seconds the very first time, when they are compiled.
    """
    global _loaded
    if _loaded is None:
        _loaded = False  # a failed compilation is not retried
        _loaded = compiled(_compile)
    return _loaded or None


def _compile(numba):
    # error_model="numpy": a division by zero gives inf as in NumPy instead of a check per element,
    # which would keep the loop from being vectorised
    jit = numba.njit(nogil=True, cache=True, error_model="numpy")

    @jit
    def sgd(W, g, lr):
        """W ← W - η g."""
        for i in range(W.size):
            W[i] -= g[i] * lr

    @jit
    def sgd_momentum(W, g, v, lr, mu, c, update_v, nesterov, flush_below):
        """v ← μ v + c g (when ``update_v``; c = 1 - dampening), entries of v below ``flush_below``
        in size set to 0, then W ← W - η v, or W ← W - η (g + μ v) with ``nesterov``."""
        zero = flush_below - flush_below  # +0 in W's dtype, as NumPy's v[small] = 0 (x·0 would be float64)
        for i in range(W.size):
            vi = v[i]
            if update_v:
                vi = vi * mu + g[i] * c
                if abs(vi) < flush_below:
                    vi = zero
                v[i] = vi
            if nesterov:
                W[i] -= (vi * mu + g[i]) * lr
            else:
                W[i] -= vi * lr

    @jit
    def adam(W, g, m, v, c1, beta2, c2, eps, scale, flush_below):
        """m ← m + c1 (g - m), v ← β2 v + c2 g², both flushed below ``flush_below``, then
        W ← W - scale · m / (√v + ε) (bias corrections folded into scale and ε by the caller)."""
        zero = flush_below - flush_below
        for i in range(W.size):
            gi = g[i]
            mi = m[i] + (gi - m[i]) * c1
            vi = v[i] * beta2 + (gi * gi) * c2
            if abs(mi) < flush_below:
                mi = zero
            if abs(vi) < flush_below:
                vi = zero
            m[i] = mi
            v[i] = vi
            W[i] -= (mi / (np.sqrt(vi) + eps)) * scale

    return type("OptimizerKernels", (), {"sgd": staticmethod(sgd), "sgd_momentum": staticmethod(sgd_momentum),
                                         "adam": staticmethod(adam)})
