"""The neuronlab command: every subcommand in-process (CliRunner) and as ``python -m neuronlab``,
usage errors (exit 2) and bad input (exit 1), each one line on stderr and never a traceback."""

import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import neuronlab as nl
from neuronlab.cli import main

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

MNIST_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "mnist")
if not os.path.isdir(MNIST_DIR):
    MNIST_DIR = nl.datasets.mnist.mnist_dir()
MODES = ["inproc", "subprocess"]


def cli(args, mode="inproc", cwd=None):
    """Run the command; return (exit code, stdout, stderr)."""
    args = [str(a) for a in args]
    if mode == "inproc":
        here = os.getcwd()
        try:
            os.chdir(cwd or here)
            r = CliRunner().invoke(main, args, prog_name="neuronlab")
        finally:
            os.chdir(here)
        return r.exit_code, r.stdout, r.stderr
    p = subprocess.run([sys.executable, "-m", "neuronlab", *args], capture_output=True, text=True, cwd=cwd,
                       timeout=300)
    return p.returncode, p.stdout, p.stderr


def assert_one_line_error(code, out, err, expected_code, match=None):
    assert code == expected_code, (code, out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    if match:
        assert match in lines[0], lines[0]


@pytest.fixture(scope="module")
def mnist_raw():
    (X, y), (Xt, yt) = nl.datasets.load_mnist(MNIST_DIR, flatten=False, scale=False, dtype=np.uint8)
    return X, y, Xt, yt


def _idx_folder(path, X, y, Xt, yt):
    os.makedirs(path, exist_ok=True)
    for name, a in (("train-images-idx3-ubyte.gz", X), ("train-labels-idx1-ubyte.gz", y),
                    ("t10k-images-idx3-ubyte.gz", Xt), ("t10k-labels-idx1-ubyte.gz", yt)):
        nl.datasets.write_idx(os.path.join(path, name), a)
    return str(path)


@pytest.fixture(scope="module")
def small(tmp_path_factory, mnist_raw):
    """An MNIST-named IDX folder with 1,000 training and 300 test images."""
    X, y, Xt, yt = mnist_raw
    return _idx_folder(tmp_path_factory.mktemp("data") / "small", X[:1000], y[:1000], Xt[:300], yt[:300])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, small):
    out = tmp_path_factory.mktemp("runs") / "r"
    code, stdout, stderr = cli(["train", "--data", small, "--layers", "32", "--epochs", "2", "--out", out])
    assert code == 0, stderr
    return out, stdout


# -- train -----------------------------------------------------------------------------------------------
def test_train_writes_the_run_folder(run_dir):
    out, stdout = run_dir
    for f in ("model.safetensors", "checkpoint.safetensors", "history.csv", "history.json", "curves.png",
              "config.toml", "run.json"):
        assert (out / f).is_file(), f
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cfg = tomllib.loads((out / "config.toml").read_text())
    assert cfg["layers"] == [32] and cfg["epochs"] == 2 and cfg["optimizer"] == "adam" and cfg["lr"] == 3e-3
    rows = (out / "history.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy") and len(rows) == 3
    hist = json.loads((out / "history.json").read_text())
    summary = json.loads((out / "run.json").read_text())["summary"]
    assert summary["test_accuracy"] == pytest.approx(hist["val_accuracy"][-1])
    assert 0.2 < summary["test_accuracy"] <= 1  # 2 short epochs on 1,000 images: well above chance
    assert "Epoch 1/2" in stdout and "Epoch 2/2" in stdout and "val_accuracy" in stdout
    assert f"Test accuracy: {100 * summary['test_accuracy']:.2f}%" in stdout and "Run folder:" in stdout
    m = nl.load_model(out / "model.safetensors")
    assert [la.output_dim for la in m.layers if la.params()] == [32, 10]


def test_train_as_a_subprocess_with_config_file_and_override(small, tmp_path):
    (tmp_path / "run.toml").write_text(f'data = "{small}"\nlayers = [8]\nepochs = 3\nseed = 5\n'
                                       'optimizer = "sgd"\nlr = 0.1\nmomentum = 0.9\n')
    code, out, err = cli(["train", "--config", "run.toml", "--epochs", "1", "--out", "r", "--no-progress"],
                         "subprocess", cwd=tmp_path)
    assert code == 0, err
    assert "Traceback" not in err and "Epoch 1/1" in out and "Test accuracy:" in out
    cfg = tomllib.loads((tmp_path / "r" / "config.toml").read_text())
    assert cfg["epochs"] == 1 and cfg["layers"] == [8] and cfg["seed"] == 5 and cfg["momentum"] == 0.9
    # the written config.toml reruns the same training
    code, _, err = cli(["train", "--config", "r/config.toml", "--out", "r2", "--no-progress"], cwd=tmp_path)
    assert code == 0, err
    a, b = nl.load_model(tmp_path / "r" / "model.safetensors"), nl.load_model(tmp_path / "r2" / "model.safetensors")
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def test_train_on_csv_and_npz(tmp_path, mnist_raw):
    X, y, _, _ = mnist_raw
    rows = np.c_[y[:400], X[:400].reshape(400, -1)]
    np.savetxt(tmp_path / "d.csv", rows, fmt="%d", delimiter=",", header="label," + ",".join(
        f"p{i}" for i in range(784)), comments="")
    code, out, err = cli(["train", "--data", tmp_path / "d.csv", "--layers", "16", "--epochs", "1",
                          "--out", tmp_path / "c"])
    assert code == 0, err
    assert "stratified 10% held out" in out
    np.savez(tmp_path / "d.npz", x_train=X[:300], y_train=y[:300], x_test=X[300:400], y_test=y[300:400])
    code, out, err = cli(["train", "--data", tmp_path / "d.npz", "--layers", "", "--epochs", "1",
                          "--out", tmp_path / "n"])
    assert code == 0, err
    assert "784-10" in out  # --layers '' is softmax regression


