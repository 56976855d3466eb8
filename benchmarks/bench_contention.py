"""A busy machine: the batch-128 MLP epoch idle and beside a CPU-bound process pinned to one core.

Each library runs with its **default** thread settings (no ``OPENBLAS_NUM_THREADS``, no
``torch.set_num_threads``): what a user gets. neuronlab chooses its BLAS thread count itself
(:mod:`neuronlab.threads`); PyTorch uses one thread per core. The "busy" runs start a Python
busy loop pinned to core 0 (``os.sched_setaffinity``) before the epoch and stop it after.
Prints each library's idle and busy epoch time (best of ``--repeat`` alternating runs) and
the ratio busy / idle (target for neuronlab: ≤ 1.5).

    python benchmarks/bench_contention.py [--batch 128] [--repeat 3] [--n 60000] [--frameworks neuronlab,torch]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NEURONLAB_THREADS")


def busy_loop() -> subprocess.Popen:
    """A CPU-bound child process pinned to the first core this process may use (it ends with its parent)."""
    core = min(os.sched_getaffinity(0))
    code = (f"import os\nos.sched_setaffinity(0, {{{core}}})\nparent, i = os.getppid(), 0\n"
            "while True:\n    i += 1\n    if i % 1000000 == 0 and os.getppid() != parent:\n        break\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.3)  # let it start spinning
    return proc


def run_child(framework: str, batch: int, n: int, busy: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    cmd = [sys.executable, os.path.join(HERE, "bench_core.py"), "--worker", framework,
           "--batch-sizes", str(batch), "--threads", "0", "--n", str(n)]
    spinner = busy_loop() if busy else None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--n", type=int, default=60000, help="training samples per epoch")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--frameworks", default="neuronlab,torch")
    args = ap.parse_args()
    frameworks = [fw for fw in args.frameworks.split(",") if fw in ("neuronlab", "torch")]
    print(f"MLP epoch, batch {args.batch}, {args.n} samples, default threads, "
          f"{len(os.sched_getaffinity(0))} usable cores; busy = a busy loop pinned to one core; "
          f"best of {args.repeat}")
    best, peak = {}, {}
    for _ in range(args.repeat):
        for fw in frameworks:
            for busy in (False, True):
                r = run_child(fw, args.batch, args.n, busy)
                key = (fw, busy)
                best[key] = min(best.get(key, float("inf")), r["seconds"])
                peak[fw] = max(peak.get(fw, 0.0), r.get("peak_mb", 0.0))
                print(f"  {fw:9s} {'busy' if busy else 'idle'}: {r['seconds']:.2f} s "
                      f"(threads {r.get('threads', '?')})", flush=True)
    print(f"\n{'':10s}{'idle s':>8s}{'busy s':>8s}{'busy/idle':>10s}{'peak RSS MB':>12s}")
    for fw in frameworks:
        idle, busy = best[(fw, False)], best[(fw, True)]
        print(f"{fw:10s}{idle:8.2f}{busy:8.2f}{busy / idle:10.2f}{peak[fw]:12.0f}")
    if len(frameworks) == 2 and peak["torch"]:
        print(f"peak RSS neuronlab / PyTorch: {peak['neuronlab'] / peak['torch']:.2f}")


if __name__ == "__main__":
    main()
