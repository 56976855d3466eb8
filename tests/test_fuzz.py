"""Property-based fuzzing (hypothesis) of the model loader, the IDX reader and the CSV reader.

The default run tries 10,000 inputs in all (derandomized: the same ones every run); the
``slow`` run tries 100,000 new random ones. Every input must end in success or in the
documented error (ModelFileError for model files, DataError for data), with no warning,
within 1 s.
A gzip bomb is stopped at the size the IDX header declares.
"""

import gzip
import json
import os
import random
import struct
import time
import tracemalloc
import warnings
import zlib
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neuronlab as nl
from hostile_models import good_model
from neuronlab.core import DataError
from neuronlab.io import ModelFileError, write_safetensors

# the default run: 10,000 cases in all
N_MUTATED, N_HEADERS, N_ARCH, N_IDX, N_CSV = 3000, 1000, 1000, 2500, 2500
SLOW_FACTOR = 10


def _fuzz(check, strategy, n, slow=False):
    """Run ``check`` on ``n`` inputs drawn from ``strategy``; return the outcome counts and the
    longest time one input took."""
    stats = {"cases": 0, "max_s": 0.0, "outcomes": Counter()}

    @settings(max_examples=n, deadline=1000, derandomize=not slow, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @given(strategy)
    def run(x):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning is a failure too: one clear error or none
            outcome = check(x)
        stats["max_s"] = max(stats["max_s"], time.perf_counter() - t0)
        stats["cases"] += 1
        stats["outcomes"][outcome] += 1

    run()
    print(f"\n{check.__name__}: {stats['cases']} cases, slowest {stats['max_s'] * 1000:.1f} ms, "
          f"{dict(stats['outcomes'])}")
    assert stats["max_s"] < 1.0
    return stats


# -- model files ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-models")
    good = folder / "good.safetensors"
    good_model().save(good, extra={"epoch": 1})
    tensors, meta = nl.io.read_safetensors(good)
    return folder, good.read_bytes(), tensors, meta


def _load(path) -> str:
    try:
        nl.load_model(path)
    except ModelFileError as e:
        return str(e).split(": ", 1)[1].split(" ")[0]  # a short tag of the reason
    return "loaded"


@st.composite
def _mutations(draw, raw: bytes):
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["set", "set", "xor", "insert", "delete", "truncate", "length"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "xor" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[pos:]
        elif op == "length":  # the 8-byte header length
            data[:8] = draw(st.integers(0, 2**64 - 1)).to_bytes(8, "little")
    return bytes(data)


def test_fuzz_model_loader_with_mutated_files(model_file, slow=False):
    folder, raw, tensors, _ = model_file
    path = folder / "mutated.safetensors"

    def mutated_file(blob):
        path.write_bytes(blob)
        outcome = _load(path)
        if outcome == "loaded":  # only a change the checksum does not cover (JSON layout): same weights
            m = nl.load_model(path)
            assert all(np.array_equal(p.value, tensors[f"params/{p.name}"]) for p in m.params())
        return outcome

    _fuzz(mutated_file, _mutations(raw), N_MUTATED * (SLOW_FACTOR if slow else 1), slow)


# hand-picked values (cheap to draw) next to hypothesis' own recursive JSON (rarer, richer)
_INTERESTING = [None, True, False, 0, 1, -1, 2, 3, 7, 40, 2**31, 2**32, 2**63, -2**63, 10**12, 10**30, 1e308, -0.0,
                0.5, 1.5, float("nan"), float("inf"), -float("inf"), "", "a", "relu", "softmax", "same", "valid",
                "he_normal", "normal", "auto", "torch", "__import__('os')", "os.system", "../../etc/passwd", "\x00",
                "é", "1", "-1", "8", [], [1], [3, 3], [0], [-1, 2], [1, 2, 3], [28, 28, 1], [2**40], [[1]], ["a"], {},
                {"a": 1}, {"units": 3}, {"__class__": "x"}, [[[]]], {"layers": []}, {"type": "dense"}]
_JSON_DEEP = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                          lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                          max_leaves=6)
_JSON = st.sampled_from(_INTERESTING) | st.integers(-3, 50) | st.sampled_from(_INTERESTING) | _JSON_DEEP
_DTYPE_CODES = st.sampled_from(["F32", "F64", "F16", "I64", "I32", "U8", "BOOL", "BF16", "C64", "F8_E4M3", "", "f4",
                                None, 4, ["F32"]])


@st.composite
def _headers(draw):
    """Random safetensors headers: tensor entries with any dtype/shape/offsets, any metadata."""
    header = {}
    small = st.integers(0, 5)
    for i in range(draw(st.integers(0, 3))):
        entry = {"dtype": draw(_DTYPE_CODES),
                 "shape": draw(st.lists(small, max_size=3) | st.sampled_from(_INTERESTING)),
                 "data_offsets": draw(st.tuples(st.integers(0, 64), st.integers(0, 64)).map(list)
                                      | st.sampled_from(_INTERESTING))}
        if draw(st.integers(0, 4)) == 0:
            entry.pop(draw(st.sampled_from(sorted(entry))))
        header[draw(st.sampled_from([f"t{i}", "params/dense_1/W", "__metadata__"]))] = entry
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.dictionaries(st.sampled_from(["format", "format_version", "architecture",
                                                                       "checksum", "x"]),
                                                      st.sampled_from(["neuronlab", "1", "2", "{}", ""]) | _JSON,
                                                      max_size=4))
    head = json.dumps(header, allow_nan=True).encode()
    head += b" " * draw(st.integers(0, 7))
    length = draw(st.sampled_from([len(head)] * 4 + [len(head) - 1, len(head) + 1, 0, 2**40]))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    return length.to_bytes(8, "little") + head + rnd.randbytes(draw(st.integers(0, 96)))


