"""nl.inspect: per-layer gradient/weight norms, update ratios, dead ReLUs, saturation, the History callback."""

import warnings

import numpy as np
import pytest
import torch

import neuronlab as nl
from neuronlab.inspect import (
    DiagnosticsCallback,
    GradientWarning,
    dead_fraction,
    format_stats,
    gradient_norms,
    gradient_problems,
    layer_stats,
    saturated_fraction,
    update_ratios,
    weight_norms,
)


def small_model(act="tanh", dtype="float64", seed=0):
    m = nl.Sequential([nl.layers.Dense(6, act, input_dim=4), nl.layers.Dense(5, act), nl.layers.Dense(1)],
                      seed=seed, dtype=dtype)
    m.compile(loss="mse", optimizer=nl.optimizers.SGD(lr=0.1))
    return m


def test_gradient_and_weight_norms_equal_torch(rng):
    m = small_model()
    X, y = rng.normal(size=(16, 4)), rng.normal(size=(16, 1))
    stats = layer_stats(m, X, y)
    Ws = [torch.tensor(w, requires_grad=True) for w in m.get_weights()]
    h = torch.tensor(X)
    for k in range(3):
        h = h @ Ws[2 * k] + Ws[2 * k + 1]
        if k < 2:
            h = torch.tanh(h)
    ((h - torch.tensor(y)) ** 2).mean().backward()
    for k, s in enumerate(stats):
        g = torch.cat([Ws[2 * k].grad.ravel(), Ws[2 * k + 1].grad.ravel()]).norm().item()
        w = torch.cat([Ws[2 * k].detach().ravel(), Ws[2 * k + 1].detach().ravel()]).norm().item()
        assert s["grad_norm"] == pytest.approx(g, rel=1e-12)
        assert s["weight_norm"] == pytest.approx(w, rel=1e-12)
    assert gradient_norms(m) == {s["layer"]: s["grad_norm"] for s in stats}
    assert weight_norms(m) == {s["layer"]: s["weight_norm"] for s in stats}
    assert all(np.isnan(s["update_ratio"]) for s in stats)  # no previous weights given


def test_update_ratio_of_an_sgd_step_is_lr_times_grad_over_weight(rng):
    m = small_model()
    X, y = rng.normal(size=(16, 4)), rng.normal(size=(16, 1))
    layer_stats(m, X, y)
    prev = {layer.name: [p.value.copy() for p in layer.params()] for layer in m.layers}
    g, w = gradient_norms(m), weight_norms(m)
    m.optimizer.step(m.params())
    r = update_ratios(m, prev)
    for name in g:
        assert r[name] == pytest.approx(0.1 * g[name] / w[name], rel=1e-10)


def test_dead_relu_fraction_counts_neurons_silent_on_the_whole_batch(rng):
    m = nl.Sequential([nl.layers.Dense(8, "relu", input_dim=3), nl.layers.Dense(1)], seed=0, dtype="float64")
    m.compile(loss="mse", optimizer="sgd")
    W, B, W2, B2 = m.get_weights()
    B[:3] = -100.0  # neurons 1-3 can never fire on inputs of this size
    B[3:] = 100.0   # the others always do
    m.set_weights([W, B, W2, B2])
    stats = layer_stats(m, rng.normal(size=(32, 3)), np.zeros(32))
    assert stats[0]["dead_relu"] == 3 / 8
    assert stats[0]["saturated"] is None and stats[1]["dead_relu"] is None  # not a ReLU / not sigmoid
    assert stats[0]["grad_norm"] > 0


