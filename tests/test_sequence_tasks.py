"""Sequence tasks: the adding problem (LSTM solves T = 100, the vanilla RNN does not), sequential
MNIST (LSTM >= 97%, slow), Tiny Shakespeare (shipped text, char model, sampling)."""

import numpy as np
import pytest

import neuronlab as nl
from neuronlab.datasets import sequences as seq
from neuronlab.demos import memory


# -- the adding problem ------------------------------------------------------------------------
def test_adding_problem_definition():
    X, y = seq.adding_problem(500, 40, seed=3)
    assert X.shape == (500, 40, 2) and y.shape == (500, 1) and X.dtype == y.dtype == np.float32
    marks = X[:, :, 1]
    assert np.all(marks.sum(1) == 2) and np.all(marks[:, :20].sum(1) == 1)  # one mark in each half
    np.testing.assert_allclose(y[:, 0], (X[:, :, 0] * marks).sum(1), rtol=1e-6)
    assert 0 <= X[:, :, 0].min() and X[:, :, 0].max() < 1
    X2, y2 = seq.adding_problem(500, 40, seed=3)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    g = np.random.default_rng(3)
    assert not np.array_equal(seq.adding_problem(5, 40, seed=g)[0], seq.adding_problem(5, 40, seed=g)[0])
    # the mean answer scores MSE 1/6
    _, y_big = seq.adding_problem(20000, 10, seed=0)
    assert abs(float(((y_big - 1.0) ** 2).mean()) - seq.adding_baseline_mse()) < 0.01
    for bad in ({"n": 0}, {"length": 1}, {"seed": -1}):
        kw = {"n": 3, "length": 5, **bad}
        with pytest.raises(ValueError, match=list(bad)[0]):
            seq.adding_problem(**kw)


def test_lstm_solves_adding_100_and_vanilla_rnn_does_not():
    """Same budget (at most 2000 updates of 32 fresh sequences, Adam 0.01, clipnorm 1), T = 100.

    The LSTM stops as soon as its test MSE is below 0.01 (typically after 400-1200 updates);
    the RNN gets the whole budget and stays near the 1/6 of answering the mean.
    """
    with seq.single_blas_thread():
        lstm = memory.train_adding("lstm", 100, 2000, n_test=500, stop_below=memory.SOLVED)
        rnn = memory.train_adding("rnn", 100, 2000, n_test=500)
    assert lstm["final_mse"] < 0.01, lstm["mse"]
    assert rnn["final_mse"] > 0.1, rnn["mse"]
    assert min(rnn["mse"]) > 0.05


def test_state_gradients_through_time_on_adding():
    """‖∂C/∂H_1‖ / ‖∂C/∂H_T‖ at init, T = 100: ~1e-4 for the tanh RNN, ~50x more for the LSTM.

    (After training the LSTM's ratio rises to ~0.1-1 while the RNN's stays tiny: see the demo.)
    """
    X, y = seq.adding_problem(64, 100, seed=0)
    g_rnn = memory.state_gradient_norms(memory.adding_model("rnn", 100), X, y)
    g_lstm = memory.state_gradient_norms(memory.adding_model("lstm", 100), X, y)
    assert g_rnn.shape == g_lstm.shape == (100,)
    assert g_rnn[0] / g_rnn[-1] < 1e-3
    assert g_lstm[0] / g_lstm[-1] > 20 * (g_rnn[0] / g_rnn[-1])


def test_memory_demo_quick(tmp_path):
    r = memory.run(tmp_path, quick=True)
    assert (tmp_path / "memory_gradients.png").stat().st_size > 10_000
    assert (tmp_path / "memory.json").exists()
    assert set(r["runs"]) == {"rnn", "lstm"} and r["lengths"] == [10, 30]
    assert r["runs"]["lstm"][30]["final_mse"] < r["runs"]["rnn"][30]["final_mse"]


# -- sequential MNIST ---------------------------------------------------------------------------
def test_sequential_mnist_shapes(mnist):
    (X, y), (Xt, yt) = seq.load_sequential_mnist()
    assert X.shape == (60000, 28, 28) and Xt.shape == (10000, 28, 28) and X.dtype == np.float32
    np.testing.assert_array_equal(X[:5].reshape(5, -1), mnist[0][0][:5])  # row r = time step r
    np.testing.assert_array_equal(y, mnist[0][1])


@pytest.mark.slow
def test_lstm_sequential_mnist_97_percent():
    """LSTM(128) reading 28 rows of 28 pixels: >= 97% test accuracy after 5 epochs (~15-20 s each)."""
    (X, y), (Xt, yt) = seq.load_sequential_mnist()
    m = nl.Sequential([nl.layers.LSTM(128, input_shape=(28, 28)), nl.layers.Dense(10, "softmax")], seed=0)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.Adam(lr=2e-3, clipnorm=1.0),
              metrics=["accuracy"])
    with seq.single_blas_thread():
        m.fit(X, y, epochs=5, batch_size=128, verbose=1)
        acc = m.evaluate(Xt, yt)["accuracy"]
    print(f"sequential MNIST test accuracy: {acc:.4f}")
    assert acc >= 0.97


