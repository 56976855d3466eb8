"""Model files: safetensors with the architecture as JSON metadata; never pickle.

The container is the safetensors format (``8-byte length N | N bytes of JSON header | raw
little-endian tensor bytes``), written and parsed by the official ``safetensors`` package
(``pip install "neuronlab[cli]"``), which validates every offset in Rust. The header's
``__metadata__`` (string → string) holds:

=================  ==========================================================
``format``         ``"neuronlab"`` (a file without it is refused)
``format_version`` ``"2"`` (version 1, before checksums, still loads)
``architecture``   ``model.get_config()`` as JSON: layer types and configs
``compile``        loss and metrics, when the model was compiled
``optimizer``      optimizer registry name and ``get_config()``, when saved
``rng``            ``model.rng.bit_generator.state``, when saved
``extra``          any JSON the caller adds (history, epoch, class names, ...)
``checksum``       ``"sha256:<hex>"`` of every other metadata entry and every
                   tensor's name, dtype, shape and bytes (in name order);
                   required from format version 2 on
=================  ==========================================================

Tensors: ``params/<layer>/<W|B|...>`` for the weights, ``buffers/<layer>/<name>`` for
non-trainable state (``Layer.buffers()``, e.g. BatchNorm's running statistics) and
``optimizer/<state_dict key>`` for the optimizer state.

Loading treats the file as hostile (see SECURITY.md): sizes are checked before anything
is allocated (file size, header length, header JSON), the container is parsed by
``safetensors``, the checksum is verified, the architecture JSON is checked against a
schema, each layer's parameter shapes are compared with the file's tensors *before* the
layer allocates them, and every tensor's name, dtype, shape and finiteness is checked
before a single value is copied. Every failure is a :class:`ModelFileError`.

Writes are atomic: a temporary file in the same folder, fsync, then ``os.replace``; a
crash at any point leaves either the old file or the new one, never a mix. Temporary
files left by killed writers are removed by the next successful save.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile

import numpy as np

from .core import NeuronlabError, NonFiniteError

__all__ = ["ModelFileError", "save_model", "read_model_file", "json_field", "check_plan", "planned_tensors",
           "read_safetensors", "write_safetensors", "read_header", "checksum", "FORMAT", "FORMAT_VERSION"]

FORMAT = "neuronlab"
SUFFIX = ".safetensors"  # what save_model writes, and the only name it accepts
FORMAT_VERSION = 2  # 2: the checksum is required (1: files written before it)
MAX_HEADER_BYTES = 16 << 20       # the JSON header (safetensors' own cap is 100 MB)
MAX_HEADER_CONTAINERS = 50_000    # JSON arrays/objects in a parsed header or metadata entry
_DIAGNOSE_BYTES = 256 << 10       # headers safetensors refused are parsed here up to this size
MAX_ARCHITECTURE_BYTES = 1 << 20  # the architecture JSON inside the metadata
MAX_LAYERS = 1000
MAX_SAMPLE_VALUES = 1 << 31       # values in one input sample (prod of input_shape)
MAX_ACTIVATION_VALUES = 1 << 22   # values one sample makes in all layers' outputs (16 MiB in float32)
_CHECKSUM = "checksum"

_DTYPES = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16,
           "F16": np.float16, "U32": np.uint32, "I32": np.int32, "F32": np.float32, "U64": np.uint64,
           "I64": np.int64, "F64": np.float64}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}


class ModelFileError(NeuronlabError, ValueError):
    """A model file is missing, not a neuronlab safetensors file, truncated, corrupted
    (checksum), too large in a declared size, or does not match the architecture it
    declares (a tensor's name, dtype, shape or finiteness). The only error loading raises
    for a bad file."""


def _safetensors():
    try:
        import safetensors.numpy as st
        from safetensors import SafetensorError
    except ImportError:
        raise ImportError('model files need the safetensors package: pip install "neuronlab[cli]"',
                          name="safetensors") from None
    return st, SafetensorError


# -- the container --------------------------------------------------------------------------
def _little_endian(arr) -> np.ndarray:
    arr = np.asarray(arr)  # (np.ascontiguousarray would turn a 0-d scalar into shape (1,))
    if arr.dtype not in _CODES:
        raise ValueError(f"write_safetensors: dtype {arr.dtype} is not supported")
    arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def checksum(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> str:
    """``"sha256:<hex>"`` of the metadata (but its ``checksum`` entry) and the tensors.

    Each metadata key and value, then each tensor's name, dtype code, shape and
    little-endian bytes, in sorted order and length-prefixed: the sum does not depend on
    where a writer put the tensors in the file, only on what the file says.
    """
    h = hashlib.sha256(b"neuronlab checksum 1\n")

    def field(b: bytes):
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)

    for key in sorted(metadata):
        if key != _CHECKSUM:
            field(key.encode("utf-8", "surrogatepass"))
            field(metadata[key].encode("utf-8", "surrogatepass"))
    for name in sorted(tensors):
        arr = _little_endian(tensors[name])
        field(name.encode("utf-8", "surrogatepass"))
        field(_CODES[arr.dtype.newbyteorder("=")].encode())
        field(json.dumps(list(arr.shape)).encode())
        h.update(arr.nbytes.to_bytes(8, "little"))
        h.update(arr.reshape(-1).view(np.uint8))
    return "sha256:" + h.hexdigest()


def write_safetensors(path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (name → array) and string ``metadata`` as a safetensors file, atomically.

    When the metadata says ``format = "neuronlab"`` its ``checksum`` entry is (re)computed.
    """
    st, _ = _safetensors()
    arrays = {str(k): _little_endian(v) for k, v in tensors.items()}
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    if meta.get("format") == FORMAT:
        meta[_CHECKSUM] = checksum(arrays, meta)
    data = st.save(arrays, metadata=meta or None)
    _atomic_write(path, data)


def _atomic_write(path, data: bytes) -> None:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = _temp_stem(os.path.basename(path))
    mode = _new_file_mode(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{base}.{os.getpid()}.", suffix=".tmp")
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
        try:  # make the rename itself durable
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    finally:
        if tmp is not None:
            try:
                os.remove(tmp)
            except OSError:
                pass
    _remove_stale_temporaries(folder, base)


def _temp_stem(base: str) -> str:
    """The target's name in its temporary file's name, shortened (with a hash) so that the
    temporary name fits the 255-byte limit of file names when the target's name nearly does."""
    if len(os.fsencode(base)) <= 120:
        return base
    digest = hashlib.sha256(os.fsencode(base)).hexdigest()[:16]
    return base[:40] + "~" + digest  # (40 characters are at most 160 bytes)


def _new_file_mode(path) -> int:
    """The permission bits the saved file gets: the replaced file's, else 0o666 minus the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def _remove_stale_temporaries(folder, base) -> None:
    """Delete ``.<base>.<pid>.*.tmp`` files whose writer process no longer exists (killed saves)."""
    if os.name != "posix":
        return
    pattern = re.compile(rf"\.{re.escape(base)}\.(\d+)\.[^/]+\.tmp")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        m = pattern.fullmatch(name)
        if m is None or int(m.group(1)) == os.getpid() or process_alive(int(m.group(1))):
            continue
        try:
            os.remove(os.path.join(folder, name))
        except OSError:
            pass


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` may still run on this machine (True when we may not signal it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _open_checked(path):
    """Open a regular file for reading and return ``(file, size)``."""
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot open ({e.strerror or e})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ModelFileError(f"{path}: not a regular file")
    return os.fdopen(fd, "rb"), st.st_size


def _header_length(path, first: bytes, size: int) -> int:
    if size < 8:
        raise ModelFileError(f"{path}: not a neuronlab model file (only {size} bytes)")
    n = int.from_bytes(first[:8], "little")
    if n < 2 or n > MAX_HEADER_BYTES:
        raise ModelFileError(f"{path}: not a neuronlab model file (not safetensors: header length {n}, "
                             f"the limit is {MAX_HEADER_BYTES})")
    if 8 + n > size:
        raise ModelFileError(f"{path}: truncated: the header needs {n} bytes, the file has {size - 8}")
    return n


def _parse_header(path, head: bytes, data_len: int) -> tuple[dict, dict]:
    """Check the JSON header's structure; return ``(tensor infos, metadata)``.

    An info is ``(dtype code, shape, (start, end))``. Each tensor's dtype must be one this
    reader knows, its shape must account for exactly its byte range, and that range must
    lie inside the data; gaps and overlaps are left to ``safetensors``.
    """
    if head.count(b"[") + head.count(b"{") > MAX_HEADER_CONTAINERS:
        raise ModelFileError(f"{path}: the header has more than {MAX_HEADER_CONTAINERS} JSON arrays/objects")
    try:
        header = json.loads(head.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: not a neuronlab model file (header is not UTF-8)") from None
    except _DuplicateKey as e:
        raise ModelFileError(f"{path}: the header names {e.args[0]!r} twice") from None
    except (ValueError, RecursionError):
        raise ModelFileError(f"{path}: not a neuronlab model file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: not a neuronlab model file (header is not a JSON object)")
    meta = header.pop("__metadata__", None)
    meta = {} if meta is None else meta
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ModelFileError(f"{path}: metadata must map strings to strings")
    infos = {}
    for name, info in header.items():
        try:
            code = info["dtype"]
            dtype = np.dtype(_DTYPES[code])
            shape = tuple(info["shape"])
            lo, hi = info["data_offsets"]
            ok = (all(type(d) is int and d >= 0 for d in (*shape, lo, hi)) and lo <= hi
                  and set(info) == {"dtype", "shape", "data_offsets"})
        except (KeyError, TypeError, ValueError):
            raise ModelFileError(f"{path}: tensor {name!r} has a malformed header entry") from None
        if not ok:
            raise ModelFileError(f"{path}: tensor {name!r} has a malformed shape or offsets")
        need = dtype.itemsize
        for d in shape:
            need *= d
        if hi - lo != need:
            raise ModelFileError(f"{path}: tensor {name!r} declares shape {shape} ({code}, {need} bytes) "
                                 f"but its data holds {hi - lo} bytes")
        if hi > data_len:
            raise ModelFileError(f"{path}: truncated: tensor {name!r} needs bytes up to {hi}, "
                                 f"the file has {data_len} data bytes")
        infos[name] = (code, shape, (lo, hi))
    return infos, meta


def read_header(path) -> tuple[dict, dict]:
    """``(tensor_infos, metadata)`` from a safetensors file's header, without reading the data.

    A tensor info is ``(dtype code, shape, (start, end))``.
    """
    path = os.fspath(path)
    f, size = _open_checked(path)
    with f:
        first = f.read(8)
        n = _header_length(path, first, size)
        head = f.read(n)
    if len(head) != n:
        raise ModelFileError(f"{path}: truncated while reading the header")
    return _parse_header(path, head, size - 8 - n)


def _read(path) -> tuple[dict[str, np.ndarray], dict[str, str], dict]:
    """Read-only arrays, metadata and tensor infos of a safetensors file, every size checked first.

    ``safetensors`` parses first (in Rust, against its strict schema: offsets contiguous, no
    overlap, the data fully covered), so Python only ever builds objects from a header of
    that shape. When it refuses a small header, the header is parsed here to say precisely
    what is wrong.
    """
    st, SafetensorError = _safetensors()
    f, size = _open_checked(path)
    with f:
        first = f.read(8)
        n = _header_length(path, first, size)
        raw = first + f.read(size - 8)
    if len(raw) != size:
        raise ModelFileError(f"{path}: truncated while reading ({len(raw)} of {size} bytes)")
    try:
        tensors = st.load(raw)
    except (SafetensorError, KeyError, ValueError, TypeError) as e:
        if n <= _DIAGNOSE_BYTES:
            _parse_header(path, raw[8:8 + n], size - 8 - n)  # raises the precise reason when it finds one
        raise ModelFileError(f"{path}: not a valid safetensors file ({e})") from None
    infos, meta = _parse_header(path, raw[8:8 + n], size - 8 - n)
    if tensors.keys() != infos.keys():
        raise ModelFileError(f"{path}: the safetensors header and its tensors disagree")
    return tensors, meta, infos


def read_safetensors(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every tensor (as a writable copy) and the metadata of a safetensors file, checked.

    Each tensor's declared dtype and shape must account for exactly its byte range, the
    ranges must tile the data section, and the file must not be truncated.
    """
    path = os.fspath(path)
    tensors, meta, _ = _read(path)
    return {k: np.array(v) for k, v in tensors.items()}, meta


# -- models --------------------------------------------------------------------------------
def save_model(model, path, include_optimizer: bool = True, include_rng: bool = True,
               extra: dict | None = None) -> None:
    """Save ``model`` (architecture, weights, and optionally optimizer and RNG state) to ``path``.

    ``nl.load_model`` / :mod:`neuronlab.saving` read it back.

    Parameters
    ----------
    include_optimizer : bool
        Store the optimizer's class, hyperparameters and state (momentum buffers, Adam's
        moments, step counts), so that training can resume exactly.
    include_rng : bool
        Store ``model.rng``'s state (shuffling and dropout continue the same sequence).
    extra : dict, optional
        JSON-able data stored alongside (e.g. history, epoch, class names).

    Raises
    ------
    ValueError
        ``path`` does not end in ``.safetensors`` (the suffix is never appended silently).
    NonFiniteError
        A weight or buffer holds NaN or inf, or the optimizer state holds NaN: nothing is
        written and a previous file at ``path`` is left as it was.
    """
    if not os.fspath(path).endswith(SUFFIX):  # the file is safetensors: its name says so (no "m.keras")
        raise ValueError(f"save_model: a model file is safetensors, so its name must end in {SUFFIX}, got "
                         f"{os.fspath(path)!r}; for ONNX use model.to_onnx(path)")
    if not model.built:
        raise ValueError("save_model: the model is not built yet (give input_dim or call fit/build)")
    tensors = {f"params/{p.name}": p.value for p in model.params()}
    tensors.update({f"buffers/{k}": np.asarray(v) for k, v in layer_buffers(model).items()})
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
            "architecture": json.dumps(model.get_config())}
    try:
        from . import __version__
        meta["neuronlab_version"] = __version__
    except ImportError:  # pragma: no cover
        pass
    if model.loss is not None:
        comp = {"loss": model.loss.name, "metrics": list(model.metrics)}
        if model.loss.config():
            comp["loss_config"] = model.loss.config()
        meta["compile"] = json.dumps(comp)
    opt = model.optimizer
    if include_optimizer and opt is not None:
        meta["optimizer"] = json.dumps({"name": type(opt).name, "config": opt.get_config()})
        for key, arr in opt.state_dict().items():
            tensors[f"optimizer/{key}"] = np.asarray(arr)
    if include_rng:
        meta["rng"] = json.dumps(model.rng.bit_generator.state)
    if extra is not None:
        meta["extra"] = json.dumps(extra)
    for key, arr in tensors.items():  # a file that load_model would refuse is never written
        if arr.dtype.kind != "f":
            continue
        state = key.startswith("optimizer/")  # (Adam's second moment may overflow to inf harmlessly)
        if np.isnan(arr).any() if state else not np.isfinite(arr).all():
            raise NonFiniteError(f"save_model: {key!r} holds {'NaN' if state else 'NaN or inf'}; refusing to "
                                 f"write {os.fspath(path)!r} (a file already there is left as it was)")
    write_safetensors(path, tensors, meta)


def layer_buffers(model) -> dict[str, np.ndarray]:
    """Non-trainable state of every layer (e.g. BatchNorm running statistics), by name."""
    out: dict[str, np.ndarray] = {}
    for layer in model.layers:
        get = getattr(layer, "buffers", None)
        if get is not None:
            out.update(get())
    return out


def read_model_file(path) -> tuple[dict[str, np.ndarray], dict[str, str], dict]:
    """Tensors, metadata and tensor infos of a neuronlab model file, its format and checksum verified."""
    tensors, meta, infos = _read(path)
    _check_ours(path, meta)
    _check_checksum(path, tensors, meta)
    return tensors, meta, infos


def json_field(path, meta, key, required=False, limit=None):
    """The metadata entry ``key`` parsed as JSON, within the size and nesting limits."""
    if key not in meta:
        if required:
            raise ModelFileError(f"{path}: the metadata has no {key!r} entry")
        return None
    text = meta[key]
    if limit is not None and len(text) > limit:
        raise ModelFileError(f"{path}: metadata {key!r} is longer than {limit} characters")
    if text.count("[") + text.count("{") > MAX_HEADER_CONTAINERS:
        raise ModelFileError(f"{path}: metadata {key!r} has more than {MAX_HEADER_CONTAINERS} JSON arrays/objects")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # also Python's limit on digits of an int
        raise ModelFileError(f"{path}: metadata {key!r} is not valid JSON") from None


def _check_ours(path, meta):
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: a safetensors file but not a neuronlab model (no format={FORMAT!r} "
                             f"in its metadata)")
    text = meta.get("format_version", "")
    if not (text.isascii() and text.isdigit() and len(text) <= 6):
        raise ModelFileError(f"{path}: bad format_version {text[:20]!r}")
    version = int(text)
    if version < 1:
        raise ModelFileError(f"{path}: bad format_version {text!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {version} is newer than this neuronlab "
                             f"reads ({FORMAT_VERSION}); upgrade neuronlab")


def _check_checksum(path, tensors, meta):
    want = meta.get(_CHECKSUM)
    if want is None:
        if int(meta["format_version"]) >= 2:
            raise ModelFileError(f"{path}: format version {meta['format_version']} requires a checksum and this "
                                 f"file has none (corrupted or altered)")
        return  # a version-1 file, written before checksums
    if checksum(tensors, meta) != want:
        raise ModelFileError(f"{path}: checksum mismatch: the file is corrupted (its tensors or metadata "
                             f"changed after it was written)")


def _sample_shape(path, value):
    ok = (isinstance(value, (list, tuple)) and 1 <= len(value) <= 8
          and all(type(d) is int and d >= 1 for d in value))
    if not ok:
        raise ModelFileError(f"{path}: the architecture's input shape must be 1 to 8 positive integers, "
                             f"got {str(value)[:80]}")
    n = 1
    for d in value:
        n *= d
    if n > MAX_SAMPLE_VALUES:
        raise ModelFileError(f"{path}: the architecture's input shape {tuple(value)} has {n} values per "
                             f"sample (limit {MAX_SAMPLE_VALUES})")
    return tuple(value)


def planned_tensors(layer, shape) -> dict[str, tuple]:
    """The file tensors ``layer.build(shape)`` will fill, from the layer's own declaration
    (``Layer.param_shapes`` / ``buffer_shapes``), computed without allocating."""
    out = {f"params/{layer.name}/{k}": tuple(v) for k, v in layer.param_shapes(shape).items()}
    out.update({f"buffers/{layer.name}/{k}": tuple(v) for k, v in layer.buffer_shapes(shape).items()})
    return out


def check_plan(path, layers, shape, infos, dtype) -> None:
    """Walk the layers from the input shape; before a layer allocates anything, its planned
    tensor shapes must be the ones the file holds (which fit in the file)."""
    scratch = np.random.default_rng(0)  # the real build (model.rng) follows once all is checked
    shape = _sample_shape(path, list(shape))
    # a few weights can declare huge activations (a 1x1 convolution over a 40000x40000 input):
    # what one sample makes in the input and every layer's output is bounded before predict runs
    total = _values(shape)
    for layer in layers:
        for key, want in planned_tensors(layer, shape).items():
            if key not in infos:
                raise ModelFileError(f"{path}: tensor {key!r} of the declared architecture is missing")
            if infos[key][1] != want:
                raise ModelFileError(f"{path}: tensor {key!r} has shape {infos[key][1]}, the architecture "
                                     f"declares {want}")
        shape = layer.build(shape, scratch, dtype)
        total += _values(shape)
        if total > MAX_ACTIVATION_VALUES:
            raise ModelFileError(f"{path}: one sample would make {total:,} values in the layers' outputs up to "
                                 f"{layer.name!r} (limit {MAX_ACTIVATION_VALUES:,}; for a model you trust, raise "
                                 f"neuronlab.io.MAX_ACTIVATION_VALUES)")


def _values(shape) -> int:
    n = 1
    for d in shape or ():
        n *= int(d)
    return n


