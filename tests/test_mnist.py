"""The guide's network on real data: a 784-128-10 MLP on the MNIST test set."""

import time

import numpy as np

import neuronlab as nl


def test_mnist_784_128_10_reaches_97_percent(mnist):
    (X, y), (Xt, yt) = mnist
    m = nl.Sequential([nl.layers.Dense(128, "relu", input_dim=784), nl.layers.Dense(10, "softmax")], seed=0)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.05, momentum=0.9),
              metrics=["accuracy"])
    t0 = time.perf_counter()
    h = m.fit(X, y, epochs=5, batch_size=64, verbose=0)
    res = m.evaluate(Xt, yt)
    seconds = time.perf_counter() - t0
    print(f"MNIST 784-128-10: test accuracy {res['accuracy']:.4f} in {seconds:.1f} s")
    assert res["accuracy"] >= 0.97
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert m.predict(Xt[:5]).dtype == np.float32


def test_shipped_mnist_matches_the_shared_copy_and_canonical_counts(mnist):
    (X, y), (Xt, yt) = nl.datasets.load_mnist()  # the copy inside the package
    (X2, y2), _ = mnist
    assert X.shape == (60000, 784) and Xt.shape == (10000, 784) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    np.testing.assert_array_equal(y, y2)
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
