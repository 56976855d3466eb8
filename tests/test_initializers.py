import math

import numpy as np
import pytest

import neuronlab as nl
from neuronlab import initializers as I

FAN_IN, FAN_OUT = 400, 300
SHAPE = (FAN_IN, FAN_OUT)  # 120,000 draws: sample std within ~0.5% of the truth

EXPECTED = {  # name: (distribution, std or half-width a)
    "uniform": ("uniform", 1 / math.sqrt(FAN_IN)),
    "xavier_normal": ("normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "xavier_uniform": ("uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    "he_normal": ("normal", math.sqrt(2 / FAN_IN)),
    "he_uniform": ("uniform", math.sqrt(6 / FAN_IN)),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_statistics_match_formula(name):
    dist, s = EXPECTED[name]
    W = I.get(name)(SHAPE, np.random.default_rng(0), np.float64)
    assert W.shape == SHAPE
    assert abs(W.mean()) < 0.02 * s
    if dist == "normal":
        assert W.std() == pytest.approx(s, rel=0.01)
        assert np.abs(W).max() > 3.5 * s  # untruncated
    else:
        assert W.min() >= -s and W.max() <= s
        assert W.min() < -0.99 * s and W.max() > 0.99 * s
        assert W.std() == pytest.approx(s / math.sqrt(3), rel=0.01)


def test_zeros_and_dtype():
    assert not I.get("zeros")((3, 4), np.random.default_rng(0)).any()
    assert I.get("he_normal")((3, 4), np.random.default_rng(0)).dtype == np.float32


def test_auto_picks_he_for_relu_family_and_xavier_otherwise():
    for act, cls in [("relu", I.HeNormal), ("leaky_relu", I.HeNormal), ("tanh", I.XavierNormal),
                     ("sigmoid", I.XavierNormal), ("softmax", I.XavierNormal)]:
        assert isinstance(I.auto_for(act), cls)
    m = nl.Sequential([nl.layers.Dense(2000, "relu", input_dim=500)], seed=1)
    assert m.layers[0].W.value.std() == pytest.approx(math.sqrt(2 / 500), rel=0.01)


def test_unknown_initializer_lists_valid_names():
    with pytest.raises(ValueError, match="unknown initializer 'lecun'.*he_normal"):
        nl.layers.Dense(3, init="lecun")
