"""neuronlab.validation: the constraints, the one error wording, and the classes that declare their arguments."""

import inspect
import re

import numpy as np
import pytest

import neuronlab as nl
from neuronlab.validation import (
    Boolean,
    Instance,
    Integer,
    NoneOr,
    Options,
    Real,
    check,
    constraints_of,
    describe,
    validate,
    validated,
)

NAN, INF = float("nan"), float("inf")


def refused(value, *constraints, owner="f", name="x"):
    with pytest.raises(ValueError, match=r"^f: x must be .*, got ") as e:
        check(owner, name, value, *constraints)
    return str(e.value)


# -- each constraint ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [1, 7, 2**70, np.int64(3), np.uint8(1), np.int8(100)])
def test_integer_accepts_python_and_numpy_integers_and_returns_int(value):
    out = check("f", "x", value, Integer(low=1))
    assert out == value and type(out) is int


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 1.0, 2.5, np.float64(2.0), "1", None, [1], NAN, INF,
                                   0, -1, np.int64(0)])
def test_integer_refuses_bools_floats_strings_none_and_out_of_bounds(value):
    msg = refused(value, Integer(low=1))
    assert msg == f"f: x must be a positive integer, got {value!r}"


def test_integer_names_its_bounds():
    assert describe(Integer(low=1)) == "a positive integer"
    assert describe(Integer(low=0)) == "a non-negative integer"
    assert describe(Integer(low=2)) == "an integer >= 2"
    assert describe(Integer()) == "an integer"
    assert describe(Integer(low=1, high=10)) == "an integer >= 1 and <= 10"
    assert check("f", "x", 10, Integer(low=1, high=10)) == 10
    assert refused(11, Integer(low=1, high=10)) == "f: x must be an integer >= 1 and <= 10, got 11"
    assert check("f", "x", -5, Integer()) == -5


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.25), np.float64(1e-300), np.int64(2), 1e308])
def test_real_accepts_finite_numbers_and_returns_float(value):
    out = check("f", "x", value, Real(low=0, low_open=True))
    assert out == float(value) and type(out) is float


@pytest.mark.parametrize("value", [True, False, np.bool_(False), NAN, INF, -INF, np.float32("nan"), np.float64("inf"),
                                   "0.1", None, [0.1], complex(1, 0)])
def test_real_refuses_bools_nan_inf_strings_none(value):
    assert refused(value, Real()) == f"f: x must be a number, got {value!r}"


def test_real_refuses_integers_beyond_floats():
    assert check("f", "x", 2**1000, Real()) == 2.0**1000
    assert refused(10**400, Real()).endswith("...")  # inf as a float; the 401 digits are cut short


@pytest.mark.parametrize("constraint, ok, bad", [
    (Real(low=0), [0, 0.0, 3], [-1e-12, -1]),
    (Real(low=0, low_open=True), [1e-12, 1], [0, -1]),
    (Real(low=0, high=1), [0, 1, 0.5], [1.0000001, -0.1]),
    (Real(low=0, high=1, high_open=True), [0, 0.999], [1, 1.5]),
    (Real(high=1), [-1e9, 1], [1.5]),
])
def test_real_bounds(constraint, ok, bad):
    for v in ok:
        assert check("f", "x", v, constraint) == v
    for v in bad:
        refused(v, constraint)


def test_real_speaks_as_check_number():
    """validation.Real words its refusals exactly as core.check_number, which can delegate to it."""
    from neuronlab.core import check_number

    bounds = [dict(), dict(low_open=True), dict(high=1.0), dict(low=0.5, high=1.0, high_open=True),
              dict(low=-1.0, low_open=True, high=2.0)]
    values = [0.0, 0.5, 1.0, 2, -1, -0.5, np.float32(0.75), np.int64(1), True, False, NAN, INF, -INF, "1", None, [1]]
    for kw in bounds:
        for owner in (None, "SGD"):
            full = {"low": 0.0, **kw}  # check_number's default low
            for v in values:
                try:
                    expected = check_number("x", v, owner=owner, **kw)
                except ValueError as e:
                    with pytest.raises(ValueError) as got:
                        check(owner, "x", v, Real(**full))
                    assert str(got.value) == str(e)
                else:
                    out = check(owner, "x", v, Real(**full))
                    assert out == expected and type(out) is float


def test_boolean():
    assert check("f", "x", True, Boolean()) is True
    assert check("f", "x", np.bool_(False), Boolean()) is False
    for v in (1, 0, "True", None, 1.0, [True]):
        assert refused(v, Boolean()) == f"f: x must be a bool, got {v!r}"


