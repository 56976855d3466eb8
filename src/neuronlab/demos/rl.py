"""Reinforcement learning: a neuronlab policy network learns CartPole-v1 by REINFORCE with a baseline.

The guide's loop made concrete: the agent (a 4-32-32-2 tanh/softmax network, π(a | s)) sees
the environment's state s_t (cart position, cart velocity, pole angle, pole angular velocity),
picks an action a_t (push left or right) from π, and the environment answers with a reward
r_t = 1 for every step the pole stays up and the next state. After every 5 episodes the policy
takes one gradient step on −(1/n) Σ A_t log π(a_t | s_t) (``neuronlab.rl``). CartPole-v1 is
solved when the mean return over 100 evaluation episodes reaches 475 (episodes end at 500);
a random policy scores about 22.
"""

from __future__ import annotations

import time

import numpy as np

from .. import rl
from ._common import TAB10, figure, prepare, save, table, write_json

TOPIC = "rl"
SOLVED = 475.0
ACTIONS = ("push left", "push right")


def random_returns(env, episodes: int, seed: int) -> np.ndarray:
    """Returns of a policy that picks each action with probability 1/2 (the reference line)."""
    rng, out = np.random.default_rng(seed), []
    for k in range(episodes):
        env.reset(seed=10_000 + seed * 1000 + k)
        total, done = 0.0, False
        while not done:
            _, r, terminated, truncated, _ = env.step(int(rng.integers(2)))
            total, done = total + r, terminated or truncated
        out.append(total)
    return np.array(out)


def one_step(agent: rl.Reinforce) -> dict:
    """The numbers of one turn of the loop (step 0 of the first episode of a batch played now)."""
    episodes = [agent.play() for _ in range(agent.batch)]
    A = agent.advantages(episodes)
    ep, t = episodes[0], 0
    s = np.asarray(ep.states[t], dtype=np.float64)
    probs = agent.model.forward(s[None, :])[0]
    s_next = np.asarray(ep.states[t + 1]) if len(ep.states) > 1 else s
    G = rl.discounted_returns(ep.rewards, agent.gamma)
    a = ep.actions[t]
    return {"state": s, "probs": probs, "action": a, "reward": ep.rewards[t], "next_state": s_next,
            "return": float(G[t]), "advantage": float(A[0][t]), "log_prob": float(np.log(probs[a])),
            "loss_term": float(-A[0][t] * np.log(probs[a])), "gamma": agent.gamma}


def _vec(v) -> str:
    return "(" + ", ".join(f"{x:+.3f}" for x in v) + ")"


def draw_loop(step: dict, out_dir: str) -> str:
    """The guide's agent/environment/reward figure with the numbers of one step."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, axes = figure(1, 1, size=(10, 5.6))
    ax = axes[0][0]
    ax.set(xlim=(0, 10), ylim=(0, 6))
    ax.axis("off")

    def box(x, y, w, h, text, color):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.1", fc=color, ec="black", alpha=0.9))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=10.5)

    def arrow(a, b, text, xy, rad=0.0):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=20, lw=2,
                                     connectionstyle=f"arc3,rad={rad}"))
        ax.text(*xy, text, ha="center", va="center", fontsize=10,
                bbox={"fc": "white", "ec": "none", "alpha": 0.9})

    p, a = step["probs"], step["action"]
    box(0.3, 2.3, 3.2, 1.5, "Agent\npolicy network π(a | s)\n4 → 32 → 32 → 2 (softmax)", "#cfe2f3")
    box(6.5, 2.3, 3.2, 1.5, "Environment\nCartPole-v1\n(cart, pole, physics)", "#d9ead3")
    arrow((3.7, 3.6), (6.4, 3.6), f"action a_t = {a} ({ACTIONS[a]})\n"
          f"π(· | s_t) = ({p[0]:.3f}, {p[1]:.3f})", (5.05, 4.45), rad=-0.25)
    arrow((6.4, 2.5), (3.7, 2.5), f"reward r_t = {step['reward']:g}\nnext state s_t+1 =\n{_vec(step['next_state'])}",
          (5.05, 1.45), rad=-0.25)
    ax.text(1.9, 4.5, f"state s_t =\n{_vec(step['state'])}", ha="center", fontsize=10)
    ax.text(5.0, 0.25, f"learning: G_t = Σ γᵏ r_t+k = {step['return']:.2f} (γ = {step['gamma']:g}),  "
            f"A_t = (G_t − b_t)/s = {step['advantage']:+.3f},  "
            f"loss term −A_t log π(a_t | s_t) = {step['loss_term']:+.4f}", ha="center", fontsize=9.5)
    ax.set_title("The guide's reinforcement-learning loop, one step of the untrained agent", fontsize=12)
    return save(fig, out_dir, "rl_loop")


def draw_curve(returns, evaluation, random_mean, solved_at, out_dir, title) -> str:
    """Training returns per episode, their moving mean, random's level and the 475 line."""
    fig, axes = figure(1, 2, size=(11, 4.2), gridspec_kw={"width_ratios": [3, 1]})
    ax, ax_e = axes[0]
    ep = np.arange(1, len(returns) + 1)
    ax.plot(ep, returns, ".", color=TAB10[0], ms=3, alpha=0.5, label="return of each training episode")
    w = min(20, len(returns))
    mov = np.convolve(returns, np.ones(w) / w, mode="valid")
    ax.plot(ep[w - 1:], mov, color=TAB10[0], lw=2.5, label=f"mean of the last {w}")
    ax.axhline(SOLVED, color=TAB10[2], ls="--", lw=1.5, label=f"solved: {SOLVED:g}")
    ax.axhline(random_mean, color=TAB10[3], ls=":", lw=1.5, label=f"random policy: {random_mean:.0f}")
    if solved_at:
        ax.axvline(solved_at, color="gray", lw=1)
    ax.set(xlabel="training episode", ylabel="return Σ r_t", title=title, ylim=(0, 520))
    ax.title.set_fontsize(11)
    ax.legend(fontsize=9, loc="upper left")
    ax.grid(alpha=0.3)
    ax_e.hist(evaluation, bins=np.linspace(0, 500, 21), color=TAB10[1])
    ax_e.set(xlabel="return", ylabel="episodes",
             title=f"{len(evaluation)} greedy evaluation\nepisodes: mean {np.mean(evaluation):.1f}")
    ax_e.title.set_fontsize(11)
    return save(fig, out_dir, "rl_learning_curve")


