"""neuronlab.sklearn.MLPClassifier against sklearn.neural_network.MLPClassifier, side by side, in one run.

Same data, same architecture and the same training recipe for both: one ReLU hidden layer
(``--hidden``, default 100, scikit-learn's default), Adam(lr=1e-3), mini-batches of 200,
no L2 term (scikit-learn ``alpha=0``, neuronlab ``weight_decay=0``), no early stopping and no
tolerance stop (every epoch runs), float32 data (both libraries then compute in float32).
Datasets: scikit-learn's digits (8×8, 1347 train / 450 test, pixels / 16) and MNIST from
``nl.datasets.load_mnist()`` (60000 / 10000, pixels / 255).

BLAS is pinned to ``--threads`` threads (default 1) for both: the machines here are shared by
several people, so timings move with their load. The two libraries alternate ``--repeat``
times and the best time per epoch of each is kept (the run least disturbed by other load).
Prints test accuracy, seconds per epoch and the ratio scikit-learn / neuronlab (> 1 means
neuronlab is faster).

    python benchmarks/bench_sklearn.py [--digits-epochs 50] [--mnist-epochs 5] [--hidden 100]
                                       [--repeat 2] [--threads 1] [--skip-mnist]
"""

from __future__ import annotations

import argparse
import os
import time


def load(name, np, nl):
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)
        return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    (X_tr, y_tr), (X_te, y_te) = nl.datasets.load_mnist()
    return X_tr, X_te, y_tr.astype(np.int64), y_te.astype(np.int64)


def make(lib, hidden, epochs, seed):
    if lib == "neuronlab":
        from neuronlab.sklearn import MLPClassifier

        return MLPClassifier((hidden,), optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=200,
                             max_iter=epochs, n_iter_no_change=epochs + 1, tol=0.0, random_state=seed)
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier((hidden,), solver="adam", learning_rate_init=1e-3, alpha=0.0, batch_size=200,
                         max_iter=epochs, n_iter_no_change=epochs + 1, tol=0.0, random_state=seed)


def run(lib, data, hidden, epochs, seed=0):
    import warnings

    X_tr, X_te, y_tr, y_te = data
    clf = make(lib, hidden, epochs, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's ConvergenceWarning: we stop at max_iter on purpose
        t0 = time.perf_counter()
        clf.fit(X_tr, y_tr)
        seconds = time.perf_counter() - t0
    assert clf.n_iter_ == epochs, (lib, clf.n_iter_)
    return {"s_per_epoch": seconds / clf.n_iter_, "acc": clf.score(X_te, y_te), "loss": clf.loss_curve_[-1]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--digits-epochs", type=int, default=50)
    ap.add_argument("--mnist-epochs", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-mnist", action="store_true")
    args = ap.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np
    import sklearn

    import neuronlab as nl

    print(f"neuronlab {nl.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}; "
          f"{args.threads} BLAS thread(s); {os.cpu_count()} CPUs shared with other users: timings are noisy")
    print(f"one hidden layer of {args.hidden} ReLU units, Adam lr 1e-3, batch 200, float32, no L2, "
          f"best epoch time of {args.repeat} alternating runs\n")
    header = f"{'dataset':8} {'library':12} {'epochs':>6} {'test acc':>9} {'final loss':>11} {'s/epoch':>9}"
    print(header)
    print("-" * len(header))
    sets = [("digits", args.digits_epochs)] + ([] if args.skip_mnist else [("mnist", args.mnist_epochs)])
    for name, epochs in sets:
        data = load(name, np, nl)
        best = {}
        for _ in range(args.repeat):
            for lib in ("scikit-learn", "neuronlab"):
                r = run(lib, data, args.hidden, epochs)
                if lib not in best or r["s_per_epoch"] < best[lib]["s_per_epoch"]:
                    best[lib] = r
        for lib, r in best.items():
            print(f"{name:8} {lib:12} {epochs:6d} {r['acc']:9.4f} {r['loss']:11.4f} {r['s_per_epoch']:9.4f}")
        ratio = best["scikit-learn"]["s_per_epoch"] / best["neuronlab"]["s_per_epoch"]
        gap = best["neuronlab"]["acc"] - best["scikit-learn"]["acc"]
        print(f"{name:8} time per epoch scikit-learn / neuronlab = {ratio:.2f}x; "
              f"test accuracy neuronlab - scikit-learn = {gap:+.4f}\n")


if __name__ == "__main__":
    main()
