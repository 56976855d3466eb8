"""A LeNet-style CNN learns MNIST: a quick run on a subset by default, the full >= 99% run marked slow."""

import numpy as np
import pytest

import neuronlab as nl

L = nl.layers


def lenet(seed=0):
    """Conv(16, 5x5, same) → pool → Conv(32, 5x5) → pool → Dense(128) → Dense(10, softmax)."""
    return nl.Sequential([
        L.Conv2D(16, 5, padding="same", activation="relu", input_shape=(28, 28, 1)), L.MaxPool2D(2),
        L.Conv2D(32, 5, activation="relu"), L.MaxPool2D(2), L.Flatten(),
        L.Dense(128, "relu"), L.Dense(10, "softmax"),
    ], seed=seed)


@pytest.fixture(scope="module")
def images():
    (X, y), (Xt, yt) = nl.datasets.load_mnist(flatten=False)
    return (X.reshape(-1, 28, 28, 1), y), (Xt.reshape(-1, 28, 28, 1), yt)


def test_cnn_learns_on_a_subset(images):
    (X, y), (Xt, yt) = images
    m = lenet(seed=0)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.Adam(lr=2e-3), metrics=["accuracy"])
    before = m.evaluate(Xt[:1000], yt[:1000])
    hist = m.fit(X[:3000], y[:3000], epochs=2, batch_size=64, verbose=0)
    after = m.evaluate(Xt[:1000], yt[:1000])
    assert hist.history["loss"][1] < hist.history["loss"][0] < before["loss"]
    assert before["accuracy"] < 0.3 and after["accuracy"] > 0.9, (before, after)
    assert all(w.dtype == np.float32 for w in m.get_weights())


@pytest.mark.slow
def test_cnn_reaches_99_percent_on_mnist(images):
    """The issue's bar: >= 99.0% test accuracy on the 10,000 MNIST test images."""
    (X, y), (Xt, yt) = images
    m = lenet(seed=0)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.Adam(lr=1e-3), metrics=["accuracy"])
    m.fit(X, y, epochs=4, batch_size=64, verbose=1)
    acc = m.evaluate(Xt, yt)["accuracy"]
    print(f"test accuracy {acc:.4f}")
    assert acc >= 0.99, acc
