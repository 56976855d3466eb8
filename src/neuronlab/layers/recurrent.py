"""Recurrent layers: SimpleRNN, LSTM and GRU, trained by back-propagation through time (BPTT).

A sequence batch is X of shape (n, T, d): n samples, T time steps, d features per step.
The layer carries a state H_t (n, u) from step to step; at each step the guide's
Z = XW + B gains a recurrent term H_{t-1} U::

    Z_t = X_t W + H_{t-1} U + B          H_0 = 0 (and C_0 = 0 for the LSTM)

Row-vector convention, as Dense: the input kernel W is (d, G·u), the recurrent kernel U is
(u, G·u) and B is (G·u,), with the G gate blocks side by side in PyTorch's order, so that
PyTorch's weights map directly::

    torch weight_ih_l0 (G·u, d) = W.T        torch weight_hh_l0 (G·u, u) = U.T
    torch bias_ih_l0 + bias_hh_l0 = B        (GRU: see its docstring for the one exception)

Gate order: SimpleRNN one block; LSTM (i, f, g, o); GRU (r, z, n).

Backward runs the steps in reverse (a Python loop over time is inherent; every step is
vectorised over the batch), with ∂C/∂W = Σ_t X_tᵀ ∂C/∂Z_t and ∂C/∂U = Σ_t H_{t-1}ᵀ ∂C/∂Z_t.
SimpleRNN forms them after the loop, one product over all n·T rows. LSTM and GRU train
feature-major (every per-step array is (features, n), so the gate blocks are contiguous)
and stack [X_t, 1, H_{t-1}] so that one product per step serves X_t W, B and H_{t-1} U
forward, and one per step adds that step's share of ∂C/∂[W; B; U] while its data are in
cache; the parameters keep PyTorch's layout, only the working buffers are reordered.

Set ``layer.track_state_grads = True`` to record ‖∂C/∂H_t‖ for every step of the last
backward pass in ``layer.state_grad_norms`` (shape (T,)): the gradient through time, which
vanishes along a tanh RNN and survives along the LSTM's cell state.
"""

from __future__ import annotations

import math

import numpy as np

from .. import activations as _act
from ..core import Layer, Param
from ..validation import Boolean, Integer, check
from .base import Buffers, registry
from .recurrent_kernels import kernels as _kernels

__all__ = ["SimpleRNN", "LSTM", "GRU", "orthogonal"]

INITS = ("auto", "torch")


