"""Sequence tasks for the recurrent layers: sequential MNIST, the adding problem, Tiny Shakespeare.

Every sequence batch is X of shape (n, T, d): n samples, T time steps, d features per step.

* Sequential MNIST: each 28×28 image read row by row, T = 28 steps of d = 28 pixels.
* The adding problem (Hochreiter & Schmidhuber 1997; the form of Le, Jaitly & Hinton 2015):
  a long-range memory task whose difficulty is set by the length T.
* Tiny Shakespeare (shipped, gzipped): character-level next-character prediction, with
  the small training loop and sampler behind ``neuronlab generate``.
"""

from __future__ import annotations

import contextlib
import gzip
import os
from importlib import resources

import numpy as np

from ..core import DataError
from ..validation import Integer, check
from .mnist import load_mnist, sha256_of

__all__ = ["load_sequential_mnist", "adding_problem", "adding_baseline_mse", "load_tinyshakespeare",
           "CharVocab", "char_windows", "char_model", "train_char_model", "char_loss", "sample_chars",
           "TINYSHAKESPEARE_SHA256", "single_blas_thread"]

TINYSHAKESPEARE_SHA256 = "bed00f18e91cda6838950656f0a95e07e0f4dbe8649a4b959f7602a7e53fbc6e"


def single_blas_thread():
    """Context manager: BLAS limited to one thread (needs threadpoolctl; else does nothing).

    A recurrent layer multiplies small matrices once per time step; on a busy machine extra
    BLAS threads only wait for each other, and one thread is often several times faster.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check(None, "seed", seed, Integer(low=0), None))


# -- sequential MNIST -------------------------------------------------------------------------
def load_sequential_mnist(folder: str | None = None, dtype=np.float32):
    """MNIST as sequences: ``(X_train, y_train), (X_test, y_test)`` with X of shape (n, 28, 28).

    Row r of an image is time step r: the network reads 28 pixels at a time, top to bottom,
    and must remember the first rows until the last. Pixels are scaled to [0, 1].
    """
    return load_mnist(folder, flatten=False, scale=True, dtype=dtype)


# -- the adding problem ------------------------------------------------------------------------
def adding_problem(n: int, length: int = 100, seed=None, dtype=np.float32):
    """The adding problem: remember two marked numbers over ``length`` steps and add them.

    Each sample is a sequence of T = ``length`` steps with two features: a value drawn from
    U(0, 1) and a marker, 1 at exactly two steps (one in each half of the sequence) and 0
    elsewhere. The target is the sum of the two marked values. Predicting the constant 1
    scores MSE = Var(v₁ + v₂) = 1/6 ≈ 0.167 (:func:`adding_baseline_mse`); "solved" means
    MSE well below that (< 0.01 here).

    Parameters
    ----------
    n : int
        Number of sequences.
    length : int
        T ≥ 2; the distance between the two marks averages T/2.
    seed : int, numpy Generator or None
        The randomness (a Generator is used and advanced as is).

    Returns
    -------
    X : ndarray (n, length, 2)
    y : ndarray (n, 1)
    """
    n = check("adding_problem", "n", n, Integer(low=1))
    length = check("adding_problem", "length", length, Integer(low=2))
    rng = _rng(seed)
    X = np.zeros((n, length, 2), dtype=dtype)
    X[:, :, 0] = rng.random((n, length))
    half = length // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, length, n)
    rows = np.arange(n)
    X[rows, first, 1] = 1.0
    X[rows, second, 1] = 1.0
    y = (X[rows, first, 0] + X[rows, second, 0]).reshape(n, 1)
    return X, y.astype(dtype)


def adding_baseline_mse() -> float:
    """MSE of always answering 1 (the mean target): Var(v₁ + v₂) = 2 · 1/12 = 1/6."""
    return 1.0 / 6.0


# -- Tiny Shakespeare ---------------------------------------------------------------------------
def _shakespeare_path() -> str:
    return str(resources.files("neuronlab.datasets") / "data" / "tinyshakespeare" / "input.txt.gz")


def load_tinyshakespeare(path: str | None = None) -> str:
    """The Tiny Shakespeare text (1,115,394 characters), from the copy shipped in the package.

    The shipped file is checked against its SHA-256 first; a ``path`` of your own (gzipped
    or plain UTF-8 text) is read as is.
    """
    if path is None:
        path = _shakespeare_path()
        if not os.path.isfile(path):
            raise DataError(f"{path}: Tiny Shakespeare file missing from the package")
        got = sha256_of(path)
        if got != TINYSHAKESPEARE_SHA256:
            raise DataError(f"{path}: SHA-256 {got} does not match the expected {TINYSHAKESPEARE_SHA256}")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read text ({exc})") from exc


class CharVocab:
    """Characters ↔ integer tokens: the sorted set of characters of a text.

    >>> v = CharVocab("hello")
    >>> v.chars, v.decode(v.encode("hole"))
    ('ehlo', 'hole')
    """

    def __init__(self, text: str):
        if not text:
            raise ValueError("CharVocab: text is empty")
        self.chars = "".join(sorted(set(text)))
        self._index = {c: i for i, c in enumerate(self.chars)}

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Tokens (int32) for ``text``; ValueError names any character outside the vocabulary."""
        try:
            return np.fromiter((self._index[c] for c in text), dtype=np.int32, count=len(text))
        except KeyError as exc:
            raise ValueError(f"CharVocab.encode: character {exc.args[0]!r} is not in the vocabulary") from None

    def decode(self, tokens) -> str:
        return "".join(self.chars[int(t)] for t in np.asarray(tokens).ravel())


