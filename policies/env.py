"""Batched imitation environment: a converted model driven by PD targets around a reference motion.

The converted model gets one position (PD) actuator per independent non-root coordinate, named as
the coordinate, with its torque clipped to ``torque_per_kg * total mass``; the root (the joints of
the body attached to ground) is unactuated unless ``residual_root`` adds penalised motors there.
The floor is moved onto a body with a slide joint along OpenSim's +x whose velocity is held at the
belt speed, so treadmill walks (pelvis nearly still, stance feet sliding back) can be reproduced;
overground trials use speed 0. Observations hold the state and differences to the reference at a
few future frames (no clip phase), so one policy can serve several trials.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from converters.errors import KintwinError
from converters.motion import Trajectory

__all__ = [
    "TrackingConfig",
    "TrackingEnv",
    "VectorEnv",
    "estimate_belt_speed",
    "calibrate_contacts",
    "task_and_references",
    "BELT_JOINT",
]

BELT_JOINT = "kintwin_belt"
BELT_HALF_LENGTH = 50.0  # m; the belt is moved back by whole metres when it travels far


@dataclass(frozen=True)
class TrackingConfig:
    """Settings of the tracking task (SI units; angles in radians)."""

    control_dt: float = 0.01  # s between policy actions (100 Hz); a multiple of the 2 ms step
    future_frames: tuple[int, ...] = (1, 3, 10)  # control steps ahead observed in the reference
    kp_per_kg: float = 6.0  # PD stiffness, N·m/rad per kg of body mass
    kv_ratio: float = 0.1  # PD damping as a fraction of the stiffness, s
    torque_per_kg: float = 3.0  # torque limit, N·m per kg of body mass
    action_scale: float = 0.5  # rad (or m) of PD-target offset per unit action
    belt_speed: float | None = None  # m/s along OpenSim +x; None: detect from the reference
    residual_root: bool = False  # penalised motors on the root degrees of freedom
    residual_per_bw: float = 0.05  # residual limit, fraction of body weight (N, or N·m per m)
    w_pose: float = 0.4
    k_pose: float = 10.0  # 1/rad²
    w_vel: float = 0.1
    k_vel: float = 0.05  # s²/rad²
    w_root: float = 0.2
    k_root: float = 400.0  # 1/m² (and 1/rad² for root angles)
    w_ee: float = 0.15
    k_ee: float = 100.0  # 1/m²
    w_contact: float = 0.15  # feet touching the floor when, and only when, the reference's do
    contact_height: float = 0.01  # m; a reference foot this close to the floor is in stance
    w_smooth: float = 0.05  # penalty per squared change of action
    w_effort: float = 0.1  # penalty per squared torque / limit
    w_torque_rate: float = 1.0  # penalty per squared change of torque / limit between steps
    w_residual: float = 0.1  # penalty per squared residual action
    w_grf: float = 0.2  # trials with force plates only: simulated GRF per foot near the measured
    k_grf: float = 10.0  # 1/(body weight)²
    max_root_error: float = 0.3  # m of root position error before termination
    max_pose_error: float = 0.7  # rad RMS over coordinates before termination
    lowpass_hz: float | None = 6.0  # filter applied to the reference coordinates
    action_filter_hz: float | None = 8.0  # first-order low-pass on the actions; None: off
    touch_down: float | None = 0.0005  # m: stance feet start this far into the floor; None: off
    calibrate_contacts: bool = True  # shrink foot spheres the training motions push into the floor
    contact_penetration: float = 0.002  # m of penetration the calibration leaves
    contact_radii: tuple[tuple[str, float], ...] | None = None  # (sphere, radius m): calibrated
    contact_solref: tuple[float, float] | None = (
        0.03,
        1.5,
    )  # foot spheres: time constant s, damping ratio

    def to_dict(self) -> dict:
        """JSON-ready values (tuples as lists)."""
        values = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}
        if self.contact_radii is not None:
            values["contact_radii"] = [list(pair) for pair in self.contact_radii]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> TrackingConfig:
        """The config saved by ``to_dict`` (fields it lacks take their defaults)."""
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        if "future_frames" in known:
            known["future_frames"] = tuple(known["future_frames"])
        if known.get("contact_solref") is not None:
            known["contact_solref"] = tuple(float(x) for x in known["contact_solref"])
        if known.get("contact_radii") is not None:
            known["contact_radii"] = tuple((str(n), float(r)) for n, r in known["contact_radii"])
        return cls(**known)

    @property
    def action_alpha(self) -> float:
        """Weight of a new action in the first-order filter at the control rate."""
        if not self.action_filter_hz:
            return 1.0
        return float(1.0 - np.exp(-2.0 * np.pi * self.action_filter_hz * self.control_dt))


@dataclass
class Reference:
    """A trajectory resampled at the control rate, with its forward kinematics (world frame)."""

    qpos: np.ndarray  # (T, nq) of the converted model (belt excluded)
    qvel: np.ndarray  # (T, nv)
    root_pos: np.ndarray  # (T, 3) m
    ee_rel: np.ndarray  # (T, n_ee, 3) m, end effectors relative to the root body
    belt_speed: float  # m/s along world +x (OpenSim +x)
    time0: float = 0.0  # s, trial time of the first frame
    stance: np.ndarray | None = None  # (T, n_feet) bool: the foot's lowest sphere on the floor
    grf: np.ndarray | None = None  # (T, n_feet, 3) N, measured GRF per foot (world), if given
    period: int | None = None  # frames of one cycle if the motion is periodic (gait), else None


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
    frame_skip: int
    action_names: list[str] = field(default_factory=list)
    foot_geoms: list[np.ndarray] = field(default_factory=list)  # contact spheres of each foot
    foot_of_geom: np.ndarray | None = None  # per geom: its foot's index, -1 others, -2 floor
    floor_height: float = 0.0  # m, world height of the floor surface
    root_height: tuple[int, float] | None = None  # (qpos index, sign) that raises the root


def _root_coordinates(converted, coordinates: list[str]) -> list[str]:
    """Coordinates whose joints move the body attached to ground (or the world)."""
    m = converted.mj_model
    ground = m.body(converted.osim.ground).id
    return [c for c in coordinates if m.body_parentid[m.jnt_bodyid[m.joint(c).id]] in (0, ground)]


def _add_actuators(spec: mujoco.MjSpec, actuated: list[str], root: list[str], cfg, mass) -> None:
    kp = cfg.kp_per_kg * mass
    limit = cfg.torque_per_kg * mass
    for name in actuated:
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
            act.gear[0] = cfg.residual_per_bw * mass * 9.81
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
    _add_actuators(spec, actuated, root, config, mass)
    _add_belt(spec, converted)
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
    return TaskModel(
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
        frame_skip=max(1, round(config.control_dt / model.opt.timestep)),
        action_names=actuated + ([f"{c}_residual" for c in root] if config.residual_root else []),
        **_feet(model, root_body),
        root_height=vertical[0] if vertical else root_height,
    )


def _feet(model: mujoco.MjModel, root_body: int) -> dict:
    """Contact spheres of each foot (grouped as the GRF export groups them), the map from geom to
    foot, and the floor's height."""
    from policies.foot_loads import foot_groups

    belt = model.body(BELT_JOINT).id
    sphere = mujoco.mjtGeom.mjGEOM_SPHERE
    foot_geoms, foot_of_geom = [], np.full(model.ngeom, -1, dtype=int)
    foot_of_geom[model.geom_bodyid == belt] = -2
    for group in foot_groups(model, root_body, belt):
        in_foot = np.isin(model.geom_bodyid, list(group.bodies))
        spheres = np.flatnonzero(in_foot & (model.geom_type == sphere))
        if len(spheres):
            foot_of_geom[in_foot] = len(foot_geoms)
            foot_geoms.append(spheres)
    d = mujoco.MjData(model)
    mujoco.mj_kinematics(model, d)
    tops = [
        d.geom_xpos[g][2] + model.geom_size[g][2]
        for g in range(model.ngeom)
        if model.geom_bodyid[g] == belt and model.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX
    ]
    return {
        "foot_geoms": foot_geoms,
        "foot_of_geom": foot_of_geom,
        "floor_height": float(max(tops)) if tops else 0.0,
    }


