"""References: a trial resampled at the control rate with what the reward and observations need
(root and end-effector paths, stance from kinematics, belt speed, cycle period, force plates),
and the foot-contact calibration on the training motions.

A periodic motion (gait) is padded with ``cycle_padding_s`` of its own cycle before and after
the trial: a simulation started in the padding has settled when the trial begins, and the
trial's last frames are mid-motion, in training as in use (no end where the policy learnt
little, no filter edge inside the trial's outputs)."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from converters.errors import KintwinError
from converters.load_share import double_support_share
from converters.motion import Trajectory
from converters.treadmill import belt_speed, standing
from policies.config import TrackingConfig
from policies.task import TaskModel, build_task_model, foot_centres, foot_clearance

__all__ = [
    "Reference",
    "make_reference",
    "estimate_belt_speed",
    "calibrate_contacts",
    "prepare_motions",
    "align_floors",
    "fit_roots",
    "applied_fits",
    "measured_grf",
    "motion_period",
    "pad_periodic",
    "double_support_share",
]


@dataclass
class Reference:
    """A trajectory resampled at the control rate, with its forward kinematics (world frame).

    Rows ``first`` to ``first + n_trial - 1`` are the trial; rows before and after are the
    periodic padding (none for other motions).
    """

    qpos: np.ndarray  # (T, nq) of the converted model (belt excluded)
    qvel: np.ndarray  # (T, nv)
    root_pos: np.ndarray  # (T, 3) m
    ee_rel: np.ndarray  # (T, n_ee, 3) m, end effectors relative to the root body
    belt_speed: float  # m/s along world +x (OpenSim +x)
    time0: float = 0.0  # s, trial time of row 0 (before the trial's start when padded)
    stance: np.ndarray | None = None  # (T, n_feet) bool: the foot's lowest sphere on the floor
    grf: np.ndarray | None = None  # (T, n_feet, 3) N, measured GRF per foot (world), if given
    load_share: np.ndarray | None = None  # (T, n_feet) prior share of vertical load; NaN: none
    period: int | None = None  # frames of one cycle if the motion is periodic (gait), else None
    first: int = 0  # row of the trial's first frame
    n_trial: int | None = None  # frames of the trial (None: every row)
    seat: np.ndarray | None = None  # (7,) mocap pose of the seat (config.seat), None: no seat
    root_quat: np.ndarray | None = None  # (T, 4) root body orientation (world, w x y z)
    foot_pos: np.ndarray | None = None  # (T, n_feet, 3) m, mean of each foot's spheres (world)
    feedforward: np.ndarray | None = None  # (T, n_act) moments of policies.feedforward

    @property
    def trial(self) -> slice:
        """The rows of the trial itself."""
        n = len(self.qpos) - self.first if self.n_trial is None else self.n_trial
        return slice(self.first, self.first + n)

    @property
    def trial_steps(self) -> int:
        """Control steps from the trial's first frame to its last (rows a full rollout files)."""
        return self.trial.stop - self.trial.start - 1


def _contact_points(task: TaskModel, d: mujoco.MjData) -> np.ndarray:
    """(n_spheres, 3) world positions of the feet's contact spheres."""
    ids = np.concatenate(task.foot_geoms) if task.foot_geoms else np.zeros(0, dtype=int)
    return d.geom_xpos[ids].copy()


def estimate_belt_speed(task: TaskModel, trajectory: Trajectory) -> float:
    """Belt speed (m/s, OpenSim +x) of a treadmill trial, or 0.0 for an overground one
    (:mod:`converters.treadmill`: the lowest contact sphere of each frame stands for the stance
    foot, which on a treadmill slides backwards while the root barely moves)."""
    m, d = task.model, mujoco.MjData(task.model)
    lowest = []
    for qpos in trajectory.qpos:
        d.qpos[: task.nq] = qpos
        mujoco.mj_kinematics(m, d)
        points = _contact_points(task, d)
        lowest.append(points[np.argmin(points[:, 2])] if len(points) else np.zeros(3))
    lowest, time = np.array(lowest), trajectory.time
    if len(time) < 3 or not len(task.horizontal):
        return 0.0
    stance = standing(lowest[:, 2])
    root_x = trajectory.qpos[:, task.coord_qpos[task.horizontal[0]]]
    return belt_speed(np.gradient(lowest[:, 0], time)[stance], root_x, time)


def prepare_motions(
    converted, trajectories: list[Trajectory], config: TrackingConfig
) -> tuple[list[Trajectory], TrackingConfig, list]:
    """The motions and config as a policy trains on them: each motion on the floor
    (``floor_align``: :func:`align_floors`) and fitted to the model's body (:func:`fit_roots`,
    whose fits are returned too), then the feet calibrated to them
    (``calibrate_contacts``, unless the config has its radii already)."""
    if config.floor_align:
        trajectories, _ = align_floors(converted, trajectories, config)
    trajectories, fits = fit_roots(converted, trajectories, config)
    if config.calibrate_contacts and config.contact_radii is None:
        config = calibrate_contacts(converted, trajectories, config)
    return trajectories, config, fits


