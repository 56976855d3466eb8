"""Hardening 2, sizes and text: no model file, image or archive makes neuronlab allocate much more
than its own size (load, info, evaluate, predict), and no string from a file reaches the terminal
as control characters (SECURITY.md)."""

import bz2
import gzip
import io
import json
import lzma
import os
import resource
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import neuronlab as nl
from neuronlab import runs
from neuronlab.core import DataError, NeuronlabError
from neuronlab.datasets import limits
from neuronlab.datasets.limits import MAX_RATIO
from neuronlab.io import MAX_ACTIVATION_VALUES, ModelFileError, read_safetensors, write_safetensors
from neuronlab.text import printable

# the bound SECURITY.md states: peak traced memory <= FILE_MULTIPLE x (model file + input files) + ALLOWED
FILE_MULTIPLE = 10
ALLOWED = 96 << 20
ESC = "\x1b]0;pwned\x07\x1b[2J\x1b[31m"


def _model(folder, name="m.safetensors", classes=("a", "b", "c"), extra=None, arch=None):
    """A 4-feature, 3-class model file; ``arch`` edits its architecture JSON, ``extra`` its extra."""
    m = nl.Sequential([nl.layers.Dense(3, "softmax", input_dim=4)], seed=0)
    m.compile("categorical_crossentropy", "sgd", ["accuracy"])
    path = os.path.join(folder, name)
    m.save(path, extra={"classes": list(classes), "sample_shape": [4], **(extra or {})})
    if arch is not None:
        tensors, meta = read_safetensors(path)
        a = json.loads(meta["architecture"])
        arch(a)
        meta["architecture"] = json.dumps(a)
        write_safetensors(path, tensors, meta)
    return path


def _peak(fn):
    """(result or the NeuronlabError raised, peak bytes traced while ``fn`` ran)."""
    tracemalloc.start()
    try:
        try:
            out = fn()
        except NeuronlabError as e:
            out = e
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _commands(path, png, csv, labeled):
    return {"load": lambda: nl.load_model(path), "info": lambda: runs.info_lines(path),
            "predict": lambda: runs.predict_files(path, [png, csv]),
            "evaluate": lambda: runs.evaluate_model(path, data=labeled)}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    png = str(folder / "digit.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(png)
    csv, labeled = str(folder / "rows.csv"), str(folder / "labeled.csv")
    with open(csv, "w") as f:
        f.write("".join(f"{i},{i + 1},{i + 2},{i + 3}\n" for i in range(30)))
    with open(labeled, "w") as f:
        f.write("x1,x2,x3,x4,label\n" + "".join(f"{i},{i + 1},{i + 2},{i + 3},{'abc'[i % 3]}\n" for i in range(30)))
    return png, csv, labeled


# -- 1. sizes a model file declares outside the architecture check ------------------------------------------
def test_a_few_weights_cannot_declare_gigabytes_of_activations(tmp_path, inputs):
    """A Dense on the last axis keeps its 4x3 weights for any leading axes: (20000, 20000, 4) once made a
    53 KB file allocate gigabytes in predict. One sample's outputs are bounded by the loader now."""
    def huge(a):
        a["input_shape"] = [20000, 20000, 4]
        a["layers"][0]["config"].pop("input_dim")

    path = _model(tmp_path, arch=huge)
    for name, fn in _commands(path, *inputs).items():
        out, peak = _peak(fn)
        assert isinstance(out, ModelFileError) and "one sample would make" in str(out), name
        assert peak < 2 << 20, (name, peak)


@pytest.mark.parametrize("extra, why", [
    ({"sample_shape": [40000, 40000]}, "sample_shape"),        # used to resize images for predict
    ({"sample_shape": [2, 2, 1]}, None), ({"sample_shape": "4"}, "sample_shape"),
    ({"sample_shape": [0, 4]}, "sample_shape"),
    ({"classes": "abc"}, "classes"), ({"classes": ["a", "b"]}, "classes"), ({"classes": [["a"], "b", "c"]}, "classes"),
    ({"scaler": {"kind": "standardize", "mean": [0] * 4, "std": [0] * 4, "eps": 0}}, "scaler"),  # divides by 0
    ({"scaler": {"kind": "standardize", "mean": [0] * 5, "std": [1] * 5}}, "scaler"),
    ({"scaler": {"kind": "divide", "value": 0}}, "scaler"), ({"scaler": {"kind": "eval"}}, "scaler"),
    ({"scaler": {"kind": "divide", "nope": 1}}, "scaler"), ({"scaler": [1]}, "scaler"),
    ({"config": [1]}, None), ({"config": {"data": 7}}, "config"), ({"history": 3, "test": {"accuracy": "x"}}, None),
    ({"epoch": "x"}, None),
])
def test_malformed_extra_metadata_is_a_model_file_error(tmp_path, inputs, extra, why):
    path = _model(tmp_path, extra=extra)
    for name, fn in _commands(path, *inputs).items():
        out, _ = _peak(fn)
        # load_model returns extra as it is (the caller's JSON); only evaluate reads 'config'
        if why is None or name == "load" or (why == "config" and name != "evaluate"):
            assert not isinstance(out, ModelFileError), (name, out)
        else:
            assert isinstance(out, ModelFileError) and why in str(out), (name, out)


def _edits():
    """Architecture and extra edits a hostile file might make, from harmless to absurd."""
    dims = st.integers(1, 3000) | st.sampled_from([1, 4, 1 << 20, 1 << 31, 40000])
    shape = st.lists(dims, min_size=1, max_size=4).map(lambda s: [*s[:-1], 4])
    junk = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
                        max_leaves=10)
    extra = st.fixed_dictionaries({}, optional={
        "sample_shape": st.lists(dims, max_size=4) | junk, "classes": st.lists(st.text(max_size=30), max_size=4) | junk,
        "scaler": st.fixed_dictionaries({"kind": st.sampled_from(["none", "divide", "standardize", "x"])},
                                        optional={"value": junk, "mean": junk, "std": junk, "eps": junk}) | junk,
        "config": junk, "history": junk, "test": junk, "epoch": junk, "data_name": st.text(max_size=30)})
    return st.tuples(st.none() | shape, extra)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=_edits())
