"""Hardening 2, runs and the command line: run folders claimed atomically, checked before training and
never lost; --resume against fewer epochs or other data; CSV header/overflow/row rules; and zero
"internal error"s over random options, TOML files and names (SECURITY.md)."""

import bz2
import gzip
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

import neuronlab as nl
from neuronlab.cli import main
from neuronlab.core import DataError
from neuronlab.runs import folders


def _cli(args, cwd=None):
    here = os.getcwd()
    try:
        os.chdir(cwd or here)
        r = CliRunner().invoke(main, [str(a) for a in args], prog_name="neuronlab")
    finally:
        os.chdir(here)
    return r.exit_code, r.stdout, r.stderr


def _one_line(code, out, err, expected=None, match=None):
    assert "Traceback" not in out + err and "internal error" not in err, err
    if code != 0:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        if match:
            assert match in lines[0], lines[0]
    if expected is not None:
        assert code == expected, (code, out, err)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A small 3-class table: trains in well under a second."""
    folder = tmp_path_factory.mktemp("table")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4)).round(3)
    y = np.repeat(["a", "b", "c"], 30)
    path = folder / "t.csv"
    with open(path, "w") as f:
        f.write("f1,f2,f3,f4,label\n" + "".join(",".join(map(str, x)) + f",{c}\n" for x, c in zip(X, y)))
    return str(path)


def _train(table, out, *extra, cwd=None):
    return _cli(["train", "--data", table, "--layers", "8", "--epochs", "2", "--no-progress", "--out", out, *extra],
                cwd=cwd)


# -- 3. run folders ----------------------------------------------------------------------------------------
def test_two_trains_into_one_folder_at_once_one_wins_and_the_other_says_who(tmp_path, table):
    args = [sys.executable, "-m", "neuronlab", "train", "--data", table, "--layers", "8", "--epochs", "30",
            "--no-progress", "--out", str(tmp_path / "run")]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[2] == 2)
    assert ("is being written by another neuronlab train (pid" in loser[1]
            or "already holds a run" in loser[1]), loser[1]
    assert len(loser[1].strip().splitlines()) == 1
    nl.load_model(tmp_path / "run" / "model.safetensors")
    assert not os.path.exists(tmp_path / "run" / folders.LOCK)


def test_a_live_lock_stops_a_second_run_at_once_naming_it(tmp_path, table):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.makedirs(tmp_path / "run")
        (tmp_path / "run" / folders.LOCK).write_text(
            f'{{"pid": {sleeper.pid}, "host": "{os.uname().nodename}", "started": "2026-01-01 00:00:00"}}')
        t = time.perf_counter()
        code, out, err = _train(table, tmp_path / "run")
        _one_line(code, out, err, 2, f"being written by another neuronlab train (pid {sleeper.pid} on")
        assert time.perf_counter() - t < 5 and "Epoch" not in out
    finally:
        sleeper.kill()
        sleeper.wait()


def test_an_unwritable_out_is_refused_before_training(tmp_path, table, monkeypatch):
    real_open = os.open

    def read_only(path, flags, *a, **k):  # (the tests run as root, which chmod does not stop)
        if folders.LOCK in os.path.basename(str(path)):  # the lock or its private temporary name
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(folders.os, "open", read_only)
    code, out, err = _train(table, tmp_path / "ro")
    _one_line(code, out, err, 2, "cannot write in")
    assert "Epoch" not in out and "data:" not in out


@pytest.mark.parametrize("name", ["config.toml", "run.json", "model.safetensors", "history.csv"])
def test_a_symlink_in_out_is_refused_and_never_written_through(tmp_path, table, name):
    os.makedirs(tmp_path / "run")
    os.symlink(tmp_path / "elsewhere", tmp_path / "run" / name)  # dangling
    code, out, err = _train(table, tmp_path / "run")
    _one_line(code, out, err, 2, "is a symbolic link")
    assert not os.path.lexists(tmp_path / "elsewhere") and "Epoch" not in out


def test_a_failed_run_leaves_nothing_or_a_marked_folder(tmp_path, table):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,x\n3,q,y\n")
    code, out, err = _train(str(bad), tmp_path / "fresh")
    _one_line(code, out, err, 1, "row 3, column 2")
    assert not os.path.exists(tmp_path / "fresh")  # it created the folder and wrote nothing: gone

    from neuronlab.callbacks import Callback
    from neuronlab.runs import resolve_config, run_training

    class Boom(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise OSError(28, "No space left on device")

    cfg = resolve_config({"data": table, "layers": [8], "epochs": 3})
    with pytest.raises(OSError):
        run_training(cfg, str(tmp_path / "partial"), callbacks=[Boom()], echo=lambda *a: None, progress=False)
    names = set(os.listdir(tmp_path / "partial"))
    assert folders.INCOMPLETE in names and folders.LOCK not in names and "checkpoint.safetensors" in names
    assert "No space left" in (tmp_path / "partial" / folders.INCOMPLETE).read_text()
    code, out, err = _train(table, tmp_path / "partial")
    _one_line(code, out, err, 2, "already holds a run")
    code, out, err = _cli(["train", "--resume", tmp_path / "partial", "--no-progress"])
    _one_line(code, out, err, 0)
    assert folders.INCOMPLETE not in os.listdir(tmp_path / "partial")


def test_resume_refuses_fewer_epochs_and_other_data(tmp_path, table):
    data = tmp_path / "d.csv"
    data.write_bytes(open(table, "rb").read())
    code, out, err = _cli(["train", "--data", data, "--layers", "8", "--epochs", "3", "--no-progress",
                           "--schedule", "constant", "--out", tmp_path / "r"])
    assert code == 0, err
    code, out, err = _cli(["train", "--resume", tmp_path / "r", "--epochs", "2"])
    _one_line(code, out, err, 2, "--epochs 2 is fewer than the run's 3")
    with open(data, "a") as f:
        f.write("0.1,0.2,0.3,0.4,a\n")
    code, out, err = _cli(["train", "--resume", tmp_path / "r", "--epochs", "4"])
    _one_line(code, out, err, 2, "is not the data this run was trained on")


def test_evaluate_works_from_any_folder_after_a_relative_data_path(tmp_path, table):
    os.makedirs(tmp_path / "proj")
    (tmp_path / "proj" / "t.csv").write_bytes(open(table, "rb").read())
    code, out, err = _train("t.csv", "run", cwd=tmp_path / "proj")
    assert code == 0, err
    code, out, err = _cli(["evaluate", tmp_path / "proj" / "run" / "model.safetensors", "--out", tmp_path / "cm"],
                          cwd=tmp_path)
    _one_line(code, out, err, 0)
    assert "samples" in out
    assert os.path.isabs(nl.load_checkpoint(tmp_path / "proj" / "run" / "model.safetensors")[1]["config"]["data"])


def test_a_non_utf8_data_name_is_refused_up_front(tmp_path, table):
    name = os.fsdecode(b"d\xff.csv")
    with open(os.path.join(os.fsencode(tmp_path), b"d\xff.csv"), "wb") as f:
        f.write(open(table, "rb").read())
    code, out, err = _train(os.path.join(str(tmp_path), name), tmp_path / "run")
    _one_line(code, out, err, 2, "is not valid UTF-8")
    assert not os.path.exists(tmp_path / "run") and "Epoch" not in out


def test_huge_layer_widths_are_refused_up_front_with_the_estimate(tmp_path, table):
    t = time.perf_counter()
    code, out, err = _cli(["train", "--data", table, "--layers", "100000000", "--out", tmp_path / "big"])
    _one_line(code, out, err, 2, "GiB to train")
    assert time.perf_counter() - t < 10 and "parameters" in err
    assert not os.path.exists(tmp_path / "big")


def test_a_255_character_model_name_saves(tmp_path):
    m = nl.Sequential([nl.layers.Dense(2, "softmax", input_dim=3)], seed=0)
    path = tmp_path / ("m" * (255 - len(".safetensors")) + ".safetensors")
    m.save(path)
    m.save(path)  # and replaces itself
    assert nl.load_model(path).get_weights()[0].shape == (3, 2)
    assert os.listdir(tmp_path) == [path.name]


def test_generate_checks_its_prime_and_never_overwrites(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("abcab cab\n" * 200)
    code, out, err = _cli(["generate", "--text", text, "--steps", "1", "--units", "4", "--seq-len", "8",
                           "--prime", "XYZ", "--save", tmp_path / "c.safetensors"])
    _one_line(code, out, err, 2, "--prime")
    assert "trained" not in out and not os.path.exists(tmp_path / "c.safetensors")
    (tmp_path / "keep.safetensors").write_bytes(b"precious")
    code, out, err = _cli(["generate", "--text", text, "--steps", "1", "--units", "4", "--seq-len", "8",
                           "--prime", "ab", "--save", tmp_path / "keep.safetensors"])
    _one_line(code, out, err, 2, "--force")
    assert (tmp_path / "keep.safetensors").read_bytes() == b"precious" and "trained" not in out


# -- 4. CSV rules ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, header, rows", [
    ("1,2,3,label\n0.1,0.2,0.3,cat\n0.4,0.5,0.6,dog\n", "auto", 2),     # a label name: a header
    ("1,2,3,y\n0.1,0.2,0.3,0\n0.4,0.5,0.6,1\n", "auto", 2),
    ("x,2,3,k\n0.1,0.2,0.3,0\n0.4,0.5,0.6,1\n", "auto", 2),             # text above a number
    ("0.1,0.2,cat\n0.3,0.4,dog\n0.5,0.6,cat\n", "auto", 3),            # a repeated class name: data
    ("0.1,0.2,0\n0.3,0.4,1\n", "auto", 2),
    ("1,2,3,species\n0.1,0.2,0.3,cat\n0.4,0.5,0.6,dog\n", True, 2),
    ("1,2,3,4\n5,6,7,8\n", True, 1),
    ("a,b,c\n1,2,0\n3,4,1\n", False, None),                            # a header given as data: the cell is named
])
def test_csv_header_rule(tmp_path, text, header, rows):
    p = tmp_path / "h.csv"
    p.write_text(text)
    if rows is None:
        with pytest.raises(DataError, match="row 1, column 1"):
            nl.datasets.read_csv(p, header=header, label_column=-1)
        return
    X, y = nl.datasets.read_csv(p, header=header, label_column=-1)
    assert len(X) == rows


def test_an_ambiguous_first_row_is_never_silently_data(tmp_path, table):
    p = tmp_path / "amb.csv"
    p.write_text("1,2,3,species\n0.1,0.2,0.3,cat\n0.4,0.5,0.6,dog\n")
    with pytest.raises(DataError, match="cannot tell whether row 1 .* is a header.*--header/--no-header"):
        nl.datasets.read_csv(p)
    code, out, err = _cli(["train", "--data", p, "--out", tmp_path / "o", "--layers", "4", "--epochs", "1"])
    _one_line(code, out, err, 1, "--header/--no-header")
    code, out, err = _cli(["train", "--data", p, "--header", "--out", tmp_path / "o2", "--layers", "4",
                           "--epochs", "1", "--test-fraction", "0.5"])
    assert "cannot tell" not in err


def test_float32_overflow_is_reported_at_its_row_and_column(tmp_path):
    p = tmp_path / "o.csv"
    p.write_text("a,b,label\n1,2,0\n\n3,1e39,1\n")
    with pytest.raises(DataError, match=r"row 4, column 2 \('b'\): value overflows float32"):
        nl.datasets.read_csv(p)


@pytest.mark.parametrize("opener, suffix", [(open, ".csv"), (gzip.open, ".csv.gz"), (bz2.open, ".csv.bz2")])
def test_non_utf8_bytes_are_reported_at_their_exact_row(tmp_path, opener, suffix):
    p = tmp_path / f"u{suffix}"
    rows = [b"a,b,label\n"] + [f"{i},{i},{i % 2}\n".encode() for i in range(1, 3000)]
    rows[1500] = b"7,\xff\xfe,1\n"  # line 1501, well past the first 8 KB
    with opener(p, "wb") as f:
        f.write(b"".join(rows))
    with pytest.raises(DataError, match=r"row 1501\b"):
        nl.datasets.read_csv(p)
    rows[1500], rows[0] = b"7,8,1\n", b"a,b,\xe9\n"
    with opener(p, "wb") as f:
        f.write(b"".join(rows))
    with pytest.raises(DataError, match=r"row 1 is not UTF-8"):
        nl.datasets.read_csv(p)


def test_train_reads_a_gzipped_csv(tmp_path, table):
    with gzip.open(tmp_path / "t.csv.gz", "wb") as f:
        f.write(open(table, "rb").read())
    code, out, err = _train(str(tmp_path / "t.csv.gz"), tmp_path / "run")
    _one_line(code, out, err, 0)
    assert "90" not in err and "training" in out


def test_model_checkpoint_never_replaces_a_file_it_did_not_write(tmp_path):
    from neuronlab.callbacks import ModelCheckpoint

    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    m = nl.Sequential([nl.layers.Dense(2, "softmax", input_dim=3)], seed=0)
    m.compile("categorical_crossentropy", "sgd")
    (tmp_path / "best.safetensors").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        m.fit(X, np.arange(20) % 2, epochs=2, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "best.safetensors",
                                                                                     monitor="loss")])
    assert (tmp_path / "best.safetensors").read_bytes() == b"precious"
    m.fit(X, np.arange(20) % 2, epochs=2, verbose=0,  # its own file, epoch after epoch: fine
          callbacks=[ModelCheckpoint(tmp_path / "new.safetensors", monitor="loss"),
                     ModelCheckpoint(tmp_path / "best.safetensors", monitor="loss", overwrite=True)])
    assert nl.load_checkpoint(tmp_path / "new.safetensors")[1]["epoch"] == 2
    assert nl.load_checkpoint(tmp_path / "best.safetensors")[1]["epoch"] == 2


def test_a_data_file_name_with_escape_codes_is_printed_as_text(tmp_path, table):
    name = tmp_path / "t\x1b[2J\x1b]0;x\x07.csv"
    name.write_bytes(open(table, "rb").read())
    code, out, err = _train(str(name), tmp_path / "run")
    _one_line(code, out, err, 0)
    assert "\x1b" not in out and "\x07" not in out and "t.csv" in out
