"""``neuronlab tune`` end to end on Ray Tune: a tiny sweep, its files, a diverging trial, bad addresses.

The default tests run one sweep (3 trials, 2 epochs, 400 MNIST samples) on an embedded Ray with
2 CPUs, started and stopped in a fixture. The slow ones kill -9 a sweep and resume it, and run a
sweep on a two-node Ray cluster started on this machine.
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

import neuronlab as nl
from neuronlab.cli import main
from neuronlab.runs import UsageError

ray = pytest.importorskip("ray")  # the tune extra is in the test extra; this only names the dependency


def small_data(folder, mnist, n_train=400, n_test=200):
    """A few hundred MNIST samples as 8-bit images in an .npz (a path any trial and train can read)."""
    (X, y), (Xt, yt) = mnist
    path = os.path.join(folder, "small.npz")
    np.savez(path, x_train=np.round(X[:n_train] * 255).astype(np.uint8), y_train=y[:n_train],
             x_test=np.round(Xt[:n_test] * 255).astype(np.uint8), y_test=yt[:n_test])
    return path


def tiny_sweep(data, trials=3, epochs=2, diverge=True):
    sweep = {"train": {"data": data, "epochs": epochs, "batch_size": 32, "layers": "32"},
             "search": {"lr": {"loguniform": [1e-3, 0.1]}, "layers": {"choice": ["32", "64,32"]},
                        "optimizer": {"choice": ["adam", "sgd"]}, "momentum": {"uniform": [0.5, 0.9]}},
             "tune": {"trials": trials}}
    if diverge:  # tried first: η = 10¹² makes the loss non-finite in the first epoch
        sweep["points"] = [{"lr": 1e12, "optimizer": "sgd", "layers": "32"}]
    return sweep


@pytest.fixture(scope="module")
def swept(tmp_path_factory, mnist):
    """One tiny sweep on an embedded Ray (2 CPUs) started here and shut down after the sweep."""
    folder = tmp_path_factory.mktemp("tune")
    data = small_data(folder, mnist)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        lines = []
        res = nl.tune.run(tiny_sweep(data), out=folder / "sweep", echo=lines.append)
        node = ray.get_runtime_context().get_node_id()
    finally:
        ray.shutdown()
    return res, lines, node, data


def test_table_lists_every_trial_best_first_with_how_it_ended(swept):
    res, lines, node, _ = swept
    assert len(res.records) == 3
    values = [t.value for t in res.records if t.value is not None]
    assert values == sorted(values, reverse=True) and res.best.value == values[0]
    for t in res.records:
        assert t.status in ("completed", "stopped by ASHA", "failed")
        if t.status != "failed":
            assert (t.status == "stopped by ASHA") == (t.epochs_run < t.epochs) and t.epochs == 2
            assert t.node_id == node and t.blas_threads == 1  # threadpoolctl held BLAS to the trial's CPU
            assert len(t.history["val_accuracy"]) == t.epochs_run
    table = res.table()
    assert table[0].split()[:6] == ["rank", "trial", "val_accuracy", "epochs", "status", "node"]
    assert any(f"{res.best.value:.4f}" in line for line in lines)  # the table was printed
    with open(res.files["table"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["trial"] for r in rows] == [str(t.number) for t in res.records]


def test_a_diverging_trial_is_recorded_as_failed_with_its_message_and_the_sweep_goes_on(swept):
    res, lines, _, _ = swept
    failed = [t for t in res.records if t.status == "failed"]
    assert len(failed) == 1 and failed[0] is res.records[-1] and failed[0].params["lr"] == 1e12
    assert failed[0].error.startswith("NonFiniteError: training diverged at epoch 1")
    assert sum(t.value is not None for t in res.records) == 2  # the two trials after it ran
    assert any("failed: NonFiniteError: training diverged" in line for line in lines)
    saved = json.loads(open(res.files["results"]).read())
    assert saved["trials"][-1]["status"] == "failed" and "NonFiniteError" in saved["trials"][-1]["error"]


def test_best_toml_reruns_with_neuronlab_train_and_reproduces_the_best_trial(swept, tmp_path):
    res, _, _, data = swept
    best_toml = res.files["best_toml"]
    text = open(best_toml).read()
    assert f'data = "{data}"' in text and "val_split = 0.1" in text
    r = CliRunner().invoke(main, ["train", "--config", best_toml, "--out", str(tmp_path / "rerun"), "--no-progress"],
                           prog_name="neuronlab")
    assert r.exit_code == 0, r.output
    history = json.loads((tmp_path / "rerun" / "history.json").read_text())
    if res.best.status == "completed":  # same data, split, seed, schedule and one BLAS thread: same numbers
        assert history["val_accuracy"][-1] == pytest.approx(res.best.value, abs=1e-9)
    assert history["val_accuracy"][: res.best.epochs_run] == pytest.approx(res.best.history["val_accuracy"], abs=1e-9)


def test_best_model_file_is_evaluated_once_on_the_test_set(swept):
    res, _, _, data = swept
    model, extra = nl.load_checkpoint(res.files["best_model"])
    z = np.load(data)
    test = model.evaluate(z["x_test"].reshape(len(z["x_test"]), -1) / np.float32(255), z["y_test"])
    assert extra["test"]["accuracy"] == pytest.approx(test["accuracy"]) == pytest.approx(res.test["accuracy"])
    assert extra["config"]["lr"] == pytest.approx(res.best.params["lr"])


def test_trials_never_see_the_test_set(tmp_path, mnist):
    from neuronlab.tune.space import read_sweep
    from neuronlab.tune.trainable import prepare_data

    data = small_data(tmp_path, mnist)
    bundle, (X_test, _) = prepare_data(read_sweep(tiny_sweep(data)).fixed)
    assert len(bundle["X"]) + len(bundle["Xv"]) == 400 and len(X_test) == 200
    train_rows = {r.tobytes() for r in np.concatenate([bundle["X"], bundle["Xv"]])}
    assert not any(r.tobytes() in train_rows for r in X_test)


def test_figures_are_written(swept):
    res = swept[0]
    for key in ("curves", "importance"):
        with open(res.files[key], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_address_fails_fast_in_one_line(tmp_path, mnist):
    data = small_data(tmp_path, mnist)
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(f'[train]\ndata = "{data}"\n[search]\nlr = {{loguniform = [1e-3, 0.1]}}\n')
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "neuronlab", "tune", "--config", str(cfg), "--out",
                        str(tmp_path / "o"), "--address", f"127.0.0.1:{_closed_port()}"],
                       capture_output=True, text=True, timeout=60)
    assert time.monotonic() - t0 < 30
    assert p.returncode == 1
    assert p.stderr.strip().count("\n") == 0 and "no Ray cluster answers there" in p.stderr, p.stderr


def test_a_listener_that_is_not_ray_fails_within_the_timeout_in_one_line():
    with socket.socket() as silent:  # accepts TCP connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        code = ("import sys, time; from neuronlab.tune.run import connect; t = time.monotonic()\n"
                "try:\n    connect(sys.argv[1], timeout=4)\nexcept ConnectionError as e:\n"
                "    print(f'{time.monotonic() - t:.1f}', e)")
        p = subprocess.run([sys.executable, "-c", code, f"127.0.0.1:{silent.getsockname()[1]}"],
                           capture_output=True, text=True, timeout=60)
    seconds, message = p.stdout.split(" ", 1)
    assert float(seconds) < 10 and message.startswith("--address 127.0.0.1:"), p.stdout
    assert "within 4 s" in message or "could not join the Ray cluster" in message
    assert p.stderr == "", p.stderr


def test_cli_refuses_zero_trials_and_names_the_extra_without_ray(tmp_path):
    r = CliRunner().invoke(main, ["tune", "--config", "examples/sweep.toml", "--trials", "0"], prog_name="neuronlab")
    assert r.exit_code == 2 and "'--trials': 0 is not in the range x>=1" in r.output
    code = ("import sys; sys.modules['ray'] = None; sys.modules['optuna'] = None\n"
            "from neuronlab.cli import main; main(['tune', '--config', sys.argv[1]])")
    p = subprocess.run([sys.executable, "-c", code, "examples/sweep.toml"], capture_output=True, text=True,
                       cwd=os.path.join(os.path.dirname(__file__), ".."))
    assert p.returncode == 1
    assert p.stderr.strip() == 'error: neuronlab tune needs Ray Tune and Optuna: pip install "neuronlab[tune]"'


def test_resume_refuses_a_folder_without_a_sweep_and_extra_options(tmp_path):
    with pytest.raises(UsageError, match="holds no sweep to resume"):
        nl.tune.run(resume=tmp_path)
    with pytest.raises(UsageError, match="leave out --config, --out and the sweep settings"):
        nl.tune.run("examples/sweep.toml", resume=tmp_path)
    with pytest.raises(UsageError, match="--num-cpus sizes the Ray started here"):
        nl.tune.run("examples/sweep.toml", address="auto", num_cpus=2)


# -- slow: faults and scale-out ---------------------------------------------------------------------


def _kill_session(proc) -> None:
    """SIGKILL the processes left in the session we started ``proc`` in (Ray's own, if it left any)."""
    out = subprocess.run(["ps", "-o", "pid=", "-s", str(proc.pid)], capture_output=True, text=True).stdout
    for pid in (int(p) for p in out.split()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.slow
def test_kill_9_then_resume_finishes_without_rerunning_completed_trials(tmp_path, mnist):
    data = small_data(tmp_path, mnist)
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(f'[train]\ndata = "{data}"\nepochs = 3\nbatch_size = 16\n'
                   '[search]\nlr = {loguniform = [1e-3, 0.1]}\nlayers = {choice = ["32", "64"]}\n'
                   '[tune]\ntrials = 5\ngrace_period = 3\n')
    out = tmp_path / "sweep"
    args = [sys.executable, "-m", "neuronlab", "tune", "--config", str(cfg), "--out", str(out), "--num-cpus", "1"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    seen = []
    try:
        for line in proc.stdout:  # wait for two trials to complete, then kill -9 the tune process
            seen.append(line)
            if sum(line.startswith("trial ") for line in seen) == 2:
                time.sleep(2.5)  # Tune saves its experiment state every second
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=60)
    finally:
        _kill_session(proc)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    done_before = {}
    for d in (out / "experiment").iterdir():
        result = d / "result.json"
        if result.is_file() and len(result.read_text().splitlines()) == 3:
            done_before[d.name] = result.read_text()
    assert len(done_before) >= 2 and not (out / "trials.csv").exists()

    p = subprocess.run([sys.executable, "-m", "neuronlab", "tune", "--resume", str(out), "--num-cpus", "1"],
                       capture_output=True, text=True, timeout=300, start_new_session=True)
    assert p.returncode == 0, p.stdout + p.stderr
    rows = list(csv.DictReader(open(out / "trials.csv", newline="")))
    assert len(rows) == 5 and all(r["val_accuracy"] for r in rows)
    for name, text in done_before.items():  # completed trials were kept as they were, not run again
        assert (out / "experiment" / name / "result.json").read_text() == text
    trial_dirs = [d for d in (out / "experiment").iterdir() if d.is_dir()]
    assert len(trial_dirs) == 5
    assert sum(line.startswith("trial ") for line in p.stdout.splitlines()) == 5 - len(done_before)


@pytest.mark.slow
def test_a_sweep_by_address_runs_trials_on_both_nodes_of_a_two_node_cluster(tmp_path, mnist):
    from ray.cluster_utils import Cluster

    data = small_data(tmp_path, mnist)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]} if ray.is_initialized() else None
        sweep = tiny_sweep(data, trials=4, epochs=2, diverge=False)
        sweep["tune"]["grace_period"] = 2  # every trial runs both epochs: long enough to overlap
        res = nl.tune.run(sweep, out=tmp_path / "sweep", address=cluster.address, echo=lambda m: None)
        assert not ray.is_initialized()  # run() joined the cluster and left it
        ray.init(address=cluster.address)
        nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        ray.shutdown()
    finally:
        cluster.shutdown()
    used = {t.node_id for t in res.records}
    assert len(nodes) == 2 and used == nodes, (used, nodes)
