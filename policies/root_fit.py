"""Fit a trial's root path to the model that tracks it: the floor, and the body size the
kinematics were made for.

A trial's IK places the pelvis for the body and the floor it was computed with. On another
body (a generic model for a markerless trial, a subject scaled differently) or with a floor
elsewhere (markerless capture without a ground plane), the model's feet float above the floor
or sink into it and its stance feet slide; a policy that tracks such a path falls. Two numbers
fix it, both measured from the kinematics on the model itself:

* ``scale``: the factor on the root translations that keeps the stance feet still. For each
  frame the stance point is the slowest contact sphere within 2 cm of the lowest; ``scale`` is
  the least-squares fit of ``scale * root velocity + (foot velocity relative to the root) = 0``
  over the slower 60 % of frames, iterated. A body whose legs are 10 % shorter than the
  kinematics' body gives 0.9. Trials that barely travel (squats) keep 1.
* ``shift``: the vertical offset that puts the median lowest contact point on the floor.

The fit is applied only when it matters (``scale`` off 1 by more than :data:`SCALE_TOLERANCE`
or the feet off the floor by more than :data:`FLOOR_TOLERANCE`), so a subject's own model and
IK are tracked exactly as given. Training scales the root path of a random body the same way
(``body_randomization.rescale_trajectory``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import mujoco
import numpy as np

from converters.motion import Trajectory
from policies.task import TaskModel

__all__ = ["RootFit", "fit_root_path", "apply_root_fit", "floor_offset", "align_floor"]

SCALE_TOLERANCE = 0.03  # fraction: a smaller scale error is left alone
FLOOR_TOLERANCE = 0.03  # m: feet this close to the floor (median) are left alone
MIN_TRAVEL = 0.3  # m of horizontal root travel below which the scale is not fitted
NEAR_LOWEST = 0.02  # m: stance candidates are the spheres this close to the frame's lowest
STANCE_FRACTION = 60.0  # percentile of frames (slowest stance points) used in the fit


@dataclass(frozen=True)
class RootFit:
    """The root path's fit: translations times ``scale`` then ``shift_m`` up; ``applied``
    says whether the trial is tracked with it."""

    scale: float
    shift_m: float
    floor_offset_m: float  # median lowest contact point above the floor, as given
    stance_slip_m_per_s: float  # median stance-point speed, as given
    applied: bool
    fitted_slip_m_per_s: float = 0.0  # median stance-point speed, as tracked (after the fit)

    def as_json(self) -> dict:
        return dataclasses.asdict(self)


def _root_slides(task: TaskModel) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """qpos indices, qvel indices, world axes (rows) and names of the root's slide joints."""
    m = task.model
    d = mujoco.MjData(m)
    mujoco.mj_kinematics(m, d)
    joints = [
        j
        for j in range(m.njnt)
        if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_SLIDE and m.jnt_bodyid[j] == task.root_body
    ]
    qpos = np.array([m.jnt_qposadr[j] for j in joints], dtype=int)
    dofs = np.array([m.jnt_dofadr[j] for j in joints], dtype=int)
    axes = np.array([d.xaxis[j] for j in joints]).reshape(-1, 3)
    return qpos, dofs, axes, [m.joint(j).name for j in joints]


def _foot_paths(task: TaskModel, trajectory: Trajectory, qpos_idx, axes):
    """Root translation (T, 3), contact sphere centres relative to it (T, S, 3) and sphere
    bottoms above the floor (T, S), world frame, m."""
    m, d = task.model, mujoco.MjData(task.model)
    spheres = np.concatenate(task.foot_geoms)
    radii = m.geom_size[spheres, 0]
    root, rel, bottom = [], [], []
    for q in trajectory.qpos:
        d.qpos[: task.nq] = q
        mujoco.mj_kinematics(m, d)
        p = axes.T @ q[qpos_idx]
        centres = d.geom_xpos[spheres]
        root.append(p)
        rel.append(centres - p)
        bottom.append(centres[:, 2] - radii - task.floor_height)
    return np.array(root), np.array(rel), np.array(bottom)


