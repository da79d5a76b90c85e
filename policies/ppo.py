"""PPO in the style of cleanrl's ``ppo_continuous_action.py``, as small functions.

``collect_rollout`` fills a :class:`Rollout` from a :class:`~policies.env.VectorEnv`,
``compute_gae`` turns it into advantages and returns, ``ppo_update`` takes the clipped-surrogate
steps and returns the standard log keys (``approx_kl``, ``clipfrac``, ``explained_variance``).
Time-limit truncation bootstraps from the value of the final observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.distributions import Normal

__all__ = [
    "PPOConfig",
    "RunningNorm",
    "Agent",
    "Rollout",
    "collect_rollout",
    "compute_gae",
    "ppo_update",
]


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyper-parameters (cleanrl names)."""

    num_envs: int = 16
    num_steps: int = 64  # control steps per copy per iteration
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    update_epochs: int = 5
    num_minibatches: int = 4
    clip_coef: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: int = 128
    init_log_std: float = -1.0
    seed: int = 1
    checkpoint_every: int = 10  # iterations between last.pt and card.json writes
    eval_every: int = 5  # iterations between deterministic whole-trial evaluations
    torch_threads: int = 1
    anneal_lr: bool = True  # learning rate falls linearly to 5 % over the step or time budget
    target_kl: float | None = 0.03  # stop an update's epochs once approx_kl exceeds this
    keep_within_deg: float = 0.25  # policy.pt: latest evaluation this close to the best score

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class RunningNorm:
    """Running mean/variance of observations (parallel Welford), clipped to ±10 after scaling."""

    def __init__(self, size: int) -> None:
        self.mean = np.zeros(size)
        self.var = np.ones(size)
        self.count = 1e-4

    def update(self, x: np.ndarray) -> None:
        """Fold a (batch, size) array into the statistics."""
        mean, var, n = x.mean(0), x.var(0), x.shape[0]
        delta, total = mean - self.mean, self.count + n
        self.mean = self.mean + delta * n / total
        m2 = self.var * self.count + var * n + delta**2 * self.count * n / total
        self.var, self.count = m2 / total, total

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.clip((x - self.mean) / np.sqrt(self.var + 1e-8), -10, 10).astype(np.float32)

    def state_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "var": self.var.tolist(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.var = np.asarray(state["mean"]), np.asarray(state["var"])
        self.count = float(state["count"])


def _layer(n_in: int, n_out: int, std: float = np.sqrt(2)) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, 0.0)
    return layer


class Agent(nn.Module):
    """Gaussian policy (state-independent log std) and value function, two tanh MLPs."""

    def __init__(self, n_obs: int, n_act: int, hidden: int = 128, init_log_std: float = -1.0):
        super().__init__()
        self.critic = nn.Sequential(
            _layer(n_obs, hidden),
            nn.Tanh(),
            _layer(hidden, hidden),
            nn.Tanh(),
            _layer(hidden, 1, 1.0),
        )
        self.actor_mean = nn.Sequential(
            _layer(n_obs, hidden),
            nn.Tanh(),
            _layer(hidden, hidden),
            nn.Tanh(),
            _layer(hidden, n_act, 0.01),
        )
        self.actor_logstd = nn.Parameter(torch.full((1, n_act), float(init_log_std)))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def act(self, obs: torch.Tensor, action: torch.Tensor | None = None):
        """(action, log_prob, entropy, value) for normalised observations ``obs``."""
        mean = self.actor_mean(obs)
        dist = Normal(mean, self.actor_logstd.expand_as(mean).exp())
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action).sum(-1), dist.entropy().sum(-1), self.value(obs)


