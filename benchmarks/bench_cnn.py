"""LeNet-style CNN on MNIST: one training epoch in neuronlab and in PyTorch CPU, side by side, in one run.

The network (the ``cnn`` model)::

    Conv2D(16, 5, same, relu) → MaxPool2D(2) → Conv2D(32, 5, relu) → MaxPool2D(2) → Flatten
    → Dense(128, relu) → Dense(10, softmax)

Both start from the same weights (neuronlab's, transposed to PyTorch's layout; the first
Dense's rows permuted from NHWC to NCHW flattening order), use SGD(lr=0.05, momentum=0.9),
mini-batches of ``--batch`` and the same number of threads (default 1: the machines here are
shared by several people; BLAS and PyTorch are pinned alike). The two libraries alternate
``--repeat`` times and the best epoch of each is kept, the one least disturbed by other load.
Prints seconds per epoch, the CPU time per batch (``time.process_time``: on a machine shared
with other jobs it moves less than the wall clock; with 2 threads it counts both), the ratio
neuronlab / PyTorch (target ≤ 1.3), test accuracy after the epoch, and where neuronlab's time
goes: forward and backward time per layer, plus the loss and the optimizer step; then each
library's peak RSS over one epoch in a process of its own (``peak_rss.py``; ``--no-rss`` skips it).

    python benchmarks/bench_cnn.py [--n 60000] [--batch 64] [--threads 1] [--repeat 2] [--profile-batches 50]
                                   [--profile-clock cpu|wall] [--no-rss]
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def build_neuronlab(nl, seed=0):
    L = nl.layers
    return nl.Sequential([
        L.Conv2D(16, 5, padding="same", activation="relu", input_shape=(28, 28, 1)), L.MaxPool2D(2),
        L.Conv2D(32, 5, activation="relu"), L.MaxPool2D(2), L.Flatten(),
        L.Dense(128, "relu"), L.Dense(10, "softmax"),
    ], seed=seed)


def torch_net(torch):
    """The same network in PyTorch (NCHW), with PyTorch's own initialisation."""
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))


