"""A corpus of crafted hostile model files, generated into a folder (no committed binaries).

``make_corpus(folder)`` writes every file and returns ``[(name, path, why)]``: ``why`` is a
regular expression the :class:`~neuronlab.ModelFileError` message must match, so that
each file is refused for the reason it was made for (not by an earlier, unrelated check).
Files whose container is valid are written through ``nl.io.write_safetensors``, which
gives them a valid checksum: the deeper checks are the ones exercised.

``PAYLOAD_MARKER`` is the name of the file that the pickle payloads create if anything
ever unpickles them.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import pickle
import zipfile

import numpy as np

import neuronlab as nl
from neuronlab.io import write_safetensors

PAYLOAD_MARKER = "PAYLOAD_RAN"


class Payload:
    """Unpickling this creates ``marker``: the classic pickle code-execution gadget, made harmless."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def good_model():
    """A small model using every part of the format: BatchNorm buffers, Adam state, RNG, extra."""
    m = nl.Sequential([nl.layers.Dense(8, "relu", input_dim=4), nl.layers.BatchNorm(), nl.layers.Dropout(0.1),
                       nl.layers.Dense(3, "softmax")], seed=0)
    m.compile("categorical_crossentropy", nl.optimizers.get("adam", lr=0.01), ["accuracy"])
    X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    m.fit(X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int), epochs=1, batch_size=16, verbose=0)
    return m


def _container(header, data: bytes = b"", length: int | None = None) -> bytes:
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return (len(head) if length is None else length).to_bytes(8, "little") + head + data


def _entry(dtype, shape, lo, hi):
    return {"dtype": dtype, "shape": shape, "data_offsets": [lo, hi]}


