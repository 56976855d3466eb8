"""Compiled loops for the convolution layers, with numba (optional: ``pip install neuronlab[fast]``).

Max pooling and col2im are loops over pixels whose inner step is one run of c_in channels; in
NumPy each such run is a separate call of the inner loop (16 floats for LeNet's first layers),
so these two steps took about a quarter of a LeNet training step. Compiled, they are plain
loops. The products stay with BLAS. Without numba — or with ``NEURONLAB_NUMBA=0`` —
:mod:`neuronlab.layers.conv` runs its NumPy code, which computes the same numbers.

The kernels release the GIL (``nogil``): other Python threads may run meanwhile.
"""

from __future__ import annotations

from .base import compiled

__all__ = ["kernels"]

_loaded = None


def kernels():
    """The compiled kernels (a namespace), or None without numba or with ``NEURONLAB_NUMBA=0``.

    Compiled on first use (about a second per kernel and dtype; numba caches the machine code
    next to this file when it may write there).
    """
    global _loaded
    if _loaded is None:
        _loaded = False  # a failed compilation is not retried
        _loaded = compiled(_compile)
    return _loaded or None


def _compile(numba):
    jit = numba.njit(nogil=True, cache=True)

    @jit
    def max_pool_forward(X, ph, pw, sh, sw, H, idx):
        """H = max over each window; idx = the offset i·pw + j of its first maximum (NaN: the last NaN, as PyTorch)."""
        n, Ho, Wo, C = H.shape
        for b in range(n):
            for p in range(Ho):
                for q in range(Wo):
                    y, x = p * sh, q * sw
                    for c in range(C):
                        H[b, p, q, c] = X[b, y, x, c]
                        idx[b, p, q, c] = 0
                    for k in range(1, ph * pw):
                        i, j = k // pw, k % pw
                        for c in range(C):
                            v = X[b, y + i, x + j, c]
                            if v > H[b, p, q, c] or v != v:
                                H[b, p, q, c] = v
                                idx[b, p, q, c] = k

    @jit
    def max_pool_backward(dH, idx, ph, pw, sh, sw, dX):
        """dX = dH routed to each window's recorded maximum, 0 elsewhere."""
        n, Ho, Wo, C = dH.shape
        tiles = sh == ph and sw == pw
        if tiles:  # every pixel of the covered area is written below; the rest is 0
            dX[:, Ho * ph:] = 0
            dX[:, :Ho * ph, Wo * pw:] = 0
        else:
            dX[...] = 0
        for b in range(n):
            for p in range(Ho):
                for q in range(Wo):
                    for k in range(ph * pw):
                        y, x = p * sh + k // pw, q * sw + k % pw
                        for c in range(C):
                            g = dH[b, p, q, c] if idx[b, p, q, c] == k else 0.0
                            if tiles:
                                dX[b, y, x, c] = g
                            else:
                                dX[b, y, x, c] += g

    @jit
    def col2im(dcols, kh, kw, sh, sw, Ho, Wo, dXp):
        """dXp[b, p·sh + i, q·sw + j] += dcols[(b·Ho + p)·Wo + q, (i·kw + j)·c : ... + c], dXp zeroed first.

        dcols is ∂C/∂cols = ∂C/∂Z · Wᵀ as one (n·Ho·Wo, kh·kw·c) product: one row per window.
        """
        n, C = dXp.shape[0], dXp.shape[3]
        dXp[...] = 0
        for b in range(n):
            for p in range(Ho):
                for q in range(Wo):
                    r = (b * Ho + p) * Wo + q
                    for i in range(kh):
                        for j in range(kw):
                            k = (i * kw + j) * C
                            y, x = p * sh + i, q * sw + j
                            for c in range(C):
                                dXp[b, y, x, c] += dcols[r, k + c]

    class Kernels:
        pass

    ns = Kernels()
    ns.max_pool_forward, ns.max_pool_backward, ns.col2im = max_pool_forward, max_pool_backward, col2im
    return ns
