"""Ground reactions from the measured motion alone, then inverse dynamics with them.

The whole-body equations of motion of the kinematics give the total external wrench the body
needs (OpenSim ID's pelvis residuals without loads). It is shared among contact points under
the feet (the converter's foot spheres, on the trial's own floor) as nonnegative forces inside
a friction pyramid, each point's strength falling with its height above the floor and its
speed, as in Fluit et al. (2014, J Biomech 47:2321) "Prediction of ground reaction forces and
moments during various activities of daily living". Per frame a bounded least-squares problem:

    min  |A x - b|^2 + sum_j (x_j / (s_j W))^2 + sum_k (tau_k / (20 N·m s_k))^2
         + sum_k |F_k,horizontal - F_k,vertical (c - p_k)_h / (c_z - floor)|^2 / W^2

with ``A x`` the pelvis generalized forces of the point forces x (and each foot's free torque),
``b`` those the motion needs, ``s`` the strengths, W the body weight. The last term is a weak
prior that each foot's force points at the centre of mass (c): it splits the horizontal force
between two feet on the floor (leading foot braking, trailing foot pushing), which the total
alone cannot. Joint moments are then ``qfrc_inverse - J^T loads`` projected on the
independent coordinates, as OpenSim's InverseDynamicsTool computes them with those loads.

No seat, handrail or other contact than the feet is modelled: where one carries load (sitting)
the feet are given it and the summary's residuals say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from scipy.optimize import nnls

from converters.errors import KintwinError
from converters.inverse_dynamics import ID_TABLE_NAME, id_labels
from converters.model_conversion import ConvertedModel
from converters.motion import Trajectory
from converters.opensim_io.ground_reactions import FootLoads, centre_of_pressure
from converters.opensim_io.table import Table

__all__ = ["ContactSolveConfig", "ContactSolution", "solve_contacts", "CONTACT_PREFIX"]

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
    """

    full_height: float = 0.02
    zero_height: float = 0.06
    full_speed: float = 0.5
    zero_speed: float = 1.5
    friction: float = 0.8
    floor_percentile: float = 2.0


@dataclass(frozen=True)
class ContactSolution:
    """Loads per foot (MuJoCo world frame) and the inverse dynamics they give."""

    time: np.ndarray
    feet: list[FootLoads]
    id_table: Table
    root_residuals: np.ndarray  # (T, n_root) pelvis generalized forces the loads leave
    floor_height: float  # m, MuJoCo z


_PYRAMID = np.array([[1, 0, 1], [-1, 0, 1], [0, 1, 1], [0, -1, 1]], dtype=float)


def solve_contacts(
    converted: ConvertedModel, trajectory: Trajectory, config: ContactSolveConfig | None = None
) -> ContactSolution:
    """Ground reactions and joint moments of ``trajectory`` (``converted`` exact, with foot
    contact spheres)."""
    config = config or ContactSolveConfig()
    model = converted.mj_model
    points, sides = _contact_points(model)
    root_dofs, root_body = _root(model)
    weight = float(model.body_subtreemass[0]) * GRAVITY
    pyramid = _PYRAMID * np.array([config.friction, config.friction, 1.0])
    data = mujoco.MjData(model)
    centres = _point_positions(model, data, trajectory, points)
    radius = model.geom_size[points, 0]
    bottoms = centres[:, :, 2] - radius
    floor = float(np.percentile(bottoms, config.floor_percentile))
    strength = _strength(bottoms - floor, _horizontal_speed(centres, trajectory.time), config)
    foot_bodies = [model.body(f"calcn_{side}").id if _has_body(model, f"calcn_{side}")
                   else int(model.geom_bodyid[points[sides == side][0]]) for side in ("r", "l")]  # fmt: skip
    saved = model.opt.disableflags
    model.opt.disableflags |= (
        mujoco.mjtDisableBit.mjDSBL_CONSTRAINT
        | mujoco.mjtDisableBit.mjDSBL_SPRING
        | mujoco.mjtDisableBit.mjDSBL_DAMPER
    )
    n = len(trajectory.time)
    force, moment = np.zeros((n, 2, 3)), np.zeros((n, 2, 3))
    rows, residuals = [], []
    try:
        for i in range(n):
            data.qpos[:], data.qvel[:], data.qacc[:] = (
                trajectory.qpos[i], trajectory.qvel[i], trajectory.qacc[i],
            )  # fmt: skip
            mujoco.mj_inverse(model, data)
            needed = data.qfrc_inverse.copy()
            loads = _frame_loads(
                model, data, points, sides, centres[i], strength[i], floor, pyramid,
                foot_bodies, root_dofs, root_body, needed, weight,
            )  # fmt: skip
            applied = np.zeros(model.nv)
            for k, (columns, values, foot_force, foot_moment) in enumerate(loads):
                applied += columns @ values
                force[i, k], moment[i, k] = foot_force, foot_moment
            tau = needed - applied
            residuals.append(tau[root_dofs])
            pose = {c: float(v[i]) for c, v in trajectory.coordinates.items()}
            rows.append(converted.kinematics.jacobian(pose, model.nv).T @ tau)
    finally:
        model.opt.disableflags = saved
    feet = [
        _foot_loads(prefix, name, model.body(foot_bodies[k]).name, force[:, k], moment[:, k], floor)
        for k, (prefix, name) in enumerate((("r_", "right"), ("l_", "left")))
    ]
    table = Table(
        time=trajectory.time.copy(), labels=id_labels(converted), data=np.array(rows),
        name=ID_TABLE_NAME, in_degrees=False, dialect="storage",
    )  # fmt: skip
    return ContactSolution(trajectory.time.copy(), feet, table, np.array(residuals), floor)


