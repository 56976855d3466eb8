"""Model files: round trips, safetensors interoperability, validation errors, atomic writes."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import neuronlab as nl
from neuronlab.io import ModelFileError, read_safetensors, write_safetensors


def _model(optimizer="adam", seed=0, dropout=0.1):
    m = nl.Sequential([nl.layers.Dense(16, "relu", input_dim=4), nl.layers.Dropout(dropout),
                       nl.layers.Dense(3, "softmax")], seed=seed)
    opt = nl.optimizers.get(optimizer, lr=0.01, **({"momentum": 0.9} if optimizer == "sgd" else {}))
    m.compile("categorical_crossentropy", opt, ["accuracy"])
    return m


def _data(n=120):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_round_trip_then_training_continues_bit_identically(tmp_path, optimizer):
    X, y = _data()
    m = _model(optimizer)
    m.fit(X, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "m.safetensors"
    m.save(path, extra={"note": "hi"})
    m2, extra = nl.load_checkpoint(path)
    assert extra == {"note": "hi"}
    assert m2.get_config() == m.get_config()
    assert type(m2.optimizer) is type(m.optimizer) and m2.optimizer.get_config() == m.optimizer.get_config()
    assert [la.name for la in m2.layers] == [la.name for la in m.layers]
    for a, b in zip(m.get_weights(), m2.get_weights()):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert np.array_equal(m.predict(X), m2.predict(X))
    # optimizer state and RNG state restored: one more epoch is bit-identical
    m.fit(X, y, epochs=1, batch_size=16, verbose=0)
    m2.fit(X, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(m.get_weights(), m2.get_weights()):
        assert np.array_equal(a, b)


def test_without_optimizer_and_rng_and_float64(tmp_path):
    m = nl.Sequential([nl.layers.Dense(5, "tanh", input_dim=3), nl.layers.Dense(1, "sigmoid")], seed=3,
                      dtype="float64")
    path = tmp_path / "plain.safetensors"
    nl.save_model(m, path, include_optimizer=False, include_rng=False)
    m2 = nl.load_model(path)
    assert m2.dtype == np.float64 and m2.loss is None
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), m2.get_weights()))
    tensors, meta = read_safetensors(path)
    assert sorted(tensors) == ["params/dense_1/B", "params/dense_1/W", "params/dense_2/B", "params/dense_2/W"]
    assert meta["format"] == "neuronlab" and "rng" not in meta and "optimizer" not in meta


def test_files_interoperate_with_the_safetensors_library(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    from safetensors import safe_open

    m = _model()
    m.fit(*_data(), epochs=1, batch_size=32, verbose=0)
    path = str(tmp_path / "ours.safetensors")
    m.save(path)
    theirs = st.load_file(path)
    ours, meta = read_safetensors(path)
    assert sorted(theirs) == sorted(ours)
    for k in ours:
        assert theirs[k].dtype == ours[k].dtype and np.array_equal(theirs[k], ours[k])
    with safe_open(path, "np") as f:
        assert f.metadata() == meta
    # a file written by the library, with our metadata, loads here
    other = str(tmp_path / "theirs.safetensors")
    st.save_file(ours, other, metadata=meta)
    m2 = nl.load_model(other)
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), m2.get_weights()))


def test_model_file_error_is_documented_kind():
    assert issubclass(ModelFileError, nl.NeuronlabError) and issubclass(ModelFileError, ValueError)
    assert nl.ModelFileError is ModelFileError


# -- bad files -----------------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    m = _model()
    m.fit(*_data(), epochs=1, batch_size=32, verbose=0)
    path = tmp_path / "good.safetensors"
    m.save(path)
    return path


def _rewrite(src, dst, edit_meta=None, edit_tensors=None):
    tensors, meta = read_safetensors(src)
    if edit_meta:
        edit_meta(meta)
    if edit_tensors:
        edit_tensors(tensors)
    write_safetensors(dst, tensors, meta)
    return dst


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        nl.load_model(tmp_path / "none.safetensors")
    (tmp_path / "text.safetensors").write_text("hello, I am not a model at all")
    with pytest.raises(ModelFileError, match="not a neuronlab model file"):
        nl.load_model(tmp_path / "text.safetensors")
    (tmp_path / "tiny").write_bytes(b"\x01\x02")
    with pytest.raises(ModelFileError, match="only 2 bytes"):
        nl.load_model(tmp_path / "tiny")
    write_safetensors(tmp_path / "foreign.safetensors", {"weight": np.zeros((2, 2), np.float32)}, {"x": "y"})
    with pytest.raises(ModelFileError, match="not a neuronlab model"):
        nl.load_model(tmp_path / "foreign.safetensors")


@pytest.mark.parametrize("cut", [4, 20, 200, -1, -300])
def test_truncated_files(saved, tmp_path, cut):
    data = saved.read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[:cut])
    with pytest.raises(ModelFileError, match="truncated|not a neuronlab model file|only"):
        nl.load_model(bad)


def test_declared_shape_that_does_not_match_the_bytes(saved, tmp_path):
    data = saved.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header["params/dense_1/W"]["shape"] = [4, 17]  # the bytes hold (4, 16)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    bad = tmp_path / "lying.safetensors"
    bad.write_bytes(len(head).to_bytes(8, "little") + head + data[8 + n:])
    with pytest.raises(ModelFileError, match=r"declares shape \(4, 17\).*holds 256 bytes"):
        nl.load_model(bad)


def test_tensor_shape_that_does_not_match_the_architecture(saved, tmp_path):
    def widen(meta):
        arch = json.loads(meta["architecture"])
        arch["layers"][0]["config"]["units"] = 32
        meta["architecture"] = json.dumps(arch)

    bad = _rewrite(saved, tmp_path / "arch.safetensors", edit_meta=widen)
    with pytest.raises(ModelFileError, match=r"'params/dense_1/W' has shape \(4, 16\), the architecture declares "
                                             r"\(4, 32\)"):
        nl.load_model(bad)


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.pop("params/dense_2/B"), "'params/dense_2/B' of the declared architecture is missing"),
    (lambda t: t.__setitem__("params/dense_9/W", np.zeros(2, np.float32)), "not part of the declared"),
    (lambda t: t.__setitem__("params/dense_2/B", np.zeros(3, np.float64)), "dtype float64"),
    (lambda t: t.__setitem__("params/dense_2/B", np.full(3, np.nan, np.float32)), "NaN"),
    (lambda t: t.__setitem__("optimizer/dense_1/W/exp_avg", np.zeros((2, 2), np.float32)), r"shape \(2, 2\)"),
    (lambda t: t.__setitem__("optimizer/nothing/exp_avg", np.zeros(2, np.float32)), "names no parameter"),
])
def test_tensor_validation(saved, tmp_path, edit, match):
    bad = _rewrite(saved, tmp_path / "bad.safetensors", edit_tensors=edit)
    with pytest.raises(ModelFileError, match=match):
        nl.load_model(bad)


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.__setitem__("format_version", "99"), "newer"),
    (lambda m: m.__setitem__("architecture", "{not json"), "not valid JSON"),
    (lambda m: m.pop("architecture"), "no 'architecture'"),
    (lambda m: m.__setitem__("architecture", json.dumps({"layers": [{"type": "__import__('os').system('x')",
                                                                     "config": {}}]})), "unknown layer"),
    (lambda m: m.__setitem__("optimizer", json.dumps({"name": "nope", "config": {}})), "cannot rebuild the optimizer"),
    (lambda m: m.__setitem__("rng", json.dumps({"bit_generator": "MT19937", "state": {}})), "invalid RNG state"),
])
def test_metadata_validation(saved, tmp_path, edit, match):
    bad = _rewrite(saved, tmp_path / "bad.safetensors", edit_meta=edit)
    with pytest.raises(ModelFileError, match=match):
        nl.load_model(bad)


def test_io_never_uses_pickle():
    src = open(nl.io.__file__, encoding="utf-8").read()
    assert "pickle" not in src.replace("never pickle", "")


# -- atomic writes -------------------------------------------------------------------------------------
_SAVER = textwrap.dedent("""
    import sys, numpy as np, neuronlab as nl
    path = sys.argv[1]
    m = nl.Sequential([nl.layers.Dense(1024, "relu", input_dim=784), nl.layers.Dense(1024, "relu"),
                       nl.layers.Dense(10, "softmax")], seed=0)
    i = 0
    while True:
        for p in m.params():
            p.value[...] = i % 2
        m.save(path, include_optimizer=False, extra={"i": i})
        if i == 0:
            print("saved", flush=True)
        i += 1