def test_property_any_file_peak_memory_is_bounded(tmp_path_factory, inputs, case):
    """For any edited file: each command succeeds or raises a NeuronlabError, within the stated bound."""
    shape, extra = case
    folder = tmp_path_factory.mktemp("prop")

    def arch(a):
        if shape is not None:
            a["input_shape"] = shape
            a["layers"][0]["config"].pop("input_dim")

    path = _model(folder, extra=extra, arch=arch)  # junk "classes" in extra replaces the default list
    budget = FILE_MULTIPLE * (os.path.getsize(path) + sum(map(os.path.getsize, inputs))) + ALLOWED
    for name, fn in _commands(path, *inputs).items():
        out, peak = _peak(fn)
        assert peak <= budget, (name, peak, shape)
        if name == "info" and not isinstance(out, Exception):
            assert all(_no_control(line) for line in out)


def test_the_hostile_corpus_through_every_command_stays_within_the_bound(tmp_path, inputs):
    from hostile_models import make_corpus

    worst = []
    for name, path, _ in make_corpus(tmp_path / "corpus"):
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        for command, fn in _commands(path, *inputs).items():
            out, peak = _peak(fn)
            assert isinstance(out, ModelFileError), (name, command, out)
            worst.append((peak - FILE_MULTIPLE * size, name, command))
    assert max(worst)[0] <= 2 << 20, max(worst)  # (well inside ALLOWED: each is refused before it costs)


def test_the_largest_activations_a_file_may_declare_stay_within_the_bound(tmp_path, inputs):
    """Just under the cap: the worst accepted file, measured for every command."""
    side = int((MAX_ACTIVATION_VALUES / 7) ** 0.5)  # input (side, side, 4) and output (side, side, 3)

    def big(a):
        a["input_shape"] = [side, side, 4]
        a["layers"][0]["config"].pop("input_dim")

    path = _model(tmp_path, arch=big, extra={"sample_shape": [side, side, 4]})
    npy = str(tmp_path / "x.npy")
    np.save(npy, np.ones((1, side, side, 4), np.uint8))
    assert nl.load_model(path).input_shape == (side, side, 4)
    budget = FILE_MULTIPLE * (os.path.getsize(path) + os.path.getsize(npy)) + ALLOWED
    out, peak = _peak(lambda: runs.predict_files(path, [npy]))
    # the whole predict path runs (its output, one class row per pixel, is then refused as a classification)
    assert "classifying needs one row of class scores per sample" in str(out), out
    assert peak <= budget, peak


