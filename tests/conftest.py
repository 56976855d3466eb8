"""Shared fixtures. BLAS is pinned to one thread for reproducible float sums in tests."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

MNIST_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "mnist")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def mnist():
    """MNIST as float32 in [0, 1]: ((X_train, y_train), (X_test, y_test))."""
    import neuronlab as nl

    folder = MNIST_DIR if os.path.isdir(MNIST_DIR) else None
    return nl.datasets.load_mnist(folder)
