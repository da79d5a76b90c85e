"""PPO in the style of cleanrl's ``ppo_continuous_action.py``, as small functions.

``collect_rollout`` fills an :class:`Experience` from a :class:`~policies.env.VectorEnv`,
``compute_gae`` turns rewards and values into advantages and returns,
``clipped_surrogate_loss`` is the policy objective and ``ppo_update`` takes the minibatch steps,
returning the standard log keys (``approx_kl``, ``clipfrac``, ``explained_variance``).
Time-limit truncation bootstraps from the value of the final observation. The training run
(loop, log, checkpoints, card, resume) is :mod:`policies.train`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from policies.agent import Agent, RunningNorm
from policies.inference import MeanActor, ObservationNorm
from policies.rollout import SamplingPolicy

__all__ = [
    "PPOConfig",
    "Experience",
    "collect_rollout",
    "sampling_policy",
    "compute_gae",
    "clipped_surrogate_loss",
    "ppo_update",
]


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyper-parameters (cleanrl's names) and the training run's schedule."""

    num_envs: int = 16  # simulated copies stepped in parallel
    num_steps: int = 64  # control steps per copy per iteration (batch = num_envs x num_steps)
    learning_rate: float = 3e-4  # Adam step size at the start of the run
    gamma: float = 0.99  # discount per control step
    gae_lambda: float = 0.95  # GAE's bias/variance trade-off (1: Monte-Carlo returns)
    update_epochs: int = 5  # passes over each batch
    num_minibatches: int = 4  # minibatches per pass
    clip_coef: float = 0.2  # probability ratios are clipped to 1 ± clip_coef
    ent_coef: float = 0.0  # weight of the entropy bonus
    vf_coef: float = 0.5  # weight of the value loss
    max_grad_norm: float = 0.5  # gradients are rescaled to at most this global norm
    hidden: int = 128  # units in each of the two hidden layers of actor and critic
    init_log_std: float = -1.0  # initial log standard deviation of the actions
    seed: int = 1  # seeds torch, the copies (seed + i) and the evaluation copy (seed - 1)
    checkpoint_every: int = 10  # iterations between last.pt and card.json writes
    eval_every: int = 5  # iterations between deterministic whole-trial evaluations
    eval_bodies: tuple[float, ...] = ()  # length factors of extra evaluation bodies
    eval_later_starts: tuple[float, ...] = ()  # s after each trial's first frame: also from there
    eval_noisy: bool = False  # also evaluate the noisy copies of the motions as given
    torch_threads: int = 1  # torch's intra-op threads (1: reproducible, the envs use the cores)
    anneal_lr: bool = True  # learning rate falls linearly to 5 % over the step or time budget
    target_kl: float | None = 0.03  # stop an update's epochs once approx_kl exceeds this
    keep_within_deg: float = 0.25  # policy.pt: latest evaluation this close to the best score
    critic_warmup: int = 0  # first iterations that train the value function only (warm starts)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Experience:
    """One iteration's experience, tensors of shape (num_steps, num_envs[, dim]).

    ``dones[t]`` is 1 where ``obs[t]`` starts a new episode (the step before ended one);
    ``next_obs``/``next_done`` are the same for the observation after the last step.
    """

    obs: torch.Tensor  # normalised observations
    actions: torch.Tensor
    logprobs: torch.Tensor  # log-probabilities of the actions when they were taken
    rewards: torch.Tensor  # truncated steps include gamma x value of the final observation
    dones: torch.Tensor
    values: torch.Tensor
    next_obs: torch.Tensor  # (num_envs, n_obs), normalised
    next_done: torch.Tensor  # (num_envs,)
    episode_stats: dict


def collect_rollout(
    envs,
    agent: Agent,
    norm: RunningNorm,
    raw_obs: np.ndarray,
    cfg: PPOConfig,
    iteration: int = 0,
) -> tuple[Experience, np.ndarray]:
    """Run ``cfg.num_steps`` steps of every copy; returns (experience, last raw observation).

    The copies sample their actions from a frozen copy of the actor and normaliser
    (:mod:`policies.rollout`; the noise follows ``cfg.seed`` and ``iteration``); the log
    probabilities and values are then computed here in one pass, and the normaliser folds
    in the rollout's observations step by step, for the next iteration.
    """
    policy = sampling_policy(agent, norm, cfg.seed, iteration)
    segment = envs.rollout(policy, raw_obs, cfg.num_steps)
    steps, n = segment.rewards.shape
    obs = torch.from_numpy(policy.norm(segment.raw_obs))
    actions = torch.from_numpy(segment.actions)
    with torch.no_grad():
        _, logprobs, _, values = agent.act(obs.flatten(0, 1), actions.flatten(0, 1))
    rewards = segment.rewards.copy()
    trunc = segment.truncated
    if trunc.any():  # bootstrap time limits from the value of where the copy ended
        with torch.no_grad():
            v_end = agent.value(torch.from_numpy(policy.norm(segment.final_obs[trunc])))
        rewards[trunc] += cfg.gamma * v_end.numpy()
    ended = segment.terminated | trunc
    dones = np.zeros((steps, n), dtype=np.float32)
    dones[1:] = ended[:-1]
    for step_obs in segment.raw_obs:
        norm.update(step_obs)
    stats = {
        "reward": float(rewards.mean()),
        "tracking_error_deg": float(np.mean(segment.errors)),
        "episodes": int(ended.sum()),
        "falls": int(segment.terminated.sum()),
    }
    experience = Experience(
        obs, actions, logprobs.view(steps, n), torch.from_numpy(rewards),
        torch.from_numpy(dones), values.view(steps, n),
        torch.from_numpy(norm(segment.last_obs)), torch.from_numpy(ended[-1].astype(np.float32)),
        stats,
    )  # fmt: skip
    return experience, segment.last_obs