def char_windows(tokens: np.ndarray, n: int, seq_len: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """n random windows of the token stream: X = tokens[s : s+T], Y = tokens[s+1 : s+T+1]."""
    tokens = np.asarray(tokens)
    if len(tokens) < seq_len + 2:
        raise ValueError(f"char_windows: {len(tokens)} tokens are too few for windows of seq_len={seq_len}")
    starts = _rng(rng).integers(0, len(tokens) - seq_len - 1, n)
    idx = starts[:, None] + np.arange(seq_len + 1)
    W = tokens[idx]
    return W[:, :-1], W[:, 1:]


def char_model(vocab_size: int, units: int = 256, dim: int = 32, seed: int | None = 0, lr: float = 2e-3,
               clipnorm: float = 5.0):
    """Embedding → LSTM(return_sequences) → Dense(vocab, softmax), compiled.

    Every time step predicts the next character: the output is (n, T, vocab) and the targets
    (n, T); the cross-entropy averages over all n·T predictions. Adam with gradient clipping
    by global norm.
    """
    from .. import layers, optimizers
    from ..model import Sequential

    model = Sequential([layers.Embedding(vocab_size, dim), layers.LSTM(units, return_sequences=True),
                        layers.Dense(vocab_size, "softmax")], seed=seed)
    model.compile(loss="categorical_crossentropy", optimizer=optimizers.Adam(lr=lr, clipnorm=clipnorm))
    return model


def train_char_model(model, tokens: np.ndarray, steps: int, batch_size: int = 32, seq_len: int = 64,
                     val_tokens: np.ndarray | None = None, log_every: int = 100, print_fn=print) -> dict:
    """Train a next-character model on random windows of ``tokens`` for ``steps`` updates, with ``fit``.

    Every ``log_every`` steps, ``log_every · batch_size`` fresh windows X (n, T) with their
    next characters Y (n, T) are drawn from the model's generator (a seed gives a
    reproducible run) and ``model.fit`` makes one pass over them in batches of ``batch_size``.

    Returns
    -------
    dict
        ``{"step": [...], "loss": [...], "val_loss": [...]}`` every ``log_every`` steps
        (the training loss is the mean over those steps).
    """
    if model.loss is None or model.optimizer is None:
        raise ValueError("train_char_model: compile the model first (see char_model)")
    tokens = np.asarray(tokens)
    log = {"step": [], "loss": [], "val_loss": []}
    done = 0
    while done < steps:
        k = min(log_every, steps - done)
        X, Y = char_windows(tokens, k * batch_size, seq_len, model.rng)
        history = model.fit(X, Y, epochs=1, batch_size=batch_size, shuffle=False, verbose=0)
        done += k
        log["step"].append(done)
        log["loss"].append(float(history.history["loss"][-1]))
        msg = f"step {done:5d}/{steps}  loss {log['loss'][-1]:.4f}"
        if val_tokens is not None:
            log["val_loss"].append(char_loss(model, val_tokens, seq_len))
            msg += f"  val_loss {log['val_loss'][-1]:.4f}"
        if print_fn is not None:
            print_fn(msg)
    return log


def char_loss(model, tokens: np.ndarray, seq_len: int = 64, n: int = 64, seed: int = 0) -> float:
    """Mean next-character cross-entropy (nats) on n fixed windows of ``tokens``."""
    X, Y = char_windows(tokens, n, seq_len, np.random.default_rng(seed))
    P = model.predict(X).reshape(-1, model.output_dim)  # (n, T, vocab); a pre-2.0 file gives (n·T, vocab)
    p = P[np.arange(len(P)), Y.reshape(-1)]
    return float(-np.mean(np.log(np.maximum(p, np.finfo(P.dtype).tiny))))


def sample_chars(model, vocab: CharVocab, length: int = 200, prime: str = "\n", temperature: float = 1.0,
                 seed=None) -> str:
    """Generate ``length`` characters after ``prime``, one at a time, carrying the LSTM state.

    Each step feeds one character through the layers (recurrent layers continue from their
    state, see ``Recurrent.run``) and draws the next from softmax(Z / temperature):
    lower temperatures are more conservative, higher ones more surprising.
    """
    from ..layers.recurrent import Recurrent

    if not temperature > 0:
        raise ValueError(f"sample_chars: temperature must be > 0, got {temperature!r}")
    if not prime:
        raise ValueError("sample_chars: prime must contain at least one character")
    rng = _rng(seed)
    states: dict[int, tuple] = {}

    def logits_of(tokens):
        x = np.asarray(tokens, dtype=model.dtype)[None, :]
        for i, layer in enumerate(model.layers[:-1]):
            if isinstance(layer, Recurrent):
                x, states[i] = layer.run(x, states.get(i))
            else:
                x = layer.predict(x)
        return model.layers[-1].predict_z(x).reshape(-1, model.output_dim)[-1].astype(np.float64)

    z = logits_of(vocab.encode(prime))
    out = []
    for _ in range(length):
        z = z / temperature
        p = np.exp(z - z.max())
        p /= p.sum()
        k = int(rng.choice(len(p), p=p))
        out.append(vocab.chars[k])
        z = logits_of([k])
    return "".join(out)