def build_torch(torch, model):
    """The same network in PyTorch (NCHW), initialised with ``model``'s weights."""
    net = torch_net(torch)
    W1, B1, W2, B2, W3, B3, W4, B4 = model.get_weights()
    with torch.no_grad():
        for conv, W, B in ((net[0], W1, B1), (net[3], W2, B2)):
            conv.weight.copy_(torch.from_numpy(W.transpose(3, 2, 0, 1).copy()))  # (kh,kw,cin,cout) → (cout,cin,kh,kw)
            conv.bias.copy_(torch.from_numpy(B))
        # rows of W3 follow NHWC flattening (h, w, c); PyTorch flattens NCHW (c, h, w)
        net[7].weight.copy_(torch.from_numpy(W3.reshape(5, 5, 32, 128).transpose(3, 2, 0, 1).reshape(128, 800).copy()))
        net[7].bias.copy_(torch.from_numpy(B3))
        net[9].weight.copy_(torch.from_numpy(W4.T.copy()))
        net[9].bias.copy_(torch.from_numpy(B4))
    return net


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60000, help="training samples per epoch")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2, help="epochs timed per library (best is kept)")
    ap.add_argument("--profile-batches", type=int, default=50, help="batches for the per-layer profile (0: skip)")
    ap.add_argument("--profile-clock", choices=("cpu", "wall"), default="cpu",
                    help="the profile's clock: CPU time of the process (default) or wall time")
    ap.add_argument("--no-rss", action="store_true", help="skip the peak-RSS runs (one process per library)")
    ap.add_argument("--rss-worker", choices=("neuronlab", "pytorch"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy loads its BLAS
    if args.rss_worker:
        return rss_worker(args.rss_worker, args)

    import numpy as np
    import torch
    import torch.nn.functional as F

    import neuronlab as nl

    torch.set_num_threads(args.threads)
    (X, y), (Xt, yt) = nl.datasets.load_mnist(flatten=False)
    X, y = X[:args.n].reshape(-1, 28, 28, 1), y[:args.n]
    Xt = Xt.reshape(-1, 28, 28, 1)
    # the NCHW copies PyTorch reads, made once at the boundary (not timed)
    tX, ty = torch.from_numpy(nl.layers.to_nchw(X)), torch.from_numpy(y.astype(np.int64))
    tXt = torch.from_numpy(nl.layers.to_nchw(Xt))

    model = build_neuronlab(nl)
    net = build_torch(torch, model)
    with torch.no_grad():  # same function before training: a check that the comparison is like for like
        diff = np.abs(net(tXt[:256]).softmax(1).numpy() - model.predict(Xt[:256])).max()
    model.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.05, momentum=0.9))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(0)

    def torch_epoch():
        net.train()
        order = torch.randperm(len(tX), generator=gen)
        t0, c0 = time.perf_counter(), time.process_time()
        for lo in range(0, len(tX), args.batch):
            idx = order[lo:lo + args.batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(tX[idx]), ty[idx])
            loss.backward()
            opt.step()
        return time.perf_counter() - t0, time.process_time() - c0

    def nl_epoch():
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(X, y, epochs=1, batch_size=args.batch, verbose=0)
        return time.perf_counter() - t0, time.process_time() - c0

    print(f"LeNet-style CNN, {len(X)} MNIST images/epoch, batch {args.batch}, {args.threads} thread(s), "
          f"numpy {np.__version__}, torch {torch.__version__}; max |Δ output| at the same weights: {diff:.1e}")
    times = {"neuronlab": [], "pytorch": []}
    batches = -(-len(X) // args.batch)
    for r in range(args.repeat):
        times["neuronlab"].append(nl_epoch())
        times["pytorch"].append(torch_epoch())
        (w_nl, c_nl), (w_pt, c_pt) = times["neuronlab"][-1], times["pytorch"][-1]
        print(f"  epoch {r + 1}: neuronlab {w_nl:7.2f} s ({c_nl / batches * 1e3:6.2f} CPU ms/batch)   "
              f"pytorch {w_pt:7.2f} s ({c_pt / batches * 1e3:6.2f} CPU ms/batch)", flush=True)
    t_nl, t_pt = (min(w for w, _ in times[k]) for k in ("neuronlab", "pytorch"))
    with torch.no_grad():
        net.eval()
        acc_pt = float((net(tXt).argmax(1).numpy() == yt).mean())
    acc_nl = float((model.predict(Xt).argmax(1) == yt).mean())
    cpu_nl = min(c for _, c in times["neuronlab"]) / batches
    cpu_pt = min(c for _, c in times["pytorch"]) / batches
    print(f"\n{'':10s}{'s/epoch':>10s}{'CPU ms/batch':>14s}{'test acc':>10s}")
    print(f"{'neuronlab':10s}{t_nl:10.2f}{cpu_nl * 1e3:14.2f}{acc_nl:10.4f}")
    print(f"{'pytorch':10s}{t_pt:10.2f}{cpu_pt * 1e3:14.2f}{acc_pt:10.4f}")
    print(f"ratio neuronlab / pytorch: {t_nl / t_pt:.2f}x wall (best epochs), {cpu_nl / cpu_pt:.2f}x CPU time "
          f"(target <= 1.3)")

    if args.profile_batches:
        profile(nl, np, model, X, y, args.batch, args.profile_batches, args.profile_clock)
    if not args.no_rss:
        import peak_rss

        n = min(args.n, 12800)  # the peak is the data and the step's buffers, not the epoch's length
        mb = peak_rss.measure(__file__, ["--n", str(n), "--batch", str(args.batch), "--threads", str(args.threads)],
                              args.threads)
        peak_rss.print_line(mb, f"one epoch of {n} at batch {args.batch}")
    return 0


def rss_worker(library, args):
    """One training epoch of one library only (for its peak RSS, printed by :mod:`peak_rss`).

    Both read MNIST through neuronlab's loader; one channel makes the NHWC array PyTorch's NCHW
    by a reshape, without a copy.
    """
    import neuronlab as nl
    import peak_rss

    (X, y), _ = nl.datasets.load_mnist(flatten=False)
    X, y = X[:args.n].reshape(-1, 28, 28, 1), y[:args.n]
    if library == "neuronlab":
        model = build_neuronlab(nl)
        model.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.05, momentum=0.9))
        model.fit(X, y, epochs=1, batch_size=args.batch, verbose=0)
    else:
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(args.threads)
        net = torch_net(torch)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        tX, ty = torch.from_numpy(X.reshape(-1, 1, 28, 28)), torch.from_numpy(y.astype("int64"))
        order = torch.randperm(len(tX))
        for lo in range(0, len(tX), args.batch):
            idx = order[lo:lo + args.batch]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(tX[idx]), ty[idx]).backward()
            opt.step()
    peak_rss.report()
    return 0