@dataclass
class Rollout:
    """Tensors of shape (num_steps, num_envs[, dim]) from one iteration."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    rewards: torch.Tensor
    dones: torch.Tensor
    values: torch.Tensor
    next_obs: torch.Tensor  # (num_envs, n_obs), normalised
    next_done: torch.Tensor
    episode_stats: dict


def collect_rollout(envs, agent: Agent, norm: RunningNorm, raw_obs: np.ndarray, cfg: PPOConfig):
    """Run ``cfg.num_steps`` steps of every copy; returns (Rollout, last raw observation)."""
    n, steps = envs.num_envs, cfg.num_steps
    n_obs, n_act = raw_obs.shape[1], len(envs.action_names)
    buf = {k: torch.zeros(steps, n) for k in ("logprobs", "rewards", "dones", "values")}
    obs_buf, act_buf = torch.zeros(steps, n, n_obs), torch.zeros(steps, n, n_act)
    done = torch.zeros(n)
    errors, ends, falls = [], 0, 0
    for step in range(steps):
        norm.update(raw_obs)
        obs = torch.from_numpy(norm(raw_obs))
        with torch.no_grad():
            action, logprob, _, value = agent.act(obs)
        obs_buf[step], act_buf[step], buf["dones"][step] = obs, action, done
        buf["values"][step], buf["logprobs"][step] = value, logprob
        raw_obs, reward, term, trunc, final_obs, err = envs.step(action.numpy())
        if trunc.any():  # bootstrap time limits from the value of where the copy ended
            with torch.no_grad():
                v_end = agent.value(torch.from_numpy(norm(final_obs[trunc])))
            reward[trunc] += cfg.gamma * v_end.numpy()
        buf["rewards"][step] = torch.from_numpy(reward)
        done = torch.from_numpy((term | trunc).astype(np.float32))
        errors.append(err)
        ends, falls = ends + int((term | trunc).sum()), falls + int(term.sum())
    stats = {
        "reward": float(buf["rewards"].mean()),
        "tracking_error_deg": float(np.mean(errors)),
        "episodes": ends,
        "falls": falls,
    }
    with torch.no_grad():
        next_obs = torch.from_numpy(norm(raw_obs))
    rollout = Rollout(
        obs_buf, act_buf, buf["logprobs"], buf["rewards"], buf["dones"], buf["values"],
        next_obs, done, stats,
    )  # fmt: skip
    return rollout, raw_obs


def compute_gae(agent: Agent, r: Rollout, cfg: PPOConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns, both (num_steps, num_envs)."""
    with torch.no_grad():
        next_value = agent.value(r.next_obs)
    advantages = torch.zeros_like(r.rewards)
    last = torch.zeros_like(next_value)
    steps = r.rewards.shape[0]
    for t in reversed(range(steps)):
        not_done = 1.0 - (r.next_done if t == steps - 1 else r.dones[t + 1])
        nv = next_value if t == steps - 1 else r.values[t + 1]
        delta = r.rewards[t] + cfg.gamma * nv * not_done - r.values[t]
        last = delta + cfg.gamma * cfg.gae_lambda * not_done * last
        advantages[t] = last
    return advantages, advantages + r.values


def ppo_update(
    agent: Agent,
    optimizer: torch.optim.Optimizer,
    r: Rollout,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    cfg: PPOConfig,
    generator: torch.Generator,
) -> dict:
    """Clipped-surrogate PPO epochs over minibatches; returns the standard log keys."""
    b_obs = r.obs.reshape(-1, r.obs.shape[-1])
    b_act = r.actions.reshape(-1, r.actions.shape[-1])
    b_logp, b_adv = r.logprobs.reshape(-1), advantages.reshape(-1)
    b_ret, b_val = returns.reshape(-1), r.values.reshape(-1)
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
            pg_loss = torch.max(
                -adv * ratio, -adv * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)
            ).mean()
            v_loss = 0.5 * ((value - b_ret[idx]) ** 2).mean()
            loss = pg_loss - cfg.ent_coef * entropy.mean() + cfg.vf_coef * v_loss
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


# ------------------------------------------------------------------------------ training loop


def _seed_all(seed: int) -> torch.Generator:
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _meta(envs, converted, tracking, cfg, state: dict) -> dict:
    """Everything a checkpoint holds besides weights and normaliser."""
    return {
        "model_sha256": converted.map["source_sha256"],
        "model_name": str(converted.osim.path),
        "obs_names": envs.obs_names,
        "action_names": envs.action_names,
        "coordinates": envs.task.coordinates,
        "tracking_config": tracking.to_dict(),
        "ppo_config": cfg.to_dict(),
        "drive": "torque",
        **state,
    }