# -- evaluate, predict, info -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_evaluate(run_dir, tmp_path, mode, small):
    out, _ = run_dir
    args = ["evaluate", out / "model.safetensors", "--out", tmp_path]
    if mode == "subprocess":
        args += ["--data", small]
    code, stdout, err = cli(args, mode)
    assert code == 0, err
    summary = json.loads((out / "run.json").read_text())["summary"]
    assert f"accuracy {100 * summary['test_accuracy']:.2f}%" in stdout
    assert "precision" in stdout and "recall" in stdout and "confusion matrix" in stdout
    assert "300 samples" in stdout
    assert (tmp_path / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("mode", MODES)
def test_predict_images_npy_idx_csv(run_dir, tmp_path, mode, mnist_raw):
    from PIL import Image

    out, _ = run_dir
    _, _, Xt, yt = mnist_raw
    Image.fromarray(Xt[0]).save(tmp_path / "a.png")
    Image.fromarray(255 - Xt[1]).resize((56, 56)).save(tmp_path / "b.jpg")  # dark on light, larger
    np.save(tmp_path / "c.npy", Xt[2:5])
    nl.datasets.write_idx(str(tmp_path / "d-idx3-ubyte"), Xt[5:7])
    np.savetxt(tmp_path / "e.csv", Xt[7:9].reshape(2, -1), fmt="%d", delimiter=",")
    code, stdout, err = cli(["predict", out / "model.safetensors", tmp_path / "a.png", tmp_path / "b.jpg",
                             tmp_path / "c.npy", tmp_path / "d-idx3-ubyte", tmp_path / "e.csv", "--top", "2"], mode)
    assert code == 0, err
    lines = stdout.strip().splitlines()
    assert len(lines) == 9
    assert "c.npy[0]" in lines[2] and "d-idx3-ubyte[1]" in lines[6] and "e.csv[1]" in lines[8]
    m = nl.load_model(out / "model.safetensors")
    P = m.predict(Xt[:9].reshape(9, -1).astype(np.float32) / 255)
    for i in (0, 2, 3, 4, 5, 6, 7, 8):  # same class and probability as the model's own predict
        j = int(P[i].argmax())
        assert lines[i].split()[1:4] == ["class", str(j), f"p={P[i, j]:.4f}"], lines[i]
    assert lines[1].count("class") == 2


@pytest.mark.parametrize("mode", MODES)
def test_info(run_dir, mode):
    out, _ = run_dir
    for name in ("model.safetensors", "checkpoint.safetensors"):
        code, stdout, err = cli(["info", out / name], mode)
        assert code == 0, err
        assert "dense_1 (Dense)" in stdout and "Total params: 25,450" in stdout and "classes (10)" in stdout
    assert "optimizer state included: adam" in stdout and "checkpoint after epoch 2" in stdout


@pytest.mark.parametrize("mode", MODES)
def test_help_and_version(mode):
    for args in ([], ["train"], ["evaluate"], ["predict"], ["info"]):
        if mode == "subprocess" and args:
            continue
        code, out, err = cli([*args, "--help"], mode)
        assert code == 0 and "Usage: neuronlab" in out, err
    code, out, _ = cli(["--version"], mode)
    assert code == 0 and nl.__version__ in out


def test_commands_registered_and_entry_point():
    assert {"train", "evaluate", "predict", "info"} <= set(main.commands)
    with open(os.path.join(os.path.dirname(__file__), "..", "pyproject.toml"), "rb") as f:
        assert tomllib.load(f)["project"]["scripts"]["neuronlab"] == "neuronlab.cli:main"


# -- usage errors: exit code 2, one line --------------------------------------------------------------------
@pytest.mark.parametrize("args, match", [
    (["train", "--epochs", "0"], "epochs"),
    (["train", "--layers", "a,b"], "--layers"),
    (["train", "--activation", "nope"], "nope"),
    (["train", "--bogus"], "--bogus"),
    (["train", "--momentum", "0.9", "--optimizer", "adam", "--data", "__DATA__"], "momentum"),
    (["train", "--config", "missing.toml"], "missing.toml"),
    (["evaluate"], "MODEL"),
    (["frobnicate"], "frobnicate"),
])
@pytest.mark.parametrize("mode", MODES)
def test_usage_errors(args, match, mode, tmp_path, small):
    args = [small if a == "__DATA__" else a for a in args]
    assert_one_line_error(*cli(args, mode, cwd=tmp_path), 2, match)


def test_usage_errors_about_run_folders(run_dir, tmp_path):
    out, _ = run_dir
    assert_one_line_error(*cli(["train", "--out", out]), 2, "already holds a run")
    os.makedirs(tmp_path / "empty")
    assert_one_line_error(*cli(["train", "--resume", tmp_path / "empty"]), 2, "no checkpoint")
    assert_one_line_error(*cli(["train", "--resume", out, "--lr", "0.5"]), 2, "cannot change lr")
    (tmp_path / "bad.toml").write_text("epochs = 2\nlearning_rate = 3\n")
    assert_one_line_error(*cli(["train", "--config", tmp_path / "bad.toml"]), 2, "unknown key 'learning_rate'")
    (tmp_path / "broken.toml").write_text("epochs = = 2\n")
    assert_one_line_error(*cli(["train", "--config", tmp_path / "broken.toml"]), 2, "not valid TOML")


# -- bad input: exit code 1, one line, no traceback -------------------------------------------------------------
@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, mnist_raw, run_dir):
    X, y, Xt, yt = mnist_raw
    root = tmp_path_factory.mktemp("bad")
    cases = {}
    cases["missing data"] = (["train", "--data", root / "nothing-here"], "no such file or folder")
    f = _idx_folder(root / "trunc", X[:50], y[:50], Xt[:10], yt[:10])
    raw = gzip.decompress(open(os.path.join(f, "train-images-idx3-ubyte.gz"), "rb").read())
    with open(os.path.join(f, "train-images-idx3-ubyte.gz"), "wb") as fh:
        fh.write(gzip.compress(raw[:5000]))
    cases["truncated IDX"] = (["train", "--data", f], "truncated")
    f = _idx_folder(root / "plain", X[:50], y[:50], Xt[:10], yt[:10])
    with open(os.path.join(f, "t10k-labels-idx1-ubyte.gz"), "wb") as fh:
        fh.write(b"\x00\x00\x08\x01\x00\x00\x00\x0a" + bytes(10))
    cases["non-gzip IDX"] = (["train", "--data", f], "not a gzip file")
    f = _idx_folder(root / "magic", X[:50], y[:50], Xt[:10], yt[:10])
    with open(os.path.join(f, "train-labels-idx1-ubyte.gz"), "wb") as fh:
        fh.write(gzip.compress(b"\x12\x34\x08\x01\x00\x00\x00\x32" + bytes(50)))
    cases["wrong magic"] = (["train", "--data", f], "magic number 12340801")
    f = _idx_folder(root / "count", X[:50], y[:49], Xt[:10], yt[:10])
    cases["count mismatch"] = (["train", "--data", f], "50 images but")
    (root / "bad.csv").write_text("label,a,b\n0,1,2\n1,3,oops\n")
    cases["CSV non-numeric"] = (["train", "--data", root / "bad.csv"], "row 3, column 3 ('b'): 'oops' is not a number")
    (root / "notours.safetensors").write_text("just some text, not a model")
    cases["model not ours"] = (["evaluate", root / "notours.safetensors"], "not a neuronlab model file")
    good = (run_dir[0] / "model.safetensors").read_bytes()
    (root / "trunc.safetensors").write_bytes(good[: len(good) // 2])
    cases["model truncated"] = (["predict", root / "trunc.safetensors", root / "bad.csv"], "truncated")
    n = int.from_bytes(good[:8], "little")
    header = json.loads(good[8:8 + n])
    header["params/dense_1/W"]["shape"] = [784, 31]
    head = json.dumps(header).encode()
    (root / "shapes.safetensors").write_bytes(len(head).to_bytes(8, "little") + head + good[8 + n:])
    cases["model shapes"] = (["info", root / "shapes.safetensors"], "declares shape (784, 31)")
    cases["model missing"] = (["info", root / "none.safetensors"], "no such file")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    cases["bad image"] = (["predict", run_dir[0] / "model.safetensors", root / "broken.png"], "not a readable image")
    cases["missing input"] = (["predict", run_dir[0] / "model.safetensors", root / "none.png"], "no such file")
    return cases


BAD = ["missing data", "truncated IDX", "non-gzip IDX", "wrong magic", "count mismatch", "CSV non-numeric",
       "model not ours", "model truncated", "model shapes", "model missing", "bad image", "missing input"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_on_stderr(bad_inputs, case, mode):
    args, match = bad_inputs[case]
    assert_one_line_error(*cli(args, mode), 1, match)


@pytest.mark.slow
def test_default_run_reaches_98_percent(tmp_path):
    """The main job, as a newcomer runs it: `neuronlab train` with no options (about 15 s on 2 cores)."""
    code, out, err = cli(["train", "--out", "run"], "subprocess", cwd=tmp_path)
    assert code == 0, err
    summary = json.loads((tmp_path / "run" / "run.json").read_text())["summary"]
    assert summary["test_accuracy"] >= 0.98, summary
    assert summary["first_epoch_reaching_98pct_val"] is not None
    assert "Test accuracy: 98." in out or "Test accuracy: 99." in out
