"""``neuronlab tune``: Optuna TPE + ASHA against a random search of the same budget, on MNIST, side by side.

Both sweeps run the search space of ``examples/sweep.toml`` (lr, layers, dropout, optimizer,
momentum, batch size, initialiser; 4 epochs; validation = 10% of MNIST's training set) with the
same number of trials, on an embedded Ray with ``--cpus`` CPUs (default 2) and 1 CPU per trial:

- TPE + ASHA: ``nl.tune.run(..., search="tpe", early_stopping=True)``, what ``neuronlab tune`` does;
- random: Optuna's RandomSampler, every trial runs all its epochs (no scheduler).

Prints, for each, the best validation accuracy, the test accuracy of its best model (evaluated
once), trials stopped early, epochs trained in all and wall time, and writes
``--out/bench_tune.json``. The machine may be shared: wall times move with other load.

    python benchmarks/bench_tune.py [--trials 16] [--cpus 2] [--train-samples N] [--out runs/bench_tune]
"""

from __future__ import annotations

import argparse
import json
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def sweep(train_samples, folder):
    """examples/sweep.toml, on all of MNIST or on its first ``train_samples`` training images."""
    import neuronlab as nl

    raw = nl.tune.read_sweep(os.path.join(HERE, "..", "examples", "sweep.toml")).to_dict()
    raw.pop("points")  # both searches start from nothing
    if train_samples:
        import numpy as np

        (X, y), (Xt, yt) = nl.datasets.load_mnist()
        path = os.path.join(folder, f"mnist-{train_samples}.npz")
        np.savez(path, x_train=np.round(X[:train_samples] * 255).astype(np.uint8), y_train=y[:train_samples],
                 x_test=np.round(Xt * 255).astype(np.uint8), y_test=yt)
        raw["train"]["data"] = path
    return raw


def one(raw, name, search, early_stopping, args):
    import neuronlab as nl

    out = os.path.join(args.out, name)
    t0 = time.perf_counter()
    res = nl.tune.run(raw, trials=args.trials, out=out, num_cpus=args.cpus, cpus_per_trial=1, search=search,
                      early_stopping=early_stopping, echo=lambda m: None)
    wall = time.perf_counter() - t0
    return {"name": name, "best_val_accuracy": res.best_value, "test_accuracy": (res.test or {}).get("accuracy"),
            "best_params": res.best.params if res.best else None, "wall_s": round(wall, 1),
            "stopped_early": sum(t.status == "stopped by ASHA" for t in res.records),
            "failed": sum(t.status == "failed" for t in res.records),
            "epochs_trained": sum(t.epochs_run for t in res.records), "out": out}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--train-samples", type=int, default=0, help="first N MNIST training images [all 60000]")
    ap.add_argument("--out", default=os.path.join("runs", "bench_tune"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=False)
    raw = sweep(args.train_samples, args.out)
    rows = [one(raw, "tpe_asha", "tpe", True, args), one(raw, "random", "random", False, args)]
    print(f"MNIST ({args.train_samples or 60000} training images, 10% of them for validation), {args.trials} trials, "
          f"{args.cpus} CPUs, 1 per trial, os.cpu_count() = {os.cpu_count()}, load average at the end "
          f"{os.getloadavg()[0]:.1f}")
    head = ("search", "best val acc", "test acc", "stopped", "failed", "epochs", "wall s")
    print(f"{head[0]:10} " + " ".join(f"{h:>{w}}" for h, w in zip(head[1:], (12, 9, 8, 7, 7, 7))))
    for r in rows:
        test = f"{r['test_accuracy']:.4f}" if r["test_accuracy"] is not None else "-"
        print(f"{r['name']:10} {r['best_val_accuracy']:12.4f} {test:>9} {r['stopped_early']:8d} {r['failed']:7d} "
              f"{r['epochs_trained']:7d} {r['wall_s']:7.1f}")
    tpe, rnd = rows
    print(f"TPE+ASHA / random: wall time {tpe['wall_s'] / rnd['wall_s']:.2f}, best val accuracy "
          f"{tpe['best_val_accuracy'] - rnd['best_val_accuracy']:+.4f}")
    with open(os.path.join(args.out, "bench_tune.json"), "w", encoding="utf-8") as f:
        json.dump({"args": vars(args), "rows": rows, "loadavg_end": os.getloadavg()}, f, indent=2)


if __name__ == "__main__":
    main()