def orthogonal(n: int, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """A random (n, n) orthogonal matrix (QR of a Gaussian matrix, signs fixed by diag R)."""
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    Q *= np.sign(np.diag(R))
    return Q.astype(dtype)


def _sigmoid_via_tanh(Z: np.ndarray) -> np.ndarray:
    """σ(Z) = (1 + tanh(Z/2)) / 2 in place: one tanh, no overflow, exact halving."""
    Z *= 0.5
    np.tanh(Z, out=Z)
    Z *= 0.5
    Z += 0.5
    return Z


def _add_step_grad(G: np.ndarray, Gt: np.ndarray, dz: np.ndarray, S_t: np.ndarray, t: int, T: int, k: int):
    """G += ∂C/∂Z_tᵀ S_tᵀ for the backward loop (t = T-1 down to 0): the first step writes G.

    At t = 0 the rows of S_0 from ``k`` on hold H_0 = 0, so only the first k columns are formed.
    """
    rows = S_t if t > 0 else S_t[:k]
    if t == T - 1:
        if t == 0:
            G[:, k:] = 0.0
        np.matmul(dz, rows.T, out=G[:, :rows.shape[0]])
        return
    out = Gt[:, :rows.shape[0]]
    np.matmul(dz, rows.T, out=out)
    G[:, :rows.shape[0]] += out


class Recurrent(Layer):
    """Shared machinery: arguments, parameters W, U, B, shape checks and configs.

    Parameters
    ----------
    units : int
        u, the size of the state H_t.
    return_sequences : bool
        Output every H_t, shape (n, T, u), instead of only the last, shape (n, u).
    init : {"auto", "torch"}
        "auto": each gate's block of W Xavier uniform, of U orthogonal, B zero (LSTM:
        forget-gate bias 1). "torch": every entry of W, U, B from U(±1/√u), PyTorch's default.
    input_shape : tuple (T, d), optional
        Declares the input so that the model builds at once; T may differ later.
    """

    n_gates = 1

    def __init__(self, units: int, return_sequences: bool = False, init: str = "auto",
                 input_shape=None, name: str | None = None):
        super().__init__(name)
        kind = type(self).__name__
        units = check(kind, "units", units, Integer(low=1))
        return_sequences = check(kind, "return_sequences", return_sequences, Boolean())
        if init not in INITS:
            raise ValueError(f"{kind}: init must be one of {', '.join(INITS)}, got {init!r}")
        if input_shape is not None:
            shape = tuple(input_shape)
            if len(shape) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape):
                raise ValueError(f"{kind}: input_shape must be (timesteps, features) of positive integers, "
                                 f"got {input_shape!r}")
            input_shape = tuple(int(s) for s in shape)
        self.units = int(units)
        self.return_sequences = bool(return_sequences)
        self.init = init
        self.declared_input_shape = input_shape
        self.input_shape = input_shape
        self.W: Param | None = None
        self.U: Param | None = None
        self.B: Param | None = None
        self.track_state_grads = False
        self.state_grad_norms: np.ndarray | None = None
        self._buf = {}

    # -- construction ---------------------------------------------------------------
    def _out_shape(self, T: int) -> tuple:
        return (T, self.units) if self.return_sequences else (self.units,)

    def param_shapes(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"layer {self.name!r}: {type(self).__name__} takes sequences (n, timesteps, "
                             f"features), got samples of shape {input_shape}")
        d, u, G = input_shape[1], self.units, self.n_gates
        return {"W": (d, G * u), "U": (u, G * u), "B": (G * u,)}

    def build(self, input_shape, rng, dtype=np.float32):
        input_shape = tuple(input_shape)
        self.param_shapes(input_shape)
        super().build(input_shape, rng, dtype)
        d, u, G = input_shape[1], self.units, self.n_gates
        if self.init == "torch":
            a = 1.0 / math.sqrt(u)
            W = rng.uniform(-a, a, (d, G * u))
            U = rng.uniform(-a, a, (u, G * u))
            B = rng.uniform(-a, a, G * u)
        else:
            a = math.sqrt(6.0 / (d + u))
            W = rng.uniform(-a, a, (d, G * u))
            U = np.concatenate([orthogonal(u, rng, np.float64) for _ in range(G)], axis=1)
            B = self._auto_bias()
        self.W = Param(W.astype(self.dtype), f"{self.name}/W")
        self.U = Param(U.astype(self.dtype), f"{self.name}/U")
        self.B = Param(B.astype(self.dtype), f"{self.name}/B")
        self.output_shape = self._out_shape(input_shape[0])
        return self.output_shape

    def _auto_bias(self) -> np.ndarray:
        return np.zeros(self.n_gates * self.units)

    def params(self):
        return [self.W, self.U, self.B]

    def check_input(self, X):
        """Any number of time steps T ≥ 1 is accepted; the feature count must match."""
        d = self.input_shape[1] if self.input_shape is not None else None
        if X.ndim != 3 or X.shape[1] < 1 or (d is not None and X.shape[2] != d):
            want = f"(n, timesteps, {d})" if d is not None else "(n, timesteps, features)"
            raise ValueError(f"layer {self.name!r}: {type(self).__name__} expected input of shape {want}, "
                             f"got shape {X.shape}")

    def _prepare(self, X) -> np.ndarray:
        """Check X and return it time-major, contiguous and flat: (T·n, d)."""
        X = np.asarray(X)
        self.check_input(X)
        n, T, d = X.shape
        Xf = self._get("Xf", (T, n, d))
        Xf[...] = X.transpose(1, 0, 2)
        return Xf.reshape(T * n, d)

    def _get(self, key, shape) -> np.ndarray:
        b = self._buf.get(key)
        if b is None:
            b = self._buf[key] = Buffers()
        return b.get(shape, self.dtype)

    def _incoming_feature_major(self, dH):
        """∂C/∂H as the LSTM/GRU backward reads it: (dHs (T, u, n) or None, dh (u, n)), shape checked.

        dh starts as the last step's ∂C/∂H_T (zero when every step's ∂C/∂H_t arrives in dHs)."""
        n, T, u = self.n, self.T, self.units
        expect = (n, T, u) if self.return_sequences else (n, u)
        if dH.shape != expect:
            raise ValueError(f"layer {self.name!r}: backward expected ∂C/∂H of shape {expect}, got {dH.shape}")
        self.state_grad_norms = np.zeros(T) if self.track_state_grads else None
        dHs = None
        dh = self._get("dh", (u, n))
        if self.return_sequences:
            dHs = self._get("dHs", (T, u, n))
            dHs[...] = dH.transpose(1, 2, 0)
            dh[...] = 0.0
        else:
            dh[...] = dH.T
        return dHs, dh

    def _output(self, Hs: np.ndarray) -> np.ndarray:
        """Hs (T, n, u) time-major → (n, T, u) (a view) or the last state (n, u)."""
        return Hs.transpose(1, 0, 2) if self.return_sequences else Hs[-1]

    def _record(self, t, dh):
        if self.state_grad_norms is not None:
            self.state_grad_norms[t] = np.sqrt(np.vdot(dh, dh))

    def _start_backward(self, dH, T, n):
        """Validate dH; return it time-major (T, n, u) or None (last step only) and dh₀."""
        expect = (n, T, self.units) if self.return_sequences else (n, self.units)
        if dH.shape != expect:
            raise ValueError(f"layer {self.name!r}: backward expected ∂C/∂H of shape {expect}, got {dH.shape}")
        self.state_grad_norms = np.zeros(T) if self.track_state_grads else None
        dh = self._get("dh", (n, self.units))
        if self.return_sequences:
            dh[...] = 0.0
            return dH.transpose(1, 0, 2), dh
        dh[...] = dH
        return None, dh

    def _finish_backward(self, Xf, Hprev, dZ, T, n):
        """∂C/∂W, ∂C/∂U, ∂C/∂B from ∂C/∂Z of every step at once; return ∂C/∂X (n, T, d)."""
        dZf = dZ.reshape(T * n, -1)
        np.matmul(Xf.T, dZf, out=self.W.grad)
        np.matmul(Hprev.reshape(T * n, self.units).T, dZf, out=self.U.grad)
        np.sum(dZf, axis=0, out=self.B.grad)
        if not self.needs_input_grad:
            return None
        dX = self._get("dX", (T, n, Xf.shape[1]))
        np.matmul(dZf, self.W.value.T, out=dX.reshape(T * n, -1))
        return dX.transpose(1, 0, 2)

    @property
    def final_state(self) -> tuple:
        """The state after the last step of the last forward pass: (H_T,) (LSTM: (H_T, C_T)), copies."""
        return (self.H[-1].copy(),)

    # -- inference with a carried state (generation) ---------------------------------
    def zero_state(self, n: int) -> tuple:
        """The initial state for n sequences: (H_0,) or (H_0, C_0), all zeros."""
        return (np.zeros((n, self.units), dtype=self.dtype),)

    def predict(self, X):
        return self.run(X)[0]

    def run(self, X, state=None) -> tuple[np.ndarray, tuple]:
        """Inference from ``state`` (default zeros): return (output, final state); no caching.

        Feeding a long sequence in pieces, each piece starting from the previous final
        state, gives the same result as feeding it whole.
        """
        X = np.asarray(X, dtype=self.dtype)
        self.check_input(X)
        n, T, _ = X.shape
        state = self.zero_state(n) if state is None else tuple(np.array(s, dtype=self.dtype) for s in state)
        if any(s.shape != (n, self.units) for s in state):
            raise ValueError(f"layer {self.name!r}: state arrays must be ({n}, {self.units}), "
                             f"got {[s.shape for s in state]}")
        outs = np.empty((T, n, self.units), dtype=self.dtype) if self.return_sequences else None
        for t in range(T):
            state = self._infer_step(X[:, t] @ self.W.value + self.B.value, state)
            if outs is not None:
                outs[t] = state[0]
        out = outs.transpose(1, 0, 2).copy() if outs is not None else state[0].copy()
        return out, state

    def _infer_step(self, A, state):
        raise NotImplementedError

    def config(self):
        cfg = {"units": self.units, "return_sequences": self.return_sequences, "init": self.init}
        if self.declared_input_shape is not None:
            cfg["input_shape"] = list(self.declared_input_shape)
        return cfg


