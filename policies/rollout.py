"""Training's experience, gathered where the copies step: a frozen copy of the policy samples
the actions next to the simulation, so a worker runs a whole rollout without waiting for the
trainer at every step.

Stepping the copies in worker processes but choosing every step's actions in the trainer makes
each step a barrier: the workers idle while the trainer runs the network, and the quicker
worker idles while the slower one finishes (a reset onto a new random body costs 35-70 ms).
On subject 4's seven trials two workers gave 1.3 times one worker's steps per second. Here each
worker gets the actor's weights and the observation statistics once per iteration
(:class:`SamplingPolicy`: numpy, the inference classes `kintwin id` runs) and returns its
:class:`Segment`.

Two things follow. The observation statistics are those of the iteration's start; the trainer
folds the rollout's observations in afterwards, step by step as before, for the next one. And
each copy draws its action noise from its own generator, seeded by the training seed, the
iteration and the copy's seed, so the experience does not depend on how the copies are shared
among workers, and a resumed run draws what the uninterrupted one would have.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from policies.inference import MeanActor, ObservationNorm

__all__ = ["SamplingPolicy", "Segment", "run_segment"]

NOISE_TAG = 0x5EED  # keeps the action noise's streams apart from the copies' own generators


@dataclass(frozen=True)
class SamplingPolicy:
    """The actor's mean (:class:`~policies.inference.MeanActor`), its state-independent
    ``log_std`` and the observation normaliser (:class:`~policies.inference.ObservationNorm`),
    frozen for one iteration, with what seeds the noise."""

    actor: MeanActor
    log_std: np.ndarray  # (n_act,)
    norm: ObservationNorm
    seed: int
    iteration: int

    def mean_action(self, obs: np.ndarray) -> np.ndarray:
        """(batch, n_act) actor means of normalised observations ``obs``, row by row: a
        matrix product's rounding depends on how many rows it has, and a copy's actions must
        not depend on how many copies its worker steps."""
        return np.concatenate([self.actor(row[None]) for row in obs])

    def noise_generators(self, copy_seeds: list[int]) -> list[np.random.Generator]:
        """One generator per copy for this iteration's action noise."""
        return [
            np.random.default_rng([NOISE_TAG, self.seed, self.iteration, s]) for s in copy_seeds
        ]


@dataclass
class Segment:
    """``steps`` steps of ``n`` copies: what each step saw, did and got."""

    raw_obs: np.ndarray  # (steps, n, n_obs) observation each action was chosen on, unnormalised
    actions: np.ndarray  # (steps, n, n_act) float32
    rewards: np.ndarray  # (steps, n) float32
    terminated: np.ndarray  # (steps, n) bool: a fall ended the episode
    truncated: np.ndarray  # (steps, n) bool: its time ran out
    final_obs: np.ndarray  # (steps, n, n_obs) float32 observation an episode ended with
    errors: np.ndarray  # (steps, n) tracking error, degrees
    last_obs: np.ndarray  # (n, n_obs) the copies' observations after the last step

    @staticmethod
    def concatenate(parts: list[Segment]) -> Segment:
        """The segments of consecutive blocks of copies as one (copies in order)."""
        values = {}
        for f in fields(Segment):
            axis = 0 if f.name == "last_obs" else 1
            values[f.name] = np.concatenate([getattr(p, f.name) for p in parts], axis=axis)
        return Segment(**values)


def run_segment(
    envs, policy: SamplingPolicy, raw_obs: np.ndarray, steps: int, copy_seeds: list[int]
) -> Segment:
    """Step ``envs`` (a vector of copies with ``step``, as :class:`policies.env.VectorEnv`)
    ``steps`` times from observations ``raw_obs``, each action drawn from ``policy``'s Gaussian
    with the noise of the copy's generator (``copy_seeds``, one per copy)."""
    n, n_obs = raw_obs.shape
    n_act = len(policy.log_std)
    generators = policy.noise_generators(copy_seeds)
    std = np.exp(policy.log_std)
    out = Segment(
        raw_obs=np.zeros((steps, n, n_obs)),
        actions=np.zeros((steps, n, n_act), dtype=np.float32),
        rewards=np.zeros((steps, n), dtype=np.float32),
        terminated=np.zeros((steps, n), dtype=bool),
        truncated=np.zeros((steps, n), dtype=bool),
        final_obs=np.zeros((steps, n, n_obs), dtype=np.float32),
        errors=np.zeros((steps, n)),
        last_obs=raw_obs,
    )
    for step in range(steps):
        noise = np.stack([g.standard_normal(n_act) for g in generators])
        action = (policy.mean_action(policy.norm(raw_obs)) + std * noise).astype(np.float32)
        out.raw_obs[step], out.actions[step] = raw_obs, action
        raw_obs, reward, term, trunc, final_obs, error = envs.step(action)
        out.rewards[step], out.terminated[step], out.truncated[step] = reward, term, trunc
        out.final_obs[step], out.errors[step] = final_obs, error
    out.last_obs = raw_obs
    return out
