"""Hostile model files: a crafted corpus, a pickle payload that must never run, bounded memory,
the allocation plan, and random single-byte corruptions (SECURITY.md)."""

import os
import pathlib
import pickle
import re
import tracemalloc

import numpy as np
import pytest

import neuronlab as nl
from hostile_models import PAYLOAD_MARKER, Payload, good_model, make_corpus
from neuronlab.io import ModelFileError, planned_tensors


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    return folder, make_corpus(folder)


def test_the_corpus_is_large_and_every_file_is_refused_for_its_reason(corpus):
    folder, files = corpus
    assert len(files) >= 40
    outcomes = {}
    for name, path, why in files:
        try:
            nl.load_model(path)
            outcomes[name] = "loaded"
        except ModelFileError as e:  # the one documented error; anything else fails the test
            outcomes[name] = "ok" if re.search(why, str(e)) else f"refused for another reason: {e}"
    assert {k: v for k, v in outcomes.items() if v != "ok"} == {}
    assert not (folder / PAYLOAD_MARKER).exists()


def test_the_payload_is_live_and_never_runs(corpus, tmp_path):
    folder, files = corpus
    # the payload really is code execution: unpickled (here, on purpose), it creates its marker
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(Payload(probe)))  # noqa: S301 (the point of the test)
    assert probe.exists()
    pickled = [p for name, p, _ in files if "pickle" in name or "object-array" in name]
    assert len(pickled) >= 6
    for path in pickled:
        with pytest.raises(ModelFileError):
            nl.load_model(path)
        if "metadata" not in path:  # (that one is a valid container: its pickle is inert metadata text)
            with pytest.raises(ModelFileError):
                nl.io.read_safetensors(path)
    assert not (folder / PAYLOAD_MARKER).exists()
    assert not pathlib.Path(PAYLOAD_MARKER).exists()