def test_saturated_fraction_sigmoid_and_tanh():
    for act, big in [("sigmoid", 10.0), ("tanh", 5.0)]:
        layer = nl.layers.Dense(4, act, input_dim=2)
        m = nl.Sequential([layer], seed=0, dtype="float64")
        m.set_weights([np.array([[big, -big, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]), np.zeros(4)])
        m.forward(np.array([[1.0, 0.0], [1.0, 1.0]]), training=True)
        assert saturated_fraction(layer) == 0.5  # neurons 1 and 2 saturated on both samples, 3 and 4 at h(0)
        assert dead_fraction(layer) is None
    with pytest.raises(ValueError, match="threshold"):
        saturated_fraction(layer, threshold=1.5)


def test_callback_records_every_stat_per_epoch_into_history(rng):
    m = nl.Sequential([nl.layers.Dense(6, "relu", input_dim=4), nl.layers.Dense(5, "sigmoid"),
                       nl.layers.Dense(1)], seed=0, dtype="float64")
    m.compile(loss="mse", optimizer=nl.optimizers.SGD(lr=0.05))
    X, y = rng.normal(size=(40, 4)), rng.normal(size=(40, 1))
    cb = DiagnosticsCallback(keep_batches=True)
    h = m.fit(X, y, epochs=3, batch_size=None, verbose=0, callbacks=[cb])  # one batch per epoch
    hist = h.history
    for stat in ("grad_norm", "weight_norm", "update_ratio"):
        for name in ("dense_1", "dense_2", "dense_3"):
            assert len(hist[f"{stat}/{name}"]) == 3
    assert len(hist["dead_relu/dense_1"]) == 3 and "dead_relu/dense_2" not in hist
    assert len(hist["saturated/dense_2"]) == 3 and "saturated/dense_1" not in hist
    assert len(cb.batches) == 3
    # full batch: the recorded epoch value is the gradient of that epoch's single step
    m2 = nl.Sequential([nl.layers.Dense(6, "relu", input_dim=4), nl.layers.Dense(5, "sigmoid"),
                        nl.layers.Dense(1)], seed=0, dtype="float64")
    m2.compile(loss="mse", optimizer=nl.optimizers.SGD(lr=0.05))
    for epoch in range(3):
        s = layer_stats(m2, X, y)
        for st in s:
            assert hist[f"grad_norm/{st['layer']}"][epoch] == pytest.approx(st["grad_norm"], rel=1e-12)
            ratio = 0.05 * st["grad_norm"] / st["weight_norm"]
            assert hist[f"update_ratio/{st['layer']}"][epoch] == pytest.approx(ratio, rel=1e-10)
        m2.optimizer.step(m2.params())
        for name, w in weight_norms(m2).items():  # measured after the step
            assert hist[f"weight_norm/{name}"][epoch] == pytest.approx(w, rel=1e-12)
    assert cb.series("grad_norm")["dense_1"] == hist["grad_norm/dense_1"]


def test_callback_every_n_batches_averages_the_measured_ones(rng):
    m = small_model()
    X, y = rng.normal(size=(64, 4)), rng.normal(size=(64, 1))
    cb = DiagnosticsCallback(every=3, keep_batches=True)
    m.fit(X, y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])  # 16 batches: measured 3, 6, ..., 15
    assert [(e, b) for e, b, _ in cb.batches] == [(0, 2), (0, 5), (1, 0), (1, 3), (1, 6)]
    assert all(np.isfinite(r[0]["update_ratio"]) for _, _, r in cb.batches)
    with pytest.raises(ValueError, match="every"):
        DiagnosticsCallback(every=0)


def deep(act, init, depth=10, width=32, seed=0):
    layers = [nl.layers.Dense(width, act, init=init, input_dim=8)]
    layers += [nl.layers.Dense(width, act, init=init) for _ in range(depth - 2)]
    layers += [nl.layers.Dense(1, "sigmoid", init=init)]
    m = nl.Sequential(layers, seed=seed)
    m.compile(loss="binary_crossentropy", optimizer=nl.optimizers.SGD(lr=0.01))
    return m


