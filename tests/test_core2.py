"""Core 2.0: the public step, losses that take logits, stateless activations, targets of any shape,
one source for shapes and configs, an import graph without cycles, old model files still loading."""

import ast
import copy
import os
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import neuronlab as nl

L = nl.layers
SRC = os.path.join(os.path.dirname(__file__), "..", "src", "neuronlab")
OLD_FILES = os.path.join(os.path.dirname(__file__), "data", "pre_core2")


# -- stateless activations -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu", "leaky_relu", "linear"])
def test_one_activation_instance_shared_by_layers_gives_the_gradients_of_separate_ones(name, rng):
    X, y = rng.normal(size=(9, 3)), rng.integers(0, 2, 9)

    def model(shared):
        act = nl.activations.get(name)
        acts = [act, act] if shared else [nl.activations.get(name), nl.activations.get(name)]
        m = nl.Sequential([L.Dense(5, acts[0], input_dim=3), L.Dense(4, acts[1]), L.Dense(2, "softmax")],
                          seed=1, dtype="float64")
        m.compile(loss="categorical_crossentropy", optimizer="sgd")
        return m

    shared, separate = model(True), model(False)
    assert shared.layers[0].activation is shared.layers[1].activation
    c1, g1 = shared.loss_and_grads(X, y)
    c2, g2 = separate.loss_and_grads(X, y)
    assert c1 == c2
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])
    assert max(nl.gradcheck(shared, X, y).values()) < 1e-6


def test_activations_hold_no_state_after_a_pass(rng):
    act = nl.activations.get("tanh")
    m = nl.Sequential([L.Dense(7, act, input_dim=3), L.Dense(2, act)], seed=0)  # different widths
    m.compile(loss="mse", optimizer="sgd")
    m.train_step(rng.normal(size=(4, 3)), rng.normal(size=(4, 2)))
    assert vars(act) == {}


# -- the public step -----------------------------------------------------------------------------

def _mlp(seed=0, dtype="float64", dropout=0.0):
    m = nl.Sequential([L.Dense(6, "relu", input_dim=4), L.Dropout(dropout), L.Dense(3, "softmax")],
                      seed=seed, dtype=dtype)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.1, momentum=0.9),
              metrics=["accuracy"])
    return m


