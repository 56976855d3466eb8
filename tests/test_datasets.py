"""Datasets: synthetic sets, preprocessing, CSV / npz / IDX-folder readers, download, load_data."""

import functools
import gzip
import http.server
import os
import shutil
import threading

import numpy as np
import pytest

import neuronlab as nl
from neuronlab.core import DataError
from neuronlab.datasets.download import cache_dir, dataset_folder, download

MNIST_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "mnist")
if not os.path.isdir(MNIST_DIR):
    MNIST_DIR = nl.datasets.mnist.mnist_dir()


@pytest.fixture(scope="module")
def mnist_raw():
    (X, y), (Xt, yt) = nl.datasets.load_mnist(MNIST_DIR, flatten=False, scale=False, dtype=np.uint8)
    return X, y, Xt, yt


# -- synthetic ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["xor", "moons", "circles", "spirals", "blobs"])
def test_synthetic_shapes_seed_and_no_global_rng(name):
    state = np.random.get_state()[1].copy()
    X, y = nl.datasets.make_dataset(name, n_samples=301, seed=3)
    assert np.array_equal(np.random.get_state()[1], state), "the global NumPy RNG was used"
    assert X.shape == (301, 2) and X.dtype == np.float32 and y.dtype == np.int64
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1 if name != "xor" else counts.max() - counts.min() <= 2
    X2, y2 = nl.datasets.make_dataset(name, n_samples=301, seed=3)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    X3, _ = nl.datasets.make_dataset(name, n_samples=301, seed=4)
    assert not np.array_equal(X, X3)


def test_synthetic_accepts_a_generator_and_advances_it():
    g = np.random.default_rng(0)
    a, _ = nl.datasets.make_moons(50, seed=g)
    b, _ = nl.datasets.make_moons(50, seed=g)
    assert not np.array_equal(a, b)
    c, _ = nl.datasets.make_moons(50, seed=np.random.default_rng(0))
    assert np.array_equal(a, c)


def test_xor_truth_table_and_noise_free_geometry():
    X, y = nl.datasets.make_xor(4, noise=0.0, shuffle=False)
    assert X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and y.tolist() == [0, 1, 1, 0]
    X, y = nl.datasets.make_circles(100, noise=0.0, factor=0.3, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert np.allclose(r[y == 0], 1.0, atol=1e-6) and np.allclose(r[y == 1], 0.3, atol=1e-6)
    X, y = nl.datasets.make_moons(100, noise=0.0, seed=0)
    assert np.allclose(np.hypot(X[y == 0, 0], X[y == 0, 1]), 1.0, atol=1e-6)
    assert np.allclose(np.hypot(X[y == 1, 0] - 1, X[y == 1, 1] - 0.5), 1.0, atol=1e-6)
    X, y = nl.datasets.make_spirals(300, n_classes=3, seed=0)
    assert set(y.tolist()) == {0, 1, 2} and np.all(np.hypot(X[:, 0], X[:, 1]) <= 1 + 1e-6)
    X, y = nl.datasets.make_blobs(300, centers=[[0, 0], [10, 10]], noise=0.5, seed=0)
    assert np.allclose(X[y == 1].mean(0), [10, 10], atol=0.2)


@pytest.mark.parametrize("call", [lambda: nl.datasets.make_moons(1), lambda: nl.datasets.make_moons(10, noise=-1),
                                  lambda: nl.datasets.make_circles(10, factor=1.5),
                                  lambda: nl.datasets.make_spirals(10, n_classes=1),
                                  lambda: nl.datasets.make_dataset("nope")])
def test_synthetic_bad_arguments(call):
    with pytest.raises(ValueError):
        call()


# -- preprocessing ---------------------------------------------------------------------------------
def test_scale_standardize_one_hot():
    X = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    assert np.allclose(nl.datasets.scale(X), X / 255.0) and nl.datasets.scale(X).dtype == np.float32
    Z = nl.datasets.scale(np.array([[2.0], [4.0], [6.0]]))
    assert Z.ravel().tolist() == [0.0, 0.5, 1.0]
    rng = np.random.default_rng(0)
    A = rng.normal(5, 3, size=(1000, 4))
    S, mu, sd = nl.datasets.standardize(A)
    assert np.allclose(S.mean(0), 0, atol=1e-5) and np.allclose(S.std(0), 1, atol=1e-4)
    B, _, _ = nl.datasets.standardise(A[:10], mu, sd)  # the test set with the training statistics
    assert np.allclose(B, S[:10], atol=1e-6)
    Y = nl.datasets.one_hot(np.array([2, 0, 1]), 4)
    assert Y.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]]
    with pytest.raises(ValueError, match="lie in"):
        nl.datasets.one_hot(np.array([0, 5]), 3)


