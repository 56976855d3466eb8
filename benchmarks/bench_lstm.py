"""LSTM and GRU training epoch time: neuronlab vs PyTorch (CPU), the same model and data, in one run.

The model is the sequential-MNIST one: LSTM(units) or GRU(units) over T = 28 steps of 28
pixels, then Dense(10, softmax), cross-entropy, Adam with gradient clipping (norm 1),
mini-batches of ``--batch``. Both libraries run with the same number of threads (default 1:
the machines here are shared). Epochs alternate between the libraries (neuronlab, PyTorch,
neuronlab, ...) so that a change in the machine's load touches both alike.

    python benchmarks/bench_lstm.py [--cell lstm gru] [--n 6000] [--units 128] [--batch 128]
                                    [--threads 1] [--repeat 3] [--profile-batches 20]

Prints, per cell and library, the best wall-clock seconds per epoch over ``--repeat`` epochs,
the CPU time per batch (``time.process_time``, which a busy machine inflates less), and the
ratio neuronlab / PyTorch of both (target ≤ 1.0). ``--profile-batches N`` adds a per-phase
profile of N further batches (ms per batch in forward + loss, backward, optimizer step) for
both libraries. Each cell's peak RSS is measured per library in a process of its own
(``peak_rss.py``; ``--no-rss`` skips it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", nargs="+", choices=("lstm", "gru"), default=["lstm", "gru"])
    ap.add_argument("--n", type=int, default=6000, help="training samples per epoch")
    ap.add_argument("--units", type=int, default=128)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="epochs timed per library (best is kept)")
    ap.add_argument("--T", type=int, default=28, help="time steps (sequential MNIST: 28)")
    ap.add_argument("--profile-batches", type=int, default=0, help="batches for the per-phase profile (0: skip)")
    ap.add_argument("--no-rss", action="store_true", help="skip the peak-RSS runs (one process per library)")
    ap.add_argument("--rss-worker", choices=("neuronlab", "pytorch"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.random((args.n, args.T, 28), dtype=np.float32)
    y = rng.integers(0, 10, args.n)
    if args.rss_worker:
        return rss_worker(args.rss_worker, X, y, args)
    import torch

    torch.set_num_threads(args.threads)
    print(f"(n={args.n}, T={args.T}, d=28), batch {args.batch}, Adam + clipnorm 1, {args.threads} thread(s); "
          f"numpy {np.__version__}, torch {torch.__version__}, python {sys.version.split()[0]}")
    ratios = {}
    for cell in args.cell:
        ratios[cell] = compare(cell, X, y, args)
        if not args.no_rss:
            import peak_rss

            mb = peak_rss.measure(__file__, ["--cell", cell, "--n", str(args.n), "--units", str(args.units),
                                             "--batch", str(args.batch), "--threads", str(args.threads),
                                             "--T", str(args.T)], args.threads)
            peak_rss.print_line(mb, f"{cell.upper()}({args.units}), one epoch")
    return ratios


def rss_worker(library, X, y, args):
    """One training epoch of one library only, for its peak RSS (printed by :mod:`peak_rss`)."""
    import peak_rss

    cell = args.cell[0]
    if library == "neuronlab":
        import neuronlab as nl

        kind = {"lstm": nl.layers.LSTM, "gru": nl.layers.GRU}[cell]
        model = nl.Sequential([kind(args.units, input_shape=X.shape[1:]), nl.layers.Dense(10, "softmax")], seed=0)
        model.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.Adam(lr=1e-3, clipnorm=1.0))
        model.fit(X, y, epochs=1, batch_size=args.batch, verbose=0)
    else:
        import torch

        torch.set_num_threads(args.threads)
        net = TorchNet(cell, X.shape[2], args.units)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        perm = torch.randperm(len(Xt))
        for i in range(0, len(Xt), args.batch):
            torch_step(net, opt, Xt[perm[i:i + args.batch]], yt[perm[i:i + args.batch]])
    peak_rss.report()
    return 0


def compare(cell, X, y, args):
    """Time alternating epochs of both libraries for one cell; print the figures; return the ratio."""
    import torch

    import neuronlab as nl

    T, d = X.shape[1], X.shape[2]
    kind = {"lstm": nl.layers.LSTM, "gru": nl.layers.GRU}[cell]
    model = nl.Sequential([kind(args.units, input_shape=(T, d)), nl.layers.Dense(10, "softmax")], seed=0)
    model.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.Adam(lr=1e-3, clipnorm=1.0))
    net = TorchNet(cell, d, args.units)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    batches = -(-args.n // args.batch)

    def nl_epoch():
        model.fit(X, y, epochs=1, batch_size=args.batch, verbose=0)

    def torch_epoch():
        perm = torch.randperm(args.n)
        for i in range(0, args.n, args.batch):
            idx = perm[i:i + args.batch]
            torch_step(net, opt, Xt[idx], yt[idx])

    times = {"neuronlab": [], "pytorch": []}
    nl_epoch(), torch_epoch()  # warm-up (buffers, allocator)
    for _ in range(args.repeat):
        for name, epoch in (("neuronlab", nl_epoch), ("pytorch", torch_epoch)):
            w, c = time.perf_counter(), time.process_time()
            epoch()
            times[name].append((time.perf_counter() - w, (time.process_time() - c) / batches * 1e3))
    print(f"\n{cell.upper()}({args.units}): s/epoch per round (neuronlab / pytorch): "
          + ", ".join(f"{a[0]:.3f} / {b[0]:.3f}" for a, b in zip(times["neuronlab"], times["pytorch"])))
    best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in times.items()}
    for name, (w, c) in best.items():
        print(f"  {name:10s} {w:8.3f} s/epoch  {w / batches * 1e3:7.2f} ms/batch  CPU {c:7.2f} ms/batch")
    ratio, cpu_ratio = best["neuronlab"][0] / best["pytorch"][0], best["neuronlab"][1] / best["pytorch"][1]
    print(f"  ratio neuronlab / pytorch = {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU  "
          f"(target <= 1.0x: {'met' if ratio <= 1.0 else 'NOT met'})")
    if args.profile_batches:
        profile(model, net, opt, X, y, args.batch, args.profile_batches)
    return ratio


class TorchNet:
    """PyTorch twin: nn.LSTM / nn.GRU (batch_first), the last step's output into nn.Linear(u, 10)."""

    def __new__(cls, cell, d, units):
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](d, units, batch_first=True)
                self.out = torch.nn.Linear(units, 10)

            def forward(self, x):
                return self.out(self.rnn(x)[0][:, -1])

        torch.manual_seed(0)
        return Net()