# -- Tiny Shakespeare --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shakespeare():
    text = seq.load_tinyshakespeare()
    return text, seq.CharVocab(text)


def test_tinyshakespeare_is_shipped_and_checked(shakespeare, tmp_path):
    text, vocab = shakespeare
    assert len(text) == 1_115_394 and vocab.size == 65
    assert text.startswith("First Citizen:")
    own = tmp_path / "mine.txt"
    own.write_text("to be or not")
    assert seq.load_tinyshakespeare(str(own)) == "to be or not"
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(nl.DataError, match="bad.txt"):
        seq.load_tinyshakespeare(str(bad))


def test_char_vocab_and_windows(shakespeare):
    text, vocab = shakespeare
    tokens = vocab.encode(text[:5000])
    assert tokens.dtype == np.int32 and vocab.decode(tokens) == text[:5000]
    with pytest.raises(ValueError, match="'é'"):
        vocab.encode("café")
    X, Y = seq.char_windows(tokens, 8, 16, np.random.default_rng(0))
    assert X.shape == Y.shape == (8, 16)
    np.testing.assert_array_equal(X[:, 1:], Y[:, :-1])  # Y is X shifted by one character


def test_char_model_learns_and_samples(shakespeare):
    text, vocab = shakespeare
    tokens = vocab.encode(text[:20000])
    m = seq.char_model(vocab.size, units=32, dim=8, seed=0, lr=1e-2)
    log = seq.train_char_model(m, tokens, steps=60, batch_size=16, seq_len=24, val_tokens=tokens[-3000:],
                               log_every=20, print_fn=None)
    assert log["step"] == [20, 40, 60]
    assert log["loss"][-1] < log["loss"][0] < np.log(vocab.size) + 0.5
    assert log["val_loss"][-1] < np.log(vocab.size)  # better than uniform guessing
    s1 = seq.sample_chars(m, vocab, 50, prime="ROMEO:", temperature=0.8, seed=1)
    s2 = seq.sample_chars(m, vocab, 50, prime="ROMEO:", temperature=0.8, seed=1)
    assert s1 == s2 and len(s1) == 50 and set(s1) <= set(vocab.chars)
    with pytest.raises(ValueError, match="temperature"):
        seq.sample_chars(m, vocab, 5, temperature=0)


def test_sampling_state_equals_whole_sequence(shakespeare):
    """Feeding characters one at a time with the carried LSTM state = the model on the whole window."""
    text, vocab = shakespeare
    m = seq.char_model(vocab.size, units=16, dim=8, seed=1)
    m.build((10,))
    tokens = vocab.encode(text[:10])
    whole = m.predict(tokens[None].astype(np.float32))[0]  # (10, vocab): one row per step
    layers = m.layers
    state = None
    for t, tok in enumerate(tokens):
        x = layers[0].predict(np.array([[tok]]))
        x, state = layers[1].run(x, state)
        z = layers[2].predict(x)[0]
        np.testing.assert_allclose(z[0], whole[t], rtol=1e-4, atol=1e-6)


def test_generate_command_trains_saves_and_samples(tmp_path):
    from click.testing import CliRunner

    from neuronlab.cli_rnn import generate

    text = tmp_path / "t.txt"
    text.write_text("to be, or not to be, that is the question:\n" * 40)
    path = tmp_path / "char.safetensors"
    runner = CliRunner()
    res = runner.invoke(generate, ["--text", str(text), "--steps", "4", "--units", "8", "--embed-dim", "4",
                                   "--seq-len", "16", "--batch-size", "4", "--log-every", "2", "--save", str(path),
                                   "--length", "30", "--prime", "to be"])
    assert res.exit_code == 0, res.output
    assert "val_loss" in res.output and path.exists()
    res2 = runner.invoke(generate, ["--model", str(path), "--length", "40", "--prime", "that", "--seed", "3"])
    assert res2.exit_code == 0, res2.output
    sample = res2.output.split("-" * 60 + "\n", 1)[1]
    assert sample.startswith("that") and len(sample.rstrip("\n")) >= 40
    assert set(sample) <= set(text.read_text()) | {"\n"}
    bad = runner.invoke(generate, ["--model", str(path), "--prime", "xyz!"])
    assert bad.exit_code != 0 and "vocabulary" in bad.output
    missing = runner.invoke(generate, ["--model", str(tmp_path / "nope.safetensors")])
    assert missing.exit_code != 0 and "does not exist" in missing.output
