"""core.all_finite: the finite check of X in pieces of rows equals np.isfinite(X).all()."""

import numpy as np
import pytest

from neuronlab import core


@pytest.mark.parametrize("shape", [(3000, 784), (5, 7), (70000,), (200, 30, 50), (1, 1 << 19)])
@pytest.mark.parametrize("bad", [None, np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_all_finite_equals_numpy(shape, bad, where, monkeypatch):
    monkeypatch.setattr(core, "FINITE_CHUNK", 1 << 12)  # many pieces even for small arrays
    X = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    if bad is not None:
        flat = X.reshape(-1)
        flat[{"first": 0, "middle": flat.size // 2, "last": flat.size - 1}[where]] = bad
    assert core.all_finite(X) is (bad is None) is bool(np.isfinite(X).all())
    view = X[::2] if X.ndim > 1 and len(X) > 1 else X[::-1]  # not C-contiguous
    assert core.all_finite(view) == bool(np.isfinite(view).all())


def test_all_finite_other_dtypes():
    assert core.all_finite(np.arange(10))
    assert core.all_finite(np.zeros((0, 4), np.float32))
    assert core.all_finite(np.float64(1.0)) and not core.all_finite(np.float64("nan"))
    assert not core.all_finite(np.array([[1.0, 2.0], [3.0, np.inf]]))


def test_fit_names_the_first_non_finite_value():
    import neuronlab as nl

    X = np.zeros((300, 4), np.float32)
    X[250, 3] = np.nan
    m = nl.Sequential([nl.layers.Dense(2, "softmax", input_dim=4)], seed=0)
    m.compile("categorical_crossentropy", "sgd")
    with pytest.raises(ValueError, match=r"fit: X contains NaN or inf \(first at row 250, index \(3,\)\)"):
        m.fit(X, np.zeros(300, int), verbose=0)
