"""Datasets: MNIST (shipped), readers (IDX, CSV, NumPy arrays), synthetic 2-D sets, preprocessing.

>>> import neuronlab as nl
>>> X, y = nl.datasets.make_moons(100, noise=0.1, seed=0)
>>> X.shape, X.dtype.name, sorted(set(y.tolist()))
((100, 2), 'float32', [0, 1])
"""

from .arrays import load_npy, load_npz
from .csv import read_csv
from .download import download
from .idx import read_idx, write_idx
from .load import Dataset, load_data, load_idx_folder
from .mnist import load_mnist
from .preprocessing import (
    InputScaler,
    encode_labels,
    one_hot,
    scale,
    standardise,
    standardize,
    train_val_split,
)
from .sequences import CharVocab, adding_problem, load_sequential_mnist, load_tinyshakespeare
from .synthetic import make_blobs, make_circles, make_dataset, make_moons, make_spirals, make_xor

__all__ = [
    "load_mnist", "read_idx", "write_idx", "read_csv", "load_npy", "load_npz", "load_idx_folder",
    "load_data", "Dataset", "download",
    "make_xor", "make_moons", "make_circles", "make_spirals", "make_blobs", "make_dataset",
    "scale", "standardize", "standardise", "one_hot", "encode_labels", "train_val_split", "InputScaler",
    "load_sequential_mnist", "adding_problem", "load_tinyshakespeare", "CharVocab",
]
