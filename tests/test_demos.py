"""nl.demos: each guide claim asserted numerically on a quick run; figures and JSON written."""

import json
import math
import os

import numpy as np
import pytest
from click.testing import CliRunner

import neuronlab as nl
from neuronlab.cli_guide import demo as demo_cmd
from neuronlab.demos import optimizers as opt_demo


def check_outputs(res, out_dir, topic):
    """Every figure is a non-trivial PNG; the JSON holds the returned numbers."""
    assert res["figures"]
    for path in res["figures"]:
        assert os.path.dirname(path) == str(out_dir)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(path) > 10_000
    with open(os.path.join(out_dir, f"{topic}.json"), encoding="utf-8") as f:
        saved = json.load(f)
    assert saved["figures"] == res["figures"]
    return saved


@pytest.fixture(scope="module")
def run_demo(tmp_path_factory):
    cache = {}

    def run(topic, seed=0):
        if (topic, seed) not in cache:
            out = tmp_path_factory.mktemp(topic)
            cache[(topic, seed)] = (nl.demos.run(topic, out, seed=seed, quick=True), out)
        return cache[(topic, seed)]
    return run


def test_activations_sigmoid_derivative_peaks_at_a_quarter(run_demo):
    res, out = run_demo("activations")
    check_outputs(res, out, "activations")
    acts = res["activations"]
    assert acts["sigmoid"]["max_derivative"] == pytest.approx(0.25, abs=1e-12)
    assert acts["sigmoid"]["argmax_z"] == 0.0
    assert acts["tanh"]["max_derivative"] == pytest.approx(1.0, abs=1e-12)
    assert acts["relu"]["max_derivative"] == 1.0
    assert set(acts) == set(nl.activations.names()) - {"softmax"}
    assert all(a["derivative_check_error"] < 1e-6 for a in acts.values())
    assert res["sigmoid_10_layer_bound"] == 0.25 ** 9


def test_vanishing_sigmoid_first_layer_gradient_orders_of_magnitude_smaller(run_demo):
    res, out = run_demo("vanishing")
    check_outputs(res, out, "vanishing")
    sig, tanh, relu = (res["activations"][a] for a in ("sigmoid", "tanh", "relu"))
    assert sig["first_over_last_init"] < 1e-3
    assert sig["first_over_last_trained"] < 1e-3
    g = sig["grad_norms_init"]
    assert all(a < b for a, b in zip(g[:-1], g[1:]))  # shrinks at every layer on the way back
    assert 0.1 < relu["first_over_last_init"] < 10  # ReLU with He init: within 10x
    assert 0.1 < tanh["first_over_last_init"] < 10
    assert relu["init"] == "he_normal" and sig["init"] == "xavier_normal"
    assert any("vanishing" in w for w in sig["warnings"]) and not relu["warnings"]


def test_exploding_large_init_grows_per_layer_and_diverges_clipping_and_he_fix_it(run_demo):
    res, out = run_demo("exploding")
    check_outputs(res, out, "exploding")
    big, clip, he = res["runs"].values()
    bp = big["backprop_norms"]
    assert all(a > b for a, b in zip(bp[:-1], bp[1:]))  # ‖∂C/∂h^K‖ grows at every layer towards the input
    assert big["growth_input_over_output"] > 100
    assert big["growth_per_layer"] == pytest.approx(res["k"], rel=0.25)
    assert big["diverged"] and "training diverged" in big["error"]
    assert not clip["diverged"] and math.isfinite(clip["final_loss"])
    assert clip["final_loss"] < big["initial_loss"] / 2
    assert not he["diverged"] and he["final_loss"] < he["initial_loss"]
    assert he["growth_input_over_output"] < 10


def test_optimizers_paths_and_every_registered_optimizer_appears(run_demo):
    res, out = run_demo("optimizers")
    check_outputs(res, out, "optimizers")
    assert "mnist" not in res  # quick skips MNIST
    labels = res["optimizers"]
    for name in nl.optimizers.names():
        if name != "sgd":
            assert name in labels
    for needed in ("GD", "SGD (K=1)", "mini-batch (K=8)", "momentum 0.9", "Nesterov 0.9"):
        assert needed in labels
    ravine = res["surfaces"]["ravine"]["runs"]

    def steps(r):
        return math.inf if r.get("steps_to_1e-4") is None else r["steps_to_1e-4"]
    # the guide's claim: momentum reaches the ravine's minimum in fewer steps than plain GD
    assert steps(ravine["momentum 0.9"]) < min(steps(ravine["GD"]), steps(ravine["GD (zig-zag)"]))
    assert steps(ravine["Nesterov 0.9"]) < steps(ravine["GD"])
    ros = res["surfaces"]["rosenbrock"]["runs"]
    assert "SGD (K=1)" not in ros  # no data, no stochastic gradient
    assert ros["momentum 0.9"]["final_gap"] < ros["GD"]["final_gap"]
    logistic = res["surfaces"]["logistic"]
    assert logistic["runs"]["GD"]["final_gap"] < 1e-2
    # the model's minimum (Newton's method) really is one: no path ends lower
    assert all(r["final_gap"] > -1e-9 for r in logistic["runs"].values() if r.get("lr"))