def test_fuzz_model_loader_with_random_headers(model_file, slow=False):
    folder = model_file[0]
    path = folder / "header.safetensors"

    def random_header(blob):
        path.write_bytes(blob)
        return _load(path)

    _fuzz(random_header, _headers(), N_HEADERS * (SLOW_FACTOR if slow else 1), slow)


_CONFIG_KEYS = ["units", "activation", "init", "input_dim", "rate", "filters", "kernel_size", "stride", "padding",
                "pool_size", "input_shape", "momentum", "eps", "vocab", "dim", "input_length", "return_sequences",
                "alpha", "name"]
_VALUES = _JSON | st.lists(st.integers(-2, 40), min_size=1, max_size=3)


@st.composite
def _models(draw):
    """Valid containers (with valid checksums) whose architecture, optimizer, RNG and compile
    entries are random: the deepest checks, not the container's, are exercised."""
    types = st.sampled_from(nl.layers.registry.names() + ["os.system", "", "Dense"])
    config = st.dictionaries(st.sampled_from(_CONFIG_KEYS), _VALUES, max_size=3)
    layers = [{"type": draw(types), "config": draw(config), **({"name": draw(_JSON)} if draw(st.booleans()) else {})}
              for _ in range(draw(st.integers(0, 3)))]
    arch = {"seed": draw(st.sampled_from([None, 0, 1, 2**64, -1, "1", 1.5])),
            "dtype": draw(st.sampled_from(["float32", "float64", "float16", "int8", "object", None, 1])),
            "input_shape": draw(st.sampled_from([None, [4], [28, 28, 1], [5, 4], [0], [-1], [2**40], "4", [[4]]])
                                | st.lists(st.integers(-1, 12), max_size=3)),
            "layers": layers}
    if draw(st.integers(0, 9)) == 0:
        arch = draw(_JSON)
    opt = {"name": draw(st.sampled_from(nl.optimizers.registry.names() + ["os.system", None])),
           "config": draw(st.dictionaries(st.sampled_from(["lr", "momentum", "nesterov", "beta1", "beta2", "eps",
                                                           "rho", "weight_decay", "clipnorm", "dampening", "x"]),
                                          _JSON, max_size=3))}
    meta = {"architecture": json.dumps(arch, allow_nan=True), "optimizer": json.dumps(opt, allow_nan=True)}
    for key in ("rng", "compile", "extra"):
        if draw(st.booleans()):
            meta[key] = json.dumps(draw(_JSON), allow_nan=True)
    tensors = {}
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["params/dense_1/W", "params/dense_1/B", "params/dense_2/W", "buffers/x/y",
                                     "optimizer/iterations", "optimizer/lr", "optimizer/dense_1/W/exp_avg"]))
        shape = draw(st.sampled_from([(), (0,), (3,), (4, 8), (8, 3), (2, 2, 2)]))
        tensors[name] = np.zeros(shape, dtype=draw(st.sampled_from([np.float32, np.float64, np.int64, np.uint8])))
    return meta, tensors


