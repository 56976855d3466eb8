"""docs/extending.md runs as written; registration, unknown names in model files, plain functions refused."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import neuronlab as nl

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
REGISTRIES = (nl.losses.registry, nl.activations.registry, nl.metrics.registry, nl.layers.registry,
              nl.optimizers.registry)


@pytest.fixture(autouse=True)
def _restore_registries():
    """The classes these tests register are removed afterwards (registry-driven tests elsewhere list the built-ins)."""
    saved = [dict(r._items) for r in REGISTRIES]
    yield
    for r, items in zip(REGISTRIES, saved):
        r._items.clear()
        r._items.update(items)


def test_every_code_block_of_docs_extending_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 8
    namespace = {}
    for block in blocks:
        exec(compile(_dedent(block), str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    assert namespace["again"].layers[1].gamma.value.shape == (4,)


def _dedent(block):
    lines = block.splitlines()
    indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return "\n".join(line[indent:] for line in lines) + "\n"


def test_readme_links_the_page():
    assert "docs/extending.md" in (DOC.parents[1] / "README.md").read_text()


def _custom_model(tmp_path):
    exec_ns = {}
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    for block in blocks[:7]:
        exec(compile(_dedent(block), str(DOC), "exec"), exec_ns)  # noqa: S102
    path = tmp_path / "custom.safetensors"
    exec_ns["model"].save(path)
    return path


def test_a_fresh_session_is_told_which_name_to_register(tmp_path):
    path = _custom_model(tmp_path)
    code = ("import neuronlab as nl, sys\n"
            "try:\n    nl.load_model(sys.argv[1])\n"
            "except nl.ModelFileError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout
    assert "unknown activation 'softsign'" in out and "@nl.register('softsign')" in out
    assert "import the module that defines it" in out


def test_an_unknown_loss_or_metric_in_a_file_is_named(tmp_path, rng):
    @nl.register("temporary_loss")
    class Temporary(nl.losses.MSE):
        pass

    m = nl.Sequential([nl.layers.Dense(1, input_dim=2)], seed=0)
    m.compile(loss="temporary_loss")
    m.save(tmp_path / "m.safetensors")
    del nl.losses.registry._items["temporary_loss"]
    with pytest.raises(nl.ModelFileError, match="cannot compile with the saved loss/metrics: unknown loss "
                                                "'temporary_loss'.*@nl.register\\('temporary_loss'\\)"):
        nl.load_model(tmp_path / "m.safetensors")


def test_register_refuses_what_it_cannot_file():
    with pytest.raises(TypeError, match="register: 'Plain' must be a class that subclasses one of nl.losses.Loss"):
        @nl.register("plain")
        class Plain:
            pass
    with pytest.raises(ValueError, match="register: 'relu' is neuronlab's built-in activation ReLU"):
        @nl.register("relu")
        class MyReLU(nl.activations.ReLU):
            pass
    with pytest.raises(ValueError, match="register: a layer name must be a string made of letters"):
        nl.layers.register("my layer")


def test_registering_again_replaces_a_user_class():
    @nl.register("twice")
    class First(nl.activations.Linear):
        pass

    @nl.register("twice")
    class Second(nl.activations.Linear):
        pass

    assert type(nl.activations.get("twice")) is Second


def test_plain_functions_get_one_type_error_naming_the_base_class():
    def f(*args):
        return 0.0

    with pytest.raises(TypeError, match=r"got the function 'f'.*subclass nl.losses.Loss"):
        nl.losses.get(f)
    with pytest.raises(TypeError, match=r"got the function 'f'.*subclass nl.metrics.Metric"):
        nl.metrics.get(f)
    with pytest.raises(TypeError, match=r"got the function 'f'.*subclass nl.Layer"):
        nl.layers.get(f)
    with pytest.raises(TypeError, match="Sequential takes Layer instances \\(for your own layer, subclass nl.Layer"):
        nl.Sequential([f])
    with pytest.raises(TypeError, match=r"a metric must be a registered name, a subclass of nl.metrics.Metric"):
        nl.metrics.get(nl.losses.MSE)


def test_gradcheck_takes_a_loss_an_activation_or_a_layer_and_can_fail(rng, monkeypatch):
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    assert nl.gradcheck(nl.losses.Huber(0.7), X, Y)["X"] < 1e-6
    assert nl.gradcheck(nl.activations.SiLU(), X)["X"] < 1e-6
    assert nl.gradcheck(nl.activations.Softmax(), X)["X"] < 1e-6
    monkeypatch.setattr(nl.activations.SiLU, "derivative", lambda self, Z, H: np.ones_like(Z))
    assert nl.gradcheck(nl.activations.SiLU(), X)["X"] > 1e-2
    monkeypatch.setattr(nl.losses.Huber, "_gradient", lambda self, out, Y: out - Y)  # no clipping: wrong
    assert nl.gradcheck(nl.losses.Huber(0.1), 3 * X, Y)["X"] > 1e-2
    with pytest.raises(ValueError, match="gradcheck: a loss needs y"):
        nl.gradcheck(nl.losses.MAE(), X)
    with pytest.raises(TypeError, match="gradcheck takes a Sequential, a Layer, a Loss or an Activation, got function"):
        nl.gradcheck(lambda Z: Z, X)
