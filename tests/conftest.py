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


def use_kernels(monkeypatch, module, backend: str) -> str:
    """Run the layers of a kernels ``module`` (``layers.conv_kernels``, ``layers.recurrent_kernels``) on
    NumPy (``"numpy"``: kernels off) or on its numba loops (``"numba"``: compiled; numba is a test
    dependency). Returns ``backend``."""
    if backend == "numpy":
        monkeypatch.setattr(module, "_loaded", False)
    else:
        monkeypatch.delenv("NEURONLAB_NUMBA", raising=False)
        monkeypatch.setattr(module, "_loaded", None)
        assert module.kernels() is not None
    return backend
