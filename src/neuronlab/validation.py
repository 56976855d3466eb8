"""Argument validation: constraints declared once, checked one way, refused in one wording.

A constraint says what a value may be; :func:`check` returns the value converted (``int``,
``float``, ``bool``) or raises ``ValueError("<owner>: <name> must be <what is allowed>, got <value>")``.
Several constraints mean "any of them"; ``None`` among them allows None.

>>> from neuronlab.validation import Integer, Real, Options, check
>>> check("SGD", "lr", 0.1, Real(low=0, low_open=True))
0.1
>>> check("fit", "batch_size", 1.5, Integer(low=1), None)
Traceback (most recent call last):
...
ValueError: fit: batch_size must be a positive integer or None, got 1.5
>>> check("ReduceLROnPlateau", "mode", "up", Options("auto", "min", "max"))
Traceback (most recent call last):
...
ValueError: ReduceLROnPlateau: mode must be one of 'auto', 'min', 'max', got 'up'

Constructors declare their arguments with :func:`validated` (the idea of scikit-learn's
``_parameter_constraints``); the arguments reach the body already checked and converted::

    @validated({"units": Integer(low=1), "rate": Real(low=0, high=1, high_open=True)})
    def __init__(self, units, rate=0.0): ...

Rules every constraint keeps: a bool is never an integer or a real number; NaN and ±inf are
never real numbers; NumPy scalars count as the Python numbers they stand for.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers

import numpy as np

__all__ = ["Constraint", "Integer", "Real", "Boolean", "Options", "Instance", "Tuple", "NoneOr", "check", "validate",
           "validated", "constraints_of", "describe"]

_MAX_SHOWN = 200  # characters of a refused value's repr shown in the message


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


class Constraint:
    """What a value may be: ``accepts(value)``, ``convert(value)`` and ``phrases()`` for the message."""

    def accepts(self, value) -> bool:
        raise NotImplementedError

    def convert(self, value):
        """The value as the library keeps it (only called on accepted values)."""
        return value

    def phrases(self) -> list[str]:
        """Noun phrases naming what is allowed ("a positive integer"), joined with "or" in messages."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({_join(self.phrases())!r})"


def _bounds(low, low_open, high, high_open) -> str:
    """The bound text of ``core.check_number``: ' >= 0', ' > 0 and <= 1', ' < 1' or ''."""
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    return (" " + " and ".join(parts)) if parts else ""


def _within(value, low, low_open, high, high_open) -> bool:
    if low is not None and not (value > low if low_open else value >= low):
        return False
    return high is None or bool(value < high if high_open else value <= high)


class Integer(Constraint):
    """An integer (Python or NumPy, never a bool or a float such as 2.0) with closed bounds; converted by ``int``.

    Named "a positive integer" for ``low=1``, "a non-negative integer" for ``low=0``, else
    "an integer >= low [and <= high]".
    """

    def __init__(self, low: int | None = None, high: int | None = None):
        self.low, self.high = low, high

    def accepts(self, value) -> bool:
        return (isinstance(value, numbers.Integral) and not _is_bool(value)
                and _within(value, self.low, False, self.high, False))

    def convert(self, value):
        return int(value)

    def phrases(self):
        if self.high is None and self.low == 1:
            return ["a positive integer"]
        if self.high is None and self.low == 0:
            return ["a non-negative integer"]
        return ["an integer" + _bounds(self.low, False, self.high, False)]


class Real(Constraint):
    """A finite real number (int, float or NumPy scalar; never a bool, NaN or ±inf) within the bounds; converted
    by ``float``. Named "a number >= low [and <= high]", the wording of ``core.check_number``."""

    def __init__(self, low: float | None = None, low_open: bool = False, high: float | None = None,
                 high_open: bool = False):
        self.low, self.low_open, self.high, self.high_open = low, low_open, high, high_open

    def accepts(self, value) -> bool:
        if not isinstance(value, numbers.Real) or _is_bool(value):
            return False
        try:
            if not math.isfinite(float(value)):
                return False
        except (OverflowError, ValueError, TypeError):  # an int beyond float's range, an odd Real
            return False
        return _within(value, self.low, self.low_open, self.high, self.high_open)

    def convert(self, value):
        return float(value)

    def phrases(self):
        return ["a number" + _bounds(self.low, self.low_open, self.high, self.high_open)]


