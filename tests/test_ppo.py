"""PPO's pieces against values worked out by hand: GAE (with terminations and time-limit
truncations), the observation normaliser, the clipped surrogate loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from policies.agent import Agent, RunningNorm
from policies.ppo import PPOConfig, clipped_surrogate_loss, collect_rollout, compute_gae

GAMMA, LAM = 0.9, 0.8  # gamma * lambda = 0.72


def _gae(rewards, values, dones, next_value, next_done=0.0):
    """compute_gae on one copy given as lists."""
    column = lambda x: torch.tensor(x, dtype=torch.float64)[:, None]  # noqa: E731
    adv, ret = compute_gae(
        column(rewards), column(values), column(dones),
        torch.tensor([next_value], dtype=torch.float64),
        torch.tensor([next_done], dtype=torch.float64), GAMMA, LAM,
    )  # fmt: skip
    return adv[:, 0].tolist(), ret[:, 0].tolist()


def test_gae_of_an_unfinished_episode():
    """r = 1, 2, 3; V = 0.5, 1, 1.5; V after the last step 2:
    delta = 1 + 0.9 - 0.5 = 1.4, 2 + 1.35 - 1 = 2.35, 3 + 1.8 - 1.5 = 3.3;
    A2 = 3.3, A1 = 2.35 + 0.72 x 3.3 = 4.726, A0 = 1.4 + 0.72 x 4.726 = 4.80272."""
    adv, ret = _gae([1, 2, 3], [0.5, 1.0, 1.5], [0, 0, 0], 2.0)
    assert adv == pytest.approx([4.80272, 4.726, 3.3], abs=1e-12)
    assert ret == pytest.approx([5.30272, 5.726, 4.8], abs=1e-12)


def test_gae_stops_at_an_episode_end():
    """The episode ends after step 1 (obs 2 starts a new one: dones[2] = 1): step 1 neither
    bootstraps from V2 nor takes A2; delta1 = 2 - 1 = 1, A0 = 1.4 + 0.72 x 1 = 2.12."""
    adv, ret = _gae([1, 2, 3], [0.5, 1.0, 1.5], [0, 0, 1], 2.0)
    assert adv == pytest.approx([2.12, 1.0, 3.3], abs=1e-12)
    assert ret == pytest.approx([2.62, 2.0, 4.8], abs=1e-12)
    # an episode that ends with the last step: no bootstrap from the value after it
    adv, _ = _gae([1, 2, 3], [0.5, 1.0, 1.5], [0, 0, 0], 2.0, next_done=1.0)
    assert adv[2] == pytest.approx(1.5, abs=1e-12)  # 3 - 1.5


class _ScriptedEnvs:
    """Two copies; both end their episode at step 1, copy 0 by the time limit (truncated),
    copy 1 by a fall (terminated); rewards 1, 2, 3 for both."""

    num_envs = 2
    action_names = ["a"]

    def __init__(self) -> None:
        self.t = 0

    def step(self, actions):
        reward = np.full(2, self.t + 1.0, dtype=np.float32)
        ends = self.t == 1
        term, trunc = np.array([False, ends]), np.array([ends, False])
        obs = np.full((2, 3), float(self.t + 1))
        self.t += 1
        return obs, reward, term, trunc, obs + 7.0, np.zeros(2)

    def rollout(self, policy, raw_obs, steps):
        from policies.rollout import run_segment

        return run_segment(self, policy, raw_obs, steps, [0, 1])


def test_gae_after_a_truncation_bootstraps_from_the_final_state():
    """With V = 0.5 everywhere: a truncated step's reward becomes 2 + 0.9 x V(final) = 2.45 and
    the episode still ends there, so A1 = 2.45 - 0.5 = 1.95, A0 = 0.95 + 0.72 x 1.95 = 2.354;
    the fallen copy gets no bootstrap: A1 = 1.5, A0 = 0.95 + 0.72 x 1.5 = 2.03.
    Both: A2 = 3 + 0.9 x 0.5 - 0.5 = 2.95."""
    torch.manual_seed(0)
    agent = Agent(3, 1, hidden=4)
    with torch.no_grad():  # a critic worth 0.5 everywhere
        agent.critic[-1].weight.zero_()
        agent.critic[-1].bias.fill_(0.5)
    cfg = PPOConfig(num_envs=2, num_steps=3, gamma=GAMMA, gae_lambda=LAM)
    exp, _ = collect_rollout(_ScriptedEnvs(), agent, RunningNorm(3), np.zeros((2, 3)), cfg)
    np.testing.assert_allclose(exp.rewards, [[1, 1], [2.45, 2], [3, 3]], atol=1e-6)
    assert exp.dones.tolist() == [[0, 0], [0, 0], [1, 1]] and exp.next_done.tolist() == [0, 0]
    adv, _ = compute_gae(
        exp.rewards, exp.values, exp.dones, torch.full((2,), 0.5), exp.next_done, GAMMA, LAM
    )
    assert adv[:, 0].tolist() == pytest.approx([2.354, 1.95, 2.95], abs=1e-6)
    assert adv[:, 1].tolist() == pytest.approx([2.03, 1.5, 2.95], abs=1e-6)


def _prior_weighted(data: np.ndarray, eps: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) variance of ``data`` pooled with the normaliser's starting prior:
    ``eps`` samples of mean 0 and variance 1."""
    n = len(data)
    mean = data.sum(0) / (n + eps)
    var = (eps * (1.0 + mean**2) + ((data - mean) ** 2).sum(0)) / (n + eps)
    return mean, var