def test_memory_in_a_subprocess_for_the_worst_files(tmp_path, inputs):
    """resource.getrusage in a fresh process (everything, not only traced allocations): the hostile
    activation file and an npz bomb stay within the interpreter's own size + ALLOWED."""
    def huge(a):
        a["input_shape"] = [40000, 40000, 4]
        a["layers"][0]["config"].pop("input_dim")

    path = _model(tmp_path, arch=huge)
    bomb = _npz_bomb(tmp_path / "bomb.npz", declared=4_000_000_000, real=1 << 20, lie=4_000_000_000)
    script = (f"import neuronlab.runs as r, resource, sys\n"
              f"base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              f"for f in (lambda: r.predict_files({path!r}, [{inputs[0]!r}]), lambda: r.info_lines({path!r}),\n"
              f"          lambda: __import__('neuronlab').datasets.load_npz({str(bomb)!r})):\n"
              f"    try: f()\n"
              f"    except Exception as e: assert type(e).__name__ in ('ModelFileError', 'DataError'), e\n"
              f"print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024)\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) < ALLOWED, int(r.stdout)
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 1 << 21  # KiB: the child stayed under 2 GiB


# -- npz, compressed CSV, images ---------------------------------------------------------------------------
def _npz_bomb(path, declared, real, lie=None):
    """An npz whose x.npy declares ``declared`` bytes and inflates to ``real``; ``lie`` rewrites the
    size its directory declares (what a crafted archive can say without the bytes to back it)."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "|u1", "fortran_order": False, "shape": (declared,)})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", head.getvalue() + bytes(real))
    if lie is not None:  # the uncompressed size in the central directory entry (offset 24)
        raw = bytearray(path.read_bytes())
        at = raw.rfind(b"PK\x01\x02")
        raw[at + 24:at + 28] = struct.pack("<I", lie)
        path.write_bytes(bytes(raw))
    return path


def test_an_npz_bomb_is_refused_from_its_directory(tmp_path):
    bomb = _npz_bomb(tmp_path / "bomb.npz", declared=4_000_000_000, real=1 << 20, lie=4_000_000_000)
    size = os.path.getsize(bomb)
    out, peak = _peak(lambda: nl.datasets.load_npz(bomb))
    assert isinstance(out, DataError) and "uncompressed" in str(out) and f"{MAX_RATIO}x" in str(out)
    assert peak < 1 << 20 and size < 8 << 10


def test_an_npz_within_the_limit_but_lying_in_its_header_allocates_what_is_there(tmp_path):
    bomb = _npz_bomb(tmp_path / "h.npz", declared=1 << 40, real=1 << 20)
    out, peak = _peak(lambda: nl.datasets.load_npz(bomb))
    assert isinstance(out, DataError) and "declares shape" in str(out), out
    assert peak < 4 << 20, peak


def test_an_npz_that_lies_in_its_directory_stops_at_the_declared_size(tmp_path):
    bomb = _npz_bomb(tmp_path / "lie.npz", declared=1 << 30, real=16 << 20, lie=1000)
    out, peak = _peak(lambda: nl.datasets.load_npz(bomb))
    assert isinstance(out, DataError), out
    assert peak < 4 << 20, peak


@pytest.mark.parametrize("members, match", [
    ({"x.npy": np.array(3.0), "y.npy": np.array(1)}, "shape ()"),
    ({"x.npy": np.ones((3, 2)), "y.npy": np.ones((3, 2))}, "labels array has shape"),
    ({"x.npy": np.ones((3, 2)), "notes.txt": b"hello"}, "is not a .npy array"),
])
def test_npz_with_0d_arrays_or_junk_members_is_one_data_error(tmp_path, members, match):
    path = tmp_path / "a.npz"
    with zipfile.ZipFile(path, "w") as z:
        for name, value in members.items():
            if isinstance(value, bytes):
                z.writestr(name, value)
            else:
                buf = io.BytesIO()
                np.save(buf, value)
                z.writestr(name, buf.getvalue())
    with pytest.raises(DataError, match=match.replace("(", r"\(").replace(")", r"\)")):
        nl.datasets.load_npz(path)


def test_an_xz_header_cannot_choose_a_huge_decoder(tmp_path):
    path = tmp_path / "d.csv.xz"
    raw = bytearray(lzma.compress(b"1,2\n3,4\n"))
    assert raw[12:16] == b"\x02\x00\x21\x01"  # the block header: LZMA2 with one property byte, the dictionary
    raw[16] = 40  # 4 GiB (was 8 MiB), and the header's CRC32 recomputed
    raw[20:24] = struct.pack("<I", zlib.crc32(bytes(raw[12:20])))
    path.write_bytes(bytes(raw))
    out, peak = _peak(lambda: nl.datasets.read_csv(path))
    assert isinstance(out, DataError) and "Memory usage limit" in str(out) and peak < 2 << 20  # (one read chunk)


@pytest.mark.parametrize("suffix, opener", [(".csv.gz", gzip.open), (".csv.bz2", bz2.open), (".csv.xz", lzma.open)])
def test_compressed_csv_is_read_and_a_bomb_is_stopped(tmp_path, monkeypatch, suffix, opener):
    path = tmp_path / f"t{suffix}"
    with opener(path, "wt") as f:
        f.write("a,b,label\n1,2,x\n3,4,y\n")
    X, y = nl.datasets.read_csv(path)
    assert X.tolist() == [[1, 2], [3, 4]] and y.tolist() == ["x", "y"]
    monkeypatch.setattr(limits, "ALLOWANCE", 1 << 20)  # (a 1 MiB allowance: a bomb of a few MiB shows it)
    bomb = tmp_path / f"bomb{suffix}"
    with opener(bomb, "wb") as f:
        f.write(b"a,b,label\n" + b"1,2,0\n" * (1 << 20))  # 6 MiB of rows from a few KiB
    assert os.path.getsize(bomb) < 40 << 10
    out, peak = _peak(lambda: nl.datasets.read_csv(bomb))
    assert isinstance(out, DataError) and "decompresses to more than" in str(out), out
    # the limit (1 MiB + 100x the file) twice (the buffer grows by copying), one read chunk, and the
    # decoder's own state (xz: its dictionary, 8 MiB at the default preset)
    decoder = (9 << 20) if suffix == ".csv.xz" else 0
    assert peak < 2 * limits.decompressed_limit(os.path.getsize(bomb)) + (2 << 20) + decoder, peak


def _png_header(w, h, depth=8):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [6000, 14000, 20000])
def test_image_bombs_are_one_data_error_before_decoding(tmp_path, side):
    path = tmp_path / f"bomb{side}.png"
    path.write_bytes(_png_header(side, side))
    out, peak = _peak(lambda: runs.read_image(str(path), (28, 28)))
    assert isinstance(out, DataError) and ("pixels" in str(out)), out
    assert peak < 1 << 20


def test_predict_on_a_png_bomb_is_one_line_not_internal_error(tmp_path):
    from click.testing import CliRunner

    from neuronlab.cli import main

    model = _model(tmp_path, extra={"sample_shape": [2, 2]})
    (tmp_path / "bomb.png").write_bytes(_png_header(20000, 20000))
    r = CliRunner().invoke(main, ["predict", model, str(tmp_path / "bomb.png")])
    assert r.exit_code == 1 and "internal error" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


# -- 4. pixel depth and range: a test per mode -------------------------------------------------------------
RAMP = np.linspace(0, 1, 28 * 28).reshape(28, 28)


@pytest.mark.parametrize("mode, make", [
    ("L", lambda: Image.fromarray((RAMP * 255).round().astype(np.uint8))),
    ("I;16", lambda: Image.fromarray((RAMP * 65535).round().astype(np.uint16))),
    ("P", lambda: Image.fromarray((RAMP * 255).round().astype(np.uint8)).convert("P")),
    ("F", lambda: Image.fromarray(RAMP.astype(np.float32))),
    ("RGB", lambda: Image.fromarray((RAMP * 255).round().astype(np.uint8)).convert("RGB")),
    ("1", lambda: Image.fromarray(RAMP > 0.5)),
])
def test_every_pixel_mode_is_converted_by_its_real_range(tmp_path, mode, make):
    im = make()
    assert im.mode == mode
    path = str(tmp_path / ("a.tiff" if mode == "F" else "a.png"))
    im.save(path)
    a = runs.read_image(path, (28, 28)).astype(int)
    want = 255 - (RAMP > 0.5) * 255 if mode == "1" else 255 - np.round(RAMP * 255)  # (light border: inverted)
    tol = 0 if mode in ("L", "1", "I;16", "F") else 3  # a palette or RGB->L conversion may round differently
    assert np.abs(a - want).max() <= tol + 1, (mode, a.min(), a.max())
    assert a.max() - a.min() >= 250  # never clipped to 0/255 or squeezed into a few levels


def test_a_16_bit_image_is_not_clipped(tmp_path):
    dark = np.full((28, 28), 300, np.uint16)  # 8-bit clipping made this 255 (white); it is near black
    dark[10:18, 10:18] = 60000
    Image.fromarray(dark).save(tmp_path / "d.png")
    a = runs.read_image(str(tmp_path / "d.png"), (28, 28))
    assert a[0, 0] == 1 and a[14, 14] == 233


def test_a_float_image_outside_0_1_uses_its_own_range(tmp_path):
    Image.fromarray((RAMP * 1000 - 500).astype(np.float32)).save(tmp_path / "f.tiff")
    a = runs.read_image(str(tmp_path / "f.tiff"), (28, 28))
    assert a.min() == 0 and a.max() == 255


# -- 2. text from files is data ----------------------------------------------------------------------------
def test_printable_strips_every_kind_of_escape():
    for s in ["\x1b]0;title\x07", "\x1b[2J", "\x1b[31;1m", "\x9b2J", "\x1bP1;2|x\x1b\\", "\x1bc", "\x07\x08\x7f",
              "\x9d0;t\x9c", "\u202e", "\x00"]:
        assert printable("a" + s + "b") == "ab", repr(s)
    assert printable("x\ny\tz") == "x y z" and printable("é ü 日本") == "é ü 日本"
    assert printable(os.fsdecode(b"\xff.csv")) == "\\udcff.csv"
    assert printable("a" * 50, 10) == "aaaaaaa..."


@pytest.mark.parametrize("intro", ["\x98", "\x90", "\x9d", "\x9e", "\x9f", "\x1b]", "\x1bP", "\x1b_"])
def test_an_unterminated_control_string_loses_only_its_introducer(intro):
    """A file name starting with 0x98 (SOS) once emptied the whole error message that quoted it."""
    assert printable(f"{intro}: no such file") in (": no such file", "]: no such file")
    assert _no_control(printable(f"x{intro}0;title"))


def test_an_error_about_a_control_character_name_still_says_what(tmp_path):
    from click.testing import CliRunner

    from neuronlab.cli import main

    r = CliRunner().invoke(main, ["train", "--data", "\x98", "--epochs", "1", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and r.stderr.startswith("error: ") and "no such file" in r.stderr, repr(r.stderr)
    assert _no_control(r.stderr.rstrip("\n"))


def _no_control(text):
    return not any(ord(c) < 32 and c not in "\n" or 0x7f <= ord(c) <= 0x9f for c in text)


def test_class_names_from_a_file_never_reach_the_terminal_as_control(tmp_path, inputs):
    from click.testing import CliRunner

    from neuronlab.cli import main

    path = _model(tmp_path, classes=[f"cat{ESC}", "dog\x1bc", "\x9b2Jbird"],
                  extra={"data_name": ESC, "config": {"data": ESC, "optimizer": ESC}})
    png, csv, _ = inputs
    with open(tmp_path / "eval.csv", "w") as f:
        f.write("x1,x2,x3,x4,label\n" + "".join(f"{i},1,2,3,{['cat' + ESC, 'dog' + chr(27) + 'c'][i % 2]}\n"
                                                for i in range(6)))
    for args in (["info", path], ["predict", path, csv, "--top", "3"], ["evaluate", path, "--data",
                                                                           str(tmp_path / "eval.csv")]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.stderr
        assert _no_control(r.stdout) and "cat" in r.stdout, r.stdout


def test_error_messages_quoting_file_content_are_printable(tmp_path):
    from click.testing import CliRunner

    from neuronlab.cli import main

    bad = tmp_path / "bad.csv"
    bad.write_text(f"a,b,label\n1,{ESC},x\n2,3,y\n")
    r = CliRunner().invoke(main, ["train", "--data", str(bad), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "row 2, column 2" in r.stderr
    assert _no_control(r.stderr.rstrip("\n")), repr(r.stderr)


def test_the_activation_cap_can_be_raised_for_a_trusted_model(tmp_path, monkeypatch):
    m = nl.Sequential([nl.layers.Conv2D(96, 3, input_shape=(224, 224, 3))], seed=0)  # 4.9M values: over the cap
    m.save(tmp_path / "wide.safetensors")
    with pytest.raises(ModelFileError, match="MAX_ACTIVATION_VALUES"):
        nl.load_model(tmp_path / "wide.safetensors")
    monkeypatch.setattr(nl.io, "MAX_ACTIVATION_VALUES", 1 << 23)
    assert nl.load_model(tmp_path / "wide.safetensors").layers[-1].output_shape[-1] == 96
