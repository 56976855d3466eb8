"""Zero "internal error"s: random command lines, TOML configs (types, nesting, sizes, encodings) and model
``extra`` metadata, each through the real command. Every run either succeeds or exits with one line
``error: ...`` (code 1 or 2): never "internal error", never a traceback.

The default run tries 120 cases (derandomized); ``-m slow`` tries 1,350 new ones.
"""

import os
import shutil
import tempfile

import numpy as np
import pytest
import tomli_w
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neuronlab as nl
from neuronlab.cli import main
from neuronlab.runs import DEFAULTS

N_ARGS, N_TOML, N_EXTRA = 45, 45, 30
SLOW = 15


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny table (train in milliseconds), a non-UTF-8 file name, a model, a PNG and a CSV row."""
    folder = tmp_path_factory.mktemp("world")
    rng = np.random.default_rng(0)
    lines = "".join(",".join(map(str, rng.normal(size=3).round(2))) + f",{'ab'[i % 2]}\n" for i in range(24))
    table = folder / "t.csv"
    table.write_text("f1,f2,f3,label\n" + lines)
    odd = os.path.join(os.fsencode(folder), b"t\xff\xfe.csv")
    with open(odd, "wb") as f:
        f.write(table.read_bytes())
    m = nl.Sequential([nl.layers.Dense(2, "softmax", input_dim=3)], seed=0)
    m.compile("categorical_crossentropy", "sgd", ["accuracy"])
    model = folder / "m.safetensors"
    m.save(model, extra={"classes": ["a", "b"], "sample_shape": [3], "config": {"data": str(table)}})
    row = folder / "row.csv"
    row.write_text("0.1,0.2,0.3\n")
    return {"table": str(table), "odd": os.fsdecode(odd), "model": str(model), "row": str(row), "dir": str(folder)}


def _check(result):
    code, out, err = result.exit_code, result.stdout, result.stderr
    assert "Traceback" not in out + err and "internal error" not in err, err
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        repr(result.exception))
    assert code in (0, 1, 2), (code, err)
    if code:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
    return code


def _invoke(args, cwd):
    here = os.getcwd()
    try:
        os.chdir(cwd)
        return CliRunner().invoke(main, args, prog_name="neuronlab")
    finally:
        os.chdir(here)


# -- values ------------------------------------------------------------------------------------------------
_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "-1", "0", "1e999", "nan", "inf", "1,2", "[1, 2]", "\x1b[2J", "../..", "/dev/zero", "auto", "mlp", "adam",
     "none", "٣", "1_000", "0x10", " 3 ", "a" * 300])
_JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | _TEXT,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3), max_leaves=6)
# values that train in a moment: anything that would make a long run (many epochs, wide layers) is left out
_FAST = {"epochs": st.sampled_from([1, 2]), "layers": st.sampled_from([[], [3], "4", "2,2", ""]),
         "batch_size": st.integers(1, 64), "seed": st.integers(0, 2**64), "test_fraction": st.floats(0.05, 0.9),
         "val_split": st.sampled_from([0.0, 0.2]), "dropout": st.floats(0, 0.9), "lr": st.floats(1e-4, 1),
         "momentum": st.sampled_from([None, 0.0, 0.9]), "model": st.just("mlp"),
         "activation": st.sampled_from(["relu", "tanh", "RELU"]), "optimizer": st.sampled_from(["sgd", "adam"]),
         "schedule": st.sampled_from(["cosine", "constant"]), "init": st.sampled_from(["auto", "he_normal"]),
         "label_column": st.sampled_from(["auto", -1, 3, "label", "zz", 9]), "header": st.sampled_from(["auto", True])}


@st.composite
def _train_options(draw, world):
    opts = {}
    for key in draw(st.lists(st.sampled_from(sorted(_FAST) + ["data", "test_data", "out"]), max_size=6,
                             unique=True)):
        if key == "data" or key == "test_data":
            opts[key] = draw(st.sampled_from([world["table"], world["odd"], world["dir"], "mnist-nope", world["model"],
                                              world["row"]]) | _TEXT)
        elif key == "out":
            opts[key] = draw(st.sampled_from(["o", "o/deeper", world["model"], "/proc/nope"]) | _TEXT)
        else:
            junk = _JUNK.filter(lambda v, k=key: not _valid_and_slow(k, v))
            opts[key] = draw(_FAST[key] | junk)
    opts.setdefault("data", world["table"])
    opts.setdefault("epochs", 1)
    opts.setdefault("layers", [3])
    return opts


def _valid_and_slow(key, v):
    if key == "epochs":
        return isinstance(v, int) and not isinstance(v, bool) and v > 3
    if key == "layers":
        return isinstance(v, (list, str))  # (a valid width list may be huge; lists come from _FAST)
    return False


def _as_arg(value) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _train_case(world, case):
    opts = case.draw(_train_options(world))
    args = ["train", "--no-progress"]
    for key, value in opts.items():
        if key == "header":
            args.append("--header" if value is True else "--no-header" if value is False else "--header=auto")
        else:
            args += [f"--{key.replace('_', '-')}", _as_arg(value)]
    cwd = tempfile.mkdtemp()
    try:
        _check(_invoke(args, cwd))
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


@st.composite
def _toml_files(draw, world):
    kind = draw(st.sampled_from(["options", "options", "options", "table-not-table", "nested", "bytes", "huge"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "nested":
        depth = draw(st.integers(1, 3000))
        return b"layers = " + b"[" * depth + b"1" + b"]" * depth + b"\n"
    if kind == "huge":
        return b"data = \"" + b"x" * (2 << 20) + b"\"\n"
    opts = draw(_train_options(world))
    opts.pop("header", None) if draw(st.booleans()) else None
    if draw(st.booleans()):
        opts[draw(st.sampled_from(list(DEFAULTS) + ["train", "bogus", "out-dir"]))] = draw(_JUNK.filter(
            lambda v: v is not None))
    opts = {k.replace("_", draw(st.sampled_from(["_", "-"]))): v for k, v in opts.items() if v is not None}
    doc = {"train": opts} if kind == "options" and draw(st.booleans()) else opts
    if kind == "table-not-table":
        doc = {"train": draw(_JUNK.filter(lambda v: v is not None and not isinstance(v, dict)))}
    try:
        return tomli_w.dumps(_no_none(doc)).encode("utf-8")
    except (TypeError, ValueError):
        return b"epochs = 1\n"


def _no_none(v):
    if isinstance(v, dict):
        return {k: _no_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_no_none(x) for x in v if x is not None]
    return v


def _toml_case(world, case):
    blob = case.draw(_toml_files(world))
    cwd = tempfile.mkdtemp()
    try:
        with open(os.path.join(cwd, "c.toml"), "wb") as f:
            f.write(blob)
        # what the file leaves out comes from the command line: a run that succeeds stays tiny
        extra = [*(["--epochs", "1"] if b"epochs" not in blob else []),
                 *(["--data", world["table"]] if b"data" not in blob else []),
                 *(["--layers", "3"] if b"layers" not in blob else [])]
        _check(_invoke(["train", "--config", "c.toml", "--no-progress", "--out", "o", *extra], cwd))
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


@given(case=st.data())
@settings(max_examples=N_ARGS, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_random_train_command_lines(world, case):
    _train_case(world, case)


@given(case=st.data())
@settings(max_examples=N_TOML, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_random_toml_configs(world, case):
    _toml_case(world, case)


@given(extra=st.dictionaries(st.sampled_from(["classes", "sample_shape", "scaler", "config", "history", "test",
                                              "epoch", "data_name", "chars"]), _JUNK, max_size=5),
       command=st.sampled_from(["info", "predict", "evaluate"]))
@settings(max_examples=N_EXTRA, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_random_extra_metadata_through_the_commands(world, extra, command):
    cwd = tempfile.mkdtemp()
    try:
        m = nl.load_model(world["model"])
        path = os.path.join(cwd, "x.safetensors")
        try:
            m.save(path, extra=extra)
        except (TypeError, ValueError):  # not JSON (NaN is): nothing to load
            return
        args = {"info": ["info", path], "predict": ["predict", path, world["row"]],
                "evaluate": ["evaluate", path, "--data", world["table"], "--out", cwd]}[command]
        _check(_invoke(args, cwd))
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("target, n", [(_train_case, N_ARGS * SLOW), (_toml_case, N_TOML * SLOW)])
def test_cli_fuzz_long(world, target, n):
    @given(case=st.data())
    @settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck))
    def run(case):
        target(world, case)

    run()


def test_a_toml_value_of_each_wrong_type_is_one_usage_error(tmp_path, world):
    for key, value in [("train", 3), ("out", 5), ("test_data", [1]), ("label_column", {"a": 1}),
                       ("label_column", 1.5), ("data", 7), ("header", "yes"), ("layers", [1.5]), ("epochs", "2")]:
        doc = {key: value} if key == "train" else {"data": world["table"], key: value}
        (tmp_path / "c.toml").write_text(tomli_w.dumps(doc))
        r = _invoke(["train", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "o")], str(tmp_path))
        assert _check(r) == 2, (key, r.stderr)
        assert key.replace("_", "-") in r.stderr or "train" in r.stderr, r.stderr