def profile(nl, np, model, X, y, batch, n_batches, clock_name="cpu"):
    """Time each layer's forward and backward, the loss gradient and the optimizer step.

    ``clock_name``: "cpu" (``time.process_time``, steadier on a shared machine; with 2 threads it
    counts both, a spinning BLAS worker included) or "wall" (``time.perf_counter``).
    """
    clock = time.process_time if clock_name == "cpu" else time.perf_counter
    rng = np.random.default_rng(1)
    fwd = {la.name: 0.0 for la in model.layers}
    bwd = dict(fwd)
    other = {"loss gradient": 0.0, "optimizer step": 0.0}
    params = model.params()
    criterion = model.loss.with_logits()
    for b in range(n_batches + 1):
        if b == 1:  # the first batch allocates the buffers: not counted
            fwd, bwd, other = dict.fromkeys(fwd, 0.0), dict.fromkeys(bwd, 0.0), dict.fromkeys(other, 0.0)
        idx = rng.integers(0, len(X), batch)
        H, Y = X[idx], y[idx]
        *hidden, last = model.layers   # the output layer hands Z to the loss (softmax + cross-entropy)
        for la in hidden:
            t = clock()
            H = la.forward(H, training=True)
            fwd[la.name] += clock() - t
        t = clock()
        H = last.forward_z(H, training=True)
        fwd[last.name] += clock() - t
        t = clock()
        G = criterion.gradient(H, Y)
        other["loss gradient"] += clock() - t
        t = clock()
        G = last.backward_z(G)
        bwd[last.name] += clock() - t
        for la in reversed(hidden):
            t = clock()
            G = la.backward(G)
            bwd[la.name] += clock() - t
            if G is None:
                break
        t = clock()
        model.optimizer.step(params)
        other["optimizer step"] += clock() - t
    total = sum(fwd.values()) + sum(bwd.values()) + sum(other.values())
    print(f"\nneuronlab profile over {n_batches} batches of {batch} ({clock_name} ms per batch, share of the total):")
    print(f"  {'layer':26s}{'output':>16s}{'forward':>10s}{'backward':>10s}{'share':>8s}")
    for la in model.layers:
        f, bk = fwd[la.name] / n_batches * 1e3, bwd[la.name] / n_batches * 1e3
        out = "x".join(map(str, la.output_shape))
        share = (fwd[la.name] + bwd[la.name]) / total
        print(f"  {la.name + ' (' + type(la).__name__ + ')':26s}{out:>16s}{f:10.2f}{bk:10.2f}{share:8.1%}")
    for k, v in other.items():
        print(f"  {k:26s}{'':16s}{v / n_batches * 1e3:10.2f}{'':10s}{v / total:8.1%}")
    print(f"  {'total':26s}{'':16s}{total / n_batches * 1e3:10.2f} ms/batch")


if __name__ == "__main__":
    sys.exit(main())
