"""Ground reactions from the measured motion alone, then inverse dynamics with them.

The whole-body equations of motion of the kinematics give the total external wrench the body
needs (OpenSim ID's pelvis residuals without loads). It is shared among contact points under
the feet (the converter's foot spheres, on the trial's own floor) as nonnegative forces inside
a friction pyramid, each point's strength falling with its height above the floor and its
speed, as in Fluit et al. (2014, J Biomech 47:2321) "Prediction of ground reaction forces and
moments during various activities of daily living" (on a treadmill, found by
``converters.treadmill``, the speed over the belt). Per frame a bounded least-squares problem:

    min  |A x - b|^2 + sum_j (x_j / (s_j W))^2 + sum_k (tau_k / (20 N·m s_k))^2
         + sum_k |F_k,horizontal - F_k,vertical (c - p_k)_h / (c_z - floor)|^2 / W^2
         + 300^2 |(1 - s_r) F_right,vertical - s_r F_left,vertical|^2 / W^2

with ``A x`` the pelvis generalized forces of the point forces x (and each foot's free torque),
``b`` those the motion needs, ``s`` the strengths, W the body weight. The fourth term is a
weak prior that each foot's force points at the centre of mass (c): it splits the horizontal
force between two feet on the floor (leading foot braking, trailing foot pushing), which the
total alone cannot. The last (only in gait's double supports, ``load_share``) all but imposes
the smooth transition of the right foot's share s_r of the vertical load. Joint moments are
then ``qfrc_inverse - J^T loads`` projected on the independent coordinates, as OpenSim's
InverseDynamicsTool computes them with those loads.

Given measured loads (``measured``: force plates assigned to the feet), the priors give way to
them: every contact point of a loaded foot has full strength, each foot's force is held to
the measured one and its moment more loosely, so the centres of pressure move just enough for
the whole-body equations to hold without a pelvis residual. Compared with OpenSim ID with
those plates (whose pelvis residual is part of its answer) it shows what that residual alone
costs a method whose loads leave none.

With ``ContactSolveConfig.seat``, a trial that sits at its start or end (the pelvis low and
still there, as for sit-to-stand) gets a seat: contact points along each thigh's underside,
each resting where it is lowest in the trial, solved together with the feet
(``ContactSolution.seat``). Without it, or for a handrail or any other contact, the load is
put on the feet.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import mujoco
import numpy as np

from converters.errors import KintwinError
from converters.inverse_dynamics import ID_TABLE_NAME, id_labels, inverse_dynamics_settings
from converters.model_conversion import ConvertedModel
from converters.motion import Trajectory
from converters.opensim_io.ground_reactions import (
    MIN_VERTICAL_FORCE,
    FootLoads,
    centre_of_pressure,
)
from converters.opensim_io.table import Table
from converters.treadmill import belt_speed

__all__ = [
    "ContactSolveConfig", "ContactSolution", "solve_contacts", "seated_frame", "unsupported_spans",
    "vertical_force_needed", "CONTACT_PREFIX", "GRAVITY",
]  # fmt: skip

CONTACT_PREFIX = "kintwin_contact"  # the converter's foot spheres: kintwin_contact<k>_<r|l>
GRAVITY = 9.80665


@dataclass(frozen=True)
class ContactSolveConfig:
    """Contact strengths and priors (chosen from physics, not fitted to any trial).

    Attributes:
        full_height: a point this close to the floor (m, sphere bottom) has full strength.
        zero_height: a point this high has none (linear in between).
        full_speed: a point sliding this slowly (m/s, horizontal) has full strength.
        zero_speed: a point sliding this fast has none.
        friction: friction coefficient of the pyramid (horizontal ≤ friction × vertical).
        floor_percentile: the floor is this percentile of the sphere bottoms over the trial.
        load_share: in each double support of gait (both feet with a point of strength over
            STANCE_STRENGTH, at most GAIT_DOUBLE_SUPPORT_S), the trailing foot's share of the
            vertical load falls linearly from all to none (Ren et al. 2008's smooth
            transition), a prior of weight SHARE_WEIGHT. Without it the least-squares cost
            shares the load evenly and the trailing toes keep it too long, which pushes the
            leading foot's centre of pressure forwards (the total's is fixed). Weight and
            threshold were chosen on OpenCap subject 4's four training walks (moments' mean r
            0.736 with a weak prior, weight 1, over points at half strength; 0.877 now; a
            threshold of 0 gave 0.881 but walking1's right ankle r 0.86 instead of 0.91). On
            the held-out walking4 and walkingTS3 the mean r rose from 0.786 to 0.853, on
            3dpredictsim subject 2's seven walks from 0.908 to 0.920.
        seat: give a trial that sits at its start or end a seat under the thighs (off by
            default: on OpenCap subject 4's sit-to-stands it halves the feet's vertical GRF
            error over the whole trial, sitting included, but the seat keeps some load as the
            thighs start to rise, which doubles it on the frames the feet carry everything).
    """

    full_height: float = 0.02
    zero_height: float = 0.06
    full_speed: float = 0.5
    zero_speed: float = 1.5
    friction: float = 0.8
    floor_percentile: float = 2.0
    seat: bool = False
    load_share: bool = True


@dataclass(frozen=True)
class ContactSolution:
    """Loads per contact group (MuJoCo world frame: each foot, then each thigh on a seat when
    the trial sits) and the inverse dynamics they give."""

    time: np.ndarray
    feet: list[FootLoads]  # right, left foot
    seat: list[FootLoads]  # right, left thigh on the seat; empty when the trial never sits
    id_table: Table | None  # None when not asked for (solve_contacts)
    root_residuals: np.ndarray  # (T, n_root) pelvis generalized forces the loads leave
    generalized_forces: np.ndarray  # (T, nv) qfrc_inverse - J^T loads, every MuJoCo dof
    vertical_shortfall: np.ndarray  # (T,) N: mass x (COM acceleration + g), less the loads
    floor_height: float  # m, MuJoCo z
    seat_height: float | None  # m, MuJoCo z of the seat's top; None without a seat


@dataclass(frozen=True)
class _Group:
    """Contact points of one foot (or one thigh on the seat) over the trial."""

    prefix: str
    name: str
    body: int  # the body its loads are reported on (and its free torque acts on)
    point_bodies: np.ndarray  # (P,) body of each point
    at: np.ndarray  # (T, P, 3) where each point's force acts (on the supporting plane)
    strength: np.ndarray  # (T, P) in [0, 1]
    plane: float  # m, height of the supporting plane
    lean: bool  # the weak prior that its force leans towards the centre of mass


_PYRAMID = np.array([[1, 0, 1], [-1, 0, 1], [0, 1, 1], [0, -1, 1]], dtype=float)
SEATED_HEIGHT = 0.75  # sitting: the pelvis below this share of its highest above the floor
STILL_M = 0.03  # m the pelvis may move over STILL_S and still sit
STILL_S = 0.3  # s
THIGH_POINTS = (0.15, 0.45, 0.75)  # seat points along each thigh, from hip towards knee
THIGH_RADIUS = 0.17  # of the thigh's length: the seat points lie that far below its axis
SEAT_FULL_HEIGHT, SEAT_ZERO_HEIGHT = 0.01, 0.03  # m above a seat point's lowest: its strength
SHARE_WEIGHT = 300.0  # the smooth-transition prior: all but imposed (300 x the lean prior's)
STANCE_STRENGTH = 0.25  # its double supports: both feet have a point this strong (within 5 cm)
GAIT_DOUBLE_SUPPORT_S = 0.5  # s: a double support this long or shorter is a step's
# measured loads: the whole-body equations all but imposed (100 x), each foot's force held 300 x
# as firmly as the points' costs, its moment 30 x per N·m (a centre of pressure moves before a
# force changes, and never towards the foot's middle for the points' sake)
MEASURED_ROOT_WEIGHT, MEASURED_FORCE_WEIGHT, MEASURED_MOMENT_WEIGHT = 100.0, 300.0, 30.0


def solve_contacts(
    converted: ConvertedModel,
    trajectory: Trajectory,
    config: ContactSolveConfig | None = None,
    id_table: bool = True,
    measured: list[FootLoads] | None = None,
) -> ContactSolution:
    """Ground reactions and joint moments of ``trajectory`` (``converted`` exact, with foot
    contact spheres); without ``id_table`` the moments are left in MuJoCo's generalized forces
    (``id_table`` None; the projection on OpenSim's coordinates is half the time). ``measured``:
    the right and left foot's measured loads at the trajectory's times (MuJoCo frame), which
    replace the priors (module docstring)."""
    config = config or ContactSolveConfig()
    if measured is not None:
        _check_measured(measured, len(trajectory.time), config)
        config = replace(config, load_share=False)
    model = converted.mj_model
    root_dofs, root_body = _root(model)
    weight = float(model.body_subtreemass[0]) * GRAVITY
    pyramid = _PYRAMID * np.array([config.friction, config.friction, 1.0])
    data = mujoco.MjData(model)
    feet, floor = _foot_groups(model, data, trajectory, config)
    if measured is not None:  # the measurements say which foot carries load, not heights
        feet = [replace(g, strength=np.broadcast_to(_loaded(foot)[:, None], g.strength.shape))
                for g, foot in zip(feet, measured, strict=True)]  # fmt: skip
    seat, seat_height = [], None
    if config.seat:
        seat, seat_height = _seat_groups(model, data, trajectory, feet, floor, root_body, config)
    groups = feet + seat
    n = len(trajectory.time)
    share = _double_support_share(feet, trajectory.time) if config.load_share else None
    needed_vertical = vertical_force_needed(model, trajectory)
    force, moment = np.zeros((n, len(groups), 3)), np.zeros((n, len(groups), 3))
    rows, residuals, generalized = [], [], []
    with inverse_dynamics_settings(model):
        for i in range(n):
            data.qpos[:], data.qvel[:], data.qacc[:] = (
                trajectory.qpos[i], trajectory.qvel[i], trajectory.qacc[i],
            )  # fmt: skip
            mujoco.mj_inverse(model, data)
            needed = data.qfrc_inverse.copy()
            right_share = None if share is None or np.isnan(share[i, 0]) else share[i, 0]
            targets = None if measured is None else [_wrench(foot, i) for foot in measured]
            loads = _frame_loads(model, data, groups, i, pyramid, root_dofs, root_body,
                                 needed, weight, floor, right_share, targets)  # fmt: skip
            applied = np.zeros(model.nv)
            for k, (columns, values, group_force, group_moment) in enumerate(loads):
                applied += columns @ values
                force[i, k], moment[i, k] = group_force, group_moment
            tau = needed - applied
            residuals.append(tau[root_dofs])
            generalized.append(tau)
            if id_table:
                pose = {c: float(v[i]) for c, v in trajectory.coordinates.items()}
                rows.append(converted.kinematics.jacobian(pose, model.nv).T @ tau)
    loads = [
        _loads(g.prefix, g.name, model.body(g.body).name, force[:, k], moment[:, k], g.plane)
        for k, g in enumerate(groups)
    ]
    table = None
    if id_table:
        table = Table(
            time=trajectory.time.copy(), labels=id_labels(converted), data=np.array(rows),
            name=ID_TABLE_NAME, in_degrees=False, dialect="storage",
        )  # fmt: skip
    shortfall = needed_vertical - force[:, :, 2].sum(axis=1)
    return ContactSolution(
        trajectory.time.copy(), loads[:2], loads[2:], table, np.array(residuals),
        np.array(generalized), shortfall, floor, seat_height,
    )  # fmt: skip


def _check_measured(measured: list[FootLoads], frames: int, config: ContactSolveConfig) -> None:
    if config.seat:
        raise KintwinError("measured loads are for the feet: solve them without a seat")
    if len(measured) != 2 or any(len(foot.force) != frames for foot in measured):
        raise KintwinError(f"measured loads must be the right and left foot's at {frames} frames")


def _loaded(foot: FootLoads) -> np.ndarray:
    """(T,) 1.0 where a measured foot carries load (``MIN_VERTICAL_FORCE``), else 0.0."""
    return (foot.force[:, 2] >= MIN_VERTICAL_FORCE).astype(float)


def _wrench(foot: FootLoads, i: int) -> np.ndarray:
    """(6,) a foot's force and moment about the world origin at frame ``i``."""
    moment = np.cross(foot.point[i], foot.force[i]) + [0.0, 0.0, foot.free_torque[i]]
    return np.concatenate([foot.force[i], moment])


def unsupported_spans(solution: ContactSolution, weight: float, share: float = 0.1
                      ) -> list[tuple[float, float, float]]:  # fmt: skip
    """(from_s, to_s, peak shortfall / weight) of each run of two or more frames where the
    loads fall short of the vertical force the motion needs by more than ``share`` of the body
    weight: no contact point is near the floor (a foot above the IK's floor, a marker swap)."""
    short = solution.vertical_shortfall > share * weight
    edges = np.diff(np.concatenate([[0], short.astype(int), [0]]))
    spans = []
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if stop - start >= 2:
            peak = float(solution.vertical_shortfall[start:stop].max() / weight)
            spans.append((float(solution.time[start]), float(solution.time[stop - 1]), peak))
    return spans


def vertical_force_needed(
    model: mujoco.MjModel, trajectory: Trajectory, lowpass_hz: float | None = None
) -> np.ndarray:
    """(T,) N: the vertical force the floor must give a body moving as ``trajectory``, mass x
    (COM acceleration + g), the COM's height low-pass filtered at ``lowpass_hz`` first (None:
    as it is); no acceleration with fewer than 3 frames."""
    from converters.signal_filters import lowpass

    data = mujoco.MjData(model)
    height = _point_positions(model, data, trajectory, lambda: data.subtree_com[[0]])[:, 0, 2]
    time = trajectory.time
    if len(time) < 3:
        return np.full(len(time), float(model.body_subtreemass[0]) * GRAVITY)
    height = lowpass(height, lowpass_hz, float(np.median(np.diff(time))))
    acceleration = np.gradient(np.gradient(height, time), time)
    return float(model.body_subtreemass[0]) * (acceleration + GRAVITY)


def _foot_groups(model, data, trajectory: Trajectory, config: ContactSolveConfig):
    """The two feet's groups (the converter's contact spheres) and the trial's floor height."""
    points, sides = _contact_points(model)
    _, root_body = _root(model)
    where = _point_positions(
        model, data, trajectory, lambda: np.vstack([data.geom_xpos[points], data.xpos[root_body]])
    )
    centres, root = where[:, :-1], where[:, -1]
    bottoms = centres[:, :, 2] - model.geom_size[points, 0]
    floor = float(np.percentile(bottoms, config.floor_percentile))
    height = bottoms - floor
    velocity = _horizontal_velocity(centres, trajectory.time)
    belt = _belt(velocity, height, root, trajectory.time, config)
    speed = np.linalg.norm(velocity - belt, axis=2)
    strength = _strength(height, speed, config)
    at = centres.copy()
    at[:, :, 2] = floor
    groups = []
    for side, name in (("r", "right"), ("l", "left")):
        on_foot = sides == side
        bodies = model.geom_bodyid[points[on_foot]]
        calcn = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"calcn_{side}")
        body = calcn if calcn >= 0 else int(bodies[0])
        groups.append(_Group(f"{side}_", name, body, bodies, at[:, on_foot],
                             strength[:, on_foot], floor, lean=True))  # fmt: skip
    return groups, floor


