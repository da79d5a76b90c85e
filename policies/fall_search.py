"""A way through a fall: where a run with the policy's mean action falls, try again from a little
earlier with actions drawn from the policy's own Gaussian, and keep the draw that gets through.

Offline inverse dynamics knows the whole trial, so it can afford to look ahead. The simulation
stays one continuous physical run of the policy (no reset, no external help): the search only
picks, among the actions the trained policy itself deems likely (its mean plus noise of its
trained standard deviation), a sequence that does not fall. This is the sampling idea of SAMCON
(Liu et al. 2010, "Sampling-based contact-rich motion control") with the policy as proposal.

Candidates start at snapshots ``backoffs_s`` before the fall (nearest first) and must run
``margin_s`` past it (or reach the trial's end) without the environment's termination rule
firing. Among the survivors of the first back-off that has any, the one with the lowest mean
tracking cost wins: pose RMS over ``max_pose_error`` plus root position error over
``max_root_error``, the scales at which the environment calls a fall. Draws are seeded by the
fall's row, so a run is deterministic. If no draw gets through, the one that fell furthest
is kept and the search goes on from its fall, so a hard stretch is passed piece by piece.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from policies.env import TrackingEnv

__all__ = ["FallSearch", "Candidate", "find_way_through"]


@dataclass(frozen=True)
class FallSearch:
    """How hard to search where a run falls (see the module docstring)."""

    action_std: np.ndarray  # (n_act,) the policy's trained standard deviation of each action
    noise_scale: float = 1.0  # times action_std
    candidates: int = 8  # draws per back-off
    backoffs_s: tuple[float, ...] = (0.2, 0.5, 1.0, 1.5)
    margin_s: float = 0.3
    max_steps: int = 12000  # control steps all searches of one run may spend
    seed: int = 0


@dataclass
class Candidate:
    """A sequence of actions: from row ``start`` (a state the run passed), add ``noise[k]`` to
    the policy's mean action at the k-th step. ``through``: it ran its whole length (or to the
    trial's end) without a fall, with mean tracking cost ``cost``; else it fell at row
    ``reached``."""

    start: int
    noise: np.ndarray  # (steps, n_act)
    through: bool
    cost: float
    reached: int


def find_way_through(
    env: TrackingEnv,
    mean_action: Callable[[np.ndarray], np.ndarray],
    snapshots: dict[int, dict],
    fall_row: int,
    search: FallSearch,
    budget: int,
) -> tuple[Candidate | None, int]:
    """Search from the ``snapshots`` (row -> ``env.snapshot()`` before that row's step) for
    actions that carry the run past ``fall_row`` (the row whose step fell) by ``margin_s``.

    Returns the best candidate that got through; if none did, the one that fell furthest
    beyond ``fall_row`` (a search from its fall can go on from there); None if no draw got
    past ``fall_row``. Also returns the control steps spent, at most ``budget``. The
    environment is left in an arbitrary state: restore it afterwards.
    """
    dt = env.config.control_dt
    spent = 0
    tried: set[int] = set()
    furthest: Candidate | None = None
    for k, back in enumerate(search.backoffs_s):
        start = max(0, fall_row - round(back / dt))
        start = max((r for r in snapshots if r <= start), default=None)
        if start is None or start in tried:
            continue
        tried.add(start)
        steps = fall_row - start + 1 + round(search.margin_s / dt)
        rng = np.random.default_rng([search.seed, fall_row, k])
        noise = rng.standard_normal((search.candidates, steps, len(search.action_std)))
        noise *= search.noise_scale * search.action_std
        best: Candidate | None = None
        for draw in noise:
            if spent + steps > budget:
                break
            candidate = _try(env, mean_action, snapshots[start], start, draw)
            spent += candidate.reached - start + 1
            if candidate.through:
                if best is None or candidate.cost < best.cost:
                    best = candidate
            elif candidate.reached > max(fall_row, -1 if furthest is None else furthest.reached):
                furthest = candidate
        if best is not None:
            return best, spent
    return furthest, spent


def _try(
    env: TrackingEnv,
    mean_action: Callable[[np.ndarray], np.ndarray],
    snapshot: dict,
    start: int,
    noise: np.ndarray,
) -> Candidate:
    """Run ``noise`` from ``snapshot`` (the state before row ``start``'s step)."""
    cfg = env.config
    env.restore(snapshot)
    obs = env.observation()
    cost = 0.0
    for k, extra in enumerate(noise):
        obs, _, terminated, truncated, info = env.step(mean_action(obs) + extra, reward=False)
        if terminated:
            return Candidate(start, noise[: k + 1], False, np.inf, start + k)
        cost += info["pose_rms"] / cfg.max_pose_error + info["root_error"] / cfg.max_root_error
        if truncated:
            return Candidate(start, noise[: k + 1], True, cost / (k + 1), start + k)
    return Candidate(start, noise, True, cost / len(noise), start + len(noise) - 1)
