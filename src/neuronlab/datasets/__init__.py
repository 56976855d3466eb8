"""Datasets: MNIST (shipped), the IDX reader, and more readers and generators."""

from .idx import read_idx, write_idx
from .mnist import load_mnist

__all__ = ["load_mnist", "read_idx", "write_idx"]
