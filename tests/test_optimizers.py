"""Optimizers: the optax-style convergence table, state round trips, clipping, errors, buffers.

Step-for-step agreement with torch.optim is in test_optimizer_parity.py.
"""

import tracemalloc

import numpy as np
import pytest

import neuronlab as nl
from neuronlab.core import Param
from neuronlab.optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop

NAMES = ["sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamw"]


# -- the convergence table (optax style) ---------------------------------------------------
def quadratic(w):
    """f(w) = ½ (w - c)ᵀ A (w - c), minimum at c = (1, -2); A is not diagonal."""
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    d = w - np.array([1.0, -2.0])
    return A @ d


def rosenbrock(w):
    """f(x, y) = (1 - x)² + 100 (y - x²)², minimum at (1, 1), from the classic start (-1.2, 1)."""
    x, y = w
    return np.array([-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)])


PROBLEMS = {  # gradient, start, minimum, tolerance on max |w - w*|
    "quadratic": (quadratic, (0.0, 0.0), (1.0, -2.0), 1e-4),
    # the valley is flat: at 1e-2 from (1, 1) along it, f is ~1e-4
    "rosenbrock": (rosenbrock, (-1.2, 1.0), (1.0, 1.0), 1e-2),
}

# (optimizer, hyperparameters, problem, steps): every registered optimizer on both problems
TABLE = [
    ("sgd", dict(lr=0.1, momentum=0.9), "quadratic", 300),
    ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True), "quadratic", 300),
    ("sgd", dict(lr=1e-3, momentum=0.9), "rosenbrock", 5000),
    ("sgd", dict(lr=1e-3, momentum=0.9, nesterov=True), "rosenbrock", 5000),
    ("adagrad", dict(lr=0.5), "quadratic", 300),
    ("adagrad", dict(lr=1.0), "rosenbrock", 10000),
    # Adadelta hovers at a distance set by ε around a minimum: a larger ε, or a smaller η, lets it settle
    ("adadelta", dict(lr=1.0, eps=1e-4), "quadratic", 500),
    ("adadelta", dict(lr=0.02), "rosenbrock", 15000),
    ("rmsprop", dict(lr=0.01), "quadratic", 500),
    ("rmsprop", dict(lr=0.01, centered=True), "quadratic", 500),
    ("rmsprop", dict(lr=1e-3, momentum=0.9), "rosenbrock", 5000),
    ("rmsprop", dict(lr=1e-3, momentum=0.9, centered=True), "rosenbrock", 5000),
    ("adam", dict(lr=0.1), "quadratic", 500),
    ("adam", dict(lr=0.1, amsgrad=True), "quadratic", 500),
    ("adam", dict(lr=0.01), "rosenbrock", 5000),
    ("adam", dict(lr=0.05, amsgrad=True), "rosenbrock", 5000),
    # any decay moves the minimum, so AdamW runs undecayed here (its decay is checked below)
    ("adamw", dict(lr=0.1, weight_decay=0.0), "quadratic", 500),
    ("adamw", dict(lr=0.01, weight_decay=0.0), "rosenbrock", 5000),
]


def minimize(opt, grad, start, steps, dtype=np.float64):
    p = Param(np.array(start, dtype=dtype), "w")
    for _ in range(steps):
        p.grad[...] = grad(p.value)
        opt.step([p])
    return p.value