def _seat_groups(model, data, trajectory, feet, floor, root_body, config):
    """A seat under the thighs when the trial sits at its start or end (the pelvis low and
    still there): per thigh, points along it from hip to knee, THIGH_RADIUS of its length below
    its axis, each touching the seat within SEAT_FULL_HEIGHT..SEAT_ZERO_HEIGHT of the lowest it
    gets in the trial (a rigid seat: the thighs leave it as soon as they rise, which the
    feet's wider band, for IK's floor errors, would not say). No seat: ([], None)."""
    pelvis = _point_positions(model, data, trajectory, lambda: data.xpos[[root_body]])[:, 0, 2]
    time = trajectory.time
    frame = seated_frame(pelvis - floor, float(np.median(np.diff(time))) if len(time) > 1 else 0.0)
    thighs = _thighs(model, root_body, feet)
    if frame is None or not thighs:
        return [], None

    def seat_points():
        out = []
        for thigh, shank in thighs:
            hip, knee = data.xpos[thigh], data.xpos[shank]
            drop = THIGH_RADIUS * np.linalg.norm(knee - hip)
            out += [hip + f * (knee - hip) - [0.0, 0.0, drop] for f in THIGH_POINTS]
        return np.array(out)

    points = _point_positions(model, data, trajectory, seat_points)
    # each point rests on the seat at the lowest it gets (sitting), and leaves it as it rises
    rest = np.percentile(points[:, :, 2], config.floor_percentile, axis=0)
    speed = _horizontal_speed(points, trajectory.time)
    seat_config = replace(config, full_height=SEAT_FULL_HEIGHT, zero_height=SEAT_ZERO_HEIGHT)
    strength = _strength(points[:, :, 2] - rest, speed, seat_config)
    at = points.copy()
    at[:, :, 2] = rest
    top = float(rest.mean())
    per = len(THIGH_POINTS)
    groups = []
    for k, ((thigh, _), side) in enumerate(zip(thighs, ("r", "l"), strict=False)):
        rows = slice(k * per, (k + 1) * per)
        groups.append(_Group(f"seat_{side}_", f"seat_{side}", thigh, np.full(per, thigh),
                             at[:, rows], strength[:, rows], top, lean=False))  # fmt: skip
    return groups, top


