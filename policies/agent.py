"""What a checkpoint holds to act: the policy/value network and the observation normaliser.

Nothing here knows about training; :mod:`policies.ppo` updates these objects,
:mod:`policies.checkpoint` stores them and :mod:`policies.runner` acts with them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.distributions import Normal

__all__ = ["RunningNorm", "Agent"]


class RunningNorm:
    """Running mean and variance of observations, merged batch by batch (Chan et al.'s parallel
    algorithm), applied as ``(x - mean) / sqrt(var + 1e-8)`` clipped to ±10.

    Starts from mean 0, variance 1 with a weight of ``1e-4`` samples (cleanrl's choice), so the
    first batch dominates at once.
    """

    def __init__(self, size: int) -> None:
        self.mean = np.zeros(size)
        self.var = np.ones(size)
        self.count = 1e-4

    def update(self, x: np.ndarray) -> None:
        """Fold a (batch, size) array into the statistics (population variance)."""
        mean, var, n = x.mean(0), x.var(0), x.shape[0]
        delta, total = mean - self.mean, self.count + n
        self.mean = self.mean + delta * n / total
        m2 = self.var * self.count + var * n + delta**2 * self.count * n / total
        self.var, self.count = m2 / total, total

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``x`` (..., size) normalised, as float32."""
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
    """Gaussian policy (state-independent log std) and value function, two tanh MLPs.

    ``n_obs`` normalised observations in, ``n_act`` actions (nominally in [-1, 1]) out.
    """

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
        """(batch,) state values of (batch, n_obs) normalised observations."""
        return self.critic(obs).squeeze(-1)

    def act(self, obs: torch.Tensor, action: torch.Tensor | None = None):
        """(action, log_prob, entropy, value) for normalised observations ``obs``; samples an
        action from the global torch generator unless ``action`` is given."""
        mean = self.actor_mean(obs)
        dist = Normal(mean, self.actor_logstd.expand_as(mean).exp())
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action).sum(-1), dist.entropy().sum(-1), self.value(obs)