def test_normaliser_statistics_equal_numpy_over_all_batches():
    """Batches of 1, 7 and 500 rows, far from zero: the merged statistics equal those of
    the concatenated data (numpy, with the prior pooled in)."""
    rng = np.random.default_rng(3)
    batches = [rng.normal([1e3, -5.0], [1.0, 0.01], size=(n, 2)) for n in (1, 7, 500)]
    norm = RunningNorm(2)
    for batch in batches:
        norm.update(batch)
    everything = np.concatenate(batches)
    mean, var = _prior_weighted(everything)
    np.testing.assert_allclose(norm.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(norm.var, var, rtol=1e-9)
    assert norm.count == pytest.approx(508 + 1e-4, abs=1e-12)
    # the prior barely moves the mean (rtol eps / n); it adds eps (1 + mean²) / n to the variance
    np.testing.assert_allclose(norm.mean, everything.mean(0), rtol=1e-6)
    np.testing.assert_allclose(norm.var - 1e-4 * (1 + mean**2) / 508, everything.var(0), rtol=1e-5)


def test_normaliser_scales_and_clips():
    norm = RunningNorm(2)
    norm.mean, norm.var = np.array([1.0, -2.0]), np.array([4.0, 0.25])
    x = np.array([[5.0, -2.5], [100.0, -2.0]])
    out = norm(x)
    assert out.dtype == np.float32
    expected = [[4 / np.sqrt(4 + 1e-8), -0.5 / np.sqrt(0.25 + 1e-8)], [10.0, 0.0]]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    copy = RunningNorm(2)
    copy.load_state_dict(norm.state_dict())
    np.testing.assert_array_equal(copy(x), out)


@pytest.mark.parametrize(
    ("ratio", "advantage", "loss", "gradient"),
    [
        (1.1, 2.0, -2.2, -2.0),  # inside the clip range: -A r
        (1.5, 2.0, -2.4, 0.0),  # good action pushed past 1 + eps: capped at -A (1.2)
        (0.5, 2.0, -1.0, -2.0),  # good action made rarer: the unclipped, worse value
        (1.5, -1.0, 1.5, 1.0),  # bad action made likelier: the unclipped, worse value
        (0.5, -1.0, 0.8, 0.0),  # bad action pushed below 1 - eps: capped at -A (0.8)
        (1.0, 0.0, 0.0, 0.0),
    ],
)
def test_clipped_surrogate_loss(ratio, advantage, loss, gradient):
    """max(-A r, -A clip(r, 0.8, 1.2)) and its slope in r, worked out by hand (eps = 0.2)."""
    r = torch.tensor([ratio], dtype=torch.float64, requires_grad=True)
    value = clipped_surrogate_loss(r, torch.tensor([advantage], dtype=torch.float64), 0.2)
    value.backward()
    assert value.item() == pytest.approx(loss, abs=1e-12)
    assert r.grad.item() == pytest.approx(gradient, abs=1e-12)


def test_clipped_surrogate_loss_is_the_batch_mean():
    ratio = torch.tensor([1.1, 1.5, 0.5, 1.5, 0.5])
    advantage = torch.tensor([2.0, 2.0, 2.0, -1.0, -1.0])
    loss = clipped_surrogate_loss(ratio, advantage, 0.2)
    assert loss.item() == pytest.approx((-2.2 - 2.4 - 1.0 + 1.5 + 0.8) / 5, abs=1e-6)