@registry.register("simple_rnn", "rnn")
class SimpleRNN(Recurrent):
    """The vanilla recurrent layer: H_t = f(X_t W + H_{t-1} U + B), H_0 = 0.

    BPTT::

        ∂C/∂Z_t     = (∂C/∂H_t + ∂C/∂Z_{t+1} Uᵀ) ⊙ f'(Z_t)
        ∂C/∂H_{t-1} = ∂C/∂Z_t Uᵀ

    so ∂C/∂H_t is ∂C/∂H_T multiplied by (f' ⊙ Uᵀ) once per step back: with tanh (f' ≤ 1)
    and a U of norm below 1 it shrinks geometrically — the vanishing gradient through time.
    Matches ``torch.nn.RNN(d, u, nonlinearity=f, batch_first=True)`` with
    ``weight_ih_l0 = W.T``, ``weight_hh_l0 = U.T``, ``bias_ih_l0 + bias_hh_l0 = B``.

    Parameters
    ----------
    units, return_sequences, init, input_shape
        As :class:`Recurrent`.
    activation : str
        f, an element-wise activation ("tanh" by default, as PyTorch; "relu" also matches it).
    """

    n_gates = 1

    def __init__(self, units: int, activation="tanh", return_sequences: bool = False, init: str = "auto",
                 input_shape=None, name: str | None = None):
        super().__init__(units, return_sequences, init, input_shape, name)
        self.activation = _act.get(activation)
        if self.activation.name == "softmax" or self.activation.uses_Z:
            raise ValueError(f"SimpleRNN: activation must be element-wise with f' read from H "
                             f"(tanh, relu, sigmoid, ...); {self.activation.name} is not")

    def forward(self, X, training=False):
        Xf = self._prepare(X)
        n, T = X.shape[0], X.shape[1]
        u = self.units
        H = self._get("H", (T + 1, n, u))      # H[0] = H_0 = 0, H[t + 1] = H_t
        H[0] = 0.0
        Z = H[1:].reshape(T * n, u)
        np.matmul(Xf, self.W.value, out=Z)     # X_t W for every step in one product
        Z += self.B.value
        tmp = self._get("tmp", (n, u))
        act, U = self.activation, self.U.value
        for t in range(T):
            np.matmul(H[t], U, out=tmp)
            H[t + 1] += tmp
            act.forward(H[t + 1])
        self.Xf, self.H, self.n, self.T = Xf, H, n, T
        return self._output(H[1:])

    def backward(self, dH):
        n, T, u, H = self.n, self.T, self.units, self.H
        dHs, dh = self._start_backward(dH, T, n)
        dZ = self._get("dZ", (T, n, u))
        D = self._get("D", (T, n, u))
        D[...] = self.activation.derivative(None, H[1:])  # f'(Z_t) for every step, from H_t
        UT = self.U.value.T
        for t in range(T - 1, -1, -1):
            if dHs is not None:
                dh += dHs[t]
            self._record(t, dh)
            np.multiply(dh, D[t], out=dZ[t])
            np.matmul(dZ[t], UT, out=dh)
        return self._finish_backward(self.Xf, H[:T], dZ, T, n)

    def _infer_step(self, A, state):
        A += state[0] @ self.U.value
        return (self.activation.forward(A),)

    def config(self):
        cfg = super().config()
        cfg["activation"] = self.activation.name
        return cfg


