"""Optional download of MNIST / Fashion-MNIST into a cache folder, verified by SHA-256.

Nothing here runs unless asked: MNIST itself ships inside the package. Each file is
streamed into a temporary file next to its destination, hashed while it arrives, and
renamed into place only when its SHA-256 is one of the accepted sums; a failed or
corrupted download leaves nothing behind.

The cache folder is ``$NEURONLAB_DATA`` if set, else ``$XDG_CACHE_HOME/neuronlab`` (by
default ``~/.cache/neuronlab``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request

from ..core import DataError
from .mnist import MNIST_FILES, sha256_of

__all__ = ["SOURCES", "cache_dir", "download", "dataset_folder"]

# Accepted SHA-256 sums per file: the upstream .gz files, and for MNIST also the
# re-gzipped copies shipped in this package (same images, other gzip bytes).
SOURCES = {
    "mnist": {
        "url": "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "sha256": {
            "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                                           MNIST_FILES["train-images-idx3-ubyte.gz"]),
            "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                                           MNIST_FILES["train-labels-idx1-ubyte.gz"]),
            "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                                          MNIST_FILES["t10k-images-idx3-ubyte.gz"]),
            "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                                          MNIST_FILES["t10k-labels-idx1-ubyte.gz"]),
        },
        "classes": [str(i) for i in range(10)],
    },
    "fashion-mnist": {
        "url": "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "sha256": {
            "train-images-idx3-ubyte.gz": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",),
            "train-labels-idx1-ubyte.gz": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",),
            "t10k-images-idx3-ubyte.gz": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",),
            "t10k-labels-idx1-ubyte.gz": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",),
        },
        "classes": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                    "Ankle boot"],
    },
}
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashion": "fashion-mnist", "fmnist": "fashion-mnist"}
MAX_FILE_BYTES = 64 << 20  # no MNIST-like file is larger; a longer stream is cut off


def _canonical(name: str) -> str:
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in SOURCES:
        raise ValueError(f"unknown downloadable dataset {name!r}; valid names: {', '.join(SOURCES)}")
    return key


def cache_dir() -> str:
    """The cache root: ``$NEURONLAB_DATA``, else ``$XDG_CACHE_HOME/neuronlab`` or ``~/.cache/neuronlab``."""
    env = os.environ.get("NEURONLAB_DATA")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "neuronlab")


def dataset_folder(name: str, cache: str | None = None) -> str:
    """Where ``download(name)`` puts its files."""
    return os.path.join(cache or cache_dir(), _canonical(name))


def download(name: str = "mnist", cache: str | None = None, base_url: str | None = None,
             timeout: float = 60.0, force: bool = False, log=None) -> str:
    """Download the four IDX files of ``name`` ("mnist" or "fashion-mnist"); return their folder.

    Files already in the cache with an accepted SHA-256 are kept. ``base_url`` replaces the
    default mirror (``http://`` or ``https://`` only); ``log`` receives one line per file.

    Raises
    ------
    DataError
        On a network error, an HTTP error, an oversized stream or a SHA-256 mismatch
        (the partial file is removed).
    """
    key = _canonical(name)
    src = SOURCES[key]
    url = base_url or src["url"]
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"download: base_url must start with http:// or https://, got {url!r}")
    if not url.endswith("/"):
        url += "/"
    folder = dataset_folder(key, cache)
    os.makedirs(folder, exist_ok=True)
    for fname, accepted in src["sha256"].items():
        dest = os.path.join(folder, fname)
        if not force and os.path.isfile(dest) and sha256_of(dest) in accepted:
            continue
        if log:
            log(f"downloading {url + fname}")
        _fetch(url + fname, dest, accepted, timeout)
    return folder


def _fetch(url: str, dest: str, accepted, timeout: float) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".download-", suffix=".part")
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (scheme checked)
                    total = 0
                    while True:
                        chunk = resp.read(1 << 20)
                        if not chunk:
                            break
                        total += len(chunk)
                        if total > MAX_FILE_BYTES:
                            raise DataError(f"{url}: more than {MAX_FILE_BYTES} bytes; not an MNIST-like file")
                        h.update(chunk)
                        out.write(chunk)
            except urllib.error.HTTPError as e:
                raise DataError(f"{url}: download failed (HTTP {e.code} {e.reason})") from None
            except (urllib.error.URLError, OSError, TimeoutError) as e:
                reason = getattr(e, "reason", e)
                raise DataError(f"{url}: download failed ({reason})") from None
            out.flush()
            os.fsync(out.fileno())
        got = h.hexdigest()
        if got not in accepted:
            raise DataError(f"{url}: SHA-256 {got} does not match the expected {accepted[0]}; file discarded")
        os.replace(tmp, dest)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