def fit_root_path(task: TaskModel, trajectory: Trajectory, belt_speed: float = 0.0) -> RootFit:
    """Measure how the trial's root path must be scaled and shifted for ``task``'s body; the
    stance feet's slip is measured over a treadmill's belt (``belt_speed``, m/s along +x)."""
    qpos_idx, _, axes, _ = _root_slides(task)
    if not task.foot_geoms or len(qpos_idx) == 0 or len(trajectory.time) < 5:
        return RootFit(1.0, 0.0, 0.0, 0.0, applied=False)
    root, rel, bottom = _foot_paths(task, trajectory, qpos_idx, axes)
    dt = np.diff(trajectory.time)[:, None]
    root_v = ((root[2:] - root[:-2]) / (dt[1:] + dt[:-1]))[:, :2]
    rel_v = ((rel[2:] - rel[:-2]) / (dt[1:] + dt[:-1])[:, None])[:, :, :2]
    low = bottom[1:-1]
    candidate = low <= low.min(axis=1, keepdims=True) + NEAR_LOWEST
    travel = float(np.linalg.norm(root[-1, :2] - root[0, :2]))
    scale = 1.0
    for _ in range(4 if travel >= MIN_TRAVEL else 0):  # a trial that stays put: no fit
        speed = np.linalg.norm(scale * root_v[:, None, :] + rel_v, axis=2)
        speed[~candidate] = np.inf
        stance = np.argmin(speed, axis=1)
        slowest = speed[np.arange(len(stance)), stance]
        used = slowest <= np.percentile(slowest, STANCE_FRACTION)
        a = root_v[used]
        b = rel_v[np.arange(len(stance)), stance][used]
        denominator = float(np.sum(a * a))
        if denominator <= 0.0:
            break
        scale = float(-np.sum(a * b) / denominator)
    belt = np.array([belt_speed, 0.0])

    def slip(factor: float) -> float:  # median stance-point speed with the root path scaled
        speed = np.linalg.norm(factor * root_v[:, None, :] + rel_v - belt, axis=2)
        speed[~candidate] = np.inf
        return float(np.median(speed.min(axis=1)))

    floor_offset = _median_lowest(bottom)
    # after scaling, the root (and the feet with it) moves up by (scale - 1) * its height
    scaled_lowest = bottom + (scale - 1.0) * root[:, 2:3]
    shift = -_median_lowest(scaled_lowest)
    applied = abs(scale - 1.0) > SCALE_TOLERANCE or abs(floor_offset) > FLOOR_TOLERANCE
    return RootFit(
        scale=scale if applied else 1.0,
        shift_m=shift if applied else 0.0,
        floor_offset_m=floor_offset,
        stance_slip_m_per_s=slip(1.0),
        applied=applied,
        fitted_slip_m_per_s=slip(scale if applied else 1.0),
    )


def floor_offset(task: TaskModel, trajectory: Trajectory) -> float:
    """How far (m) the trial's feet stand above ``task``'s floor: the median over frames of the
    lowest contact point (negative: in the floor)."""
    qpos_idx, _, axes, _ = _root_slides(task)
    if not task.foot_geoms or len(qpos_idx) == 0:
        return 0.0
    return _median_lowest(_foot_paths(task, trajectory, qpos_idx, axes)[2])


def _median_lowest(bottom: np.ndarray) -> float:
    """The median over frames of the lowest of (T, n) contact-point heights."""
    return float(np.median(bottom.min(axis=1)))


def align_floor(task: TaskModel, trajectory: Trajectory) -> tuple[Trajectory, float]:
    """``trajectory`` moved vertically so that its feet stand on ``task``'s floor (its
    :func:`floor_offset` made 0), and the shift up, m. IK puts each trial's feet at its own
    height (subject 4's walks 2 cm, its sit-to-stands 3-5 cm into the floor), so feet fitted to
    all trials at once fit none (``TrackingConfig.floor_align``)."""
    offset = floor_offset(task, trajectory)
    fit = RootFit(1.0, -offset, offset, 0.0, applied=offset != 0.0)
    return apply_root_fit(task, trajectory, fit), -offset


def apply_root_fit(task: TaskModel, trajectory: Trajectory, fit: RootFit) -> Trajectory:
    """``trajectory`` with its root translations times ``fit.scale`` and ``fit.shift_m`` up
    (unchanged when the fit is not applied)."""
    if not fit.applied:
        return trajectory
    qpos_idx, dofs, axes, names = _root_slides(task)
    qpos, qvel, qacc = (trajectory.qpos.copy(), trajectory.qvel.copy(), trajectory.qacc.copy())
    qpos[:, qpos_idx] *= fit.scale
    qvel[:, dofs] *= fit.scale
    qacc[:, dofs] *= fit.scale
    # the shift up, in the slide joints' coordinates (their axes may be any rotation of world)
    qpos[:, qpos_idx] += np.linalg.lstsq(axes.T, np.array([0.0, 0.0, fit.shift_m]), rcond=None)[0]
    coordinates = dict(trajectory.coordinates)
    for name, column in zip(names, qpos_idx.tolist(), strict=True):
        if name in coordinates:
            coordinates[name] = qpos[:, column].copy()
    return dataclasses.replace(trajectory, qpos=qpos, qvel=qvel, qacc=qacc, coordinates=coordinates)
