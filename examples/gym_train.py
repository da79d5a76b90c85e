"""Train on KinTwin's tracking task through gymnasium, with a small PPO written here.

Any RL library that speaks gymnasium can take the place of this loop (Stable-Baselines3,
cleanrl, TorchRL, ...): they all need only ``gymnasium.make`` below.

    python examples/gym_train.py subject01.osim subject01_walk_IK.mot --iterations 50
"""

from __future__ import annotations

import argparse

import gymnasium
import numpy as np
import torch
from torch import nn
from torch.distributions import Normal


def mlp(n_in: int, n_out: int, hidden: int = 64) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                         nn.Linear(hidden, n_out))  # fmt: skip


def collect(env, actor, log_std, steps: int, obs, stats):
    """``steps`` transitions with the stochastic policy; returns batch arrays and the last obs."""
    batch = {k: [] for k in ("obs", "action", "logp", "reward", "done")}
    for _ in range(steps):
        with torch.no_grad():
            mean = actor(torch.as_tensor(obs))
            dist = Normal(mean, log_std.exp())
            action = dist.sample()
        next_obs, reward, terminated, truncated, info = env.step(action.numpy())
        batch["obs"].append(obs)
        batch["action"].append(action.numpy())
        batch["logp"].append(float(dist.log_prob(action).sum()))
        batch["reward"].append(reward)
        batch["done"].append(terminated or truncated)
        stats["error"].append(info["tracking_error_deg"])
        if terminated or truncated:
            stats["episodes"] += 1
            next_obs, _ = env.reset()
        obs = next_obs
    return {k: np.array(v, dtype=np.float32) for k, v in batch.items()}, obs


def returns_to_go(rewards: np.ndarray, done: np.ndarray, gamma: float = 0.95) -> np.ndarray:
    out, running = np.zeros_like(rewards), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running * (1.0 - done[t])
        out[t] = running
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("motions", nargs="+")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--steps", type=int, default=1024, help="transitions per iteration")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    env = gymnasium.make("policies.gym:kintwin/Track-v0", model=args.model, motions=args.motions,
                         drive="torque")  # fmt: skip
    n_obs, n_act = env.observation_space.shape[0], env.action_space.shape[0]
    actor, critic = mlp(n_obs, n_act), mlp(n_obs, 1)
    log_std = nn.Parameter(torch.full((n_act,), -1.0))
    optimizer = torch.optim.Adam([*actor.parameters(), *critic.parameters(), log_std], lr=3e-4)
    obs, _ = env.reset(seed=args.seed)
    for iteration in range(1, args.iterations + 1):
        stats = {"error": [], "episodes": 0}
        batch, obs = collect(env, actor, log_std, args.steps, obs, stats)
        target = torch.as_tensor(returns_to_go(batch["reward"], batch["done"]))
        states, actions = torch.as_tensor(batch["obs"]), torch.as_tensor(batch["action"])
        old_logp = torch.as_tensor(batch["logp"])
        for _ in range(4):  # PPO's clipped surrogate and a value regression
            value = critic(states).squeeze(-1)
            advantage = (target - value).detach()
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
            logp = Normal(actor(states), log_std.exp()).log_prob(actions).sum(-1)
            ratio = (logp - old_logp).exp()
            policy_loss = -torch.min(ratio * advantage,
                                     ratio.clamp(0.8, 1.2) * advantage).mean()  # fmt: skip
            loss = policy_loss + 0.5 * ((value - target) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"iteration {iteration}: mean reward {batch['reward'].mean():.3f}, "
              f"tracking error {np.mean(stats['error']):.2f} deg, "
              f"{stats['episodes']} episodes ended")  # fmt: skip


if __name__ == "__main__":
    main()
