"""The playground's session without any web code: data, config, training, heat maps, detail, guide, code."""

import base64
import runpy

import numpy as np
import pytest

import neuronlab as nl
from neuronlab.core import DataError
from neuronlab.playground import Session
from neuronlab.playground.config import optimizer_params
from neuronlab.playground.datasets import DATASETS, RADIUS, features, make_data, read_upload
from neuronlab.playground.detail import GuideWalk, trace_network
from neuronlab.playground.session import GRID, OUTPUT_GRID


@pytest.mark.parametrize("name", DATASETS)
def test_every_dataset_fits_the_square_and_has_its_labels(name):
    X, y = make_data(name, 200, 0.1, seed=3)
    assert X.shape == (200, 2) and y.shape == (200, 1)
    assert np.abs(X).max() <= RADIUS
    if name in ("circle", "xor", "gaussians", "spiral"):
        assert set(np.unique(y)) == {0.0, 1.0}
    else:
        assert len(np.unique(y)) > 100
    X2, _ = make_data(name, 200, 0.1, seed=3)
    np.testing.assert_array_equal(X, X2)


def test_feature_transforms():
    X = np.array([[1.0, 2.0], [-0.5, 3.0]])
    F = features(X, ["x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2"])
    np.testing.assert_allclose(F[1], [-0.5, 3.0, 0.25, 9.0, -1.5, np.sin(-0.5), np.sin(3.0)])


def test_training_lowers_the_test_loss_on_the_circle():
    s = Session({"dataset": "circle", "hidden": [4, 2], "activation": "tanh", "lr": 0.3, "seed": 1})
    start = s.state()["test_loss"]
    for _ in range(15):
        s.step(100)
    assert s.steps == 1500 and s.epoch == pytest.approx(1500 * 10 / 250)
    assert start > 0.6 and s.history[-1][2] < 0.25


def test_batches_follow_one_permutation_per_epoch():
    s = Session({"batch_size": 30})
    seen = np.concatenate([s.next_batch() for _ in range(9)])   # 250 training samples: 8 x 30 + 10
    assert sorted(seen.tolist()) == list(range(250))
    s.configure({"batch_size": "n"})
    assert s.batch_size == 250


def test_every_optimizer_activation_and_initializer_trains():
    for name in nl.optimizers.names():
        s = Session({"optimizer": name, "lr": 0.01})
        s.step(3)
        assert np.isfinite(s.history[-1][1])
    for act in [a for a in nl.activations.names() if a != "softmax"]:
        for init in ["auto", *nl.initializers.names()]:
            s = Session({"activation": act, "init": init})
            s.step(2)
            assert np.isfinite(s.history[-1][1]) and len(s.heatmaps()["neurons"]) == 4


def test_guide_momentum_is_sgd_ema():
    s = Session({"optimizer": "sgd", "optimizer_params": {"momentum": 0.9, "ema": True}})
    opt = s.model.optimizer
    assert (opt.momentum, opt.dampening, opt.ema) == (0.9, 0.0, True)
    assert "dampening" in optimizer_params("sgd") and "rho" in optimizer_params("adadelta")


def test_changing_lr_mid_run_keeps_the_weights_and_the_optimizer_state():
    s = Session({"optimizer": "adam", "lr": 0.01})
    s.step(40)
    weights, state = s.model.get_weights(), s.model.optimizer.state_dict()["dense_1/W/exp_avg"].copy()
    s.configure({"lr": 0.002})
    assert s.steps == 40 and s.model.optimizer.lr == 0.002
    np.testing.assert_array_equal(s.model.get_weights()[0], weights[0])
    np.testing.assert_array_equal(s.model.optimizer.state_dict()["dense_1/W/exp_avg"], state)
    s.configure({"hidden": [3]})                  # the network itself: a fresh model at step 0
    assert s.steps == 0 and s.plan == []


def test_dropout_and_l2_reach_the_model():
    s = Session({"dropout": 0.2, "l2": 0.01, "hidden": [3, 3]})
    kinds = [type(la).__name__ for la in s.model.layers]
    assert kinds == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert s.model.optimizer.weight_decay == 0.01


@pytest.mark.parametrize("change, words", [
    ({"hidden": [4, 99]}, "hidden[1] must be an integer >= 1 and <= 8"),
    ({"activation": "swish"}, "activation must be one of"),
    ({"optimizer_params": {"beta1": 0.5}}, "sgd has no hyper-parameter 'beta1'"),
    ({"dataset": "plane", "loss": "binary_crossentropy"}, "loss for regression must be 'mse'"),
    ({"lr": -1}, "lr must be a number > 0"),
    ({"features": []}, "features must be a non-empty list"),
    ({"colour": 1}, "unknown setting 'colour'"),
    ({"optimizer_params": {"nesterov": True}}, "nesterov=True requires momentum > 0"),
])
def test_bad_settings_are_refused_with_one_clear_message(change, words):
    s = Session()
    with pytest.raises(ValueError, match="playground|SGD") as e:
        s.configure(change)
    assert words in str(e.value)
    assert s.config["hidden"] == [4, 2]   # unchanged