@registry.register("lstm")
class LSTM(Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), PyTorch's formulation.

    With the four gate blocks of Z_t = X_t W + H_{t-1} U + B in the order (i, f, g, o)::

        I = σ(Z_i)   F = σ(Z_f)   G = tanh(Z_g)   O = σ(Z_o)
        C_t = F ⊙ C_{t-1} + I ⊙ G            (the cell state: the memory)
        H_t = O ⊙ tanh(C_t)

    BPTT: the cell state carries the gradient back additively, ∂C/∂C_{t-1} = ∂C/∂C_t ⊙ F
    plus terms through H, so as long as the forget gate F stays near 1 the gradient
    neither vanishes nor explodes over many steps (the "constant error carousel").

    Matches ``torch.nn.LSTM(d, u, batch_first=True)`` with ``weight_ih_l0 = W.T``,
    ``weight_hh_l0 = U.T``, ``bias_ih_l0 + bias_hh_l0 = B`` (same gate order), and
    ``(h_n, c_n)`` = ``layer.final_state`` after a forward pass.
    """

    n_gates = 4

    def _auto_bias(self):
        B = np.zeros(4 * self.units)
        B[self.units:2 * self.units] = 1.0  # forget gate open at the start (Jozefowicz et al. 2015)
        return B

    def zero_state(self, n):
        z = np.zeros((n, self.units), dtype=self.dtype)
        return (z, z.copy())

    @property
    def final_state(self) -> tuple[np.ndarray, np.ndarray]:
        """(H_T, C_T) of the last forward pass (copies)."""
        return self.H[-1].copy(), self.C[-1].copy()

    # Training runs feature-major: every per-step array is (features, n), so each gate block
    # is one contiguous (u, n) slab and every element-wise call runs on contiguous memory.
    # The stacked input S_t = [X_tᵀ; 1; H_{t-1}ᵀ] (d + 1 + u, n) meets the fused matrix
    # M = [Wᵀ | B | Uᵀ] (4u, d + 1 + u) in one product per step: Z_tᵀ = M S_t. Internally
    # the gate rows are ordered (o, i, f, g) and followed by C_{t-1}: the three sigmoid gates
    # are one slab, and (I, F) ⊙ (G, C_{t-1}) is one call in each direction.

    def _stacked_weights(self, key: str) -> np.ndarray:
        """Mᵀ = [W; B; U] (d + 1 + u, 4u) in buffer ``key``, gate columns in the internal order (o, i, f, g).

        PyTorch's order (i, f, g, o) becomes (o, i, f, g) by two block copies per matrix.
        """
        W, B, U, u = self.W.value, self.B.value, self.U.value, self.units
        d = W.shape[0]
        MT = self._get(key, (d + 1 + u, 4 * u))
        for cols, src in ((slice(0, u), slice(3 * u, 4 * u)), (slice(u, 4 * u), slice(0, 3 * u))):
            MT[:d, cols] = W[:, src]
            MT[d, cols] = B[src]
            MT[d + 1:, cols] = U[:, src]
        return MT

    def _store_grads(self, G: np.ndarray, d: int):
        """∂C/∂W, ∂C/∂B, ∂C/∂U from ∂C/∂M (4u, d + 1 + u), rows back in PyTorch's order."""
        u = self.units
        for rows, cols in ((slice(0, u), slice(3 * u, 4 * u)), (slice(u, 4 * u), slice(0, 3 * u))):
            self.W.grad[:, cols] = G[rows, :d].T
            self.B.grad[cols] = G[rows, d]
            self.U.grad[:, cols] = G[rows, d + 1:].T

    def forward(self, X, training=False):
        X = np.asarray(X)
        self.check_input(X)
        n, T, d = X.shape
        u = self.units
        S = self._get("S", (T + 1, d + 1 + u, n))   # S[t] = [X_tᵀ; 1; H_{t-1}ᵀ]; S[T] holds H_Tᵀ
        A = self._get("A", (T + 1, 5 * u, n))       # Z_tᵀ → gate values (O, I, F, G), then C_{t-1}
        TC = self._get("TC", (T, u, n))             # tanh(C_t)
        ic = self._get("ic", (2 * u, n))
        S[:T, :d] = X.transpose(1, 2, 0)
        S[:T, d] = 1.0
        S[0, d + 1:] = 0.0
        A[0, 4 * u:] = 0.0
        # σ(z) = (1 + tanh(z/2))/2: the sigmoid rows of M are halved (exact), one tanh per step
        MT = self._stacked_weights("MTh")
        MT[:, :3 * u] *= 0.5
        M = MT.T                                    # (4u, d + 1 + u), Fortran order: BLAS reads it as is
        kern, half = _kernels(), self.dtype.type(0.5)
        for t in range(T):
            a = A[t]
            z = a[:4 * u]
            if t:
                np.matmul(M, S[t], out=z)
            else:                                       # H_0 = 0: only [W; B] ᵀ [X_0ᵀ; 1]
                np.matmul(M[:, :d + 1], S[0, :d + 1], out=z)
            np.tanh(z, out=z)
            c = A[t + 1, 4 * u:]
            if kern is not None:
                kern.lstm_cell_forward(a, c, half)
            else:
                sig = a[:3 * u]
                sig *= 0.5
                sig += 0.5
                np.multiply(a[u:3 * u], a[3 * u:], out=ic)      # I ⊙ G, F ⊙ C_{t-1}
                np.add(ic[:u], ic[u:], out=c)                   # C_t
            np.tanh(c, out=TC[t])
            np.multiply(a[:u], TC[t], out=S[t + 1, d + 1:])     # H_t = O ⊙ tanh(C_t)
        self.S, self.A, self.TC, self.n, self.T = S, A, TC, n, T
        self.H = S[:, d + 1:].transpose(0, 2, 1)    # (T + 1, n, u) views: H[t] = H_t, C[t] = C_t
        self.C = A[:, 4 * u:].transpose(0, 2, 1)
        return self._output(self.H[1:])

    @staticmethod
    def _step_backward(a, tc, h, dh, dc, dz, D, tmp):
        """One step's element-wise backward in NumPy (the compiled ``lstm_step_backward`` does the same).

        dc in: ∂C/∂C_{t+1} ⊙ F_{t+1}; out: ∂C/∂C_t ⊙ F_t. dz out: ∂C/∂Z_tᵀ, rows (o, i, f, g).
        """
        u, n = tc.shape
        np.multiply(h, tc, out=tmp)
        np.subtract(a[:u], tmp, out=tmp)                   # O ⊙ (1 - tanh² C_t) = O - H_t ⊙ tanh C_t
        tmp *= dh
        dc += tmp                                          # ∂C/∂C_t
        np.multiply(dh, tc, out=dz[:u])                    # ∂C/∂O = ∂C/∂H_t ⊙ tanh C_t
        np.multiply(a[3 * u:].reshape(2, u, n), dc, out=dz[u:3 * u].reshape(2, u, n))  # ∂C/∂I, ∂C/∂F
        np.multiply(dc, a[u:2 * u], out=dz[3 * u:])        # ∂C/∂G = ∂C/∂C_t ⊙ I
        np.multiply(a[:3 * u], a[:3 * u], out=D[:3 * u])
        np.subtract(a[:3 * u], D[:3 * u], out=D[:3 * u])   # σ' = S - S²
        np.multiply(a[3 * u:4 * u], a[3 * u:4 * u], out=D[3 * u:])
        np.subtract(1.0, D[3 * u:], out=D[3 * u:])         # tanh' = 1 - G²
        dz *= D                                            # → ∂C/∂Z_tᵀ
        dc *= a[2 * u:3 * u]                               # ∂C/∂C_{t-1} through the cell

    def backward(self, dH):
        """BPTT, one step at a time in reverse, feature-major as the forward pass.

        Per step: ∂C/∂C_t = ∂C/∂C_{t+1} ⊙ F_{t+1} + ∂C/∂H_t ⊙ (O - H_t ⊙ tanh C_t) (that is
        O ⊙ tanh'(C_t)), the gate gradients times σ' = S - S² or tanh' = 1 - G², then two
        products with ∂C/∂Z_tᵀ: ∂C/∂[W; B; U] += ∂C/∂Z_tᵀ S_tᵀ (accumulated step by step while
        S_t is in cache) and [∂C/∂X_tᵀ; ·; ∂C/∂H_{t-1}ᵀ] = Mᵀ ∂C/∂Z_tᵀ with the unhalved M.
        """
        n, T, u = self.n, self.T, self.units
        S, A, TC = self.S, self.A, self.TC
        K = S.shape[1]
        d = K - 1 - u
        dHs, dh = self._incoming_feature_major(dH)
        MT = self._stacked_weights("MT")
        dS = self._get("dS", (T, K, n)) if self.needs_input_grad else None
        G = self._get("G", (4 * u, K))                # ∂C/∂Mᵀ, accumulated over the steps
        Gt = self._get("Gt", (4 * u, K))
        dz = self._get("dz", (4 * u, n))
        D = self._get("D", (4 * u, n))
        dc = self._get("dc", (u, n))
        tmp = self._get("tmpb", (u, n))
        dc[...] = 0.0
        kern = _kernels()
        for t in range(T - 1, -1, -1):
            if dHs is not None:
                dh += dHs[t]
            self._record(t, dh)
            a, tc = A[t], TC[t]
            if kern is not None:
                kern.lstm_step_backward(a, tc, dh, dc, dz)
            else:
                self._step_backward(a, tc, S[t + 1, d + 1:], dh, dc, dz, D, tmp)
            _add_step_grad(G, Gt, dz, S[t], t, T, d + 1)
            if dS is None:
                if t:                                          # ∂C/∂H_0 is not needed
                    np.matmul(MT[d + 1:], dz, out=dh)          # ∂C/∂H_{t-1}ᵀ
            elif t:
                np.matmul(MT, dz, out=dS[t])                   # [∂C/∂X_tᵀ; ·; ∂C/∂H_{t-1}ᵀ]
                dh = dS[t, d + 1:]
            else:
                np.matmul(MT[:d], dz, out=dS[0, :d])
        self._store_grads(G, d)
        return None if dS is None else dS[:, :d].transpose(2, 0, 1)

    def _infer_step(self, A, state):
        h, c = state
        u = self.units
        A += h @ self.U.value
        _sigmoid_via_tanh(A[:, :2 * u])
        np.tanh(A[:, 2 * u:3 * u], out=A[:, 2 * u:3 * u])
        _sigmoid_via_tanh(A[:, 3 * u:])
        c = A[:, u:2 * u] * c + A[:, :u] * A[:, 2 * u:3 * u]
        return (A[:, 3 * u:] * np.tanh(c), c)