def _has_body(model: mujoco.MjModel, name: str) -> bool:
    return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name) >= 0


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


def _point_positions(model, data, trajectory: Trajectory, points: np.ndarray) -> np.ndarray:
    """(T, P, 3) world positions of the contact spheres' centres."""
    out = np.zeros((len(trajectory.time), len(points), 3))
    for i, q in enumerate(trajectory.qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        out[i] = data.geom_xpos[points]
    return out


def _horizontal_speed(centres: np.ndarray, time: np.ndarray) -> np.ndarray:
    if len(time) < 2:
        return np.zeros(centres.shape[:2])
    velocity = np.gradient(centres, time, axis=0)
    return np.linalg.norm(velocity[:, :, :2], axis=2)


def _strength(height: np.ndarray, speed: np.ndarray, config: ContactSolveConfig) -> np.ndarray:
    """(T, P) in [0, 1]: linear falls from full to zero with height and with speed."""

    def ramp(x: np.ndarray, full: float, zero: float) -> np.ndarray:
        return np.clip((zero - x) / (zero - full), 0.0, 1.0)

    return ramp(height, config.full_height, config.zero_height) * ramp(
        speed, config.full_speed, config.zero_speed
    )


def _frame_loads(model, data, points, sides, centres, strength, floor, pyramid, foot_bodies,
                 root_dofs, root_body, needed, weight):  # fmt: skip
    """Solve one frame: per foot (generalized-force columns (nv, m), their nonnegative values,
    the foot's total force and moment about the world origin).

    Every unknown is nonnegative (pyramid edges; a free torque as a positive and a negative
    part) and points without strength have no column, so the bounded least squares is an NNLS.
    """
    jacp, jacr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
    com = data.subtree_com[root_body]
    vertical = np.array([0.0, 0.0, 1.0])
    feet, costs, leans = [], [], []
    for k, side in enumerate(("r", "l")):
        on_foot = np.flatnonzero(sides == side)
        columns, vectors, at = [], [], []
        for j in on_foot[strength[on_foot] > 0]:
            point = np.array([centres[j, 0], centres[j, 1], floor])
            mujoco.mj_jac(model, data, jacp, None, point, int(model.geom_bodyid[points[j]]))
            for direction in pyramid:
                columns.append(jacp.T @ direction)
                vectors.append(direction)
                at.append(point)
                costs.append(1.0 / (strength[j] * weight))
        mujoco.mj_jac(model, data, None, jacr, centres[on_foot[0]], foot_bodies[k])
        torque_cost = 1.0 / (20.0 * max(strength[on_foot].max(), 1e-3))
        for sign in (1.0, -1.0):
            columns.append(sign * (jacr.T @ vertical))
            costs.append(torque_cost)
        centre = centres[on_foot].mean(axis=0)
        slope = (com[:2] - centre[:2]) / max(com[2] - floor, 0.3)
        # per horizontal axis: the foot's horizontal force ≈ its vertical force × slope
        lean = [[v[axis] - slope[axis] * v[2] for v in vectors] + [0.0, 0.0] for axis in (0, 1)]
        leans.append(np.array(lean) / weight)
        feet.append((np.column_stack(columns), np.array(vectors).reshape(-1, 3), np.array(at)))
    sizes = [f[0].shape[1] for f in feet]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    columns = np.hstack([f[0] for f in feet])
    prior = np.zeros((2 * len(feet), offsets[-1]))
    for k, lean in enumerate(leans):
        prior[2 * k : 2 * k + 2, offsets[k] : offsets[k + 1]] = lean
    system = np.vstack([columns[root_dofs], np.diag(costs), prior])
    target = np.concatenate([needed[root_dofs], np.zeros(len(costs) + len(prior))])
    solution, _ = nnls(system, target, maxiter=50 * system.shape[1])
    out = []
    for k, (foot_columns, vectors, at) in enumerate(feet):
        values = solution[offsets[k] : offsets[k + 1]]
        forces = vectors * values[: len(vectors), None]
        free_torque = values[-2] - values[-1]
        moment = (
            np.cross(at, forces).sum(axis=0) + free_torque * vertical
            if len(at)
            else free_torque * vertical
        )
        out.append((foot_columns, values, forces.sum(axis=0), moment))
    return out


def _foot_loads(prefix, name, body, force, moment, floor) -> FootLoads:
    """Force, centre of pressure on the floor and free torque of one foot over time."""
    points, torques = np.zeros_like(force), np.zeros(len(force))
    for i in range(len(force)):
        points[i], torques[i] = centre_of_pressure(force[i], moment[i], floor)
    return FootLoads(prefix, name, body, force, points, torques)
