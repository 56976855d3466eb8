"""Loading model files: a :class:`Sequential` rebuilt from a file that :mod:`neuronlab.io` has checked.

:mod:`neuronlab.io` holds the container and its checks (it imports no model code);
this module rebuilds the model with ``Sequential.from_config``, letting ``io.check_plan``
compare every layer's declared parameter shapes with the file's tensors before the layer
allocates anything, then restores weights, buffers, optimizer state and the generator.
"""

from __future__ import annotations

import os

import numpy as np

from . import losses, optimizers
from .core import UnknownNameError
from .io import (
    MAX_ARCHITECTURE_BYTES,
    MAX_LAYERS,
    ModelFileError,
    check_plan,
    json_field,
    layer_buffers,
    read_model_file,
)
from .model import Sequential
from .validation import Real, check

__all__ = ["load_model", "load_checkpoint"]


def _build(path, arch, infos) -> Sequential:
    if len(arch["layers"]) > MAX_LAYERS:
        raise ModelFileError(f"{path}: the architecture has {len(arch['layers'])} layers (limit {MAX_LAYERS})")

    def plan(layers, shape):
        if shape is not None:
            check_plan(path, layers, shape, infos, np.dtype(arch.get("dtype", "float32")))

    try:
        return Sequential.from_config(arch, before_build=plan)
    except ModelFileError:
        raise
    except UnknownNameError as e:
        raise _unregistered(path, e, "cannot rebuild the architecture") from None
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, ZeroDivisionError, IndexError,
            RecursionError, MemoryError) as e:
        raise ModelFileError(f"{path}: cannot rebuild the architecture ({type(e).__name__}: "
                             f"{str(e)[:300]})") from None


def _unregistered(path, e: UnknownNameError, what: str) -> ModelFileError:
    """The file names a class this session has not registered: say which, and how to register it."""
    name = str(e.name)[:100]
    shown = name if name.isprintable() else ascii(name)
    return ModelFileError(
        f"{path}: {what}: unknown {e.kind} {shown!r}: no class is registered under this name in this session. If it is "
        f"your own class, import the module that defines it, decorated with @nl.register({shown!r}), before "
        "loading (see docs/extending.md); neuronlab never runs code from a model file.")


def load_checkpoint(path, compile: bool = True):
    """Load a model file; return ``(model, extra)`` where ``extra`` is the saved extra dict.

    The optimizer (with its state) and the RNG state are restored when the file has them;
    see :func:`load_model`.
    """
    path = os.fspath(path)
    tensors, meta, infos = read_model_file(path)
    arch = json_field(path, meta, "architecture", required=True, limit=MAX_ARCHITECTURE_BYTES)
    if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list):
        raise ModelFileError(f"{path}: the architecture must be an object with a 'layers' list")
    model = _build(path, arch, infos)
    opt_tensors = _fill_weights(path, model, tensors)
    _compile(path, model, meta, opt_tensors, compile)
    _restore_rng(path, model, meta)
    extra = json_field(path, meta, "extra")
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        raise ModelFileError(f"{path}: metadata 'extra' must be a JSON object")
    return model, extra


def _fill_weights(path, model, tensors) -> dict:
    """Copy the file's weights and buffers into the model once every one is checked; return the
    optimizer's tensors. Every tensor must be expected, and every expected tensor present, with its
    dtype, shape and finite values."""
    expected = {f"params/{p.name}": p.value for p in model.params()}
    expected.update({f"buffers/{k}": v for k, v in layer_buffers(model).items()})
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
    return opt_tensors


