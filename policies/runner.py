"""Roll a policy over a whole reference trial, deterministically: torques, GRF and tracking error."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import torch

from policies.env import TrackingEnv
from policies.ppo import Agent, RunningNorm

__all__ = ["Rollout", "run_policy", "evaluate"]


@dataclass
class Rollout:
    """What the simulation did along a trial, one row per control step (SI units)."""

    time: np.ndarray  # (T,) s from the trial's first resampled frame
    coordinates: np.ndarray  # (T, n_coord) simulated coordinate values, rad or m
    reference: np.ndarray  # (T, n_coord) reference coordinate values, rad or m
    torques: np.ndarray  # (T, n_act) actuator torques, N·m (or N)
    contact_force: np.ndarray  # (T, 3) total floor contact force on the model, N, world frame
    coordinate_names: list[str]
    rotational: list[bool]  # per coordinate: True for angles, False for translations
    action_names: list[str]
    fell: bool

    def rmse(self) -> dict[str, float]:
        """Per-coordinate tracking RMSE: degrees for rotational, centimetres for translational."""
        err = np.sqrt(np.mean((self.coordinates - self.reference) ** 2, axis=0))
        scale = np.where(self.rotational, np.degrees(1.0), 100.0)
        return dict(zip(self.coordinate_names, (err * scale).tolist(), strict=True))


def _floor_force(env: TrackingEnv) -> np.ndarray:
    """Total contact force (N, world frame) that the floor exerts on the model."""
    m, d = env.task.model, env.data
    total, wrench = np.zeros(3), np.zeros(6)
    belt = m.body("kintwin_belt").id
    for i in range(d.ncon):
        c = d.contact[i]
        mujoco.mj_contactForce(m, d, i, wrench)
        force = c.frame.reshape(3, 3).T @ wrench[:3]  # on geom2, from geom1, world frame
        on_model = force if m.geom_bodyid[c.geom1] == belt else -force
        total += on_model
    return total


def run_policy(
    env: TrackingEnv, agent: Agent, norm: RunningNorm, reference: int = 0, start: int = 0
) -> Rollout:
    """Track reference ``reference`` from frame ``start`` to its end with the mean action.

    Stops early if the model falls (the env's termination rule); ``fell`` says so.
    """
    obs = env.reset(reference=reference, frame=start)
    task = env.task
    rows: dict[str, list] = {"q": [], "ref": [], "tau": [], "grf": []}
    fell = False
    while True:
        with torch.no_grad():
            action = agent.actor_mean(torch.from_numpy(norm(obs[None])))[0].numpy()
        obs, _, terminated, truncated, _ = env.step(action)
        rows["q"].append(env.data.qpos[task.coord_qpos].copy())
        rows["ref"].append(env.ref.qpos[env.t][task.coord_qpos])
        rows["tau"].append(env.data.actuator_force.copy())
        rows["grf"].append(_floor_force(env))
        if terminated or truncated:
            fell = bool(terminated)
            break
    n = len(rows["q"])
    return Rollout(
        time=(start + 1 + np.arange(n)) * env.config.control_dt,
        coordinates=np.array(rows["q"]),
        reference=np.array(rows["ref"]),
        torques=np.array(rows["tau"]),
        contact_force=np.array(rows["grf"]),
        coordinate_names=list(task.coordinates),
        rotational=[
            task.model.jnt_type[task.model.joint(c).id] == mujoco.mjtJoint.mjJNT_HINGE
            for c in task.coordinates
        ],
        action_names=env.action_names,
        fell=fell,
    )


def evaluate(env: TrackingEnv, agent: Agent, norm: RunningNorm) -> dict:
    """Deterministic whole-trial tracking metrics over every reference, from its first frame."""
    errors, falls, covered = [], 0, []
    for i, ref in enumerate(env.references):
        roll = run_policy(env, agent, norm, reference=i)
        rot = env.task.rotational
        err = roll.coordinates[:, rot] - roll.reference[:, rot]
        errors.append(float(np.degrees(np.sqrt(np.mean(err**2)))))
        falls += int(roll.fell)
        covered.append(len(roll.time) / max(1, len(ref.qpos) - 1))
    return {
        "eval_tracking_error_deg": float(np.mean(errors)),
        "eval_falls": falls,
        "eval_fraction_tracked": float(np.mean(covered)),
    }
