"""Edge cases of losses.py not covered by the gradient checks and the PyTorch parity tests."""

import numpy as np

import neuronlab as nl


def test_accuracy_of_one_output_with_1d_targets_does_not_broadcast():
    # (n, 1) against (n,) used to broadcast to (n, n): a wrong value and n² memory
    P = np.array([[0.9], [0.1], [0.7]], dtype=np.float32)
    assert nl.losses.accuracy(P, np.array([1.0, 0.0, 0.0])) == 2 / 3
    assert nl.losses.accuracy(P, np.array([[1.0], [0.0], [0.0]])) == 2 / 3
