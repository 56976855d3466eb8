"""ONNX export: onnx.checker passes and ONNX Runtime computes what model.predict computes.

Every registered layer family (``nl.layers.registry``) and activation is exported or refused
with one clear error; trained zoo models on MNIST and sequence models agree within 1e-5.
"""

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from click.testing import CliRunner

import neuronlab as nl
from interop_cases import EXAMPLES, Doubler, examples
from neuronlab import zoo
from neuronlab.interop import ExportError
from neuronlab.interop.onnx import ACTIVATIONS, EXPORTERS, build_graph

L = nl.layers
TOL = dict(rtol=1e-5, atol=1e-5)
BUILT_IN_ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"]


def onnx_predict(path, X):
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": X})[0]


def test_every_registered_layer_family_has_an_example_and_an_exporter():
    names = L.registry.names()
    assert set(names) <= set(EXAMPLES), f"add an example to tests/interop_cases.py for {set(names) - set(EXAMPLES)}"
    assert {L.registry.lookup(n) for n in names} <= set(EXPORTERS)


@pytest.mark.parametrize("name", L.registry.names())
def test_onnx_runtime_equals_predict_for_every_layer_family(name, tmp_path):
    for case, model, X in examples(name):
        path = model.to_onnx(tmp_path / f"{case}.onnx")
        proto = onnx.load(path)
        onnx.checker.check_model(proto, full_check=True)
        assert proto.opset_import[0].version >= 17
        want = model.predict(X)
        got = onnx_predict(path, X)
        assert got.shape == want.shape and got.dtype == np.float32, case
        np.testing.assert_allclose(got, want, **TOL, err_msg=case)
        np.testing.assert_allclose(onnx_predict(path, X[:1]), want[:1], **TOL, err_msg=case)  # batch axis is free


@pytest.mark.parametrize("name", nl.activations.names())
def test_every_activation_is_exported_or_refused_by_name(name, tmp_path, rng):
    act = nl.activations.get(name)
    model = nl.Sequential([L.Dense(6, act, input_dim=4), L.Dense(3, act)], seed=0)
    X = rng.normal(0, 2, (7, 4)).astype(np.float32)
    if type(act) not in ACTIVATIONS:
        assert name not in BUILT_IN_ACTIVATIONS
        with pytest.raises(ExportError, match=f"activation {name!r} of layer 'dense_1' has no ONNX exporter"):
            model.to_onnx(tmp_path / "m.onnx")
        assert not (tmp_path / "m.onnx").exists()
        return
    np.testing.assert_allclose(onnx_predict(model.to_onnx(tmp_path / "m.onnx"), X), model.predict(X), **TOL)


def test_the_six_guide_activations_are_exportable():
    assert {type(nl.activations.get(n)) for n in BUILT_IN_ACTIVATIONS} <= set(ACTIVATIONS)


