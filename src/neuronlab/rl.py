"""Reinforcement learning: the guide's agent/environment/reward loop, REINFORCE with a baseline.

The agent is a neuronlab policy network π(a | s): the state s (CartPole's 4 numbers) in, the
probability of each action out (softmax). It plays whole episodes in a Gymnasium environment,
which answers each action a_t with a reward r_t and the next state. After a batch of episodes
every step gets its return G_t = Σ_k γᵏ r_{t+k} and its advantage A_t = G_t − b_t (the
baseline b_t is the batch's mean return at that step, then divided by the batch's spread),
and the policy takes one gradient step on the policy-gradient loss

    C = −(1/n) Σ_t A_t log π(a_t | s_t),

which is categorical cross-entropy on the taken actions with per-sample weights A_t.
``Sequential`` accepts only weights ≥ 0, so the batch is split by the sign of A_t:
``loss_and_grads`` on each part (weights |A_t|), the gradients combined with their signs and
sample shares, then one ``optimizer.step``. Needs ``gymnasium`` (``pip install 'neuronlab[rl]'``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import layers as _layers
from . import optimizers as _optim
from .model import Sequential
from .validation import Integer, Real, validated

__all__ = ["policy_network", "Reinforce", "Episode", "discounted_returns", "make_env"]


def make_env(name: str = "CartPole-v1"):
    """The Gymnasium environment ``name`` (imported here: gymnasium is an optional extra)."""
    try:
        import gymnasium
    except ImportError as exc:  # pragma: no cover - gymnasium is in the rl/test extras
        raise ImportError("reinforcement learning needs gymnasium (pip install 'neuronlab[rl]')") from exc
    return gymnasium.make(name)


def policy_network(n_states: int = 4, n_actions: int = 2, hidden: int = 32, lr: float = 0.01,
                   seed: int = 0) -> Sequential:
    """π(a | s): n_states → hidden (tanh) → hidden (tanh) → n_actions (softmax), Adam(η)."""
    model = Sequential([_layers.Dense(hidden, "tanh", input_dim=n_states), _layers.Dense(hidden, "tanh"),
                        _layers.Dense(n_actions, "softmax")], seed=seed)
    model.compile(loss="categorical_crossentropy", optimizer=_optim.Adam(lr=lr))
    return model


@dataclass
class Episode:
    """One episode: the states s_t the agent saw, the actions a_t it took, the rewards r_t it got."""

    states: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    rewards: list = field(default_factory=list)


def discounted_returns(rewards, gamma: float) -> np.ndarray:
    """G_t = r_t + γ G_{t+1}, from the last step back."""
    G = np.empty(len(rewards))
    acc = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        acc = rewards[t] + gamma * acc
        G[t] = acc
    return G


class Reinforce:
    """REINFORCE with a baseline: play ``batch`` episodes, then one policy-gradient step.

    Parameters
    ----------
    model : Sequential
        The policy, softmax output compiled with categorical cross-entropy.
    env : gymnasium.Env
        A discrete-action environment.
    gamma : float
        γ, the discount of future rewards.
    batch : int
        Episodes per update.
    seed : int
        Seeds the environment resets and the action sampling.
    """

    @validated({"gamma": Real(low=0, high=1), "batch": Integer(low=1), "seed": Integer(low=0)})
    def __init__(self, model: Sequential, env, gamma: float = 0.99, batch: int = 5, seed: int = 0):
        self.model, self.env, self.gamma, self.batch = model, env, gamma, batch
        self.rng = np.random.default_rng(seed)
        self._seed = seed
        self._resets = 0
        self.returns: list[float] = []   # the return Σ r_t of every training episode

    def _reset(self):
        state, _ = self.env.reset(seed=self._seed * 100_003 + self._resets)
        self._resets += 1
        return state

    def play(self, greedy: bool = False) -> Episode:
        """One episode: π picks a_t (sampled, or argmax when ``greedy``) until it ends."""
        ep, state, done = Episode(), self._reset(), False
        while not done:
            probs = self.model.forward(state[None, :].astype(np.float64))[0]
            action = int(np.argmax(probs)) if greedy else int(self.rng.choice(len(probs), p=probs))
            nxt, reward, terminated, truncated, _ = self.env.step(action)
            ep.states.append(state)
            ep.actions.append(action)
            ep.rewards.append(float(reward))
            state, done = nxt, terminated or truncated
        return ep

    def advantages(self, episodes: list[Episode]) -> list[np.ndarray]:
        """A_t = (G_t − b_t) / s: b_t the batch's mean return at step t, s the spread of G − b."""
        Gs = [discounted_returns(ep.rewards, self.gamma) for ep in episodes]
        T = max(len(G) for G in Gs)
        padded = np.full((len(Gs), T), np.nan)
        for i, G in enumerate(Gs):
            padded[i, :len(G)] = G
        b = np.nanmean(padded, axis=0)
        A = [G - b[:len(G)] for G in Gs]
        scale = np.concatenate(A).std() + 1e-8
        return [a / scale for a in A]

    def update(self, episodes: list[Episode]) -> float:
        """One gradient step on C = −(1/n) Σ A_t log π(a_t | s_t); returns C."""
        X = np.concatenate([np.asarray(ep.states, dtype=np.float64) for ep in episodes])
        a = np.concatenate([np.asarray(ep.actions) for ep in episodes])
        A = np.concatenate(self.advantages(episodes))
        n, params, total, loss = len(A), list(self.model.params()), None, 0.0
        # sample weights must be >= 0: each sign of A separately, combined with sign and share n_part / n
        for sign, part in ((1.0, A > 0), (-1.0, A < 0)):
            if not part.any():
                continue
            c, grads = self.model.loss_and_grads(X[part], a[part], sample_weight=np.abs(A[part]))
            share = sign * part.sum() / n
            loss += share * c
            total = {k: share * g for k, g in grads.items()} if total is None else \
                {k: total[k] + share * g for k, g in grads.items()}
        if total is None:
            return 0.0
        for p in params:
            p.grad[...] = total[p.name]
        self.model.optimizer.step(params)
        return loss

    def train(self, episodes: int, target: float | None = None, window: int = 20, print_fn=None) -> dict:
        """Train for at most ``episodes`` episodes; stop early when the mean return of the last
        ``window`` episodes reaches ``target``. Returns the returns and the time taken."""
        t0 = time.perf_counter()
        while len(self.returns) < episodes:
            batch = [self.play() for _ in range(self.batch)]
            self.update(batch)
            for ep in batch:
                self.returns.append(sum(ep.rewards))
            if print_fn is not None:
                print_fn(f"episode {len(self.returns):5d}  return {self.returns[-1]:6.1f}  "
                         f"mean of last {window}: {np.mean(self.returns[-window:]):6.1f}")
            if target is not None and len(self.returns) >= window and np.mean(self.returns[-window:]) >= target:
                break
        return {"returns": list(self.returns), "episodes": len(self.returns), "seconds": time.perf_counter() - t0}

    def evaluate(self, episodes: int = 100, greedy: bool = True) -> np.ndarray:
        """The return of each of ``episodes`` evaluation episodes (greedy: a_t = argmax π)."""
        return np.array([sum(self.play(greedy=greedy).rewards) for _ in range(episodes)])