def make_corpus(folder) -> list[tuple[str, str, str]]:
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / PAYLOAD_MARKER
    good = folder / "good.safetensors"
    good_model().save(good, extra={"epoch": 0, "classes": ["a", "b", "c"]})
    raw = good.read_bytes()
    tensors, meta = nl.io.read_safetensors(good)
    arch = json.loads(meta["architecture"])
    n_head = int.from_bytes(raw[:8], "little")
    out: list[tuple[str, str, str]] = []

    def add(name, data: bytes, why: str):
        path = folder / f"{len(out):02d}-{name}.safetensors"
        path.write_bytes(data)
        out.append((name, str(path), why))

    def add_model(name, why, edit_meta=None, edit_tensors=None, edit_arch=None):
        t, m = dict(tensors), dict(meta)
        if edit_arch is not None:
            a = json.loads(json.dumps(arch))
            edit_arch(a)
            m["architecture"] = json.dumps(a)
        if edit_meta is not None:
            edit_meta(m)
        if edit_tensors is not None:
            edit_tensors(t)
        path = folder / f"{len(out):02d}-{name}.safetensors"
        write_safetensors(path, t, m)
        out.append((name, str(path), why))

    not_ours = "not a neuronlab model file|not a valid safetensors"
    # -- code-execution formats: pickles, torch zips, NumPy object arrays ------------------------
    payload = pickle.dumps(Payload(marker), protocol=2)
    add("pickle-payload", payload, not_ours)
    add("pickle-payload-protocol-0", pickle.dumps(Payload(marker), protocol=0), not_ours)
    add("pickle-payload-protocol-5", pickle.dumps({"state_dict": Payload(marker)}, protocol=5), not_ours)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # what torch.save writes: a zip around data.pkl
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")
    add("torch-zip-with-pickle", buf.getvalue(), not_ours)
    buf = io.BytesIO()
    np.save(buf, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    add("npy-object-array", buf.getvalue(), not_ours)
    buf = io.BytesIO()
    np.savez(buf, W=np.array([Payload(marker), 1], dtype=object))
    add("npz-object-array", buf.getvalue(), not_ours)
    # a safetensors header whose "metadata" smuggles a pickle (must be read as data, never loaded)
    add_model("pickle-in-metadata", "checksum|not a neuronlab", edit_meta=lambda m: m.update(
        format="pickle", architecture=payload.decode("latin-1")))
    # -- not model files at all ---------------------------------------------------------------------
    add("empty", b"", "only 0 bytes")
    add("seven-bytes", b"\x01" * 7, "only 7 bytes")
    add("random-bytes", np.random.default_rng(0).bytes(4096), "not a neuronlab model file|truncated")
    add("json-architecture-only", meta["architecture"].encode(), "not a neuronlab model file|truncated")
    add("hdf5-signature", b"\x89HDF\r\n\x1a\n" + bytes(2048), "not a neuronlab model file")
    # -- the 8-byte header length ----------------------------------------------------------------
    add("header-length-zero", _container(b"{}", length=0), "header length 0")
    add("header-length-2^63", _container(b"{}", length=2**63), "header length")
    add("header-length-over-file", _container(b"{}", length=4096), "truncated: the header needs 4096")
    add("header-length-mid-json", _container(raw[8:8 + n_head], raw[8 + n_head:], length=n_head // 2),
        "not JSON|not a valid safetensors")
    big = folder / f"{len(out):02d}-header-over-the-cap.safetensors"
    with open(big, "wb") as f:  # a sparse 17 MiB file whose header length is over the 16 MiB cap
        f.write(((17 << 20) - 8).to_bytes(8, "little") + b"{")
        f.truncate(17 << 20)
    out.append(("header-over-the-cap", str(big), "the limit is"))
    # -- the JSON header -----------------------------------------------------------------------------
    add("header-not-utf8", _container(b'{"\xff\xfe":1}  '), "not UTF-8")
    add("header-not-json", _container(b"{not json at all}"), "not JSON")
    add("header-json-array", _container(b"[1, 2, 3]"), "not a JSON object")
    add("header-deep-nesting", _container(b"[" * 100_000 + b"]" * 100_000), "not JSON|JSON arrays/objects")
    add("header-too-many-containers", _container(b"[" + b"[]," * 60_000 + b"[]]"), "JSON arrays/objects")
    add("header-5MiB-of-short-strings", _container(b'{"x":[' + b'"ab",' * (1 << 20) + b'"ab"]}'),
        "not a valid safetensors")
    add("metadata-not-a-dict", _container({"__metadata__": ["format", "neuronlab"]}), "must map strings")
    add("metadata-int-values", _container({"__metadata__": {"format": 1}}), "must map strings")
    dup = (b'{"__metadata__":{"format":"neuronlab"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
           b'"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')
    add("duplicate-tensor-names", _container(dup, bytes(4)), "names 'a' twice")
    add("duplicate-metadata-keys", _container(b'{"__metadata__":{"format":"neuronlab","format":"evil"}}'),
        "names 'format' twice")
    # -- tensor entries and offsets ------------------------------------------------------------------------
    f32 = np.arange(4, dtype=np.float32).tobytes()
    add("overlapping-offsets", _container({"a": _entry("F32", [4], 0, 16), "b": _entry("F32", [2], 8, 16)}, f32),
        "not a valid safetensors")
    add("offsets-past-the-end", _container({"a": _entry("F32", [4], 1 << 40, (1 << 40) + 16)}, f32), "truncated")
    add("gap-between-tensors", _container({"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [1], 12, 16)}, f32),
        "not a valid safetensors")
    add("trailing-bytes", raw + b"\0" * 64, "not a valid safetensors")
    add("shape-vs-byte-count", _container({"a": _entry("F32", [5], 0, 16)}, f32), r"declares shape \(5,\)")
    add("shape-overflow", _container({"a": _entry("F32", [2**62, 2**62], 0, 16)}, f32), "declares shape")
    add("negative-dimension", _container({"a": _entry("F32", [-4], 0, 16)}, f32), "malformed shape")
    add("float-offsets", _container({"a": _entry("F32", [4], 0.0, 16.0)}, f32), "malformed shape")
    add("string-shape", _container({"a": {"dtype": "F32", "shape": "4", "data_offsets": [0, 16]}}, f32),
        "malformed shape")
    add("unknown-dtype-bf16", _container({"a": _entry("BF16", [8], 0, 16)}, f32), "malformed header entry")
    add("unknown-dtype-object", _container({"a": _entry("O", [2], 0, 16)}, f32), "malformed header entry")
    add("extra-entry-field", _container({"a": {**_entry("F32", [4], 0, 16), "pickle": "x"}}, f32),
        "malformed shape")
    # -- truncations at many points ---------------------------------------------------------------
    for cut in (8, 9, 8 + n_head // 2, 8 + n_head - 1, 8 + n_head, 8 + n_head + 1, len(raw) // 2, len(raw) - 4,
                len(raw) - 1):
        add(f"truncated-at-{cut}", raw[:cut], "truncated|not a neuronlab model file|not JSON")
    # -- a valid container, a bad model ------------------------------------------------------------------
    add("plain-safetensors-no-metadata", _container({"a": _entry("F32", [4], 0, 16)}, f32), "not a neuronlab model")
    add_model("format-pytorch", "not a neuronlab model", edit_meta=lambda m: m.update(format="pt"))
    add_model("format-version-newer", "newer than", edit_meta=lambda m: m.update(format_version="3"))
    add_model("format-version-zero", "bad format_version", edit_meta=lambda m: m.update(format_version="0"))
    add_model("format-version-text", "bad format_version", edit_meta=lambda m: m.update(format_version="1e3"))
    add_model("architecture-missing", "no 'architecture'", edit_meta=lambda m: m.pop("architecture"))
    add_model("architecture-not-json", "not valid JSON", edit_meta=lambda m: m.update(architecture="{'x': 1"))
    add_model("architecture-a-list", "must be an object", edit_meta=lambda m: m.update(architecture="[1, 2]"))
    add_model("architecture-over-1MiB", "longer than", edit_meta=lambda m: m.update(
        architecture=json.dumps({**arch, "pad": "x" * (1 << 20)})))
    add_model("architecture-int-digits", "not valid JSON",
              edit_meta=lambda m: m.update(architecture='{"seed": ' + "9" * 5000 + ', "layers": []}'))
    add_model("unknown-layer-code", "unknown layer",
              edit_arch=lambda a: a["layers"][0].update(type="__import__('os').system('touch PAYLOAD_RAN')"))
    add_model("layer-type-python-path", "unknown layer", edit_arch=lambda a: a["layers"][0].update(type="os.system"))
    add_model("layer-kwargs-injection", "cannot rebuild",
              edit_arch=lambda a: a["layers"][0]["config"].update(__class__="os.system"))
    add_model("layer-units-string", "cannot rebuild", edit_arch=lambda a: a["layers"][0]["config"].update(units="8"))
    add_model("layer-units-negative", "cannot rebuild", edit_arch=lambda a: a["layers"][0]["config"].update(units=-8))
    add_model("activation-python-path", "cannot rebuild",
              edit_arch=lambda a: a["layers"][0]["config"].update(activation="os.system"))
    add_model("dense-10^12-units", r"architecture declares \(4, 1000000000000\)",
              edit_arch=lambda a: a["layers"][0]["config"].update(units=10**12))
    add_model("dense-10^9-inputs", r"architecture declares \(1000000000, 8\)",
              edit_arch=lambda a: a["layers"][0]["config"].update(input_dim=10**9) or a.update(input_shape=None))
    # absurd sizes next to small tensors of the right names: refused before a byte is allocated
    add_model("embedding-10^9-by-10^9", r"has shape \(10, 4\), the architecture declares \(1000000000, 1000000000\)",
              edit_arch=lambda a: a["layers"].insert(0, {"type": "embedding", "name": "embedding_1", "config": {
                  "vocab": 10**9, "dim": 10**9}}),
              edit_tensors=lambda t: t.update({"params/embedding_1/E": np.zeros((10, 4), np.float32)}))
    add_model("conv-10^9-filters", r"the architecture declares \(3, 3, 1, 1000000000\)",
              edit_arch=lambda a: a.update(input_shape=[28, 28, 1]) or a["layers"].insert(0, {
                  "type": "conv2d", "name": "conv2d_1", "config": {"filters": 10**9, "kernel_size": 3}}),
              edit_tensors=lambda t: t.update({"params/conv2d_1/W": np.zeros((3, 3, 1, 4), np.float32),
                                               "params/conv2d_1/B": np.zeros(4, np.float32)}))
    add_model("lstm-10^8-units", r"the architecture declares \(4, 400000000\)",
              edit_arch=lambda a: a.update(input_shape=[5, 4]) or a["layers"].insert(0, {
                  "type": "lstm", "name": "lstm_1", "config": {"units": 10**8}}),
              edit_tensors=lambda t: t.update({"params/lstm_1/W": np.zeros((4, 16), np.float32)}))
    add_model("input-shape-10^18-values", "values per sample",
              edit_arch=lambda a: a.update(input_shape=[10**9, 10**9]))
    add_model("input-shape-zero", "positive integers", edit_arch=lambda a: a.update(input_shape=[0]))
    add_model("input-shape-bool", "positive integers", edit_arch=lambda a: a.update(input_shape=[True]))
    add_model("extra-with-60000-objects", "more than 50000 JSON arrays/objects",
              edit_meta=lambda m: m.update(extra="[" + "{}," * 60_000 + "{}]"))
    add_model("extra-with-1MiB-of-short-strings", "'extra' must be a JSON object",
              edit_meta=lambda m: m.update(extra="[" + '"ab",' * (1 << 18) + '"ab"]'))
    add_model("two-thousand-layers", "2001 layers",
              edit_arch=lambda a: a["layers"].extend({"type": "dropout", "config": {"rate": 0.1}} for _ in range(1997)))
    add_model("dtype-object", "cannot rebuild", edit_arch=lambda a: a.update(dtype="object"))
    add_model("seed-negative", "cannot rebuild", edit_arch=lambda a: a.update(seed=-1))
    add_model("shape-mismatch-transposed", r"has shape \(8, 4\)",
              edit_tensors=lambda t: t.update({"params/dense_1/W": np.ascontiguousarray(t["params/dense_1/W"].T)}))
    add_model("nan-weights", "NaN", edit_tensors=lambda t: t.update(
        {"params/dense_1/W": np.full_like(t["params/dense_1/W"], np.nan)}))
    add_model("inf-bias", "NaN or inf", edit_tensors=lambda t: t.update(
        {"params/dense_2/B": np.full_like(t["params/dense_2/B"], np.inf)}))
    add_model("nan-running-variance", "NaN", edit_tensors=lambda t: t.update(
        {"buffers/batchnorm_1/running_var": np.full_like(t["buffers/batchnorm_1/running_var"], np.nan)}))
    add_model("wrong-dtype-float64", "dtype float64", edit_tensors=lambda t: t.update(
        {"params/dense_1/W": t["params/dense_1/W"].astype(np.float64)}))
    add_model("wrong-dtype-int32", "dtype int32", edit_tensors=lambda t: t.update(
        {"params/dense_1/W": t["params/dense_1/W"].astype(np.int32)}))
    add_model("missing-tensor", "missing", edit_tensors=lambda t: t.pop("params/dense_2/W"))
    add_model("extra-tensor", "not part of the declared", edit_tensors=lambda t: t.update(
        {"params/evil/W": np.zeros(3, np.float32)}))
    add_model("optimizer-state-nan", "contains NaN", edit_tensors=lambda t: t.update(
        {"optimizer/dense_1/W/exp_avg": np.full_like(t["optimizer/dense_1/W/exp_avg"], np.nan)}))
    add_model("optimizer-lr-negative", "finite number >= 0", edit_tensors=lambda t: t.update(
        {"optimizer/lr": np.array(-1.0)}))
    add_model("optimizer-iterations-negative", "count >= 0", edit_tensors=lambda t: t.update(
        {"optimizer/iterations": np.array(-5, dtype=np.int64)}))
    add_model("optimizer-unknown", "cannot rebuild the optimizer",
              edit_meta=lambda m: m.update(optimizer=json.dumps({"name": "os.system", "config": {}})))
    add_model("optimizer-kwargs-injection", "cannot rebuild the optimizer",
              edit_meta=lambda m: m.update(optimizer=json.dumps({"name": "adam", "config": {"__init__": 1}})))
    add_model("rng-wrong-generator", "invalid RNG state",
              edit_meta=lambda m: m.update(rng=json.dumps({"bit_generator": "MT19937", "state": {}})))
    add_model("rng-a-list", "invalid RNG state", edit_meta=lambda m: m.update(rng="[1, 2]"))
    add_model("extra-a-list", "'extra' must be a JSON object", edit_meta=lambda m: m.update(extra="[1]"))
    add_model("compile-unknown-loss", "cannot compile",
              edit_meta=lambda m: m.update(compile=json.dumps({"loss": "os.system", "metrics": []})))
    # -- integrity ---------------------------------------------------------------------------------------
    flipped = bytearray(raw)
    flipped[-5] ^= 0x01  # one bit of the last tensor, checksum left as it was
    add("one-bit-flip-in-data", bytes(flipped), "checksum mismatch")
    import safetensors.numpy as st  # written around write_safetensors, which would fix the sum

    add("checksum-missing", st.save(tensors, metadata={k: v for k, v in meta.items() if k != "checksum"}),
        "requires a checksum and this file has none")
    add("checksum-wrong", st.save(tensors, metadata={**meta, "checksum": "sha256:" + "0" * 64}), "checksum mismatch")
    add("checksum-stale-after-edit", st.save({**tensors, "params/dense_2/B": np.zeros(3, np.float32)}, metadata=meta),
        "checksum mismatch")
    # the most memory per header byte JSON allows: many small objects, under the container cap
    add("json-expansion-in-header", _container(b'{"x":[' + b",".join([b'{"a":1}'] * 49_000) + b"]}"),
        "not a valid safetensors")
    # -- a few weights declaring huge activations (the architecture's input shape within its cap) ------
    for name, layer, shape in (("dense-4x3-on-20000x20000-inputs", nl.layers.Dense(3, "softmax", input_dim=4),
                                [20000, 20000, 4]),
                               ("conv-1x1-8-filters-on-4000x4000", nl.layers.Conv2D(8, 1, input_shape=(8, 8, 1)),
                                [4000, 4000, 1])):
        small = nl.Sequential([layer], seed=0)
        a = small.get_config()
        a["input_shape"] = shape
        for key in ("input_dim", "input_shape"):
            a["layers"][0]["config"].pop(key, None)
        path = folder / f"{len(out):02d}-{name}.safetensors"
        write_safetensors(path, {f"params/{p.name}": p.value for p in small.params()},
                          {"format": "neuronlab", "format_version": "2", "architecture": json.dumps(a)})
        out.append((name, str(path), "one sample would make"))
    good.unlink()
    zero = pathlib.Path("/dev/zero")
    if zero.exists():  # an endless "file": refused without reading
        link = folder / f"{len(out):02d}-symlink-to-dev-zero.safetensors"
        os.symlink(zero, link)
        out.append(("symlink-to-dev-zero", str(link), "not a regular file"))
    if hasattr(os, "mkfifo"):  # a named pipe: opening it must not wait for a writer
        fifo = folder / f"{len(out):02d}-a-fifo.safetensors"
        os.mkfifo(fifo)
        out.append(("a-fifo", str(fifo), "not a regular file"))
    folder_entry = folder / f"{len(out):02d}-a-directory.safetensors"
    folder_entry.mkdir()
    out.append(("a-directory", str(folder_entry), "not a regular file|cannot open"))
    return out