def test_fuzz_model_loader_with_random_architectures(model_file, slow=False):
    folder, _, good_tensors, good_meta = model_file
    path = folder / "arch.safetensors"

    def random_architecture(case):
        meta, tensors = case
        meta = {**good_meta, **meta}
        write_safetensors(path, tensors or good_tensors, meta)
        return _load(path)

    _fuzz(random_architecture, _models(), N_ARCH * (SLOW_FACTOR if slow else 1), slow)


# -- IDX -------------------------------------------------------------------------------------------
_IDX_CODES = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


@st.composite
def _idx_files(draw):
    code = draw(st.sampled_from(sorted(_IDX_CODES) * 3 + [0, 1, 0x0A, 0x0F, 0xFF]))
    ndim = draw(st.sampled_from([1, 1, 2, 2, 3, 3, 4, 0, 33, 255]))
    dims = draw(st.lists(st.integers(0, 5) | st.sampled_from([60000, 2**31, 2**32 - 1]), min_size=min(ndim, 4),
                         max_size=min(ndim, 4))) + [1] * max(ndim - 4, 0)
    magic = draw(st.sampled_from([b"\0\0"] * 6 + [b"\0\1", b"\x1f\x8b", b"PK"]))
    head = magic + bytes([code, ndim]) + struct.pack(f">{ndim}I", *dims)
    declared = int(np.prod(dims, dtype=np.float64)) * _IDX_CODES.get(code, 1)
    size = draw(st.sampled_from([declared, declared, declared - 1, declared + 1]) | st.integers(0, 64))
    size = max(0, min(size, 4096))
    blob = head + random.Random(draw(st.integers(0, 2**32))).randbytes(size)
    if draw(st.integers(0, 4)) == 0:
        blob = blob[:draw(st.integers(0, len(blob)))]
    kind = draw(st.sampled_from(["raw", "raw", "gzip", "gzip", "gzip-corrupt", "gzip-cut", "raw-named-gz"]))
    if kind.startswith("gzip"):
        blob = gzip.compress(blob, compresslevel=1, mtime=0)
        if kind == "gzip-corrupt":
            i = draw(st.integers(0, len(blob) - 1))
            blob = blob[:i] + bytes([blob[i] ^ 0xFF]) + blob[i + 1:]
        elif kind == "gzip-cut":
            blob = blob[:draw(st.integers(0, len(blob) - 1))]
    return blob, kind != "raw", (code, dims)


def test_fuzz_idx_reader(tmp_path_factory, slow=False):
    folder = tmp_path_factory.mktemp("fuzz-idx")

    def idx_file(case):
        blob, gz, (code, dims) = case
        path = folder / ("f.idx.gz" if gz else "f.idx")
        path.write_bytes(blob)
        try:
            X = nl.datasets.read_idx(path)
        except DataError:
            return "DataError"
        assert X.shape == tuple(dims) and X.dtype.itemsize == _IDX_CODES[code] and X.flags.writeable
        return "read"

    _fuzz(idx_file, _idx_files(), N_IDX * (SLOW_FACTOR if slow else 1), slow)