def torch_step(net, opt, xb, yb, clock=None):
    """One PyTorch training step; with ``clock`` (a dict), add each phase's seconds to it."""
    import torch

    t0 = time.perf_counter()
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(xb), yb)
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
    if clock is not None:
        clock["forward + loss"] += t1 - t0
        clock["backward"] += t2 - t1
        clock["optimizer"] += time.perf_counter() - t2


def profile(model, net, opt, X, y, batch, n_batches):
    """ms per batch in each phase of a training step, both libraries, on the same random batches."""
    import numpy as np
    import torch

    rng = np.random.default_rng(1)
    phases = ("forward + loss", "backward", "optimizer")
    clocks = {"neuronlab": dict.fromkeys(phases, 0.0), "pytorch": dict.fromkeys(phases, 0.0)}
    params = model.params()
    criterion = model.loss.with_logits()   # the output layer hands Z to the loss (softmax + cross-entropy)
    *hidden, last = model.layers
    for b in range(n_batches + 1):
        idx = rng.integers(0, len(X), batch)
        xb, yb = X[idx], y[idx]
        c = clocks["neuronlab"] if b else dict.fromkeys(phases, 0.0)  # batch 0 allocates: not counted
        t0 = time.perf_counter()
        H = xb
        for la in hidden:
            H = la.forward(H, training=True)
        Z = last.forward_z(H, training=True)
        _, G = criterion.value_and_gradient(Z, yb)   # integer labels: the one-pass path fit takes
        t1 = time.perf_counter()
        G = last.backward_z(G)
        for la in reversed(hidden):
            G = la.backward(G)
            if G is None:
                break
        t2 = time.perf_counter()
        model.optimizer.step(params)
        c["forward + loss"] += t1 - t0
        c["backward"] += t2 - t1
        c["optimizer"] += time.perf_counter() - t2
        torch_step(net, opt, torch.from_numpy(xb), torch.from_numpy(yb),
                   clocks["pytorch"] if b else dict.fromkeys(phases, 0.0))
    print(f"  profile over {n_batches} batches (ms per batch):")
    print(f"    {'':12s}" + "".join(f"{p:>16s}" for p in phases) + f"{'total':>10s}")
    for name, c in clocks.items():
        print(f"    {name:12s}" + "".join(f"{c[p] / n_batches * 1e3:16.2f}" for p in phases)
              + f"{sum(c.values()) / n_batches * 1e3:10.2f}")


if __name__ == "__main__":
    main()