def test_options_list_the_allowed_values():
    opts = Options("epoch", "step")
    assert check("f", "x", "step", opts) == "step"
    assert type(check("f", "x", np.str_("epoch"), opts)) is str  # the declared value is returned
    assert refused("batch", opts) == "f: x must be one of 'epoch', 'step', got 'batch'"
    assert refused("auto", Options("min")) == "f: x must be 'min', got 'auto'"
    assert refused(1, Options(True, False)).endswith("got 1")  # 1 is not True
    assert refused(True, Options(1, 2)).endswith("got True")
    assert refused(np.array(["a", "b"]), Options("a"))  # an array compares element-wise: refused, no crash
    with pytest.raises(TypeError):
        Options()


def test_instance():
    assert check("f", "x", {}, Instance(dict)) == {}
    assert refused([], Instance(dict)) == "f: x must be a dict, got []"
    assert refused(1, Instance(np.random.RandomState, np.random.Generator)) == \
        "f: x must be a RandomState or a Generator, got 1"
    assert describe(Instance(object)) == "an object"
    assert check("f", "x", {}, dict) == {}  # a class stands for Instance(class)


def test_none_handling():
    refused(None, Integer(low=1))  # None passes only when allowed
    assert check("f", "x", None, Integer(low=1), None) is None
    assert check("f", "x", None, NoneOr(Integer(low=1))) is None
    assert check("f", "x", np.int64(4), NoneOr(Integer(low=1))) == 4
    assert refused(1.5, NoneOr(Integer(low=1))) == "f: x must be a positive integer or None, got 1.5"
    assert refused(0, Options("auto"), None, Integer(low=1)) == "f: x must be 'auto', None or a positive integer, got 0"
    assert describe(NoneOr(Real(low=0)), None) == "a number >= 0 or None"  # said once


def test_the_uniform_wording():
    with pytest.raises(ValueError) as e:
        check("SGD", "lr", -1, Real(low=0, low_open=True))
    assert str(e.value) == "SGD: lr must be a number > 0, got -1"
    with pytest.raises(ValueError) as e:
        check("Dense", "units", 0, Integer(low=1))
    assert str(e.value) == "Dense: units must be a positive integer, got 0"
    with pytest.raises(ValueError) as e:
        check("fit", "batch_size", 1.5, Integer(low=1), None)
    assert str(e.value) == "fit: batch_size must be a positive integer or None, got 1.5"
    with pytest.raises(ValueError) as e:
        check(None, "eps", NAN, Real(low=0))
    assert str(e.value) == "eps must be a number >= 0, got nan"
    with pytest.raises(ValueError) as e:  # an object or a class stands for its class's name
        check(nl.optimizers.SGD(), "lr", "x", Real())
    assert str(e.value).startswith("SGD: lr must be")
    with pytest.raises(ValueError) as e:  # long values are cut short
        check("f", "x", "a" * 10_000, Real())
    assert len(str(e.value)) < 300 and str(e.value).endswith("...")


def test_bad_declarations_are_programming_errors():
    with pytest.raises(TypeError):
        check("f", "x", 1)
    with pytest.raises(TypeError, match="Options"):
        check("f", "x", "a", "a")
    with pytest.raises(TypeError):
        Instance("dict")


# -- validate / validated -----------------------------------------------------------------------------
def test_validate_returns_the_values_converted():
    spec = {"n": Integer(low=1), "rate": Real(low=0, high=1), "mode": (Options("a"), None)}
    out = validate("g", spec, {"n": np.int64(3), "rate": 1, "mode": None, "other": "kept"})
    assert out == {"n": 3, "rate": 1.0, "mode": None, "other": "kept"}
    assert type(out["n"]) is int and type(out["rate"]) is float
    with pytest.raises(ValueError, match=r"^g: rate must be a number >= 0 and <= 1, got 2$"):
        validate("g", spec, {"n": 1, "rate": 2, "mode": "a"})
    with pytest.raises(KeyError):
        validate("g", spec, {"n": 1})


class _Base:
    @validated({"lr": Real(low=0, low_open=True), "clip": (Real(low=0, low_open=True), None)})
    def __init__(self, lr, clip=None):
        self.lr, self.clip = lr, clip


class _Child(_Base):
    @validated({"k": Integer(low=1), "flag": Boolean()})
    def __init__(self, k=2, flag=False, lr=0.5):
        super().__init__(lr)
        self.k, self.flag = k, flag


