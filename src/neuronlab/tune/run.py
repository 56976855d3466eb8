"""``nl.tune.run``: a sweep on Ray Tune, Optuna's TPE proposing trials and ASHA stopping bad ones.

Ray starts inside this process by default (``ray.init(num_cpus=...)``); ``address="auto"`` or
``"HOST:PORT"`` joins a running cluster instead (``ray start --head`` / ``ray start
--address``), failing within 30 s with one line when nothing answers. Ray Tune checkpoints the
experiment in ``out/experiment`` every second, so ``run(resume=out)`` after a crash or a
``kill -9`` finishes the sweep without rerunning completed trials.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import warnings

from ..runs.config import UsageError, new_run_dir
from ..validation import Instance, Integer, NoneOr, Options, check
from .space import Sweep, check_settings, read_sweep

__all__ = ["run", "connect", "EXPERIMENT", "SWEEP_FILE", "CONNECT_TIMEOUT_S", "EXTRA_HINT"]

EXPERIMENT = "experiment"  # Ray Tune's experiment folder inside the output folder
SWEEP_FILE = "sweep.json"  # the resolved sweep, read back by --resume
CONNECT_TIMEOUT_S = 30.0
EXTRA_HINT = 'neuronlab tune needs Ray Tune and Optuna: pip install "neuronlab[tune]"'


def _require_extra():
    try:
        import optuna  # noqa: F401
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    except ImportError:
        raise ImportError(EXTRA_HINT, name="ray") from None


def run(config=None, *, trials=None, metric=None, mode=None, cpus_per_trial=None, out=None, address=None,
        resume=None, num_cpus=None, search="tpe", early_stopping=True, echo=print):
    """Run a sweep; return its :class:`~neuronlab.tune.results.SweepResults` (also written to ``out``).

    Parameters
    ----------
    config : path or dict
        The sweep (see :mod:`neuronlab.tune.space`); not with ``resume``.
    trials, metric, mode, cpus_per_trial
        Override the sweep's ``[tune]`` settings (default 16 trials, ``val_accuracy``, max, 1 CPU).
    out : path, optional
        Output folder [``runs/tune/<date-time>``]; it must not hold a sweep already.
    address : str, optional
        ``"auto"`` or ``"HOST:PORT"`` of a running Ray cluster; None starts Ray in this process.
    resume : path, optional
        The output folder of an interrupted sweep: finish it (completed trials are kept).
    num_cpus : int, optional
        CPUs of the embedded Ray [all of this machine's].
    search : {"tpe", "random"}
        Optuna's TPE sampler or its random sampler (the benchmark's baseline).
    early_stopping : bool
        ASHA stops bad trials after ``grace_period`` epochs; False runs every trial to the end.
    """
    search = check("tune", "search", search, Options("tpe", "random"))
    num_cpus = check("tune", "num_cpus", num_cpus, NoneOr(Integer(low=1)))
    if address is not None and num_cpus is not None:
        raise UsageError("--num-cpus sizes the Ray started here; a cluster's CPUs are set by `ray start --num-cpus`")
    _require_extra()
    sweep, out_dir = _plan(config, resume, out, dict(trials=trials, metric=metric, mode=mode,
                                                    cpus_per_trial=cpus_per_trial), search, early_stopping)
    from .results import collect
    from .trainable import prepare_data

    t0 = time.perf_counter()
    bundle, test = prepare_data(sweep.fixed, echo=echo)
    started = connect(address, num_cpus)
    try:
        _check_cpus(sweep.settings["cpus_per_trial"])
        _announce(sweep, out_dir, bundle, address, resume, echo)
        grid = _fit(sweep, out_dir, bundle, resume, echo)
        return collect(grid, sweep, out_dir, test, bundle["info"], time.perf_counter() - t0, echo)
    finally:
        if started:
            import ray

            ray.shutdown()


def _plan(config, resume, out, overrides, search, early_stopping) -> tuple[Sweep, str]:
    """The sweep and its output folder; a new folder gets ``sweep.json``."""
    if resume is not None:
        resume = os.fspath(resume)
        if config is not None or out is not None or any(v is not None for v in overrides.values()):
            raise UsageError("--resume finishes the sweep saved in its folder; leave out --config, --out and the "
                             "sweep settings")
        path = os.path.join(resume, SWEEP_FILE)
        if not (os.path.isfile(path) and os.path.isdir(os.path.join(resume, EXPERIMENT))):
            raise UsageError(f"--resume: {resume} holds no sweep to resume ({SWEEP_FILE} and {EXPERIMENT}/ missing)")
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        sweep = read_sweep(saved["sweep"])
        sweep.settings.update(search=saved["search"], early_stopping=saved["early_stopping"])
        return sweep, resume
    if config is None:
        raise UsageError("--config: give the sweep file (see examples/sweep.toml)")
    sweep = read_sweep(config)
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        sweep.settings = check_settings({**sweep.settings, **given, **({"mode": None} if "metric" in given and
                                                                       "mode" not in given else {})})
    except ValueError as e:
        raise UsageError(str(e)) from None
    out_dir = os.fspath(out) if out is not None else new_run_dir(os.path.join("runs", "tune"))
    if os.path.exists(os.path.join(out_dir, SWEEP_FILE)):
        raise UsageError(f"--out: {out_dir} already holds a sweep; use --resume {out_dir} or another --out")
    os.makedirs(out_dir, exist_ok=True)
    sweep.settings.update(search=search, early_stopping=bool(early_stopping))
    record = {"sweep": {**sweep.to_dict(), "tune": {k: v for k, v in sweep.settings.items()
                                                    if k not in ("search", "early_stopping")}},
              "search": search, "early_stopping": bool(early_stopping)}
    tmp = os.path.join(out_dir, SWEEP_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    os.replace(tmp, os.path.join(out_dir, SWEEP_FILE))
    return sweep, out_dir


def connect(address=None, num_cpus=None, timeout=CONNECT_TIMEOUT_S) -> bool:
    """Start Ray in this process (``address=None``) or join a cluster; True if this call started Ray.

    An already initialised Ray (a notebook, a test fixture) is used as it is. Joining fails
    within ``timeout`` seconds with one :class:`ConnectionError` line when nothing answers.
    """
    import ray

    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR, "include_dashboard": False}
    if address is None:
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), **quiet)
        return True
    address = check("tune", "address", address, Instance(str))
    deadline = time.monotonic() + timeout
    if address != "auto":
        _probe(address, timeout)
    outcome = {}

    def join():  # ray.init retries an unreachable head for minutes; the caller waits at most `timeout`
        try:
            ray.init(address=address, **{k: v for k, v in quiet.items() if k != "include_dashboard"})
            outcome["ok"] = True
        except Exception as e:  # reported to the caller as one line below
            outcome["error"] = e

    worker = threading.Thread(target=join, daemon=True, name="neuronlab-ray-connect")
    with _quiet_stderr():  # Ray's C++ client logs every retry to stderr; the outcome is one line below
        worker.start()
        worker.join(max(0.0, deadline - time.monotonic()))
    if "ok" in outcome:
        return True
    if "error" in outcome:
        e = outcome["error"]
        if address == "auto":
            raise ConnectionError("--address auto: no running Ray cluster found on this machine; start one with "
                                  "`ray start --head` or give --address HOST:PORT") from None
        raise ConnectionError(f"--address {address}: could not join the Ray cluster ({type(e).__name__}: "
                              f"{' '.join(str(e).split())[:200]})") from None
    raise ConnectionError(f"--address {address}: no Ray cluster answered within {timeout:g} s")


@contextlib.contextmanager
def _quiet_stderr():
    """Send file descriptor 2 to a scratch file for the block (what C++ code writes there too)."""
    import tempfile

    try:
        saved = os.dup(2)
    except OSError:  # no stderr to redirect
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _probe(address: str, timeout: float) -> None:
    """Fail at once when no server listens at HOST:PORT (ray.init would retry for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--address: expected auto or HOST:PORT (e.g. 192.168.1.10:6379), got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        reason = "timed out" if isinstance(e, TimeoutError) else (e.strerror or type(e).__name__)
        raise ConnectionError(f"--address {address}: no Ray cluster answers there ({reason}); start one with "
                              f"`ray start --head` on that machine or check the address") from None


def _check_cpus(cpus_per_trial: int) -> None:
    """A trial needs one node with ``cpus_per_trial`` CPUs, else it would wait forever."""
    import ray

    largest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
    if cpus_per_trial > largest:
        raise UsageError(f"--cpus-per-trial {cpus_per_trial}: no Ray node has that many CPUs (largest: {largest:g})")


def _announce(sweep, out_dir, bundle, address, resume, echo) -> None:
    import ray

    s = sweep.settings
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = sum(n["Resources"].get("CPU", 0) for n in nodes)
    where = "Ray in this process" if address is None else f"Ray cluster at {address}"
    stopper = f"ASHA (grace {s['grace_period']} epoch)" if s["early_stopping"] else "no early stopping"
    echo(f"neuronlab tune: {s['trials']} trials, {s['search'].upper()} search, {stopper}, {s['metric']} "
         f"({s['mode']}), {s['cpus_per_trial']} CPU per trial; {where}: {len(nodes)} node(s), {cpus:g} CPUs")
    echo(f"data: {bundle['info']['data_name']}: {len(bundle['X']):,} training / {len(bundle['Xv']):,} validation "
         f"samples (val_split {sweep.fixed['val_split']:g} of the training set); searching "
         f"{', '.join(sweep.params)}")
    echo(("resuming " if resume else "output: ") + out_dir)


def _fit(sweep, out_dir, bundle, resume, echo):
    """Ray Tune's Tuner (new or restored) with the searcher, ASHA and the console callback."""
    import optuna
    from ray import tune

    from .console import TrialLines
    from .trainable import train_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)  # each trial's outcome is one TrialLines line
    # experiment state saved every second (Ray's default adapts to >= 10 s): a kill -9 loses at most
    # the bookkeeping of the last second, never a trial that Tune had already recorded as complete
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the classic reporter, silent at verbose=0
    warnings.filterwarnings("ignore", message="Fixed parameter .* is out of range")  # [[points]] may lie outside
    s = sweep.settings
    cpus = s["cpus_per_trial"]
    trainable = tune.with_resources(tune.with_parameters(train_trial, data=bundle, fixed=sweep.fixed, cpus=cpus),
                                    {"cpu": cpus})
    storage = os.path.abspath(out_dir)
    if resume:
        tuner = tune.Tuner.restore(os.path.join(storage, EXPERIMENT), trainable=trainable, resume_unfinished=True,
                                   resume_errored=False)
    else:
        tuner = tune.Tuner(trainable, tune_config=_tune_config(sweep), run_config=tune.RunConfig(
            name=EXPERIMENT, storage_path=storage, verbose=0, callbacks=[TrialLines(sweep, echo)],
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False)))
    return tuner.fit()


def _tune_config(sweep):
    """Searcher (Optuna TPE or random, define-by-run space) and scheduler (ASHA or none)."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.optuna import OptunaSearch

    from .optuna_space import define_by_run, max_epochs

    s = sweep.settings
    sampler = (optuna.samplers.TPESampler(seed=s["seed"]) if s["search"] == "tpe"
               else optuna.samplers.RandomSampler(seed=s["seed"]))
    searcher = OptunaSearch(define_by_run(sweep), metric=s["metric"], mode=s["mode"], sampler=sampler,
                            points_to_evaluate=sweep.points or None)
    scheduler = (ASHAScheduler(time_attr="training_iteration", max_t=max_epochs(sweep),
                               grace_period=min(s["grace_period"], max_epochs(sweep)), reduction_factor=3)
                 if s["early_stopping"] else FIFOScheduler())
    return tune.TuneConfig(metric=s["metric"], mode=s["mode"], num_samples=s["trials"], search_alg=searcher,
                           scheduler=scheduler, max_concurrent_trials=None)