def test_memory_stays_a_small_multiple_of_the_file_size(corpus):
    """tracemalloc sees NumPy's buffers too: absurd declared sizes (Dense(10**12), 2^63-byte
    headers, 10^9 x 10^9 embeddings) are refused before anything of that size exists."""
    _, files = corpus
    worst = []
    for name, path, _ in files:
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        tracemalloc.start()
        try:
            with pytest.raises(ModelFileError):
                nl.load_model(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        worst.append((peak - 10 * size, name, peak, size))
    # JSON metadata becomes Python objects (at most ~10x its text); the rest is a fixed cost
    assert max(worst)[0] <= 2 << 20, max(worst)


def test_a_valid_model_loads_within_a_few_times_its_size(tmp_path):
    m = nl.Sequential([nl.layers.Dense(256, "relu", input_dim=784), nl.layers.Dense(10, "softmax")], seed=0)
    m.compile("categorical_crossentropy", "adam")
    X = np.random.default_rng(0).random((64, 784), dtype=np.float32)
    m.fit(X, np.arange(64) % 10, epochs=1, verbose=0)
    m.save(tmp_path / "m.safetensors")
    size = os.path.getsize(tmp_path / "m.safetensors")
    tracemalloc.start()
    try:
        nl.load_model(tmp_path / "m.safetensors")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * size, (peak, size)  # file bytes, tensors, weights + gradients, Adam's state


def _sample_layers():
    L = nl.layers
    return {
        "dense": (lambda: L.Dense(5), (7,)),
        "dropout": (lambda: L.Dropout(0.5), (7,)),
        "conv2d": (lambda: L.Conv2D(4, (3, 2)), (8, 9, 3)),
        "maxpool2d": (lambda: L.MaxPool2D(2), (8, 8, 3)),
        "avgpool2d": (lambda: L.AvgPool2D(2), (8, 8, 3)),
        "globalavgpool2d": (lambda: L.GlobalAvgPool2D(), (8, 8, 3)),
        "flatten": (lambda: L.Flatten(), (4, 4, 2)),
        "batchnorm": (lambda: L.BatchNorm(), (6, 6, 5)),
        "embedding": (lambda: L.Embedding(11, 3), (9,)),
        "simple_rnn": (lambda: L.SimpleRNN(5), (9, 3)),
        "lstm": (lambda: L.LSTM(5, return_sequences=True), (9, 3)),
        "gru": (lambda: L.GRU(5), (9, 3)),
        "flatten_time": (lambda: L.registry.lookup("flatten_time")(), (9, 3)),
    }


def test_the_allocation_plan_matches_every_registered_layer():
    """Loading compares a layer's planned tensor shapes with the file before building it; the
    plan must be exactly what ``build`` allocates, for every layer type there is."""
    samples = _sample_layers()
    assert set(samples) == set(nl.layers.registry.names()), "a new layer type needs its param_shapes checked here"
    for kind, (make, shape) in samples.items():
        layer = make()
        layer.name = f"{kind}_1"
        planned = planned_tensors(layer, shape)
        layer.build(shape, np.random.default_rng(0), np.float32)
        actual = {f"params/{p.name}": p.value.shape for p in layer.params()}
        actual.update({f"buffers/{k}": v.shape for k, v in layer.buffers().items()})
        assert planned == actual, kind


# -- byte flips ----------------------------------------------------------------------------------------
def _state(model):
    opt = model.optimizer.state_dict() if model.optimizer is not None else {}
    return ([w.copy() for w in model.get_weights()],
            {k: v.copy() for la in model.layers for k, v in la.buffers().items()},
            {k: np.array(v) for k, v in opt.items()}, model.rng.bit_generator.state)


def _same(a, b) -> bool:
    (wa, ba, oa, ra), (wb, bb, ob, rb) = a, b
    return (all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(wa, wb)) and len(wa) == len(wb)
            and ba.keys() == bb.keys() and all(np.array_equal(ba[k], bb[k]) for k in ba)
            and oa.keys() == ob.keys() and all(np.array_equal(oa[k], ob[k]) for k in oa) and ra == rb)


def _flip_run(tmp_path, n_flips, seed):
    path = tmp_path / "model.safetensors"
    good_model().save(path, extra={"epoch": 3, "history": {"loss": [0.9, 0.5]}, "classes": ["a", "b", "c"]})
    raw = path.read_bytes()
    reference = _state(nl.load_model(path))
    rng = np.random.default_rng(seed)
    bad = tmp_path / "flipped.safetensors"
    detected, identical, regions = 0, 0, {"length": 0, "header": 0, "data": 0}
    n_head = int.from_bytes(raw[:8], "little")
    for _ in range(n_flips):
        pos = int(rng.integers(len(raw)))
        data = bytearray(raw)
        data[pos] ^= int(rng.integers(1, 256))  # any other byte value
        bad.write_bytes(bytes(data))
        regions["length" if pos < 8 else "header" if pos < 8 + n_head else "data"] += 1
        try:
            loaded = nl.load_model(bad)
        except ModelFileError:
            detected += 1
            continue
        assert _same(_state(loaded), reference), f"byte {pos} changed and the model loaded different"
        identical += 1
    return detected, identical, regions, len(raw)


def test_1000_single_byte_corruptions_are_detected_or_harmless(tmp_path):
    detected, identical, regions, size = _flip_run(tmp_path, 1000, seed=0)
    print(f"\n{size}-byte file, 1000 corruptions {regions}: {detected} detected, {identical} identical loads")
    assert detected + identical == 1000
    assert detected >= 900  # only JSON whitespace (the header's alignment padding) may change harmlessly


@pytest.mark.slow
def test_20000_single_byte_corruptions(tmp_path):
    detected, identical, _, _ = _flip_run(tmp_path, 20000, seed=1)
    print(f"\n20000 corruptions: {detected} detected, {identical} identical loads")
    assert detected + identical == 20000