def test_optimizer_demo_picks_up_newly_registered_optimizers(monkeypatch):
    class Halved(nl.optimizers.SGD):
        """SGD at half the learning rate (a stand-in for an optimizer registered later)."""

        def update(self, p, g, state):
            p.value -= 0.5 * self.lr * g
    Halved.name = "halved_sgd"
    monkeypatch.setitem(nl.optimizers.registry._items, "halved_sgd", Halved)
    assert "halved_sgd" in [v["label"] for v in opt_demo.variants()]
    surface = opt_demo.Ravine(np.random.default_rng(0))
    runs, _ = opt_demo._run_surface(surface, (0.1, 0.3), 0, 30)
    assert runs["halved_sgd"]["lr"] == 0.3 and len(runs["halved_sgd"]["path"]) == 31


def test_batch_sgd_is_noisiest_gd_smoothest(run_demo):
    res, out = run_demo("batch")
    check_outputs(res, out, "batch")
    gd, sgd, mb = res["runs"].values()
    n, epochs = res["n"], res["epochs"]
    assert (gd["updates"], sgd["updates"], mb["updates"]) == (epochs, n * epochs, -(-n // 32) * epochs)
    assert gd["noise"] == 0.0 and sgd["noise"] > mb["noise"] > 0
    # the full training loss goes uphill after many SGD steps, fewer mini-batch steps, no GD step
    assert sgd["up_fraction"] > 0.2 and sgd["up_fraction"] > mb["up_fraction"] and gd["up_fraction"] == 0.0
    assert sgd["final_loss"] < gd["final_loss"] and mb["final_loss"] < gd["final_loss"]
    assert len(sgd["epoch_loss"]) == epochs + 1


@pytest.mark.parametrize("seed", [0, 1])
def test_dropout_narrows_the_train_validation_gap(run_demo, seed):
    res, out = run_demo("dropout", seed)
    check_outputs(res, out, "dropout")
    plain, drop = res["runs"]["dropout 0"], res["runs"]["dropout 0.5"]
    assert drop["loss_gap"] < plain["loss_gap"]
    assert plain["train_loss"][-1] < drop["train_loss"][-1]  # without dropout it fits the noise better...
    assert plain["val_loss"][-1] > plain["best_val_loss"]  # ...and its validation loss has turned back up


def test_init_verdict_from_forward_backward_and_saturation(run_demo):
    res, out = run_demo("init")
    check_outputs(res, out, "init")
    r = res["results"]
    assert set(r["tanh"]) == {"uniform", "xavier_normal", "xavier_uniform", "he_normal", "he_uniform"}
    # forward spread alone favours He for tanh (larger, closer to level)...
    assert r["tanh"]["he_normal"]["forward_ratio"] > r["tanh"]["xavier_normal"]["forward_ratio"]
    # ...but He saturates more than 5 % of tanh's first-layer units, Xavier about 1 %
    assert r["tanh"]["he_normal"]["first_layer_saturation"] > 0.05 > 0.02 > r["tanh"]["xavier_normal"][
        "first_layer_saturation"]
    assert res["best"]["tanh"].startswith("xavier") and res["best"]["relu"].startswith("he")
    assert res["best_is_level"]["tanh"] and res["best_is_level"]["relu"] and not res["best_is_level"]["sigmoid"]
    assert all(v["backward_ratio"] < 1e-3 for v in r["sigmoid"].values())  # no init saves the sigmoid
    assert r["relu"]["uniform"]["forward_ratio"] < 1e-2 and r["relu"]["uniform"]["backward_ratio"] < 1e-2
    assert 0.1 < r["relu"]["he_normal"]["forward_ratio"] < 10


def test_minima_gd_ends_in_the_valley_it_starts_in(run_demo):
    res, out = run_demo("minima")
    check_outputs(res, out, "minima")
    w_max = res["maximum"]
    assert res["global_minimum"]["C"] < res["local_minimum"]["C"]
    for r in res["runs"]["GD (η = 0.02)"].values():
        assert r["reached"] == ("global" if r["start"] < w_max else "local")
    assert res["runs"]["momentum (η = 0.005, μ = 0.9)"]["2.2"]["reached"] == "global"  # rolls over the hump


def test_cli_demo_and_unknown_topic(tmp_path):
    runner = CliRunner()
    res = runner.invoke(demo_cmd, ["minima", "--quick", "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    assert "minima: where each start ends" in res.output
    assert sorted(os.listdir(tmp_path / "d")) == ["minima.json", "minima_paths.png"]
    res = runner.invoke(demo_cmd, ["nope"])
    assert res.exit_code != 0 and "nope" in res.output
    with pytest.raises(ValueError, match="unknown demo 'nope'; valid names: activations"):
        nl.demos.run("nope", tmp_path)
