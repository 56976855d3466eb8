"""Small models per registered layer family, shared by the ONNX and PyTorch interop tests.

``EXAMPLES[name]`` builds models that contain the layer registered as ``name`` (every option
that changes the exported graph: padding, strides, return_sequences, activations); the tests
parametrize over ``nl.layers.registry.names()``, so a new layer without an example fails them.
"""

import numpy as np

import neuronlab as nl

L = nl.layers


def _images(shape):
    return lambda rng, dtype: rng.standard_normal((5, *shape)).astype(dtype)


def _sequences(T, d):
    return lambda rng, dtype: rng.standard_normal((4, T, d)).astype(dtype)


def _rows(d):
    return lambda rng, dtype: rng.standard_normal((6, d)).astype(dtype)


def _tokens(vocab, T):
    return lambda rng, dtype: rng.integers(0, vocab, (4, T))


EXAMPLES = {
    "dense": [
        (lambda: [L.Dense(7, "relu", input_dim=5), L.Dense(4, "leaky_relu"), L.Dense(3, "tanh"), L.Dense(3, "sigmoid"),
                  L.Dense(3), L.Dense(3, "softmax")], _rows(5)),
        (lambda: [L.Dense(4, "tanh")], _sequences(6, 3)),
    ],
    "dropout": [(lambda: [L.Dense(6, "relu", input_dim=5), L.Dropout(0.4), L.Dense(3, "softmax")], _rows(5))],
    "conv2d": [
        (lambda: [L.Conv2D(4, 3, padding="same", activation="relu", input_shape=(9, 8, 2)),
                  L.Conv2D(3, (2, 3), stride=(1, 2), padding=1, activation="leaky_relu"),
                  L.Conv2D(2, 3, stride=2, padding="same", activation="tanh")], _images((9, 8, 2))),
        (lambda: [L.Conv2D(3, 3, stride=2, input_shape=(7, 7, 1), activation="sigmoid")], _images((7, 7, 1))),
    ],
    "maxpool2d": [(lambda: [L.MaxPool2D(2, input_shape=(6, 7, 3)), L.MaxPool2D((2, 1), stride=1)],
                   _images((6, 7, 3)))],
    "avgpool2d": [(lambda: [L.AvgPool2D(3, stride=2, input_shape=(7, 8, 2))], _images((7, 8, 2)))],
    "globalavgpool2d": [(lambda: [L.Conv2D(4, 3, input_shape=(6, 6, 2)), L.GlobalAvgPool2D(), L.Dense(3, "softmax")],
                         _images((6, 6, 2)))],
    "flatten": [
        (lambda: [L.Conv2D(3, 3, activation="relu", input_shape=(6, 5, 2)), L.Flatten(), L.Dropout(0.1),
                  L.Dense(4, "softmax")], _images((6, 5, 2))),
        (lambda: [L.Conv2D(3, 2, input_shape=(4, 5, 2)), L.Flatten()], _images((4, 5, 2))),   # no Dense after it
        (lambda: [L.Flatten(input_shape=(3, 4)), L.Dense(2)], _sequences(3, 4)),
    ],
    "batchnorm": [
        (lambda: [L.Conv2D(3, 3, input_shape=(6, 6, 2)), L.BatchNorm(activation="relu"), L.Flatten(),
                  L.BatchNorm(), L.Dense(3)], _images((6, 6, 2))),
        (lambda: [L.BatchNorm(eps=1e-3, input_shape=(5,)), L.Dense(2, "sigmoid")], _rows(5)),
    ],
    "embedding": [(lambda: [L.Embedding(11, 4, input_length=6), L.LSTM(5, return_sequences=True),
                            L.Dense(11, "softmax")], _tokens(11, 6))],
    "simple_rnn": [(lambda: [L.SimpleRNN(6, return_sequences=True, input_shape=(5, 3)),
                             L.SimpleRNN(4, activation="relu")], _sequences(5, 3))],
    "lstm": [(lambda: [L.LSTM(6, return_sequences=True, input_shape=(5, 3), init="torch"), L.LSTM(4)],
              _sequences(5, 3))],
    "gru": [(lambda: [L.GRU(6, return_sequences=True, input_shape=(5, 3), init="torch"), L.GRU(4, init="torch")],
             _sequences(5, 3))],
    "flatten_time": [(lambda: [L.Embedding(7, 3, input_length=4), L.GRU(5, return_sequences=True),
                               L.registry.get("flatten_time"), L.Dense(7, "softmax")], _tokens(7, 4))],
}


def randomize_state(model, rng):
    """Non-trivial biases and BatchNorm statistics (a fresh model has zero biases and mean 0, var 1)."""
    for layer in model.layers:
        for p in layer.params():
            if p.name.endswith(("/B", "/beta", "/Bhn")):
                p.value[...] = rng.normal(0, 0.3, p.value.shape)
            if p.name.endswith("/gamma"):
                p.value[...] = rng.uniform(0.5, 1.5, p.value.shape)
        if isinstance(layer, L.BatchNorm):
            layer.running_mean[...] = rng.normal(0, 0.5, layer.running_mean.shape)
            layer.running_var[...] = rng.uniform(0.5, 2.0, layer.running_var.shape)


def examples(name, dtype="float32", seed=0):
    """[(id, built model, inputs)] for the layer registered as ``name``."""
    out = []
    for i, (make, data) in enumerate(EXAMPLES[name]):
        rng = np.random.default_rng(seed + i)
        model = nl.Sequential(make(), seed=seed, dtype=dtype)
        X = data(rng, dtype)
        model.build(X.shape[1:]) if not model.built else None
        randomize_state(model, rng)
        out.append((f"{name}[{i}]", model, X))
    return out


class Doubler(nl.Layer):
    """A user's own layer, unregistered: H = 2X."""

    def forward(self, X, training=False):
        return 2 * X

    def backward(self, dH):
        return 2 * dH
