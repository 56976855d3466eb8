"""Time to 98% MNIST test accuracy: ``neuronlab train`` (default run) vs the same recipe in PyTorch.

neuronlab: the command exactly as a newcomer runs it (``python -m neuronlab train``, its
defaults: MLP 784-512-256-10, ReLU, no dropout, Adam 3e-3 with cosine decay per update over
5 epochs, batch 256, seed 0), in a subprocess; end-to-end wall time includes start-up, loading
MNIST, training, evaluation and writing the run folder. PyTorch CPU: the same MLP (PyTorch's
default initialisation), the same recipe (Adam, ``CosineAnnealingLR`` stepped per update over
the same number of epochs, batch 256, read from neuronlab's defaults), data reshuffled every
epoch, in its own subprocess with the same thread count. Both evaluate the 10,000 test images
after every epoch; that time is part of the epoch for both.

"Time to 98%" is the summed epoch time (training + per-epoch test evaluation) up to the end
of the first epoch whose test accuracy is >= 98.0%. Runs alternate frameworks ``--repeat``
times and each framework keeps its best run (the least disturbed by other load).

    python benchmarks/bench_mnist_train.py [--repeat 2] [--seed 0] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

TARGET = 0.98


def recipe(epochs: int | None) -> tuple[float, int, int, float]:
    """(η₀, batch size, epochs, dropout P) of ``neuronlab train``'s default run."""
    from neuronlab.runs import DEFAULTS, RECIPE_LR

    return (RECIPE_LR[DEFAULTS["optimizer"]], DEFAULTS["batch_size"], epochs or DEFAULTS["epochs"],
            DEFAULTS["dropout"])


def torch_worker(epochs: int | None, seed: int, threads: int, stop_at_target: bool) -> dict:
    t_start = time.perf_counter()
    import numpy as np
    import torch

    import neuronlab as nl

    lr, batch, max_epochs, p = recipe(epochs)

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    (X, y), (Xt, yt) = nl.datasets.load_mnist()  # the same float32 [0, 1] arrays neuronlab trains on
    Xtr, ytr, Xte = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64)), torch.from_numpy(Xt)
    net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Dropout(p),
                              torch.nn.Linear(512, 256), torch.nn.ReLU(), torch.nn.Dropout(p),
                              torch.nn.Linear(256, 10))  # Dropout(0) is the identity
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = -(-len(Xtr) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max_epochs * steps)
    times, accs = [], []
    for _ in range(max_epochs):
        t0 = time.perf_counter()
        net.train()
        order = torch.randperm(len(Xtr))
        for i in range(0, len(Xtr), batch):
            idx = order[i:i + batch]
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(Xtr[idx]), ytr[idx]).backward()
            opt.step()
            sched.step()
        net.eval()
        with torch.no_grad():
            accs.append(float((net(Xte).argmax(1).numpy() == yt).mean()))
        times.append(time.perf_counter() - t0)
        if stop_at_target and accs[-1] >= TARGET:
            break
    return {"epoch_times": times, "val_accuracy": accs, "wall": time.perf_counter() - t_start}


def run_child(cmd: list[str], env: dict, cwd: str | None = None) -> tuple[str, float, float]:
    """Run ``cmd``; its stdout, wall seconds and peak RSS in MB (``os.wait4``'s rusage of that child)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}):\n{err.read()[-2000:]}")
        return out.read(), wall, usage.ru_maxrss / 1024


def run_neuronlab(seed: int, threads: int, epochs: int | None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "neuronlab", "train", "--seed", str(seed), "--out", os.path.join(tmp, "run"),
               "--no-progress"] + (["--epochs", str(epochs)] if epochs else [])
        _, wall, peak = run_child(cmd, env, cwd=tmp)
        with open(os.path.join(tmp, "run", "run.json")) as f:
            summary = json.load(f)["summary"]
        with open(os.path.join(tmp, "run", "history.json")) as f:
            hist = json.load(f)
    return {"epoch_times": summary["epoch_times_s"], "val_accuracy": hist["val_accuracy"], "wall": wall,
            "test_accuracy": summary["test_accuracy"], "peak_mb": peak}


def run_torch(seed: int, threads: int, epochs: int | None, stop: bool) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    stdout, wall, peak = run_child([sys.executable, __file__, "--torch-worker", "--seed", str(seed), "--threads",
                                    str(threads)] + (["--epochs", str(epochs)] if epochs else [])
                                   + (["--stop-at-target"] if stop else []), env)
    return {**json.loads(stdout.strip().splitlines()[-1]), "wall": wall, "peak_mb": peak}


def time_to_target(r: dict):
    total = 0.0
    for e, (t, a) in enumerate(zip(r["epoch_times"], r["val_accuracy"]), start=1):
        total += t
        if a >= TARGET:
            return e, total
    return None, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--epochs", type=int, default=None, help="override the default run's epochs (both libraries)")
    ap.add_argument("--torch-worker", action="store_true")
    ap.add_argument("--stop-at-target", action="store_true")
    args = ap.parse_args()
    if args.torch_worker:
        print(json.dumps(torch_worker(args.epochs, args.seed, args.threads, args.stop_at_target)))
        return

    lr, batch, epochs, p = recipe(args.epochs)
    print(f"MNIST, MLP 784-512-256-10 ReLU dropout {p:g}, Adam {lr:g} with cosine decay, batch {batch}, {epochs} "
          f"epochs, seed {args.seed}, {args.threads} threads, best of {args.repeat}")
    best = {}
    for rep in range(args.repeat):
        for name in (("neuronlab", "torch") if rep % 2 == 0 else ("torch", "neuronlab")):
            r = (run_neuronlab(args.seed, args.threads, args.epochs) if name == "neuronlab"
                 else run_torch(args.seed, args.threads, args.epochs, stop=False))
            e, t = time_to_target(r)
            accs = " ".join(f"{100 * a:.2f}" for a in r["val_accuracy"])
            print(f"  {name:9s} run {rep + 1}: test accuracy per epoch [{accs}]; epoch times "
                  f"[{' '.join(f'{x:.2f}' for x in r['epoch_times'])}] s; wall {r['wall']:.1f} s")
            key = t if t is not None else float("inf")
            if name not in best or key < best[name][0]:
                best[name] = (key, e, r)
    print()
    for name, (t, e, r) in best.items():
        reach = f"reaches 98% after epoch {e} in {t:.1f} s of training" if e else "does not reach 98%"
        extra = f", final test accuracy {100 * r['test_accuracy']:.2f}%" if "test_accuracy" in r else ""
        print(f"{name:9s}: {reach}; end-to-end wall {r['wall']:.1f} s for {len(r['epoch_times'])} epochs{extra}; "
              f"peak RSS {r['peak_mb']:.0f} MB")
    tn, tt = best["neuronlab"][0], best["torch"][0]
    if tn != float("inf") and tt != float("inf"):
        print(f"time to 98%: neuronlab / PyTorch = {tn / tt:.2f}  (< 1: neuronlab is faster)")
    print(f"peak RSS: neuronlab / PyTorch = {best['neuronlab'][2]['peak_mb'] / best['torch'][2]['peak_mb']:.2f}")


if __name__ == "__main__":
    main()
