"""Synthetic 2-D datasets for the guide's demos: xor, moons, circles, spirals, blobs.

Each ``make_*`` returns ``(X, y)``: X float32 of shape (n, 2), y int64 class labels.
Randomness comes only from ``seed`` (an int, None, or an ``np.random.Generator`` that is
used and advanced); the global NumPy RNG is never touched. Noise is Gaussian with
standard deviation ``noise``, added to both coordinates (spirals: to the angle).

>>> X, y = make_xor(4, noise=0.0, shuffle=False)
>>> X.tolist(), y.tolist()
([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1, 0])
"""

from __future__ import annotations

import numpy as np

from ..validation import Integer, Real, check

__all__ = ["make_xor", "make_moons", "make_circles", "make_spirals", "make_blobs", "make_dataset", "SYNTHETIC"]


def _check(n_samples, noise, n_classes=2, where="make"):
    """(n_samples, noise) checked: an integer >= n_classes and a number >= 0."""
    return check(where, "n_samples", n_samples, Integer(low=n_classes)), check(where, "noise", noise, Real(low=0))


def _counts(n, k) -> np.ndarray:
    """n samples shared among k classes as evenly as possible (the first classes get the rest)."""
    c = np.full(k, n // k)
    c[: n % k] += 1
    return c


def _finish(X, y, rng, noise, shuffle):
    if noise:
        X = X + rng.normal(0.0, noise, size=X.shape)
    if shuffle:
        order = rng.permutation(len(X))
        X, y = X[order], y[order]
    return X.astype(np.float32), y.astype(np.int64)


def make_xor(n_samples: int = 200, noise: float = 0.1, seed=None, shuffle: bool = True):
    """The XOR problem: points around the corners of the unit square, y = x₁ XOR x₂.

    With ``n_samples=4, noise=0, shuffle=False`` it is the guide's truth table.
    """
    n_samples, noise = _check(n_samples, noise, 4, "make_xor")
    rng = np.random.default_rng(seed)
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    which = np.arange(n_samples) % 4
    return _finish(corners[which], np.array([0, 1, 1, 0])[which], rng, noise, shuffle)


def make_moons(n_samples: int = 200, noise: float = 0.1, seed=None, shuffle: bool = True):
    """Two interleaving half circles: (cos t, sin t) and (1 - cos t, 0.5 - sin t), t ∈ [0, π]."""
    n_samples, noise = _check(n_samples, noise, 2, "make_moons")
    rng = np.random.default_rng(seed)
    n0, n1 = _counts(n_samples, 2)
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    X = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], np.c_[1 - np.cos(t1), 0.5 - np.sin(t1)]])
    y = np.repeat([0, 1], [n0, n1])
    return _finish(X, y, rng, noise, shuffle)


def make_circles(n_samples: int = 200, noise: float = 0.05, factor: float = 0.5, seed=None,
                 shuffle: bool = True):
    """Two concentric circles: radius 1 (class 0) and ``factor`` < 1 (class 1)."""
    n_samples, noise = _check(n_samples, noise, 2, "make_circles")
    factor = check("make_circles", "factor", factor, Real(low=0, low_open=True, high=1, high_open=True))
    rng = np.random.default_rng(seed)
    n0, n1 = _counts(n_samples, 2)
    t0 = np.linspace(0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0, 2 * np.pi, n1, endpoint=False)
    X = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], factor * np.c_[np.cos(t1), np.sin(t1)]])
    return _finish(X, np.repeat([0, 1], [n0, n1]), rng, noise, shuffle)


def make_spirals(n_samples: int = 300, noise: float = 0.2, n_classes: int = 2, turns: float = 1.0,
                 seed=None, shuffle: bool = True):
    """Interleaved spiral arms, one per class: radius r ∈ [0, 1], angle θ = 2π·turns·r + 2πk/K + noise.

    Here ``noise`` is the standard deviation of the angle (radians), not of the coordinates.
    """
    n_classes = check("make_spirals", "n_classes", n_classes, Integer(low=2))
    turns = check("make_spirals", "turns", turns, Real())
    n_samples, noise = _check(n_samples, noise, n_classes, "make_spirals")
    rng = np.random.default_rng(seed)
    counts = _counts(n_samples, n_classes)
    y = np.repeat(np.arange(n_classes), counts)
    r = np.concatenate([np.linspace(0.0, 1.0, c) for c in counts])
    theta = 2 * np.pi * turns * r + 2 * np.pi * y / n_classes
    if noise:
        theta = theta + rng.normal(0.0, noise, size=theta.shape)
    X = np.c_[r * np.cos(theta), r * np.sin(theta)]
    return _finish(X, y, rng, 0.0, shuffle)


def make_blobs(n_samples: int = 300, n_classes: int = 3, noise: float = 1.0, centers=None,
               box: tuple[float, float] = (-5.0, 5.0), seed=None, shuffle: bool = True):
    """Gaussian blobs: class k is N(c_k, noise² I); centres drawn uniformly in ``box`` unless given."""
    rng = np.random.default_rng(seed)
    if centers is None:
        n_classes = check("make_blobs", "n_classes", n_classes, Integer(low=1))
        centers = rng.uniform(box[0], box[1], size=(n_classes, 2))
    centers = np.asarray(centers, dtype=np.float64)
    if centers.ndim != 2 or centers.shape[0] < 1:
        raise ValueError(f"make_blobs: centers must have shape (n_classes, d), got {centers.shape}")
    n_samples, noise = _check(n_samples, noise, len(centers), "make_blobs")
    counts = _counts(n_samples, len(centers))
    y = np.repeat(np.arange(len(centers)), counts)
    return _finish(centers[y], y, rng, noise, shuffle)


SYNTHETIC = {"xor": make_xor, "moons": make_moons, "circles": make_circles, "spirals": make_spirals,
             "blobs": make_blobs}


def make_dataset(name: str, n_samples: int | None = None, noise: float | None = None, seed=None, **kwargs):
    """``make_<name>`` by name (``"xor"``, ``"moons"``, ``"circles"``, ``"spirals"``, ``"blobs"``)."""
    if name not in SYNTHETIC:
        raise ValueError(f"unknown synthetic dataset {name!r}; valid names: {', '.join(SYNTHETIC)}")
    if n_samples is not None:
        kwargs["n_samples"] = n_samples
    if noise is not None:
        kwargs["noise"] = noise
    return SYNTHETIC[name](seed=seed, **kwargs)
