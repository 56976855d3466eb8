"""Compiled step loops for LSTM and GRU training, with numba (optional: ``pip install neuronlab[fast]``).

NumPy spends most of a step's element-wise time in separate passes over (u, n) slabs that no
longer sit in cache; one compiled loop reads each value once. tanh stays with NumPy (vectorised;
a compiled loop would call the scalar libm tanh). Without numba — or with ``NEURONLAB_NUMBA=0`` —
:mod:`neuronlab.layers.recurrent` runs its NumPy code, which computes the same numbers. Compiled
on first use.
"""

from __future__ import annotations

import types

from .base import compiled

__all__ = ["kernels"]

_loaded = None


def kernels():
    """The compiled step loops (a namespace), or None without numba or with ``NEURONLAB_NUMBA=0``."""
    global _loaded
    if _loaded is None:
        _loaded = False  # a failed compilation is not retried
        _loaded = compiled(_compile)
    return _loaded or None


def _compile(numba):
    jit = numba.njit(nogil=True, cache=True)

    @jit
    def lstm_cell_forward(a, c_next, half):
        """Rows (o, i, f) of a: tanh(z/2) → σ(z) = tanh(z/2)/2 + 1/2; C_t = F ⊙ C_{t-1} + I ⊙ G."""
        u, n = c_next.shape
        for k in range(u):
            for j in range(n):
                o = half * a[k, j] + half
                i = half * a[u + k, j] + half
                f = half * a[2 * u + k, j] + half
                a[k, j] = o
                a[u + k, j] = i
                a[2 * u + k, j] = f
                c_next[k, j] = f * a[4 * u + k, j] + i * a[3 * u + k, j]

    @jit
    def lstm_step_backward(a, tc, dh, dc, dz):
        """∂C/∂C_t = dc + ∂C/∂H_t ⊙ O(1 - tanh² C_t); ∂C/∂Z_tᵀ rows (o, i, f, g); dc ← ∂C/∂C_t ⊙ F."""
        u, n = tc.shape
        for k in range(u):
            for j in range(n):
                o, i, f, g = a[k, j], a[u + k, j], a[2 * u + k, j], a[3 * u + k, j]
                t, e = tc[k, j], dh[k, j]
                c = dc[k, j] + e * (o - o * t * t)
                dz[k, j] = e * t * (o - o * o)
                dz[u + k, j] = c * g * (i - i * i)
                dz[2 * u + k, j] = c * a[4 * u + k, j] * (f - f * f)
                dz[3 * u + k, j] = c * (i - i * g * g)
                dc[k, j] = c * f

    @jit
    def gru_gates_forward(a, hu, half):
        """Rows (r, z) of a: tanh(z/2) → σ; rows n: X_t W_n + B_n + R ⊙ (U_n H_{t-1} + Bhn)."""
        u, n = a.shape[0] // 3, a.shape[1]
        for k in range(u):
            for j in range(n):
                r = half * a[k, j] + half
                a[k, j] = r
                a[u + k, j] = half * a[u + k, j] + half
                a[2 * u + k, j] += r * hu[2 * u + k, j]

    @jit
    def gru_state_forward(a, h_prev, hn, h):
        """hn = H_{t-1} - N; H_t = N + Z ⊙ hn."""
        u, n = h.shape
        for k in range(u):
            for j in range(n):
                nn = a[2 * u + k, j]
                v = h_prev[k, j] - nn
                hn[k, j] = v
                h[k, j] = nn + a[u + k, j] * v

    @jit
    def gru_step_backward(a, hu, hn, dh, dz, hz):
        """dz rows (δn, δr, δz, δn ⊙ R) of one step; hz = ∂C/∂H_t ⊙ Z (the direct path)."""
        u, n = hz.shape
        for k in range(u):
            for j in range(n):
                r, z, nn, e = a[k, j], a[u + k, j], a[2 * u + k, j], dh[k, j]
                ez = e * z
                dn = e - ez
                dn = dn - dn * nn * nn
                dz[k, j] = dn
                dz[u + k, j] = dn * hu[2 * u + k, j] * (r - r * r)
                dz[2 * u + k, j] = e * hn[k, j] * (z - z * z)
                dz[3 * u + k, j] = dn * r
                hz[k, j] = ez

    return types.SimpleNamespace(lstm_cell_forward=lstm_cell_forward, lstm_step_backward=lstm_step_backward,
                                 gru_gates_forward=gru_gates_forward, gru_state_forward=gru_state_forward,
                                 gru_step_backward=gru_step_backward)
