"""What the ``neuronlab`` command does, as plain Python functions (no click).

    config.py    defaults, TOML read/write, option validation, layer specs, optimizers, run folders
    training.py  run_training (the run folder of ``neuronlab train``) and history files
    inputs.py    model files, evaluation data and predict's inputs (images, .npy, IDX, CSV)
    reports.py   evaluate / predict / info: results and their text as lists of lines

>>> from neuronlab.runs import plan_run, run_training
>>> cfg, out_dir = plan_run({"layers": "64", "epochs": 2}, out="runs/small")   # doctest: +SKIP
>>> summary = run_training(cfg, out_dir)                                       # doctest: +SKIP

Errors are :class:`UsageError` (a ValueError: a bad option, the command's exit code 2) or the
library's own (NeuronlabError, DataError, OSError: exit code 1); ``neuronlab.cli`` prints them
as one line.
"""

from .config import (
    DEFAULTS,
    RECIPE_LR,
    RUN_FILES,
    SCHEDULES,
    UsageError,
    build_model,
    make_optimizer,
    new_run_dir,
    parse_layers,
    plan_run,
    read_toml,
    resolve_config,
    write_toml,
)
from .inputs import class_names, eval_data, load_model_file, read_image, read_inputs, scaler_of, shape_for
from .reports import (
    Evaluation,
    Prediction,
    classification_report,
    confusion_matrix_text,
    evaluate_model,
    evaluation_lines,
    info_lines,
    predict_files,
    prediction_lines,
    probabilities,
    save_confusion_matrix,
)
from .training import run_training, write_history

__all__ = [
    "DEFAULTS", "RECIPE_LR", "RUN_FILES", "SCHEDULES", "UsageError", "build_model", "make_optimizer", "new_run_dir",
    "parse_layers", "plan_run", "read_toml", "resolve_config", "write_toml",
    "class_names", "eval_data", "load_model_file", "read_image", "read_inputs", "scaler_of", "shape_for",
    "Evaluation", "Prediction", "classification_report", "confusion_matrix_text", "evaluate_model",
    "evaluation_lines", "info_lines", "predict_files", "prediction_lines", "probabilities", "save_confusion_matrix",
    "run_training", "write_history",
]
