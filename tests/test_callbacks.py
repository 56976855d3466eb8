"""callbacks.py: EarlyStopping state across fit calls."""

import numpy as np

import neuronlab as nl


def _model():
    m = nl.Sequential([nl.layers.Dense(1, "sigmoid", input_dim=2)], seed=0)
    m.compile("binary_crossentropy", nl.optimizers.SGD(lr=1e-3))
    return m


def test_early_stopping_forgets_the_previous_fit():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((32, 2)), (rng.random(32) > 0.5).astype(float)
    m = _model()
    es = nl.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=1e9)  # only the first epoch improves
    hist = m.fit(X, y, epochs=5, callbacks=[es], verbose=0)
    assert es.stopped_epoch == 1 and len(hist.epoch) == 2
    m.fit(X, y, epochs=1, callbacks=[es], verbose=0)  # a run that does not stop
    assert es.stopped_epoch is None and es.best_epoch == 0