def _double_support_share(feet: list[_Group], time: np.ndarray) -> np.ndarray | None:
    """(T, 2) smooth-transition prior of each foot's share of the vertical load in the double
    supports of gait (Ren et al. 2008), NaN elsewhere: a foot stands while a point has strength
    over STANCE_STRENGTH; a double support longer than GAIT_DOUBLE_SUPPORT_S (standing, a squat)
    gets no prior."""
    from converters.load_share import double_support_share

    stance = np.column_stack([g.strength.max(axis=1) > STANCE_STRENGTH for g in feet])
    share = double_support_share(stance)
    if share is None:
        return None
    prior = ~np.isnan(share[:, 0])
    edges = np.diff(np.concatenate([[0], prior.astype(int), [0]]))
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if time[stop - 1] - time[start] > GAIT_DOUBLE_SUPPORT_S:
            share[start:stop] = np.nan
    return share


def seated_frame(height: np.ndarray, dt: float) -> int | None:
    """Index of the first (else last) row of ``height`` (the pelvis above the floor, m, every
    ``dt`` s) if the body sits there: low (below SEATED_HEIGHT of its highest) and still
    (moving less than STILL_M over STILL_S); else None. (The training seat uses it too.)"""
    window = max(2, round(STILL_S / dt)) if dt > 0 else len(height) + 1
    if len(height) < 2 * window or height.max() <= 0:
        return None
    for rows, frame in ((height[:window], 0), (height[-window:], len(height) - 1)):
        if rows.max() < SEATED_HEIGHT * height.max() and np.ptp(rows) < STILL_M:
            return frame
    return None


