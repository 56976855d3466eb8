"""How many BLAS threads neuronlab's matrix products use, chosen for each ``fit``/``predict``/``evaluate``.

OpenBLAS starts one thread per core and splits every product among them. That pays for large
products on an idle machine (an MLP epoch at batch 1024: 1.4x with 2 threads), but
when another program keeps a core busy, each split product waits for its slowest part: an
MNIST epoch ran 6x slower beside one busy loop, and 15-24x slower than on one thread on a
machine oversubscribed by other jobs (``benchmarks/bench_contention.py``). So neuronlab
decides, in this order:

1. ``nl.set_threads(n)``: n threads (``nl.set_threads(None)`` goes back to automatic);
2. the environment variable ``NEURONLAB_THREADS`` (a positive integer, or ``auto``);
3. an explicit ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS``: left as the
   user set it, neuronlab changes nothing;
4. automatic: 1 thread when the largest product of a batch is small (below
   ``MIN_MACS_PER_THREAD`` multiply-adds per thread), else one per usable core
   (``os.sched_getaffinity``) that no runnable thread of another process occupies right now
   (the runnable count of ``/proc/loadavg``, the lowest of a few readings, kept for 0.1 s so
   that a loop of small ``predict`` calls does not read it each time). Inference leaves BLAS
   alone for products so small that BLAS runs them on one thread anyway (``BLAS_SERIAL_MACS``).

The count is set with threadpoolctl for the duration of the call and restored after it.
Without threadpoolctl, neuronlab runs with whatever BLAS chose (NumPy alone still works).
"""

from __future__ import annotations

import math
import os
import time

from .validation import Integer, check

__all__ = ["set_threads", "get_threads", "usable_cores", "idle_cores", "choose_threads", "blas_threads",
           "batch_macs", "last_choice", "MIN_MACS_PER_THREAD", "MIN_MACS_INFERENCE",
           "BLAS_SERIAL_MACS"]

#: multiply-adds of the largest product of a batch per thread. Measured on an idle 2-core machine
#: (2026-11-30, one MNIST epoch, SGD momentum, 1 vs 2 threads): 784-256-128-10 at batch 32 (6.4
#: million) 2.38 vs 2.22 s, at batch 128 (26 million) 1.13 vs 0.93 s, at batch 1024 0.80 vs 0.56 s;
#: the default 784-512-256-10 at batch 128 (51 million) 2.33 vs 1.77 s. Two threads pay from a few
#: million on when the cores are free; when they are not, the idle-core reading gives one thread.
MIN_MACS_PER_THREAD = 4_000_000
#: the same for inference (predict, evaluate): no backward pass between the products. Measured on
#: the idle 2-core machine (2026-11-30, default 784-512-256-10 MLP, forward pass, 1 vs 2 threads):
#: 1 sample (0.4 million) 115 vs 112 µs, 4 samples (1.6 million) 297 vs 203 µs, 64 samples 779 vs
#: 544 µs. Two threads never lost, so the bar is low; it also spares a one-sample ``predict`` from
#: switching BLAS from its count and back, which once cost it 70-120 µs (at 04:16; at 05:38, on a
#: quieter host, it cost nothing measurable).
MIN_MACS_INFERENCE = 200_000
#: products this small run on one thread inside OpenBLAS whatever its setting (its own cut-offs:
#: 2304 · 4 elements for a matrix-vector product, more for matrix-matrix), so inference leaves
#: BLAS as it is instead of switching it for nothing
BLAS_SERIAL_MACS = 9_216
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

LOADAVG = "/proc/loadavg"
SELF_TASKS = "/proc/self/task"
#: seconds an idle-core count is reused
IDLE_TTL = 0.1

_setting: int | None = None
_last: int | None = None
_controller = None
_idle_cache: tuple[float, int, int] | None = None  # (time read, cores asked, idle cores)


def set_threads(n: int | None) -> None:
    """Use n BLAS threads in neuronlab's fit/predict/evaluate; None: choose automatically."""
    global _setting
    _setting = check("set_threads", "n", n, Integer(low=1), None)


def get_threads() -> int | None:
    """The count given to :func:`set_threads` (None: automatic)."""
    return _setting


def last_choice() -> int | None:
    """Threads used by the last fit/predict/evaluate (None: left to BLAS, or never run)."""
    return _last


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def idle_cores(cores: int, readings: int = 3) -> int:
    """Of ``cores``, how many no other running process occupies now (``cores`` if unknown).

    The fourth field of ``/proc/loadavg`` is the number of runnable threads on the machine;
    this process's own running threads (BLAS workers still spinning after a product) are not
    others. The lowest of ``readings`` readings ignores a passing blip.
    """
    others = None
    for _ in range(readings):
        try:
            with open(LOADAVG) as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return cores
        count = running - _own_running()
        others = count if others is None else min(others, count)
        if others <= 0:
            break
    return max(0, cores - max(0, others))


