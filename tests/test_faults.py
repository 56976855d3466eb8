"""Faults: SIGKILL during checkpointing, a full disk, NaN/inf in training, and determinism."""

import errno
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import neuronlab as nl
from neuronlab.callbacks import Callback
from neuronlab.checkpoint import Checkpoint
from neuronlab.io import ModelFileError

# -- SIGKILL at random moments during checkpointing --------------------------------------------------
_TRAINER = textwrap.dedent("""
    import sys
    import numpy as np
    import neuronlab as nl
    from neuronlab.callbacks import Callback
    from neuronlab.checkpoint import Checkpoint

    def setup():
        rng = np.random.default_rng(0)
        X = rng.normal(size=(64, 16)).astype(np.float32)
        y = (X[:, :4].argmax(1)).astype(int)
        m = nl.Sequential([nl.layers.Dense(256, "relu", input_dim=16), nl.layers.Dropout(0.1),
                           nl.layers.Dense(256, "relu"), nl.layers.Dense(4, "softmax")], seed=0)
        m.compile("categorical_crossentropy", nl.optimizers.get("adam", lr=1e-3))
        return m, X, y

    class Ready(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                print("ready", flush=True)

    if __name__ == "__main__" and sys.argv[2] == "train":
        m, X, y = setup()
        # one batch per epoch: checkpoint writes (~1 MB with Adam's state) take much of the loop
        m.fit(X, y, epochs=10**6, batch_size=64, verbose=0, callbacks=[Checkpoint(sys.argv[1]), Ready()])
    elif __name__ == "__main__":  # nothing but saves: a kill almost always lands inside one
        m, X, y = setup()
        m.fit(X, y, epochs=1, batch_size=64, verbose=0)
        for i in range(10**6):
            for p in m.params():
                p.value[...] = i
            nl.save_model(m, sys.argv[1], extra={"i": i})
            if i == 0:
                print("ready", flush=True)
""")


def _fingerprint(model) -> str:
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(w.tobytes())
    for k, v in sorted(model.optimizer.state_dict().items()):
        h.update(k.encode() + np.asarray(v).tobytes())
    h.update(json.dumps(model.rng.bit_generator.state).encode())
    return h.hexdigest()


class _Reference:
    """The uninterrupted run, epoch by epoch, computed here: what checkpoint k must hold."""

    def __init__(self, module):
        self.model, self.X, self.y = module.setup()
        self.prints: list[str] = []

    def at(self, epoch: int) -> str:
        while len(self.prints) <= epoch:
            self.model.fit(self.X, self.y, epochs=len(self.prints) + 1, initial_epoch=len(self.prints),
                           batch_size=64, verbose=0)
            self.prints.append(_fingerprint(self.model))
        return self.prints[epoch]


