"""The task model: the converted model with PD actuators, a treadmill belt and the index sets
(coordinates, root, feet) the environment uses.

The converted model gets one position (PD) actuator per independent non-root coordinate, named as
the coordinate, with its torque clipped to ``torque_per_kg * total mass``; the root (the joints of
the body attached to ground) is unactuated unless ``residual_root`` adds penalised motors there.
The floor is moved onto a body with a slide joint along OpenSim's +x whose velocity is held at the
belt speed, so treadmill walks (pelvis nearly still, stance feet sliding back) can be reproduced;
overground trials use speed 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from policies.config import TrackingConfig

__all__ = [
    "TaskModel", "build_task_model", "foot_clearance", "foot_centres", "BELT_JOINT",
    "BELT_HALF_LENGTH",
]  # fmt: skip

BELT_JOINT = "kintwin_belt"
BELT_HALF_LENGTH = 50.0  # m; the belt is moved back by whole metres when it travels far


@dataclass
class TaskModel:
    """The MuJoCo model with actuators and belt, and the index sets the environment uses."""

    model: mujoco.MjModel
    nq: int  # of the converted model (without the belt)
    nv: int
    coordinates: list[str]  # independent coordinates
    coord_qpos: np.ndarray
    coord_dof: np.ndarray
    root: np.ndarray  # indices into coordinates
    actuated: np.ndarray  # indices into coordinates
    horizontal: np.ndarray  # indices into coordinates of horizontal root slides
    rotational: np.ndarray  # indices into coordinates of non-root rotational coordinates
    root_body: int
    ee_bodies: list[int]
    belt_qpos: int
    belt_dof: int
    torque_limit: float  # N·m
    total_mass: float  # kg
    body_weight: float  # N: total mass times the model's gravity
    frame_skip: int
    action_names: list[str] = field(default_factory=list)
    feet: list = field(default_factory=list)  # FootGroup of each foot (name, body loads go to)
    foot_geoms: list[np.ndarray] = field(default_factory=list)  # contact spheres of each foot
    foot_of_geom: np.ndarray | None = None  # per geom: its foot's index, -1 others, -2 floor
    floor_height: float = 0.0  # m, world height of the floor surface
    root_height: tuple[int, float] | None = None  # (qpos index, sign) that raises the root
    muscle: object | None = None  # policies.muscle.MuscleDrive of the muscle drive, else None


def _root_coordinates(converted, coordinates: list[str]) -> list[str]:
    """Coordinates whose joints move the body attached to ground (or the world)."""
    m = converted.mj_model
    ground = m.body(converted.osim.ground).id
    return [c for c in coordinates if m.body_parentid[m.jnt_bodyid[m.joint(c).id]] in (0, ground)]


def _add_actuators(
    spec: mujoco.MjSpec,
    actuated: list[str],
    root: list[str],
    cfg,
    mass: float,
    weight: float,
    crossed: list[str] = (),
) -> None:
    """PD actuators on ``actuated`` coordinates, except the muscle-``crossed`` ones, which get
    a reserve motor ``<coordinate>_reserve`` instead (muscle drive); root residuals if asked."""
    kp = cfg.kp_per_kg * mass
    limit = cfg.torque_per_kg * mass
    for name in crossed:
        act = spec.add_actuator(
            name=f"{name}_reserve", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT
        )
        act.set_to_motor()
        act.gear[0] = cfg.reserve_per_kg * mass
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.ctrlrange = [-1.0, 1.0]
    for name in [c for c in actuated if c not in crossed]:
        act = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=kp, kv=cfg.kv_ratio * kp)
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-limit, limit]
    if cfg.residual_root:
        for name in root:
            act = spec.add_actuator(
                name=f"{name}_residual", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT
            )
            act.set_to_motor()
            act.gear[0] = cfg.residual_per_bw * weight
            act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
            act.ctrlrange = [-1.0, 1.0]


def _add_belt(spec: mujoco.MjSpec, converted) -> None:
    """Replace every plane of the converted model by a box on a body sliding along world +x."""
    m, d = converted.mj_model, mujoco.MjData(converted.mj_model)
    mujoco.mj_kinematics(m, d)
    belt = spec.worldbody.add_body(name=BELT_JOINT)
    belt.add_joint(name=BELT_JOINT, type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[1, 0, 0])
    belt.mass, belt.inertia = 1000.0, [1.0, 1.0, 1.0]
    for geom in spec.geoms:
        if geom.type != mujoco.mjtGeom.mjGEOM_PLANE:
            continue
        gid = m.geom(geom.name).id
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, d.geom_xmat[gid])
        # planes must be static: a thick box whose top face lies in the plane instead
        normal = d.geom_xmat[gid].reshape(3, 3)[:, 2]
        copy = belt.add_geom(name=f"{geom.name}_belt", type=mujoco.mjtGeom.mjGEOM_BOX)
        copy.size, copy.quat = [BELT_HALF_LENGTH, BELT_HALF_LENGTH, 0.05], quat
        copy.pos = d.geom_xpos[gid] - 0.05 * normal
        copy.friction, copy.solref, copy.solimp = geom.friction, geom.solref, geom.solimp
        copy.contype, copy.conaffinity, copy.group = geom.contype, geom.conaffinity, geom.group
        copy.mass = 0.0
        geom.contype, geom.conaffinity = 0, 0


def build_task_model(converted, config: TrackingConfig) -> TaskModel:
    """Compile the converted model with PD actuators and a belt; collect the index sets."""
    m0 = converted.mj_model
    coords = list(converted.kinematics.independent_coordinates)
    root = _root_coordinates(converted, coords)
    actuated = [c for c in coords if c not in root]
    mass = float(converted.map.get("total_mass") or np.sum(m0.body_mass))
    spec = converted.conversion.spec.copy()
    for name, radius in config.contact_radii or ():
        spec.geom(name).size = [radius, 0.0, 0.0]
    if config.contact_solref is not None:
        for geom in spec.geoms:
            if geom.type == mujoco.mjtGeom.mjGEOM_SPHERE and geom.contype:
                geom.solref = list(config.contact_solref)
    weight = mass * float(np.linalg.norm(m0.opt.gravity))
    crossed = _muscle_setup(converted, spec, actuated, config)
    _add_actuators(spec, actuated, root, config, mass, weight, crossed)
    _add_belt(spec, converted)
    if config.seat:
        from policies.seat import add_seat

        root_body = m0.body(int(m0.jnt_bodyid[m0.joint(root[0]).id])).name
        add_seat(spec, converted, root_body, config.seat_friction)
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    model = spec.compile()
    d = mujoco.MjData(model)
    mujoco.mj_kinematics(model, d)
    jid = [model.joint(c).id for c in coords]
    root_set = set(root)
    horizontal = [
        i
        for i, c in enumerate(coords)
        if c in root_set
        and model.jnt_type[jid[i]] == mujoco.mjtJoint.mjJNT_SLIDE
        and abs(d.xaxis[jid[i]][2]) < 0.5
    ]
    rotational = [
        i
        for i, c in enumerate(coords)
        if c not in root_set and model.jnt_type[jid[i]] == mujoco.mjtJoint.mjJNT_HINGE
    ]
    root_body = int(model.jnt_bodyid[model.joint(root[0]).id]) if root else 1
    vertical = [
        (int(model.jnt_qposadr[jid[i]]), float(np.sign(d.xaxis[jid[i]][2])))
        for i, c in enumerate(coords)
        if c in root_set
        and model.jnt_type[jid[i]] == mujoco.mjtJoint.mjJNT_SLIDE
        and abs(d.xaxis[jid[i]][2]) > 0.5
    ]
    free = [j for j in range(model.njnt) if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE]
    root_height = (int(model.jnt_qposadr[free[0]]) + 2, 1.0) if free else None
    task = TaskModel(
        model=model,
        nq=m0.nq,
        nv=m0.nv,
        coordinates=coords,
        coord_qpos=np.array([model.jnt_qposadr[j] for j in jid]),
        coord_dof=np.array([model.jnt_dofadr[j] for j in jid]),
        root=np.array([coords.index(c) for c in root], dtype=int),
        actuated=np.array([coords.index(c) for c in actuated], dtype=int),
        horizontal=np.array(horizontal, dtype=int),
        rotational=np.array(rotational, dtype=int),
        root_body=root_body,
        ee_bodies=_end_effectors(model),
        belt_qpos=int(model.jnt_qposadr[model.joint(BELT_JOINT).id]),
        belt_dof=int(model.jnt_dofadr[model.joint(BELT_JOINT).id]),
        torque_limit=config.torque_per_kg * mass,
        total_mass=mass,
        body_weight=weight,
        frame_skip=max(1, round(config.control_dt / model.opt.timestep)),
        action_names=actuated + ([f"{c}_residual" for c in root] if config.residual_root else []),
        **_feet(model, root_body),
        root_height=vertical[0] if vertical else root_height,
    )
    if config.drive == "muscle":
        from policies.muscle import build_muscle_drive

        task.muscle = build_muscle_drive(
            model, coords, actuated, crossed, config.reserve_per_kg * mass
        )
        if config.muscle_action == "excitation":
            torque = [actuated[i] for i in task.muscle.torque_driven]
            task.action_names = task.muscle.names + task.muscle.reserve_names + torque
    if config.heel_friction is not None:
        _set_heel_friction(task, config.heel_friction)
    return task


def _muscle_setup(converted, spec: mujoco.MjSpec, actuated: list[str], config) -> list[str]:
    """Muscle drive: check the converted model has muscle actuators, set the physics step and
    return the actuated coordinates muscles cross; torque drive: none."""
    from converters.errors import KintwinError

    if config.drive == "torque":
        return []
    if config.drive != "muscle" or config.muscle_action not in ("joint", "excitation"):
        raise KintwinError(
            f"unknown drive '{config.drive}' / muscle_action '{config.muscle_action}'"
        )
    if config.residual_root:
        raise KintwinError("--residual-root is not available with --drive muscle")
    from policies.muscle import muscle_actuators, muscle_crossed

    if not len(muscle_actuators(converted.mj_model)):
        raise KintwinError(
            f"{converted.osim.path}: the model has no muscles (convert with muscle actuators) "
            "for --drive muscle"
        )
    spec.option.timestep = config.muscle_timestep
    return muscle_crossed(converted, actuated)


def _set_heel_friction(task: TaskModel, friction: float) -> None:
    """Give each foot's rearmost sphere (at the default pose) the sliding ``friction``.

    A rigid heel has none of the heel pad's and shoe's shear compliance. The kinematics put the
    heel on the floor while it still moves forwards over it, and with full friction the policy
    brakes hard at every heel strike. Walking needs a friction coefficient of about 0.2 at
    heel contact, so a heel capped a little above that can carry any force of normal walking
    but slides instead of braking harder. MuJoCo takes the larger of two geoms' friction, so the
    floor gets this value too (if it is lower) and the other spheres keep theirs.
    """
    m = task.model
    d = mujoco.MjData(m)
    mujoco.mj_kinematics(m, d)
    for geoms in task.foot_geoms:
        heel = geoms[int(np.argmin(d.geom_xpos[geoms, 0]))]
        m.geom_friction[heel, 0] = friction
    floor = task.foot_of_geom == -2
    m.geom_friction[floor, 0] = np.minimum(m.geom_friction[floor, 0], friction)


def _feet(model: mujoco.MjModel, root_body: int) -> dict:
    """Contact spheres of each foot (grouped as the GRF export groups them), the map from geom to
    foot, and the floor's height."""
    from policies.foot_loads import foot_groups

    belt = model.body(BELT_JOINT).id
    sphere = mujoco.mjtGeom.mjGEOM_SPHERE
    feet, foot_geoms, foot_of_geom = [], [], np.full(model.ngeom, -1, dtype=int)
    foot_of_geom[model.geom_bodyid == belt] = -2
    for group in foot_groups(model, root_body, belt):
        in_foot = np.isin(model.geom_bodyid, list(group.bodies))
        spheres = np.flatnonzero(in_foot & (model.geom_type == sphere))
        if len(spheres):
            foot_of_geom[in_foot] = len(foot_geoms)
            foot_geoms.append(spheres)
            feet.append(group)
    d = mujoco.MjData(model)
    mujoco.mj_kinematics(model, d)
    tops = [
        d.geom_xpos[g][2] + model.geom_size[g][2]
        for g in range(model.ngeom)
        if model.geom_bodyid[g] == belt and model.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX
    ]
    return {
        "feet": feet,
        "foot_geoms": foot_geoms,
        "foot_of_geom": foot_of_geom,
        "floor_height": float(max(tops)) if tops else 0.0,
    }


def foot_clearance(task: TaskModel, data: mujoco.MjData) -> np.ndarray:
    """(n_feet,) m: height of each foot's lowest contact sphere above the floor (kinematics of
    ``data`` must be current)."""
    bottoms = data.geom_xpos[:, 2] - task.model.geom_size[:, 0]
    return np.array([bottoms[geoms].min() - task.floor_height for geoms in task.foot_geoms])


def foot_centres(task: TaskModel, data: mujoco.MjData) -> np.ndarray:
    """(n_feet, 3) m: the mean world position of each foot's contact spheres (kinematics of
    ``data`` must be current): where the reference puts a stance foot and where it is now."""
    return np.array([data.geom_xpos[geoms].mean(axis=0) for geoms in task.foot_geoms]).reshape(
        len(task.foot_geoms), 3
    )


def _end_effectors(model: mujoco.MjModel) -> list[int]:
    """Leaf bodies of the skeleton (feet, head/torso, hands), the belt excluded."""
    parents = set(model.body_parentid[1:].tolist())
    belt = model.body(BELT_JOINT).id
    seat = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "kintwin_seat")
    return [b for b in range(1, model.nbody) if b not in parents and b not in (belt, seat)]