def fit_roots(
    converted, trajectories: list[Trajectory], config: TrackingConfig
) -> tuple[list[Trajectory], list]:
    """Each trajectory's root path fitted to the model's body and floor where they disagree
    (another subject's or a markerless trial: :func:`policies.root_fit.fit_root_path`), as
    ``kintwin id`` fits a trial it runs, and the fits. A trial made for this model is kept."""
    from policies.root_fit import apply_root_fit, fit_root_path

    task = build_task_model(converted, config)
    fits = [fit_root_path(task, t) for t in trajectories]
    return [apply_root_fit(task, t, f) for t, f in zip(trajectories, fits, strict=True)], fits


def applied_fits(labels: list[str], fits: list) -> dict:
    """``{label: {"scale", "shift_m"}}`` of the :func:`fit_roots` fits that moved a motion."""
    pairs = zip(labels, fits, strict=True)
    return {n: {"scale": f.scale, "shift_m": f.shift_m} for n, f in pairs if f.applied}


def align_floors(
    converted, trajectories: list[Trajectory], config: TrackingConfig
) -> tuple[list[Trajectory], list[float]]:
    """Each trajectory moved vertically so that its feet stand on the floor, measured with the
    converter's own foot spheres (not calibrated radii, which depend on the motions), and each
    shift up (m); :func:`policies.root_fit.align_floor`."""
    from dataclasses import replace

    from policies.root_fit import align_floor

    task = build_task_model(converted, replace(config, contact_radii=None))
    aligned = [align_floor(task, t) for t in trajectories]
    return [t for t, _ in aligned], [shift for _, shift in aligned]


def calibrate_contacts(converted, trajectories: list[Trajectory], config: TrackingConfig):
    """``config`` with ``contact_radii`` set: each foot sphere that the motions push more than
    ``contact_penetration`` into the floor is shrunk about its centre until they do not; with
    ``contact_grow``, each one they never press that deep grows (by at most that much) until
    its lowest point does, so that heel and forefoot carry the flat foot as the kinematics place it.

    ``contact_percentile`` > 0 takes that percentile of the frames' depths instead of the
    deepest, so a few frames of toes in the floor at push-off do not shrink a sphere for all.

    Rigid-toe models (no MTP coordinate) are posed by IK with the toes in the floor at push-off
    (up to 2.6 cm in the Gait10dof18musc walk); in simulation those spheres would carry the
    body, pull the centre of pressure forwards and stop the ankle reaching its reference angle.
    The radii are part of the policy's config, so every trial it tracks uses the same feet.
    """
    from dataclasses import replace

    task = build_task_model(converted, replace(config, contact_radii=None))
    if not task.foot_geoms:  # nothing touches the floor (a fixed-base model)
        return replace(config, contact_radii=())
    m, d = task.model, mujoco.MjData(task.model)
    spheres = np.concatenate(task.foot_geoms)
    bottoms = []
    for trajectory in trajectories:
        for q in trajectory.qpos:
            d.qpos[: task.nq] = q
            mujoco.mj_kinematics(m, d)
            bottoms.append(d.geom_xpos[spheres, 2] - m.geom_size[spheres, 0])
    lowest = np.percentile(np.array(bottoms), config.contact_percentile, axis=0)
    radii = []
    for g, bottom in zip(spheres.tolist(), lowest.tolist(), strict=True):
        radius = float(m.geom_size[g][0])
        depth = task.floor_height - bottom - config.contact_penetration
        if depth > 0:
            radius = float(max(radius - depth, 0.25 * radius))
        elif config.contact_grow > 0:
            radius = float(radius + min(-depth, config.contact_grow))
        radii.append((m.geom(g).name, radius))
    return replace(config, contact_radii=tuple(radii))


def measured_grf(task: TaskModel, loads, grid: np.ndarray) -> np.ndarray:
    """(T, n_feet, 3) N: the force-plate forces of ``loads`` (ExternalLoads) per foot, MuJoCo
    world frame, at the times ``grid``. A force counts for the foot in the same leg as the body
    it is applied to (calcn_r and toes_r both belong to the right foot)."""
    from converters.spatial import OPENSIM_TO_MUJOCO
    from policies.foot_loads import branch_roots

    m = task.model
    branch = branch_roots(m, task.root_body)
    foot_of_branch = {branch[int(m.geom_bodyid[g[0]])]: k for k, g in enumerate(task.foot_geoms)}
    out = np.zeros((len(grid), len(task.foot_geoms), 3))
    for force in loads.forces:
        body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, force.body)
        foot = foot_of_branch.get(branch.get(body, -1))
        if foot is None:
            raise KintwinError(
                f"{loads.data_file}: force '{force.name}' acts on '{force.body}', not on a foot"
            )
        series = np.column_stack([np.interp(grid, loads.time, c) for c in force.force.T])
        out[:, foot] += series @ OPENSIM_TO_MUJOCO.T
    return out


