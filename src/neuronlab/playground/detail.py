"""The numbers behind a neuron or a link, and the guide mode's walk — all read from ``nl.trace``.

:func:`detail_of` traces one training step of the session's network on one sample with
:func:`neuronlab.trace.trace` (the walk ``neuronlab trace`` prints) and returns, for neuron j of
layer K: Z^K_j = Σ_i h^{K-1}_i W^K_ij + b^K_j with every term, h^K_j = f(Z^K_j), ∂C/∂h^K_j,
∂C/∂Z^K_j = ∂C/∂h^K_j f'(Z^K_j), ∂C/∂W^K_ij = h^{K-1}_i ∂C/∂Z^K_j and the update W − η ∂C/∂W.

:class:`GuideWalk` loads the guide's 4-2-1 sigmoid network (``nl.trace``'s default example)
and cuts the same record into steps, neuron by neuron, forward then backward then update.
"""

from __future__ import annotations

import numpy as np

from ..layers import Dense
from ..model import Sequential
from ..trace import SUPPORTED_ACTIVATIONS, Trace, guide_example, trace

__all__ = ["detail_of", "GuideWalk", "trace_network"]

_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_F = {"linear": "id", "sigmoid": "σ", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "LReLU"}
_FPRIME = {"linear": "1", "sigmoid": "h(1 − h)", "tanh": "1 − h²", "relu": "[h > 0]", "leaky_relu": "1 or α"}


def _n(v: float) -> str:
    """A number as the page prints it: 4 significant digits, negatives in parentheses inside products."""
    s = f"{float(v):.4g}".replace("-", "−")
    return f"({s})" if s.startswith("−") else s


def _v(v: float) -> str:
    return f"{float(v):.4g}".replace("-", "−")


def _sym(name: str, K: int, *idx: int) -> str:
    """``name`` with layer K as superscript and 1-based indices as subscript: W²₁₂."""
    return name + str(K).translate(_SUP) + "".join(str(i + 1).translate(_SUB) for i in idx)


def trace_network(model: Sequential) -> Sequential:
    """The model's Dense layers alone (dropout removed: the inference network) in float64, same weights."""
    dense = [la for la in model.layers if isinstance(la, Dense)]
    copy = Sequential([Dense(la.units, la.activation, input_dim=dense[0].input_dim if i == 0 else None)
                       for i, la in enumerate(dense)], dtype="float64")
    copy.set_weights([p.value for la in dense for p in la.params()])
    copy.compile(loss=model.loss.name, optimizer="sgd")
    return copy


def detail_of(model: Sequential, f, y, lr: float, K: int, j: int, i: int | None = None, optimizer: str = "sgd",
              x=None, features=None) -> dict:
    """The detail of neuron j of Dense layer K (1-based K, 0-based j), or of the link i → j, on one sample.

    Every number is ``nl.trace(trace_network(model), f, y, lr)``'s. The update shown is the
    guide's W − η ∂C/∂W; ``optimizer`` only adds a note when the session trains with another rule.
    """
    copy = trace_network(model)
    L = len(copy.layers)
    unsupported = sorted({la.activation.name for la in copy.layers} - set(SUPPORTED_ACTIVATIONS))
    if unsupported:
        raise ValueError(f"playground: the neuron detail is nl.trace's walk, which covers "
                         f"{', '.join(a for a in SUPPORTED_ACTIVATIONS if a != 'softmax')}; this network uses "
                         f"{', '.join(unsupported)} (training and heat maps work with every activation)")
    if not (isinstance(K, int) and 1 <= K <= L):
        raise ValueError(f"playground: layer must be 1 to {L} (Dense layers, inputs are 0), got {K!r}")
    t = trace(copy, np.asarray(f, dtype=np.float64)[None, :], np.asarray(y, dtype=np.float64)[None, :], lr=lr)
    lt = t.layers[K - 1]
    n_in, n_out = lt.W.shape
    if not (isinstance(j, int) and 0 <= j < n_out):
        raise ValueError(f"playground: neuron must be 0 to {n_out - 1} in layer {K}, got {j!r}")
    if i is not None and not (isinstance(i, int) and 0 <= i < n_in):
        raise ValueError(f"playground: source must be 0 to {n_in - 1} (layer {K - 1}), got {i!r}")
    out = {"layer": K, "neuron": j, "source": i, "activation": lt.activation, "C": t.C, "lr": t.lr,
           "y_true": t.Y_true[0].tolist(), "y_pred": t.Y_pred[0].tolist(), "fused": t.fused,
           "x": None if x is None else np.asarray(x, dtype=float).tolist(), "features": features,
           "h_in": lt.X[0].tolist(), "W": lt.W[:, j].tolist(), "b": float(lt.B[j]), "Z": float(lt.Z[0, j]),
           "h": float(lt.H[0, j]), "dC_dh": None if lt.dH is None else float(lt.dH[0, j]),
           "fprime": None if lt.fprime is None else float(lt.fprime[0, j]), "dC_dZ": float(lt.dZ[0, j]),
           "dC_dW": lt.dW[:, j].tolist(), "dC_db": float(lt.dB[j]), "W_new": lt.W_new[:, j].tolist(),
           "b_new": float(lt.B_new[j])}
    notes = []
    if len(copy.layers) != len(model.layers):
        notes.append("Dropout is off in this walk (the inference network), as in neuronlab trace.")
    if optimizer != "sgd":
        notes.append(f"The update shown is the guide's W − η∂C/∂W; training uses {optimizer}'s own rule.")
    out["notes"] = notes
    out["equations"] = _neuron_equations(t, K, j) if i is None else _link_equations(t, K, i, j)
    return out


