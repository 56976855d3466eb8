"""LSTM training epoch time: neuronlab vs PyTorch (CPU), the same model and data, in one run.

The model is the sequential-MNIST one: LSTM(units) over T = 28 steps of 28 pixels, then
Dense(10, softmax), cross-entropy, Adam, mini-batches of ``--batch``. Both libraries run
with the same number of threads (default 1: the machines here are shared).

    python benchmarks/bench_lstm.py [--n 6000] [--units 128] [--batch 128] [--threads 1] [--repeat 2]

Prints seconds per epoch (best of ``--repeat``) for each library and the ratio
neuronlab / PyTorch (target ≤ 2.0).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6000, help="training samples per epoch")
    ap.add_argument("--units", type=int, default=128)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2, help="epochs timed per library (best is kept)")
    ap.add_argument("--T", type=int, default=28, help="time steps (sequential MNIST: 28)")
    args = ap.parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np
    import torch

    import neuronlab as nl

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    T, d = args.T, 28
    X = rng.random((args.n, T, d), dtype=np.float32)
    y = rng.integers(0, 10, args.n)

    model = nl.Sequential([nl.layers.LSTM(args.units, input_shape=(T, d)), nl.layers.Dense(10, "softmax")], seed=0)
    model.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.Adam(lr=1e-3, clipnorm=1.0))

    def nl_epoch():
        model.fit(X, y, epochs=1, batch_size=args.batch, verbose=0)
        return model.last_epoch_time

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(d, args.units, batch_first=True)
            self.out = torch.nn.Linear(args.units, 10)

        def forward(self, x):
            return self.out(self.lstm(x)[0][:, -1])

    torch.manual_seed(0)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def torch_epoch():
        t0 = time.perf_counter()
        perm = torch.randperm(args.n)
        for i in range(0, args.n, args.batch):
            idx = perm[i:i + args.batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(Xt[idx]), yt[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
        return time.perf_counter() - t0

    print(f"LSTM({args.units}) on (n={args.n}, T={T}, d={d}), batch {args.batch}, Adam + clipnorm 1, "
          f"{args.threads} thread(s); numpy {np.__version__}, torch {torch.__version__}, "
          f"python {sys.version.split()[0]}")
    nl_epoch(), torch_epoch()  # warm-up (buffers, allocator)
    t_nl = min(nl_epoch() for _ in range(args.repeat))
    t_torch = min(torch_epoch() for _ in range(args.repeat))
    print(f"neuronlab: {t_nl:8.3f} s/epoch   ({t_nl / args.n * 1e6:7.1f} µs/sample)")
    print(f"pytorch:   {t_torch:8.3f} s/epoch   ({t_torch / args.n * 1e6:7.1f} µs/sample)")
    ratio = t_nl / t_torch
    print(f"ratio neuronlab / pytorch = {ratio:.2f}x  (target <= 2.0x: {'met' if ratio <= 2.0 else 'NOT met'})")
    return ratio


if __name__ == "__main__":
    main()
