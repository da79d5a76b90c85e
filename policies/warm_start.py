"""Behaviour-cloning warm start: the actor learns, by regression, the actions that make the PD
actuators produce OpenSim inverse dynamics' joint torques at the reference states.

A torque-drive action ``a`` moves each PD target by ``action_scale * a`` from the reference
(``policies.env``), so MuJoCo's position actuator gives, on coordinate ``i``,
``tau = kp (q_ref(k+1) + kv_ratio qdot_ref(k+1) + action_scale a - q) - kv qdot``. With the body
on its reference over the control period (``q, qdot`` taken at the period's middle, where
the ID torque is read too), the action that gives ID's torque is

    a* = (tau_ID - tau_PD(reference, a = 0)) / (kp * action_scale),  clipped to [-1, 1].

The environment low-pass filters actions (``action_alpha``); the policy's raw action is the one
whose filtered value, from the previous frame's ``a*``, is this frame's ``a*``.

ID is trusted only where the force plates account for the whole body's motion: the measured
total force equals mass x (centre-of-mass acceleration - gravity) within ``max_force_error`` of
body weight. That rejects frames with a foot off the plates, a seat or a hand rail carrying
load, and plates missing from the file.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import torch

from converters.errors import KintwinError
from converters.opensim_io.table import Table

__all__ = [
    "BCConfig",
    "CloningTargets",
    "cloning_targets",
    "trusted_frames",
    "behaviour_clone",
    "mirror_id_table",
]


@dataclass(frozen=True)
class BCConfig:
    """Behaviour-cloning settings."""

    epochs: int = 200  # passes over the frames
    batch: int = 256  # frames per gradient step
    learning_rate: float = 1e-3  # Adam
    max_force_error: float = 0.1  # fraction of body weight (see :func:`trusted_frames`)
    seed: int = 0


@dataclass
class CloningTargets:
    """One reference's frames to clone: row indices, target raw actions, ID torques."""

    reference: int  # index in the environment's references
    frames: np.ndarray  # (n,) reference rows k (the step from k to k+1)
    actions: np.ndarray  # (n, n_act) raw policy actions
    previous: np.ndarray  # (n, n_act) filtered action applied over the step before
    torque: np.ndarray  # (n, n_act) N·m ID torque at the step's middle


def _id_columns(table: Table, names: list[str], source: str) -> np.ndarray:
    """(T, n) generalized-force columns of ``names`` (``<c>_moment`` or ``<c>_force``)."""
    labels = {label: k for k, label in enumerate(table.labels)}
    columns = []
    for name in names:
        k = labels.get(f"{name}_moment", labels.get(f"{name}_force"))
        if k is None:
            raise KintwinError(f"{source}: no inverse-dynamics column for '{name}'")
        columns.append(table.data[:, k])
    return np.column_stack(columns)


def trusted_frames(task, ref, dt: float, max_force_error: float = 0.1) -> np.ndarray:
    """(T,) bool: reference rows (``dt`` s apart) where the measured GRF (``ref.grf``)
    balances the body's centre-of-mass acceleration and gravity within ``max_force_error``
    body weights."""
    if ref.grf is None:
        return np.zeros(len(ref.qpos), dtype=bool)
    m, d = task.model, mujoco.MjData(task.model)
    bodies = np.arange(1, m.nbody)
    bodies = bodies[m.body_rootid[bodies] == m.body_rootid[task.root_body]]  # the human
    mass = m.body_mass[bodies]
    com = []
    for q in ref.qpos:
        d.qpos[: task.nq] = q
        mujoco.mj_kinematics(m, d)
        com.append(mass @ d.xipos[bodies] / mass.sum())
    com = np.array(com)
    acc = np.gradient(np.gradient(com, dt, axis=0), dt, axis=0)
    need = mass.sum() * (acc - m.opt.gravity)
    error = np.linalg.norm(ref.grf.sum(axis=1) - need, axis=1) / task.body_weight
    ok = error < max_force_error
    ok[:2], ok[-2:] = False, False  # second differences at the ends are one-sided
    return ok


def mirror_id_table(table: Table, plan: dict[str, tuple[str, float]]) -> Table:
    """The generalized forces of the mirrored motion (:func:`policies.augment.mirror_plan`):
    each coordinate's is its partner's times the plan's sign (power is unchanged by the
    reflection). Columns of coordinates the plan does not cover are kept."""
    from dataclasses import replace

    index = {label: k for k, label in enumerate(table.labels)}
    data = table.data.copy()
    for coordinate, (partner, sign) in plan.items():
        for suffix in ("_moment", "_force"):
            if coordinate + suffix in index and partner + suffix in index:
                data[:, index[coordinate + suffix]] = sign * table.data[:, index[partner + suffix]]
    return replace(table, data=data)


