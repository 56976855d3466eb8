"""The sweep file of ``neuronlab tune``: parsing, the trial configuration, one clear error per mistake (no Ray)."""

import os
import sys

import pytest

from neuronlab.runs import DEFAULTS, UsageError
from neuronlab.tune.space import FIXED_ONLY, SEARCHABLE, read_sweep, takes_momentum, trial_config

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "sweep.toml")


def sweep(search=None, train=None, tune=None, points=None):
    raw = {"train": train or {}, "search": search if search is not None else {"lr": {"loguniform": [1e-4, 0.1]}}}
    if tune is not None:
        raw["tune"] = tune
    if points is not None:
        raw["points"] = points
    return read_sweep(raw)


def test_example_file_parses_with_every_kind_of_entry():
    s = read_sweep(EXAMPLE)
    assert s.params["lr"].kind == "loguniform" and s.params["lr"].values == (1e-4, 0.1)
    assert s.params["layers"].values == ("128", "256", "512,256")
    assert s.params["dropout"].kind == "uniform" and s.params["dropout"].values == (0, 0.5)
    assert s.settings == {"trials": 16, "metric": "val_accuracy", "mode": "max", "cpus_per_trial": 1,
                          "grace_period": 1, "seed": 0}
    assert s.fixed["epochs"] == 4 and s.fixed["val_split"] == 0.1 and s.fixed["data"] == "mnist"
    assert s.points[0]["layers"] == "512,256"


def test_searchable_and_fixed_options_cover_every_train_option():
    assert set(SEARCHABLE) | set(FIXED_ONLY) == set(DEFAULTS)
    for key in ("lr", "layers", "dropout", "optimizer", "batch_size", "momentum", "init", "epochs"):
        assert key in SEARCHABLE


def test_int_ranges_choices_and_names_are_normalised():
    s = sweep({"batch_size": {"logint": [16, 256]}, "epochs": {"int": [1, 5]}, "optimizer": {"choice": ["ADAM", "sgd"]},
               "layers": {"choice": [[512, 256], "64", ""]}, "activation": {"choice": ["tanh", "relu"]}})
    assert s.params["batch_size"].values == (16, 256) and s.params["epochs"].kind == "int"
    assert s.params["optimizer"].values == ("adam", "sgd")
    assert s.params["layers"].values == ("512,256", "64", "")


def test_validation_is_a_split_of_the_training_set():
    assert sweep().fixed["val_split"] == 0.1
    assert sweep(train={"val_split": 0.2}).fixed["val_split"] == 0.2
    with pytest.raises(UsageError, match=r"\[train\] val_split: must be in \(0, 1\): tune validates on a split"):
        sweep(train={"val_split": 0})


def test_trial_config_turns_layers_back_into_lists_and_drops_unused_momentum():
    s = sweep({"optimizer": {"choice": ["adam", "sgd"]}, "momentum": {"uniform": [0.5, 0.9]}})
    cfg = trial_config(s.fixed, {"optimizer": "adam", "momentum": 0.7, "layers": "64,32"})
    assert cfg["layers"] == [64, 32] and cfg["momentum"] is None
    assert trial_config(s.fixed, {"optimizer": "sgd", "momentum": 0.7})["momentum"] == 0.7
    assert takes_momentum("sgd") and takes_momentum("rmsprop") and not takes_momentum("adam")


def test_settings_come_from_the_tune_table_and_mode_follows_the_metric():
    s = sweep(tune={"trials": 3, "metric": "val_loss", "cpus_per_trial": 2})
    assert (s.settings["trials"], s.settings["mode"], s.settings["cpus_per_trial"]) == (3, "min", 2)


def test_to_dict_reads_back_into_the_same_sweep():
    s = read_sweep(EXAMPLE)
    again = read_sweep(s.to_dict())
    assert again.params == s.params and again.fixed == s.fixed and again.settings == s.settings
    assert again.points == s.points