def _forward_equations(t: Trace, K: int, j: int) -> list[str]:
    lt = t.layers[K - 1]
    terms = " + ".join(f"{_n(lt.X[0, i])}×{_n(lt.W[i, j])}" for i in range(lt.W.shape[0]))
    return [f"{_sym('Z', K, j)} = Σᵢ {_sym('h', K - 1)}ᵢ {_sym('W', K)}ᵢ{str(j + 1).translate(_SUB)} + "
            f"{_sym('b', K, j)} = {terms} + {_n(lt.B[j])} = {_v(lt.Z[0, j])}",
            f"{_sym('h', K, j)} = {_F.get(lt.activation, lt.activation)}({_sym('Z', K, j)}) = {_v(lt.H[0, j])}"]


def _delta_equations(t: Trace, K: int, j: int) -> list[str]:
    """∂C/∂h and ∂C/∂Z of neuron j of layer K, with the sum over the neurons it feeds for a hidden one."""
    lt, L = t.layers[K - 1], len(t.layers)
    Z, h = _sym("Z", K, j), _sym("h", K, j)
    lines = []
    if lt.dH is None:  # the loss gives ∂C/∂Z directly (sigmoid + binary cross-entropy)
        lines.append(f"∂C/∂{Z} = (y_p − y_t)/n = ({_v(t.Y_pred[0, j])} − {_v(t.Y_true[0, j])})/1 = {_v(lt.dZ[0, j])}")
        return lines
    if K == L:
        lines.append(f"∂C/∂{h} = ∂C/∂y_p = {_v(lt.dH[0, j])}  ({t.loss_name}, y_p = {_v(t.Y_pred[0, j])}, "
                     f"y_t = {_v(t.Y_true[0, j])})")
    else:
        nxt = t.layers[K]
        terms = " + ".join(f"{_n(nxt.dZ[0, m])}×{_n(nxt.W[j, m])}" for m in range(nxt.W.shape[1]))
        lines.append(f"∂C/∂{h} = Σₘ ∂C/∂{_sym('Z', K + 1)}ₘ {_sym('W', K + 1)}{str(j + 1).translate(_SUB)}ₘ = "
                     f"{terms} = {_v(lt.dH[0, j])}")
    lines.append(f"∂C/∂{Z} = ∂C/∂{h} · f′({Z}) = {_n(lt.dH[0, j])}×{_n(lt.fprime[0, j])} = {_v(lt.dZ[0, j])}"
                 f"   (f′ = {_FPRIME.get(lt.activation, '…')})")
    return lines


def _weight_equations(t: Trace, K: int, i: int, j: int) -> list[str]:
    lt = t.layers[K - 1]
    W = _sym("W", K, i, j)
    return [f"∂C/∂{W} = {_sym('h', K - 1, i)} · ∂C/∂{_sym('Z', K, j)} = {_n(lt.X[0, i])}×{_n(lt.dZ[0, j])} = "
            f"{_v(lt.dW[i, j])}",
            f"{W} ← {W} − η ∂C/∂{W} = {_n(lt.W[i, j])} − {_n(t.lr)}×{_n(lt.dW[i, j])} = {_v(lt.W_new[i, j])}"]


def _neuron_equations(t: Trace, K: int, j: int) -> list[str]:
    lt = t.layers[K - 1]
    lines = _forward_equations(t, K, j) + [f"C = {_v(t.C)}  ({t.loss_name})"] + _delta_equations(t, K, j)
    for i in range(lt.W.shape[0]):
        lines += _weight_equations(t, K, i, j)
    b = _sym("b", K, j)
    lines.append(f"{b} ← {b} − η ∂C/∂{b} = {_n(lt.B[j])} − {_n(t.lr)}×{_n(lt.dB[j])} = {_v(lt.B_new[j])}")
    return lines


