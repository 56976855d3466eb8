"""neuronlab.runs, the command's work as plain Python: configuration, a training run, reports and
input readers, all without click (the command itself is tested in test_cli.py)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from neuronlab import runs
from neuronlab.core import DataError
from neuronlab.runs import DEFAULTS, UsageError, parse_layers, read_toml, resolve_config, run_training, write_toml

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

RUN_FILES = ("model.safetensors", "checkpoint.safetensors", "history.csv", "history.json", "curves.png",
             "config.toml", "run.json")


def test_runs_imports_no_click_and_works_where_click_cannot_be_imported():
    code = ("import sys\n"
            "sys.modules['click'] = None  # any 'import click' now raises ImportError\n"
            "import neuronlab.runs as r\n"
            "import neuronlab.runs.config, neuronlab.runs.inputs, neuronlab.runs.reports, neuronlab.runs.training\n"
            "assert r.resolve_config({'epochs': 2})['epochs'] == 2\n"
            "del sys.modules['click']\n"
            "assert not any(m == 'click' or m.startswith('click.') for m in sys.modules), 'click was imported'\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([sys.executable, "-c", "import sys, neuronlab.runs; assert 'click' not in sys.modules"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def test_usage_error_is_a_value_error_and_the_cli_uses_the_same_one():
    from neuronlab import cli

    assert issubclass(UsageError, ValueError)
    assert cli.UsageError is UsageError and cli.run_training is run_training and cli.resolve_config is resolve_config


# -- configuration ---------------------------------------------------------------------------------------
def test_resolve_config_precedence_cli_over_toml_over_base_over_defaults(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[train]\nepochs = 3\nseed = 7\nlayers = [8]\nbatch-size = 64\n")
    base = {"epochs": 9, "batch_size": 32, "optimizer": "SGD", "lr": 0.5, "not_an_option": 1}
    cfg = resolve_config({"epochs": 2, "seed": None, "activation": "TanH"}, str(path), base=base)
    assert cfg["epochs"] == 2  # command line over TOML over base
    assert cfg["seed"] == 7 and cfg["layers"] == [8] and cfg["batch_size"] == 64  # TOML over base and defaults
    assert cfg["optimizer"] == "sgd" and cfg["lr"] == 0.5  # base over defaults; names in lower case
    assert cfg["activation"] == "tanh"
    assert cfg["dropout"] == DEFAULTS["dropout"] and cfg["model"] == DEFAULTS["model"]
    assert set(cfg) == set(DEFAULTS)
    assert resolve_config({}) == {**DEFAULTS, "layers": [512, 256]}
    assert resolve_config({"label_column": "3"})["label_column"] == 3


@pytest.mark.parametrize("options, message", [
    ({"epochs": 0}, "epochs: expected a positive integer, got 0"),
    ({"batch_size": 2.0}, "batch-size: expected a positive integer, got 2.0"),
    ({"dropout": 1}, "dropout: expected a number in [0, 1), got 1"),
    ({"val_split": float("nan")}, "val-split: expected a number in [0, 1), got nan"),
    ({"test_fraction": 0}, "test-fraction: expected a number in (0, 1), got 0"),
    ({"lr": -1.0}, "lr: expected a positive number, got -1.0"),
    ({"activation": "nope"}, "activation: unknown activation 'nope'; valid names: "),
    ({"optimizer": 3}, "optimizer: expected a name, got 3"),
    ({"schedule": "linear"}, "schedule: expected one of cosine, constant, got 'linear'"),
    ({"data": ""}, "data: expected a dataset name or path, got ''"),
])
def test_resolve_config_error_wording(options, message):
    with pytest.raises(UsageError) as e:
        resolve_config(options)
    assert str(e.value).startswith(message), str(e.value)


def test_layer_spec_parser():
    assert parse_layers("512,256") == [512, 256] and parse_layers(" [64, 32] ") == [64, 32]
    assert parse_layers("") == parse_layers("none") == parse_layers("[]") == []
    assert parse_layers(None) is None and parse_layers((4, 2)) == [4, 2]
    with pytest.raises(UsageError) as e:
        parse_layers("a,b")
    assert str(e.value) == "--layers: expected comma-separated positive integers like 512,256, got 'a,b'"
    for bad in ("0", [0], [True], [2.5], "8,-1"):
        with pytest.raises(UsageError) as e:
            parse_layers(bad)
        assert str(e.value).startswith("layers: expected a list of positive integers, got "), str(e.value)


def test_toml_round_trip(tmp_path):
    cfg = resolve_config({"data": 'my "data" – ü.csv', "layers": "64,32", "lr": 0.001, "epochs": 3,
                          "label_column": "digit", "test_data": None})
    path = tmp_path / "config.toml"
    write_toml(path, cfg, comment="first line\nsecond line")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# first line\n# second line\n")
    assert "test_data" not in text and "momentum" not in text  # None means "the default": left out
    assert tomllib.loads(text) == {k: v for k, v in cfg.items() if v is not None}
    assert read_toml(str(path)) == {k: v for k, v in cfg.items() if v is not None}
    assert resolve_config({}, str(path)) == cfg


def test_read_toml_error_wording(tmp_path):
    (tmp_path / "bad.toml").write_text("epochs = 2\nlearning_rate = 3\n")
    (tmp_path / "broken.toml").write_text("epochs = = 2\n")
    cases = [(tmp_path / "missing.toml", "--config: {}: no such file"),
             (tmp_path / "bad.toml", "--config: {}: unknown key 'learning_rate'; valid keys: data, test_data, "),
             (tmp_path / "broken.toml", "--config: {}: not valid TOML (")]
    for path, message in cases:
        with pytest.raises(UsageError) as e:
            read_toml(str(path))
        assert str(e.value).startswith(message.format(path)), str(e.value)


def test_make_optimizer():
    opt = runs.make_optimizer(resolve_config({"optimizer": "sgd", "lr": 0.05, "momentum": 0.9}))
    assert type(opt).__name__ == "SGD" and opt.lr == 0.05
    with pytest.raises(UsageError, match=r"^--momentum does not apply to optimizer 'adam'$"):
        runs.make_optimizer(resolve_config({"momentum": 0.9}))


def test_new_run_dir_and_plan_run(tmp_path):
    first = runs.new_run_dir(str(tmp_path))
    os.makedirs(first)
    second = runs.new_run_dir(str(tmp_path))
    assert os.path.dirname(first) == str(tmp_path) and second == first + "-2"

    cfg, out_dir = runs.plan_run({"layers": "16", "epochs": None}, out=tmp_path / "r")
    assert out_dir == str(tmp_path / "r") and os.path.isdir(out_dir)
    assert cfg["out"] == out_dir and cfg["layers"] == [16] and cfg["epochs"] == DEFAULTS["epochs"]
    (tmp_path / "r" / "run.json").write_text("{}")
    r, none = tmp_path / "r", tmp_path / "none"
    cases = [({}, dict(out=r), f"--out: {r} already holds a run; use --resume {r} or another --out"),
             ({}, dict(resume=none), f"--resume: {none}: no such run folder"),
             ({}, dict(resume=r), f"--resume: {r} has no checkpoint.safetensors to resume from"),
             ({"layers": "x"}, dict(resume=none), "--layers: expected comma-separated"),  # checked first
             ({}, dict(resume=r, out=tmp_path / "other", touch=True), "--resume continues in its own folder; "
                                                                      "leave out --out")]
    for options, where, message in cases:
        if where.pop("touch", False):
            (r / "checkpoint.safetensors").write_bytes(b"")  # only its existence is checked before --out
        with pytest.raises(UsageError) as e:
            runs.plan_run(options, **where)
        assert str(e.value).startswith(message), str(e.value)


# -- a training run and its reports --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Two epochs of a small MLP on three Gaussian blobs in 8 dimensions (90 training, 30 test samples)."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (3, 8))

    def blobs(n):
        y = np.arange(n) % 3
        return (centres[y] + rng.normal(0, 1, (n, 8))).astype(np.float32), y

    (X, y), (Xt, yt) = blobs(90), blobs(30)
    np.savez(root / "blobs.npz", x_train=X, y_train=y, x_test=Xt, y_test=yt)
    cfg = resolve_config({"data": str(root / "blobs.npz"), "layers": [8], "epochs": 2, "batch_size": 16})
    out = str(root / "run")
    os.makedirs(out)
    lines = []
    summary = run_training(dict(cfg), out, echo=lines.append, progress=False)
    return root, out, cfg, summary, lines, (Xt, yt)


def test_run_training_writes_the_run_folder(tiny_run):
    root, out, cfg, summary, lines, _ = tiny_run
    for name in RUN_FILES:
        assert os.path.isfile(os.path.join(out, name)), name
    rows = open(os.path.join(out, "history.csv")).read().strip().splitlines()
    assert rows[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy,") and len(rows) == 3
    saved = json.load(open(os.path.join(out, "run.json")))
    assert saved["summary"] == {k: v for k, v in summary.items() if k not in ("run_dir", "interrupted")}
    assert saved["config"] == {**cfg, "lr": runs.RECIPE_LR["adam"]}  # the learning rate actually used is recorded
    assert summary["interrupted"] is False and summary["run_dir"] == out and summary["epochs"] == 2
    assert summary["n_train"] == 90 and summary["n_test"] == 30 and 0 <= summary["test_accuracy"] <= 1
    assert resolve_config({}, os.path.join(out, "config.toml")) == {**cfg, "lr": runs.RECIPE_LR["adam"], "out": None}
    assert lines[0].startswith("neuronlab ") and "MLP 8-8-3" in lines[0] and "2 epochs" in lines[0]
    assert any(line.startswith("Epoch 2/2") for line in lines)
    assert f"Test accuracy: {100 * summary['test_accuracy']:.2f}%" in "\n".join(lines)
    assert lines[-1].endswith(f"neuronlab predict {os.path.join(out, 'model.safetensors')} rows.csv")


def test_report_text_of_a_confusion_matrix():
    cm = np.array([[3, 1], [0, 2]])
    assert runs.classification_report(cm, ["a", "b"]) == [
        "class  precision  recall  f1-score  support",
        "    a     1.0000  0.7500    0.8571        4",
        "    b     0.6667  1.0000    0.8000        2",
        "macro     0.8333  0.8750    0.8286        6",
    ]
    assert runs.confusion_matrix_text(cm, ["a", "b"]) == ["    a b   <- predicted", " a  3 1", " b  0 2"]


def test_evaluate_report(tiny_run, tmp_path):
    _, out, _, summary, _, (Xt, yt) = tiny_run
    path = os.path.join(out, "model.safetensors")
    ev = runs.evaluate_model(path)
    assert ev.n == 30 == ev.confusion.sum() and ev.classes == ["0", "1", "2"]
    assert ev.accuracy == pytest.approx(summary["test_accuracy"]) and ev.loss == pytest.approx(summary["test_loss"])
    assert ev.errors == 30 - np.trace(ev.confusion)
    lines = runs.evaluation_lines(ev)
    assert lines[0] == f"{path} on {ev.what}: 30 samples"
    assert lines[1] == f"loss {ev.loss:.4f}   accuracy {100 * ev.accuracy:.2f}%   ({ev.errors} errors)\n"
    assert lines[2:7] == runs.classification_report(ev.confusion, ev.classes)
    assert lines[7] == "\nconfusion matrix (rows: true class, columns: predicted)"
    assert lines[8:] == runs.confusion_matrix_text(ev.confusion, ev.classes)
    png = runs.save_confusion_matrix(ev, str(tmp_path / "figs"))
    assert png == str(tmp_path / "figs" / "confusion_matrix.png")
    assert open(png, "rb").read(4) == b"\x89PNG"


def test_predict_and_info_reports(tiny_run, tmp_path):
    _, out, _, _, _, (Xt, _) = tiny_run
    path = os.path.join(out, "model.safetensors")
    np.save(tmp_path / "three.npy", Xt[:3])
    np.savetxt(tmp_path / "one.csv", Xt[3:4], delimiter=",")
    pred = runs.predict_files(path, [tmp_path / "three.npy", str(tmp_path / "one.csv")])
    assert pred.labels == [f"{tmp_path / 'three.npy'}[{i}]" for i in range(3)] + [str(tmp_path / "one.csv")]
    assert pred.probabilities.shape == (4, 3) and np.allclose(pred.probabilities.sum(axis=1), 1, atol=1e-5)
    lines = runs.prediction_lines(pred, top=2)
    assert len(lines) == 4 and all(line.count("class") == 2 for line in lines)
    j = int(pred.probabilities[0].argmax())
    assert lines[0].split()[1:4] == ["class", str(j), f"p={pred.probabilities[0, j]:.4f}"]

    info = runs.info_lines(path)
    assert info[0].startswith(f"{path}: neuronlab model, format version ")
    assert "Total params: 99" in "\n".join(info)  # the summary table: 8*8+8 + 8*3+3
    assert "classes (3): 0, 1, 2" in info and any(line.startswith("trained on: ") for line in info)
    assert any(line.startswith("checkpoint after epoch 2") for line in runs.info_lines(
        os.path.join(out, "checkpoint.safetensors")))


def test_input_reader_errors(tiny_run, tmp_path):
    _, out, _, _, _, _ = tiny_run
    (tmp_path / "x.dat").write_text("1,2")
    with pytest.raises(DataError, match=r"x\.dat: unknown input format \(PNG/JPEG image, \.npy, IDX or \.csv\)$"):
        runs.read_inputs(str(tmp_path / "x.dat"), (8,), 8)
    with pytest.raises(DataError, match=r"none\.png: no such file$"):
        runs.read_inputs(str(tmp_path / "none.png"), (8,), 8)
    np.save(tmp_path / "wrong.npy", np.zeros((2, 5)))
    with pytest.raises(DataError, match=r"array of shape \(2, 5\) does not hold samples of shape \(8,\)"):
        runs.read_inputs(str(tmp_path / "wrong.npy"), (8,), 8)
    with pytest.raises(DataError, match="this model takes 8 features, not images"):
        runs.read_image(str(tmp_path / "x.dat"), (8,))
    model, extra = runs.load_model_file(os.path.join(out, "model.safetensors"))
    with pytest.raises(UsageError, match="this model file does not say what data it was trained on: give --data"):
        runs.eval_data(None, {}, model)
    with pytest.raises(Exception, match="no such file"):
        runs.load_model_file(str(tmp_path / "none.safetensors"))


def test_recipe_lr_applies_only_when_lr_is_not_given():
    """``train``'s η: the recipe's for Adam, the given --lr over it, the optimizer's own default otherwise."""
    base = {**DEFAULTS, "data": "x.csv"}
    assert runs.make_optimizer({**base, "optimizer": "adam"}).lr == runs.RECIPE_LR["adam"] == 3e-3
    assert runs.make_optimizer({**base, "optimizer": "adam", "lr": 0.01}).lr == 0.01
    assert runs.make_optimizer({**base, "optimizer": "sgd"}).lr == runs.make_optimizer({**base, "optimizer": "sgd",
                                                                                           "lr": 0.01}).lr == 0.01
