"""What NumPy's BLAS allows: the floor under the MLP-epoch and predict-latency targets, beside PyTorch.

Two of the performance targets (MLP epoch ≤ 0.95× PyTorch and ≥ 90 % of the GEMM peak at batch
1024; ``predict`` ≤ 0.5× PyTorch's latency) are bounded by the matrix products alone. This script
measures that bound on this machine, in one process with both libraries and the same threads:

1. **Training.** The eight products of one training step of bench_core's MLP (784-256-128-10,
   batch K: forward X·W₁, H₁·W₂, H₂·W₃; backward the ∂C/∂W products and the ∂C/∂H products of
   layers 2 and 3), timed with ``np.matmul`` (NumPy's OpenBLAS) and ``torch.mm`` (PyTorch's MKL)
   on the same arrays, times the steps of a 60,000-sample epoch. Beside them, PyTorch's whole
   epoch (bench_core.py's PyTorch worker, best of ``--repeat``). *floor* = NumPy's products alone
   / PyTorch's whole epoch: no neuronlab epoch that does the same products with NumPy can have a
   lower ratio. *% peak* = the epoch's floating-point operations / the products' time / the
   float32 GEMM peak (bench_core's 2048³ ``np.matmul``): the most an epoch can reach.
2. **Inference.** The default MLP's forward pass (784-512-256-10) in bare NumPy — three products,
   bias, ReLU, softmax, no checks — against PyTorch's whole eval call under ``no_grad``
   (bench_inference.py's), for 1 and 64 samples; and the GFLOP/s that 0.5× of PyTorch's 64-sample
   time would need, beside the GEMM peak.

    python benchmarks/bench_floor.py [--threads 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BATCHES = (32, 128, 1024)
N = 60000


def best_time(fn, reps: int) -> float:
    """Best of 5 blocks of ``reps`` calls, seconds per call."""
    for _ in range(3):
        fn()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def step_products(K: int, rng):
    """(A, B) pairs of the eight products of one training step of 784-256-128-10 at batch K."""
    import numpy as np

    def r(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    X, W1, W2, W3 = r(K, 784), r(784, 256), r(256, 128), r(128, 10)
    H1, H2, D1, D2, D3 = r(K, 256), r(K, 128), r(K, 256), r(K, 128), r(K, 10)
    return [(X, W1), (H1, W2), (H2, W3),                 # forward
            (H2.T, D3), (D3, W3.T), (H1.T, D2), (D2, W2.T), (X.T, D1)]  # backward (no ∂C/∂X)


def training_floor(threads: int) -> list[dict]:
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    rows = []
    for K in BATCHES:
        pairs = step_products(K, rng)
        outs = [np.empty((a.shape[0], b.shape[1]), np.float32) for a, b in pairs]
        tp = [(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(o)) for (a, b), o in zip(pairs, outs)]
        reps = max(3, 20000 // K)
        t_np = sum(best_time(lambda a=a, b=b, o=o: np.matmul(a, b, out=o), reps) for (a, b), o in zip(pairs, outs))
        t_mm = sum(best_time(lambda a=a, b=b, o=o: torch.mm(a, b, out=o), reps) for a, b, o in tp)
        steps = -(-N // K)
        flops = 2 * sum(a.shape[0] * a.shape[1] * b.shape[1] for a, b in pairs) * (N / K)
        rows.append({"K": K, "numpy": t_np * steps, "mkl": t_mm * steps, "flops": flops})
    return rows


def inference_floor(threads: int) -> dict:
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    Ws = [rng.standard_normal(s, dtype=np.float32) * 0.05 for s in ((784, 512), (512, 256), (256, 10))]
    Bs = [np.zeros(s, np.float32) for s in (512, 256, 10)]
    net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                              torch.nn.ReLU(), torch.nn.Linear(256, 10)).eval()
    with torch.no_grad():
        for lin, W, B in zip((net[0], net[2], net[4]), Ws, Bs):
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(B))

    def bare(X):
        H = X
        for i, (W, B) in enumerate(zip(Ws, Bs)):
            H = H @ W
            H += B
            if i < 2:
                np.maximum(H, 0, out=H)
        H -= H.max(axis=1, keepdims=True)
        np.exp(H, out=H)
        H /= H.sum(axis=1, keepdims=True)
        return H

    out = {}
    for n in (1, 64):
        X = rng.random((n, 784), dtype=np.float32)

        def call(X=X):
            with torch.no_grad():
                return net(torch.from_numpy(X)).softmax(1).numpy()

        assert np.allclose(call(), bare(X), atol=1e-6)
        reps = 4000 if n == 1 else 400
        out[n] = {"numpy": best_time(lambda X=X: bare(X), reps), "torch": best_time(call, reps),
                  "flops": 2 * n * (784 * 512 + 512 * 256 + 256 * 10)}
    return out


def torch_epoch(K: int, threads: int, repeat: int) -> float:
    """PyTorch's whole epoch at batch K (bench_core.py's worker, in a fresh process), best of ``repeat``."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    best = float("inf")
    for _ in range(repeat):
        out = subprocess.run([sys.executable, os.path.join(HERE, "bench_core.py"), "--worker", "torch",
                              "--batch-sizes", str(K), "--threads", str(threads)],
                             capture_output=True, text=True, env=env, check=True)
        best = min(best, json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
    return best


def worker(threads: int) -> dict:
    import torch

    sys.path.insert(0, HERE)
    from bench_core import gemm_peak

    torch.set_num_threads(threads)
    return {"peak": gemm_peak(threads), "training": training_floor(threads), "inference": inference_floor(threads)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--worker", action="store_true")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.threads)))
        return
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    r = json.loads(subprocess.run([sys.executable, __file__, "--worker", "--threads", str(args.threads)],
                                  capture_output=True, text=True, env=env, check=True).stdout.strip().splitlines()[-1])
    peak = r["peak"] * 1e9
    print(f"threads {args.threads}; float32 GEMM peak (np.matmul 2048³) {peak / 1e9:.0f} GFLOP/s")
    print("\n1. MLP 784-256-128-10, one epoch of 60000: the step's eight products alone vs PyTorch's whole epoch")
    print(f"{'batch':>6} {'NumPy products s':>17} {'torch.mm products s':>20} {'OpenBLAS/MKL':>13} "
          f"{'PyTorch epoch s':>16} {'floor ratio':>12} {'% peak at most':>15}")
    for row in r["training"]:
        whole = torch_epoch(row["K"], args.threads, args.repeat)
        print(f"{row['K']:>6} {row['numpy']:>17.3f} {row['mkl']:>20.3f} {row['numpy'] / row['mkl']:>13.2f} "
              f"{whole:>16.3f} {row['numpy'] / whole:>12.2f} {100 * row['flops'] / row['numpy'] / peak:>15.0f}")
    print("\n2. predict, MLP 784-512-256-10: bare NumPy forward (products, bias, ReLU, softmax) vs PyTorch's call")
    print(f"{'samples':>8} {'bare NumPy µs':>14} {'PyTorch µs':>11} {'floor ratio':>12} "
          f"{'GFLOP/s for 0.5x':>17} {'peak GFLOP/s':>13}")
    for n, row in r["inference"].items():
        need = row["flops"] / (0.5 * row["torch"]) / 1e9
        print(f"{n:>8} {row['numpy'] * 1e6:>14.1f} {row['torch'] * 1e6:>11.1f} {row['numpy'] / row['torch']:>12.2f} "
              f"{need:>17.0f} {peak / 1e9:>13.0f}")


if __name__ == "__main__":
    main()
