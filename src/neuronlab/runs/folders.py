"""Run folders: claimed by one ``neuronlab train`` at a time, checked before training, marked
when a run fails, and the data's SHA-256 that ``--resume`` compares.

A run holds ``<out>/.neuronlab-run.lock`` (created with ``O_CREAT | O_EXCL``: of two runs
started together exactly one gets it) from its first step to its last. A second run into the
same folder stops at once, naming the first (its process id, host and start time). A run that
fails removes the folder when it had written nothing else, and otherwise leaves
``INCOMPLETE.txt`` saying why.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from contextlib import contextmanager

from ..io import process_alive
from .common import RUN_FILES, UsageError

__all__ = ["LOCK", "INCOMPLETE", "check_folder", "claimed", "data_digest"]

LOCK = ".neuronlab-run.lock"
INCOMPLETE = "INCOMPLETE.txt"
WRITTEN = (*RUN_FILES, "interrupted.safetensors", "confusion_matrix.png", INCOMPLETE, LOCK)


def _holder(out_dir) -> dict | None:
    """What the lock file says (pid, host, started), or None when there is none."""
    try:
        with open(os.path.join(out_dir, LOCK), encoding="utf-8") as f:
            info = json.loads(f.read(4096))
        return info if isinstance(info, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def _alive(info: dict) -> bool:
    """Whether the run holding the lock may still be running (always True for another host)."""
    pid = info.get("pid")
    if info.get("host") != socket.gethostname() or type(pid) is not int:
        return True
    return process_alive(pid)


def _describe(info: dict) -> str:
    return (f"pid {info.get('pid', '?')} on {info.get('host', '?')}, started {info.get('started', '?')}"
            if info else "a run whose lock file cannot be read")


def check_folder(out_dir, resume: bool = False) -> None:
    """Refuse, before anything is read or trained, a folder that another run holds, a symbolic link
    where a run file goes, or (without ``resume``) a folder that already holds a run."""
    where = "--resume" if resume else "--out"
    for name in WRITTEN:
        if os.path.islink(os.path.join(out_dir, name)):
            raise UsageError(f"{where}: {os.path.join(out_dir, name)} is a symbolic link; a run never writes "
                             f"through one (remove it)")
    info = _holder(out_dir)
    if info is not None and _alive(info):
        raise UsageError(f"{where}: {out_dir} is being written by another neuronlab train ({_describe(info)}); "
                         f"wait for it or choose another --out")
    if not resume and any(os.path.lexists(os.path.join(out_dir, f)) for f in WRITTEN):
        raise UsageError(f"{where}: {out_dir} already holds a run; use --resume {out_dir} or another --out")


def _claim(out_dir, resume: bool) -> None:
    check_folder(out_dir, resume)
    path = os.path.join(out_dir, LOCK)
    if resume and _holder(out_dir) is not None:  # the lock of a run that was killed: take it over
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    # the lock appears with its content or not at all: written to a private name, then hard-linked
    # to LOCK, which fails if LOCK exists (a reader never sees an empty lock of a run just starting)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(info))
        os.link(tmp, path)
    except FileExistsError:
        raise UsageError(f"--out: {out_dir} is being written by another neuronlab train "
                         f"({_describe(_holder(out_dir) or {})}); wait for it or choose another --out") from None
    except OSError as e:
        raise UsageError(f"--out: cannot write in {out_dir} ({e.strerror or e})") from None
    finally:
        try:
            os.remove(tmp)
        except OSError:
            pass


@contextmanager
def claimed(out_dir, resume: bool = False, created: bool = False):
    """Hold ``out_dir`` for one run. On an exception the folder is removed when the run wrote
    nothing else into it and ``created`` says it made it; otherwise INCOMPLETE.txt tells why."""
    _claim(out_dir, resume)
    try:
        yield
    except BaseException as e:
        _mark_failed(out_dir, e, created)
        raise
    else:
        for name in (INCOMPLETE, LOCK):
            try:
                os.remove(os.path.join(out_dir, name))
            except FileNotFoundError:
                pass


def _mark_failed(out_dir, error, created) -> None:
    try:
        os.remove(os.path.join(out_dir, LOCK))
        left = os.listdir(out_dir)
        if not left and created:
            os.rmdir(out_dir)
            return
        if not left:
            return
        with open(os.path.join(out_dir, INCOMPLETE), "w", encoding="utf-8") as f:
            f.write(f"This run did not finish: {type(error).__name__}: {str(error)[:500]}\n"
                    f"Its files are partial. With checkpoint.safetensors here, continue it with "
                    f"neuronlab train --resume {out_dir}; otherwise remove this folder.\n")
    except OSError:
        pass  # (the folder itself may be what failed; the error being raised says why)


def data_digest(spec) -> str | None:
    """SHA-256 of a data file, or of a folder's regular files (names and bytes, in name order);
    None for a dataset name."""
    if not isinstance(spec, str) or not os.path.exists(spec):
        return None
    h = hashlib.sha256()
    files = [spec] if os.path.isfile(spec) else sorted(
        os.path.join(spec, n) for n in os.listdir(spec) if os.path.isfile(os.path.join(spec, n)))
    for path in files:
        h.update(os.path.basename(path).encode("utf-8", "surrogateescape") + b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