""")


def test_kill_9_during_saves_leaves_a_loadable_file(tmp_path):
    path = tmp_path / "model.safetensors"
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    for delay in (0.05, 0.13, 0.31):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "saved"
            time.sleep(delay)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        m, extra = nl.load_checkpoint(path)  # never a half-written file
        value = extra["i"] % 2
        assert all(np.all(w == value) for w in m.get_weights())
        assert m.count_params() == 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10


def _architectures():
    L = nl.layers
    rng = np.random.default_rng(0)
    cnn = (lambda: [L.Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 1)), L.BatchNorm(),
                    L.MaxPool2D(2), L.Conv2D(3, 3), L.GlobalAvgPool2D(), L.Dense(3, "softmax")],
           rng.random((16, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, 16))
    cnn_flat = (lambda: [L.Conv2D(2, 3, input_shape=(6, 6, 1)), L.AvgPool2D(2), L.Flatten(), L.BatchNorm(),
                         L.Dense(3, "softmax")],
                rng.random((16, 6, 6, 1), dtype=np.float32), rng.integers(0, 3, 16))
    rnn = (lambda: [L.Embedding(10, 4, input_length=5), L.SimpleRNN(6, return_sequences=True),
                    L.GRU(5, return_sequences=True), L.LSTM(4), L.Dense(3, "softmax")],
           rng.integers(0, 10, (16, 5)), rng.integers(0, 3, 16))
    return {"cnn+batchnorm": cnn, "pooling+flatten": cnn_flat, "embedding+rnn+gru+lstm": rnn}


@pytest.mark.parametrize("name", list(_architectures()))
def test_every_layer_family_round_trips(tmp_path, name):
    build, X, y = _architectures()[name]
    m = nl.Sequential(build(), seed=0)
    m.compile("categorical_crossentropy", nl.optimizers.get("adam", lr=0.01), ["accuracy"])
    m.fit(X, y, epochs=2, batch_size=8, verbose=0)  # moves weights and any running statistics
    m.save(tmp_path / "m.safetensors")
    m2 = nl.load_model(tmp_path / "m.safetensors")
    assert m2.get_config() == m.get_config()
    for a, b in zip(m.get_weights(), m2.get_weights()):
        assert np.array_equal(a, b)
    buffers = {k: v for la in m.layers for k, v in la.buffers().items()}
    buffers2 = {k: v for la in m2.layers for k, v in la.buffers().items()}
    assert buffers.keys() == buffers2.keys() and all(np.array_equal(buffers[k], buffers2[k]) for k in buffers)
    assert bool(buffers) == ("batchnorm" in name or "flatten" in name)  # the BatchNorm running statistics
    assert np.array_equal(m.predict(X), m2.predict(X))
    m.fit(X, y, epochs=1, batch_size=8, verbose=0)
    m2.fit(X, y, epochs=1, batch_size=8, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), m2.get_weights()))


def test_without_safetensors_save_and_load_name_the_extra(saved, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)  # what a missing package looks like to import
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r'pip install "neuronlab\[cli\]"') as e:
        nl.load_model(saved)
    assert e.value.name == "safetensors"
    with pytest.raises(ImportError, match=r'pip install "neuronlab\[cli\]"'):
        _model().save(tmp_path / "new.safetensors")
    assert not (tmp_path / "new.safetensors").exists()


def test_the_checksum_covers_tensors_and_metadata_not_their_layout(saved, tmp_path):
    tensors, meta = read_safetensors(saved)
    assert meta["checksum"].startswith("sha256:") and meta["checksum"] == nl.io.checksum(tensors, meta)
    # another writer (the safetensors library itself, other order) keeps the sum valid
    st = pytest.importorskip("safetensors.numpy")
    st.save_file(dict(reversed(list(tensors.items()))), str(tmp_path / "re.safetensors"), metadata=meta)
    nl.load_model(tmp_path / "re.safetensors")
    for change in ({"extra": json.dumps({"epoch": 2})}, {"checksum": "sha256:" + "0" * 64}):
        st.save_file(tensors, str(tmp_path / "bad.safetensors"), metadata={**meta, **change})
        with pytest.raises(ModelFileError, match="checksum mismatch"):
            nl.load_model(tmp_path / "bad.safetensors")
    W = tensors["params/dense_1/W"].copy()
    W[0, 0] = np.nextafter(W[0, 0], np.float32(np.inf))  # one ulp
    st.save_file({**tensors, "params/dense_1/W": W}, str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        nl.load_model(tmp_path / "bad.safetensors")


def test_version_1_files_from_before_checksums_still_load(saved, tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    tensors, meta = read_safetensors(saved)
    old = {k: v for k, v in meta.items() if k != "checksum"} | {"format_version": "1"}
    st.save_file(tensors, str(tmp_path / "v1.safetensors"), metadata=old)
    m = nl.load_model(tmp_path / "v1.safetensors")
    assert all(np.array_equal(a, tensors[f"params/{p.name}"]) for a, p in zip(m.get_weights(), m.params()))
    st.save_file(tensors, str(tmp_path / "v2.safetensors"), metadata={**old, "format_version": "2"})
    with pytest.raises(ModelFileError, match="requires a checksum"):
        nl.load_model(tmp_path / "v2.safetensors")
