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


def test_early_stopping_restores_batchnorm_running_statistics_of_the_best_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    m = nl.Sequential([nl.layers.Dense(4, input_dim=3), nl.layers.BatchNorm(activation="relu"),
                       nl.layers.Dense(2, "softmax")], seed=0)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.5))
    snapshots = []
    record = nl.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(
        (m.get_weights(), {k: v.copy() for k, v in m.layers[1].buffers().items()})))
    stop = nl.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    m.fit(X, y, epochs=30, batch_size=10, validation_data=(X[:20] + 3.0, y[:20]), callbacks=[record, stop],
          verbose=0)
    assert stop.best_epoch is not None and stop.best_epoch < len(snapshots) - 1
    weights, buffers = snapshots[stop.best_epoch]
    for a, b in zip(m.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    for k, v in m.layers[1].buffers().items():
        np.testing.assert_array_equal(v, buffers[k])