def test_regression_sets_switch_to_mse_and_a_linear_output():
    s = Session({"dataset": "bumps"})
    assert s.config["loss"] == "mse" and s.model.layers[-1].activation.name == "linear"


def test_heatmaps_are_the_layers_predict_on_the_grid():
    s = Session({"hidden": [3], "activation": "tanh"})
    s.step(5)
    maps = s.heatmaps()
    assert [len(m) for m in maps["neurons"]] == [2, 3, 1]
    hidden = np.frombuffer(base64.b64decode(maps["neurons"][1][2]), np.uint8).reshape(GRID, GRID)[::-1]
    expected = s.model.layers[0].predict(s.grid_F)[:, 2].reshape(GRID, GRID)
    np.testing.assert_allclose(hidden / 127.5 - 1, expected, atol=1 / 127.5 + 1e-9)
    p = s.model.predict(s.output_grid_F)[:, 0].reshape(OUTPUT_GRID, OUTPUT_GRID)
    out = np.frombuffer(base64.b64decode(maps["output"]), np.uint8).reshape(OUTPUT_GRID, OUTPUT_GRID)[::-1]
    np.testing.assert_allclose(out / 127.5 - 1, 2 * p - 1, atol=1 / 127.5 + 1e-9)


def test_neuron_detail_equals_nl_trace():
    s = Session({"hidden": [3, 2], "activation": "tanh", "features": ["x1", "x2", "x1x2"], "lr": 0.2})
    s.step(20)
    d = s.detail(2, 1, sample=7)
    t = nl.trace(trace_network(s.model), s.F_train[7:8], s.y_train[7:8], lr=0.2)
    lt = t.layers[1]
    assert d["Z"] == lt.Z[0, 1] and d["h"] == lt.H[0, 1]
    assert d["dC_dh"] == lt.dH[0, 1] and d["dC_dZ"] == lt.dZ[0, 1]
    assert d["dC_dW"] == lt.dW[:, 1].tolist() and d["W_new"] == lt.W_new[:, 1].tolist()
    assert d["C"] == t.C
    # Z = Σ h_i W_ij + b_j with the numbers shown
    assert sum(h * w for h, w in zip(d["h_in"], d["W"])) + d["b"] == pytest.approx(d["Z"], abs=1e-12)
    assert "Z²₂ = Σᵢ h¹ᵢ W²ᵢ₂ + b²₂" in d["equations"][0]
    link = s.detail(2, 1, 0)
    assert link["dC_dW"][0] == lt.X[0, 0] * lt.dZ[0, 1]
    assert any("W²₁₂ ←" in line for line in link["equations"])


def test_detail_equals_the_library_step_to_float64_precision():
    from neuronlab.trace import compare_with_library

    s = Session({"hidden": [4], "activation": "relu"})
    s.step(10)
    copy = trace_network(s.model)
    t = nl.trace(copy, s.F_train[:1], s.y_train[:1], lr=s.config["lr"])
    assert compare_with_library(t, copy, s.F_train[:1], s.y_train[:1]) < 1e-12


def test_detail_notes_dropout_and_other_optimizers():
    s = Session({"dropout": 0.5, "optimizer": "adam", "lr": 0.01})
    notes = " ".join(s.detail(1, 0)["notes"])
    assert "Dropout is off" in notes and "adam" in notes
    with pytest.raises(ValueError, match="layer must be 1 to 3"):
        s.detail(9, 0)
    with pytest.raises(ValueError, match="sample must be a non-negative integer"):
        s.detail(1, 0, sample="first")


def test_no_hidden_layer_is_logistic_regression():
    s = Session({"hidden": []})
    s.step(3)
    assert s.network()["widths"] == [2, 1] and s.detail(1, 0)["h_in"] == s.F_train[0].tolist()


def test_guide_walk_is_the_guides_network_step_by_step():
    g = GuideWalk()
    t = nl.trace()   # the guide's 4-2-1 sigmoid network, its defaults
    assert g.state()["widths"] == [4, 2, 1]
    assert g.t.C == t.C
    phases = [s["phase"] for s in g.steps]
    assert phases == ["input", "forward", "forward", "forward", "loss", "backward", "backward", "backward",
                      "update", "update"]
    assert g.steps[3]["equations"][1].endswith(f"{t.layers[1].H[0, 0]:.4g}")
    for _ in range(len(g.steps)):
        g.move("next")
    assert g.round == 2
    np.testing.assert_allclose(g.model.get_weights()[0], t.layers[0].W_new)


