"""neuronlab.sklearn.MLPClassifier against sklearn.neural_network.MLPClassifier, side by side, in one run.

Both estimators get the very same arguments (neuronlab's takes scikit-learn's names and meanings):
one ReLU hidden layer (``--hidden``, default 100, scikit-learn's default), the same
``random_state`` (hence the same initial weights), alpha 1e-4, on scikit-learn's digits (8×8,
1347 train / 450 test, pixels / 16) and MNIST from ``nl.datasets.load_mnist()`` (60000 / 10000,
pixels / 255).

- adam: learning_rate_init 1e-3, batches of 200, float32 data (both compute in float32), every
  epoch run (tol 0); time per epoch and test accuracy.
- lbfgs (data in ``--lbfgs-dtype``, float64 by default; both libraries compute the network in X's
  dtype, scipy keeps L-BFGS-B's state in float64): scikit-learn runs ``--lbfgs-iter`` iterations;
  the time neuronlab needs to reach scikit-learn's final loss (to a relative 1e-6: both follow the
  same path up to rounding) is measured by rerunning it with max_iter = the
  first iteration whose loss is at or below that (the run is deterministic). Seconds per
  iteration of the two full runs are printed too.

BLAS is pinned to ``--threads`` threads (default 1) for both: the machines here are shared by
several people, so timings move with their load. The two libraries alternate ``--repeat`` times
and the best time of each is kept (the run least disturbed by other load). Prints test accuracy,
seconds and the ratio neuronlab / scikit-learn (< 1 means neuronlab is faster).

    python benchmarks/bench_sklearn.py [--digits-epochs 50] [--mnist-epochs 5] [--hidden 100]
                                       [--lbfgs-iter 200] [--mnist-lbfgs-iter 30] [--lbfgs-dtype float32]
                                       [--repeat 2]
                                       [--threads 1] [--skip-mnist] [--skip-lbfgs]
"""

from __future__ import annotations

import argparse
import os
import time


def load(name, np, nl, dtype):
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(dtype)
        return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    (X_tr, y_tr), (X_te, y_te) = nl.datasets.load_mnist()
    return X_tr.astype(dtype), X_te.astype(dtype), y_tr.astype(np.int64), y_te.astype(np.int64)


def estimator(lib, **params):
    if lib == "neuronlab":
        from neuronlab.sklearn import MLPClassifier
    else:
        from sklearn.neural_network import MLPClassifier
    return MLPClassifier(**params)


def timed_fit(clf, X, y):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: we stop at max_iter on purpose
        t0 = time.perf_counter()
        clf.fit(X, y)
        return time.perf_counter() - t0


def adam_run(lib, data, hidden, epochs):
    X_tr, X_te, y_tr, y_te = data
    clf = estimator(lib, hidden_layer_sizes=(hidden,), solver="adam", learning_rate_init=1e-3, batch_size=200,
                    max_iter=epochs, n_iter_no_change=epochs + 1, tol=0.0, random_state=0)
    seconds = timed_fit(clf, X_tr, y_tr)
    assert clf.n_iter_ == epochs, (lib, clf.n_iter_)
    return {"s": seconds / epochs, "acc": clf.score(X_te, y_te), "loss": clf.loss_}


def lbfgs_params(hidden, iters):
    return dict(hidden_layer_sizes=(hidden,), solver="lbfgs", max_iter=iters, max_fun=10 * iters, random_state=0)


def lbfgs_reference(data, hidden, iters):
    X_tr, X_te, y_tr, y_te = data
    clf = estimator("scikit-learn", **lbfgs_params(hidden, iters))
    seconds = timed_fit(clf, X_tr, y_tr)
    return {"s": seconds, "iters": clf.n_iter_, "acc": clf.score(X_te, y_te), "loss": clf.loss_,
            "per_iter": seconds / clf.n_iter_}


def lbfgs_to_target(data, hidden, iters, target):
    """neuronlab's time to reach ``target`` (None when it does not within ``iters`` iterations)."""
    X_tr, X_te, y_tr, y_te = data
    clf = estimator("neuronlab", **lbfgs_params(hidden, iters))
    full = timed_fit(clf, X_tr, y_tr)
    per_iter = full / clf.n_iter_
    reached = [i for i, loss in enumerate(clf.loss_curve_, start=1) if loss <= target]
    if not reached:
        return {"s": None, "iters": clf.n_iter_, "acc": clf.score(X_te, y_te), "loss": clf.loss_, "full_s": full,
                "per_iter": per_iter}
    seconds = full
    if reached[0] < clf.n_iter_:
        clf = estimator("neuronlab", **lbfgs_params(hidden, reached[0]))
        seconds = timed_fit(clf, X_tr, y_tr)
    return {"s": seconds, "iters": clf.n_iter_, "acc": clf.score(X_te, y_te), "loss": clf.loss_,
            "per_iter": per_iter}