def _thighs(model, root_body: int, feet: list[_Group]) -> list[tuple[int, int]]:
    """(thigh, shank) per foot: the first two bodies below the root on the way to the foot."""
    pairs = []
    for group in feet:
        chain = [group.body]
        while chain[-1] and model.body_parentid[chain[-1]] != root_body:
            chain.append(int(model.body_parentid[chain[-1]]))
        if chain[-1] and len(chain) >= 2:
            pairs.append((chain[-1], chain[-2]))
    return pairs if len(pairs) == len(feet) else []


def _contact_points(model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    """Geom ids of the foot spheres and their side ('r'/'l'); an error without both feet."""
    ids, sides = [], []
    for g in range(model.ngeom):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or ""
        if name.startswith(CONTACT_PREFIX) and name[-2:] in ("_r", "_l"):
            ids.append(g)
            sides.append(name[-1])
    sides = np.array(sides)
    if not (np.any(sides == "r") and np.any(sides == "l")):
        raise KintwinError(
            "the contact solve needs foot contact spheres on both feet (the converter adds them "
            "to models with calcn_r/calcn_l); this model has none"
        )
    return np.array(ids), sides


def _root(model: mujoco.MjModel) -> tuple[list[int], int]:
    """The dofs of the tree's root body (the pelvis: the first body with joints) and that body."""
    for body in range(1, model.nbody):
        if model.body_jntnum[body] > 0:
            first = int(model.body_jntadr[body])
            joints = range(first, first + int(model.body_jntnum[body]))
            dofs = [int(model.jnt_dofadr[j]) + d for j in joints
                    for d in range(_joint_dofs(model.jnt_type[j]))]  # fmt: skip
            return dofs, body
    raise KintwinError("the model has no joints: there is no whole-body wrench to share")


def _joint_dofs(kind: int) -> int:
    return {mujoco.mjtJoint.mjJNT_FREE: 6, mujoco.mjtJoint.mjJNT_BALL: 3}.get(kind, 1)


def _point_positions(model, data, trajectory: Trajectory, where) -> np.ndarray:
    """(T, P, 3): ``where()`` (P, 3 world positions) at every pose of the trajectory."""
    out = []
    for q in trajectory.qpos:
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        out.append(np.array(where(), dtype=float))
    return np.array(out)


def _horizontal_velocity(centres: np.ndarray, time: np.ndarray) -> np.ndarray:
    """(T, P, 2) m/s: each point's horizontal velocity (world x and y)."""
    if len(time) < 2:
        return np.zeros((*centres.shape[:2], 2))
    return np.gradient(centres[:, :, :2], time, axis=0)


def _horizontal_speed(centres: np.ndarray, time: np.ndarray) -> np.ndarray:
    return np.linalg.norm(_horizontal_velocity(centres, time), axis=2)


def _belt(velocity: np.ndarray, height: np.ndarray, root: np.ndarray, time: np.ndarray,
          config: ContactSolveConfig) -> np.ndarray:  # fmt: skip
    """(2,) m/s, world x and y: a treadmill belt's velocity by ``converters.treadmill``'s rule,
    from the horizontal ``velocity`` of the lowest point on the frames it is within
    ``full_height`` of the floor and the root's path; zero overground."""
    lowest = height.argmin(axis=1)
    rows = np.arange(len(time))
    down = height[rows, lowest] <= config.full_height
    forward = velocity[rows[down], lowest[down], 0]
    return np.array([belt_speed(forward, root[:, 0], time), 0.0])


def _strength(height: np.ndarray, speed: np.ndarray, config: ContactSolveConfig) -> np.ndarray:
    """(T, P) in [0, 1]: linear falls from full to zero with height and with speed."""

    def ramp(x: np.ndarray, full: float, zero: float) -> np.ndarray:
        return np.clip((zero - x) / (zero - full), 0.0, 1.0)

    return ramp(height, config.full_height, config.zero_height) * ramp(
        speed, config.full_speed, config.zero_speed
    )


def _frame_loads(model, data, groups: list[_Group], i: int, pyramid, root_dofs, root_body,
                 needed, weight, floor, right_share=None, targets=None):  # fmt: skip
    """Solve frame ``i``: per group (generalized-force columns (nv, m), their nonnegative
    values, the group's total force and moment about the world origin). ``targets``: each
    foot's measured (6,) wrench, which replaces the lean prior.

    Every unknown is nonnegative (pyramid edges; a free torque as a positive and a negative
    part) and points without strength have no column, so the bounded least squares is an NNLS.
    """
    from scipy.optimize import nnls  # here: the training seat imports this module, scipy-free

    jacp, jacr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
    com = data.subtree_com[root_body]
    vertical = np.array([0.0, 0.0, 1.0])
    blocks, costs, leans = [], [], []
    for k, group in enumerate(groups):
        strength = group.strength[i]
        columns, vectors, at = [], [], []
        for j in np.flatnonzero(strength > 0):
            point = group.at[i, j]
            mujoco.mj_jac(model, data, jacp, None, point, int(group.point_bodies[j]))
            for direction in pyramid:
                columns.append(jacp.T @ direction)
                vectors.append(direction)
                at.append(point)
                costs.append(1.0 / (strength[j] * weight))
        mujoco.mj_jac(model, data, None, jacr, data.xpos[group.body], group.body)
        torque_cost = 1.0 / (20.0 * max(strength.max(), 1e-3))
        for sign in (1.0, -1.0):
            columns.append(sign * (jacr.T @ vertical))
            costs.append(torque_cost)
        if group.lean and targets is None:
            centre = group.at[i].mean(axis=0)
            slope = (com[:2] - centre[:2]) / max(com[2] - floor, 0.3)
            # per horizontal axis: the group's horizontal force ≈ its vertical force × slope
            lean = [[v[axis] - slope[axis] * v[2] for v in vectors] + [0.0, 0.0] for axis in (0, 1)]
            leans.append((k, np.array(lean) / weight))
        blocks.append((np.column_stack(columns), np.array(vectors).reshape(-1, 3), np.array(at)))
    offsets = np.concatenate([[0], np.cumsum([b[0].shape[1] for b in blocks])])
    columns = np.hstack([b[0] for b in blocks])
    prior = np.zeros((2 * len(leans), offsets[-1]))
    for row, (k, lean) in enumerate(leans):
        prior[2 * row : 2 * row + 2, offsets[k] : offsets[k + 1]] = lean
    if right_share is not None:  # (1 - s) F_right,z - s F_left,z = 0: the right foot's share s
        split = np.zeros((1, offsets[-1]))
        for k, factor in ((0, 1.0 - right_share), (1, -right_share)):
            vertical_parts = np.append(blocks[k][1][:, 2], [0.0, 0.0])  # no free torque
            split[0, offsets[k] : offsets[k + 1]] = SHARE_WEIGHT * factor * vertical_parts / weight
        prior = np.vstack([prior, split])
    root, measured, measured_target = 1.0, np.zeros((0, offsets[-1])), np.zeros(0)
    if targets is not None:
        root = MEASURED_ROOT_WEIGHT
        measured, measured_target = _measured_rows(blocks, offsets, targets, weight)
    system = np.vstack([root * columns[root_dofs], np.diag(costs), prior, measured])
    target = np.concatenate(
        [root * needed[root_dofs], np.zeros(len(costs) + len(prior)), measured_target]
    )
    solution, _ = nnls(system, target, maxiter=50 * system.shape[1])
    out = []
    for k, (block_columns, vectors, at) in enumerate(blocks):
        values = solution[offsets[k] : offsets[k + 1]]
        forces = vectors * values[: len(vectors), None]
        moment = (values[-2] - values[-1]) * vertical
        if len(at):
            moment = moment + np.cross(at, forces).sum(axis=0)
        out.append((block_columns, values, forces.sum(axis=0), moment))
    return out


def _measured_rows(blocks, offsets, targets, weight) -> tuple[np.ndarray, np.ndarray]:
    """Rows (and their targets) holding each foot's force and moment to the measured ones."""
    scale = np.array([MEASURED_FORCE_WEIGHT] * 3 + [MEASURED_MOMENT_WEIGHT] * 3) / weight
    rows, values = [], []
    for k, target in enumerate(targets):
        _, vectors, at = blocks[k]
        row = np.zeros((6, offsets[-1]))
        points = slice(offsets[k], offsets[k] + len(vectors))
        row[:3, points] = vectors.T
        if len(vectors):
            row[3:, points] = np.cross(at, vectors).T
        row[5, offsets[k + 1] - 2 : offsets[k + 1]] = (1.0, -1.0)  # the free torque
        rows.append(scale[:, None] * row)
        values.append(scale * target)
    return np.vstack(rows), np.concatenate(values)


def _loads(prefix, name, body, force, moment, plane) -> FootLoads:
    """Force, centre of pressure on the supporting plane and free torque of one group."""
    points, torques = np.zeros_like(force), np.zeros(len(force))
    for i in range(len(force)):
        points[i], torques[i] = centre_of_pressure(force[i], moment[i], plane)
    return FootLoads(prefix, name, body, force, points, torques)