def test_validated_checks_converts_and_names_the_subclass():
    c = _Child(np.int64(3), np.bool_(True), lr=1)
    assert (c.k, c.flag, c.lr, c.clip) == (3, True, 1.0, None)
    assert type(c.k) is int and type(c.flag) is bool and type(c.lr) is float
    with pytest.raises(ValueError, match=r"^_Child: k must be a positive integer, got True$"):
        _Child(True)
    with pytest.raises(ValueError, match=r"^_Child: lr must be a number > 0, got 0$"):
        _Child(lr=0)  # the base's declaration, in the subclass's name
    with pytest.raises(ValueError, match=r"^_Base: clip must be a number > 0 or None, got -1$"):
        _Base(1, clip=-1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        _Child(nope=1)  # a bad call is worded by Python
    assert list(inspect.signature(_Child).parameters) == ["k", "flag", "lr"]
    assert set(constraints_of(_Child)) == {"lr", "clip", "k", "flag"}
    with pytest.raises(TypeError, match="no argument 'typo'"):
        validated({"typo": Integer()})(lambda self, x: None)


# -- every optimizer and schedule -------------------------------------------------------------------------
def _numeric_parameters(cls) -> list[str]:
    """The constructor arguments that are numbers: a numeric default, or annotated int / float."""
    out = []
    for name, p in inspect.signature(cls).parameters.items():
        default_is_number = isinstance(p.default, (int, float)) and not isinstance(p.default, bool)
        annotated = re.search(r"\b(int|float)\b", str(p.annotation)) is not None
        if default_is_number or annotated:
            out.append(name)
    return out


def _valid_value(cons):
    return next(v for v in (1, 0.5, 0) if any(c.accepts(v) for c in cons))


HYPERPARAMETER_OWNERS = (
    [nl.optimizers.registry.lookup(n) for n in nl.optimizers.names()]
    + [nl.schedules.registry.lookup(n) for n in nl.schedules.names()]
    + [nl.schedules.ReduceLROnPlateau]
)


@pytest.mark.parametrize("cls", HYPERPARAMETER_OWNERS, ids=lambda c: c.__name__)
def test_every_numeric_hyperparameter_refuses_bools_negatives_and_nan(cls):
    declared = constraints_of(cls)
    numeric = _numeric_parameters(cls)
    assert numeric, "found no numeric argument: the test would test nothing"
    undeclared = [n for n in numeric if n not in declared]
    assert not undeclared, f"{cls.__name__} declares no constraint for {undeclared}"
    required = {n: _valid_value(declared[n]) for n, p in inspect.signature(cls).parameters.items()
                if p.default is inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD}
    cls(**required)  # the defaults pass
    for name in numeric:
        for bad in (True, False, -1, -0.5, NAN, INF, "0.1"):
            with pytest.raises(ValueError) as e:
                cls(**{**required, name: bad})
            assert re.fullmatch(rf"{cls.__name__}: {name} must be (a number|a positive integer|a non-negative "
                                rf"integer|an integer)[^,]*, got {re.escape(repr(bad))}", str(e.value)), str(e.value)


@pytest.mark.parametrize("cls", HYPERPARAMETER_OWNERS, ids=lambda c: c.__name__)
def test_declared_values_are_kept_converted(cls):
    """NumPy scalars are accepted and stored as Python numbers (they go to JSON in saved models)."""
    declared = constraints_of(cls)
    sig = inspect.signature(cls).parameters
    kwargs = {}
    for name in _numeric_parameters(cls):
        default = sig[name].default
        value = default if default not in (inspect.Parameter.empty, None) else _valid_value(declared[name])
        kwargs[name] = np.int64(value) if isinstance(value, int) else np.float64(value)
    obj = cls(**kwargs)
    for name, value in kwargs.items():
        kept = getattr(obj, name)
        assert kept == value and type(kept) in (int, float), (name, kept)


def test_options_name_the_allowed_values_in_the_callbacks():
    with pytest.raises(ValueError, match=r"^ReduceLROnPlateau: mode must be one of 'auto', 'min', 'max', got 'up'$"):
        nl.schedules.ReduceLROnPlateau(mode="up")
    with pytest.raises(ValueError, match=r"^LearningRateScheduler: per must be one of 'epoch', 'step', got 'batch'$"):
        nl.schedules.LearningRateScheduler(nl.schedules.StepDecay(2), per="batch")
    with pytest.raises(ValueError, match=r"^EarlyStopping: mode must be one of 'auto', 'min', 'max', got 'best'$"):
        nl.callbacks.EarlyStopping(mode="best")
    with pytest.raises(ValueError, match=r"^VarianceScaling: mode must be one of 'fan_in', 'fan_out', 'fan_avg'"):
        nl.initializers.VarianceScaling(mode="fan")
    with pytest.raises(ValueError, match=r"^InputScaler: kind must be one of 'none', 'divide', 'standardize'"):
        nl.datasets.InputScaler("minmax")


def test_the_other_declared_arguments():
    with pytest.raises(ValueError, match=r"^SGD: nesterov must be a bool, got 1$"):
        nl.optimizers.SGD(momentum=0.9, nesterov=1)
    with pytest.raises(ValueError, match=r"^EarlyStopping: patience must be a non-negative integer, got 2.5$"):
        nl.callbacks.EarlyStopping(patience=2.5)
    assert nl.callbacks.EarlyStopping(min_delta=-0.1).min_delta == 0.1  # counted by its size, as Keras
    with pytest.raises(ValueError, match=r"^EarlyStopping: min_delta must be a number, got nan$"):
        nl.callbacks.EarlyStopping(min_delta=NAN)
    with pytest.raises(ValueError, match=r"^VarianceScaling: scale must be a number > 0, got 0$"):
        nl.initializers.VarianceScaling(scale=0)
    with pytest.raises(ValueError, match=r"^make_moons: n_samples must be an integer >= 2, got True$"):
        nl.datasets.make_moons(True)
    with pytest.raises(ValueError, match=r"^make_xor: noise must be a number >= 0, got nan$"):
        nl.datasets.make_xor(8, noise=NAN)
    assert len(nl.datasets.make_spirals(np.int64(30), n_classes=np.int64(3), seed=0)[0]) == 30
    with pytest.raises(ValueError, match=r"^train_val_split: val_fraction must be a number > 0 and < 1, got True$"):
        nl.datasets.train_val_split(np.zeros((10, 2)), np.arange(10) % 2, True)
    with pytest.raises(ValueError, match=r"^one_hot: n_classes must be a non-negative integer or None, got 2.5$"):
        nl.datasets.one_hot([0, 1], 2.5)
    from neuronlab import zoo

    with pytest.raises(ValueError, match=r"^mlp: layers\[1\] must be a positive integer, got 2.5$"):
        zoo.build_mlp((4,), 2, layers=(8, 2.5))
    with pytest.raises(ValueError, match=r"^cnn: dropout must be a number >= 0 and < 1, got 1$"):
        zoo.build_cnn((8, 8), 2, dropout=1)


def test_sklearn_estimators_use_the_uniform_wording():
    pytest.importorskip("sklearn")
    from neuronlab.sklearn import MLPClassifier

    X, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
    cases = [(dict(batch_size=0), "batch_size must be 'auto', None or a positive integer, got 0"),
             (dict(lr=True), "lr must be a number > 0 or None, got True"),
             (dict(max_iter=np.float64(3)), "max_iter must be a positive integer, got np.float64(3.0)"),
             (dict(shuffle="yes"), "shuffle must be a bool, got 'yes'"),
             (dict(random_state=-1), "random_state must be None, a non-negative integer, a RandomState or a "
                                     "Generator, got -1")]
    for params, message in cases:
        with pytest.raises(ValueError) as e:
            MLPClassifier((4,), max_iter=1).set_params(**params).fit(X, y)
        assert str(e.value) == f"MLPClassifier: {message}"


def test_no_retyped_checks_left_in_the_modules_that_declare():
    import neuronlab.callbacks
    import neuronlab.datasets.preprocessing
    import neuronlab.datasets.synthetic
    import neuronlab.initializers
    import neuronlab.optimizers
    import neuronlab.schedules
    import neuronlab.zoo

    modules = [neuronlab.optimizers, neuronlab.schedules, neuronlab.callbacks, neuronlab.initializers, neuronlab.zoo,
               neuronlab.datasets.synthetic, neuronlab.datasets.preprocessing]
    try:
        import neuronlab.sklearn
        modules.append(neuronlab.sklearn)
    except ImportError:  # pragma: no cover - without the extra
        pass
    for m in modules:
        source = inspect.getsource(m)
        assert not re.search(r"isinstance\([^)]*\bbool\b", source), m.__name__
        assert "check_number" not in source, m.__name__
