"""neuronlab.threads: who decides the BLAS thread count, and that fit/predict/evaluate apply and restore it."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import neuronlab as nl
from neuronlab import threads


@pytest.fixture(autouse=True)
def automatic(monkeypatch):
    """Each test starts in automatic mode with no thread variable set, and leaves it so."""
    for var in (*threads.BLAS_ENV, "NEURONLAB_THREADS"):
        monkeypatch.delenv(var, raising=False)
    threads.set_threads(None)
    yield
    threads.set_threads(None)


def blas_threads_now():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def mlp(seed=0):
    m = nl.Sequential([nl.layers.Dense(64, "relu", input_dim=20), nl.layers.Dense(3, "softmax")], seed=seed)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.1))
    return m


def data(n=256):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 20)).astype(np.float32), rng.integers(0, 3, n)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_set_threads_refuses_non_positive_integers(bad):
    with pytest.raises(ValueError, match=r"^set_threads: n must be a positive integer or None, got"):
        nl.set_threads(bad)


def test_set_threads_wins_over_everything(monkeypatch):
    monkeypatch.setenv("NEURONLAB_THREADS", "3")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    nl.set_threads(2)
    assert threads.get_threads() == 2
    assert threads.choose_threads(1.0) == 2
    nl.set_threads(None)
    assert threads.choose_threads(1.0) == 3  # then the environment variable


@pytest.mark.parametrize("raw", ["0", "two", "1.5", "-2"])
def test_bad_environment_variable_is_named(monkeypatch, raw):
    monkeypatch.setenv("NEURONLAB_THREADS", raw)
    with pytest.raises(ValueError, match=r"^environment variable: NEURONLAB_THREADS must be a positive integer"):
        threads.choose_threads(1e9)


def test_explicit_blas_variable_is_left_alone(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert threads.choose_threads(1e12) is None
    monkeypatch.setenv("NEURONLAB_THREADS", "auto")
    assert threads.choose_threads(1e12) is None


def test_automatic_choice_follows_work_size_and_idle_cores(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(threads, "IDLE_TTL", -1.0)  # read the idle cores at every call
    monkeypatch.setattr(threads, "idle_cores", lambda cores: 3)
    small = threads.MIN_MACS_PER_THREAD - 1
    assert threads.choose_threads(small) == 1
    assert threads.choose_threads(2 * threads.MIN_MACS_PER_THREAD) == 2
    assert threads.choose_threads(100 * threads.MIN_MACS_PER_THREAD) == 3  # one core is taken
    monkeypatch.setattr(threads, "idle_cores", lambda cores: 0)
    assert threads.choose_threads(100 * threads.MIN_MACS_PER_THREAD) == 1


def test_inference_splits_smaller_products(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "_idle_cores_recent", lambda cores: 2)
    macs = (threads.MIN_MACS_INFERENCE + threads.MIN_MACS_PER_THREAD) / 2 * 2
    with threads.blas_threads(macs) as training:
        pass
    with threads.blas_threads(macs, inference=True) as inference:
        pass
    assert (training, inference) == (1, 2)


def test_work_size_is_computed_only_when_automatic(monkeypatch):
    calls = []
    nl.set_threads(1)
    threads.choose_threads(lambda: calls.append(1) or 1e12)
    assert calls == []
    nl.set_threads(None)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    threads.choose_threads(lambda: calls.append(1) or 1.0)
    assert calls == [1]


def test_idle_cores_are_read_again_only_after_the_ttl(monkeypatch):
    reads = []
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "idle_cores", lambda cores: reads.append(cores) or 2)
    monkeypatch.setattr(threads, "IDLE_TTL", 60.0)
    monkeypatch.setattr(threads, "_idle_cache", None)
    for _ in range(5):
        assert threads.choose_threads(1e12) == 2
    assert reads == [2]
    monkeypatch.setattr(threads, "IDLE_TTL", -1.0)
    threads.choose_threads(1e12)
    assert reads == [2, 2]


@pytest.mark.parametrize("line, idle", [("0.50 0.40 0.30 1/100 123\n", 2), ("1.0 1.0 1.0 2/100 123\n", 1),
                                        ("3.0 2.0 1.0 9/100 123\n", 0), ("garbage\n", 2)])
def test_idle_cores_reads_runnable_count(monkeypatch, tmp_path, line, idle):
    path = tmp_path / "loadavg"
    path.write_text(line)
    monkeypatch.setattr(threads, "LOADAVG", str(path))
    monkeypatch.setattr(threads, "SELF_TASKS", str(tmp_path / "no-such-dir"))  # own running: 1, the caller
    assert threads.idle_cores(2, readings=2) == idle


def fake_tasks(folder, states):
    for pid, state in enumerate(states, start=100):
        (folder / str(pid)).mkdir(parents=True)
        (folder / str(pid) / "stat").write_text(f"{pid} (python (worker) {pid}) {state} 1 2 3\n")


def test_own_spinning_threads_are_not_others(monkeypatch, tmp_path):
    (tmp_path / "loadavg").write_text("2.0 1.0 1.0 3/100 123\n")
    monkeypatch.setattr(threads, "LOADAVG", str(tmp_path / "loadavg"))
    monkeypatch.setattr(threads, "SELF_TASKS", str(tmp_path / "task"))
    fake_tasks(tmp_path / "task", ["R", "R", "S"])  # the caller and a BLAS worker run: 1 other
    assert threads._own_running() == 2
    assert threads.idle_cores(2) == 1


def test_usable_cores_is_the_affinity():
    import os
    assert threads.usable_cores() == len(os.sched_getaffinity(0))


def test_batch_macs_counts_the_largest_product():
    m = mlp()
    m.build((20,))
    assert threads.batch_macs(m, 128) == 128 * 20 * 64
    cnn = nl.Sequential([nl.layers.Conv2D(4, 3, input_shape=(6, 6, 2)), nl.layers.Flatten(), nl.layers.Dense(5)])
    cnn.build((6, 6, 2))
    assert threads.batch_macs(cnn, 10) == max(10 * (3 * 3 * 2 * 4) * 4 * 4, 10 * 64 * 5)


class Spy(nl.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_batch_begin(self, batch, logs=None):
        self.seen.append(blas_threads_now())


@pytest.mark.parametrize("n", [1, 2])
def test_fit_predict_evaluate_apply_the_choice_and_restore_it(n):
    before = blas_threads_now()
    X, y = data()
    m = mlp()
    nl.set_threads(n)
    spy = Spy()
    m.fit(X, y, epochs=1, batch_size=64, verbose=0, callbacks=[spy])
    assert spy.seen and all(set(s) == {n} for s in spy.seen)
    assert threads.last_choice() == n
    assert blas_threads_now() == before
    m.predict(X)
    m.evaluate(X, y)
    assert blas_threads_now() == before


def test_small_work_runs_on_one_thread_automatically():
    X, y = data()
    m = mlp()
    spy = Spy()
    m.fit(X, y, epochs=1, batch_size=32, verbose=0, callbacks=[spy])
    assert all(set(s) == {1} for s in spy.seen)
    m.predict(X[:200])  # 200 · 20 · 64 multiply-adds: above BLAS's serial size, below one thread's share
    assert threads.last_choice() == 1


def test_inference_leaves_blas_alone_for_products_blas_runs_serially(monkeypatch):
    """Switching BLAS's count and back costs a one-sample predict more than the product itself."""
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "_idle_cores_recent", lambda cores: 2)
    X, _ = data()
    m = mlp()
    switched = []
    monkeypatch.setattr(threads, "_blas", lambda: switched.append(1))  # called only to change BLAS
    m.predict(X[:1])  # 20 · 64 multiply-adds ≤ BLAS_SERIAL_MACS
    assert threads.last_choice() is None and switched == []
    assert threads.choose_threads(threads.BLAS_SERIAL_MACS, threads.MIN_MACS_INFERENCE,
                                  serial=threads.BLAS_SERIAL_MACS) is None
    assert threads.choose_threads(threads.BLAS_SERIAL_MACS + 1, threads.MIN_MACS_INFERENCE,
                                  serial=threads.BLAS_SERIAL_MACS) == 1
    assert threads.choose_threads(2 * threads.MIN_MACS_INFERENCE, threads.MIN_MACS_INFERENCE,
                                  serial=threads.BLAS_SERIAL_MACS) == 2


def test_results_do_not_depend_on_the_thread_count():
    X, y = data(512)
    outs = []
    for n in (1, 2):
        nl.set_threads(n)
        m = mlp(seed=3)
        m.fit(X, y, epochs=2, batch_size=128, verbose=0)
        outs.append(m.predict(X))
    np.testing.assert_allclose(outs[0], outs[1], rtol=0, atol=1e-6)
