"""Playground speed: page updates per second and training steps per second (issue: >= 20 and >= 300).

A 2-6-6-1 tanh network on 500 points (circle, 250 for training), batch K = 10, on this machine.
A page update is what the event stream sends while playing: ``Session.state`` (the decision
boundary and every neuron's heat map by ``predict`` on a 40x40 grid, losses, weights,
gradient norms) serialised to JSON; a training step is ``Session.step`` (``train_step``).
The page-update figure with ``speed`` steps per frame includes those steps.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_playground.py
"""

from __future__ import annotations

import json
import time

from neuronlab.playground import Session


def rate(fn, seconds: float = 2.0) -> float:
    """Calls per second of ``fn`` over about ``seconds``."""
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    s = Session({"dataset": "circle", "n_samples": 500, "hidden": [6, 6], "activation": "tanh", "batch_size": 10})
    steps = rate(lambda: s.step(100)) * 100
    updates = rate(lambda: json.dumps(s.state(include_points=False)))
    playing = rate(lambda: (s.step(10), json.dumps(s.state(include_points=False))))
    print("2-6-6-1 tanh, 500 points (250 train), batch 10")
    print(f"training steps per second (Session.step, incl. train/test loss every 100): {steps:,.0f}  (target >= 300)")
    print(f"page updates per second (state + JSON, no training):                     {updates:,.0f}  (target >= 20)")
    print(f"page updates per second while playing at 10 steps per update:           {playing:,.0f}")


if __name__ == "__main__":
    main()
