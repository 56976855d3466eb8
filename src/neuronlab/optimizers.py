"""Optimizers: one class, one update rule, applied in place to every parameter W with gradient g.

Gradient descent, SGD and mini-batch SGD are one rule, W ← W - η g; what differs is how
many samples K the gradient averages, chosen by ``fit(batch_size=...)``: K = n (None),
K = 1, or 1 < K < n. The classes below go from the simplest rule to the most complex:
SGD (with momentum), Adagrad, Adadelta, RMSprop, Adam, AdamW.

Every optimizer takes, besides its own hyperparameters:

- ``weight_decay`` λ: coupled L2, g ← g + λW (PyTorch's ``weight_decay``), except AdamW,
  whose decay is decoupled, W ← W (1 - ηλ);
- ``clipnorm``: if the global norm ‖g‖ over *all* parameters exceeds it, every gradient is
  scaled by clipnorm / (‖g‖ + 1e-6) (``torch.nn.utils.clip_grad_norm_``; Keras calls this
  ``global_clipnorm``);
- ``clipvalue``: every gradient element is clipped to [-clipvalue, clipvalue]
  (``clip_grad_value_``), applied after clipnorm.

A NaN or infinite gradient norm raises :class:`~neuronlab.NonFiniteError` before any
parameter is touched. Optimizer state (momentum buffers, accumulators) lives here, keyed by
parameter name, never on the layers; ``state_dict`` / ``load_state_dict`` expose it for
saving and resuming. Slot names are PyTorch's (``exp_avg``, ``square_avg``, ...).
"""

from __future__ import annotations

import math

import numpy as np

from .core import NonFiniteError, Param, Registry
from .validation import Boolean, Real, validated

