"""The ``neuronlab`` command: train, evaluate, predict, info (and the guide's demo, trace).

``neuronlab train`` with no options trains the default MLP on the MNIST copy shipped in
the package and writes a run folder. Every error is one line on stderr and a non-zero
exit code (2 for usage errors); set ``NEURONLAB_DEBUG=1`` to see a traceback instead.

This module only declares the commands; what they do is in :mod:`neuronlab.runs`, which
works without click.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import os  # noqa: E402
import sys  # noqa: E402

try:
    import click
except ImportError:  # the command-line extra is not installed
    click = None

from . import __version__, runs  # noqa: E402
from . import activations as _activations  # noqa: E402
from . import initializers as _initializers  # noqa: E402
from . import optimizers as _optimizers  # noqa: E402
from . import zoo as _zoo  # noqa: E402
from .core import NeuronlabError  # noqa: E402
from .runs import DEFAULTS, SCHEDULES, UsageError, resolve_config, run_training  # noqa: E402 (three re-exported)

__all__ = ["main", "run_training", "DEFAULTS", "resolve_config"]


# -- the click application ----------------------------------------------------------------------------
if click is not None:

    class _Main(click.Group):
        """A group whose errors are one line on stderr: exit 2 for usage, 1 otherwise, 130 on Ctrl-C."""

        def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
            if not standalone_mode:
                return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            debug = bool(os.environ.get("NEURONLAB_DEBUG"))
            code = 0
            try:
                rv = super().main(args, prog_name or "neuronlab", complete_var, standalone_mode=False, **extra)
                code = rv if isinstance(rv, int) else 0
            except click.UsageError as e:
                hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
                _fail(f"{e.format_message()}{hint}")
                code = 2
            except UsageError as e:
                _fail(str(e))
                code = 2
            except click.ClickException as e:
                _fail(e.format_message())
                code = e.exit_code
            except ImportError as e:
                if debug:
                    raise
                _fail(f"missing package {e.name or e}: pip install 'neuronlab[cli]'")
                code = 1
            except (click.Abort, KeyboardInterrupt):
                _fail("interrupted")
                code = 130
            except (NeuronlabError, ValueError, OSError) as e:
                if debug:
                    raise
                _fail(str(e) or type(e).__name__)
                code = 1
            except Exception as e:  # a bug: still one line, with a way to see more
                if debug:
                    raise
                _fail(f"internal error: {type(e).__name__}: {e} (set NEURONLAB_DEBUG=1 to see the traceback)")
                code = 1
            sys.exit(code)

    def _fail(msg: str) -> None:
        from .text import printable  # (messages quote file names and file content)

        click.echo("error: " + " ".join(printable(msg).split()), err=True)

    def _echo_lines(lines) -> None:
        for line in lines:
            click.echo(line)

    @click.group("neuronlab", cls=_Main, context_settings={"help_option_names": ["-h", "--help"],
                                                            "max_content_width": 100})
    @click.version_option(__version__, prog_name="neuronlab")
    def main():
        """neuronlab: the beginner's guide to neural networks, as fast verified NumPy code.

        Start with `neuronlab train`: it trains a multilayer perceptron on MNIST (shipped with
        the package) to about 98% test accuracy in under half a minute.
        """

    @main.command(short_help="Train a model (default: MLP on MNIST) and save it with its curves.")
    @click.option("--data", help="mnist (default, shipped), fashion-mnist (downloaded once), an IDX folder named "
                                 "like MNIST's, a .csv or an .npz.")
    @click.option("--test-data", help="A separate test set (same formats). Default: the source's test split, or a "
                                      "stratified --test-fraction of it.")
    @click.option("--test-fraction", type=float, help="Share held out as test set when the data has none [0.1].")
    @click.option("--label-column", help="CSV label column: index or header name [auto: label/target/class or first].")
    @click.option("--header/--no-header", default=None, help="Whether a CSV's first line is a header [auto: a header "
                                                               "when it holds a label name or text above numbers].")
    @click.option("--model", type=click.Choice(_zoo.names(), case_sensitive=False), help="Model from the zoo [mlp].")
    @click.option("--layers", help="Hidden layer widths, comma-separated [512,256]; '' for none.")
    @click.option("--activation", type=click.Choice(_activations.names(), case_sensitive=False),
                  help="Hidden activation [relu].")
    @click.option("--init", type=click.Choice([*_initializers.names(), "auto"], case_sensitive=False),
                  help="Weight initializer [he_normal].")
    @click.option("--dropout", type=float,
                  help="Dropout ratio P after each hidden layer [0: the fast recipe; 0.2 regularises].")
    @click.option("--optimizer", type=click.Choice(_optimizers.names(), case_sensitive=False),
                  help="Optimizer [adam].")
    @click.option("--lr", type=float, help="Learning rate η [Adam 3e-3; others: the optimizer's default].")
    @click.option("--momentum", type=float, help="Momentum μ (sgd, rmsprop).")
    @click.option("--schedule", type=click.Choice(SCHEDULES), help="Learning rate over the run: cosine decay "
                                                                   "from --lr to 0, or constant [cosine].")
    @click.option("--epochs", type=int, help=f"Passes over the training data [{DEFAULTS['epochs']}].")
    @click.option("--batch-size", type=int, help="Samples per batch K [256].")
    @click.option("--seed", type=int, help="Seed of the model's random generator [0].")
    @click.option("--val-split", type=float, help="Share of training data held out for validation [0: validate on "
                                                  "the test set].")
    @click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML file with any of these "
                                                                                   "options (command line wins).")
    @click.option("--out", type=click.Path(file_okay=False), help="Run folder [runs/<date-time>].")
    @click.option("--resume", type=click.Path(file_okay=False), help="Continue the interrupted run in this folder.")
    @click.option("--no-progress", is_flag=True, help="No progress bar (epoch lines only).")
    def train(config_path, out, resume, no_progress, **options):
        """Train a model and save it with its history, curves and configuration.

        With no options: MLP 784-512-256-10 (ReLU, no dropout) on MNIST, Adam 3e-3 with cosine decay,
        batch 256, 5 epochs.
        """
        cfg, out_dir = runs.plan_run(options, config_path, out=out, resume=resume)
        summary = runs.run_training(cfg, out_dir, resume=bool(resume), echo=click.echo,
                                    progress=False if no_progress else None, t0=_T0)
        return 130 if summary.get("interrupted") else 0

    @main.command(short_help="Accuracy, per-class precision/recall and confusion matrix of a model.")
    @click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
    @click.option("--data", help="Data to evaluate on (default: the test split of the data the model was trained on).")
    @click.option("--out", type=click.Path(file_okay=False), help="Folder for confusion_matrix.png [the model's].")
    def evaluate(model_path, data, out):
        """Loss, accuracy, per-class precision/recall and the confusion matrix of MODEL."""
        ev = runs.evaluate_model(model_path, data)
        _echo_lines(runs.evaluation_lines(ev))
        png = runs.save_confusion_matrix(ev, out)
        click.echo(f"\nconfusion matrix image: {png}")

    @main.command(short_help="Classify images, IDX, CSV or NPY inputs with a model.")
    @click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
    @click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
    @click.option("--top", type=click.IntRange(1), default=1, show_default=True, help="Classes shown per input.")
    def predict(model_path, inputs, top):
        """Classify INPUT files: PNG/JPEG images, .npy arrays, IDX files or CSV rows."""
        _echo_lines(runs.prediction_lines(runs.predict_files(model_path, inputs), top))

    @main.command(short_help="Architecture, parameter counts and training details of a model.")
    @click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
    def info(model_path):
        """Architecture, parameter counts and training details of MODEL."""
        _echo_lines(runs.info_lines(model_path))

    @main.command(short_help="Write a model as ONNX (runs in ONNX Runtime).")
    @click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
    @click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True)
    @click.option("--out", type=click.Path(dir_okay=False), help="File to write [MODEL with the format's suffix].")
    @click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
    def export(model_path, fmt, out, force):
        """Write MODEL (a .safetensors model or checkpoint) as an ONNX file; needs neuronlab[onnx]."""
        from .interop.export import export_file

        try:
            click.echo(f"wrote {export_file(model_path, fmt, out, force)}")
        except ImportError as e:  # the onnx extra, not the cli one
            raise click.ClickException(str(e)) from e

    @main.command(short_help="Hyper-parameter sweep on Ray Tune (Optuna TPE + ASHA), here or on a cluster.")
    @click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Sweep TOML: [train] fixed "
                  "options, [search] space, [tune] settings (see examples/sweep.toml).")
    @click.option("--trials", type=click.IntRange(1), help="Number of trials [16].")
    @click.option("--metric", type=click.Choice(["val_accuracy", "val_loss", "accuracy", "loss"]),
                  help="What the search optimises, on the validation split [val_accuracy].")
    @click.option("--mode", type=click.Choice(["max", "min"]), help="Maximise or minimise --metric [by metric].")
    @click.option("--cpus-per-trial", type=click.IntRange(1), help="CPUs (and BLAS threads) per trial [1].")
    @click.option("--num-cpus", type=click.IntRange(1), help="CPUs of the Ray started here [all]; not with --address.")
    @click.option("--out", type=click.Path(file_okay=False), help="Output folder [runs/tune/<date-time>].")
    @click.option("--address", help="Join a running Ray cluster: auto or HOST:PORT [start Ray in this process].")
    @click.option("--resume", type=click.Path(file_okay=False), help="Finish the interrupted sweep in this folder.")
    def tune(config_path, trials, metric, mode, cpus_per_trial, num_cpus, out, address, resume):
        """Search train's options with Ray Tune; write the trials table, best.toml, the best model, figures."""
        from . import tune as _tune

        if config_path is None and resume is None:
            raise UsageError("--config: give the sweep file (see examples/sweep.toml), or --resume DIR")
        try:
            _tune.run(config_path, trials=trials, metric=metric, mode=mode, cpus_per_trial=cpus_per_trial, out=out,
                      address=address, resume=resume, num_cpus=num_cpus, echo=click.echo)
        except ImportError as e:  # the tune extra, not the cli one
            raise click.ClickException(str(e) if str(e) == _tune.EXTRA_HINT else f"{e}; {_tune.EXTRA_HINT}") from e

    try:  # the guide's walk-throughs live in their own module, written separately
        from .cli_guide import demo, trace
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.cli_guide":
            raise
    else:
        main.add_command(demo)
        main.add_command(trace)

    try:  # the recurrent networks' text task (train/sample a char LSTM), written separately
        from .cli_rnn import generate
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.cli_rnn":
            raise
    else:
        main.add_command(generate)

    @main.command(short_help="The guide, live in the browser: train a network and see every number.")
    @click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port (0: any).")
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (others warn).")
    @click.option("--no-browser", is_flag=True, help="Print the URL only; do not open a browser.")
    @click.option("--max-sessions", type=click.IntRange(1, 64), default=8, show_default=True, help="Open tabs at once.")
    def playground(port, host, no_browser, max_sessions):
        """A TensorFlow-Playground-class page driven by neuronlab itself (needs the playground extra)."""
        from .playground.server import serve

        serve(host=host, port=port, open_browser=not no_browser, max_sessions=max_sessions, echo=click.echo)

else:

    def main(*args, **kwargs):
        sys.stderr.write("error: the neuronlab command needs its extras: pip install 'neuronlab[cli]'\n")
        sys.exit(1)