def _end_effectors(model: mujoco.MjModel) -> list[int]:
    """Leaf bodies of the skeleton (feet, head/torso, hands), the belt excluded."""
    parents = set(model.body_parentid[1:].tolist())
    belt = model.body(BELT_JOINT).id
    return [b for b in range(1, model.nbody) if b not in parents and b != belt]


def _contact_points(task: TaskModel, d: mujoco.MjData) -> np.ndarray:
    """(n_spheres, 3) world positions of the contact spheres."""
    ids = [
        g
        for g in range(task.model.ngeom)
        if task.model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE
    ]
    return d.geom_xpos[ids].copy()


def estimate_belt_speed(task: TaskModel, trajectory: Trajectory) -> float:
    """Belt speed (m/s, OpenSim +x) of a treadmill trial, or 0.0 for an overground one.

    The lowest contact sphere at each frame is taken as the stance foot; on a treadmill it slides
    backwards at the belt speed while the root barely moves.
    """
    m, d = task.model, mujoco.MjData(task.model)
    lowest = []
    for qpos in trajectory.qpos:
        d.qpos[: task.nq] = qpos
        mujoco.mj_kinematics(m, d)
        points = _contact_points(task, d)
        lowest.append(points[np.argmin(points[:, 2])] if len(points) else np.zeros(3))
    lowest = np.array(lowest)
    time = trajectory.time
    if len(time) < 3 or not len(task.horizontal):
        return 0.0
    stance = lowest[:, 2] < lowest[:, 2].min() + 0.01  # within 1 cm of the lowest point: stance
    stance_speed = float(np.median(np.gradient(lowest[:, 0], time)[stance]))
    root_x = trajectory.qpos[:, task.coord_qpos[task.horizontal[0]]]
    root_speed = abs(root_x[-1] - root_x[0]) / (time[-1] - time[0])
    treadmill = abs(stance_speed) > 0.3 and root_speed < 0.25 * abs(stance_speed)
    return stance_speed if treadmill else 0.0