def test_fit_is_a_loop_over_train_step(rng):
    X, y = rng.normal(size=(20, 4)), rng.integers(0, 3, 20)
    a, b = _mlp(dropout=0.3), _mlp(dropout=0.3)
    h = a.fit(X, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    logs = [b.train_step(X[i:i + 8], y[i:i + 8]) for _ in range(2) for i in range(0, 20, 8)]
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    sizes = [8, 8, 4]
    expected = sum(lg["loss"] * s for lg, s in zip(logs[3:], sizes)) / 20
    assert h.history["loss"][1] == pytest.approx(expected, rel=1e-12)
    assert set(logs[0]) == {"loss", "accuracy"}


def test_train_step_equals_loss_and_grads_then_the_update(rng):
    X, y = rng.normal(size=(10, 4)), rng.integers(0, 3, 10)
    a, b = _mlp(), _mlp()
    logs = a.train_step(X, y)
    loss, grads = b.loss_and_grads(X, y)
    assert logs["loss"] == loss
    assert list(grads) == [p.name for p in b.params()]
    b.optimizer.step(b.params())
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_test_step_and_compute_loss_do_not_update(rng):
    X, y = rng.normal(size=(10, 4)), rng.integers(0, 3, 10)
    m = _mlp()
    before = m.get_weights()
    logs = m.test_step(X, y)
    assert logs["loss"] == pytest.approx(m.evaluate(X, y)["loss"], rel=1e-12)
    assert m.compute_loss(X, y, training=False) == pytest.approx(logs["loss"], rel=1e-12)
    for w0, w1 in zip(before, m.get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_loss_and_grads_training_switch_controls_dropout(rng):
    X, y = rng.normal(size=(10, 4)), rng.integers(0, 3, 10)
    m = _mlp(dropout=0.5)
    c_eval1, _ = m.loss_and_grads(X, y, training=False)
    c_eval2, _ = m.loss_and_grads(X, y, training=False)
    c_train, _ = m.loss_and_grads(X, y, training=True)
    assert c_eval1 == c_eval2 != c_train


def test_train_step_refuses_a_diverging_update_with_one_clear_error(rng):
    m = nl.Sequential([L.Dense(1, input_dim=2)], seed=0, dtype="float64")
    m.compile(loss="mse", optimizer=nl.optimizers.SGD(lr=0.1))
    before = m.get_weights()
    with pytest.raises(nl.NonFiniteError, match=r"training diverged in train_step: loss = inf"):
        m.train_step(np.array([[1e200, 1.0]]), np.array([1e200]))
    for w0, w1 in zip(before, m.get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_train_step_validates_its_batch():
    m = _mlp()
    with pytest.raises(ValueError, match=r"train_step: labels must lie in \[0, 3\)"):
        m.train_step(np.zeros((2, 4)), np.array([0, 5]))
    with pytest.raises(ValueError, match=r"layer 'dense_1': expected input of shape \(n, 4\)"):
        m.train_step(np.zeros((2, 5)), np.array([0, 1]))


def test_no_module_outside_model_py_touches_a_private_member_of_sequential():
    """An AST walk: ``<anything but self/cls>._name`` for a private name of Sequential, outside model.py."""
    private = {name for name in vars(nl.Sequential) if name.startswith("_") and not name.startswith("__")}
    private |= {"_criterion", "_head"}
    assert private >= {"_batch", "_update", "_inference", "_check_data"}  # the check is not empty
    offenders = []
    root = os.path.join(SRC, "..", "..")
    for sub in ("src", "tests", "benchmarks"):
        for folder, _, files in os.walk(os.path.join(root, sub)):
            for f in files:
                path = os.path.join(folder, f)
                if not f.endswith(".py") or os.path.samefile(path, os.path.join(SRC, "model.py")):
                    continue
                for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
                    if (isinstance(node, ast.Attribute) and node.attr in private
                            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                        offenders.append(f"{os.path.relpath(path, root)}:{node.lineno}: .{node.attr}")
    assert not offenders, "\n".join(offenders)


# -- losses that take logits ---------------------------------------------------------------------

@pytest.mark.parametrize("loss,act,torch_loss", [
    ("categorical_crossentropy", "softmax", lambda z, y: F.cross_entropy(z, y)),
    ("binary_crossentropy", "sigmoid", lambda z, y: F.binary_cross_entropy_with_logits(z, y)),
])
def test_huge_logits_give_exact_loss_and_finite_gradients(loss, act, torch_loss):
    m = nl.Sequential([L.Dense(3, act, input_dim=2)], seed=0, dtype="float64")
    m.compile(loss=loss, optimizer="sgd")
    W = np.array([[1e4, -1e4, 3.0], [0.0, 0.0, 0.0]])
    m.set_weights([W, np.zeros(3)])
    X = np.array([[1.0, 0.0], [-1.0, 2.0]])
    y = np.array([1, 0]) if act == "softmax" else np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    C, grads = m.loss_and_grads(X, y)
    zt = torch.tensor(X @ W, requires_grad=True)
    Ct = torch_loss(zt, torch.tensor(y))
    Ct.backward()
    assert C == pytest.approx(Ct.item(), rel=1e-12)
    np.testing.assert_allclose(grads["dense_1/W"], X.T @ zt.grad.numpy(), rtol=1e-10)
    P = m.predict(X)
    assert ((P >= 0) & (P <= 1)).all()  # predict still returns probabilities


def test_from_logits_with_a_linear_output_equals_the_fused_softmax_model(rng):
    X, y = rng.normal(size=(12, 4)), rng.integers(0, 3, 12)
    fused = _mlp()
    logits = nl.Sequential([L.Dense(6, "relu", input_dim=4), L.Dropout(0.0), L.Dense(3)], seed=0, dtype="float64")
    logits.compile(loss=nl.losses.CategoricalCrossEntropy(from_logits=True),
                   optimizer=nl.optimizers.SGD(lr=0.1, momentum=0.9))
    c1, g1 = fused.loss_and_grads(X, y)
    c2, g2 = logits.loss_and_grads(X, y)
    assert c1 == pytest.approx(c2, rel=1e-12)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-12, atol=1e-15)
    Z = logits.predict(X)
    np.testing.assert_allclose(fused.predict(X), np.exp(Z) / np.exp(Z).sum(1, keepdims=True), rtol=1e-12)


def test_the_fusion_lives_in_losses_only():
    words = re.compile(r"activation_fused|keep_logits|\.logits\(|_fused\b")
    hits = []
    for folder, _, files in os.walk(SRC):
        for f in files:
            if f.endswith(".py"):
                text = open(os.path.join(folder, f), encoding="utf-8").read()
                hits += [f"{f}: {m.group(0)}" for m in words.finditer(text)]
    assert not hits, hits


# -- targets of any shape ------------------------------------------------------------------------

def test_dense_and_losses_work_on_the_last_axis_against_torch(rng):
    n, T, d, k = 3, 5, 4, 6
    X, y = rng.normal(size=(n, T, d)), rng.integers(0, k, (n, T))
    m = nl.Sequential([L.Dense(7, "tanh"), L.Dense(k, "softmax")], seed=0, dtype="float64")
    m.compile(loss="categorical_crossentropy", optimizer="sgd")
    C, grads = m.loss_and_grads(X, y)
    W1, B1, W2, B2 = (torch.tensor(w, requires_grad=True) for w in m.get_weights())
    Z = torch.tanh(torch.tensor(X) @ W1 + B1) @ W2 + B2            # (n, T, k)
    Ct = F.cross_entropy(Z.permute(0, 2, 1), torch.tensor(y))      # mean over all n·T positions
    Ct.backward()
    assert C == pytest.approx(Ct.item(), rel=1e-12)
    for g, leaf in zip(grads.values(), (W1, B1, W2, B2)):
        np.testing.assert_allclose(g, leaf.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert m.predict(X).shape == (n, T, k)
    assert max(nl.gradcheck(m, X, y).values()) < 1e-6


@pytest.mark.parametrize("loss,make_y", [
    ("mse", lambda r, n, T: r.normal(size=(n, T, 2))),
    ("binary_crossentropy", lambda r, n, T: (r.random((n, T, 2)) > 0.5).astype(float)),
    ("categorical_crossentropy", lambda r, n, T: np.eye(2)[r.integers(0, 2, (n, T))]),
])
def test_every_loss_gradchecks_with_per_step_targets_and_sample_weights(loss, make_y, rng):
    n, T = 4, 3
    X, Y = rng.normal(size=(n, T, 2)), make_y(rng, n, T)
    out = {"mse": None, "binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax"}[loss]
    m = nl.Sequential([L.SimpleRNN(5, return_sequences=True, input_shape=(T, 2)), L.Dense(2, out)], seed=0)
    m.compile(loss=loss, optimizer="sgd")
    assert max(nl.gradcheck(m, X, Y).values()) < 1e-6
    w = np.array([1.0, 0.0, 2.0, 0.5])
    c, _ = m.loss_and_grads(X, Y, sample_weight=w)
    per = m.loss.per_sample(m.predict(X).astype(np.float64), Y) if out != "softmax" else None
    if per is not None and loss == "mse":
        assert c == pytest.approx(np.dot(w, per) / n, rel=1e-4)


def test_a_character_model_trains_with_fit_on_per_step_targets():
    vocab, T = 7, 6
    r = np.random.default_rng(0)
    tokens = np.tile(np.arange(vocab), 60)   # a fully predictable stream: next = this + 1
    starts = r.integers(0, len(tokens) - T - 1, 256)
    idx = starts[:, None] + np.arange(T + 1)
    X, Y = tokens[idx[:, :-1]], tokens[idx[:, 1:]]
    m = nl.Sequential([L.Embedding(vocab, 8), L.LSTM(16, return_sequences=True), L.Dense(vocab, "softmax")], seed=0)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.Adam(lr=1e-2), metrics=["accuracy"])
    h = m.fit(X, Y, epochs=15, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < 0.1 * h.history["loss"][0]
    assert m.evaluate(X, Y)["accuracy"] > 0.95
    assert m.predict(X[:2]).shape == (2, T, vocab)


# -- one source for shapes and configs; no import cycle -------------------------------------------

def test_from_config_rebuilds_the_architecture(rng):
    m = nl.Sequential([L.Conv2D(2, 3, input_shape=(6, 6, 1)), L.BatchNorm(activation="relu"), L.Flatten(),
                       L.Dense(3, "softmax")], seed=4)
    m2 = nl.Sequential.from_config(m.get_config())
    assert m2.get_config() == m.get_config()
    for w1, w2 in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(w1, w2)  # same seed, same init


def test_param_shapes_are_what_build_allocates_for_every_registered_layer():
    samples = {"dense": (L.Dense(3), (5, 4)), "conv2d": (L.Conv2D(2, 3), (6, 6, 2)),
               "batchnorm": (L.BatchNorm(), (4,)), "embedding": (L.Embedding(9, 2), (5,)),
               "simple_rnn": (L.SimpleRNN(3), (4, 2)), "lstm": (L.LSTM(3), (4, 2)), "gru": (L.GRU(3), (4, 2))}
    for kind, (layer, shape) in samples.items():
        layer.name = kind
        want = layer.param_shapes(shape)
        layer.build(shape, np.random.default_rng(0), np.float32)
        assert {p.name.split("/")[1]: p.value.shape for p in layer.params()} == want, kind
        assert {k.split("/")[1]: v.shape for k, v in layer.buffers().items()} == layer.buffer_shapes(shape), kind


def _imports(path, package):
    """Modules of ``package`` imported anywhere in the file (module level or inside functions)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    mod = os.path.relpath(path, SRC)[:-3].replace(os.sep, ".")
    mod = mod[: -len(".__init__")] if mod.endswith("__init__") else mod
    parts = mod.split(".") if mod != "__init__" else []
    is_pkg = path.endswith("__init__.py")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts if is_pkg else parts[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{a.name}" if target else a.name for a in node.names]
                found |= {target} if node.module else set()
                found |= set(names)
            elif node.module and node.module.startswith(package + "."):
                found.add(node.module[len(package) + 1:])
        elif isinstance(node, ast.Import):
            found |= {a.name[len(package) + 1:] for a in node.names if a.name.startswith(package + ".")}
    return found


def test_the_import_graph_of_src_has_no_cycle():
    modules = {}
    for folder, _, files in os.walk(SRC):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                mod = os.path.relpath(path, SRC)[:-3].replace(os.sep, ".")
                modules[mod[: -len(".__init__")] if mod.endswith(".__init__") else mod] = path
    graph = {m: {t for t in _imports(p, "neuronlab") if t in modules and t != m} for m, p in modules.items()}
    # a package imports its own submodules to re-export them; that edge is not a cycle of concepts
    for m in graph:
        if modules[m].endswith("__init__.py"):
            graph[m] = {t for t in graph[m] if not t.startswith(m + ".")}
        graph[m] = {t for t in graph[m] if not (modules[t].endswith("__init__.py") and m.startswith(t + "."))}
        graph[m].discard("__init__")
    assert graph["model"] and "io" in graph["model"]   # the walk sees imports
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)


# -- model files written before Core 2.0 still load ----------------------------------------------

@pytest.mark.parametrize("name", ["mlp", "cnn", "char_lstm"])
def test_model_files_written_before_core2_load_and_predict_the_same(name):
    m = nl.load_model(os.path.join(OLD_FILES, f"{name}.safetensors"))
    ref = np.load(os.path.join(OLD_FILES, f"{name}_expected.npz"))
    P = m.predict(ref["X"])
    np.testing.assert_allclose(P.reshape(ref["P"].shape), ref["P"], rtol=1e-5, atol=1e-6)
    if name == "char_lstm":  # the FlattenTime layer loads as an identity: one prediction per step
        assert P.shape == (*ref["X"].shape, ref["P"].shape[-1])
        assert m.get_config()["layers"][2]["type"] == "flatten_time"
        m.fit(ref["X"], np.roll(ref["X"], -1, axis=1), epochs=1, verbose=0)  # and trains on per-step targets
    clone = copy.deepcopy(m)
    assert clone.get_config() == m.get_config()


def test_fit_calls_a_subclass_train_step(rng):
    """fit's batches of checked arrays skip train_step's checks, but a subclass's own train_step runs."""
    calls = []

    class Counting(nl.Sequential):
        def train_step(self, X, Y, sample_weight=None):
            calls.append(len(X))
            return super().train_step(X, Y, sample_weight)

    m = Counting([L.Dense(3, "softmax", input_dim=4)], seed=0)
    m.compile(loss="categorical_crossentropy", optimizer="sgd")
    m.fit(rng.normal(size=(20, 4)), rng.integers(0, 3, 20), epochs=2, batch_size=8, verbose=0)
    assert calls == [8, 8, 4] * 2


def test_fit_with_weights_equals_train_steps_with_them(rng):
    """The unchecked lane gives fit's batches (labels, sample and class weights) in the form train_step makes."""
    X, y, sw = rng.normal(size=(20, 4)), rng.integers(0, 3, 20), rng.uniform(0.5, 2.0, 20)
    a, b = _mlp(), _mlp()
    a.fit(X, y, epochs=1, batch_size=8, shuffle=False, verbose=0, sample_weight=sw, class_weight={0: 2.0})
    cw = np.where(y == 0, 2.0, 1.0)
    for i in range(0, 20, 8):
        b.train_step(X[i:i + 8], y[i:i + 8], sw[i:i + 8] * cw[i:i + 8])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
