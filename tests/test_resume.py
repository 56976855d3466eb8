"""Checkpoints and --resume: an interrupted run, resumed, ends bit-identical to an uninterrupted one."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

import neuronlab as nl
from neuronlab.callbacks import Callback
from neuronlab.cli import main
from neuronlab.runs import resolve_config, run_training

MNIST_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "mnist")
if not os.path.isdir(MNIST_DIR):
    MNIST_DIR = nl.datasets.mnist.mnist_dir()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    (X, y), (Xt, yt) = nl.datasets.load_mnist(MNIST_DIR, flatten=False, scale=False, dtype=np.uint8)
    folder = tmp_path_factory.mktemp("data") / "small"
    os.makedirs(folder)
    for name, a in (("train-images-idx3-ubyte.gz", X[:1000]), ("train-labels-idx1-ubyte.gz", y[:1000]),
                    ("t10k-images-idx3-ubyte.gz", Xt[:200]), ("t10k-labels-idx1-ubyte.gz", yt[:200])):
        nl.datasets.write_idx(str(folder / name), a)
    return str(folder)


class CtrlC(Callback):
    """Send SIGINT to this process (what Ctrl-C does) at a given epoch and batch."""

    def __init__(self, epoch, batch, times=1):
        super().__init__()
        self.at, self.times, self.epoch = (epoch, batch), times, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            for _ in range(self.times):
                signal.raise_signal(signal.SIGINT)


def _same_run(a, b):
    ma, mb = nl.load_model(os.path.join(a, "model.safetensors")), nl.load_model(os.path.join(b, "model.safetensors"))
    for wa, wb in zip(ma.get_weights(), mb.get_weights()):
        assert np.array_equal(wa, wb)
    ha = json.load(open(os.path.join(a, "history.json")))
    hb = json.load(open(os.path.join(b, "history.json")))
    assert {k: v for k, v in ha.items() if k != "time_s"} == {k: v for k, v in hb.items() if k != "time_s"}
    assert len(ha["time_s"]) == len(hb["time_s"])


@pytest.mark.parametrize("options", [{"optimizer": "adam"}, {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9}])
def test_ctrl_c_then_resume_equals_uninterrupted(tmp_path, small, options):
    cfg = resolve_config({"data": small, "layers": [32], "epochs": 4, "batch_size": 64, "dropout": 0.3, **options})
    quiet = {"echo": lambda *a: None, "progress": False}
    full, cut = str(tmp_path / "full"), str(tmp_path / "cut")
    os.makedirs(full)
    os.makedirs(cut)
    run_training(dict(cfg), full, **quiet)
    s = run_training(dict(cfg), cut, callbacks=[CtrlC(epoch=2, batch=3)], **quiet)
    assert s["interrupted"] and s["epochs_done"] == 2
    _, extra = nl.load_checkpoint(os.path.join(cut, "checkpoint.safetensors"))
    assert extra["epoch"] == 1 and len(extra["history"]["loss"]) == 2  # the cut epoch is not checkpointed
    assert os.path.isfile(os.path.join(cut, "interrupted.safetensors"))
    assert not os.path.exists(os.path.join(cut, "model.safetensors"))
    s = run_training(dict(cfg), cut, resume=True, **quiet)
    assert not s["interrupted"]
    _same_run(full, cut)


def test_ctrl_c_in_the_first_epoch_and_twice(tmp_path, small):
    cfg = resolve_config({"data": small, "layers": [8], "epochs": 2})
    lines = []
    s = run_training(dict(cfg), str(tmp_path), callbacks=[CtrlC(0, 1)], echo=lines.append, progress=False)
    assert s["interrupted"] and s["epochs_done"] == 0
    assert any("nothing to resume" in line for line in lines)
    with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C stops at once
        run_training(dict(cfg), str(tmp_path / "b"), callbacks=[CtrlC(0, 1, times=2)], echo=lines.append,
                     progress=False)


def test_resume_with_more_epochs_equals_the_longer_run(tmp_path, small):
    def train(*args):
        r = CliRunner().invoke(main, ["train", "--data", small, "--layers", "16", "--no-progress",
                                      "--schedule", "constant", *map(str, args)])
        assert r.exit_code == 0, r.stderr
        return r.stdout

    train("--epochs", "3", "--out", tmp_path / "long")
    train("--epochs", "1", "--out", tmp_path / "short")
    out = train("--resume", tmp_path / "short", "--epochs", "3")
    assert "resuming" in out and "Epoch 2/3" in out and "Epoch 1/3" not in out
    _same_run(tmp_path / "long", tmp_path / "short")
    out = train("--resume", tmp_path / "short", "--epochs", "3")  # nothing left to do: same result
    assert "Epoch" not in out.split("resuming")[1]
    _same_run(tmp_path / "long", tmp_path / "short")


def test_a_cosine_run_keeps_its_length(tmp_path, small):
    r = CliRunner().invoke(main, ["train", "--data", small, "--layers", "8", "--epochs", "1", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.stderr
    r = CliRunner().invoke(main, ["train", "--resume", str(tmp_path), "--epochs", "2"])
    assert r.exit_code == 2 and "cannot change epochs" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_sigint_to_a_subprocess_then_resume(tmp_path, small):
    args = [sys.executable, "-m", "neuronlab", "train", "--data", small, "--layers", "64", "--epochs", "40",
            "--no-progress"]
    proc = subprocess.Popen([*args, "--out", "cut"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    ckpt = tmp_path / "cut" / "checkpoint.safetensors"
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in out + err and "Interrupted during epoch" in out
    assert f"neuronlab train --resume {os.path.join('cut', '')[:-1]}" in out
    nl.load_model(tmp_path / "cut" / "interrupted.safetensors")
    r = subprocess.run([sys.executable, "-m", "neuronlab", "train", "--resume", "cut", "--no-progress"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([*args, "--out", "full"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    _same_run(tmp_path / "full", tmp_path / "cut")