def test_encode_labels():
    codes, names = nl.datasets.encode_labels(np.array(["dog", "cat", "dog"]))
    assert codes.tolist() == [1, 0, 1] and names == ["cat", "dog"]
    codes, names = nl.datasets.encode_labels(np.array([3, 1, 2]))
    assert codes.tolist() == [2, 0, 1] and names == ["1", "2", "3"]
    codes, names = nl.datasets.encode_labels(np.array([2, 0, 1, 0]))
    assert codes.tolist() == [2, 0, 1, 0] and names == ["0", "1", "2"]
    codes, _ = nl.datasets.encode_labels(np.array(["b", "a"]), classes=["a", "b"])
    assert codes.tolist() == [1, 0]
    with pytest.raises(ValueError, match="not one of"):
        nl.datasets.encode_labels(np.array(["z"]), classes=["a", "b"])


def test_stratified_split_keeps_class_shares_and_is_seeded():
    y = np.repeat([0, 1, 2], [600, 300, 100])
    X = np.arange(len(y))[:, None]
    (Xa, ya), (Xb, yb) = nl.datasets.train_val_split(X, y, 0.2, seed=0)
    assert np.bincount(yb).tolist() == [120, 60, 20] and np.bincount(ya).tolist() == [480, 240, 80]
    assert sorted(np.concatenate([Xa, Xb]).ravel().tolist()) == list(range(1000))
    (Xc, _), _ = nl.datasets.train_val_split(X, y, 0.2, seed=0)
    (Xd, _), _ = nl.datasets.train_val_split(X, y, 0.2, seed=1)
    assert np.array_equal(Xa, Xc) and not np.array_equal(Xa, Xd)
    with pytest.raises(ValueError, match="val_fraction"):
        nl.datasets.train_val_split(X, y, 1.5)


def test_input_scaler_round_trip():
    s = nl.datasets.InputScaler.auto(np.array([[0, 255]], dtype=np.uint8))
    assert s.kind == "divide" and s.transform(np.array([[255]], dtype=np.uint8))[0, 0] == 1.0
    A = np.random.default_rng(0).normal(size=(50, 3))
    s = nl.datasets.InputScaler.auto(A)
    s2 = nl.datasets.InputScaler.from_config(s.get_config())
    assert s.kind == "standardize" and np.array_equal(s.transform(A), s2.transform(A))


# -- CSV ---------------------------------------------------------------------------------------------
def _write(path, text):
    path.write_text(text)
    return str(path)


def test_csv_header_label_by_name_and_string_labels(tmp_path):
    p = _write(tmp_path / "a.csv", "x1,x2,species\n1.5,2,setosa\n3,4e-1,virginica\n")
    X, y = nl.datasets.read_csv(p)
    assert X.dtype == np.float32 and X.tolist() == [[1.5, 2.0], [3.0, np.float32(0.4)]]
    assert y.tolist() == ["setosa", "virginica"]
    p = _write(tmp_path / "b.csv", "a,label,b\n1,7,2\n3,8,4\n")
    X, y = nl.datasets.read_csv(p)
    assert X.tolist() == [[1, 2], [3, 4]] and y.tolist() == [7, 8] and y.dtype == np.int64


def test_csv_without_header_first_column_is_the_label(tmp_path, mnist_raw):
    X0, y0 = mnist_raw[0][:50].reshape(50, -1), mnist_raw[1][:50]
    p = tmp_path / "mnist.csv"
    np.savetxt(p, np.c_[y0, X0], fmt="%d", delimiter=",")
    X, y = nl.datasets.read_csv(p)
    assert np.array_equal(X, X0) and np.array_equal(y, y0)
    X, y = nl.datasets.read_csv(p, label_column=None)
    assert X.shape == (50, 785) and y is None