__all__ = ["Optimizer", "SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "get", "names"]

registry = Registry("optimizer")

_POSITIVE = Real(low=0, low_open=True)
_NON_NEGATIVE = Real(low=0)
_RATE = Real(low=0, high=1)                        # ρ of the moving averages: 0 <= ρ <= 1
_BETA = Real(low=0, high=1, high_open=True)        # β of Adam: 0 <= β < 1


class Optimizer:
    """Base optimizer.

    Subclasses implement ``update(p, g, state)`` for one parameter. The base prepares g:
    global-norm clipping, value clipping, then coupled L2 weight decay g ← g + λW (in
    that order, as ``clip_grad_norm_`` / ``clip_grad_value_`` before ``torch.optim``), and
    keeps the step counter and per-parameter state.

    Parameters
    ----------
    lr : float
        η, the learning rate (a schedule may change it between steps).
    weight_decay : float
        λ of the L2 penalty added to the gradient, as PyTorch's ``weight_decay``.
    clipnorm : float, optional
        Maximum global L2 norm of the gradient over all parameters.
    clipvalue : float, optional
        Maximum absolute value of each gradient element.
    """

    name = "optimizer"
    #: True when ``update`` applies the weight decay itself (AdamW); the base then leaves g alone.
    decoupled_weight_decay = False

    @validated({"lr": _POSITIVE, "weight_decay": _NON_NEGATIVE, "clipnorm": (_POSITIVE, None),
                "clipvalue": (_POSITIVE, None)})
    def __init__(self, lr: float, weight_decay: float = 0.0, clipnorm: float | None = None,
                 clipvalue: float | None = None):
        self.lr, self.weight_decay, self.clipnorm, self.clipvalue = lr, weight_decay, clipnorm, clipvalue
        self.iterations = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self._scratch: dict[str, np.ndarray] = {}
        self._clip_scale = 1.0

    # -- the step ---------------------------------------------------------------------
    def step(self, params: list[Param]) -> None:
        """Apply one update to every parameter, in place.

        Raises
        ------
        NonFiniteError
            When the gradient norm is NaN or infinite; no parameter is changed then.
        """
        self._clip_scale = self._clip_factor(params)
        self.iterations += 1
        for p in params:
            self.update(p, self.gradient(p), self.state.setdefault(p.name, {}))

    @staticmethod
    def global_norm(params: list[Param]) -> float:
        """‖g‖ = sqrt(Σ_params Σ g²), the gradient norm over all parameters (inf if any g is not finite)."""
        sq = 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            for p in params:
                g = p.grad.reshape(-1)
                sq += float(np.dot(g, g))
        if not math.isfinite(sq) and all(np.isfinite(p.grad).all() for p in params):
            # finite float32 gradients whose squares overflow: sum again in float64, scaled
            scale = max(float(np.abs(p.grad).max()) for p in params)
            sq = scale * scale * sum(float(np.sum(np.square(p.grad / np.float64(scale)))) for p in params)
        return math.sqrt(sq)

    def _clip_factor(self, params) -> float:
        """The global-norm clipping factor (1.0 when not clipping); checks the norm is finite."""
        norm = self.global_norm(params)
        if not math.isfinite(norm):
            bad = next((p.name for p in reversed(params) if not np.isfinite(p.grad).all()), None)
            raise NonFiniteError(f"{type(self).__name__}.step: the gradient norm is {norm}"
                                 + (f" (first non-finite gradient from the output back: {bad!r})" if bad else "")
                                 + "; no parameter was updated")
        if self.clipnorm is None:
            return 1.0
        # PyTorch's clip_grad_norm_: coefficient max_norm / (norm + 1e-6), capped at 1
        return min(self.clipnorm / (norm + 1e-6), 1.0)

    def gradient(self, p: Param) -> np.ndarray:
        """g for this step: clipped ∂C/∂W plus λW under coupled weight decay (p.grad is left intact)."""
        g = p.grad
        if self._clip_scale < 1.0:
            out = self.scratch(p, "g")
            np.multiply(g, self._clip_scale, out=out)
            g = out
        if self.clipvalue is not None:
            out = self.scratch(p, "g")
            np.clip(g, -self.clipvalue, self.clipvalue, out=out)
            g = out
        if self.weight_decay and not self.decoupled_weight_decay:
            out = self.scratch(p, "g")
            if g is out:
                tmp = self.scratch(p, "wd")
                np.multiply(p.value, self.weight_decay, out=tmp)
                out += tmp
            else:
                np.multiply(p.value, self.weight_decay, out=out)
                out += g
            g = out
        return g

    def update(self, p: Param, g: np.ndarray, state: dict) -> None:
        """Update ``p.value`` in place from its gradient ``g`` and its ``state`` slots."""
        raise NotImplementedError

    def scratch(self, p: Param, key: str) -> np.ndarray:
        """A reusable temporary buffer shaped like ``p`` (not part of the saved state)."""
        k = f"{p.name}:{key}"
        buf = self._scratch.get(k)
        if buf is None or buf.shape != p.value.shape or buf.dtype != p.value.dtype:
            buf = self._scratch[k] = np.empty_like(p.value)
        return buf

    @staticmethod
    def slot(state: dict, key: str, p: Param, fill: float = 0.0) -> np.ndarray:
        """The state array ``key`` of ``p``, created filled with ``fill`` on first use."""
        arr = state.get(key)
        if arr is None:
            arr = state[key] = np.full_like(p.value, fill)
        return arr

    @staticmethod
    def count(state: dict) -> int:
        """Increment and return this parameter's step number t (1 on its first update)."""
        t = state.get("step")
        if t is None:
            t = state["step"] = np.zeros((), dtype=np.int64)
        t += 1
        return int(t)

    # -- state ------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Hyperparameters that rebuild this optimizer: ``type(opt)(**opt.get_config())``."""
        cfg = {"lr": self.lr, "weight_decay": self.weight_decay}
        if self.clipnorm is not None:
            cfg["clipnorm"] = self.clipnorm
        if self.clipvalue is not None:
            cfg["clipvalue"] = self.clipvalue
        return cfg

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat {"param_name/slot": array} plus "iterations" and "lr", for saving.

        The arrays are the live state (as PyTorch's): copy them to keep a snapshot.
        """
        out = {f"{pname}/{slot}": arr for pname, slots in self.state.items() for slot, arr in slots.items()}
        out["iterations"] = np.array(self.iterations, dtype=np.int64)
        out["lr"] = np.array(self.lr, dtype=np.float64)
        return out

    def load_state_dict(self, flat: dict[str, np.ndarray]) -> None:
        """Restore what ``state_dict`` returned, lr and step count included (arrays are copied)."""
        self.state = {}
        for key, arr in flat.items():
            if key == "iterations":
                self.iterations = int(arr)
                continue
            if key == "lr":
                self.lr = float(arr)
                continue
            pname, sep, slot = key.rpartition("/")
            if not sep:
                raise ValueError(f"load_state_dict: key {key!r} is not 'param_name/slot'")
            self.state.setdefault(pname, {})[slot] = np.array(arr)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@registry.register("sgd", "gd")
class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, in PyTorch's form.

    Without momentum: W ← W - η g.

    With momentum μ and dampening d (v starts as g on the first step)::

        v ← μ v + (1 - d) g
        W ← W - η v                     (nesterov=False)
        W ← W - η (g + μ v)             (nesterov=True)

    ``ema=True`` is the guide's exponential moving average, exactly, with γ = ``momentum``
    and v₀ = 0 (v starts at zero, not at g)::

        v ← γ v + (1 - γ) g
        W ← W - η v

    The two forms differ only in the start: on the first step the guide's v₁ = (1 - γ) g,
    PyTorch's (with ``dampening = momentum``) v₁ = g, ten times larger for γ = 0.9; after
    t steps PyTorch's v exceeds the guide's by γᵗ g₁ (the first gradient, fading). Keras' momentum (v ← μv - ηg;
    W ← W + v) equals d = 0 for a constant η. State: ``momentum_buffer`` (v).
    """

    @validated({"momentum": _NON_NEGATIVE, "dampening": _NON_NEGATIVE, "nesterov": Boolean(), "ema": Boolean()})
    def __init__(self, lr: float = 0.01, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, clipnorm: float | None = None,
                 clipvalue: float | None = None, ema: bool = False):
        super().__init__(lr, weight_decay, clipnorm, clipvalue)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov=True requires momentum > 0 and dampening = 0")
        if ema and (nesterov or dampening != 0 or not 0 < momentum < 1):
            raise ValueError("SGD: ema=True (the guide's moving average) requires 0 < momentum < 1, "
                             "dampening = 0 and nesterov=False")
        self.momentum, self.dampening, self.nesterov, self.ema = momentum, dampening, nesterov, ema

    def update(self, p, g, state):
        step = self.scratch(p, "step")
        if not self.momentum:
            for W, gb, s in _blocks(p.value, g, step):
                np.multiply(gb, self.lr, out=s)
                W -= s
            return
        buffer = state.get("momentum_buffer")
        started = buffer is not None
        if not started:  # the guide's v₀ = 0, updated below; PyTorch's v₁ = g
            buffer = state["momentum_buffer"] = np.zeros_like(p.value) if self.ema else g.copy()
        mu = self.momentum
        for W, g, v, s in _blocks(p.value, g, buffer, step):  # noqa: B020 (g, v: this block's)
            if self.ema:
                v *= mu
                np.multiply(g, 1.0 - mu, out=s)
                v += s
                _flush_subnormals(self.iterations, v)
            elif started:
                v *= mu
                if self.dampening:
                    np.multiply(g, 1.0 - self.dampening, out=s)
                    v += s
                else:
                    v += g
                _flush_subnormals(self.iterations, v)
            if self.nesterov:
                np.multiply(v, mu, out=s)
                s += g
                np.multiply(s, self.lr, out=s)
            else:
                np.multiply(v, self.lr, out=s)
            W -= s

    def get_config(self):
        cfg = {**super().get_config(), "momentum": self.momentum, "dampening": self.dampening,
               "nesterov": self.nesterov}
        if self.ema:
            cfg["ema"] = True  # only when set: files written before the option still match
        return cfg


# every this many steps, moving averages are cleared of near-subnormal numbers (see _flush_subnormals)
_FLUSH_EVERY = 64


def _flush_subnormals(step: int, *buffers: np.ndarray) -> None:
    """Every 64th step, set the entries of ``buffers`` below 2¹⁰ × the smallest normal float to zero.

    A weight whose gradient stays exactly 0 (an MNIST pixel that is always black) has a moving
    average that shrinks by μ each step, into the subnormal range after some hundred steps, and
    stays there (0.9 × the smallest subnormal rounds back to it). Arithmetic on subnormals is
    many times slower on x86 CPUs: with 18,000 of them SGD's step took 50% longer, and later
    epochs at batch 32 ran ~30% slower than the first. Clearing values that would turn
    subnormal within 64 steps keeps them out; their effect on a weight, η·|v| < 1e-35, is far
    below a float32 weight's last bit, so results are unchanged.
    """
    if step % _FLUSH_EVERY:
        return
    for v in buffers:
        v[np.abs(v) < np.finfo(v.dtype).tiny * 1024] = 0


#: elements per block of an element-wise update. Adam's dozen passes over W, g, m, v and a
#: scratch array run on 64 Ki-element slices (1.25 MiB of float32, within a core's L2 cache)
#: instead of whole arrays: 784 × 512 weights took 0.87 ms a step instead of 1.39 ms
#: (2026-11-30, 1 thread). Element-wise arithmetic gives the same bits either way.
BLOCK = 65_536


def _blocks(*arrays: np.ndarray):
    """Flat views of the same-size ``arrays``, ``BLOCK`` elements at a time (the arrays as they are
    when they fit in one block or one of them is not C-contiguous)."""
    n = arrays[0].size
    if n <= BLOCK or not all(a.flags.c_contiguous for a in arrays):
        yield arrays
        return
    flat = [a.reshape(-1) for a in arrays]
    for i in range(0, n, BLOCK):
        yield tuple(f[i:i + BLOCK] for f in flat)


@registry.register("adagrad")
class Adagrad(Optimizer):
    """Adagrad: each weight's step is divided by the root of its summed squared gradients.

    ::

        G ← G + g ⊙ g
        W ← W - η g / (√G + ε)

    Weights with large past gradients get small steps, rare features large ones; the
    effective rate only decays. ``lr_decay`` (PyTorch's) uses η / (1 + (t - 1)·lr_decay) at
    step t. Keras puts ε under the root and starts G at 0.1; PyTorch's defaults are kept
    here (G₀ = ``initial_accumulator_value`` = 0, ε = 1e-10). State: ``sum`` (G), ``step`` (t).
    """

    @validated({"eps": _NON_NEGATIVE, "initial_accumulator_value": _NON_NEGATIVE, "lr_decay": _NON_NEGATIVE})
    def __init__(self, lr: float = 0.01, eps: float = 1e-10, initial_accumulator_value: float = 0.0,
                 lr_decay: float = 0.0, weight_decay: float = 0.0, clipnorm: float | None = None,
                 clipvalue: float | None = None):
        super().__init__(lr, weight_decay, clipnorm, clipvalue)
        self.eps, self.initial_accumulator_value, self.lr_decay = eps, initial_accumulator_value, lr_decay

    def update(self, p, g, state):
        t = self.count(state)
        G = self.slot(state, "sum", p, self.initial_accumulator_value)
        s = self.scratch(p, "s")
        np.multiply(g, g, out=s)
        G += s
        np.sqrt(G, out=s)
        s += self.eps
        np.divide(g, s, out=s)
        s *= self.lr / (1.0 + (t - 1) * self.lr_decay)
        p.value -= s

    def get_config(self):
        return {**super().get_config(), "eps": self.eps, "initial_accumulator_value": self.initial_accumulator_value,
                "lr_decay": self.lr_decay}


@registry.register("adadelta")
class Adadelta(Optimizer):
    """Adadelta: Adagrad's sum replaced by moving averages, with units fixed by past steps (Zeiler, 2012).

    With γ = ``rho``::

        E[g²] ← γ E[g²] + (1 - γ) g ⊙ g
        ΔW    = √(E[ΔW²] + ε) / √(E[g²] + ε) ⊙ g
        E[ΔW²] ← γ E[ΔW²] + (1 - γ) ΔW ⊙ ΔW
        W ← W - η ΔW

    The paper has no η (η = 1, the default here). Defaults are the paper's, ρ = 0.95 and
    ε = 1e-6; **PyTorch's default ρ is 0.9** (its ε is also 1e-6, its lr 1.0), and Keras'
    lr is 0.001. State: ``square_avg`` (E[g²]), ``acc_delta`` (E[ΔW²]).
    """

    @validated({"rho": _RATE, "eps": _NON_NEGATIVE})
    def __init__(self, lr: float = 1.0, rho: float = 0.95, eps: float = 1e-6, weight_decay: float = 0.0,
                 clipnorm: float | None = None, clipvalue: float | None = None):
        super().__init__(lr, weight_decay, clipnorm, clipvalue)
        self.rho, self.eps = rho, eps

    def update(self, p, g, state):
        Eg2 = self.slot(state, "square_avg", p)
        Ed2 = self.slot(state, "acc_delta", p)
        s = self.scratch(p, "s")
        d = self.scratch(p, "d")
        rho, c = self.rho, 1.0 - self.rho
        np.multiply(g, g, out=s)
        s *= c
        Eg2 *= rho
        Eg2 += s
        np.add(Eg2, self.eps, out=s)
        np.sqrt(s, out=s)
        np.add(Ed2, self.eps, out=d)
        np.sqrt(d, out=d)
        d /= s
        d *= g                      # d = ΔW
        np.multiply(d, d, out=s)
        s *= c
        Ed2 *= rho
        Ed2 += s
        d *= self.lr
        p.value -= d

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "eps": self.eps}


@registry.register("rmsprop")
class RMSprop(Optimizer):
    """RMSprop: divide g by a moving root-mean-square of recent gradients (Hinton, 2012).

    With γ = ``rho`` (PyTorch's ``alpha``; Keras' ``rho``)::

        E[g²] ← γ E[g²] + (1 - γ) g ⊙ g
        W ← W - η g / (√E[g²] + ε)

    ``centered=True`` divides by an estimate of the deviation instead, √(E[g²] - E[g]²) + ε,
    with E[g] ← γ E[g] + (1 - γ) g. With momentum μ the scaled step goes through a buffer,
    b ← μ b + g / (√E[g²] + ε); W ← W - η b (PyTorch's form; Keras' folds η into b). ε is
    added outside the root, as PyTorch. Defaults are PyTorch's (η = 0.01, γ = 0.99); Keras'
    are η = 0.001, γ = 0.9. State: ``square_avg``, ``grad_avg`` (centered), ``momentum_buffer``.
    """

    @validated({"rho": _RATE, "eps": _NON_NEGATIVE, "momentum": _NON_NEGATIVE, "centered": Boolean()})
    def __init__(self, lr: float = 0.01, rho: float = 0.99, eps: float = 1e-8, momentum: float = 0.0,
                 centered: bool = False, weight_decay: float = 0.0, clipnorm: float | None = None,
                 clipvalue: float | None = None):
        super().__init__(lr, weight_decay, clipnorm, clipvalue)
        self.rho, self.eps, self.momentum, self.centered = rho, eps, momentum, centered

    def update(self, p, g, state):
        Eg2 = self.slot(state, "square_avg", p)
        s = self.scratch(p, "s")
        rho = self.rho
        np.multiply(g, 1.0 - rho, out=s)     # (1 - γ) g serves both averages
        if self.centered:
            Eg = self.slot(state, "grad_avg", p)
            Eg *= rho
            Eg += s
        s *= g
        Eg2 *= rho
        Eg2 += s
        if self.centered:
            np.multiply(Eg, Eg, out=s)
            np.subtract(Eg2, s, out=s)
            np.maximum(s, 0.0, out=s)        # ≥ 0 in exact arithmetic; rounding can dip below
            np.sqrt(s, out=s)
        else:
            np.sqrt(Eg2, out=s)
        s += self.eps
        np.divide(g, s, out=s)
        if self.momentum:
            b = self.slot(state, "momentum_buffer", p)
            b *= self.momentum
            b += s
            np.multiply(b, self.lr, out=s)
        else:
            s *= self.lr
        p.value -= s

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "eps": self.eps, "momentum": self.momentum,
                "centered": self.centered}