def _kill_during_checkpointing(tmp_path, n_kills, seed):
    """Kill (SIGKILL) a process that checkpoints in a loop, ``n_kills`` times at random moments;
    after each kill the checkpoint must load (checksum verified) and be exactly one of the
    states the process saved. Half the kills hit a training run (its checkpoint must equal
    that epoch of the uninterrupted run), half a loop doing nothing but saves."""
    script = tmp_path / "trainer.py"
    script.write_text(_TRAINER)
    sys.path.insert(0, str(tmp_path))
    try:
        import trainer
    finally:
        sys.path.remove(str(tmp_path))
    reference = _Reference(trainer)
    rng = np.random.default_rng(seed)
    epochs, mid_write = [], {"train": 0, "saves": 0}
    for k in range(n_kills):
        mode = ("train", "saves")[k % 2]
        path = tmp_path / f"{mode}.safetensors"
        proc = subprocess.Popen([sys.executable, str(script), str(path), mode], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(float(rng.uniform(0.0, 0.15)))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        temps = [n for n in os.listdir(tmp_path) if n.startswith(f".{mode}.safetensors.") and n.endswith(".tmp")]
        assert len(temps) <= 1  # the previous killed writer's temp was removed by the next save
        mid_write[mode] += len(temps) == 1
        model, extra = nl.load_checkpoint(path)  # never corrupt: loads, checksum verified ...
        if mode == "train":  # ... and is exactly epoch k of the uninterrupted run
            assert _fingerprint(model) == reference.at(extra["epoch"])
            epochs.append(extra["epoch"])
        else:  # ... and is exactly save number i
            assert all(np.all(w == extra["i"]) for w in model.get_weights())
    for mode in ("train", "saves"):
        nl.io.save_model(model, tmp_path / f"{mode}.safetensors")  # a successful save cleans what kills left
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    print(f"\n{n_kills} SIGKILLs: every checkpoint loaded and was exactly a saved state (training checkpoints "
          f"= epochs {min(epochs)}-{max(epochs)} of the uninterrupted run); kills inside a write (temp file left, "
          f"removed by the next save): {mid_write['train']}/{(n_kills + 1) // 2} while training, "
          f"{mid_write['saves']}/{n_kills // 2} in the save loop")
    return mid_write


def test_sigkill_during_checkpointing_never_leaves_a_corrupt_checkpoint(tmp_path):
    _kill_during_checkpointing(tmp_path, 16, seed=0)  # (where each kill lands is up to timing: printed only)


@pytest.mark.slow
def test_100_sigkills_during_checkpointing(tmp_path):
    mid_write = _kill_during_checkpointing(tmp_path, 100, seed=1)
    assert mid_write["saves"] >= 1  # some kills did land inside a write


# -- disk full -----------------------------------------------------------------------------------
def _model():
    m = nl.Sequential([nl.layers.Dense(64, "relu", input_dim=8), nl.layers.Dense(3, "softmax")], seed=0)
    m.compile("categorical_crossentropy", "adam")
    return m


@pytest.mark.parametrize("fail", ["write", "second-write", "fsync", "replace"])
def test_a_failed_write_leaves_the_previous_file_byte_identical(tmp_path, monkeypatch, fail):
    path = tmp_path / "m.safetensors"
    m = _model()
    m.save(path)
    before = path.read_bytes()
    m.layers[0].W.value += 1.0  # the next save would differ
    calls = {"n": 0}
    real_write = os.write

    def full_disk(*args, **kwargs):
        calls["n"] += 1
        if fail == "second-write" and calls["n"] == 1:
            return real_write(args[0], bytes(args[1])[:100])  # a short write: the loop writes the rest
        raise OSError(errno.ENOSPC, "No space left on device")

    target = {"write": "write", "second-write": "write", "fsync": "fsync", "replace": "replace"}[fail]
    with monkeypatch.context() as mp:
        mp.setattr(os, target, full_disk)
        with pytest.raises(OSError) as e:
            m.save(path)
    assert e.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]  # no temporary file left behind
    nl.load_model(path)


def test_a_full_disk_during_fit_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    m = _model()
    X = np.random.default_rng(0).normal(size=(32, 8)).astype(np.float32)
    y = np.arange(32) % 3

    class DiskFills(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                monkeypatch.setattr(os, "fsync", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))

    with pytest.raises(OSError):
        m.fit(X, y, epochs=4, verbose=0, callbacks=[DiskFills(), Checkpoint(str(path))])
    monkeypatch.undo()
    _, extra = nl.load_checkpoint(path)
    assert extra["epoch"] == 1 and os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_stale_temporaries_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    path = tmp_path / "m.safetensors"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".m.safetensors.{int(dead.stdout)}.abc123.tmp"
    live = tmp_path / f".m.safetensors.{os.getppid()}.def456.tmp"  # a running process (our parent)
    other = tmp_path / ".other.safetensors.1.x.tmp"
    for p in (stale, live, other):
        p.write_bytes(b"half a model")
    _model().save(path)
    assert not stale.exists() and live.exists() and other.exists()


def test_saved_files_get_ordinary_permissions(tmp_path):
    path = tmp_path / "m.safetensors"
    _model().save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert (os.stat(path).st_mode & 0o777) == (0o666 & ~umask)
    os.chmod(path, 0o600)
    _model().save(path)
    assert (os.stat(path).st_mode & 0o777) == 0o600  # a replaced file keeps its permissions


# -- numerical faults ------------------------------------------------------------------------------
class _Snapshots(Callback):
    def on_batch_end(self, batch, logs=None):
        self.last = self.model.get_weights()


def test_a_non_finite_loss_stops_in_that_batch_with_one_clear_message():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32)
    m = nl.Sequential([nl.layers.Dense(8, "relu", input_dim=4), nl.layers.Dense(1)], seed=0)
    m.compile(loss="mse", optimizer=nl.optimizers.SGD(lr=1e3))
    snap = _Snapshots()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(nl.NonFiniteError) as e:
            m.fit(X * 100, X[:, 0] * 1e3, epochs=50, batch_size=8, verbose=0, callbacks=[snap])
    assert caught == []  # no RuntimeWarning (overflow, invalid value) reaches the user: one error only
    err = e.value
    msg = str(err)
    assert msg.startswith(f"training diverged at epoch {err.epoch}, batch {err.batch}/8: loss = ")
    assert "lr = 1000.0" in msg and f"gradient norm = {err.grad_norm}" in msg
    assert not np.isfinite(err.loss) and err.lr == 1000.0
    assert f"first went non-finite in layer {err.layer!r}" in msg and err.layer in ("dense_1", "dense_2")
    # stopped in that batch, before its update: the weights are those after the previous batch
    assert all(np.array_equal(a, b) for a, b in zip(snap.last, m.get_weights()))
    assert all(np.isfinite(w).all() for w in m.get_weights())