def make_reference(
    task: TaskModel,
    trajectory: Trajectory,
    config: TrackingConfig,
    loads=None,
    feedforward: np.ndarray | None = None,
) -> Reference:
    """Resample ``trajectory`` at the control rate, pad a periodic one with its own cycle
    (``cycle_padding_s``) and compute the root and end-effector paths; ``loads`` (ExternalLoads
    of the same trial) adds the measured GRF per foot, ``feedforward`` (at the trajectory's
    times, :mod:`policies.feedforward`) the model-based moments."""
    time = trajectory.time
    grid = np.arange(time[0], time[-1] + 1e-9, config.control_dt)
    qpos = np.column_stack([np.interp(grid, time, c) for c in trajectory.qpos.T])
    qvel = np.column_stack([np.interp(grid, time, c) for c in trajectory.qvel.T])
    grf = None if loads is None else measured_grf(task, loads, grid)
    if feedforward is not None:
        feedforward = np.column_stack([np.interp(grid, time, c) for c in feedforward.T])
    period = motion_period(qpos[:, task.coord_qpos[task.rotational]], config.control_dt)
    pad = 0
    if period is not None:
        pad = min(round(config.cycle_padding_s / config.control_dt), period)
        drifting = _drifting_qpos(task.model, task.nq)
        qpos = pad_periodic(qpos, period, pad, drifting)
        qvel = pad_periodic(qvel, period, pad, np.zeros(qvel.shape[1], dtype=bool))
        if grf is not None:
            grf = pad_periodic(grf, period, pad, np.zeros(grf.shape[1:], dtype=bool))
        if feedforward is not None:
            still = np.zeros(feedforward.shape[1], dtype=bool)
            feedforward = pad_periodic(feedforward, period, pad, still)
    d = mujoco.MjData(task.model)
    root_pos, root_quat, ee, clearance, feet = [], [], [], [], []
    for q in qpos:
        d.qpos[: task.nq] = q
        mujoco.mj_kinematics(task.model, d)
        root_pos.append(d.xpos[task.root_body].copy())
        root_quat.append(d.xquat[task.root_body].copy())
        ee.append(d.xpos[task.ee_bodies] - d.xpos[task.root_body])
        clearance.append(foot_clearance(task, d))
        feet.append(foot_centres(task, d))
    stance = np.array(clearance).reshape(len(qpos), len(task.foot_geoms)) < config.contact_height
    speed = config.belt_speed
    if speed is None:
        speed = estimate_belt_speed(task, trajectory)
    seat = None
    if config.seat:
        from policies.seat import seat_pose

        trial = slice(pad, pad + len(grid))
        seat = seat_pose(task, qpos, np.array(root_pos), trial, config)
    reference = Reference(
        qpos, qvel, np.array(root_pos), np.array(ee), float(speed),
        float(grid[0] - pad * config.control_dt), stance, grf, double_support_share(stance),
        period, pad, len(grid),
    )  # fmt: skip
    reference.seat = seat
    reference.root_quat = np.array(root_quat)
    reference.foot_pos = np.array(feet).reshape(len(qpos), len(task.foot_geoms), 3)
    reference.feedforward = feedforward
    return reference


def pad_periodic(values: np.ndarray, period: int, pad: int, drifting: np.ndarray) -> np.ndarray:
    """``values`` (T, ...) with ``pad`` rows before and after taken from its first and last
    cycle of ``period`` rows; the ``drifting`` entries (e.g. the pelvis position walking
    overground) are shifted by the change over that cycle so that they join on."""
    if pad <= 0:
        return values
    last = len(values) - 1
    start_drift = np.where(drifting, values[period] - values[0], 0.0)
    end_drift = np.where(drifting, values[last] - values[last - period], 0.0)
    before = values[period - pad : period] - start_drift
    after = values[last - period + 1 : last - period + 1 + pad] + end_drift
    return np.concatenate([before, values, after])


def _drifting_qpos(model: mujoco.MjModel, nq: int) -> np.ndarray:
    """(nq,) bool: the qpos entries that may drift from cycle to cycle: every scalar one
    (hinges, slides), not the quaternions of ball and free joints (copied without drift)."""
    drifting = np.ones(nq, dtype=bool)
    for j in range(model.njnt):
        address = int(model.jnt_qposadr[j])
        if address >= nq:
            continue
        if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
            drifting[address + 3 : address + 7] = False
        elif model.jnt_type[j] == mujoco.mjtJoint.mjJNT_BALL:
            drifting[address : address + 4] = False
    return drifting


def motion_period(angles: np.ndarray, dt: float, similarity: float = 0.9) -> int | None:
    """Frames of the motion's cycle: the lag (0.4-2 s) at which the joint angles best repeat
    themselves, if they do to ``similarity`` (1 - mean squared difference / variance); else None.
    """
    n = len(angles)
    variance = float(np.mean(np.var(angles, axis=0)))
    lags = range(max(2, round(0.4 / dt)), min(round(2.0 / dt), n // 2) + 1)
    if variance <= 0 or not lags:
        return None
    misfit = [np.mean((angles[lag:] - angles[:-lag]) ** 2) / variance for lag in lags]
    best = int(np.argmin(misfit))
    return list(lags)[best] if 1.0 - misfit[best] >= similarity else None