def test_divergence_pauses_with_a_message():
    s = Session({"lr": 10, "activation": "relu", "hidden": [8, 8, 8, 8], "batch_size": 1, "dataset": "plane",
                 "init": "he_uniform"})
    s.playing = True
    s.step(50)
    assert "training stopped: training diverged" in s.error and not s.playing
    assert all(np.isfinite(w).all() for w in s.model.get_weights())
    assert s.gradient_health()["status"][-1] == "exploding"


def test_gradient_health_flags_vanishing_gradients():
    s = Session({"hidden": [8, 8, 8, 8, 8, 8], "activation": "sigmoid", "init": "uniform", "seed": 2})
    s.step(1)
    health = s.gradient_health()
    assert health["status"][0] == "vanishing" and "Vanishing gradients" in health["message"]
    assert health["section"] == "vanishing"


def test_upload_reads_two_features_and_a_label_and_names_no_server_path(tmp_path):
    rows = b"".join(f"{i},{i % 3},{i % 2}\n".encode() for i in range(20))
    X, y, task = read_upload(b"a,b,label\n" + rows, "mine.csv")
    assert X.shape == (20, 2) and task == "classification" and np.abs(X).max() <= RADIUS
    with pytest.raises(DataError) as e:
        read_upload(b"x1,x2,label\n1,2,0\n3,oops,1\n", "bad.csv")
    assert str(e.value).startswith("bad.csv: row 3, column 2") and "/tmp" not in str(e.value)
    with pytest.raises(DataError, match="two feature columns"):
        read_upload(b"1,2,3,0\n" * 10, "wide.csv")
    with pytest.raises(DataError, match="at most 1,000,000"):
        read_upload(b"1,2,0\n" * 200_000, "big.csv")
    s = Session()
    s.set_upload(b"".join(f"{i},{i * 0.5},{i * 0.1}\n".encode() for i in range(30)), "reg.csv")
    assert s.config["dataset"] == "upload:regression" and s.config["loss"] == "mse"
    s.set_upload(b"".join(f"{i},{i * 0.5},{i * 0.2}\n".encode() for i in range(40)), "reg2.csv")
    assert len(s.X) == 40 and s.state()["upload"] == {"name": "reg2.csv", "rows": 40, "task": "regression"}


def test_model_download_loads_back_with_the_same_weights(tmp_path):
    s = Session()
    s.step(5)
    path = tmp_path / "m.safetensors"
    path.write_bytes(s.model_bytes())
    loaded = nl.load_model(path)
    for a, b in zip(loaded.get_weights(), s.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_python_code_reproduces_the_run(tmp_path, monkeypatch):
    s = Session({"hidden": [3], "optimizer": "adam", "lr": 0.02, "optimizer_params": {"amsgrad": True},
                 "features": ["x1", "x2", "x1sq"], "dataset": "xor", "batch_size": 7, "l2": 0.001, "dropout": 0.2})
    s.step(60)
    s.configure({"lr": 0.005})                    # mid-run changes that keep the weights
    s.step(20)
    s.configure({"batch_size": "n"})
    s.step(3)
    s.configure({"optimizer": "sgd", "lr": 0.1, "optimizer_params": {"momentum": 0.9, "dampening": 0.9}})
    s.step(10)
    assert s.steps == 93
    script = tmp_path / "run.py"
    script.write_text(s.python_code())
    monkeypatch.chdir(tmp_path)
    ns = runpy.run_path(str(script))
    for a, b in zip(ns["model"].get_weights(), s.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_detail_of_an_activation_trace_does_not_walk_says_so():
    from neuronlab.trace import SUPPORTED_ACTIVATIONS

    for act in sorted(set(nl.activations.names()) - set(SUPPORTED_ACTIVATIONS)):
        s = Session({"activation": act})
        with pytest.raises(ValueError, match=f"this network uses {act} \\(training and heat maps work"):
            s.detail(1, 0)


def test_guide_mode_prints_the_numbers_of_the_neuronlab_trace_command():
    from click.testing import CliRunner

    from neuronlab.cli import main

    printed = CliRunner().invoke(main, ["trace"]).output      # the guide's 4-2-1 network, η = 0.5
    walk = GuideWalk()
    for step in walk.steps[1:4]:                              # the three forward steps: Z and h
        for line in step["equations"]:
            value = line.rsplit("= ", 1)[1].replace("−", "-")
            assert value in printed, (line, value)
    assert f"{walk.t.C:.4g}" in printed