def sampling_policy(agent: Agent, norm: RunningNorm, seed: int, iteration: int) -> SamplingPolicy:
    """The agent's actor and the normaliser's statistics as they are now, in numpy."""
    linear = [m for m in agent.actor_mean if isinstance(m, nn.Linear)]
    return SamplingPolicy(
        actor=MeanActor(
            [m.weight.detach().numpy() for m in linear], [m.bias.detach().numpy() for m in linear]
        ),
        log_std=agent.actor_logstd.detach().numpy()[0].copy(),
        norm=ObservationNorm(norm.mean, norm.var),
        seed=seed,
        iteration=iteration,
    )


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    next_value: torch.Tensor,
    next_done: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns, both (num_steps, num_envs).

    With ``delta_t = r_t + gamma V_{t+1} (1 - d_{t+1}) - V_t``, the advantage is
    ``A_t = delta_t + gamma lambda (1 - d_{t+1}) A_{t+1}`` and the return ``A_t + V_t``;
    ``d``/``dones`` as in :class:`Experience`, ``next_value``/``next_done`` for the step after
    the last.
    """
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    steps = rewards.shape[0]
    for t in reversed(range(steps)):
        not_done = 1.0 - (next_done if t == steps - 1 else dones[t + 1])
        following = next_value if t == steps - 1 else values[t + 1]
        delta = rewards[t] + gamma * following * not_done - values[t]
        last = delta + gamma * gae_lambda * not_done * last
        advantages[t] = last
    return advantages, advantages + values


def clipped_surrogate_loss(
    ratio: torch.Tensor, advantages: torch.Tensor, clip_coef: float
) -> torch.Tensor:
    """PPO's policy loss: the mean of ``max(-A r, -A clip(r, 1 - eps, 1 + eps))``, the negated
    clipped surrogate objective of Schulman et al. (2017), eq. 7."""
    clipped = ratio.clamp(1.0 - clip_coef, 1.0 + clip_coef)
    return torch.max(-advantages * ratio, -advantages * clipped).mean()


def ppo_update(
    agent: Agent,
    optimizer: torch.optim.Optimizer,
    exp: Experience,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    cfg: PPOConfig,
    generator: torch.Generator,
    critic_only: bool = False,
) -> dict:
    """Clipped-surrogate PPO epochs over minibatches (shuffled by ``generator``); returns the
    standard log keys. ``critic_only`` leaves the policy as it is (a warm start's value
    function catching up with a new reward)."""
    b_obs = exp.obs.reshape(-1, exp.obs.shape[-1])
    b_act = exp.actions.reshape(-1, exp.actions.shape[-1])
    b_logp, b_adv = exp.logprobs.reshape(-1), advantages.reshape(-1)
    b_ret, b_val = returns.reshape(-1), exp.values.reshape(-1)
    batch = b_obs.shape[0]
    mb = batch // cfg.num_minibatches
    clipfracs, approx_kl = [], torch.tensor(0.0)
    for _ in range(cfg.update_epochs):
        if cfg.target_kl is not None and approx_kl > cfg.target_kl:
            break
        order = torch.randperm(batch, generator=generator)
        for start in range(0, batch, mb):
            idx = order[start : start + mb]
            _, logp, entropy, value = agent.act(b_obs[idx], b_act[idx])
            logratio = logp - b_logp[idx]
            ratio = logratio.exp()
            with torch.no_grad():
                approx_kl = ((ratio - 1) - logratio).mean()
                clipfracs.append(((ratio - 1.0).abs() > cfg.clip_coef).float().mean().item())
            adv = b_adv[idx]
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            pg_loss = clipped_surrogate_loss(ratio, adv, cfg.clip_coef)
            v_loss = 0.5 * ((value - b_ret[idx]) ** 2).mean()
            loss = pg_loss - cfg.ent_coef * entropy.mean() + cfg.vf_coef * v_loss
            if critic_only:
                loss = cfg.vf_coef * v_loss
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm)
            optimizer.step()
    var_y = b_ret.var().item()
    explained = float("nan") if var_y == 0 else 1 - (b_ret - b_val).var().item() / var_y
    return {
        "policy_loss": pg_loss.item(),
        "value_loss": v_loss.item(),
        "entropy": entropy.mean().item(),
        "approx_kl": float(approx_kl),
        "clipfrac": float(np.mean(clipfracs)),
        "explained_variance": float(explained),
    }