def test_csv_options_delimiters_and_label_index(tmp_path):
    p = _write(tmp_path / "s.csv", "1;2;0\n3;4;1\n")
    X, y = nl.datasets.read_csv(p, label_column=-1)
    assert X.tolist() == [[1, 2], [3, 4]] and y.tolist() == [0, 1]
    p = _write(tmp_path / "w.txt", "1 2 0\n3 4 1\n")
    X, y = nl.datasets.read_csv(p, label_column=2)
    assert X.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("text, match", [
    ("a,b,label\n1,2,0\n3,x,1\n", r"row 3, column 2 \('b'\): 'x' is not a number"),
    ("1,2,0\n3,4,1\n5,,1\n", r"row 3, column 2: is empty"),
    ("a,b,label\n1,2,0\n3,4\n", r"row 3 has 2 cells, expected 3"),
    ("a,b,label\n1,2,0\n3,4,1,9\n", r"row 3 has 4 cells, expected 3"),
    ("a,b,label\n1,nan,0\n", r"row 2, column 2 \('b'\): value is NaN"),
    ("", r"empty file"),
])
def test_csv_errors_name_the_place(tmp_path, text, match):
    p = _write(tmp_path / "bad.csv", text)
    with pytest.raises(DataError, match=match):
        nl.datasets.read_csv(p, label_column=-1 if "label" not in text else "auto")


def test_csv_missing_file_and_unknown_column(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        nl.datasets.read_csv(tmp_path / "none.csv")
    p = _write(tmp_path / "a.csv", "a,b\n1,2\n")
    with pytest.raises(DataError, match="no column named 'zz'"):
        nl.datasets.read_csv(p, label_column="zz")


# -- arrays --------------------------------------------------------------------------------------------
def test_npz_layouts_and_errors(tmp_path):
    X, y = np.ones((5, 3)), np.arange(5)
    np.savez(tmp_path / "k.npz", x_train=X, y_train=y, x_test=X[:2], y_test=y[:2])
    (a, b), (c, d) = nl.datasets.load_npz(tmp_path / "k.npz")
    assert a.shape == (5, 3) and d.tolist() == [0, 1]
    np.savez(tmp_path / "s.npz", X=X, y=y)
    (a, b), (c, d) = nl.datasets.load_npz(tmp_path / "s.npz")
    assert c is None and b.tolist() == list(range(5))
    np.savez(tmp_path / "m.npz", x=X, y=y[:4])
    with pytest.raises(DataError, match="5 samples but labels have 4"):
        nl.datasets.load_npz(tmp_path / "m.npz")
    np.savez(tmp_path / "o.npz", x=np.array([{"a": 1}], dtype=object), y=y[:1])
    with pytest.raises(DataError, match="holds Python objects"):
        nl.datasets.load_npz(tmp_path / "o.npz")  # object arrays need pickle: refused
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError):
        nl.datasets.load_npz(tmp_path / "junk.npz")
    np.save(tmp_path / "a.npy", X)
    assert nl.datasets.load_npy(tmp_path / "a.npy").shape == (5, 3)


# -- IDX folders ---------------------------------------------------------------------------------------
def _idx_folder(path, X, y, Xt=None, yt=None, gz=True):
    os.makedirs(path, exist_ok=True)
    ext = ".gz" if gz else ""
    nl.datasets.write_idx(os.path.join(path, "train-images-idx3-ubyte" + ext), X)
    nl.datasets.write_idx(os.path.join(path, "train-labels-idx1-ubyte" + ext), y)
    if Xt is not None:
        nl.datasets.write_idx(os.path.join(path, "t10k-images-idx3-ubyte" + ext), Xt)
        nl.datasets.write_idx(os.path.join(path, "t10k-labels-idx1-ubyte" + ext), yt)
    return str(path)


def test_idx_folder_round_trip_and_load_data(tmp_path, mnist_raw):
    X, y, Xt, yt = mnist_raw
    folder = _idx_folder(tmp_path / "f", X[:300], y[:300], Xt[:100], yt[:100], gz=False)
    (a, b), (c, d) = nl.datasets.load_idx_folder(folder)
    assert np.array_equal(a, X[:300]) and np.array_equal(d, yt[:100])
    data = nl.datasets.load_data(folder)
    assert data.X_train.shape == (300, 28, 28) and data.test_source == "test set" and len(data.classes) == 10
    only_train = _idx_folder(tmp_path / "g", X[:300], y[:300])
    data = nl.datasets.load_data(only_train, test_fraction=0.2, seed=0)
    assert len(data.X_test) == pytest.approx(60, abs=10) and "stratified" in data.test_source


