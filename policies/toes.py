"""Toes that bend, for kinematics that hold the toe joints still.

OpenCap's IK (LaiUhlrich2022) holds ``mtp_angle_r/l`` at 0, so as the heel rises at push-off the
rigid foot's toe contact spheres go below the level the foot stood at: 2.3-3.8 cm on subject 4's
walks. A simulated body cannot follow that. Its toes meet the floor and either lift the body or
stop the foot's roll, and its pelvis height and vertical GRF part from the trial's.
:func:`complete_toes` gives such a trial toes that bend. At each frame it finds the smallest toe
extension (within the coordinate's range) that keeps the toe spheres at or above the foot's
stance level. That level is the median height of the foot's lowest sphere over the
``LEVEL_SHARE`` of frames where it is lowest, which is where the foot stands.

A toe joint is a hinge whose body and whose parent body (calcaneus and toes) both carry contact
spheres, driven by an independent coordinate. Only a toe coordinate the trial holds still
(absent, or constant within ``STILL_RAD``) is completed: measured toe motion is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import mujoco
import numpy as np

from converters.motion import CoordinateSeries

__all__ = ["ToeJoint", "toe_joints", "complete_toes", "LEVEL_SHARE", "STILL_RAD"]

LEVEL_SHARE = 0.4  # of frames: the foot's lowest ones, whose median height is its stance level
STILL_RAD = 1e-6  # a coordinate that varies less than this over the trial is held still
_BISECTIONS = 25  # halvings of the coordinate's range: ~1e-7 rad


@dataclass(frozen=True)
class ToeJoint:
    """A toe hinge and the contact spheres of its foot."""

    coordinate: str
    qpos: int  # its MuJoCo qpos index
    toe_spheres: np.ndarray  # geoms on the toes body
    foot_spheres: np.ndarray  # geoms on the toes body and its parent (heel, forefoot, toes)
    range: tuple[float, float]  # rad


def _contact_spheres(model: mujoco.MjModel) -> np.ndarray:
    colliding = (model.geom_contype != 0) | (model.geom_conaffinity != 0)
    return np.flatnonzero(colliding & (model.geom_type == mujoco.mjtGeom.mjGEOM_SPHERE))


def toe_joints(converted) -> list[ToeJoint]:
    """The model's toe hinges (see the module's docstring); empty if it has none."""
    m, kinematics = converted.mj_model, converted.kinematics
    spheres = _contact_spheres(m)
    sphere_body = m.geom_bodyid[spheres]
    slots: dict[str, list] = {}
    for slot in kinematics.slots:
        slots.setdefault(slot.coordinate, []).append(slot)
    joints = []
    for name in kinematics.independent_coordinates:
        if len(slots.get(name, [])) != 1 or slots[name][0].kind != "hinge":
            continue
        slot = slots[name][0]
        if slot.function is not None:
            continue
        joint = m.joint(slot.name)
        body = int(joint.bodyid[0])
        parent = int(m.body_parentid[body])
        on_toes, on_parent = spheres[sphere_body == body], spheres[sphere_body == parent]
        if not len(on_toes) or not len(on_parent):
            continue
        low, high = m.jnt_range[joint.id] if m.jnt_limited[joint.id] else (-np.pi / 2, np.pi / 2)
        joints.append(
            ToeJoint(
                name, int(joint.qposadr[0]), on_toes,
                np.concatenate([on_parent, on_toes]), (float(low), float(high)),
            )
        )  # fmt: skip
    return joints


def _held_still(series: CoordinateSeries, name: str) -> bool:
    values = series.values.get(name)
    return values is None or float(np.ptp(values)) < STILL_RAD


def complete_toes(series: CoordinateSeries, converted) -> tuple[CoordinateSeries, dict[str, float]]:
    """``series`` with each toe coordinate it holds still bent where the held toes would go
    below the foot's stance level, and the largest bend of each coordinate it bent (degrees).
    Frames whose toes stay above the level keep the held value."""
    from converters.motion import make_trajectory

    joints = [j for j in toe_joints(converted) if _held_still(series, j.coordinate)]
    if not joints:
        return series, {}
    m = converted.mj_model
    data = mujoco.MjData(m)
    qpos = make_trajectory(series, converted.kinematics, m.nq, m.nv).qpos

    def bottoms(q: np.ndarray) -> np.ndarray:
        """Every geom's lowest height in pose ``q`` (a sphere's; others are not used)."""
        data.qpos[:] = q
        mujoco.mj_kinematics(m, data)
        return data.geom_xpos[:, 2] - m.geom_size[:, 0]

    heights = np.array([bottoms(q) for q in qpos])  # (frames, geoms)
    values, bends = dict(series.values), {}
    for joint in joints:
        lowest = np.sort(heights[:, joint.foot_spheres].min(axis=1))
        level = float(np.median(lowest[: max(1, int(LEVEL_SHARE * len(lowest)))]))
        angles = qpos[:, joint.qpos].copy()
        for i in np.flatnonzero(heights[:, joint.toe_spheres].min(axis=1) < level):
            angles[i] = _bend(qpos[i].copy(), joint, level, bottoms)
        bend = float(np.degrees(np.max(np.abs(angles - qpos[:, joint.qpos]))))
        if bend > 0.0:  # toes that stay above the level all along are the trial's own
            values[joint.coordinate], bends[joint.coordinate] = angles, bend
    missing = [c for c in series.missing if c not in values]
    return replace(series, values=values, missing=missing), bends


def _bend(q: np.ndarray, joint: ToeJoint, level: float, bottoms) -> float:
    """The toe angle nearest the held one that lifts ``joint``'s toe spheres, below ``level``
    in pose ``q``, to ``level`` (the range's end if none does)."""

    def toes(angle: float) -> float:
        q[joint.qpos] = angle
        return float(bottoms(q)[joint.toe_spheres].min())

    held = float(q[joint.qpos])
    lowest = {end: toes(end) for end in joint.range}  # the end of the range that lifts the toes
    end = max(lowest, key=lowest.get)
    if lowest[end] < level:
        return end
    near, far = held, end
    for _ in range(_BISECTIONS):
        middle = 0.5 * (near + far)
        if toes(middle) >= level:
            far = middle
        else:
            near = middle
    return far
