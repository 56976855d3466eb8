"""``neuronlab generate``: train a character-level LSTM on Tiny Shakespeare (or your text) and sample from it.

    neuronlab generate                          # train (~2-4 min on one core), save, print 500 characters
    neuronlab generate --model char-lstm.safetensors --prime "ROMEO:" --temperature 0.6
"""

from __future__ import annotations

import os
import time

import click

__all__ = ["generate"]


@click.command("generate")
@click.option("--model", "model_path", default=None, type=click.Path(dir_okay=False),
              help="Sample from this char model (saved by an earlier `generate`) instead of training one.")
@click.option("--text", "text_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Train on this UTF-8 text file (.txt or .gz); default: the shipped Tiny Shakespeare.")
@click.option("--steps", default=1500, show_default=True, type=click.IntRange(min=1), help="Training updates.")
@click.option("--units", default=256, show_default=True, type=click.IntRange(min=1), help="LSTM state size u.")
@click.option("--embed-dim", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--seq-len", default=64, show_default=True, type=click.IntRange(min=2),
              help="Characters per training window (BPTT length T).")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=2e-3, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Adam learning rate η.")
@click.option("--clipnorm", default=5.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Clip the global gradient norm to this before each update.")
@click.option("--save", "save_path", default="char-lstm.safetensors", show_default=True,
              type=click.Path(dir_okay=False), help="Where the trained model goes (with its vocabulary).")
@click.option("--length", default=500, show_default=True, type=click.IntRange(min=1), help="Characters to generate.")
@click.option("--temperature", default=0.8, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Sampling temperature: < 1 safer, > 1 wilder.")
@click.option("--prime", default="ROMEO:\n", show_default=True, help="Text the model reads before generating.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--force", is_flag=True, help="Replace an existing --save file.")
@click.option("--log-every", default=100, show_default=True, type=click.IntRange(min=1))
def generate(model_path, text_path, steps, units, embed_dim, seq_len, batch_size, lr, clipnorm, save_path, length,
             temperature, prime, seed, log_every, force):
    """Train a character-level LSTM (Embedding → LSTM → Dense softmax) and sample text from it.

    Without --model, trains on Tiny Shakespeare (90% train, 10% validation) for --steps
    updates of --batch-size random windows, saves the model with its vocabulary to --save,
    then prints --length characters that follow --prime.
    """
    from .core import DataError
    from .datasets import sequences as seq
    from .saving import load_checkpoint

    prime = prime.replace("\\n", "\n")
    if model_path is not None:
        if not os.path.isfile(model_path):
            raise click.UsageError(f"--model: {model_path} does not exist (train one first: neuronlab generate)")
        try:
            model, extra = load_checkpoint(model_path)
        except (DataError, ValueError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
        chars = (extra or {}).get("chars")
        if not isinstance(chars, str) or not chars:
            raise click.ClickException(f"{model_path}: not a char model (no vocabulary stored); "
                                       "make one with neuronlab generate")
        vocab = seq.CharVocab(chars)
    else:
        try:
            text = seq.load_tinyshakespeare(text_path)
        except DataError as exc:
            raise click.ClickException(str(exc)) from None
        if len(text) < 10 * (seq_len + 2):
            raise click.UsageError(f"--text: {len(text)} characters are too few for --seq-len {seq_len}")
        vocab = seq.CharVocab(text)
        _check_prime(prime, vocab)  # before minutes of training, not after
        if os.path.lexists(save_path) and not force:
            raise click.UsageError(f"--save: {save_path} exists; give --force to replace it, or another --save")
        tokens = vocab.encode(text)
        split = int(0.9 * len(tokens))
        click.echo(f"text: {len(text):,} characters, {vocab.size} distinct; training on the first 90%")
        model = seq.char_model(vocab.size, units=units, dim=embed_dim, seed=seed, lr=lr, clipnorm=clipnorm)
        model.build((seq_len,))
        model.summary(print_fn=click.echo)
        t0 = time.perf_counter()
        with seq.single_blas_thread():
            log = seq.train_char_model(model, tokens[:split], steps, batch_size, seq_len, val_tokens=tokens[split:],
                                       log_every=log_every, print_fn=click.echo)
        click.echo(f"trained {steps} updates in {time.perf_counter() - t0:.0f} s; "
                   f"validation loss {log['val_loss'][-1]:.3f} nats/char")
        model.save(save_path, include_optimizer=False,
                   extra={"chars": vocab.chars, "log": log, "seq_len": seq_len, "text": text_path or "tinyshakespeare"})
        click.echo(f"saved {save_path}")
    _check_prime(prime, vocab)
    with seq.single_blas_thread():
        out = seq.sample_chars(model, vocab, length, prime=prime, temperature=temperature, seed=seed)
    click.echo("-" * 60)
    from .text import printable  # (a model file chooses the characters: never terminal control)

    click.echo("\n".join(printable(line) for line in (prime + out).split("\n")))


def _check_prime(prime, vocab) -> None:
    missing = sorted(set(prime) - set(vocab.chars))
    if missing:
        raise click.UsageError(f"--prime: characters {''.join(missing)!r} are not in the model's vocabulary")


if __name__ == "__main__":  # pragma: no cover
    generate()