@registry.register("adam")
class Adam(Optimizer):
    """Adam: momentum on g and an RMSprop scale, both bias-corrected (Kingma & Ba, 2015).

    With β1, β2 the decay rates and t the step number::

        m ← β1 m + (1 - β1) g                 m̂ = m / (1 - β1ᵗ)
        v ← β2 v + (1 - β2) g ⊙ g             v̂ = v / (1 - β2ᵗ)
        W ← W - η m̂ / (√v̂ + ε)

    ``amsgrad=True`` uses v_max ← max(v_max, v) in place of v (Reddi et al., 2018).
    ε is added to √v̂ (as PyTorch and Keras), not under the root. ``weight_decay`` is the
    coupled L2 g ← g + λW; for the decoupled form use :class:`AdamW`. Same defaults as
    ``torch.optim.Adam`` (``betas = (beta1, beta2)``). State: ``exp_avg`` (m),
    ``exp_avg_sq`` (v), ``max_exp_avg_sq`` (v_max), ``step`` (t).
    """

    @validated({"beta1": _BETA, "beta2": _BETA, "eps": _NON_NEGATIVE, "amsgrad": Boolean()})
    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 amsgrad: bool = False, weight_decay: float = 0.0, clipnorm: float | None = None,
                 clipvalue: float | None = None):
        super().__init__(lr, weight_decay, clipnorm, clipvalue)
        self.beta1, self.beta2, self.eps, self.amsgrad = beta1, beta2, eps, amsgrad

    def update(self, p, g, state):
        t = self.count(state)
        arrays = [p.value, g, self.slot(state, "exp_avg", p), self.slot(state, "exp_avg_sq", p),
                  self.scratch(p, "s")]
        if self.amsgrad:
            arrays.append(self.slot(state, "max_exp_avg_sq", p))
        # η m̂ / (√v̂ + ε) = (η √(1-β2ᵗ) / (1-β1ᵗ)) · m / (√v + ε √(1-β2ᵗ)): one pass less
        bc2_sqrt = math.sqrt(1.0 - self.beta2 ** t)
        eps, scale = self.eps * bc2_sqrt, self.lr * bc2_sqrt / (1.0 - self.beta1 ** t)
        for W, g, m, v, s, *v_max in _blocks(*arrays):
            # m ← m + (1 - β1)(g - m), PyTorch's lerp
            np.subtract(g, m, out=s)
            s *= 1.0 - self.beta1
            m += s
            np.multiply(g, g, out=s)
            s *= 1.0 - self.beta2
            v *= self.beta2
            v += s
            _flush_subnormals(t, m, v)
            if v_max:
                v = np.maximum(v_max[0], v, out=v_max[0])
            np.sqrt(v, out=s)
            s += eps
            np.divide(m, s, out=s)
            s *= scale
            W -= s

    def get_config(self):
        return {**super().get_config(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                "amsgrad": self.amsgrad}


@registry.register("adamw")
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    The decay shrinks W directly instead of entering g (so it is not rescaled by √v̂)::

        W ← W (1 - η λ)
        W ← W - η m̂ / (√v̂ + ε)       (Adam's rule on the undecayed g)

    Default λ = 0.01, as ``torch.optim.AdamW``.
    """

    decoupled_weight_decay = True

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 amsgrad: bool = False, weight_decay: float = 0.01, clipnorm: float | None = None,
                 clipvalue: float | None = None):
        super().__init__(lr, beta1, beta2, eps, amsgrad, weight_decay, clipnorm, clipvalue)

    def update(self, p, g, state):
        if self.weight_decay:
            p.value *= 1.0 - self.lr * self.weight_decay
        super().update(p, g, state)


def get(spec, **kwargs) -> Optimizer:
    """Return an optimizer from a name (``"adam"``), a class or an instance."""
    return registry.get(spec, **kwargs)


def names() -> list[str]:
    """Registered optimizer names, simplest first."""
    return registry.names()
