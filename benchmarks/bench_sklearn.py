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
  neuronlab runs to scikit-learn's final loss (to a relative 1e-6: both follow the same path up to
  rounding), i.e. with max_iter = its first iteration whose loss is at or below that (found by a
  first run; the runs are deterministic). Also printed: each library's objective evaluations and
  their CPU time (``time.process_time``, which other users' load distorts less than wall time).

BLAS is pinned to ``--threads`` threads (default 1) for both: the machines here are shared by
several people, so timings move with their load. ``--threads auto`` pins nothing: each library runs
as a user gets it (scikit-learn with BLAS's default, one thread per core; neuronlab with its thread
policy, ``neuronlab.threads``). The two libraries alternate ``--repeat`` times
(lbfgs: in alternating order) and the best time of each is kept (the run least disturbed by other
load); for lbfgs every round's ratio is printed too. Prints test accuracy, seconds and the ratio
neuronlab / scikit-learn (< 1 means neuronlab is faster).

    python benchmarks/bench_sklearn.py [--digits-epochs 50] [--mnist-epochs 5] [--hidden 100]
                                       [--lbfgs-iter 200] [--mnist-lbfgs-iter 30] [--lbfgs-dtype float32]
                                       [--repeat 2]
                                       [--threads 1|auto] [--skip-mnist] [--skip-adam] [--skip-lbfgs]
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


class ObjectiveClock:
    """Counts the L-BFGS-B objective's evaluations and their CPU time, for both libraries alike.

    Both call ``scipy.optimize.minimize`` by its module attribute at fit time; this wraps it while
    active. CPU time (``time.process_time``) is what other users' load distorts least.
    """

    def __init__(self):
        import scipy.optimize

        self.module, self.minimize = scipy.optimize, scipy.optimize.minimize
        self.evals, self.cpu = 0, 0.0

    def __enter__(self):
        def minimize(fun, x0, *args, **kwargs):
            def objective(x, *a):
                t0 = time.process_time()
                try:
                    return fun(x, *a)
                finally:
                    self.cpu += time.process_time() - t0
                    self.evals += 1
            return self.minimize(objective, x0, *args, **kwargs)

        self.module.minimize = minimize
        return self

    def __exit__(self, *exc):
        self.module.minimize = self.minimize


def lbfgs_run(lib, data, hidden, iters):
    """One timed lbfgs fit: wall and CPU seconds, evaluations and their CPU time, accuracy, loss curve."""
    X_tr, X_te, y_tr, y_te = data
    clf = estimator(lib, **lbfgs_params(hidden, iters))
    with ObjectiveClock() as clock:
        cpu = time.process_time()
        seconds = timed_fit(clf, X_tr, y_tr)
        cpu = time.process_time() - cpu
    curve = getattr(clf, "loss_curve_", None)
    return {"s": seconds, "cpu": cpu, "evals": clock.evals, "eval_cpu": clock.cpu / max(1, clock.evals),
            "iters": clf.n_iter_, "acc": clf.score(X_te, y_te), "loss": clf.loss_, "curve": curve}


def lbfgs_compare(data, hidden, iters, repeat):
    """scikit-learn's ``iters`` iterations against neuronlab's run to scikit-learn's final loss.

    A first run of each finds the target (scikit-learn's final loss, to a relative 1e-6) and the
    first neuronlab iteration at or below it (the runs are deterministic); then ``repeat`` rounds
    time both, in alternating order. Returns (scikit-learn runs, neuronlab runs, neuronlab's
    iterations to the target or None).
    """
    first = lbfgs_run("scikit-learn", data, hidden, iters)
    probe = lbfgs_run("neuronlab", data, hidden, iters)
    reached = [i for i, loss in enumerate(probe["curve"], start=1) if loss <= first["loss"] * (1 + 1e-6)]
    if not reached:
        return [first], [probe], None
    runs = {"scikit-learn": [], "neuronlab": []}
    for r in range(repeat):
        order = ("scikit-learn", "neuronlab") if r % 2 == 0 else ("neuronlab", "scikit-learn")
        for lib in order:
            runs[lib].append(lbfgs_run(lib, data, hidden, iters if lib == "scikit-learn" else reached[0]))
    return runs["scikit-learn"], runs["neuronlab"], reached[0]


def best_of(repeat, runs):
    """Alternate the libraries ``repeat`` times; keep each one's fastest result."""
    best = {}
    for _ in range(repeat):
        for lib, run in runs.items():
            r = run()
            if lib not in best or (r["s"] is not None and (best[lib]["s"] is None or r["s"] < best[lib]["s"])):
                best[lib] = r
    return best


def adam_rows(name, epochs, args, np, nl):
    """The adam rows of one data set: time per epoch and test accuracy, best of ``--repeat``."""
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


def lbfgs_rows(name, iters, args, np, nl):
    """The lbfgs rows of one data set: time to scikit-learn's final loss, every round's ratios."""
    data = load(name, np, nl, np.dtype(args.lbfgs_dtype))
    refs, ours, reached = lbfgs_compare(data, args.hidden, iters, args.repeat)
    if reached is None:
        print(f"{name:8} lbfgs  neuronlab did not reach scikit-learn's final loss {refs[0]['loss']:.6g} "
              f"({refs[0]['iters']} iterations, {refs[0]['s']:.2f} s) in {iters} iterations: its loss "
              f"{ours[0]['loss']:.6g} after {ours[0]['iters']} ({ours[0]['s']:.2f} s)\n")
        return
    for lib, runs in (("scikit-learn", refs), ("neuronlab", ours)):
        r = min(runs, key=lambda run: run["s"])
        print(f"{name:8} {'lbfgs':6} {lib:12} {r['iters']:9d} {r['acc']:9.4f} {r['loss']:8.4f} {r['s']:9.3f} "
              f"to loss ({r['evals']} evaluations, CPU {1e3 * r['eval_cpu']:.2f} ms each)")
    walls = [b["s"] / a["s"] for a, b in zip(refs, ours)]
    cpus = [b["cpu"] / a["cpu"] for a, b in zip(refs, ours)]
    evals = [b["eval_cpu"] / a["eval_cpu"] for a, b in zip(refs, ours)]
    best = min(r["s"] for r in ours) / min(r["s"] for r in refs)
    gap = min(ours, key=lambda run: run["s"])["acc"] - min(refs, key=lambda run: run["s"])["acc"]
    print(f"{name:8} lbfgs  time to scikit-learn's final loss neuronlab / scikit-learn = {best:.2f} (best of "
          f"{args.repeat}; each round {' '.join(f'{x:.2f}' for x in walls)}); test accuracy neuronlab - "
          f"scikit-learn = {gap:+.4f}")
    print(f"{name:8} lbfgs  CPU time of the fit, each round: {' '.join(f'{x:.2f}' for x in cpus)}; "
          f"CPU time per objective evaluation: {' '.join(f'{x:.2f}' for x in evals)}\n")


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
    ap.add_argument("--threads", default="1",
                    help="BLAS threads for both, or 'auto': BLAS's default for scikit-learn, the policy for neuronlab")
    ap.add_argument("--skip-mnist", action="store_true")
    ap.add_argument("--skip-adam", action="store_true")
    ap.add_argument("--skip-lbfgs", action="store_true")
    args = ap.parse_args()
    if args.threads != "auto":
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(int(args.threads))

    import numpy as np
    import sklearn

    import neuronlab as nl

    print(f"neuronlab {nl.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}; "
          f"BLAS threads: {args.threads}; {os.cpu_count()} CPUs shared with other users: timings are noisy")
    print(f"one hidden layer of {args.hidden} ReLU units, alpha 1e-4, random_state 0, the same arguments for both; "
          f"best of {args.repeat} alternating runs\n")
    sets = [("digits", args.digits_epochs, args.lbfgs_iter)]
    if not args.skip_mnist:
        sets.append(("mnist", args.mnist_epochs, args.mnist_lbfgs_iter))

    header = f"{'dataset':8} {'solver':6} {'library':12} {'epochs/it':>9} {'test acc':>9} {'loss':>8} {'seconds':>9}"
    print(header)
    print("-" * len(header))
    for name, epochs, iters in sets:
        if not args.skip_adam:
            adam_rows(name, epochs, args, np, nl)
        if not args.skip_lbfgs:
            lbfgs_rows(name, iters, args, np, nl)


if __name__ == "__main__":
    main()