def calibrate_contacts(converted, trajectories: list[Trajectory], config: TrackingConfig):
    """``config`` with ``contact_radii`` set: each foot sphere that the motions push more than
    ``contact_penetration`` into the floor is shrunk about its centre until they do not.

    Rigid-toe models (no MTP coordinate) are posed by IK with the toes in the floor at push-off
    (up to 2.6 cm in the Gait10dof18musc walk); in simulation those spheres would carry the
    body, pull the centre of pressure forwards and stop the ankle reaching its reference angle.
    The radii are part of the policy's config, so every trial it tracks uses the same feet.
    """
    from dataclasses import replace

    task = build_task_model(converted, replace(config, contact_radii=None))
    m, d = task.model, mujoco.MjData(task.model)
    lowest = {int(g): np.inf for geoms in task.foot_geoms for g in geoms}
    for trajectory in trajectories:
        for q in trajectory.qpos:
            d.qpos[: task.nq] = q
            mujoco.mj_kinematics(m, d)
            for g in lowest:
                lowest[g] = min(lowest[g], d.geom_xpos[g][2] - m.geom_size[g][0])
    radii = []
    for g, bottom in lowest.items():
        radius = float(m.geom_size[g][0])
        depth = task.floor_height - bottom - config.contact_penetration
        if depth > 0:
            radius = float(max(radius - depth, 0.25 * radius))
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
    task: TaskModel, trajectory: Trajectory, config: TrackingConfig, loads=None
) -> Reference:
    """Resample ``trajectory`` at the control rate and compute its root and end-effector paths;
    ``loads`` (ExternalLoads of the same trial) adds the measured GRF per foot."""
    time = trajectory.time
    grid = np.arange(time[0], time[-1] + 1e-9, config.control_dt)
    qpos = np.column_stack([np.interp(grid, time, c) for c in trajectory.qpos.T])
    qvel = np.column_stack([np.interp(grid, time, c) for c in trajectory.qvel.T])
    d = mujoco.MjData(task.model)
    root_pos, ee, lowest = [], [], []
    for q in qpos:
        d.qpos[: task.nq] = q
        mujoco.mj_kinematics(task.model, d)
        root_pos.append(d.xpos[task.root_body].copy())
        ee.append(d.xpos[task.ee_bodies] - d.xpos[task.root_body])
        bottoms = d.geom_xpos[:, 2] - task.model.geom_size[:, 0]
        lowest.append([bottoms[geoms].min() for geoms in task.foot_geoms])
    stance = np.array(lowest).reshape(len(qpos), len(task.foot_geoms)) < (
        task.floor_height + config.contact_height
    )
    speed = config.belt_speed
    if speed is None:
        speed = estimate_belt_speed(task, trajectory)
    grf = None if loads is None else measured_grf(task, loads, grid)
    period = motion_period(qpos[:, task.coord_qpos[task.rotational]], config.control_dt)
    return Reference(
        qpos, qvel, np.array(root_pos), np.array(ee), float(speed), float(grid[0]), stance, grf,
        period,
    )  # fmt: skip


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


