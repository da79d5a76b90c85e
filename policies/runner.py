"""Roll a policy over a whole reference trial, deterministically: torques, GRF and tracking error."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from policies.env import TrackingEnv
from policies.foot_loads import FootGroup, FootLoadRecorder
from policies.inference import MeanActor, ObservationNorm

if TYPE_CHECKING:
    from policies.agent import Agent, RunningNorm

__all__ = ["Rollout", "run_policy", "evaluate", "trial_span"]


@dataclass
class Rollout:
    """What the simulation did along a trial (SI units, MuJoCo world frame: z up).

    Row k of the state arrays is the state after control step k; the force arrays are the means
    over that control period, so they belong half a period earlier (``force_time``).
    """

    time: np.ndarray  # (T,) s, trial time of each state row
    qpos: np.ndarray  # (T, nq) simulated positions of the converted model (belt excluded)
    coordinates: np.ndarray  # (T, n_coord) simulated independent coordinates, rad or m
    reference: np.ndarray  # (T, n_coord) reference coordinate values, rad or m
    torques: np.ndarray  # (T, n_act) mean actuator forces, N·m (or N)
    foot_force: np.ndarray  # (T, n_feet, 3) N, floor on foot
    foot_moment: np.ndarray  # (T, n_feet, 3) N·m, that force's moment about the world origin
    coordinate_names: list[str]
    rotational: list[bool]  # per coordinate: True for angles, False for translations
    action_names: list[str]
    feet: list[FootGroup] = field(default_factory=list)
    floor_height: float = 0.0  # m, world height of the floor surface
    control_dt: float = 0.01
    fell: bool = False

    @property
    def force_time(self) -> np.ndarray:
        """(T,) s, the middle of each control period."""
        return self.time - 0.5 * self.control_dt

    def rows_within(self, span: tuple[float, float]) -> np.ndarray:
        """(T,) bool: the rows of a trial spanning ``span`` (s): the states after its first
        frame to its last, whose periods lie inside it (as a rollout from its first frame)."""
        return (self.time > span[0] + 1e-9) & (self.time <= span[1] + 1e-9)

    def take(self, rows: np.ndarray) -> Rollout:
        """The rollout restricted to ``rows`` (a bool mask or indices)."""
        per_row = (
            "time",
            "qpos",
            "coordinates",
            "reference",
            "torques",
            "foot_force",
            "foot_moment",
        )
        return replace(self, **{name: getattr(self, name)[rows] for name in per_row})

    def rmse(self) -> dict[str, float]:
        """Per-coordinate tracking RMSE: degrees for rotational, centimetres for translational."""
        err = np.sqrt(np.mean((self.coordinates - self.reference) ** 2, axis=0))
        scale = np.where(self.rotational, np.degrees(1.0), 100.0)
        return dict(zip(self.coordinate_names, (err * scale).tolist(), strict=True))


def run_policy(
    env: TrackingEnv,
    agent: Agent | MeanActor,
    norm: RunningNorm | ObservationNorm,
    reference: int = 0,
    start: int = 0,
    loads: bool = True,
) -> Rollout:
    """Track reference ``reference`` from row ``start`` to its end (periodic padding included)
    with the mean action (of a torch ``Agent``, or a numpy ``MeanActor`` that needs no torch).

    Stops early if the model falls (the env's termination rule); ``fell`` says so. Without
    ``loads`` the foot arrays are empty (faster, for evaluation during training).
    """
    obs = _warm_start(env, agent, norm, env.reset(reference=reference, frame=start))
    task = env.task
    recorder = FootLoadRecorder(task.foot_of_geom, len(task.foot_geoms))
    env.contact_recorder = recorder if loads else None
    rows: dict[str, list] = {k: [] for k in ("qpos", "q", "ref", "tau", "wrench")}
    fell = False
    try:
        while True:
            obs, _, terminated, truncated, _ = env.step(
                _mean_action(agent, norm, obs), reward=False
            )
            wrench = recorder.take()
            rows["qpos"].append(env.data.qpos[: task.nq].copy())
            rows["q"].append(env.data.qpos[task.coord_qpos].copy())
            rows["ref"].append(env.ref.qpos[env.t][task.coord_qpos])
            rows["tau"].append(env.mean_force.copy())
            rows["wrench"].append(wrench if loads else wrench[:0])
            if terminated or truncated:
                fell = bool(terminated)
                break
    finally:
        env.contact_recorder = None
    n, dt = len(rows["q"]), env.config.control_dt
    n_feet = len(task.feet) if loads else 0
    wrenches = np.array(rows["wrench"]).reshape(n, n_feet, 6)
    return Rollout(
        time=env.ref.time0 + (start + 1 + np.arange(n)) * dt,
        qpos=np.array(rows["qpos"]),
        coordinates=np.array(rows["q"]),
        reference=np.array(rows["ref"]),
        torques=np.array(rows["tau"]),
        foot_force=wrenches[:, :, :3],
        foot_moment=wrenches[:, :, 3:],
        coordinate_names=list(task.coordinates),
        rotational=[
            task.model.jnt_type[task.model.joint(c).id] == mujoco.mjtJoint.mjJNT_HINGE
            for c in task.coordinates
        ],
        action_names=env.action_names,
        feet=list(task.feet) if loads else [],
        floor_height=task.floor_height,
        control_dt=dt,
        fell=fell,
    )


def _mean_action(
    agent: Agent | MeanActor, norm: RunningNorm | ObservationNorm, obs: np.ndarray
) -> np.ndarray:
    """The policy's deterministic (mean) action for one observation."""
    if isinstance(agent, MeanActor):
        return agent(norm(obs[None]))[0]
    import torch

    with torch.no_grad():
        return agent.actor_mean(torch.from_numpy(norm(obs[None])))[0].numpy()


def _warm_start(
    env: TrackingEnv,
    agent: Agent | MeanActor,
    norm: RunningNorm | ObservationNorm,
    obs: np.ndarray,
) -> np.ndarray:
    """Start the action filter at the policy's own action for the first state (a fixed point of
    a few iterations), as if it had been tracking already, instead of at zero."""
    for _ in range(5):
        env.prev_action[:] = np.clip(_mean_action(agent, norm, obs), -1.0, 1.0)
        obs = env.observation()
    return obs


def trial_span(env: TrackingEnv, reference: int = 0) -> tuple[float, float]:
    """Trial time (s) of the first and last frame of reference ``reference`` (padding excluded)."""
    ref, dt = env.references[reference], env.config.control_dt
    rows = ref.trial
    return ref.time0 + rows.start * dt, ref.time0 + (rows.stop - 1) * dt


def evaluate(env: TrackingEnv, agent: Agent, norm: RunningNorm) -> dict:
    """Deterministic tracking metrics over every reference's trial, each tracked from the start
    of its padding (the trial's first frame when it has none)."""
    errors, falls, covered = [], 0, []
    for i, ref in enumerate(env.references):
        roll = run_policy(env, agent, norm, reference=i, loads=False)
        roll = roll.take(roll.rows_within(trial_span(env, i)))
        rot = env.task.rotational
        err = roll.coordinates[:, rot] - roll.reference[:, rot]
        # a fall in the padding before the trial leaves no rows: count it as the worst error
        errors.append(float(np.degrees(np.sqrt(np.mean(err**2)))) if len(err) else 180.0)
        falls += int(len(roll.time) < ref.trial_steps)
        covered.append(len(roll.time) / max(1, ref.trial_steps))
    return {
        "eval_tracking_error_deg": float(np.mean(errors)),
        "eval_falls": falls,
        "eval_fraction_tracked": float(np.mean(covered)),
    }