def _compile(path, model, meta, opt_tensors, compile: bool) -> None:
    """Compile with the saved loss, metrics and optimizer (state included), when saved compiled."""
    comp = json_field(path, meta, "compile")
    opt_meta = json_field(path, meta, "optimizer")
    if compile and comp is not None:
        optimizer = _optimizer(path, opt_meta, opt_tensors, model) if opt_meta is not None else "sgd"
        try:
            if not isinstance(comp, dict) or not isinstance(comp.get("metrics") or [], list):
                raise TypeError("compile must be an object with a 'metrics' list")
            loss_config = comp.get("loss_config") or {}
            if not isinstance(loss_config, dict):
                raise TypeError("loss_config must be an object")
            model.compile(loss=losses.get(comp["loss"], **loss_config), optimizer=optimizer,
                          metrics=comp.get("metrics") or [])
        except UnknownNameError as e:
            raise _unregistered(path, e, "cannot compile with the saved loss/metrics") from None
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ModelFileError(f"{path}: cannot compile with the saved loss/metrics ({e})") from None
    elif opt_tensors and opt_meta is None:
        raise ModelFileError(f"{path}: has optimizer tensors but no optimizer metadata")


def _restore_rng(path, model, meta) -> None:
    rng_state = json_field(path, meta, "rng")
    if rng_state is not None:
        try:
            kind = type(model.rng.bit_generator).__name__
            if not isinstance(rng_state, dict) or rng_state.get("bit_generator") != kind:
                raise ValueError("not a state of the model's bit generator")
            model.rng.bit_generator.state = rng_state
        except (AttributeError, TypeError, ValueError, KeyError, OverflowError) as e:
            raise ModelFileError(f"{path}: invalid RNG state ({e})") from None


def _optimizer(path, opt_meta, opt_tensors, model):
    try:
        if not isinstance(opt_meta, dict) or not isinstance(opt_meta.get("config", {}), dict):
            raise TypeError("the optimizer entry must be an object with a 'config' object")
        cls = optimizers.registry.lookup(opt_meta["name"])
        config = dict(opt_meta.get("config", {}))
        # lr is the current one, which a schedule may have brought to 0 (a value the constructor
        # refuses); it is set after construction, from the state when saved there
        lr = config.pop("lr", None)
        opt = cls(**config)
        if lr is not None:
            opt.lr = check(None, "lr", lr, Real(low=0))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, ZeroDivisionError) as e:
        raise ModelFileError(f"{path}: cannot rebuild the optimizer ({type(e).__name__}: {str(e)[:300]})") from None
    params = {p.name: p.value for p in model.params()}
    for key, arr in opt_tensors.items():
        where = f"{path}: optimizer tensor {'optimizer/' + key!r}"
        pname, _, slot = key.rpartition("/")
        if key in ("iterations", "lr") or not pname:
            if arr.shape != ():
                raise ModelFileError(f"{where} must be a scalar, has shape {arr.shape}")
            if key == "lr" and not (arr.dtype.kind == "f" and np.isfinite(arr) and arr >= 0):
                raise ModelFileError(f"{where} must be a finite number >= 0, is {arr!r}")
            if key == "iterations" and not (arr.dtype.kind in "iu" and 0 <= int(arr) < 2**53):
                raise ModelFileError(f"{where} must be a count >= 0, is {arr!r}")
            continue
        if pname not in params:
            raise ModelFileError(f"{where} names no parameter of the model")
        if arr.shape not in (params[pname].shape, ()):
            raise ModelFileError(f"{where} has shape {arr.shape}, its parameter has {params[pname].shape}")
        if arr.shape == () and not (arr.dtype.kind in "iu" and 0 <= int(arr) < 2**53):
            raise ModelFileError(f"{where} must be a step count >= 0, is {arr!r}")
        if arr.shape != () and arr.dtype != params[pname].dtype:
            raise ModelFileError(f"{where} has dtype {arr.dtype}, its parameter has {params[pname].dtype}")
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise ModelFileError(f"{where} contains NaN")
    try:
        opt.load_state_dict(opt_tensors)
    except (KeyError, TypeError, ValueError, OverflowError) as e:
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
        For any bad file: missing, not a neuronlab safetensors file, truncated, corrupted
        (checksum mismatch), a declared size over the limits, or a tensor that does not
        match the declared architecture. No other exception comes from the file's content.
    ImportError
        When the ``safetensors`` package is not installed (``pip install "neuronlab[cli]"``).
    """
    return load_checkpoint(path, compile=compile)[0]
