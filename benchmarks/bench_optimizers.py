"""Every optimizer on MNIST and the optimizer step alone, neuronlab next to PyTorch CPU in one run.

1. The step alone: the parameters of a 784-256-128-10 MLP (float32, 235k weights) with fixed
   gradients; ``--rounds`` rounds alternate ``--steps`` steps of ours and of torch.optim's, and the
   best time per step of each is kept (the least disturbed by other load on a shared machine).
2. MNIST: 784-256-128-10 ReLU, softmax cross-entropy, batch 128, ``--epochs`` epochs (the issue's
   figure is 5), one sensible lr per optimizer, both frameworks from the same initial weights.
   Prints test accuracy and mean time per epoch of each, and the time ratio.

Ratios are neuronlab / PyTorch: < 1 means neuronlab is faster. Both use ``--threads`` threads
(BLAS for NumPy, ``torch.set_num_threads`` for PyTorch).

    python benchmarks/bench_optimizers.py [--epochs 5] [--threads 1] [--optimizers adam,sgd] [--skip-mnist]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# the optimizer, its neuronlab arguments, its torch.optim arguments (mapping our names to torch's)
CONFIGS = {
    "sgd": (dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9)),
    "adagrad": (dict(lr=0.01), dict(lr=0.01)),
    "adadelta": (dict(lr=1.0, rho=0.95, eps=1e-6), dict(lr=1.0, rho=0.95, eps=1e-6)),
    "rmsprop": (dict(lr=1e-3, rho=0.99), dict(lr=1e-3, alpha=0.99)),
    "adam": (dict(lr=1e-3), dict(lr=1e-3)),
    "adamw": (dict(lr=1e-3, weight_decay=0.01), dict(lr=1e-3, weight_decay=0.01)),
}
# extra step-only rows: the options that add passes over the parameters
STEP_EXTRAS = {
    "sgd (no momentum)": ("sgd", dict(lr=0.05), dict(lr=0.05)),
    "sgd nesterov+wd": ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
                        dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)),
    "rmsprop centered+mom": ("rmsprop", dict(lr=1e-3, momentum=0.9, centered=True),
                             dict(lr=1e-3, momentum=0.9, centered=True)),
    "adam amsgrad": ("adam", dict(lr=1e-3, amsgrad=True), dict(lr=1e-3, amsgrad=True)),
}
SHAPES = [(784, 256), (256,), (256, 128), (128,), (128, 10), (10,)]


def torch_optimizer(name, params, kw):
    import torch

    cls = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "adadelta": torch.optim.Adadelta,
           "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    return cls(params, **kw)


def bench_step(label, name, ours_kw, torch_kw, steps, rounds):
    import numpy as np
    import torch

    import neuronlab as nl
    from neuronlab.core import Param

    rng = np.random.default_rng(0)
    params = [Param((rng.standard_normal(s) * 0.05).astype(np.float32), f"p{i}") for i, s in enumerate(SHAPES)]
    for p in params:
        p.grad[...] = rng.standard_normal(p.value.shape) * 0.01
    tparams = [torch.nn.Parameter(torch.from_numpy(p.value.copy())) for p in params]
    for tp, p in zip(tparams, params):
        tp.grad = torch.from_numpy(p.grad.copy())
    ours = nl.optimizers.get(name, **ours_kw)
    theirs = torch_optimizer(name, tparams, torch_kw)
    for _ in range(5):  # warm-up: state and buffers allocated
        ours.step(params)
        theirs.step()
    best_ours = best_torch = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            ours.step(params)
        best_ours = min(best_ours, (time.perf_counter() - t0) / steps)
        t0 = time.perf_counter()
        for _ in range(steps):
            theirs.step()
        best_torch = min(best_torch, (time.perf_counter() - t0) / steps)
    print(f"{label:22s} {best_ours * 1e6:9.1f} {best_torch * 1e6:9.1f} {best_ours / best_torch:7.2f}", flush=True)
    return best_ours / best_torch


def train_neuronlab(name, kw, data, epochs, w0):
    import neuronlab as nl

    (X, y), (Xt, yt) = data
    model = nl.Sequential([nl.layers.Dense(256, "relu", input_dim=784), nl.layers.Dense(128, "relu"),
                           nl.layers.Dense(10, "softmax")], seed=0)
    model.set_weights(w0)
    model.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.get(name, **kw), metrics=["accuracy"])
    times = []
    timer = nl.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: times.append(model.last_epoch_time))
    model.fit(X, y, epochs=epochs, batch_size=128, verbose=0, callbacks=[timer])
    return model.evaluate(Xt, yt)["accuracy"], sum(times) / len(times)


def train_torch(name, kw, data, epochs, w0):
    import numpy as np
    import torch

    (X, y), (Xt, yt) = data
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                              torch.nn.ReLU(), torch.nn.Linear(128, 10))
    with torch.no_grad():
        for lin, W, B in zip([m for m in net if isinstance(m, torch.nn.Linear)], w0[0::2], w0[1::2]):
            lin.weight.copy_(torch.from_numpy(W.T.copy()))  # torch stores W transposed
            lin.bias.copy_(torch.from_numpy(B))
    opt = torch_optimizer(name, net.parameters(), kw)
    Xtr, ytr = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(Xtr), generator=g)
        for i in range(0, len(Xtr), 128):
            idx = order[i:i + 128]
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(Xtr[idx]), ytr[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        acc = float((net(torch.from_numpy(Xt)).argmax(1).numpy() == yt).mean())
    return acc, sum(times) / len(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--optimizers", default=",".join(CONFIGS))
    ap.add_argument("--steps", type=int, default=100, help="steps per timing round of the step benchmark")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--skip-mnist", action="store_true")
    ap.add_argument("--skip-step", action="store_true")
    args = ap.parse_args()
    names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        sys.exit(f"unknown optimizers {unknown}; choose from {', '.join(CONFIGS)}")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before NumPy is imported

    import numpy as np
    import torch

    import neuronlab as nl

    torch.set_num_threads(args.threads)
    print(f"threads: {args.threads} (NumPy BLAS and torch), numpy {np.__version__}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs seen")

    if not args.skip_step:
        print(f"\nOptimizer step alone (784-256-128-10 parameters, float32; best of {args.rounds} x {args.steps})")
        print(f"{'optimizer':22s} {'ours us':>9s} {'torch us':>9s} {'ratio':>7s}")
        ratios = {}
        for name in names:
            ratios[name] = bench_step(name, name, *CONFIGS[name], args.steps, args.rounds)
        for label, (name, okw, tkw) in STEP_EXTRAS.items():
            if name in names:
                ratios[label] = bench_step(label, name, okw, tkw, args.steps, args.rounds)
        worst = max(ratios, key=ratios.get)
        print(f"worst step ratio: {ratios[worst]:.2f} ({worst})")

    if not args.skip_mnist:
        data = nl.datasets.load_mnist()
        init = nl.Sequential([nl.layers.Dense(256, "relu", input_dim=784), nl.layers.Dense(128, "relu"),
                              nl.layers.Dense(10, "softmax")], seed=0)
        w0 = init.get_weights()
        print(f"\nMNIST 784-256-128-10 ReLU, batch 128, {args.epochs} epoch(s), same initial weights")
        print(f"{'optimizer':10s} {'hyperparameters':34s} {'acc ours':>8s} {'acc torch':>9s} "
              f"{'s/ep ours':>9s} {'s/ep torch':>10s} {'ratio':>6s}")
        for name in names:
            ours_kw, torch_kw = CONFIGS[name]
            acc_o, t_o = train_neuronlab(name, ours_kw, data, args.epochs, w0)
            acc_t, t_t = train_torch(name, torch_kw, data, args.epochs, w0)
            hp = ", ".join(f"{k}={v:g}" for k, v in ours_kw.items())
            print(f"{name:10s} {hp:34s} {acc_o:8.4f} {acc_t:9.4f} {t_o:9.2f} {t_t:10.2f} {t_o / t_t:6.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
