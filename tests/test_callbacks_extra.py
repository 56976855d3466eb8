"""Keras hook names, ModelCheckpoint, CSVLogger, TensorBoard (read back by TensorBoard's own reader), progress."""

import csv
import io
import sys

import numpy as np
import pytest

import neuronlab as nl


@pytest.fixture
def model_and_data(rng):
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    m = nl.Sequential([nl.layers.Dense(4, "tanh", input_dim=3), nl.layers.Dense(2, "softmax")], seed=0)
    m.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.2), metrics=["accuracy"])
    return m, X, y


def test_every_hook_is_called_in_order(model_and_data):
    m, X, y = model_and_data
    seen = []

    class Hooks(nl.callbacks.Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("batch_begin", batch))

        def on_train_batch_end(self, batch, logs=None):  # Keras' name for on_batch_end
            seen.append(("train_batch_end", batch, sorted(logs)))

        def on_test_begin(self, logs=None):
            seen.append(("test_begin",))

        def on_test_batch_end(self, batch, logs=None):
            seen.append(("test_batch_end", batch))

        def on_test_end(self, logs=None):
            seen.append(("test_end", sorted(logs)))

    m.fit(X, y, epochs=1, batch_size=25, validation_data=(X[:10], y[:10]), callbacks=[Hooks()], verbose=0)
    assert seen == [("batch_begin", 0), ("train_batch_end", 0, ["accuracy", "loss", "size"]),
                    ("batch_begin", 1), ("train_batch_end", 1, ["accuracy", "loss", "size"]),
                    ("batch_begin", 2), ("train_batch_end", 2, ["accuracy", "loss", "size"]),
                    ("test_begin",), ("test_batch_end", 0), ("test_end", ["accuracy", "loss"])]


def test_evaluate_and_predict_call_their_hooks(model_and_data):
    m, X, y = model_and_data
    seen = []
    cb = nl.callbacks.LambdaCallback(on_test_begin=lambda logs: seen.append("test_begin"),
                                     on_test_end=lambda logs: seen.append(("test_end", round(logs["loss"], 9))),
                                     on_predict_begin=lambda logs: seen.append("predict_begin"),
                                     on_predict_batch_end=lambda b, logs: seen.append(("predict_batch", b)),
                                     on_predict_end=lambda logs: seen.append("predict_end"))
    loss = m.evaluate(X, y, callbacks=[cb])["loss"]
    m.predict(X, batch_size=40, callbacks=[cb])
    assert seen == ["test_begin", ("test_end", round(loss, 9)), "predict_begin", ("predict_batch", 0),
                    ("predict_batch", 1), "predict_end"]
    with pytest.raises(ValueError, match="LambdaCallback: unknown hook 'on_epoch_ends'"):
        nl.callbacks.LambdaCallback(on_epoch_ends=print)


def test_model_checkpoint_keeps_the_best_epoch_atomically(model_and_data, tmp_path):
    m, X, y = model_and_data
    path = tmp_path / "best.safetensors"
    ckpt = nl.callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    h = m.fit(X, y, epochs=6, batch_size=10, validation_data=(X[:20], y[:20]), callbacks=[ckpt], verbose=0)
    best = int(np.argmin(h.history["val_loss"]))
    assert ckpt.best_epoch == best and ckpt.best == min(h.history["val_loss"])
    loaded, extra = nl.load_checkpoint(path)
    assert extra["epoch"] == best + 1 and extra["logs"]["val_loss"] == pytest.approx(ckpt.best)
    if best == 5:  # the last epoch was the best: the file holds the final weights
        np.testing.assert_array_equal(loaded.get_weights()[0], m.get_weights()[0])
    assert [p.name for p in tmp_path.iterdir()] == ["best.safetensors"]  # no temporary file left


