"""A LeNet-style CNN learns MNIST: quick runs on subsets by default, the full >= 99% run (slow)."""

import numpy as np
import pytest

import neuronlab as nl
from neuronlab import zoo

L = nl.layers


def lenet(seed=0, dropout=0.2):
    """The zoo's ``cnn``: Conv(16, 5x5, same) → pool → Conv(32, 5x5) → pool → Dense(128) → Dropout → Dense(10)."""
    return zoo.get("cnn").builder((28, 28), 10, activation="relu", init="he_normal", dropout=dropout, seed=seed)


@pytest.fixture(scope="module")
def images():
    (X, y), (Xt, yt) = nl.datasets.load_mnist(flatten=False)
    return (X.reshape(-1, 28, 28, 1), y), (Xt.reshape(-1, 28, 28, 1), yt)


def test_zoo_cnn_architecture():
    m = lenet()
    assert m.input_shape == (28, 28, 1)
    assert [la.output_shape for la in m.layers] == [(28, 28, 16), (14, 14, 16), (10, 10, 32), (5, 5, 32), (800,),
                                                   (128,), (128,), (10,)]
    assert m.count_params() == 16 * 26 + 32 * (400 + 1) + 800 * 128 + 128 + 128 * 10 + 10
    flat = zoo.get("cnn").builder((784,), 10, activation="relu", init="he_normal", dropout=0.0, seed=0)
    assert flat.input_shape == (28, 28, 1) and not any(isinstance(la, L.Dropout) for la in flat.layers)
    small = zoo.get("cnn").builder((8, 8), 10, activation="relu", init="he_normal", dropout=0.0, seed=0)
    assert small.layers[3].output_shape == (2, 2, 32)   # "same" second convolution on small images
    with pytest.raises(ValueError, match="not square"):
        zoo.get("cnn").builder((10,), 2, activation="relu", init="he_normal", dropout=0.0, seed=0)


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


def test_cli_trains_the_cnn_and_saves_a_model_that_reloads(images, tmp_path):
    """`neuronlab train --model cnn` on a small .npz of 28x28 images: reshaped to NHWC, trained, saved, reloaded."""
    from neuronlab import load_model
    from neuronlab.runs import resolve_config, run_training

    (X, y), (Xt, yt) = images
    data = tmp_path / "small.npz"
    to_u8 = lambda A: np.round(A[..., 0] * 255).astype(np.uint8)  # noqa: E731 - raw (n, 28, 28) images
    np.savez(data, x_train=to_u8(X[:1500]), y_train=y[:1500], x_test=to_u8(Xt[:500]), y_test=yt[:500])
    cfg = resolve_config({"model": "cnn", "data": str(data), "epochs": 2, "batch_size": 64})
    (tmp_path / "run").mkdir()
    summary = run_training(cfg, str(tmp_path / "run"), echo=lambda *a, **k: None, progress=False)
    assert summary["test_accuracy"] > 0.8, summary
    model = load_model(tmp_path / "run" / "model.safetensors")
    assert isinstance(model.layers[0], L.Conv2D) and model.input_shape == (28, 28, 1)
    assert model.evaluate(Xt[:500], yt[:500])["accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-9)


@pytest.mark.slow
def test_neuronlab_train_model_cnn_reaches_99_percent(tmp_path):
    """The issue's bar, through the command's own code path: `neuronlab train --model cnn` with its defaults
    (Adam η = 3e-3 with cosine decay, batch 256, 5 epochs, no dropout) on full MNIST: >= 99.0% test accuracy
    (measured: 99.24%, 142 s on one core of the shared machine; 99.16% with dropout 0.2; 99.19% with the
    earlier recipe, Adam 1e-3, batch 128, 6 epochs, dropout 0.2)."""
    from neuronlab.runs import resolve_config, run_training

    lines = []
    summary = run_training(resolve_config({"model": "cnn"}), str(tmp_path), echo=lines.append, progress=False)
    print("\n".join(map(str, lines)))
    assert summary["test_accuracy"] >= 0.99, summary


def test_demo_filters_quick(tmp_path):
    """`neuronlab demo filters --quick`: kernels and feature maps drawn; what training adds is smooth."""
    import json
    import os

    res = nl.demos.run("filters", tmp_path, seed=0, quick=True)
    assert [os.path.basename(p) for p in res["figures"]] == ["filters_kernels.png", "filters_feature_maps.png"]
    for path in res["figures"]:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(path) > 10_000
    with open(tmp_path / "filters.json", encoding="utf-8") as f:
        assert json.load(f)["figures"] == res["figures"]
    assert 1.5 < res["roughness_init"] < 2.5          # He-normal kernels: independent noise, ≈ 2
    assert res["roughness_change"] < 0.5 * res["roughness_init"]   # ΔW is a sum of image patches: smooth
    assert res["test_accuracy"] > 0.8
    assert len(res["mean_activation"]["conv1"]) == 16 and len(res["mean_activation"]["conv2"]) == 32
    assert "filters" in nl.demos.names()
