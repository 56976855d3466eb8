"""Model files: safetensors with the architecture as JSON metadata; never pickle.

A file is ``8-byte little-endian header length N | N bytes of JSON header | raw tensor
bytes``, the safetensors layout, written and read here with NumPy alone (the files open in
the ``safetensors`` library too). The header's ``__metadata__`` (string → string) holds:

=================  ==========================================================
``format``         ``"neuronlab"`` (a file without it is refused)
``format_version`` ``"1"``
``architecture``   ``model.get_config()`` as JSON: layer types and configs
``compile``        loss and metrics, when the model was compiled
``optimizer``      optimizer registry name and ``get_config()``, when saved
``rng``            ``model.rng.bit_generator.state``, when saved
``extra``          any JSON the caller adds (history, epoch, class names, ...)
=================  ==========================================================

Tensors: ``params/<layer>/<W|B|...>`` for the weights, ``buffers/<layer>/<name>`` for
non-trainable state (``Layer.buffers()``, e.g. BatchNorm's running statistics) and
``optimizer/<state_dict key>`` for the optimizer state. Loading rebuilds the model from the architecture and checks
every tensor's name, dtype and shape against it before copying a single value.

Writes are atomic: a temporary file in the same folder, fsync, then ``os.replace``; a
crash at any point leaves either the old file or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from .core import NeuronlabError

__all__ = ["ModelFileError", "save_model", "load_model", "load_checkpoint", "read_safetensors",
           "write_safetensors", "read_header", "FORMAT", "FORMAT_VERSION"]

FORMAT = "neuronlab"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 100 << 20

_DTYPES = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16,
           "F16": np.float16, "U32": np.uint32, "I32": np.int32, "F32": np.float32, "U64": np.uint64,
           "I64": np.int64, "F64": np.float64}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}


class ModelFileError(NeuronlabError, ValueError):
    """A model file is missing, not a neuronlab safetensors file, truncated, or does not
    match the architecture it declares (a tensor's name, dtype or shape)."""


# -- the container --------------------------------------------------------------------------
def write_safetensors(path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (name → array) and string ``metadata`` as a safetensors file, atomically."""
    header: dict = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name, arr in tensors.items():
        arr = np.asarray(arr)  # (np.ascontiguousarray would turn a 0-d scalar into shape (1,))
        if arr.dtype not in _CODES:
            raise ValueError(f"write_safetensors: tensor {name!r} has unsupported dtype {arr.dtype}")
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes(order="C")
        header[name] = {"dtype": _CODES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)  # pad so that the data starts 8-byte aligned
    _atomic_write(path, [len(head).to_bytes(8, "little"), head, *blobs])


def _atomic_write(path, chunks) -> None:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for c in chunks:
                f.write(c)
            f.flush()
            os.fsync(f.fileno())
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
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def _parse_header(path, raw: bytes, file_size: int) -> tuple[dict, int]:
    if file_size < 8:
        raise ModelFileError(f"{path}: not a neuronlab model file (only {file_size} bytes)")
    n = int.from_bytes(raw[:8], "little")
    if n > MAX_HEADER_BYTES or n < 2:
        raise ModelFileError(f"{path}: not a neuronlab model file (not safetensors: header length {n})")
    if 8 + n > file_size:
        raise ModelFileError(f"{path}: truncated: the header needs {n} bytes, the file has {file_size - 8}")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"{path}: not a neuronlab model file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: not a neuronlab model file (header is not a JSON object)")
    return header, 8 + n


def read_header(path) -> tuple[dict, dict]:
    """``(tensor_infos, metadata)`` from a safetensors file's header, without reading the data."""
    path = os.fspath(path)
    size = _file_size(path)
    with open(path, "rb") as f:
        first = f.read(8)
        n = int.from_bytes(first, "little") if len(first) == 8 else 0
        raw = first + f.read(min(n, MAX_HEADER_BYTES + 1))
    header, _ = _parse_header(path, raw, size)
    meta = header.pop("__metadata__", None) or {}
    return header, meta


def _file_size(path) -> int:
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such file")
    return os.path.getsize(path)


def read_safetensors(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read every tensor and the metadata of a safetensors file, checking its structure.

    Each tensor's declared dtype and shape must account for exactly its byte range, the
    ranges must tile the data section, and the file must not be truncated.
    """
    path = os.fspath(path)
    size = _file_size(path)
    with open(path, "rb") as f:
        raw = f.read()
    header, start = _parse_header(path, raw, size)
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ModelFileError(f"{path}: metadata must map strings to strings")
    data_len = size - start
    spans, tensors = [], {}
    for name, info in header.items():
        try:
            dtype = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
            shape = tuple(info["shape"])
            lo, hi = info["data_offsets"]
            ok = all(isinstance(d, int) and d >= 0 for d in (*shape, lo, hi)) and lo <= hi
        except (KeyError, TypeError, ValueError):
            raise ModelFileError(f"{path}: tensor {name!r} has a malformed header entry") from None
        if not ok:
            raise ModelFileError(f"{path}: tensor {name!r} has a malformed shape or offsets")
        need = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        if hi - lo != need:
            raise ModelFileError(f"{path}: tensor {name!r} declares shape {shape} ({info['dtype']}, {need} bytes) "
                                 f"but its data holds {hi - lo} bytes")
        if hi > data_len:
            raise ModelFileError(f"{path}: truncated: tensor {name!r} needs bytes up to {hi}, "
                                 f"the file has {data_len} data bytes")
        spans.append((lo, hi, name))
        tensors[name] = np.frombuffer(raw, dtype=dtype, count=need // dtype.itemsize,
                                      offset=start + lo).reshape(shape).astype(dtype.newbyteorder("="))
    pos = 0
    for lo, hi, name in sorted(spans):
        if lo != pos:
            raise ModelFileError(f"{path}: tensor {name!r} starts at byte {lo}, expected {pos} (overlap or gap)")
        pos = hi
    if pos != data_len:
        raise ModelFileError(f"{path}: {data_len - pos} unexpected bytes after the last tensor")
    return tensors, meta


# -- models --------------------------------------------------------------------------------
def save_model(model, path, include_optimizer: bool = True, include_rng: bool = True,
               extra: dict | None = None) -> None:
    """Save ``model`` (architecture, weights, and optionally optimizer and RNG state) to ``path``.

    Parameters
    ----------
    include_optimizer : bool
        Store the optimizer's class, hyperparameters and state (momentum buffers, Adam's
        moments, step counts), so that training can resume exactly.
    include_rng : bool
        Store ``model.rng``'s state (shuffling and dropout continue the same sequence).
    extra : dict, optional
        JSON-able data stored alongside (e.g. history, epoch, class names).
    """
    if not model.built:
        raise ValueError("save_model: the model is not built yet (give input_dim or call fit/build)")
    tensors = {f"params/{p.name}": p.value for p in model.params()}
    tensors.update({f"buffers/{k}": np.asarray(v) for k, v in _buffers(model).items()})
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
            "architecture": json.dumps(model.get_config())}
    try:
        from . import __version__
        meta["neuronlab_version"] = __version__
    except ImportError:  # pragma: no cover
        pass
    if model.loss is not None:
        meta["compile"] = json.dumps({"loss": model.loss.name, "metrics": list(model.metrics)})
    opt = model.optimizer
    if include_optimizer and opt is not None:
        meta["optimizer"] = json.dumps({"name": type(opt).name, "config": opt.get_config()})
        for key, arr in opt.state_dict().items():
            tensors[f"optimizer/{key}"] = np.asarray(arr)
    if include_rng:
        meta["rng"] = json.dumps(model.rng.bit_generator.state)
    if extra is not None:
        meta["extra"] = json.dumps(extra)
    write_safetensors(path, tensors, meta)


def _buffers(model) -> dict[str, np.ndarray]:
    """Non-trainable state of every layer (e.g. BatchNorm running statistics), by name."""
    out: dict[str, np.ndarray] = {}
    for layer in model.layers:
        get = getattr(layer, "buffers", None)
        if get is not None:
            out.update(get())
    return out


def _json_field(path, meta, key, required=False):
    if key not in meta:
        if required:
            raise ModelFileError(f"{path}: the metadata has no {key!r} entry")
        return None
    try:
        return json.loads(meta[key])
    except json.JSONDecodeError:
        raise ModelFileError(f"{path}: metadata {key!r} is not valid JSON") from None


def _check_ours(path, meta):
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: a safetensors file but not a neuronlab model (no format={FORMAT!r} "
                             f"in its metadata)")
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise ModelFileError(f"{path}: bad format_version {meta.get('format_version')!r}") from None
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {version} is newer than this neuronlab "
                             f"reads ({FORMAT_VERSION}); upgrade neuronlab")


def _build(path, arch):
    from .layers import registry as layer_registry
    from .model import Sequential

    try:
        model = Sequential(seed=arch.get("seed"), dtype=arch.get("dtype", "float32"))
        for entry in arch["layers"]:
            cls = layer_registry.lookup(entry["type"])
            layer = cls.from_config(dict(entry.get("config") or {}))
            if entry.get("name"):
                layer.name = str(entry["name"])
            model.add(layer)
        if arch.get("input_shape") is not None and not model.built:
            model.build(tuple(arch["input_shape"]))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelFileError(f"{path}: cannot rebuild the architecture ({type(e).__name__}: {e})") from None
    return model


def load_checkpoint(path, compile: bool = True):
    """Load a model file; return ``(model, extra)`` where ``extra`` is the saved extra dict.

    The optimizer (with its state) and the RNG state are restored when the file has them;
    see :func:`load_model`.
    """
    path = os.fspath(path)
    tensors, meta = read_safetensors(path)
    _check_ours(path, meta)
    arch = _json_field(path, meta, "architecture", required=True)
    if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list):
        raise ModelFileError(f"{path}: the architecture must be an object with a 'layers' list")
    model = _build(path, arch)

    # every tensor must be expected, and every expected tensor present, with its dtype and shape
    expected = {f"params/{p.name}": p.value for p in model.params()}
    expected.update({f"buffers/{k}": v for k, v in _buffers(model).items()})
    opt_tensors = {k[len("optimizer/"):]: v for k, v in tensors.items() if k.startswith("optimizer/")}
    unknown = [k for k in tensors if k not in expected and not k.startswith("optimizer/")]
    if unknown:
        raise ModelFileError(f"{path}: tensor {unknown[0]!r} is not part of the declared architecture")
    for key, target in expected.items():
        if key not in tensors:
            raise ModelFileError(f"{path}: tensor {key!r} of the declared architecture is missing")
        t = tensors[key]
        if t.dtype != target.dtype:
            raise ModelFileError(f"{path}: tensor {key!r} has dtype {t.dtype}, the architecture needs {target.dtype}")
        if t.shape != target.shape:
            raise ModelFileError(f"{path}: tensor {key!r} has shape {t.shape}, the architecture declares "
                                 f"{target.shape}")
        if t.dtype.kind == "f" and not np.isfinite(t).all():
            raise ModelFileError(f"{path}: tensor {key!r} contains NaN or inf")
    for key, target in expected.items():
        target[...] = tensors[key]

    comp = _json_field(path, meta, "compile")
    opt_meta = _json_field(path, meta, "optimizer")
    if compile and comp is not None:
        optimizer = _optimizer(path, opt_meta, opt_tensors, model) if opt_meta is not None else "sgd"
        try:
            model.compile(loss=comp["loss"], optimizer=optimizer, metrics=comp.get("metrics") or [])
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFileError(f"{path}: cannot compile with the saved loss/metrics ({e})") from None
    elif opt_tensors and opt_meta is None:
        raise ModelFileError(f"{path}: has optimizer tensors but no optimizer metadata")

    rng_state = _json_field(path, meta, "rng")
    if rng_state is not None:
        try:
            if rng_state.get("bit_generator") != type(model.rng.bit_generator).__name__:
                raise ValueError(f"bit generator {rng_state.get('bit_generator')!r}")
            model.rng.bit_generator.state = rng_state
        except (AttributeError, TypeError, ValueError, KeyError) as e:
            raise ModelFileError(f"{path}: invalid RNG state ({e})") from None
    extra = _json_field(path, meta, "extra") or {}
    return model, extra


def _optimizer(path, opt_meta, opt_tensors, model):
    from . import optimizers

    try:
        cls = optimizers.registry.lookup(opt_meta["name"])
        config = dict(opt_meta.get("config", {}))
        # lr is the current one, which a schedule may have brought to 0 (a value the constructor
        # refuses); it is set after construction, from the state when saved there
        lr = config.pop("lr", None)
        opt = cls(**config)
        if lr is not None:
            if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr >= 0 or lr == float("inf"):
                raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
            opt.lr = float(lr)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelFileError(f"{path}: cannot rebuild the optimizer ({type(e).__name__}: {e})") from None
    shapes = {p.name: p.value.shape for p in model.params()}
    for key, arr in opt_tensors.items():
        pname, _, slot = key.rpartition("/")
        if key == "iterations" or not pname:
            if arr.shape != ():
                raise ModelFileError(f"{path}: optimizer tensor {key!r} must be a scalar, has shape {arr.shape}")
            continue
        if pname not in shapes:
            raise ModelFileError(f"{path}: optimizer tensor {'optimizer/' + key!r} names no parameter of the model")
        if arr.shape not in (shapes[pname], ()):
            raise ModelFileError(f"{path}: optimizer tensor {'optimizer/' + key!r} has shape {arr.shape}, "
                                 f"its parameter has {shapes[pname]}")
    try:
        opt.load_state_dict(opt_tensors)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: cannot restore the optimizer state ({e})") from None
    return opt


def load_model(path, compile: bool = True):
    """Load a model saved by :func:`save_model` / ``model.save``.

    The architecture is rebuilt from its JSON (layer types looked up in the layer
    registry), every tensor's name, dtype and shape is checked against it, and the model
    is compiled with its saved loss, metrics and optimizer (state included) when it was
    saved compiled. No code is executed from the file: it holds JSON and raw numbers.

    Raises
    ------
    ModelFileError
        Missing file, not a neuronlab safetensors file, truncated, or a tensor that does
        not match the declared architecture.
    """
    return load_checkpoint(path, compile=compile)[0]