def test_a_users_own_layer_gets_one_error_naming_it_and_nothing_is_written(tmp_path):
    model = nl.Sequential([L.Dense(3, input_dim=2), Doubler(name="double_it"), L.Dense(2)], seed=0)
    with pytest.raises(ExportError, match=r"layer 1 'double_it' \(Doubler\) has no ONNX exporter; exportable "
                                          r"layers: .*dense.*neuronlab.interop.onnx.register"):
        model.to_onnx(tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_opset_must_be_17_or_more_and_an_unbuilt_model_is_refused(tmp_path):
    model = nl.Sequential([L.Dense(3, input_dim=2)], seed=0)
    with pytest.raises(ValueError, match="to_onnx: opset must be an integer >= 17"):
        model.to_onnx(tmp_path / "m.onnx", opset=13)
    newest = onnx.defs.onnx_opset_version()
    assert build_graph(model, newest).opset_import[0].version == newest
    with pytest.raises(ExportError, match="not built"):
        nl.Sequential([L.Dense(3)]).to_onnx(tmp_path / "m.onnx")


def test_the_file_is_replaced_atomically_and_token_input_is_int64(tmp_path, rng):
    (case, model, X), = examples("embedding")
    path = tmp_path / "seq.onnx"
    path.write_bytes(b"old")
    model.to_onnx(path)
    assert sorted(os.listdir(tmp_path)) == ["seq.onnx"]            # no temporary file left behind
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(int64)"
    assert session.get_inputs()[0].shape == ["n", "T"]
    assert session.get_outputs()[0].shape == ["n", "T", 11]
    np.testing.assert_allclose(session.run(None, {"input": X})[0], model.predict(X), **TOL)
    longer = rng.integers(0, 11, (3, 9))                           # predict takes any length: so does the file
    np.testing.assert_allclose(session.run(None, {"input": longer})[0], model.predict(longer), **TOL)


def test_the_time_axis_is_fixed_only_where_a_layer_needs_it(tmp_path):
    lstm = nl.Sequential([L.LSTM(4, input_shape=(5, 3)), L.Dense(2)], seed=0)
    flat = nl.Sequential([L.LSTM(4, return_sequences=True, input_shape=(5, 3)), L.Flatten(), L.Dense(2)], seed=0)
    shapes = {}
    for name, model in {"lstm": lstm, "flat": flat}.items():
        session = ort.InferenceSession(os.fspath(model.to_onnx(tmp_path / f"{name}.onnx")))
        shapes[name] = (session.get_inputs()[0].shape, session.get_outputs()[0].shape)
    assert shapes == {"lstm": (["n", "T", 3], ["n", 2]), "flat": (["n", 5, 3], ["n", 2])}


# -- MNIST: the zoo's MLP and CNN, and sequence models, trained briefly -------------------------------
def _fit(model, X, y, epochs=1):
    model.compile(loss="sparse_categorical_crossentropy", optimizer=nl.optimizers.Adam(lr=2e-3), metrics=["accuracy"])
    model.fit(X, y, epochs=epochs, batch_size=64, verbose=0)
    return model


@pytest.mark.parametrize("zoo_name", ["mlp", "cnn"])
def test_zoo_models_trained_on_mnist_agree_with_onnx_runtime(zoo_name, mnist, tmp_path):
    (X, y), (Xt, yt) = mnist
    shape = (784,) if zoo_name == "mlp" else (28, 28, 1)
    X, Xt = X[:2000].reshape(-1, *shape), Xt[:1000].reshape(-1, *shape)
    model = _fit(zoo.get(zoo_name).builder(shape, 10, seed=0), X, y[:2000])
    P = model.predict(Xt)
    assert (P.argmax(1) == yt[:1000]).mean() > 0.8                 # a trained model, not random weights
    Q = onnx_predict(model.to_onnx(tmp_path / f"{zoo_name}.onnx"), Xt)
    np.testing.assert_allclose(Q, P, **TOL)
    assert (Q.argmax(1) == P.argmax(1)).all()


def test_lstm_on_sequential_mnist_and_a_token_model_agree_with_onnx_runtime(mnist, tmp_path):
    (X, y), (Xt, _) = mnist
    X, Xt = X[:1000].reshape(-1, 28, 28), Xt[:300].reshape(-1, 28, 28)
    model = _fit(nl.Sequential([L.LSTM(32, input_shape=(28, 28)), L.Dense(10, "softmax")], seed=0), X, y[:1000])
    np.testing.assert_allclose(onnx_predict(model.to_onnx(tmp_path / "lstm.onnx"), Xt), model.predict(Xt), **TOL)
    # Embedding → LSTM(return_sequences) → Dense per step, trained on next-token targets
    tokens = np.random.default_rng(0).integers(0, 20, (256, 12))
    seq = nl.Sequential([L.Embedding(20, 8, input_length=12), L.LSTM(16, return_sequences=True),
                         L.Dense(20, "softmax")], seed=0)
    _fit(seq, tokens, np.roll(tokens, -1, axis=1), epochs=2)
    np.testing.assert_allclose(onnx_predict(seq.to_onnx(tmp_path / "chars.onnx"), tokens[:50]),
                               seq.predict(tokens[:50]), **TOL)


# -- the command line and the model file's name -------------------------------------------------------
def test_export_command_writes_refuses_to_overwrite_and_forces(tmp_path, rng):
    from neuronlab.cli import main

    model = nl.Sequential([L.Dense(4, "relu", input_dim=3), L.Dense(2, "softmax")], seed=0)
    model.save(tmp_path / "m.safetensors")
    runner = CliRunner()
    result = runner.invoke(main, ["export", str(tmp_path / "m.safetensors"), "--format", "onnx"])
    assert result.exit_code == 0 and "m.onnx" in result.output
    X = rng.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(onnx_predict(tmp_path / "m.onnx", X), model.predict(X), **TOL)
    before = (tmp_path / "m.onnx").read_bytes()
    result = runner.invoke(main, ["export", str(tmp_path / "m.safetensors")])
    assert result.exit_code == 1
    assert "already exists; pass --force to overwrite it" in result.output and "Traceback" not in result.output
    assert (tmp_path / "m.onnx").read_bytes() == before
    out = tmp_path / "other.onnx"
    out.write_bytes(b"x")
    assert runner.invoke(main, ["export", str(tmp_path / "m.safetensors"), "--out", str(out), "--force"]).exit_code == 0
    onnx.checker.check_model(onnx.load(out))


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "m.onnx", "model", "m.safetensors.bak"])
def test_save_refuses_a_name_that_does_not_say_safetensors(name, tmp_path):
    model = nl.Sequential([L.Dense(2, input_dim=3)], seed=0)
    with pytest.raises(ValueError, match=r"save_model: a model file is safetensors, so its name must end in "
                                         r"\.safetensors"):
        model.save(tmp_path / name)
    assert os.listdir(tmp_path) == []
    model.save(tmp_path / "m.safetensors")
    assert os.listdir(tmp_path) == ["m.safetensors"]


ELEMENTWISE = [n for n in nl.activations.names()
               if n != "softmax" and not nl.activations.get(n).uses_Z]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_simple_rnn_exports_with_every_elementwise_activation(name, tmp_path, rng):
    act = nl.activations.get(name)
    model = nl.Sequential([L.SimpleRNN(5, activation=act, return_sequences=True, input_shape=(4, 3)),
                           L.SimpleRNN(3, activation=act)], seed=0)
    X = rng.normal(size=(6, 4, 3)).astype(np.float32)
    if type(act) not in ACTIVATIONS:
        with pytest.raises(ExportError, match=f"activation {name!r}"):
            model.to_onnx(tmp_path / "m.onnx")
        return
    np.testing.assert_allclose(onnx_predict(model.to_onnx(tmp_path / "m.onnx"), X), model.predict(X), **TOL)


def test_layout_switches_between_nhwc_and_nchw_as_often_as_the_layers_need(tmp_path, rng):
    # a Dense on every pixel (channels last) between convolutions: NCHW -> NHWC -> NCHW inside the graph
    model = nl.Sequential([L.Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 2)),
                           L.Dense(3, "tanh"), L.BatchNorm(), L.MaxPool2D(2), L.Dense(5), L.Conv2D(2, 2)], seed=0)
    X = rng.normal(size=(3, 8, 8, 2)).astype(np.float32)
    proto = build_graph(model)
    assert sum(node.op_type == "Transpose" for node in proto.graph.node) == 6   # 3 in, 3 back (one for the output)
    np.testing.assert_allclose(onnx_predict(model.to_onnx(tmp_path / "m.onnx"), X), model.predict(X), **TOL)