def best_of(repeat, runs):
    """Alternate the libraries ``repeat`` times; keep each one's fastest result."""
    best = {}
    for _ in range(repeat):
        for lib, run in runs.items():
            r = run()
            if lib not in best or (r["s"] is not None and (best[lib]["s"] is None or r["s"] < best[lib]["s"])):
                best[lib] = r
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--digits-epochs", type=int, default=50)
    ap.add_argument("--mnist-epochs", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--lbfgs-iter", type=int, default=200, help="L-BFGS-B iterations on digits")
    ap.add_argument("--mnist-lbfgs-iter", type=int, default=30, help="L-BFGS-B iterations on MNIST")
    ap.add_argument("--lbfgs-dtype", choices=("float32", "float64"), default="float64",
                    help="the data's dtype for lbfgs (both libraries compute in it)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-mnist", action="store_true")
    ap.add_argument("--skip-lbfgs", action="store_true")
    args = ap.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np
    import sklearn

    import neuronlab as nl

    print(f"neuronlab {nl.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}; "
          f"{args.threads} BLAS thread(s); {os.cpu_count()} CPUs shared with other users: timings are noisy")
    print(f"one hidden layer of {args.hidden} ReLU units, alpha 1e-4, random_state 0, the same arguments for both; "
          f"best of {args.repeat} alternating runs\n")
    sets = [("digits", args.digits_epochs, args.lbfgs_iter)]
    if not args.skip_mnist:
        sets.append(("mnist", args.mnist_epochs, args.mnist_lbfgs_iter))

    header = f"{'dataset':8} {'solver':6} {'library':12} {'epochs/it':>9} {'test acc':>9} {'loss':>8} {'seconds':>9}"
    print(header)
    print("-" * len(header))
    for name, epochs, iters in sets:
        data = load(name, np, nl, np.float32)
        best = best_of(args.repeat, {lib: (lambda lib=lib, data=data, epochs=epochs:
                                           adam_run(lib, data, args.hidden, epochs))
                                     for lib in ("scikit-learn", "neuronlab")})
        for lib, r in best.items():
            print(f"{name:8} {'adam':6} {lib:12} {epochs:9d} {r['acc']:9.4f} {r['loss']:8.4f} {r['s']:9.4f} per epoch")
        ratio = best["neuronlab"]["s"] / best["scikit-learn"]["s"]
        gap = best["neuronlab"]["acc"] - best["scikit-learn"]["acc"]
        print(f"{name:8} adam   time per epoch neuronlab / scikit-learn = {ratio:.2f}; "
              f"test accuracy neuronlab - scikit-learn = {gap:+.4f}\n")
        if args.skip_lbfgs:
            continue
        data = load(name, np, nl, np.dtype(args.lbfgs_dtype))
        ref = best_of(args.repeat, {"scikit-learn": lambda data=data, iters=iters:
                                    lbfgs_reference(data, args.hidden, iters)})["scikit-learn"]
        ours = best_of(args.repeat, {"neuronlab": lambda data=data, iters=iters, target=ref["loss"] * (1 + 1e-6):
                                     lbfgs_to_target(data, args.hidden, iters, target)})["neuronlab"]
        for lib, r in (("scikit-learn", ref), ("neuronlab", ours)):
            seconds = f"{r['s']:9.3f}" if r["s"] is not None else f"{'-':>9}"
            print(f"{name:8} {'lbfgs':6} {lib:12} {r['iters']:9d} {r['acc']:9.4f} {r['loss']:8.4f} {seconds} to loss")
        if ours["s"] is None:
            print(f"{name:8} lbfgs  neuronlab did not reach scikit-learn's final loss {ref['loss']:.4f} in {iters} "
                  f"iterations ({ours['full_s']:.2f} s)\n")
        else:
            print(f"{name:8} lbfgs  time to scikit-learn's final loss neuronlab / scikit-learn = "
                  f"{ours['s'] / ref['s']:.2f}; test accuracy neuronlab - scikit-learn = "
                  f"{ours['acc'] - ref['acc']:+.4f}")
        print(f"{name:8} lbfgs  time per iteration neuronlab / scikit-learn = "
              f"{ours['per_iter'] / ref['per_iter']:.2f}\n")


if __name__ == "__main__":
    main()