@pytest.mark.parametrize("search, message", [
    ({"lr": {"loguniform": [0, 0.1]}}, r"\[search\] lr: loguniform needs 0 < low, got \[0, 0.1\]"),
    ({"lr": {"uniform": [0.1, 0.01]}}, r"\[search\] lr: uniform needs low < high, got \[0.1, 0.01\]"),
    ({"lr": {"uniform": [0.1]}}, r"\[search\] lr: uniform needs two numbers \[low, high\], got \[0.1\]"),
    ({"lr": {"uniform": ["a", 1]}}, r"\[search\] lr: uniform needs two numbers"),
    ({"lr": {"normal": [0, 1]}}, r"\[search\] lr: expected \{choice = \[a, b, \.\.\.\]\} or "
                                 r"\{uniform = \[low, high\]\} or \{loguniform = \[low, high\]\}, got 'normal'"),
    ({"lr": 0.1}, r"\[search\] lr: expected .*got 0.1; a fixed value belongs under \[train\]"),
    ({"epochs": {"uniform": [1, 4]}}, r"\[search\] epochs: expected \{choice = .*\{int = \[low, high\]\} or "
                                      r"\{logint = \[low, high\]\}, got 'uniform'"),
    ({"epochs": {"int": [1, 2.5]}}, r"\[search\] epochs: int needs two integers \[low, high\], got \[1, 2.5\]"),
    ({"batch_size": {"int": [0, 64]}}, r"\[search\] batch_size: batch-size: expected a positive integer, got 0"),
    ({"dropout": {"uniform": [0, 1.5]}}, r"\[search\] dropout: dropout: expected a number in \[0, 1\), got 1.5"),
    ({"optimizer": {"choice": ["adam", "nadam"]}}, r"\[search\] optimizer: optimizer: unknown optimizer 'nadam'; "
                                                   r"valid names: sgd"),
    ({"layers": {"choice": ["256", "a,b"]}}, r"\[search\] layers: expected layer widths like \"512,256\""),
    ({"optimizer": {"choice": []}}, r"\[search\] optimizer: choice needs a non-empty list, got \[\]"),
    ({"learning_rate": {"uniform": [0, 1]}}, r"\[search\] learning_rate: unknown option; searchable options: model, "),
    ({"seed": {"choice": [0, 1]}}, r"\[search\] seed: cannot be searched: it fixes the data or its validation split"),
    ({"data": {"choice": ["mnist"]}}, r"\[search\] data: cannot be searched"),
    ({"momentum": {"uniform": [0.5, 0.9]}}, r"\[search\] momentum: none of this sweep's optimizers \(adam\) takes "
                                            r"momentum \(sgd and rmsprop do\)"),
    ({}, r"\[search\] is empty; add at least one option"),
])
def test_a_bad_search_entry_names_the_key_and_what_is_allowed(search, message):
    with pytest.raises(UsageError, match=message):
        sweep(search)


@pytest.mark.parametrize("kwargs, message", [
    ({"train": {"epoch": 3}}, r"\[train\] epoch: unknown option; valid options: data"),
    ({"train": {"epochs": 0}}, r"\[train\] epochs: expected a positive integer, got 0"),
    ({"train": {"out": "x"}}, r"\[train\] out: the output folder is tune's --out"),
    ({"tune": {"trials": 0}}, r"\[tune\] tune: trials must be a positive integer, got 0"),
    ({"tune": {"metric": "f1"}}, r"\[tune\] tune: metric must be one of 'val_accuracy', 'val_loss', 'accuracy', "
                                 r"'loss', got 'f1'"),
    ({"tune": {"workers": 2}}, r"\[tune\] workers: unknown setting; valid settings: trials, metric"),
    ({"points": [{"dropout": 0.1}]}, r"\[\[points\]\] #1: 'dropout' is not searched; searched options: lr"),
    ({"points": [{"lr": -1.0}]}, r"\[\[points\]\] #1 lr: lr: expected a positive number, got -1.0"),
])
def test_bad_train_tune_and_points_tables_are_refused_in_one_line(kwargs, message):
    with pytest.raises(UsageError, match=message) as info:
        sweep(**kwargs)
    assert "\n" not in str(info.value)


def test_unknown_tables_and_files(tmp_path):
    with pytest.raises(UsageError, match=r"unknown table \[serach\]; a sweep has \[train\], \[search\]"):
        read_sweep({"serach": {}})
    with pytest.raises(UsageError, match="no such file"):
        read_sweep(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[search]\nlr = {loguniform = [1e-4, }\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        read_sweep(bad)


def test_parsing_a_sweep_imports_no_ray():
    code = ("import sys, neuronlab.tune as t; t.read_sweep(sys.argv[1]); "
            "assert 'ray' not in sys.modules and 'optuna' not in sys.modules, sorted(sys.modules)")
    import subprocess

    subprocess.run([sys.executable, "-c", code, EXAMPLE], check=True)