def _gzip_bomb(path, declared: int, gib: int):
    """An IDX file declaring ``declared`` bytes whose gzip stream inflates to ``gib`` GiB more."""
    member = gzip.compress(bytes(64 << 20), compresslevel=9, mtime=0)  # 64 MiB of zeros, ~64 KB
    with open(path, "wb") as f:
        f.write(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", declared) + bytes(declared), mtime=0))
        for _ in range(gib * 16):  # gzip streams may hold many members; readers join them
            f.write(member)


def test_a_gzip_bomb_is_stopped_at_the_declared_size(tmp_path):
    path = tmp_path / "bomb-idx1-ubyte.gz"
    _gzip_bomb(path, declared=1000, gib=4)
    assert os.path.getsize(path) < 5 << 20
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(DataError, match="trailing bytes after the 1000 data bytes"):
            nl.datasets.read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    took = time.perf_counter() - t0
    print(f"\n4 GiB gzip bomb ({os.path.getsize(path)} bytes) declaring 1000 bytes: refused in {took * 1000:.1f} ms, "
          f"peak traced memory {peak / 1024:.0f} KiB")
    assert peak < 1 << 20  # nothing near the 4 GiB it would inflate to


def test_a_lying_idx_header_does_not_allocate_its_declared_size(tmp_path):
    # declares 4 GiB (under the 8 GiB limit) but holds 1 KiB: memory follows the real bytes
    blob = bytes([0, 0, 8, 2]) + struct.pack(">II", 65536, 65536) + bytes(1024)
    for name, data in (("lie-idx3-ubyte", blob), ("lie-idx3-ubyte.gz", gzip.compress(blob))):
        (tmp_path / name).write_bytes(data)
        tracemalloc.start()
        try:
            # (the gzip copy is refused sooner: 4 GiB is more than 36 bytes may decompress to)
            with pytest.raises(DataError, match="truncated: shape \\(65536, 65536\\) needs 4294967296 data bytes, "
                                                "found 1024|more than this 36-byte gzip file may decompress to"):
                nl.datasets.read_idx(tmp_path / name)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 3 << 20, (name, peak)  # the 1 MiB read chunk, not the 4 GiB declared


# -- CSV ---------------------------------------------------------------------------------------------
_CSV_TOKENS = (list("0123456789") * 3 + list(".-+eE,,,;\t \n\n\r\"'#xyz") +
               ["nan", "inf", "-inf", "1e999", "label", "target", "é", "\x00", "\ufeff", "\\", '""', "\u2028", "１",
                "0x10", "1_0", "  ", "\n\n"])
_CELLS = ["1", "0", "2.5", "-3e2", "7", "1e-3", "a", "b"]


@st.composite
def _csv_files(draw):
    rnd = random.Random(draw(st.integers(0, 2**32)))
    kind = draw(st.sampled_from(["tokens", "table", "table", "bytes"]))
    if kind == "tokens":
        data = "".join(rnd.choices(_CSV_TOKENS, k=draw(st.integers(0, 80)))).encode("utf-8")
    elif kind == "table":  # mostly well-formed tables with a few defects
        rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 5))
        defects = draw(st.sampled_from([0.0, 0.0, 0.05, 0.3]))
        cells = [[rnd.choice(_CSV_TOKENS) if rnd.random() < defects else rnd.choice(_CELLS[:6] if c else _CELLS)
                  for c in range(cols)] for _ in range(rows)]
        sep = draw(st.sampled_from([",", ";", "\t", " "]))
        head = [sep.join(rnd.choice(["x", "y", "label", "1", ""]) for _ in range(cols))] if draw(st.booleans()) else []
        data = "\n".join(head + [sep.join(r) for r in cells]).encode("utf-8")
        if draw(st.booleans()):
            data += b"\n"
    else:
        data = rnd.randbytes(draw(st.integers(0, 120)))
    options = {"label_column": draw(st.sampled_from(["auto", "auto", None, 0, -1, 2, "label", "y", "-1", "zz"])),
               "header": draw(st.sampled_from(["auto", "auto", True, False])),
               "delimiter": draw(st.sampled_from(["auto", "auto", ",", None]))}
    return data, options


def test_fuzz_csv_reader(tmp_path_factory, slow=False):
    folder = tmp_path_factory.mktemp("fuzz-csv")
    path = folder / "f.csv"

    def csv_file(case):
        data, options = case
        path.write_bytes(data)
        try:
            X, y = nl.datasets.read_csv(path, **options)
        except DataError:
            return "DataError"
        assert X.ndim == 2 and X.dtype == np.float32 and np.isfinite(X).all() and X.shape[0] >= 1
        assert y is None or y.shape == (len(X),)
        return "read"

    _fuzz(csv_file, _csv_files(), N_CSV * (SLOW_FACTOR if slow else 1), slow)


@pytest.mark.slow
@pytest.mark.parametrize("target", [test_fuzz_model_loader_with_mutated_files,
                                    test_fuzz_model_loader_with_random_headers,
                                    test_fuzz_model_loader_with_random_architectures])
def test_fuzz_model_loader_long(model_file, target):
    target(model_file, slow=True)


@pytest.mark.slow
@pytest.mark.parametrize("target", [test_fuzz_idx_reader, test_fuzz_csv_reader])
def test_fuzz_data_readers_long(tmp_path_factory, target):
    target(tmp_path_factory, slow=True)


def test_zlib_errors_are_data_errors(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4]))[:-9] + zlib.compress(b"junk"))
    with pytest.raises(DataError):
        nl.datasets.read_idx(path)
