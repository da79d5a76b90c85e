"""A seat for sit-to-stand trials: a box under the thighs where the kinematics show the subject
sitting, absent from trials that never sit.

With ``TrackingConfig.seat`` the task model gets a mocap body ``kintwin_seat`` holding a box,
and each thigh (the leg's first body below the root) a capsule from the hip towards the knee
that touches only that box (collision bit 4: not the floor, not the feet, so the feet's ground
reactions stay theirs). A reference is seated at its start (or end) when the root is low (below
``SEATED_HEIGHT`` of its highest in the trial) and still (moving less than ``STILL_M`` over
``STILL_S``; :func:`converters.contact_solve.seated_frame`); the seat's top is then the thighs' lowest surface point at that pose, minus the
``touch_down`` the feet get. Each reset puts the mocap box where the reference's seat is, or
``PARKED_Z`` below the floor for a reference without one.
"""

from __future__ import annotations

import mujoco
import numpy as np

from converters.contact_solve import seated_frame

__all__ = ["SEAT_BODY", "add_seat", "seat_pose", "place_seat", "thigh_geoms", "PARKED"]

SEAT_BODY = "kintwin_seat"
THIGH_GEOM = "kintwin_thigh_"
SEAT_BIT = 4  # collision bit only the seat and the thigh capsules share
SEAT_HALF = (0.25, 0.15)  # m: half width of the seat, half height of the box
PARKED = np.array([0.0, 0.0, -10.0, 1.0, 0.0, 0.0, 0.0])  # pose of a seat that is not there


def _thighs(model: mujoco.MjModel, root_body: int) -> list[tuple[int, int]]:
    """(thigh, shank) body pairs: for each foot-contact sphere, the chain below the root."""
    pairs = []
    for g in range(model.ngeom):
        if model.geom_type[g] != mujoco.mjtGeom.mjGEOM_SPHERE or not model.geom_contype[g] & 1:
            continue
        chain = [int(model.geom_bodyid[g])]
        while chain[-1] and model.body_parentid[chain[-1]] != root_body:
            chain.append(int(model.body_parentid[chain[-1]]))
        if chain[-1] and len(chain) >= 2 and (chain[-1], chain[-2]) not in pairs:
            pairs.append((chain[-1], chain[-2]))
    return pairs


def add_seat(spec: mujoco.MjSpec, converted, root_body_name: str, friction: float = 1.0) -> None:
    """Add the parked seat box and the thigh capsules to ``spec`` (of ``converted``), sliding
    on each other with ``friction``."""
    m = converted.mj_model
    d = mujoco.MjData(m)
    mujoco.mj_kinematics(m, d)
    reach = 0.0
    for thigh, shank in _thighs(m, m.body(root_body_name).id):
        rotation = d.xmat[thigh].reshape(3, 3)
        knee = rotation.T @ (d.xpos[shank] - d.xpos[thigh])
        length = float(np.linalg.norm(knee))
        geom = spec.body(m.body(thigh).name).add_geom(
            name=f"{THIGH_GEOM}{m.body(thigh).name}", type=mujoco.mjtGeom.mjGEOM_CAPSULE
        )
        geom.fromto = [0.0, 0.0, 0.0, *(0.8 * knee)]
        geom.size = [0.17 * length, 0.0, 0.0]
        geom.contype, geom.conaffinity, geom.mass, geom.group = 0, SEAT_BIT, 0.0, 3
        geom.friction[0] = friction
        reach = max(reach, 0.85 * length)  # past the capsule's end (0.8 of the thigh)
    seat = spec.worldbody.add_body(name=SEAT_BODY, mocap=True, pos=PARKED[:3])
    box = seat.add_geom(name=SEAT_BODY, type=mujoco.mjtGeom.mjGEOM_BOX)
    box.size = [0.5 * (reach + 0.15), SEAT_HALF[0], SEAT_HALF[1]]
    box.contype, box.conaffinity = SEAT_BIT, 0
    box.friction[0] = friction  # a contact takes the larger of its two geoms' frictions


def thigh_geoms(model: mujoco.MjModel) -> np.ndarray:
    """Indices of the thigh capsules."""
    return np.array(
        [g for g in range(model.ngeom) if model.geom(g).name.startswith(THIGH_GEOM)], dtype=int
    )


def _seated_frame(root_z: np.ndarray, trial: slice, dt: float) -> int | None:
    """The trial's first (else last) frame if the root is low and still there, else None."""
    frame = seated_frame(root_z[trial], dt)
    return None if frame is None else trial.start + frame


def seat_pose(task, qpos: np.ndarray, root_pos: np.ndarray, trial: slice, config):
    """(7,) mocap position and quaternion of the seat for a reference (rows ``qpos``, root
    positions ``root_pos`` in MuJoCo's world, z up; ``config`` a TrackingConfig), or None when
    it is never seated.

    A reset moves the body vertically until its lowest stance foot is ``touch_down`` into the
    floor (``policies.env``); the seat's top is placed so that the thighs then sink as deep
    into it: ``touch_down`` below the thighs' lowest point, less the stance feet's clearance.
    """
    dt = config.control_dt
    frame = _seated_frame(root_pos[:, 2] - task.floor_height, trial, dt)
    model = task.model
    thighs = thigh_geoms(model)
    if frame is None or not len(thighs):
        return None
    d = mujoco.MjData(model)
    d.qpos[: task.nq] = qpos[frame]
    mujoco.mj_kinematics(model, d)
    ends, lowest = [], np.inf
    for g in thighs:  # capsule axis end points and lowest surface point
        axis = d.geom_xmat[g].reshape(3, 3)[:, 2] * model.geom_size[g][1]
        a, b = d.geom_xpos[g] - axis, d.geom_xpos[g] + axis
        ends.append((a, b))
        lowest = min(lowest, min(a[2], b[2]) - model.geom_size[g][0])
    hip = np.mean([e[0] for e in ends], axis=0)
    knee = np.mean([e[1] for e in ends], axis=0)
    forward = knee[:2] - hip[:2]
    reach = float(np.linalg.norm(forward))
    forward = forward / reach if reach > 1e-6 else np.array([1.0, 0.0])
    top = lowest - (config.touch_down or 0.0)
    bottoms = d.geom_xpos[:, 2] - model.geom_size[:, 0]  # as policies.task.foot_clearance
    clearance = np.array([bottoms[g].min() - task.floor_height for g in task.foot_geoms])
    stance = clearance < config.contact_height
    if config.touch_down is not None and np.any(stance):
        top = lowest - float(clearance[stance].min())
    # the box (sized by add_seat) from behind the hips towards the knees
    half = model.geom_size[model.body(SEAT_BODY).geomadr[0]][0]
    centre = hip[:2] + forward * (half - 0.15)
    yaw = np.arctan2(forward[1], forward[0])
    return np.array([*centre, top - SEAT_HALF[1], np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def place_seat(model: mujoco.MjModel, data: mujoco.MjData, pose: np.ndarray | None) -> None:
    """Put the seat's mocap body at ``pose`` (7,), or park it below the floor for None."""
    mocap = int(model.body_mocapid[model.body(SEAT_BODY).id])
    pose = PARKED if pose is None else pose
    data.mocap_pos[mocap], data.mocap_quat[mocap] = pose[:3], pose[3:]