class Boolean(Constraint):
    """True or False (Python or NumPy bool; never 0/1 or other truthy values); converted by ``bool``."""

    def accepts(self, value) -> bool:
        return _is_bool(value)

    def convert(self, value):
        return bool(value)

    def phrases(self):
        return ["a bool"]


class Options(Constraint):
    """One of the given values (compared with ``==`` within the same type, so ``True`` is not ``1``);
    converted to the declared value. The message lists them all."""

    def __init__(self, *values):
        if not values:
            raise TypeError("Options: give at least one allowed value")
        self.values = values

    def _match(self, value):
        for v in self.values:
            if isinstance(value, type(v)) and _is_bool(value) == _is_bool(v):
                try:
                    if bool(value == v):
                        return True, v
                except (ValueError, TypeError):  # arrays and other odd __eq__
                    pass
        return False, None

    def accepts(self, value) -> bool:
        return self._match(value)[0]

    def convert(self, value):
        return self._match(value)[1]

    def phrases(self):
        shown = ", ".join(repr(v) for v in self.values)
        return [shown if len(self.values) == 1 else f"one of {shown}"]


class Instance(Constraint):
    """An instance of one of the given classes (subclasses included); returned as is."""

    def __init__(self, *types: type):
        if not types or not all(isinstance(t, type) for t in types):
            raise TypeError(f"Instance: give one or more classes, got {types!r}")
        self.types = types

    def accepts(self, value) -> bool:
        return isinstance(value, self.types)

    def phrases(self):
        return [f"{'an' if t.__name__[:1].lower() in 'aeiou' else 'a'} {t.__name__}" for t in self.types]


class Tuple(Constraint):
    """A tuple or list of values that ``item`` accepts (of ``length`` items when given); a tuple of converted items."""

    def __init__(self, item: Constraint, length: int | None = None):
        self.item, self.length = item, length

    def accepts(self, value) -> bool:
        return (isinstance(value, (tuple, list)) and (self.length is None or len(value) == self.length)
                and len(value) > 0 and all(self.item.accepts(v) for v in value))

    def convert(self, value):
        return tuple(self.item.convert(v) for v in value)

    def phrases(self):
        what = " or ".join(self.item.phrases())
        for article in ("a ", "an "):
            what = what[len(article):] if what.startswith(article) else what
        what = what.replace("integer", "integers").replace("number", "numbers")
        return [f"{'a pair' if self.length == 2 else 'a tuple'} of {what}"]


class _NoneValue(Constraint):
    def accepts(self, value) -> bool:
        return value is None

    def phrases(self):
        return ["None"]


class NoneOr(Constraint):
    """None, or what any of ``constraints`` accepts ("a positive integer or None")."""

    def __init__(self, *constraints):
        self.constraints = [*_as_constraints(constraints), _NoneValue()]

    def _first(self, value):
        return next((c for c in self.constraints if c.accepts(value)), None)

    def accepts(self, value) -> bool:
        return self._first(value) is not None

    def convert(self, value):
        return self._first(value).convert(value)

    def phrases(self):
        return [p for c in self.constraints for p in c.phrases()]


def _as_constraints(constraints) -> list[Constraint]:
    out = []
    for c in constraints:
        if c is None:
            out.append(_NoneValue())
        elif isinstance(c, Constraint):
            out.append(c)
        elif isinstance(c, type):
            out.append(Instance(c))
        else:
            raise TypeError(f"not a constraint: {c!r} (use Options({c!r}) for a fixed value)")
    if not out:
        raise TypeError("give at least one constraint")
    return out