class TrackingEnv:
    """One copy of the task: ``reset`` at a random reference frame, ``step`` one control period.

    Actions (one per name in ``action_names``, nominally in [-1, 1]) are PD-target offsets from
    the next reference frame, ``action_scale`` rad (or m) per unit, then residual root actions.
    They pass a first-order low-pass filter (``action_filter_hz``) before they are applied; the
    filtered action is part of the observation.
    """

    def __init__(
        self,
        converted,
        trajectory: Trajectory | list[Trajectory] | None,
        config: TrackingConfig | None = None,
        seed: int = 0,
        task: TaskModel | None = None,
        references: list[Reference] | None = None,
    ) -> None:
        self.config = config or TrackingConfig()
        self.task = task or build_task_model(converted, self.config)
        if references is None:
            if trajectory is None:
                raise KintwinError("TrackingEnv needs a trajectory or references")
            trajectories = trajectory if isinstance(trajectory, list) else [trajectory]
            references = [make_reference(self.task, t, self.config) for t in trajectories]
        self.references = references
        self.data = mujoco.MjData(self.task.model)
        self.rng = np.random.default_rng(seed)
        self.n_act = len(self.task.actuated)
        self.prev_action = np.zeros(len(self.task.action_names))  # filtered, as applied
        self.prev_torque = np.zeros(self.n_act)
        self.mean_force = np.zeros(self.task.model.nu)  # actuator forces over the last period
        self.contact_recorder = None  # called after every physics step when set (runner)
        self.ref, self.t = self.references[0], 0
        hinge = mujoco.mjtJoint.mjJNT_HINGE
        joint = self.task.model.joint
        self.root_rot = np.array(
            [i for i in self.task.root if joint(self.task.coordinates[i]).type[0] == hinge],
            dtype=int,
        )

    @property
    def action_names(self) -> list[str]:
        return list(self.task.action_names)

    @property
    def obs_names(self) -> list[str]:
        coords, task = self.task.coordinates, self.task
        keep = [c for i, c in enumerate(coords) if i not in set(task.horizontal.tolist())]
        names = [f"q:{c}" for c in keep] + [f"qdot:{c}" for c in coords]
        names += ["root_height", "root_qw", "root_qx", "root_qy", "root_qz", "belt_speed"]
        for k in self.config.future_frames:
            names += [f"dq+{k}:{c}" for c in coords]
        names += [f"dqdot+1:{c}" for c in coords]
        return names + [f"prev_action:{a}" for a in self.action_names]

    def reset(self, reference: int | None = None, frame: int | None = None) -> np.ndarray:
        """Reference-state initialisation at ``frame`` (random if None); returns the observation."""
        if reference is None:
            reference = int(self.rng.integers(len(self.references)))
        self.ref = self.references[reference]
        if frame is None:
            frame = int(self.rng.integers(max(1, len(self.ref.qpos) - 2)))
        self.t = frame
        d, task = self.data, self.task
        mujoco.mj_resetData(task.model, d)
        d.qpos[: task.nq] = self.ref.qpos[frame]
        d.qvel[: task.nv] = self.ref.qvel[frame]
        d.qvel[task.belt_dof] = self.ref.belt_speed
        d.ctrl[: self.n_act] = self._pd_centre(frame)
        mujoco.mj_kinematics(task.model, d)
        self._touch_down()
        mujoco.mj_forward(task.model, d)
        self.prev_action[:] = 0.0
        self.prev_torque[:] = d.actuator_force[: self.n_act]
        return self.observation()

    def _touch_down(self) -> None:
        """Move the root vertically so the lowest stance foot just touches the floor.

        The reference pose can leave the stance foot a millimetre above the floor; the body then
        falls onto it and the ground reaction force starts from zero. Touching (``touch_down``
        deep) lets the contact carry the body from the first step.
        """
        task, d, m = self.task, self.data, self.task.model
        stance = None if self.ref.stance is None else self.ref.stance[self.t]
        if self.config.touch_down is None or task.root_height is None or stance is None:
            return
        feet = [geoms for geoms, on in zip(task.foot_geoms, stance, strict=True) if on]
        if not feet:
            return
        bottoms = [d.geom_xpos[g, 2] - m.geom_size[g, 0] for g in feet]
        gap = min(float(b.min()) for b in bottoms) - task.floor_height + self.config.touch_down
        index, sign = task.root_height
        d.qpos[index] -= sign * gap

    def _pd_centre(self, frame: int) -> np.ndarray:
        """PD control value that tracks the reference at ``frame`` with zero action.

        MuJoCo's position actuator gives kp (ctrl - q) - kv qdot; adding (kv/kp) qdot_ref to the
        target makes that kp (q_ref - q) + kv (qdot_ref - qdot), so the damping pulls towards the
        reference velocity instead of resisting all motion.
        """
        task, ref = self.task, self.ref
        frame = min(frame, len(ref.qpos) - 1)
        q = ref.qpos[frame][task.coord_qpos[task.actuated]]
        qdot = ref.qvel[frame][task.coord_dof[task.actuated]]
        return q + self.config.kv_ratio * qdot

    def _reference_ahead(self, k: int) -> np.ndarray:
        """Reference coordinates ``k`` control steps ahead. Past the trial's end a periodic motion
        (gait) repeats its last cycle, shifted to join on; any other continues at the last
        frame's velocity. The policy then never sees the motion stop (and brake)."""
        ref, task = self.ref, self.task
        last = len(ref.qpos) - 1
        frame = min(self.t + k, last)
        q = ref.qpos[frame][task.coord_qpos]
        beyond = self.t + k - last
        if beyond <= 0:
            return q
        if ref.period is not None and beyond <= ref.period:
            one_cycle_ago = ref.qpos[last + beyond - ref.period][task.coord_qpos]
            drift = ref.qpos[last][task.coord_qpos] - ref.qpos[last - ref.period][task.coord_qpos]
            return one_cycle_ago + drift
        return q + beyond * self.config.control_dt * ref.qvel[last][task.coord_dof]

    def observation(self) -> np.ndarray:
        """The observation vector (see ``obs_names``)."""
        d, task, ref = self.data, self.task, self.ref
        q, qd = d.qpos[task.coord_qpos], d.qvel[task.coord_dof]
        keep = np.setdiff1d(np.arange(len(q)), task.horizontal)
        last = len(ref.qpos) - 1
        parts = [q[keep], qd, [d.xpos[task.root_body][2]], d.xquat[task.root_body]]
        parts.append([ref.belt_speed])
        for k in self.config.future_frames:
            parts.append(self._reference_ahead(k) - q)
        parts.append(ref.qvel[min(self.t + 1, last)][task.coord_dof] - qd)
        parts.append(self.prev_action)
        return np.concatenate(parts).astype(np.float32)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Advance one control period; returns (obs, reward, terminated, truncated, info)."""
        task, d, cfg = self.task, self.data, self.config
        raw = np.clip(np.asarray(action, dtype=float), -1.0, 1.0)
        a = self.prev_action + cfg.action_alpha * (raw - self.prev_action)
        d.ctrl[: self.n_act] = self._pd_centre(self.t + 1) + cfg.action_scale * a[: self.n_act]
        d.ctrl[self.n_act :] = a[self.n_act :]
        self.mean_force[:] = 0.0
        for _ in range(task.frame_skip):
            d.qvel[task.belt_dof] = self.ref.belt_speed
            mujoco.mj_step(task.model, d)
            self.mean_force += d.actuator_force / task.frame_skip
            if self.contact_recorder is not None:
                self.contact_recorder(self)
        if abs(d.qpos[task.belt_qpos]) > 0.2 * BELT_HALF_LENGTH:  # uniform box: no jump in contact
            d.qpos[task.belt_qpos] -= np.trunc(d.qpos[task.belt_qpos])
        self.t = min(self.t + 1, len(self.ref.qpos) - 1)
        reward, info = self._reward(a)
        self.prev_action[:] = a
        self.prev_torque[:] = self.mean_force[: self.n_act]
        stable = bool(np.all(np.isfinite(d.qpos)))
        terminated = (
            not stable
            or info["root_error"] > cfg.max_root_error
            or info["pose_rms"] > cfg.max_pose_error
        )
        truncated = not terminated and self.t >= len(self.ref.qpos) - 1
        obs = self.observation() if stable else np.zeros(len(self.obs_names), np.float32)
        return obs, (reward if stable else 0.0), terminated, truncated, info

    def _grf_term(self) -> float:
        """Measured-GRF agreement, only for a reference with force plates (else 0)."""
        if self.ref.grf is None:
            return 0.0
        task, m, d = self.task, self.task.model, self.data
        sim = np.zeros((len(task.foot_geoms), 3))
        wrench = np.zeros(6)
        for i in range(d.ncon):
            foot = task.foot_of_geom[d.contact.geom2[i]]
            other = task.foot_of_geom[d.contact.geom1[i]]
            sign = 1.0
            if foot < 0:  # the foot is geom1: the force on it is the opposite
                foot, other, sign = other, foot, -1.0
            if foot < 0 or other != -2:
                continue
            mujoco.mj_contactForce(m, d, i, wrench)
            sim[foot] += sign * (d.contact.frame[i].reshape(3, 3).T @ wrench[:3])
        weight = task.total_mass * 9.81
        error = np.sum((sim - self.ref.grf[self.t]) ** 2) / weight**2
        return self.config.w_grf * float(np.exp(-self.config.k_grf * error))

    def _contact_match(self) -> float:
        """Fraction of feet whose floor contact agrees with the reference's stance (1 if none)."""
        stance = self.ref.stance
        if stance is None or not stance.shape[1]:
            return 1.0
        touching = _touching(self.task.model, self.data, self.task.foot_of_geom)
        return float(np.mean(touching == stance[self.t]))

    def _reward(self, a: np.ndarray) -> tuple[float, dict]:
        """Exp-shaped tracking terms minus smoothness, effort and residual penalties."""
        task, d, cfg, ref, t = self.task, self.data, self.config, self.ref, self.t
        dq = d.qpos[task.coord_qpos] - ref.qpos[t][task.coord_qpos]
        dv = d.qvel[task.coord_dof] - ref.qvel[t][task.coord_dof]
        act = task.actuated
        root_pos_err = d.xpos[task.root_body] - ref.root_pos[t]
        root_sq = float(root_pos_err @ root_pos_err + np.sum(dq[self.root_rot] ** 2))
        ee = d.xpos[task.ee_bodies] - d.xpos[task.root_body] - ref.ee_rel[t]
        torque = self.mean_force[: self.n_act] / task.torque_limit
        torque_rate = torque - self.prev_torque / task.torque_limit
        terms = {
            "pose": cfg.w_pose * np.exp(-cfg.k_pose * np.sum(dq[act] ** 2)),
            "vel": cfg.w_vel * np.exp(-cfg.k_vel * np.sum(dv[act] ** 2)),
            "root": cfg.w_root * np.exp(-cfg.k_root * root_sq),
            "ee": cfg.w_ee * np.exp(-cfg.k_ee * np.sum(ee**2)),
            "contact": cfg.w_contact * self._contact_match(),
            "grf": self._grf_term(),
            "smooth": -cfg.w_smooth * float(np.mean((a - self.prev_action) ** 2)),
            "effort": -cfg.w_effort * float(np.mean(torque**2)),
            "torque_rate": -cfg.w_torque_rate * float(np.mean(torque_rate**2)),
            "residual": -cfg.w_residual * float(np.sum(a[self.n_act :] ** 2)),
        }
        rot = task.rotational
        info = {
            "tracking_error_deg": float(np.degrees(np.sqrt(np.mean(dq[rot] ** 2)))),
            "root_error": float(np.linalg.norm(root_pos_err)),
            "pose_rms": float(np.sqrt(np.mean(dq[act] ** 2))),
        }
        return float(sum(terms.values())), info