@pytest.mark.parametrize("name,kw,problem,steps", TABLE,
                         ids=[f"{n}-{p}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw, p, _ in TABLE])
def test_converges_to_the_minimum(name, kw, problem, steps):
    grad, start, minimum, tol = PROBLEMS[problem]
    w = minimize(nl.optimizers.get(name, **kw), grad, start, steps)
    err = np.abs(w - np.array(minimum)).max()
    assert err <= tol, f"{name} ends {err:.3g} from the minimum of the {problem} after {steps} steps"


def test_table_covers_every_registered_optimizer():
    assert nl.optimizers.names() == NAMES  # simplest first, as in the module
    for problem in PROBLEMS:
        assert {n for n, _, p, _ in TABLE if p == problem} == set(NAMES)


# -- registry, config, validation -------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_registry_config_round_trip(name):
    opt = nl.optimizers.get(name.upper(), lr=0.05, clipnorm=1.0, clipvalue=0.5)
    assert opt.name == name
    again = type(opt)(**opt.get_config())
    assert repr(again) == repr(opt) and again.get_config() == opt.get_config()
    assert opt.clipnorm == 1.0 and opt.clipvalue == 0.5
    assert nl.optimizers.get(opt) is opt
    assert nl.optimizers.get(type(opt)).get_config() == type(opt)().get_config()


def test_compile_accepts_names():
    model = nl.Sequential([nl.layers.Dense(3, "relu", input_dim=4), nl.layers.Dense(2, "softmax")], seed=0)
    for name in NAMES:
        model.compile(loss="categorical_crossentropy", optimizer=name)
        assert model.optimizer.name == name
    with pytest.raises(ValueError, match="rmsprop"):
        model.compile(optimizer="rmsporp")


def test_defaults():
    assert Adadelta().get_config() == {"lr": 1.0, "weight_decay": 0.0, "rho": 0.95, "eps": 1e-6}
    assert "PyTorch's default ρ is 0.9" in Adadelta.__doc__
    assert RMSprop().get_config()["rho"] == 0.99 and RMSprop().lr == 0.01
    assert Adagrad().eps == 1e-10 and Adagrad().lr == 0.01
    assert Adam().weight_decay == 0.0 and AdamW().weight_decay == 0.01
    assert (Adam().beta1, Adam().beta2, Adam().eps, Adam().lr) == (0.9, 0.999, 1e-8, 1e-3)


@pytest.mark.parametrize("cls,kw,arg", [
    (SGD, dict(lr=0.0), "lr"), (SGD, dict(lr=-1.0), "lr"), (SGD, dict(momentum=-0.1), "momentum"),
    (SGD, dict(lr=float("nan")), "lr"), (SGD, dict(weight_decay=-1e-3), "weight_decay"),
    (Adam, dict(beta1=1.0), "beta1"), (Adam, dict(beta2=1.5), "beta2"), (Adam, dict(eps=-1.0), "eps"),
    (RMSprop, dict(rho=1.2), "rho"), (Adadelta, dict(rho=-0.5), "rho"), (Adagrad, dict(lr_decay=-1.0), "lr_decay"),
    (Adam, dict(clipnorm=0.0), "clipnorm"), (SGD, dict(clipvalue=-1.0), "clipvalue"), (Adam, dict(lr="0.1"), "lr"),
])
def test_bad_hyperparameters_name_the_argument(cls, kw, arg):
    with pytest.raises(ValueError, match=arg):
        cls(**kw)


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="nesterov"):
        SGD(nesterov=True)


# -- state -------------------------------------------------------------------------------------
ALL_SLOTS = {  # options that create every state slot of each optimizer
    "sgd": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adagrad": dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1),
    "adadelta": dict(lr=1.0, weight_decay=1e-3),
    "rmsprop": dict(lr=0.005, momentum=0.9, centered=True),
    "adam": dict(lr=0.01, amsgrad=True, weight_decay=1e-3),
    "adamw": dict(lr=0.01, amsgrad=True),
}


def small_model(opt, seed=0):
    model = nl.Sequential([nl.layers.Dense(8, "tanh", input_dim=5), nl.layers.Dense(3, "softmax")], seed=seed)
    model.compile(loss="categorical_crossentropy", optimizer=opt)
    return model


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_resumes_bit_identically(name):
    data = np.random.default_rng(1)
    X, y = data.normal(size=(40, 5)), data.integers(0, 3, 40)
    fit = dict(batch_size=8, shuffle=False, verbose=0)

    straight = small_model(nl.optimizers.get(name, **ALL_SLOTS[name], clipnorm=5.0))
    straight.fit(X, y, epochs=3, **fit)
    straight.optimizer.lr *= 0.5
    straight.fit(X, y, epochs=3, **fit)

    first = small_model(nl.optimizers.get(name, **ALL_SLOTS[name], clipnorm=5.0))
    first.fit(X, y, epochs=3, **fit)
    first.optimizer.lr *= 0.5  # a schedule's change travels with the state
    saved_weights = first.get_weights()
    saved_state = {k: np.array(v, copy=True) for k, v in first.optimizer.state_dict().items()}

    resumed = small_model(nl.optimizers.get(name, **ALL_SLOTS[name], clipnorm=5.0), seed=99)
    resumed.set_weights(saved_weights)
    resumed.optimizer.load_state_dict(saved_state)
    assert resumed.optimizer.lr == first.optimizer.lr
    resumed.fit(X, y, epochs=3, **fit)

    assert resumed.optimizer.iterations == straight.optimizer.iterations == 30
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        assert np.array_equal(a, b)
    sa, sb = resumed.optimizer.state_dict(), straight.optimizer.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), k


def test_state_names_and_slots():
    p = Param(np.ones((2, 3), np.float32), "dense_1/W")
    p.grad[...] = 0.5
    opt = Adam(amsgrad=True)
    opt.step([p])
    assert set(opt.state_dict()) == {"dense_1/W/exp_avg", "dense_1/W/exp_avg_sq", "dense_1/W/max_exp_avg_sq",
                                     "dense_1/W/step", "iterations", "lr"}
    with pytest.raises(ValueError, match="param_name/slot"):
        opt.load_state_dict({"exp_avg": np.zeros(3)})


def test_learning_rate_change_takes_effect():
    p = Param(np.zeros(3), "w")
    p.grad[...] = 1.0
    opt = SGD(lr=0.1)
    opt.step([p])
    opt.lr = 0.01
    opt.step([p])
    np.testing.assert_allclose(p.value, -0.11)


