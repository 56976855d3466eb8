"""One MNIST epoch of the same MLP in neuronlab and in PyTorch CPU, side by side.

784-256-128-10 ReLU, softmax cross-entropy, SGD(lr=0.05, momentum=0.9), batch sizes 32, 128
and 1024. Each (framework, batch size) runs in its own subprocess, alternating frameworks
``--repeat`` times; the best epoch time of each is kept (the least disturbed by other load).
Prints the time ratio neuronlab / PyTorch per batch size (< 1 means neuronlab is faster) and
each run's peak resident memory.

    python benchmarks/bench_core.py [--batch-sizes 32,128,1024] [--repeat 3] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def worker(framework: str, batch_size: int, threads: int) -> dict:
    import numpy as np

    import neuronlab as nl

    (X, y), (Xt, yt) = nl.datasets.load_mnist()
    if framework == "neuronlab":
        m = nl.Sequential([nl.layers.Dense(256, "relu", input_dim=784), nl.layers.Dense(128, "relu"),
                           nl.layers.Dense(10, "softmax")], seed=0)
        m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.05, momentum=0.9),
                  metrics=["accuracy"])
        t0 = time.perf_counter()
        m.fit(X, y, epochs=1, batch_size=batch_size, verbose=0)
        seconds = time.perf_counter() - t0
        acc = m.evaluate(Xt, yt)["accuracy"]
    else:
        import torch

        torch.set_num_threads(threads)
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
            "peak_mb": peak_mb}


def run_child(framework, batch_size, threads) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--worker", framework, "--batch-sizes", str(batch_size),
                          "--threads", str(threads)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", default="32,128,1024")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--worker", choices=["neuronlab", "torch"])
    args = ap.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    if args.worker:
        print(json.dumps(worker(args.worker, sizes[0], args.threads)))
        return
    print(f"MNIST, 784-256-128-10 ReLU, SGD momentum 0.9, one epoch; {args.threads} threads; "
          f"best of {args.repeat} alternating runs")
    print(f"{'batch':>6} {'neuronlab s':>12} {'torch s':>9} {'ratio':>7} {'nl acc':>7} {'torch acc':>9} "
          f"{'nl peak MB':>10} {'torch peak MB':>13}")
    for K in sizes:
        best = {}
        for _ in range(args.repeat):
            for fw in ("neuronlab", "torch"):
                r = run_child(fw, K, args.threads)
                if fw not in best or r["seconds"] < best[fw]["seconds"]:
                    best[fw] = r
        a, b = best["neuronlab"], best["torch"]
        print(f"{K:>6} {a['seconds']:>12.2f} {b['seconds']:>9.2f} {a['seconds'] / b['seconds']:>7.2f} "
              f"{a['accuracy']:>7.4f} {b['accuracy']:>9.4f} {a['peak_mb']:>10.0f} {b['peak_mb']:>13.0f}",
              flush=True)


if __name__ == "__main__":
    main()