def cloning_targets(
    env,
    reference: int,
    id_table: Table,
    source: str,
    cfg: BCConfig,
    trusted_from: int | None = None,
):
    """The :class:`CloningTargets` of reference ``reference`` of ``env`` (a torque-drive
    :class:`~policies.env.TrackingEnv`) from an OpenSim ID table of the same trial; the frames
    ID is trusted at come from reference ``trusted_from`` (default: itself; a mirrored copy,
    which has no plates, takes its original's)."""
    task, config = env.task, env.config
    if task.muscle is not None:
        raise KintwinError("behaviour cloning from inverse dynamics needs --drive torque")
    ref = env.references[reference]
    names = [task.coordinates[i] for i in task.actuated]
    tau_table = _id_columns(id_table, names, source)
    n_act = len(names)
    kp = task.model.actuator_gainprm[:n_act, 0]
    kv = -task.model.actuator_biasprm[:n_act, 2]
    qa, va = task.coord_qpos[task.actuated], task.coord_dof[task.actuated]
    q, qd = ref.qpos[:, qa], ref.qvel[:, va]
    dt = config.control_dt
    mid_time = ref.time0 + (np.arange(len(q) - 1) + 0.5) * dt
    inside = (mid_time >= id_table.time[0]) & (mid_time <= id_table.time[-1])
    tau = np.column_stack([np.interp(mid_time, id_table.time, c) for c in tau_table.T])
    centre = q[1:] + config.kv_ratio * qd[1:]
    q_mid, qd_mid = 0.5 * (q[1:] + q[:-1]), 0.5 * (qd[1:] + qd[:-1])
    pd0 = kp * (centre - q_mid) - kv * qd_mid
    if ref.feedforward is not None:  # the model-based moment the target already adds
        pd0 = pd0 + ref.feedforward[1:]
    applied = np.clip((tau - pd0) / (kp * config.action_scale), -1.0, 1.0)
    previous = np.vstack([applied[:1], applied[:-1]])
    raw = np.clip(previous + (applied - previous) / config.action_alpha, -1.0, 1.0)
    source_ref = env.references[reference if trusted_from is None else trusted_from]
    trusted = trusted_frames(task, source_ref, dt, cfg.max_force_error)
    rows = np.flatnonzero(inside & trusted[:-1] & trusted[1:])
    rows = rows[rows > 0]  # the previous frame's action is needed
    trial = ref.trial
    rows = rows[(rows >= trial.start) & (rows < trial.stop - 1)]
    return CloningTargets(reference, rows, raw[rows], previous[rows], tau[rows])


def observations(env, targets: CloningTargets) -> np.ndarray:
    """(n, n_obs) observations at the reference states of ``targets``, the previous frame's
    cloned action as the filtered action."""
    obs = []
    for k, prev in zip(targets.frames, targets.previous, strict=True):
        env.reset(reference=targets.reference, frame=int(k))
        env.prev_action[: len(prev)] = prev
        obs.append(env.observation())
    return np.array(obs)


def behaviour_clone(agent, norm, env, targets: list[CloningTargets], cfg: BCConfig) -> dict:
    """Fit the actor's mean (and fold the frames into the observation normaliser ``norm``) to
    ``targets``; returns the frames used and the mean squared action error before and after.
    Raises KintwinError without a trusted frame."""
    obs = np.concatenate([observations(env, t) for t in targets]) if targets else np.zeros((0, 0))
    if not len(obs):
        raise KintwinError(
            "behaviour cloning: no frame where the force plates balance the body's motion "
            "(give --grf-for for the trials with --bc-id)"
        )
    actions = np.concatenate([t.actions for t in targets])
    # residual root actions (residual_root) are cloned to zero: on the trusted frames the
    # plates balance the body's motion, so the root needs no help
    actions = np.pad(actions, ((0, 0), (0, len(env.action_names) - actions.shape[1])))
    norm.update(obs)
    x = torch.from_numpy(norm(obs))
    y = torch.from_numpy(actions.astype(np.float32))
    generator = torch.Generator().manual_seed(cfg.seed)
    optimizer = torch.optim.Adam(agent.actor_mean.parameters(), lr=cfg.learning_rate)

    def loss_of(idx=slice(None)) -> torch.Tensor:
        return torch.mean((agent.actor_mean(x[idx]) - y[idx]) ** 2)

    with torch.no_grad():
        before = float(loss_of())
    for _ in range(cfg.epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), cfg.batch):
            loss = loss_of(order[start : start + cfg.batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        after = float(loss_of())
    return {
        "frames": int(len(x)),
        "trials": int(len(targets)),
        "loss_before": before,
        "loss_after": after,
        "epochs": cfg.epochs,
    }