def test_idx_folder_errors(tmp_path, mnist_raw):
    X, y, _, _ = mnist_raw
    folder = _idx_folder(tmp_path / "c", X[:30], y[:29])
    with pytest.raises(DataError, match="30 images but .* 29 labels"):
        nl.datasets.load_idx_folder(folder)
    os.makedirs(tmp_path / "empty")
    with pytest.raises(DataError, match="no train-images"):
        nl.datasets.load_idx_folder(tmp_path / "empty")
    folder = _idx_folder(tmp_path / "t", X[:30], y[:30])
    raw = gzip.decompress((tmp_path / "t" / "train-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "t" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match="truncated"):
        nl.datasets.load_idx_folder(folder)
    (tmp_path / "t" / "train-images-idx3-ubyte.gz").write_bytes(raw)  # not gzip despite the name
    with pytest.raises(DataError, match="not a gzip"):
        nl.datasets.load_idx_folder(folder)
    (tmp_path / "t" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x01\x02" + raw[2:]))
    with pytest.raises(DataError, match="magic"):
        nl.datasets.load_idx_folder(folder)


def test_load_data_shipped_mnist_and_unknown_source(tmp_path):
    d = nl.datasets.load_data("mnist")
    assert d.X_train.shape == (60000, 28, 28) and d.X_test.shape == (10000, 28, 28)
    assert d.X_train.dtype == np.uint8 and d.classes == [str(i) for i in range(10)]
    with pytest.raises(DataError, match="no such file or folder"):
        nl.datasets.load_data(str(tmp_path / "missing"))
    (tmp_path / "x.bin").write_bytes(b"1")
    with pytest.raises(DataError, match="unknown data format"):
        nl.datasets.load_data(str(tmp_path / "x.bin"))


# -- download ------------------------------------------------------------------------------------------
class _Server:
    """A local http.server on 127.0.0.1 serving a folder; counts the requests."""

    def __init__(self, folder):
        self.requests = 0
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests += 1
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_verifies_sha256_and_caches(tmp_path):
    served = tmp_path / "served"
    shutil.copytree(MNIST_DIR, served)
    cache = tmp_path / "cache"
    with _Server(served) as srv:
        folder = download("mnist", cache=str(cache), base_url=srv.url)
        assert srv.requests == 4
        for name in nl.datasets.mnist.MNIST_FILES:
            assert (cache / "mnist" / name).read_bytes() == (served / name).read_bytes()
        download("mnist", cache=str(cache), base_url=srv.url)
        assert srv.requests == 4, "verified files in the cache must not be downloaded again"
        (X, y), (Xt, yt) = nl.datasets.load_idx_folder(folder)
        assert X.shape == (60000, 28, 28) and len(yt) == 10000
        # a corrupted file on the server: refused, and nothing is left behind
        data = bytearray((served / "t10k-labels-idx1-ubyte.gz").read_bytes())
        data[100] ^= 0xFF
        (served / "t10k-labels-idx1-ubyte.gz").write_bytes(bytes(data))
        with pytest.raises(DataError, match="SHA-256"):
            download("mnist", cache=str(tmp_path / "cache2"), base_url=srv.url)
        assert not any(p.name.startswith("t10k-labels") for p in (tmp_path / "cache2" / "mnist").iterdir())
        assert not [p for p in (tmp_path / "cache2" / "mnist").iterdir() if p.suffix == ".part"]
        with pytest.raises(DataError, match="SHA-256"):  # MNIST is not Fashion-MNIST
            download("fashion-mnist", cache=str(tmp_path / "cache3"), base_url=srv.url)
        with pytest.raises(DataError, match="download failed.*404"):
            download("mnist", cache=str(tmp_path / "cache4"), base_url=srv.url + "missing/")


def test_download_rejects_other_schemes_and_names(tmp_path):
    with pytest.raises(ValueError, match="http"):
        download("mnist", cache=str(tmp_path), base_url="file:///etc/")
    with pytest.raises(ValueError, match="unknown downloadable"):
        download("cifar", cache=str(tmp_path))


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURONLAB_DATA", str(tmp_path))
    assert cache_dir() == str(tmp_path)
    assert dataset_folder("fashion_mnist") == os.path.join(str(tmp_path), "fashion-mnist")