def test_a_gradient_overflow_names_the_first_layer_it_reached():
    # the loss is finite, the output layer's gradient too; ∂C/∂W of the first layer overflows
    m = nl.Sequential([nl.layers.Dense(4, input_dim=2), nl.layers.Dense(1)], seed=0)
    m.compile("mse", nl.optimizers.SGD(lr=0.1))
    W1, B1, W2, B2 = m.get_weights()
    m.set_weights([np.full_like(W1, 1e-30), B1, np.full_like(W2, 1e25), B2])
    before = m.get_weights()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would surface as an exception here
        with pytest.raises(nl.NonFiniteError, match=r"epoch 1, batch 1/1: loss = [0-9.e+]+, lr = 0.1, gradient "
                                                    r"norm = inf; the gradient first went non-finite in layer "
                                                    r"'dense_1'") as e:
            m.fit(np.full((8, 2), 1e15, np.float32), np.zeros(8), epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(e.value.loss) and e.value.layer == "dense_1"
    assert np.isfinite(m.layers[1].W.grad).all()
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))


def test_no_checkpoint_ever_holds_nan(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    m = nl.Sequential([nl.layers.Dense(8, "relu", input_dim=4), nl.layers.Dense(1)], seed=0)
    m.compile(loss="mse", optimizer=nl.optimizers.SGD(lr=0.1))
    with pytest.raises(nl.NonFiniteError) as e:  # diverges in epoch 3
        m.fit(X, X[:, 0] * 10, epochs=50, batch_size=8, verbose=0, callbacks=[Checkpoint(str(path))])
    assert e.value.epoch == 3
    m2, extra = nl.load_checkpoint(path)  # the last completed epoch, all finite
    assert extra["epoch"] == 1 and all(np.isfinite(w).all() for w in m2.get_weights())
    # weights that are NaN (set by hand: training never applies such an update) are refused
    before = path.read_bytes()
    m.layers[0].W.value[0, 0] = np.nan
    ck = Checkpoint(str(path))
    ck.set_model(m)
    with pytest.raises(nl.NonFiniteError, match="'params/dense_1/W' holds NaN or inf; refusing to write"):
        ck.on_epoch_end(0, {})
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.safetensors"]
    # and so is a NaN in the optimizer state
    m = nl.Sequential([nl.layers.Dense(8, "relu", input_dim=4), nl.layers.Dense(1)], seed=0)
    m.compile(loss="mse", optimizer="adam")
    m.fit(X, X[:, 0], epochs=1, verbose=0)
    m.optimizer.state["dense_1/W"]["exp_avg"][0, 0] = np.nan
    with pytest.raises(nl.NonFiniteError, match="exp_avg' holds NaN"):
        m.save(path)
    assert path.read_bytes() == before


def test_the_cli_reports_divergence_in_one_line_and_keeps_a_finite_checkpoint(tmp_path):
    (X, y), _ = nl.datasets.load_mnist(flatten=False, scale=False, dtype=np.uint8)
    data = tmp_path / "data"
    data.mkdir()
    nl.datasets.write_idx(str(data / "train-images-idx3-ubyte.gz"), X[:500])
    nl.datasets.write_idx(str(data / "train-labels-idx1-ubyte.gz"), y[:500])
    r = subprocess.run([sys.executable, "-W", "always", "-m", "neuronlab", "train", "--data", str(data), "--layers",
                        "32", "--activation", "linear", "--optimizer", "sgd", "--lr", "1e3", "--schedule", "constant",
                        "--epochs", "3", "--batch-size", "128", "--no-progress", "--out",
                        str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: training diverged at epoch 2, batch "), r.stderr
    assert "gradient norm = " in lines[0] and "first went non-finite in layer 'dense_" in lines[0]
    assert "Warning" not in r.stdout + r.stderr and "Traceback" not in r.stderr
    model, extra = nl.load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert extra["epoch"] == 0 and all(np.isfinite(w).all() for w in model.get_weights())


def test_a_diverged_model_predicts_and_evaluates_without_runtime_warnings():
    """Weights that overflow float32 give inf/nan outputs and loss, and no RuntimeWarning on the terminal."""
    m = nl.Sequential([nl.layers.Dense(4, "linear", input_dim=3), nl.layers.Dense(2, "softmax")], seed=0)
    m.compile("categorical_crossentropy", "sgd")
    m.set_weights([np.full((3, 4), 1e30), np.zeros(4), np.full((4, 2), 1e30), np.zeros(2)])
    X = np.ones((5, 3), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P = m.predict(X)
        logs = m.evaluate(X, np.zeros(5, int))
    assert not np.isfinite(P).all() and not math.isfinite(logs["loss"])


# -- determinism ------------------------------------------------------------------------------------
def _run(seed, tmp_path):
    X, y = nl.datasets.make_moons(300, noise=0.2, seed=1)
    m = nl.Sequential([nl.layers.Dense(32, "relu", input_dim=2), nl.layers.Dropout(0.3),
                       nl.layers.Dense(32, "tanh"), nl.layers.Dense(2, "softmax")], seed=seed)
    m.compile("categorical_crossentropy", nl.optimizers.get("adam", lr=0.01), ["accuracy"])
    h = m.fit(X, y, epochs=5, batch_size=16, verbose=0, validation_split=0.2)
    path = tmp_path / f"run-{seed}.safetensors"
    m.save(path)
    # (the safetensors library writes the metadata entries in hash-map order, so compare the
    # content: the checksum covers every tensor and metadata entry, not their layout)
    tensors, meta = nl.io.read_safetensors(path)
    return meta["checksum"], b"".join(t.tobytes() for _, t in sorted(tensors.items())), m.predict(X).tobytes(), \
        json.dumps(h.history)


def test_five_runs_with_one_seed_are_bit_identical_and_another_seed_differs(tmp_path):
    assert os.environ.get("OPENBLAS_NUM_THREADS") == "1"  # BLAS pinned to one thread (conftest)
    runs = [_run(7, tmp_path) for _ in range(5)]
    assert all(r == runs[0] for r in runs[1:])  # weights, optimizer and RNG state (the file), predictions, history
    other = _run(8, tmp_path)
    assert all(a != b for a, b in zip(other, runs[0]))


_LEGACY = ["seed", "set_state", "rand", "randn", "randint", "random", "random_sample", "ranf", "sample", "normal",
           "uniform", "standard_normal", "shuffle", "permutation", "choice", "binomial", "bytes"]


def test_nothing_touches_numpys_global_random_state(tmp_path, monkeypatch):
    state = np.random.get_state()

    def forbidden(*a, **k):
        raise AssertionError("the global NumPy random state was used")

    for name in _LEGACY:
        monkeypatch.setattr(np.random, name, forbidden)
    X, y = nl.datasets.make_moons(200, noise=0.2, seed=1)
    nl.datasets.make_spirals(90, n_classes=3, seed=2)
    nl.datasets.make_blobs(90, seed=3)
    (Xtr, ytr), (Xva, yva) = nl.datasets.train_val_split(X, y, 0.2, seed=4)
    m = nl.Sequential([nl.layers.Dense(16, "relu", input_dim=2), nl.layers.Dropout(0.2),
                       nl.layers.Dense(2, "softmax")], seed=None)  # OS entropy, not the global state
    m.compile("categorical_crossentropy", "adam", ["accuracy"])
    m.fit(Xtr, ytr, epochs=2, batch_size=32, verbose=0, validation_data=(Xva, yva),
          callbacks=[Checkpoint(str(tmp_path / "c.safetensors"))])
    m.predict(X)
    m.evaluate(X, y)
    m.save(tmp_path / "m.safetensors")
    nl.load_model(tmp_path / "m.safetensors")
    nl.load_checkpoint(tmp_path / "c.safetensors")
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,x\n3,4,y\n")
    nl.datasets.read_csv(tmp_path / "d.csv")
    nl.datasets.write_idx(str(tmp_path / "x.idx.gz"), np.arange(6, dtype=np.uint8).reshape(2, 3))
    nl.datasets.read_idx(tmp_path / "x.idx.gz")
    nl.datasets.load_mnist(flatten=True, scale=True)
    monkeypatch.undo()
    after = np.random.get_state()
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2:] == state[2:]


def test_a_hostile_file_never_reaches_the_global_random_state(tmp_path, monkeypatch):
    monkeypatch.setattr(np.random, "seed", lambda *a: (_ for _ in ()).throw(AssertionError("global seed")))
    m = _model()
    m.save(tmp_path / "m.safetensors")
    tensors, meta = nl.io.read_safetensors(tmp_path / "m.safetensors")
    meta["rng"] = json.dumps({"bit_generator": "PCG64", "state": {"state": -1, "inc": 2**200}})
    nl.io.write_safetensors(tmp_path / "bad.safetensors", tensors, meta)
    with pytest.raises(ModelFileError, match="invalid RNG state"):
        nl.load_model(tmp_path / "bad.safetensors")