def test_callback_warns_when_gradients_vanish(rng):
    X, y = rng.normal(size=(64, 8)), (rng.random(64) > 0.5).astype(float)
    m = deep("sigmoid", "xavier_normal")
    cb = DiagnosticsCallback()
    with pytest.warns(GradientWarning, match="vanishing gradients: .*dense_1"):
        m.fit(X, y, epochs=2, batch_size=32, verbose=0, callbacks=[cb])
    assert len(cb.warnings) == 1  # once per kind per fit, not every epoch
    m = deep("relu", "he_normal")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradientWarning)
        m.fit(X, y, epochs=2, batch_size=32, verbose=0, callbacks=[DiagnosticsCallback()])


def test_callback_warns_when_gradients_explode(rng):
    X, y = rng.normal(size=(64, 8)), (rng.random(64) > 0.5).astype(float)
    m = deep("relu", nl.initializers.VarianceScaling(scale=18.0), depth=8)  # σ 3× He's: ×3 per layer
    with pytest.warns(GradientWarning, match="exploding gradients"):
        try:
            m.fit(X, y, epochs=1, batch_size=64, verbose=0, callbacks=[DiagnosticsCallback()])
        except nl.NonFiniteError:
            pass


def test_gradient_problems_and_format():
    assert gradient_problems({"a": 1e-7, "b": 1.0})[0].startswith("vanishing")
    assert gradient_problems({"a": 1e4, "b": 1.0})[0].startswith("exploding")
    assert gradient_problems({"a": float("nan"), "b": 1.0}) == ["gradients are not finite in a"]
    assert gradient_problems({"a": 0.5, "b": 1.0}) == []
    m = small_model()
    text = format_stats(layer_stats(m, np.ones((4, 4)), np.zeros(4)))
    assert text.splitlines()[0].split()[:3] == ["layer", "activation", "‖∂C/∂θ‖"]
    assert "dense_3" in text and "n/a" in text
    with pytest.raises(ValueError, match="give y"):
        layer_stats(m, np.ones((4, 4)))


def test_backprop_norms_equal_torch_output_gradients(rng):
    m = small_model()
    X, y = rng.normal(size=(16, 4)), rng.normal(size=(16, 1))
    bp = nl.inspect.backprop_norms(m, X, y)
    Ws = [torch.tensor(w, requires_grad=True) for w in m.get_weights()]
    h = torch.tensor(X)
    outs = []
    for k in range(3):
        h = h @ Ws[2 * k] + Ws[2 * k + 1]
        if k < 2:
            h = torch.tanh(h)
        h.retain_grad()
        outs.append(h)
    ((h - torch.tensor(y)) ** 2).mean().backward()
    assert list(bp) == ["dense_1", "dense_2", "dense_3"]
    for name, out in zip(bp, outs):
        assert bp[name] == pytest.approx(out.grad.norm().item(), rel=1e-12)
    # the same pass filled Param.grad: the weight gradients agree with layer_stats on the same data
    assert gradient_norms(m) == {s["layer"]: s["grad_norm"] for s in layer_stats(m, X, y)}


def test_measuring_on_data_leaves_the_generator_and_running_statistics_alone(rng):
    # layer_stats / backprop_norms on (X, y) used to draw dropout masks from model.rng and move
    # BatchNorm's running statistics, so a later fit differed from one without the measurement
    X, y = rng.standard_normal((32, 4)), rng.integers(0, 3, 32)

    def model():
        m = nl.Sequential([nl.layers.Dense(8, "relu", input_dim=4), nl.layers.Dropout(0.5),
                           nl.layers.BatchNorm(), nl.layers.Dense(3, "softmax")], seed=1)
        m.compile("categorical_crossentropy", "sgd")
        return m

    a, b = model(), model()
    nl.inspect.layer_stats(b, X, y)
    nl.inspect.backprop_norms(b, X, y)
    for m in (a, b):
        m.fit(X, y, epochs=2, batch_size=8, verbose=0)
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(a.layers[2].running_mean, b.layers[2].running_mean)
