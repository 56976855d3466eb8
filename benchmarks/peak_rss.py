"""Peak resident memory of each library's training run, each in its own process.

bench_cnn.py and bench_lstm.py time both libraries in one process (alternating epochs), where
one peak RSS covers both. For the memory figure each script's ``--rss`` runs its own worker
twice more — ``--rss-worker neuronlab`` and ``--rss-worker pytorch`` — each of which imports only
its library (plus NumPy), trains one epoch on the same data and prints its ``ru_maxrss``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys


def peak_mb() -> float:
    """This process's peak resident memory in MB: ``VmHWM`` of /proc/self/status where there is one.

    ``ru_maxrss`` survives ``exec``: a worker started from a large parent (these scripts' timing
    process holds both libraries and the data) would report the parent's peak. ``VmHWM`` belongs
    to the worker's own address space.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report() -> None:
    """Print this process's peak RSS as the worker's last line (JSON)."""
    print(json.dumps({"peak_mb": peak_mb()}))


def measure(script: str, args: list[str], threads: int) -> dict[str, float]:
    """``{"neuronlab": MB, "pytorch": MB}``: peak RSS of ``script --rss-worker <library> *args``."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    out = {}
    for library in ("neuronlab", "pytorch"):
        run = subprocess.run([sys.executable, script, "--rss-worker", library, *args], capture_output=True,
                             text=True, env=env, check=True)
        out[library] = json.loads(run.stdout.strip().splitlines()[-1])["peak_mb"]
    return out


def print_line(mb: dict[str, float], what: str) -> None:
    print(f"peak RSS, {what}, each library in its own process: neuronlab {mb['neuronlab']:.0f} MB, "
          f"pytorch {mb['pytorch']:.0f} MB, ratio {mb['neuronlab'] / mb['pytorch']:.2f} (target <= 0.6)")