def _own_running() -> int:
    """Threads of this process in state R (running or runnable), at least 1: the caller."""
    running = 0
    try:
        for task in os.listdir(SELF_TASKS):
            try:
                with open(f"{SELF_TASKS}/{task}/stat") as f:
                    running += f.read().rpartition(")")[2].split()[0] == "R"
            except (OSError, IndexError):
                continue
    except OSError:
        pass
    return max(1, running)


def _idle_cores_recent(cores: int) -> int:
    """:func:`idle_cores`, read again only when the last reading is older than ``IDLE_TTL``."""
    global _idle_cache
    now = time.monotonic()
    if _idle_cache is None or _idle_cache[1] != cores or now - _idle_cache[0] > IDLE_TTL:
        _idle_cache = (now, cores, idle_cores(cores))
    return _idle_cache[2]


def _env_threads() -> int | None:
    raw = os.environ.get("NEURONLAB_THREADS", "").strip()
    if raw in ("", "auto"):
        return None
    try:
        value = int(raw)
    except ValueError:
        value = raw
    return check("environment variable", "NEURONLAB_THREADS", value, Integer(low=1))


def choose_threads(macs, per_thread: float = MIN_MACS_PER_THREAD, serial: float = 0) -> int | None:
    """BLAS threads for products of up to ``macs`` multiply-adds (None: leave BLAS alone).

    ``macs`` may be a function returning that number, called only when the choice is automatic;
    one thread per ``per_thread`` multiply-adds; an automatic choice for at most ``serial``
    multiply-adds (products BLAS runs on one thread anyway) leaves BLAS alone.
    """
    if _setting is not None:
        return _setting
    forced = _env_threads()
    if forced is not None:
        return forced
    if any(os.environ.get(var, "").strip() for var in BLAS_ENV):
        return None
    cores = usable_cores()
    if cores == 1:
        return 1
    work = macs() if callable(macs) else macs
    if work <= serial:
        return None
    wanted = min(cores, max(1, int(work // per_thread)))
    if wanted == 1:
        return 1
    return max(1, min(wanted, _idle_cores_recent(cores)))


def batch_macs(model, batch: int) -> float:
    """Multiply-adds of the largest matrix product in a forward pass of ``batch`` samples.

    For each weight matrix W of a layer: batch · W.size · (positions the layer applies W at:
    pixels of a convolution's output, steps of a sequence output, 1 for Dense).
    """
    largest = 0.0
    for layer in model.layers:
        positions = math.prod((layer.output_shape or (1,))[:-1])
        for p in layer.params():
            if p.value.ndim >= 2:
                largest = max(largest, float(batch) * p.value.size * positions)
    return largest


def _blas():
    """threadpoolctl's controller of the BLAS libraries loaded now (None without threadpoolctl)."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - NumPy alone
            _controller = False
        else:
            _controller = ThreadpoolController().select(user_api="blas")
    return _controller or None


class blas_threads:  # noqa: N801 - used as a function: ``with blas_threads(macs) as n:``
    """Context manager: BLAS limited to :func:`choose_threads` (``macs``) threads, restored on exit.

    ``model.fit`` uses ``blas_threads(lambda: batch_macs(model, batch_size))``; ``predict`` and
    ``evaluate`` pass ``inference=True`` (threshold ``MIN_MACS_INFERENCE``; BLAS left alone up to
    ``BLAS_SERIAL_MACS``). A class rather than a generator: a one-sample ``predict`` enters it
    each call.
    """

    __slots__ = ("macs", "inference", "changed")

    def __init__(self, macs, inference: bool = False):
        self.macs, self.inference, self.changed = macs, inference, []

    def __enter__(self) -> int | None:
        global _last
        if self.inference:
            n = choose_threads(self.macs, MIN_MACS_INFERENCE, serial=BLAS_SERIAL_MACS)
        else:
            n = choose_threads(self.macs, MIN_MACS_PER_THREAD)
        blas = _blas() if n is not None else None
        _last = n if blas is not None else None
        if blas is not None:
            for lib in blas.lib_controllers:
                before = lib.num_threads
                if before != n:
                    lib.set_num_threads(n)
                    self.changed.append((lib, before))
        return n

    def __exit__(self, *exc) -> None:
        for lib, before in self.changed:
            lib.set_num_threads(before)
        self.changed = []
