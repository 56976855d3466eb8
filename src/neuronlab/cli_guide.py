"""``neuronlab trace`` and ``neuronlab demo``: the guide's claims, shown on the library's own code.

Both are click commands; ``neuronlab.cli`` registers them on its ``main`` group. They also run
alone: ``python -m neuronlab.cli_guide trace``.
"""

from __future__ import annotations

import click

from . import losses as _losses
from .trace import SUPPORTED_ACTIVATIONS

_ELEMENTWISE = [a for a in SUPPORTED_ACTIVATIONS if a != "softmax"]

__all__ = ["trace", "demo", "guide"]


def _parse_layers(ctx, param, value):
    try:
        widths = tuple(int(v) for v in value.replace(" ", "").split(",") if v)
    except ValueError:
        raise click.BadParameter(f"expected comma-separated widths such as 4,2,1, got {value!r}") from None
    if len(widths) < 2 or min(widths) < 1:
        raise click.BadParameter(f"give at least two positive widths (inputs first), got {value!r}")
    if max(widths) > 64:
        raise click.BadParameter(f"trace prints every weight: keep each width <= 64, got {value!r}")
    return widths


@click.command("trace")
@click.option("--layers", default="4,2,1", show_default=True, callback=_parse_layers,
              help="Widths from the inputs to the outputs (the guide's network: 4,2,1).")
@click.option("--activation", default="sigmoid", show_default=True,
              type=click.Choice(_ELEMENTWISE),
              help="f of the hidden layers (and of the output unless --output-activation).")
@click.option("--output-activation", default=None,
              type=click.Choice(list(SUPPORTED_ACTIVATIONS)),
              help="f of the output layer [default: softmax for categorical_crossentropy, "
                   "sigmoid for binary_crossentropy, else --activation].")
@click.option("--loss", default="mse", show_default=True, type=click.Choice(_losses.names()), help="C.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seeds the initial weights and the sample.")
@click.option("--lr", default=0.5, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="η, the learning rate of the step.")
@click.option("--samples", default=1, show_default=True, type=click.IntRange(1, 16),
              help="Samples in the batch (the loss is their mean).")
@click.option("--format", "fmt", default="text", show_default=True, type=click.Choice(["text", "md"]),
              help="text: terminal tables; md: Markdown with LaTeX.")
@click.option("--digits", default=4, show_default=True, type=click.IntRange(2, 17),
              help="Significant digits printed.")
@click.option("--indexing", default="neuronlab", show_default=True, type=click.Choice(["neuronlab", "guide"]),
              help="neuronlab: counted from 1, W^K enters layer K (x₁, W¹₁₁); guide: the guide's names, "
                   "counted from 0, W^K leaves layer K (x₀, W⁰₀₀).")
@click.option("--momentum", default=0.0, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="γ of the guide's momentum, v = γ v + (1 − γ) ∂C/∂W from v₀ = 0 (SGD(momentum=γ, ema=True)); "
                   "the traced step is the first: W − η (1 − γ) ∂C/∂W.")
def trace(layers, activation, output_activation, loss, seed, lr, samples, fmt, digits, indexing, momentum):
    """One training step of a small network, neuron by neuron, in the guide's notation.

    Forward pass (Z = Σ x_i W_ij + b_j, h = f(Z)), the loss C, the backward pass
    (∂C/∂h, ∂C/∂Z, ∂C/∂W_ij, ∂C/∂b_j) and the update W − η ∂C/∂W, each number computed
    by an explicit scalar walk and checked against the library's vectorised step.
    """
    from .trace import compare_with_library, guide_example
    from .trace import trace as run_trace

    try:
        model, X, y = guide_example(layers, activation, loss, output_activation, seed, samples)
        t = run_trace(model, X, y, lr=lr, loss=loss, indexing=indexing, momentum=momentum)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    text = t.to_markdown(digits) if fmt == "md" else t.to_text(digits)
    click.echo(text, nl=False)
    diff = compare_with_library(t, model, X, y, loss)
    step = "SGD(momentum=γ, ema=True).step" if momentum else "SGD.step"
    check = (f"Check: these numbers equal the library's vectorised forward/backward/SGD step "
             f"(model.forward, model.backward, Param.grad, {step}) to a relative {diff:.1e}.")
    click.echo("\n" + check)


def _demo_topics():
    from .demos import TOPICS  # every registered topic (other modules add theirs to TOPICS)

    return TOPICS


@click.command("demo")
@click.argument("topic", type=click.Choice(["all", *_demo_topics()]))
@click.option("--out", "out_dir", default="neuronlab-demos", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the PNG figures and the JSON of numbers.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--quick", is_flag=True, help="A small, fast version (seconds), as the tests run it.")
def demo(topic, out_dir, seed, quick):
    """Show one of the guide's claims with real numbers and figures (TOPIC or all).

    Writes TOPIC_*.png and TOPIC.json into --out and prints a short table.
    """
    from . import demos

    topics = demos.TOPICS if topic == "all" else (topic,)
    for name in topics:
        try:
            demos.run(name, out_dir, seed=seed, quick=quick)
        except ImportError as exc:
            raise click.ClickException(f"{exc}. The demos draw with matplotlib: pip install 'neuronlab[cli]'") \
                from None


@click.group("guide")
def guide():
    """The guide's commands (trace, demo), for use without neuronlab.cli."""


guide.add_command(trace)
guide.add_command(demo)

if __name__ == "__main__":  # pragma: no cover
    guide()