def test_model_checkpoint_every_epoch_with_a_formatted_path(model_and_data, tmp_path):
    m, X, y = model_and_data
    ckpt = nl.callbacks.ModelCheckpoint(tmp_path / "e{epoch:02d}-{loss:.3f}.safetensors", monitor="loss")
    h = m.fit(X, y, epochs=3, batch_size=20, callbacks=[ckpt], verbose=0)
    assert [p.split("/")[-1] for p in ckpt.saved] == [f"e{e + 1:02d}-{v:.3f}.safetensors"
                                                      for e, v in enumerate(h.history["loss"])]
    np.testing.assert_array_equal(nl.load_model(ckpt.saved[-1]).get_weights()[1], m.get_weights()[1])


def test_model_checkpoint_refusals(model_and_data, tmp_path):
    m, X, y = model_and_data
    with pytest.raises(ValueError, match="ModelCheckpoint: mode must be one of 'auto', 'min', 'max', got 'up'"):
        nl.callbacks.ModelCheckpoint(tmp_path / "m.safetensors", mode="up")
    with pytest.raises(ValueError, match="ModelCheckpoint: monitor 'val_loss' is not in the logs"):
        m.fit(X, y, epochs=1, verbose=0,
              callbacks=[nl.callbacks.ModelCheckpoint(tmp_path / "m.safetensors", save_best_only=True)])
    assert nl.callbacks.ModelCheckpoint("m.safetensors", monitor="val_accuracy").mode == "max"


def test_csv_logger_writes_one_row_per_epoch_and_appends(model_and_data, tmp_path):
    m, X, y = model_and_data
    path = tmp_path / "log.csv"
    h = m.fit(X, y, epochs=2, callbacks=[nl.callbacks.CSVLogger(path)], validation_split=0.2, verbose=0)
    m.fit(X, y, epochs=1, callbacks=[nl.callbacks.CSVLogger(path, append=True)], validation_split=0.2, verbose=0)
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert len(rows) == 4 and [r[0] for r in rows[1:]] == ["0", "1", "0"]
    assert float(rows[2][1]) == h.history["loss"][1]


def test_tensorboard_event_files_load_in_tensorboards_reader(model_and_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    m, X, y = model_and_data
    tb = nl.callbacks.TensorBoard(tmp_path, histogram_freq=1)
    h = m.fit(X, y, epochs=3, validation_data=(X[:10], y[:10]), callbacks=[tb], verbose=0)
    train = EventAccumulator(str(tmp_path / "train"), size_guidance={"scalars": 0, "histograms": 0}).Reload()
    val = EventAccumulator(str(tmp_path / "validation")).Reload()
    assert {"epoch_loss", "epoch_accuracy", "epoch_lr"} <= set(train.Tags()["scalars"])
    loss = [(e.step, e.value) for e in train.Scalars("epoch_loss")]
    assert [s for s, _ in loss] == [0, 1, 2]
    np.testing.assert_allclose([v for _, v in loss], h.history["loss"], rtol=1e-6)
    np.testing.assert_allclose([e.value for e in val.Scalars("epoch_accuracy")], h.history["val_accuracy"],
                               rtol=1e-6)
    assert {"dense_1/W", "dense_1/W/gradient", "dense_2/B"} <= set(train.Tags()["histograms"])


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_1_draws_a_progress_bar_on_a_terminal_and_lines_elsewhere(model_and_data, monkeypatch, capsys):
    m, X, y = model_and_data
    m.fit(X, y, epochs=2, batch_size=10, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Epoch 1/2") and "accuracy" in lines[0]
    term = _Terminal()
    monkeypatch.setattr(sys, "stdout", term)
    m.fit(X, y, epochs=1, batch_size=10, verbose=1)
    out = term.getvalue()
    assert "0/6 [00:00<?" in out and "batch/s" in out  # tqdm's bar over the 6 batches, with its ETA field
    assert out.rstrip().splitlines()[-1].startswith("Epoch 1/1")


def test_verbose_is_checked(model_and_data):
    m, X, y = model_and_data
    with pytest.raises(ValueError, match="fit: verbose must be an integer >= 0 and <= 2 or a bool, got 3"):
        m.fit(X, y, verbose=3)