def _touching(model: mujoco.MjModel, data: mujoco.MjData, foot_of_geom: np.ndarray) -> np.ndarray:
    """(n_feet,) bool: the foot has a contact with the floor now.

    ``foot_of_geom`` maps each geom to its foot's index, -1 for others and -2 for the floor.
    """
    n_feet = int(foot_of_geom.max()) + 1
    touching = np.zeros(max(n_feet, 0), dtype=bool)
    if data.ncon:
        f1, f2 = foot_of_geom[data.contact.geom1], foot_of_geom[data.contact.geom2]
        touching[f2[(f1 == -2) & (f2 >= 0)]] = True
        touching[f1[(f2 == -2) & (f1 >= 0)]] = True
    return touching


def task_and_references(
    converted, trajectories: list[Trajectory], config: TrackingConfig, loads: list | None = None
) -> tuple[TaskModel, list[Reference]]:
    """The task model and one reference per trajectory (with its force plates, if any)."""
    task = build_task_model(converted, config)
    loads = loads or [None] * len(trajectories)
    references = [
        make_reference(task, t, config, g) for t, g in zip(trajectories, loads, strict=True)
    ]
    return task, references


class VectorEnv:
    """``num_envs`` copies of :class:`TrackingEnv` sharing one model, stepped in one process.

    Finished copies are reset at once; the observation they ended with is ``final_obs``.
    """

    def __init__(
        self,
        converted,
        trajectories: list[Trajectory],
        config: TrackingConfig | None = None,
        num_envs: int = 8,
        seed: int = 0,
        loads: list | None = None,
    ) -> None:
        self.config = config or TrackingConfig()
        self.task, self.references = task_and_references(
            converted, trajectories, self.config, loads
        )
        self.envs = [
            TrackingEnv(None, None, self.config, seed + i, self.task, self.references)
            for i in range(num_envs)
        ]
        self.num_envs = num_envs

    @property
    def obs_names(self) -> list[str]:
        return self.envs[0].obs_names

    @property
    def action_names(self) -> list[str]:
        return self.envs[0].action_names

    def reset(self) -> np.ndarray:
        """(num_envs, n_obs) observations after reference-state initialisation."""
        return np.stack([env.reset() for env in self.envs])

    def rng_states(self) -> list[dict]:
        """The random generator state of every copy (for checkpoints)."""
        return [env.rng.bit_generator.state for env in self.envs]

    def set_rng_states(self, states: list[dict]) -> None:
        for env, state in zip(self.envs, states, strict=False):
            env.rng.bit_generator.state = state

    def worker_cpu_seconds(self) -> float:
        """CPU time of worker processes: none, the copies step in this process."""
        return 0.0

    def close(self) -> None:
        """Nothing to release (the process version has workers)."""

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Step every copy: (obs, reward, terminated, truncated, final_obs, tracking_error_deg)."""
        out = [env.step(a) for env, a in zip(self.envs, actions, strict=True)]
        obs = np.stack([o[0] for o in out])
        final_obs = obs.copy()
        for i, (_, _, term, trunc, _) in enumerate(out):
            if term or trunc:
                obs[i] = self.envs[i].reset()
        reward = np.array([o[1] for o in out], dtype=np.float32)
        terminated = np.array([o[2] for o in out])
        truncated = np.array([o[3] for o in out])
        error = np.array([o[4]["tracking_error_deg"] for o in out])
        return obs, reward, terminated, truncated, final_obs, error