def _log(outdir, row: dict) -> None:
    import csv
    import json

    with open(outdir / "log.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    path = outdir / "log.csv"
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


@dataclass
class _Session:
    """The live objects of one training run."""

    converted: object
    motions: list[str]
    outdir: object
    tracking: object
    cfg: PPOConfig
    envs: object
    eval_env: object
    agent: Agent
    norm: RunningNorm
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    state: dict

    def meta(self) -> dict:
        return _meta(self.envs, self.converted, self.tracking, self.cfg, self.state)

    def save_last(self) -> None:
        """``last.pt``: the checkpoint plus optimizer and random states, for ``--resume``."""
        from policies.checkpoint import LAST_FILE, save_checkpoint

        extra = {
            "optimizer": self.optimizer.state_dict(),
            "torch_generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "env_rng": self.envs.rng_states(),
            "eval_rng": self.eval_env.rng.bit_generator.state,
        }
        save_checkpoint(self.outdir / LAST_FILE, self.agent, self.norm, {**self.meta(), **extra})

    def resume(self) -> None:
        """Load ``last.pt`` into the live objects and counters."""
        from policies.checkpoint import LAST_FILE, load_checkpoint

        conv = self.converted
        ckpt = load_checkpoint(self.outdir / LAST_FILE, conv.map["source_sha256"], conv.osim.path)
        self.agent.load_state_dict(ckpt["agent"])
        self.norm.load_state_dict(ckpt["obs_norm"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.generator.set_state(ckpt["torch_generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        self.envs.set_rng_states(ckpt["env_rng"])
        self.eval_env.rng.bit_generator.state = ckpt["eval_rng"]
        self.state = {k: ckpt.get(k, self.state[k]) for k in self.state}

    def evaluate(self) -> dict:
        """Deterministic whole-trial tracking; ``eval_score`` (deg) adds 90° x untracked fraction."""
        from policies.runner import evaluate

        result = evaluate(self.eval_env, self.agent, self.norm)
        untracked = 1.0 - result["eval_fraction_tracked"]
        return {**result, "eval_score": result["eval_tracking_error_deg"] + 90.0 * untracked}


def _open_session(
    converted, trajectories, motions, outdir, tracking, cfg, resume, init=None, workers=1,
    loads=None,
) -> _Session:  # fmt: skip
    from pathlib import Path

    from policies.checkpoint import LAST_FILE, load_checkpoint
    from policies.env import TrackingConfig, TrackingEnv, calibrate_contacts
    from policies.parallel import make_vector_env

    outdir = Path(outdir)
    if resume:
        sha, name = converted.map["source_sha256"], converted.osim.path
        old = load_checkpoint(outdir / LAST_FILE, sha, name)
        saved = old["tracking_config"]
        tracking = TrackingConfig.from_saved(saved)
        cfg = PPOConfig(**old["ppo_config"])
    tracking, cfg = tracking or TrackingConfig(), cfg or PPOConfig()
    if tracking.calibrate_contacts and tracking.contact_radii is None:
        tracking = calibrate_contacts(converted, trajectories, tracking)
    outdir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.torch_threads)
    generator = _seed_all(cfg.seed)
    envs = make_vector_env(
        converted, trajectories, tracking, cfg.num_envs, cfg.seed, workers, loads
    )
    eval_env = TrackingEnv(None, None, tracking, cfg.seed - 1, envs.task, envs.references)
    agent = Agent(len(envs.obs_names), len(envs.action_names), cfg.hidden, cfg.init_log_std)
    optimizer = torch.optim.Adam(agent.parameters(), lr=cfg.learning_rate, eps=1e-5)
    state = {
        "global_step": 0,
        "iteration": 0,
        "best_error": float("inf"),
        "policy_eval": None,  # iteration, steps, times and score of policy.pt
        "wall_time": 0.0,
        "cpu_time": 0.0,
    }
    session = _Session(
        converted, motions, outdir, tracking, cfg, envs, eval_env, agent,
        RunningNorm(len(envs.obs_names)), optimizer, generator, {**state, "last_eval": None},
    )  # fmt: skip
    if resume:
        session.resume()
    elif init is not None:  # fine-tuning: start from another run's weights and normaliser
        agent.load_state_dict(init["agent"])
        session.norm.load_state_dict(init["obs_norm"])
    return session


def _iterate(s: _Session, raw_obs: np.ndarray, clock) -> tuple[dict, np.ndarray]:
    """One PPO iteration, its evaluation, log row and checkpoints."""
    import time

    from policies.checkpoint import POLICY_FILE, save_checkpoint

    t0, cpu0 = time.time(), time.process_time() + s.envs.worker_cpu_seconds()
    rollout, raw_obs = collect_rollout(s.envs, s.agent, s.norm, raw_obs, s.cfg)
    advantages, returns = compute_gae(s.agent, rollout, s.cfg)
    losses = ppo_update(s.agent, s.optimizer, rollout, advantages, returns, s.cfg, s.generator)
    n = s.cfg.num_envs * s.cfg.num_steps
    s.state["global_step"] += n
    s.state["iteration"] += 1
    speed = n / (time.time() - t0)
    evaluation = None
    fresh = s.state["iteration"] % s.cfg.eval_every == 1 or s.cfg.eval_every == 1
    if fresh:
        evaluation = s.evaluate()
    elif s.state["last_eval"] is not None:
        evaluation = s.state["last_eval"]
    s.state["wall_time"] = clock()
    s.state["cpu_time"] += time.process_time() + s.envs.worker_cpu_seconds() - cpu0
    row = {
        "iteration": s.state["iteration"],
        "global_step": s.state["global_step"],
        "wall_time": s.state["wall_time"],
        "cpu_time": s.state["cpu_time"],
        "steps_per_s": speed,
        **rollout.episode_stats,
        **losses,
        **(evaluation or _NO_EVAL),
    }
    s.state["last_eval"] = _eval_part(row) if evaluation is not None else None
    if fresh:
        score = evaluation["eval_score"]
        s.state["best_error"] = min(s.state["best_error"], score)
        if score <= s.state["best_error"] + s.cfg.keep_within_deg:
            s.state["policy_eval"] = {k: row[k] for k in _POLICY_KEYS}
            save_checkpoint(s.outdir / POLICY_FILE, s.agent, s.norm, s.meta())
    if s.state["iteration"] % s.cfg.checkpoint_every == 0:
        s.save_last()
        _write_card(s, row)
    return row, raw_obs


_NO_EVAL = {
    "eval_tracking_error_deg": float("nan"),
    "eval_falls": -1,
    "eval_fraction_tracked": float("nan"),
    "eval_score": float("nan"),
}


_POLICY_KEYS = ("iteration", "global_step", "wall_time", "cpu_time", "eval_score")


def _eval_part(row: dict) -> dict:
    return {k: row[k] for k in _NO_EVAL}


def train(
    converted,
    trajectories: list,
    motions: list[str],
    outdir,
    tracking=None,
    cfg: PPOConfig | None = None,
    max_steps: int | None = None,
    max_seconds: float | None = None,
    resume: bool = False,
    on_iteration=None,
    init: dict | None = None,
    workers: int = 1,
    loads: list | None = None,
) -> dict:
    """Train a tracking policy into ``outdir``; returns the final card.

    Stops after ``max_steps`` environment steps in total (resumed ones included) or
    ``max_seconds`` of wall time in this call. ``on_iteration(row)`` gets each log row.
    ``init`` (a loaded checkpoint) starts a new run from its weights, for fine-tuning.
    ``workers`` processes step the copies (the results do not depend on how many).
    ``loads`` (one ExternalLoads or None per trajectory) adds measured-GRF reward terms.
    ``policy.pt`` is the latest policy whose deterministic whole-trial tracking came within
    ``keep_within_deg`` of the best so far: among policies that track about equally well, the
    one trained longest on the other reward terms (load share, smoothness, effort), yet never
    one caught in a dip. ``last.pt`` resumes.
    """
    s = _open_session(
        converted, trajectories, motions, outdir, tracking, cfg, resume, init, workers, loads
    )
    try:
        return _run(s, max_steps, max_seconds, on_iteration)
    finally:
        s.envs.close()


def _run(s: _Session, max_steps, max_seconds, on_iteration) -> dict:
    """The training loop of an open session; returns the final card."""
    import time

    raw_obs = s.envs.reset()
    start, wall_start, row = time.time(), s.state["wall_time"], {}

    def clock() -> float:
        return wall_start + time.time() - start

    while not (max_steps is not None and s.state["global_step"] >= max_steps) and not (
        max_seconds is not None and time.time() - start >= max_seconds
    ):
        if s.cfg.anneal_lr:
            done = _budget_used(s.state["global_step"], max_steps, time.time() - start, max_seconds)
            s.optimizer.param_groups[0]["lr"] = s.cfg.learning_rate * max(0.05, 1.0 - done)
        row, raw_obs = _iterate(s, raw_obs, clock)
        _log(s.outdir, row)
        if on_iteration is not None:
            on_iteration(row)
    if row:
        s.save_last()
    return _write_card(s, row)


def _budget_used(
    steps: int, max_steps: int | None, seconds: float, max_seconds: float | None
) -> float:
    """Fraction (0..1) of the step or time budget used, whichever is further along."""
    used = 0.0
    if max_steps:
        used = max(used, steps / max_steps)
    if max_seconds:
        used = max(used, seconds / max_seconds)
    return min(1.0, used)


def _write_card(s: _Session, row: dict) -> dict:
    """``card.json`` of the run so far."""
    from policies.checkpoint import package_versions, write_card

    meta = s.meta()
    card = {
        "model": str(s.converted.osim.path),
        "model_sha256": meta["model_sha256"],
        "coordinates": meta["coordinates"],
        "actuated": meta["action_names"],
        "drive": "torque",
        "training_motions": s.motions,
        "belt_speeds_m_per_s": [ref.belt_speed for ref in s.envs.references],
        "force_plates_used": [ref.grf is not None for ref in s.envs.references],
        "steps": meta["global_step"],
        "iterations": meta["iteration"],
        "wall_time_s": meta["wall_time"],
        "cpu_time_s": meta["cpu_time"],
        "metrics": {
            "best_eval_score_deg": meta["best_error"],
            "policy_checkpoint": meta["policy_eval"],
            **{k: row.get(k) for k in ("tracking_error_deg", "reward", *_NO_EVAL)},
        },
        "tracking_config": meta["tracking_config"],
        "ppo_config": meta["ppo_config"],
        "versions": package_versions(),
    }
    write_card(s.outdir, card)
    return card
