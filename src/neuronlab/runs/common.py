"""What every part of a run shares: the files a run folder holds and the usage error."""

from __future__ import annotations

__all__ = ["RUN_FILES", "UsageError"]

RUN_FILES = ("model.safetensors", "checkpoint.safetensors", "history.csv", "history.json", "curves.png",
             "config.toml", "run.json")


class UsageError(ValueError):
    """A bad option value or combination (the command exits with code 2); raised without click."""
