"""One playground session: a neuronlab model trained step by step on a 2-D set, no web code.

The loop is the guide's: each :meth:`Session.step` draws the next batch of K samples (a new
permutation every epoch, from a generator seeded by the config's seed) and calls the public
``Sequential.train_step``; the losses come from ``test_step``. :meth:`Session.state` is what the
page draws: the decision boundary (or regression surface) and one heat map per neuron, each
computed by the layers' ``predict`` on a grid over [-R, R]², the links' weights, the loss
curves and the per-layer gradient norms ‖∂C/∂W‖. :meth:`Session.detail` is the neuron/link
detail of ``nl.trace`` (see :mod:`.detail`), and :attr:`Session.guide` the guide mode.
"""

from __future__ import annotations

import base64
import math
import os
import tempfile
import threading
import time

import numpy as np

from ..core import NonFiniteError
from ..layers import Dense
from ..validation import Integer, check
from . import config as _config
from . import datasets as _data
from .detail import GuideWalk, detail_of

__all__ = ["Session", "GRID", "OUTPUT_GRID"]

GRID = 40             # the neurons' heat maps are GRID x GRID samples of [-R, R]²
OUTPUT_GRID = 80      # the decision boundary / regression surface, finer
_HISTORY = 400        # loss-curve points kept (older ones thinned)
_VANISH, _EXPLODE = 1e-3, 1e2


def _grid(size: int) -> np.ndarray:
    """size² points (x₁, x₂) covering [-R, R]², row-major with x₁ fastest (row 0 at x₂ = -R)."""
    g = np.linspace(-_data.RADIUS, _data.RADIUS, size)
    return np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)


