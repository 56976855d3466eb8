"""The demos of the guide's mechanisms (momentum, adagrad, small-lr, dropout-masks), each claim
asserted on a quick run; figures (PNG and GIF) and JSON written."""

import json
import os

import numpy as np
import pytest

import neuronlab as nl
from neuronlab.demos import momentum as momentum_demo


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    cache = {}

    def run(topic):
        if topic not in cache:
            out = tmp_path_factory.mktemp(topic)
            cache[topic] = (nl.demos.run(topic, out, seed=0, quick=True), out)
        return cache[topic]
    return run


def check_files(res, out, topic):
    for path in res["figures"]:
        assert os.path.dirname(path) == str(out)
        with open(path, "rb") as f:
            head = f.read(8)
        assert head == b"\x89PNG\r\n\x1a\n" or head[:6] == b"GIF89a"
        assert os.path.getsize(path) > 10_000
    with open(os.path.join(out, f"{topic}.json"), encoding="utf-8") as f:
        assert json.load(f)["figures"] == res["figures"]


def test_moving_average_by_hand_and_its_two_starts():
    x = [1.0, 2.0, 3.0]
    np.testing.assert_allclose(momentum_demo.moving_average(x, 0.5), [0.5, 1.25, 2.125])
    np.testing.assert_allclose(momentum_demo.moving_average(x, 0.5, "first"), [1.0, 1.5, 2.25])


def test_momentum_averages_the_noise_and_straightens_the_sgd_path(quick):
    res, out = quick("momentum")
    check_files(res, out, "momentum")
    assert any(p.endswith(".gif") for p in res["figures"])
    s = res["series"]
    assert s["γ = 0.9"]["rms_error"] < s["γ = 0.5"]["rms_error"] < s["raw"]["rms_error"]
    assert s["γ = 0.98"]["rms_error"] > s["γ = 0.9"]["rms_error"]  # too much averaging lags behind
    f = s["first_step"]
    assert f["pytorch_v1"] == pytest.approx(f["x1"]) and f["guide_v1"] == pytest.approx(0.1 * f["x1"])
    sgd, mom, gd = (res["runs"][k] for k in ("mini-batch SGD", "guide momentum γ = 0.9", "full-batch GD"))
    assert sgd["mean_cos_consecutive"] < 0 < 0.5 < mom["mean_cos_consecutive"] < gd["mean_cos_consecutive"]
    assert gd["path_length"] < mom["path_length"] < 0.6 * sgd["path_length"]


def test_adagrad_rate_only_shrinks_rmsprop_levels_off_adadelta_grows(quick):
    res, out = quick("adagrad")
    check_files(res, out, "adagrad")
    ada, rms, delta = (res["runs"][k] for k in res["runs"])
    w1, w2 = "w₁ (frequent x₁)", "w₂ (rare x₂)"
    r = np.array(ada["rates"][w1])
    assert np.all(np.diff(r) <= 1e-15)  # Adagrad: never grows
    assert ada["last"][w1] / ada["first"][w1] < 0.2
    assert ada["last"][w2] > 2 * ada["last"][w1]  # the rare weight keeps a larger rate
    assert rms["last"][w1] / rms["first"][w1] > 0.5  # RMSprop: no decay to 0
    assert delta["last"][w1] > delta["first"][w1]  # Adadelta: starts small, grows
    eps = res["eps_placement"]
    assert eps["outside_root"] > 50 * eps["inside_root"]


def test_small_lr_update_ratio_is_proportional_to_eta(quick):
    res, out = quick("small-lr")
    check_files(res, out, "small-lr")
    runs = res["runs"]
    for layer in range(3):
        med = [runs[f"η = {lr:g}"]["median_ratio"][layer] for lr in (0.001, 0.01, 0.1)]
        assert 5 < med[1] / med[0] < 15 and 4 < med[2] / med[1] < 15
    assert max(runs["η = 0.001"]["median_ratio"]) < 2e-4  # new weights ≈ old weights...
    assert runs["η = 0.001"]["loss_drop"] < 0.05 < 0.3 < runs["η = 1"]["loss_drop"]  # ...and C barely moves


def test_dropout_masks_change_every_step_scaling_keeps_the_mean_inference_is_identity(quick):
    res, out = quick("dropout-masks")
    check_files(res, out, "dropout-masks")
    assert all(0.35 < k < 0.65 for k in res["kept_fraction"])
    assert res["different_masks"] == 1.0
    sc = res["scaling"]
    nz = sc["h"] > 0.05
    np.testing.assert_allclose(sc["train_mean"][nz], sc["h"][nz], rtol=0.1)
    np.testing.assert_allclose(sc["unscaled_mean"][nz], 0.5 * sc["h"][nz], rtol=0.1)
    assert sc["inference_max_diff"] == 0.0
    m = np.array(res["masks"])
    assert m.shape == (2, res["steps"], 16)


def test_new_topics_are_registered():
    for t in ("momentum", "adagrad", "small-lr", "dropout-masks", "rl"):
        assert t in nl.demos.names()
