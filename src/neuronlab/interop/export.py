"""``neuronlab export MODEL --format onnx``: a model file in, an ONNX file out (no click here)."""

from __future__ import annotations

import os

from ..saving import load_checkpoint
from ..validation import Options, check
from .onnx import to_onnx

__all__ = ["FORMATS", "export_file"]

FORMATS = ("onnx",)


def export_file(model_path, fmt: str = "onnx", out=None, force: bool = False) -> str:
    """Load a model (or checkpoint) file and write it as ``out`` (default: MODEL with the format's suffix).

    Refuses to replace an existing file unless ``force``; the file is written atomically.
    Returns the path written.
    """
    fmt = check("export", "format", fmt, Options(*FORMATS))
    model_path = os.fspath(model_path)
    out = os.path.splitext(model_path)[0] + f".{fmt}" if out is None else os.fspath(out)
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"export: the folder {folder} does not exist (for --out {out})")
    if os.path.isdir(out):
        raise IsADirectoryError(f"export: {out} is a folder; give the file to write, e.g. {out}/model.{fmt}")
    if os.path.exists(out) and not force:
        raise FileExistsError(f"export: {out} already exists; pass --force to overwrite it")
    model, _extra = load_checkpoint(model_path)
    return to_onnx(model, out)