# -- clipping, weight decay, non-finite gradients -------------------------------------------------
def two_params(g1, g2):
    a, b = Param(np.zeros(2), "a"), Param(np.zeros(3), "b")
    a.grad[...], b.grad[...] = g1, g2
    return a, b


def test_clipnorm_scales_by_the_global_norm():
    a, b = two_params([3.0, 0.0], [0.0, 4.0, 0.0])  # ‖g‖ = 5 over both parameters
    SGD(lr=1.0, clipnorm=1.0).step([a, b])
    scale = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(a.value, [-3 * scale, 0], rtol=1e-15)
    np.testing.assert_allclose(b.value, [0, -4 * scale, 0], rtol=1e-15)
    np.testing.assert_array_equal(a.grad, [3.0, 0.0])  # the gradients themselves are left intact
    a, b = two_params([0.3, 0.0], [0.0, 0.4, 0.0])  # under the threshold: untouched
    SGD(lr=1.0, clipnorm=1.0).step([a, b])
    np.testing.assert_array_equal(b.value, [0, -0.4, 0])


def test_clipvalue_then_weight_decay():
    a, b = two_params([3.0, -0.2], [-4.0, 0.1, 7.0])
    a.value[...] = 1.0
    SGD(lr=1.0, clipvalue=0.5, weight_decay=0.1).step([a, b])
    np.testing.assert_allclose(a.value, [1 - 0.5 - 0.1, 1 + 0.2 - 0.1])
    np.testing.assert_allclose(b.value, [0.5, -0.1, -0.5])


def test_adamw_decay_is_decoupled():
    w0, g = np.array([2.0, -1.0]), np.array([0.5, 0.25])
    for cls in (Adam, AdamW):
        p = Param(w0.copy(), "w")
        p.grad[...] = g
        cls(lr=0.1, weight_decay=0.1, eps=0.0).step([p])
        # first step of Adam: m̂ = g, v̂ = g², so the step is η·sign(g)
        if cls is AdamW:
            np.testing.assert_allclose(p.value, w0 * (1 - 0.01) - 0.1 * np.sign(g), rtol=1e-14)
        else:  # coupled: g + λW enters m and v, still a sign step of the decayed gradient
            np.testing.assert_allclose(p.value, w0 - 0.1 * np.sign(g + 0.1 * w0), rtol=1e-14)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_gradient_raises_before_any_update(name, bad):
    opt = nl.optimizers.get(name, **ALL_SLOTS[name])
    a, b = two_params([1.0, 2.0], [0.5, 0.5, 0.5])
    opt.step([a, b])
    before = [a.value.copy(), b.value.copy()]
    state = {k: v.copy() for k, v in opt.state_dict().items()}
    b.grad[1] = bad
    with pytest.raises(nl.NonFiniteError, match="'b'"):
        opt.step([a, b])
    np.testing.assert_array_equal(a.value, before[0])  # a comes first and is not touched either
    np.testing.assert_array_equal(b.value, before[1])
    assert opt.iterations == 1
    for k, v in opt.state_dict().items():
        np.testing.assert_array_equal(v, state[k])


# -- dtype and buffers ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_float32_stays_float32_and_steps_allocate_nothing(name):
    opt = nl.optimizers.get(name, **ALL_SLOTS[name], clipnorm=1.0, clipvalue=0.1)
    rng = np.random.default_rng(0)
    W = Param(rng.normal(size=(200, 100)).astype(np.float32), "W")
    B = Param(np.zeros(100, np.float32), "B")
    for _ in range(2):
        W.grad[...] = rng.normal(size=W.value.shape)
        B.grad[...] = 1.0
        opt.step([W, B])
    buffers = {k: id(v) for k, v in opt._scratch.items()}
    tracemalloc.start()
    opt.step([W, B])
    opt.step([W, B])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < W.value.nbytes // 20, f"a step allocated {peak} bytes (W has {W.value.nbytes})"
    assert {k: id(v) for k, v in opt._scratch.items()} == buffers
    assert W.value.dtype == B.value.dtype == np.float32
    for key, arr in opt.state_dict().items():
        if arr.ndim:
            assert arr.dtype == np.float32, key


def test_base_class_is_abstract():
    p = Param(np.zeros(2), "w")
    with pytest.raises(NotImplementedError):
        Optimizer(lr=0.1).step([p])


def test_huge_but_finite_float32_gradient_is_clipped_not_rejected():
    p = Param(np.zeros(4, np.float32), "w")
    p.grad[...] = 3e19  # Σ g² overflows float32, ‖g‖ = 6e19 does not
    assert Optimizer.global_norm([p]) == pytest.approx(6e19, rel=1e-6)
    SGD(lr=1.0, clipnorm=2.0).step([p])
    np.testing.assert_allclose(p.value, -1.0, rtol=1e-6)