def _quantised(v: np.ndarray, size: int = GRID) -> str:
    """A heat map in [-1, 1] as base64 bytes 0..255 (row 0 = top, x₂ = +R), 1 byte a cell."""
    q = np.rint((np.clip(v, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    return base64.b64encode(q.reshape(size, size)[::-1].tobytes()).decode("ascii")


class Session:
    """A model, its data and its training position; every method is safe to call from any thread.

    Parameters
    ----------
    config : dict, optional
        Changes to :data:`.config.DEFAULTS` (checked as ``POST /api/config`` checks them).
    """

    def __init__(self, config: dict | None = None):
        self.lock = threading.RLock()
        self.upload = None                 # (X, y, task) of an uploaded CSV
        self.upload_name = None
        self.config = _config.checked(_config.DEFAULTS, config or {})
        self.playing = False
        self.speed = 20                    # steps per page update while playing (~500 steps a second)
        self.guide: GuideWalk | None = None
        self.error = None                  # the last training error (divergence), shown on the page
        self.version = 0                   # bumped on every change the page should see
        self.data_version = 0
        self.last_used = time.monotonic()
        self.grid, self.output_grid = _grid(GRID), _grid(OUTPUT_GRID)
        self.reset()

    # -- setup ------------------------------------------------------------------------------
    def configure(self, change: dict) -> dict:
        """Apply a config change (validated) and rebuild what it touches; returns the new config.

        η, L2, the optimizer and K change the training from here on and keep the weights (η alone
        also keeps the optimizer's state), so a beginner can lower η mid-run; any other change
        builds a fresh model at step 0 (and new data when a data setting changed).
        """
        with self.lock:
            new = _config.checked(self.config, change, uploaded=self.upload is not None)
            changed = {k for k in new if new[k] != self.config[k]}
            old, self.config = self.config, new
            if changed and changed <= {"lr", "l2", "optimizer", "optimizer_params", "batch_size"}:
                if changed - {"lr", "batch_size"}:
                    self.model.compile(loss=new["loss"], optimizer=_config.make_optimizer(new))
                    self.plan.append(("optimizer", {k: new[k] for k in ("optimizer", "lr", "l2", "optimizer_params")}))
                elif "lr" in changed:
                    self.model.optimizer.lr = new["lr"]
                    self.plan.append(("lr", new["lr"]))
                self.version += 1
            elif changed:
                data_keys = ("dataset", "noise", "train_ratio", "n_samples", "seed")
                self.reset(new_data=any(new[k] != old[k] for k in data_keys))
            return dict(self.config)

    def set_upload(self, data: bytes, filename: str) -> dict:
        """Use an uploaded CSV (two features and a label) as the data set; raises DataError."""
        X, y, task = _data.read_upload(data, filename)
        with self.lock:
            self.upload = (X, y, task)
            self.upload_name = "".join(c for c in str(filename)[-80:] if c.isprintable())
            self.config = _config.checked(self.config, {"dataset": f"upload:{task}"}, uploaded=True)
            self.reset(new_data=True)     # a second file of the same task is new data too
            return dict(self.config)

    def reset(self, new_data: bool = True) -> None:
        """A fresh model from the config's seed (and, when asked, the data drawn again); step 0."""
        with self.lock:
            c = self.config
            if new_data or not hasattr(self, "X"):
                if c["dataset"].startswith("upload:"):
                    X, y, _ = self.upload
                else:
                    X, y = _data.make_data(c["dataset"], c["n_samples"], c["noise"], c["seed"])
                n_train = min(max(int(round(len(X) * c["train_ratio"])), 1), len(X) - 1)
                self.X, self.y, self.n_train = X, y, n_train
                self.data_version += 1
            self.F = _data.features(self.X, c["features"]).astype(np.float64)
            self.F_train, self.F_test = self.F[:self.n_train], self.F[self.n_train:]
            y64 = self.y.astype(np.float64)
            self.y_train, self.y_test = y64[:self.n_train], y64[self.n_train:]
            self.grid_F = _data.features(self.grid, c["features"]).astype(np.float64)
            self.output_grid_F = _data.features(self.output_grid, c["features"]).astype(np.float64)
            self.model = _config.build_model(c, len(c["features"]))
            self.batch_rng = np.random.default_rng(c["seed"])
            self.order, self.cursor = self.batch_rng.permutation(self.n_train), 0
            self.steps, self.samples_seen = 0, 0
            self.initial_config = dict(c)
            # what happened since step 0: ("train", steps, K), ("lr", η), ("optimizer", its settings)
            self.plan: list[tuple] = []
            self.history: list[tuple[float, float, float]] = []
            self.grad_norms = [0.0 for _ in self.dense_layers()]
            self.error, self.playing, self.guide = None, False, None
            self.selected = {"sample": 0}
            self.version += 1
            self._record()

    def dense_layers(self) -> list[Dense]:
        return [la for la in self.model.layers if isinstance(la, Dense)]

    @property
    def batch_size(self) -> int:
        K = self.config["batch_size"]
        return self.n_train if K == "n" else min(K, self.n_train)

    # -- training -----------------------------------------------------------------------------
    def next_batch(self) -> np.ndarray:
        """Indices of the next K training samples; a new permutation each epoch (the last batch may be short)."""
        if self.cursor >= self.n_train:
            self.order, self.cursor = self.batch_rng.permutation(self.n_train), 0
        idx = self.order[self.cursor:self.cursor + self.batch_size]
        self.cursor += len(idx)
        return idx

    def step(self, n: int = 1) -> dict:
        """``n`` training steps (one batch each) by ``Sequential.train_step``; then the losses are recorded.

        A step that diverges (NaN/inf loss or gradient) pauses the session and keeps the
        last finite weights; its message is in ``state()["error"]``.
        """
        with self.lock:
            self.last_used = time.monotonic()
            for _ in range(n):
                idx = self.next_batch()
                try:
                    self.model.train_step(self.F_train[idx], self.y_train[idx])
                except NonFiniteError as e:
                    self.error, self.playing = f"training stopped: {e}", False
                    break
                self.steps += 1
                self.samples_seen += len(idx)
                self._planned_step()
            with np.errstate(over="ignore", invalid="ignore"):
                self.grad_norms = [math.sqrt(sum(float(np.sum(np.square(p.grad))) for p in la.params()))
                                   for la in self.dense_layers()]
            self.version += 1
            return self._record()

    def _planned_step(self) -> None:
        """Count one step of batch size K in the plan (consecutive steps of one K are one entry)."""
        K = self.batch_size
        if self.plan and self.plan[-1][0] == "train" and self.plan[-1][2] == K:
            self.plan[-1] = ("train", self.plan[-1][1] + 1, K)
        else:
            self.plan.append(("train", 1, K))

    @property
    def epoch(self) -> float:
        return self.samples_seen / self.n_train

    def losses(self) -> tuple[float, float]:
        """(train C, test C) of the inference path over the whole train and test sets."""
        return (float(self.model.test_step(self.F_train, self.y_train)["loss"]),
                float(self.model.test_step(self.F_test, self.y_test)["loss"]))

    def _record(self) -> dict:
        train, test = self.losses()
        self.history.append((round(self.epoch, 4), train, test))
        if len(self.history) > _HISTORY:   # keep the first point, thin the rest by half
            self.history = self.history[:1] + self.history[1::2]
        return {"step": self.steps, "epoch": self.epoch, "train_loss": train, "test_loss": test}

    # -- what the page draws --------------------------------------------------------------------
    def heatmaps(self) -> dict:
        """Every neuron's output on the grid, by each layer's ``predict``: inputs, hidden layers, output.

        Values are scaled into [-1, 1] for colour (a neuron whose outputs exceed 1 in size is
        divided by its largest |h|); the output is 2p − 1 for classification, drawn on a finer
        grid (``output``, ``output_size``) for the big picture.
        """
        A = self.grid_F
        maps = [[_quantised(A[:, i] / max(1.0, float(np.abs(A[:, i]).max()))) for i in range(A.shape[1])]]
        for layer in self.model.layers:
            A = layer.predict(A)
            if isinstance(layer, Dense):
                maps.append([_quantised(A[:, j] / max(1.0, float(np.abs(A[:, j]).max()))) for j in range(A.shape[1])])
        maps[-1] = [_quantised(self._surface(A[:, 0]))]
        out = self.model.predict(self.output_grid_F)[:, 0]
        return {"size": GRID, "radius": _data.RADIUS, "neurons": maps, "output_size": OUTPUT_GRID,
                "output": _quantised(self._surface(out), OUTPUT_GRID)}

    def _surface(self, out: np.ndarray) -> np.ndarray:
        """The output as a colour value: 2p − 1 for classification, the prediction for regression."""
        return 2.0 * out - 1.0 if self.task == "classification" else out

    @property
    def task(self) -> str:
        return _config.task_of(self.config["dataset"])

    def gradient_health(self) -> dict:
        """‖∂C/∂W‖ per layer and a verdict: ok, vanishing (a layer < 1e-3 × the largest) or exploding."""
        norms = self.grad_norms
        top = max(norms) if norms else 0.0
        status = ["ok"] * len(norms)
        message = ""
        for i, g in enumerate(norms):
            if not math.isfinite(g) or g > _EXPLODE:
                status[i] = "exploding"
            elif self.steps and top > 0 and g < _VANISH * top:
                status[i] = "vanishing"
        if "exploding" in status:
            message = ("‖∂C/∂W‖ is exploding: lower η or use clipnorm — the guide, §7 Exploding gradients "
                       "(neuronlab demo exploding).")
        elif "vanishing" in status:
            k = status.index("vanishing") + 1
            message = (f"‖∂C/∂W‖ of layer {k} is under 1/1000 of the largest: the gradient vanishes on its way "
                       f"back — the guide, §6 Vanishing gradients (try tanh or relu; neuronlab demo vanishing).")
        section = "exploding" if "exploding" in status else ("vanishing" if "vanishing" in status else None)
        return {"norms": [g if math.isfinite(g) else None for g in norms], "status": status, "message": message,
                "section": section}

    def network(self) -> dict:
        """Widths (inputs first), each Dense layer's W (fan_in x fan_out) and b, and the layers' activations."""
        dense = self.dense_layers()
        return {"inputs": [_data.FEATURES[f][0] for f in self.config["features"]],
                "widths": [len(self.config["features"])] + [la.units for la in dense],
                "activations": [la.activation.name for la in dense],
                "W": [la.params()[0].value.tolist() for la in dense],
                "b": [la.params()[1].value.tolist() for la in dense]}

    def points(self) -> dict:
        """The data: x = (x₁, x₂) and y, training set first, then test (``n_train`` tells where)."""
        return {"X": np.round(self.X, 4).tolist(), "y": np.round(self.y[:, 0], 4).tolist(),
                "n_train": self.n_train, "task": self.task}

    def state(self, include_points: bool = True) -> dict:
        """Everything the page shows, JSON-able (see docs/playground.md)."""
        with self.lock:
            self.last_used = time.monotonic()
            train, test = self.history[-1][1:]
            out = {"version": self.version, "data_version": self.data_version, "config": dict(self.config),
                   "playing": self.playing, "speed": self.speed, "step": self.steps, "epoch": self.epoch,
                   "batch_size": self.batch_size, "train_loss": train, "test_loss": test,
                   "history": self.history, "error": self.error, "network": self.network(),
                   "heatmaps": self.heatmaps(), "gradients": self.gradient_health(), "selected": self.selected,
                   "guide": None if self.guide is None else self.guide.state(),
                   "upload": None if self.upload is None else {"name": self.upload_name, "rows": len(self.upload[0]),
                                                               "task": self.upload[2]}}
            if include_points:
                out["points"] = self.points()
            return out

    # -- the detail, guide mode and downloads ----------------------------------------------------
    def detail(self, layer: int, neuron: int, source: int | None = None, sample: int | None = None) -> dict:
        """The neuron (``source`` None) or link (source → neuron) detail of ``nl.trace`` on one sample.

        ``layer`` K counts Dense layers from 1; ``sample`` indexes the training set (default: the
        last selected one). See :func:`.detail.detail_of`.
        """
        with self.lock:
            if sample is not None:
                self.selected = {"sample": check("playground", "sample", sample, Integer(low=0))}
            self.selected.update(layer=layer, neuron=neuron, source=source)
            s = self.selected["sample"]
            if not 0 <= s < self.n_train:
                raise ValueError(f"playground: sample must be 0 to {self.n_train - 1}, got {s}")
            return detail_of(self.model, self.F_train[s], self.y_train[s], self.config["lr"], layer, neuron, source,
                             optimizer=self.config["optimizer"], x=self.X[s], features=self.config["features"])

    def start_guide(self) -> dict:
        with self.lock:
            self.playing = False
            self.guide = GuideWalk()
            self.version += 1
            return self.guide.state()

    def guide_move(self, action: str) -> dict:
        """``"next"``/``"prev"`` in the guide's walk, or ``"exit"``; see :class:`.detail.GuideWalk`."""
        with self.lock:
            if action == "exit":
                self.guide = None
                self.version += 1
                return {}
            if self.guide is None:
                self.guide = GuideWalk()
            self.guide.move(action)
            self.version += 1
            return self.guide.state()

    def model_bytes(self) -> bytes:
        """The model as the safetensors file ``model.save`` writes (optimizer state included)."""
        with self.lock:
            fd, path = tempfile.mkstemp(suffix=".safetensors", prefix="neuronlab-playground-")
            os.close(fd)
            try:
                self.model.save(path)
                with open(path, "rb") as f:
                    return f.read()
            finally:
                os.unlink(path)

    def python_code(self) -> str:
        """A script that redoes this run with ``nl.Sequential`` (same data, batches and steps)."""
        from .codegen import python_code

        with self.lock:
            return python_code(self.initial_config, self.plan, self.steps)
