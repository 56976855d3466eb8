"""neuronlab.rl and `neuronlab demo rl`: REINFORCE with a baseline on Gymnasium's CartPole-v1."""

import numpy as np
import pytest
import torch

import neuronlab as nl
from neuronlab import rl
from neuronlab.demos import rl as rl_demo


def test_discounted_returns_by_hand():
    np.testing.assert_allclose(rl.discounted_returns([1.0, 1.0, 1.0], 0.5), [1.75, 1.5, 1.0])


def test_policy_gradient_step_equals_torch_on_signed_advantages():
    """The split-by-sign update is the gradient of −(1/n) Σ A_t log π(a_t | s_t), A_t of both signs."""
    rng = np.random.default_rng(0)
    model = nl.Sequential([nl.layers.Dense(5, "tanh", input_dim=4), nl.layers.Dense(2, "softmax")],
                          seed=1, dtype="float64")
    model.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.1))
    W1, b1, W2, b2 = (torch.tensor(w, requires_grad=True) for w in model.get_weights())
    episodes = [rl.Episode(list(rng.normal(size=(T, 4))), list(rng.integers(0, 2, T)), [1.0] * T) for T in (3, 6, 4)]
    agent = rl.Reinforce(model, env=None, gamma=0.9, batch=3)
    A = torch.tensor(np.concatenate(agent.advantages(episodes)))
    assert (A > 0).any() and (A < 0).any()
    X = torch.tensor(np.concatenate([e.states for e in episodes]))
    a = torch.tensor(np.concatenate([e.actions for e in episodes]))
    logp = torch.log_softmax(torch.tanh(X @ W1 + b1) @ W2 + b2, dim=1)[torch.arange(len(a)), a]
    loss = -(A * logp).mean()
    loss.backward()
    c = agent.update(episodes)
    assert c == pytest.approx(loss.item(), rel=1e-10)
    for w, t in zip(model.get_weights(), (W1, b1, W2, b2)):
        np.testing.assert_allclose(w, (t - 0.1 * t.grad).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_advantages_have_the_batch_mean_return_per_step_as_baseline():
    eps = [rl.Episode([np.zeros(4)] * 2, [0, 1], [1.0, 1.0]), rl.Episode([np.zeros(4)] * 1, [0], [1.0])]
    A = rl.Reinforce(None, None, gamma=1.0).advantages(eps)
    # G = (2, 1) and (1,): b = (1.5, 1); G - b = (0.5, 0), (-0.5,); spread 0.408
    raw = np.array([0.5, 0.0, -0.5])
    np.testing.assert_allclose(np.concatenate(A), raw / raw.std(), rtol=1e-6)


def test_quick_run_learns_well_above_random(tmp_path):
    res = rl_demo.run(tmp_path, quick=True, print_fn=None)
    assert res["episodes"] == 150
    assert res["random_mean"] < 30
    assert res["last_20_mean"] > 3 * res["random_mean"]  # 185 vs 18 on seed 0
    assert res["eval_mean"] > 100
    assert len(res["figures"]) == 2 and all(p.endswith(".png") for p in res["figures"])
    step = res["step"]
    assert step["reward"] == 1.0 and step["probs"].sum() == pytest.approx(1.0, abs=1e-6)
    assert step["loss_term"] == pytest.approx(-step["advantage"] * step["log_prob"])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="gamma"):
        rl.Reinforce(None, None, gamma=1.5)
    with pytest.raises(ValueError, match="batch"):
        rl.Reinforce(None, None, batch=0)


@pytest.mark.slow
def test_full_run_solves_cartpole(tmp_path):
    res = rl_demo.run(tmp_path, print_fn=None)
    assert res["solved"] and res["eval_mean"] >= 475 and len(res["evaluation"]) == 100
    assert res["episodes"] <= 2000
