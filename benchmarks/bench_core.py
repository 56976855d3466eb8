"""One MNIST epoch of the same MLP in neuronlab and in PyTorch CPU, side by side.

784-256-128-10 ReLU, softmax cross-entropy, SGD(lr=0.05, momentum=0.9), batch sizes 32, 128
and 1024. Each (framework, batch size) runs in its own subprocess, alternating frameworks
``--repeat`` times; the best epoch time of each is kept (the least disturbed by other load).
Prints the time ratio neuronlab / PyTorch per batch size (< 1 means neuronlab is faster) and
each run's peak resident memory.

The float32 GEMM peak of this machine is measured first (a large ``np.matmul`` with the same
threads) and each neuronlab epoch is also printed as a fraction of it, counting the products an
epoch does: per sample 2·(784·256 + 256·128 + 128·10) forward, as much again for the ∂C/∂W, and
2·(256·128 + 128·10) for the ∂C/∂H of layers 2 and 3 (no framework computes the first layer's
∂C/∂X), 1.01 MFLOP. Before 2026-11-30 the count was 6·n·(784·256 + 256·128 + 128·10), the usual
three products per layer, 1.40× the work done.
``--threads 0`` leaves each library's default (neuronlab's own thread policy, PyTorch's one
thread per core).

    python benchmarks/bench_core.py [--batch-sizes 32,128,1024] [--repeat 3] [--threads N] [--n 60000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

MACS_PER_SAMPLE = 784 * 256 + 256 * 128 + 128 * 10
#: floating-point operations of one sample's products in a training step (see the docstring)
FLOPS_PER_SAMPLE = 2 * (2 * MACS_PER_SAMPLE + 256 * 128 + 128 * 10)


def gemm_peak(threads: int) -> float:
    """GFLOP/s of a large float32 np.matmul (2048 x 2048 x 2048), best of 3."""
    import numpy as np

    A = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    C = np.empty_like(A)
    np.matmul(A, A, out=C)
    best = min(_timed(lambda: np.matmul(A, A, out=C)) for _ in range(3))
    return 2 * 2048 ** 3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def worker(framework: str, batch_size: int, threads: int, n: int = 60000) -> dict:
    import numpy as np

    import neuronlab as nl

    (X, y), (Xt, yt) = nl.datasets.load_mnist()
    X, y = X[:n], y[:n]
    if framework == "neuronlab":
        m = nl.Sequential([nl.layers.Dense(256, "relu", input_dim=784), nl.layers.Dense(128, "relu"),
                           nl.layers.Dense(10, "softmax")], seed=0)
        m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.05, momentum=0.9),
                  metrics=["accuracy"])
        t0 = time.perf_counter()
        m.fit(X, y, epochs=1, batch_size=batch_size, verbose=0)
        seconds = time.perf_counter() - t0
        acc = m.evaluate(Xt, yt)["accuracy"]
        used = nl.threads.last_choice() if hasattr(nl, "threads") else "blas"
    else:
        import torch

        if threads:
            torch.set_num_threads(threads)
        used = torch.get_num_threads()
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                  torch.nn.ReLU(), torch.nn.Linear(128, 10))
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        Xtr, ytr = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
        g = torch.Generator().manual_seed(0)
        t0 = time.perf_counter()
        order = torch.randperm(len(Xtr), generator=g)
        for i in range(0, len(Xtr), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(net(Xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            acc = float((net(torch.from_numpy(Xt)).argmax(1).numpy() == yt).mean())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"framework": framework, "batch_size": batch_size, "seconds": seconds, "accuracy": acc,
            "peak_mb": peak_mb, "threads": used, "gflops": len(X) * FLOPS_PER_SAMPLE / seconds / 1e9}


def child_env(threads: int) -> dict:
    if not threads:
        return dict(os.environ)
    return dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                MKL_NUM_THREADS=str(threads))


def run_child(framework, batch_size, threads, n=60000) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", framework, "--batch-sizes", str(batch_size),
                          "--threads", str(threads), "--n", str(n)], capture_output=True, text=True,
                         env=child_env(threads), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", default="32,128,1024")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--n", type=int, default=60000, help="training samples per epoch")
    ap.add_argument("--worker", choices=["neuronlab", "torch", "peak"])
    args = ap.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    if args.worker == "peak":
        print(json.dumps({"gflops": gemm_peak(args.threads)}))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, sizes[0], args.threads, args.n)))
        return
    peak = json.loads(subprocess.run([sys.executable, __file__, "--worker", "peak", "--threads", str(args.threads)],
                                     capture_output=True, text=True, env=child_env(args.threads),
                                     check=True).stdout.strip().splitlines()[-1])["gflops"]
    print(f"MNIST, 784-256-128-10 ReLU, SGD momentum 0.9, one epoch of {args.n}; threads {args.threads or 'default'};"
          f" best of {args.repeat} alternating runs; float32 GEMM peak {peak:.0f} GFLOP/s")
    print(f"{'batch':>6} {'neuronlab s':>12} {'torch s':>9} {'ratio':>7} {'nl % peak':>9} {'nl acc':>7} "
          f"{'torch acc':>9} {'nl peak MB':>10} {'torch peak MB':>13} {'threads nl/torch':>16}")
    for K in sizes:
        best = {}
        for _ in range(args.repeat):
            for fw in ("neuronlab", "torch"):
                r = run_child(fw, K, args.threads, args.n)
                if fw not in best or r["seconds"] < best[fw]["seconds"]:
                    best[fw] = r
        a, b = best["neuronlab"], best["torch"]
        print(f"{K:>6} {a['seconds']:>12.2f} {b['seconds']:>9.2f} {a['seconds'] / b['seconds']:>7.2f} "
              f"{100 * a['gflops'] / peak:>9.0f} {a['accuracy']:>7.4f} {b['accuracy']:>9.4f} {a['peak_mb']:>10.0f} "
              f"{b['peak_mb']:>13.0f} {str(a['threads']) + '/' + str(b['threads']):>16}", flush=True)


if __name__ == "__main__":
    main()