def _join(phrases: list[str]) -> str:
    phrases = list(dict.fromkeys(phrases))
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " or " + phrases[-1]


def describe(*constraints) -> str:
    """What the constraints allow, as messages say it: ``describe(Integer(low=1), None)`` is
    "a positive integer or None"."""
    return _join([p for c in _as_constraints(constraints) for p in c.phrases()])


def _owner_name(owner) -> str | None:
    if owner is None or isinstance(owner, str):
        return owner or None
    return owner.__name__ if isinstance(owner, type) else type(owner).__name__


def _shown(value) -> str:
    try:
        text = repr(value)
    except Exception:  # a value whose repr fails is still refused, by type
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN - 3] + "..."


def check(owner, name: str, value, *constraints):
    """Return ``value`` converted by the first of ``constraints`` that accepts it.

    ``owner`` names who checks ("SGD", "fit"; an object or class stands for its class name;
    None for no prefix). ``None`` among the constraints allows None; a class stands for
    ``Instance(class)``.

    Raises
    ------
    ValueError
        ``"<owner>: <name> must be <what the constraints allow>, got <repr(value)>"``.
    """
    cons = _as_constraints(constraints)
    for c in cons:
        if c.accepts(value):
            return c.convert(value)
    owner = _owner_name(owner)
    allowed = _join([p for c in cons for p in c.phrases()])
    raise ValueError(f"{owner + ': ' if owner else ''}{name} must be {allowed}, got {_shown(value)}")


def _spec_entry(name, entry) -> tuple[Constraint, ...]:
    entries = entry if isinstance(entry, (tuple, list)) else (entry,)
    try:
        return tuple(_as_constraints(entries))
    except TypeError as e:
        raise TypeError(f"constraint of {name!r}: {e}") from None


def validate(owner, spec: dict, values: dict) -> dict:
    """Check every ``values[name]`` against ``spec[name]`` (a constraint or a tuple of them).

    Returns ``values`` with the checked entries converted (a new dict); names of ``spec``
    missing from ``values`` are a programming error (KeyError).
    """
    out = dict(values)
    for name, entry in spec.items():
        out[name] = check(owner, name, values[name], *_spec_entry(name, entry))
    return out


def validated(spec: dict):
    """Decorator of ``__init__`` (or any method): check the named arguments against ``spec``
    before the body runs, which then receives them converted. The owner in messages is the
    class of ``self``, so subclasses are named as themselves.

    The declaration stays readable as ``method.__constraints__`` (see :func:`constraints_of`).
    """
    spec = {name: _spec_entry(name, entry) for name, entry in spec.items()}

    def deco(fn):
        sig = inspect.signature(fn)
        unknown = sorted(set(spec) - set(sig.parameters))
        if unknown:
            raise TypeError(f"validated: {fn.__qualname__} has no argument {unknown[0]!r}")

        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            try:
                bound = sig.bind(self, *args, **kwargs)
            except TypeError:
                return fn(self, *args, **kwargs)  # let Python word the bad call itself
            bound.apply_defaults()
            owner = type(self).__name__
            for name, cons in spec.items():
                bound.arguments[name] = check(owner, name, bound.arguments[name], *cons)
            return fn(*bound.args, **bound.kwargs)

        wrapper.__constraints__ = dict(spec)
        return wrapper

    return deco


def constraints_of(cls) -> dict[str, tuple[Constraint, ...]]:
    """Every argument constraint ``cls.__init__`` and its bases' declare with :func:`validated`
    (a subclass's declaration of a name wins)."""
    out: dict[str, tuple[Constraint, ...]] = {}
    for klass in reversed(cls.__mro__):
        out.update(getattr(klass.__dict__.get("__init__"), "__constraints__", {}))
    return out