@registry.register("gru")
class GRU(Recurrent):
    """Gated recurrent unit (Cho et al. 2014), PyTorch's formulation (reset gate after U).

    With the blocks of X_t W + B and of H_{t-1} U in the order (r, z, n)::

        R = σ(X_t W_r + H_{t-1} U_r + B_r)
        Z = σ(X_t W_z + H_{t-1} U_z + B_z)
        N = tanh(X_t W_n + B_n + R ⊙ (H_{t-1} U_n + B_hn))
        H_t = (1 - Z) ⊙ N + Z ⊙ H_{t-1}

    Parameters W (d, 3u), U (u, 3u), B (3u,) and Bhn (u,). Against ``torch.nn.GRU``:
    ``weight_ih_l0 = W.T``, ``weight_hh_l0 = U.T``, ``bias_ih_l0 + bias_hh_l0 = B`` for the r
    and z blocks, ``B_n = bias_ih_l0[2u:]`` and ``Bhn = bias_hh_l0[2u:]`` (it sits inside R ⊙ ·,
    so it cannot be merged into B).
    """

    n_gates = 3

    def __init__(self, units: int, return_sequences: bool = False, init: str = "auto",
                 input_shape=None, name: str | None = None):
        super().__init__(units, return_sequences, init, input_shape, name)
        self.Bhn: Param | None = None

    def param_shapes(self, input_shape):
        return {**super().param_shapes(input_shape), "Bhn": (self.units,)}

    def build(self, input_shape, rng, dtype=np.float32):
        out = super().build(input_shape, rng, dtype)
        if self.init == "torch":
            a = 1.0 / math.sqrt(self.units)
            Bhn = rng.uniform(-a, a, self.units)
        else:
            Bhn = np.zeros(self.units)
        self.Bhn = Param(Bhn.astype(self.dtype), f"{self.name}/Bhn")
        return out

    def params(self):
        return [self.W, self.U, self.B, self.Bhn]

    # Training runs feature-major as the LSTM's: per-step arrays are (features, n) and
    # S[t] = [X_tᵀ; 1; H_{t-1}ᵀ] (d + 1 + u, n). The input part [W; B]ᵀ [X_tᵀ; 1] of every
    # step is one batched product before the loop (R's and Z's rows halved for σ via tanh);
    # per step, [0 U_r; 0 U_z; Bhn U_n]ᵀ [1; H_{t-1}ᵀ] gives both recurrent parts and U_n H + Bhn.

    def forward(self, X, training=False):
        X = np.asarray(X)
        self.check_input(X)
        n, T, d = X.shape
        u = self.units
        S = self._get("S", (T + 1, d + 1 + u, n))   # S[t] = [X_tᵀ; 1; H_{t-1}ᵀ]; S[T] holds H_Tᵀ
        A = self._get("A", (T, 3 * u, n))           # input parts, then the gate values (R, Z, N)
        HU = self._get("HU", (T, 3 * u, n))         # recurrent parts; rows 2u: = U_n H_{t-1} + Bhn
        HN = self._get("HN", (T, u, n))             # H_{t-1} - N_t
        rn = self._get("rn", (u, n))
        S[:T, :d] = X.transpose(1, 2, 0)
        S[:T, d] = 1.0
        S[0, d + 1:] = 0.0
        MxT = self._get("MxT", (d + 1, 3 * u))     # [W; B]
        MxT[:d] = self.W.value
        MxT[d] = self.B.value
        MhT = self._get("MhT", (1 + u, 3 * u))     # [0 0 Bhn; U]
        MhT[0, :2 * u] = 0.0
        MhT[0, 2 * u:] = self.Bhn.value
        MhT[1:] = self.U.value
        MxT[:, :2 * u] *= 0.5                       # σ(z) = (1 + tanh(z/2))/2, halving is exact
        MhT[:, :2 * u] *= 0.5
        Mh = MhT.T                                  # Fortran order: BLAS reads it as is
        np.matmul(MxT.T, S[:T, :d + 1], out=A)
        kern, half = _kernels(), self.dtype.type(0.5)
        for t in range(T):
            a, hu = A[t], HU[t]
            if t:
                np.matmul(Mh, S[t, d:], out=hu)
            else:                                       # H_0 = 0: [0; 0; Bhn]
                hu[...] = MhT[0][:, None]
            rz, N, h = a[:2 * u], a[2 * u:], S[t + 1, d + 1:]
            rz += hu[:2 * u]
            np.tanh(rz, out=rz)
            if kern is not None:
                kern.gru_gates_forward(a, hu, half)
                np.tanh(N, out=N)
                kern.gru_state_forward(a, S[t, d + 1:], HN[t], h)
                continue
            rz *= 0.5
            rz += 0.5
            np.multiply(a[:u], hu[2 * u:], out=rn)             # R ⊙ (U_n H_{t-1} + Bhn)
            N += rn
            np.tanh(N, out=N)
            np.subtract(S[t, d + 1:], N, out=HN[t])
            np.multiply(a[u:2 * u], HN[t], out=h)              # H_t = N + Z ⊙ (H_{t-1} - N)
            h += N
        self.S, self.A, self.HU, self.HN, self.n, self.T = S, A, HU, HN, n, T
        self.H = S[:, d + 1:].transpose(0, 2, 1)     # (T + 1, n, u) view: H[t] = H_t
        return self._output(self.H[1:])

    @staticmethod
    def _step_backward(a, hn_u, hn, dh, dz, hz, D, tn):
        """One step's element-wise backward in NumPy (the compiled ``gru_step_backward`` does the same).

        a: (R, Z, N); hn_u: U_n H_{t-1} + Bhn; hn: H_{t-1} - N. Out: dz rows (δn, δr, δz, δn ⊙ R),
        hz = ∂C/∂H_t ⊙ Z.
        """
        u = hz.shape[0]
        R, Z, N = a[:u], a[u:2 * u], a[2 * u:]
        np.multiply(a[:2 * u], a[:2 * u], out=D)
        np.subtract(a[:2 * u], D, out=D)                   # σ' of R and Z
        np.multiply(dh, hn, out=dz[2 * u:3 * u])           # ∂C/∂Z
        np.multiply(dh, Z, out=hz)                         # the direct path ∂C/∂H_t ⊙ Z
        np.subtract(dh, hz, out=dz[:u])                    # ∂C/∂N
        np.multiply(N, N, out=tn)
        np.subtract(1.0, tn, out=tn)
        dz[:u] *= tn                                       # δn
        np.multiply(dz[:u], R, out=dz[3 * u:])             # δn ⊙ R
        np.multiply(dz[:u], hn_u, out=dz[u:2 * u])         # ∂C/∂R
        dz[u:3 * u] *= D                                   # δr, δz

    def backward(self, dH):
        """BPTT in reverse, feature-major. With ∂C/∂H_t (the gradient arriving at step t)::

            ∂C/∂N = ∂C/∂H_t ⊙ (1 - Z)          ∂C/∂Z = ∂C/∂H_t ⊙ (H_{t-1} - N)
            δn = ∂C/∂N ⊙ (1 - N²)              δz = ∂C/∂Z ⊙ Z(1 - Z)
            δr = δn ⊙ (U_n H_{t-1} + Bhn) ⊙ R(1 - R)
            ∂C/∂H_{t-1} = ∂C/∂H_t ⊙ Z + U [δr; δz; δn ⊙ R]

        Rows (δn, δr, δz, δn ⊙ R) times S_tᵀ, summed over the steps, hold every parameter's
        gradient: W and B from the first three against [X_t; 1], Bhn from the last against
        the 1 row, U from the last three against H_{t-1}.
        """
        n, T, u = self.n, self.T, self.units
        S, A, HU, HN = self.S, self.A, self.HU, self.HN
        K = S.shape[1]
        d = K - 1 - u
        dHs, dh = self._incoming_feature_major(dH)
        U = self.U.value
        Wp = None
        if self.needs_input_grad:                    # W's columns in dz's row order (n, r, z)
            Wp = self._get("Wp", (d, 3 * u))
            Wp[:, :u] = self.W.value[:, 2 * u:]
            Wp[:, u:] = self.W.value[:, :2 * u]
            dXT = self._get("dXT", (T, d, n))
        dz = self._get("dz", (4 * u, n))             # rows δn, δr, δz, δn ⊙ R
        D = self._get("D", (2 * u, n))
        G = self._get("G", (4 * u, K))
        Gt = self._get("Gt", (4 * u, K))
        hz = self._get("hz", (u, n))
        tn = self._get("tn", (u, n))
        kern = _kernels()
        for t in range(T - 1, -1, -1):
            if dHs is not None:
                dh += dHs[t]
            self._record(t, dh)
            a = A[t]
            if kern is not None:
                kern.gru_step_backward(a, HU[t], HN[t], dh, dz, hz)
            else:
                self._step_backward(a, HU[t, 2 * u:], HN[t], dh, dz, hz, D, tn)
            _add_step_grad(G, Gt, dz, S[t], t, T, d + 1)
            if Wp is not None:
                np.matmul(Wp, dz[:3 * u], out=dXT[t])
            if t:                                              # ∂C/∂H_0 is not needed
                np.matmul(U, dz[u:], out=dh)
                dh += hz                                       # ∂C/∂H_{t-1}
        self.W.grad[:, 2 * u:] = G[:u, :d].T
        self.W.grad[:, :2 * u] = G[u:3 * u, :d].T
        self.B.grad[2 * u:] = G[:u, d]
        self.B.grad[:2 * u] = G[u:3 * u, d]
        self.Bhn.grad[...] = G[3 * u:, d]
        self.U.grad[...] = G[u:, d + 1:].T
        return None if Wp is None else dXT.transpose(2, 0, 1)

    def _infer_step(self, A, state):
        h = state[0]
        u = self.units
        hu = h @ self.U.value
        hu[:, 2 * u:] += self.Bhn.value
        A[:, :2 * u] += hu[:, :2 * u]
        _sigmoid_via_tanh(A[:, :2 * u])
        N = np.tanh(A[:, 2 * u:] + A[:, :u] * hu[:, 2 * u:])
        return (N + A[:, u:2 * u] * (h - N),)


@registry.register("flatten_time")
class LegacyFlattenTime(Layer):
    """Identity kept only so that model files written before Core 2.0 still load.

    It used to turn (n, T, k) into (n·T, k) for a per-step Dense; Dense and the losses now
    work on the last axis (Embedding → LSTM(return_sequences=True) → Dense trains with
    ``fit`` on (n, T) targets), so it passes X through unchanged. Not for new models.
    """

    def forward(self, X, training=False):
        return X

    def backward(self, dH):
        return dH

    def predict(self, X):
        return X
