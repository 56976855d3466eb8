"""Inference latency: ``model.predict`` of 1 and of 64 samples vs PyTorch in eval mode under no_grad.

The model is ``neuronlab train``'s default MLP (zoo ``mlp``: 784-512-256-10 ReLU, dropout 0.2,
softmax output) with trained-from-nothing weights copied into the same PyTorch network. Each
library runs in its own subprocess with its **default** threads (neuronlab's thread policy;
PyTorch's one thread per core) or ``--threads N`` for both; the subprocesses alternate
``--repeat`` times and the best median of each is kept. Per call: neuronlab's ``predict(X)``
(checks, forward, softmax probabilities) against PyTorch's ``net(torch.from_numpy(X)).softmax(1)``
converted back with ``.numpy()``. Prints µs per call, the ratio, and each process's peak RSS.

    python benchmarks/bench_inference.py [--calls 2000] [--repeat 3] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

SIZES = (1, 64)


def latency_us(fn, calls: int) -> float:
    """Median of 5 blocks of ``calls / 5`` calls, µs per call."""
    for _ in range(20):
        fn()
    block = max(1, calls // 5)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(block):
            fn()
        times.append((time.perf_counter() - t0) / block * 1e6)
    return sorted(times)[2]


def worker(framework: str, calls: int, threads: int) -> dict:
    import numpy as np

    from neuronlab.zoo import build_mlp

    model = build_mlp((784,), 10)
    model.build((784,))
    X = np.random.default_rng(0).random((64, 784), dtype=np.float32)
    out = {"framework": framework}
    if framework == "neuronlab":
        for n in SIZES:
            Xn = X[:n].copy()
            out[str(n)] = latency_us(lambda Xn=Xn: model.predict(Xn), calls)
    else:
        import torch

        if threads:
            torch.set_num_threads(threads)
        W = model.get_weights()
        net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                                  torch.nn.Linear(512, 256), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                                  torch.nn.Linear(256, 10))
        with torch.no_grad():
            for lin, Wk, Bk in zip((net[0], net[3], net[6]), W[0::2], W[1::2], strict=True):
                lin.weight.copy_(torch.from_numpy(Wk.T.copy()))
                lin.bias.copy_(torch.from_numpy(Bk))
        net.eval()
        diff = 0.0
        for n in SIZES:
            Xn = X[:n].copy()

            def call(Xn=Xn):
                with torch.no_grad():
                    return net(torch.from_numpy(Xn)).softmax(1).numpy()

            diff = max(diff, float(np.abs(call() - model.predict(Xn)).max()))
            out[str(n)] = latency_us(call, calls)
        out["max_diff"] = diff
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_child(framework: str, calls: int, threads: int) -> dict:
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--worker", framework, "--calls", str(calls),
                          "--threads", str(threads)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="0: each library's default")
    ap.add_argument("--worker", choices=["neuronlab", "torch"])
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.calls, args.threads)))
        return
    best: dict = {}
    for _ in range(args.repeat):
        for fw in ("neuronlab", "torch"):
            r = run_child(fw, args.calls, args.threads)
            mine = best.setdefault(fw, {})
            for key in (*map(str, SIZES), "peak_mb"):
                mine[key] = min(mine.get(key, float("inf")), r[key])
            if "max_diff" in r:
                best[fw]["max_diff"] = r["max_diff"]
    nl_, pt = best["neuronlab"], best["torch"]
    print(f"predict latency, default MLP 784-512-256-10; threads {args.threads or 'default'}; best of "
          f"{args.repeat}; max |Δ probability| {pt['max_diff']:.1e}")
    print(f"{'samples':>8} {'neuronlab µs':>13} {'torch µs':>9} {'ratio':>6}")
    for n in map(str, SIZES):
        print(f"{n:>8} {nl_[n]:>13.1f} {pt[n]:>9.1f} {nl_[n] / pt[n]:>6.2f}")
    print(f"peak RSS MB: neuronlab {nl_['peak_mb']:.0f}, torch {pt['peak_mb']:.0f}, "
          f"ratio {nl_['peak_mb'] / pt['peak_mb']:.2f}")


if __name__ == "__main__":
    main()
