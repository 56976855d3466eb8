"""The guide's claims, shown with real numbers and figures: ``nl.demos.run("vanishing", "out/")``.

One module per topic; each has ``run(out_dir, seed=0, quick=False) -> dict`` that writes PNG
figures and a JSON of its numbers into ``out_dir``, prints a short table and returns the
numbers. ``quick=True`` is a small version (seconds) for tests. Figures need matplotlib
(``pip install 'neuronlab[cli]'``), imported only when a demo runs.
"""

from __future__ import annotations

import importlib

TOPICS = ("activations", "vanishing", "exploding", "optimizers", "momentum", "adagrad", "small-lr", "batch",
          "dropout", "dropout-masks", "init", "minima", "memory", "filters", "rl")

__all__ = ["TOPICS", "run", "names"]


def names() -> list[str]:
    """The demo topics, in the guide's order."""
    return list(TOPICS)


def run(topic: str, out_dir, seed: int = 0, quick: bool = False) -> dict:
    """Run the demo ``topic`` (one of :data:`TOPICS`) and return its numbers."""
    if topic not in TOPICS:
        raise ValueError(f"unknown demo {topic!r}; valid names: {', '.join(TOPICS)}")
    module = importlib.import_module(f"{__name__}.{topic.replace('-', '_')}")
    return module.run(out_dir, seed=seed, quick=quick)