def run(out_dir, seed: int = 0, quick: bool = False, print_fn=print) -> dict:
    """Train until the last 20 training returns average ≥ 475 and 100 greedy evaluation episodes
    do too (or until the episode budget); quick: 150 episodes and 10 evaluation episodes.

    Returns
    -------
    dict
        ``returns`` per training episode, ``episodes``, ``seconds``, ``evaluation`` returns,
        ``eval_mean``, ``solved``, ``random_mean`` and ``step`` (the loop figure's numbers).
    """
    out_dir = prepare(out_dir)
    budget, n_eval = (150, 10) if quick else (2000, 100)
    env = rl.make_env("CartPole-v1")
    agent = rl.Reinforce(rl.policy_network(seed=seed), env, gamma=0.99, batch=5, seed=seed)
    step = one_step(agent)  # the untrained policy's first batch: its advantages are not all 0 yet
    t0 = time.perf_counter()
    evaluation = np.zeros(0)
    while len(agent.returns) < budget:
        # train until the last 20 episodes look solved, then check on fresh greedy episodes
        agent.train(budget, target=None if quick else SOLVED, print_fn=print_fn)
        evaluation = agent.evaluate(n_eval)
        if quick or evaluation.mean() >= SOLVED:
            break
        agent.train(len(agent.returns) + 20)  # not yet: keep the last 20 from re-triggering at once
    seconds = time.perf_counter() - t0
    returns = np.array(agent.returns)
    rnd = random_returns(env, 20 if quick else 100, seed)
    solved = bool(evaluation.mean() >= SOLVED) and not quick
    title = (f"REINFORCE with baseline on CartPole-v1: {len(returns)} episodes, {seconds:.0f} s"
             + (" (solved)" if solved else ""))
    figures = [draw_curve(returns, evaluation, rnd.mean(), len(returns) if solved else None, out_dir, title),
               draw_loop(step, out_dir)]
    numbers = {"episodes": len(returns), "seconds": seconds, "returns": returns,
               "first_20_mean": float(returns[:20].mean()), "last_20_mean": float(returns[-20:].mean()),
               "evaluation": evaluation, "eval_mean": float(evaluation.mean()), "solved": solved,
               "random_mean": float(rnd.mean()), "step": step, "figures": figures}
    table("rl: REINFORCE with a baseline on CartPole-v1 (solved = mean ≥ 475 over 100 greedy episodes)",
          ["policy", "episodes", "mean return", "seconds"],
          [["random", len(rnd), rnd.mean(), "-"],
           ["first 20 training episodes", 20, numbers["first_20_mean"], "-"],
           ["last 20 training episodes", 20, numbers["last_20_mean"], seconds],
           ["trained, greedy evaluation", len(evaluation), numbers["eval_mean"], "-"]], print_fn=print_fn)
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