def _link_equations(t: Trace, K: int, i: int, j: int) -> list[str]:
    return (_forward_equations(t, K, j)[:1] + [f"C = {_v(t.C)}  ({t.loss_name})"] + _delta_equations(t, K, j)[-1:]
            + _weight_equations(t, K, i, j))


class GuideWalk:
    """The guide's 4-2-1 sigmoid network (MSE, η = 0.5, one sample) walked through one step at a time.

    Steps: the inputs; each neuron forward (Z, h); the loss; each neuron backward from the
    output (∂C/∂h, ∂C/∂Z, ∂C/∂W of its incoming links); the update of each layer. Past the
    last step the update is applied and the next training step's walk begins.
    """

    def __init__(self, lr: float = 0.5):
        self.model, self.X, self.y = guide_example()
        self.model.compile(loss="mse", optimizer="sgd")
        self.lr, self.round, self.index = lr, 1, 0
        self._walk()

    def _walk(self) -> None:
        t = self.t = trace(self.model, self.X, self.y, lr=self.lr)
        L = len(t.layers)
        xs = ", ".join(_v(v) for v in t.X[0])
        steps = [{"phase": "input", "title": "The sample", "neurons": [[0, i] for i in range(t.X.shape[1])],
                  "links": [], "equations": [f"x = h⁰ = ({xs}),  y_t = {_v(t.Y_true[0, 0])},  η = {_v(t.lr)}"]}]
        for K in range(1, L + 1):
            for j in range(t.layers[K - 1].W.shape[1]):
                steps.append({"phase": "forward", "title": f"Forward: neuron {j + 1} of layer {K}",
                              "neurons": [[K, j]], "links": [[K, i, j] for i in range(t.layers[K - 1].W.shape[0])],
                              "equations": _forward_equations(t, K, j)})
        steps.append({"phase": "loss", "title": "The loss", "neurons": [[L, 0]], "links": [],
                      "equations": [f"C = (y_p − y_t)² = ({_v(t.Y_pred[0, 0])} − {_v(t.Y_true[0, 0])})² = {_v(t.C)}"]})
        for K in range(L, 0, -1):
            for j in range(t.layers[K - 1].W.shape[1]):
                eq = _delta_equations(t, K, j) + [_weight_equations(t, K, i, j)[0]
                                                  for i in range(t.layers[K - 1].W.shape[0])]
                steps.append({"phase": "backward", "title": f"Backward: neuron {j + 1} of layer {K}",
                              "neurons": [[K, j]], "links": [[K, i, j] for i in range(t.layers[K - 1].W.shape[0])],
                              "equations": eq})
        for K in range(1, L + 1):
            lt = t.layers[K - 1]
            eq = [_weight_equations(t, K, i, j)[1] for j in range(lt.W.shape[1]) for i in range(lt.W.shape[0])]
            steps.append({"phase": "update", "title": f"Update of layer {K}: W ← W − η∂C/∂W",
                          "neurons": [[K, j] for j in range(lt.W.shape[1])],
                          "links": [[K, i, j] for j in range(lt.W.shape[1]) for i in range(lt.W.shape[0])],
                          "equations": eq})
        self.steps = steps

    def move(self, action: str) -> None:
        """``"next"`` (past the end: apply the update and trace the next step), ``"prev"`` or ``"restart"``."""
        if action == "next":
            self.index += 1
            if self.index >= len(self.steps):
                self.model.set_weights(self.t.new_weights())
                self.round += 1
                self.index = 0
                self._walk()
        elif action == "prev":
            self.index = max(0, self.index - 1)
        elif action == "restart":
            self.__init__(self.lr)
        else:
            raise ValueError(f"playground: guide action must be one of 'next', 'prev', 'restart', 'exit', "
                             f"got {action!r}")

    def state(self) -> dict:
        """The network (widths, W, b), the step shown and the step count, JSON-able."""
        t = self.t
        values: dict[str, dict] = {}   # what the walk has computed so far, per neuron "K,j"
        for step in self.steps[:self.index + 1]:
            for K, j in step["neurons"]:
                if K == 0:
                    continue
                lt = t.layers[K - 1]
                if step["phase"] == "forward":
                    values[f"{K},{j}"] = {"Z": float(lt.Z[0, j]), "h": float(lt.H[0, j])}
                elif step["phase"] == "backward":
                    values[f"{K},{j}"]["dC_dZ"] = float(lt.dZ[0, j])
        return {"round": self.round, "values": values, "index": self.index, "total": len(self.steps),
                "step": self.steps[self.index],
                "widths": [t.X.shape[1]] + [lt.W.shape[1] for lt in t.layers],
                "W": [lt.W.tolist() for lt in t.layers], "b": [lt.B.tolist() for lt in t.layers],
                "x": t.X[0].tolist(), "y_true": t.Y_true[0].tolist(), "C": t.C}
