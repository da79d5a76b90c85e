"""Classic static optimization (SO): OpenSim's StaticOptimization analysis, frame by frame.

At each frame OpenSim finds the controls ``x`` of all actuators (muscle activations, reserve and
residual controls) that minimise ``sum |x_i|^p`` (``p`` the activation exponent, 2 by default)
subject to the actuators reproducing the measured accelerations, with ``min_control <= x_i <=
max_control``. With rigid tendons (``use_muscle_physiology``) muscle ``i`` makes
``x_i * F_i(q, qdot)`` along its tendon, ``F_i = F0 fl(l) fv(v) cos(alpha)`` (OpenSim's
``calcInextensibleTendonActiveFiberForce(s, 1)``; the override OpenSim applies replaces the whole
muscle force, so passive fiber force plays no part), and a reserve ``x_j * optimal_force_j``.
Because the equations of motion are linear in the actuator forces, "reproduce the accelerations"
is the same as "sum of actuator generalized forces = the inverse-dynamics generalized forces with
the external loads applied", which is what is solved here::

    minimise  sum_i |x_i|^p   subject to   A x = tau,   lower <= x <= upper,

``A[c, i]`` the generalized force about independent coordinate ``c`` per unit control ``i``
(moment arm times ``F_i`` for muscles). The problem is strictly convex and separable, so its dual
is smooth: for multipliers ``lam``, ``x_i(lam) = clip(phi(A^T lam)_i, lower_i, upper_i)`` with
``phi(g) = sign(g) (|g|/p)^(1/(p-1))``; Newton's method on ``A x(lam) = tau`` (Jacobian ``A D
A^T``, ``D`` the slopes of ``phi`` at the free controls) with a line search on the dual converges
in a few iterations, warm-started from the previous frame. Coordinates no actuator can move
(e.g. a root without residual actuators) are left out, as OpenSim leaves their acceleration
unmatched; a frame the actuators cannot satisfy falls back to the least violation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from converters.errors import KintwinError
from converters.opensim_io.actuators import Actuator
from converters.opensim_io.table import Table

if TYPE_CHECKING:  # MuJoCo is imported only where a converted model is used
    import mujoco

    from converters.model_conversion import ConvertedModel
    from converters.motion import Trajectory
    from converters.osim.model import OsimModel

__all__ = [
    "SOSolution",
    "solve_static_optimization",
    "actuator_generalized_forces",
    "so_tables",
    "SOSettings",
    "SOResult",
    "classic_static_optimization",
    "opensim_static_optimization",
    "solve_so_problem",
    "ACTIVATION_TABLE_NAME",
    "FORCE_TABLE_NAME",
]

ACTIVATION_TABLE_NAME = "Static Optimization"
FORCE_TABLE_NAME = "ModelForces"
_ACTIVATION_COMMENTS = ["This file contains static optimization results.", ""]
_FORCE_COMMENTS = [
    "",
    "This file contains the forces exerted on a model during a simulation.",
    "",
    "A force is a generalized force, meaning that it can be either a force (N) or a torque (Nm).",
    "",
    "Units are S.I. units (second, meters, Newtons, ...)",
    "If the header above contains a line with 'inDegrees', this indicates whether rotational "
    "values are in degrees (yes) or radians (no).",
    "",
]


@dataclass
class SOSolution:
    """Controls of every frame and how well they meet the generalized forces.

    Attributes:
        controls: (n, k) activations / controls.
        violation: (n,) largest |A x - tau| over the matched coordinates, N or N·m.
        iterations: (n,) Newton iterations (-1: the fallback solver was used).
        unmatched: coordinates no actuator acts on (left out of the constraints).
    """

    controls: np.ndarray
    violation: np.ndarray
    iterations: np.ndarray
    unmatched: list[str] = field(default_factory=list)


def _phi(g: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Unconstrained minimiser of |x|^p - g x, and its slope d x / d g."""
    if p == 2.0:
        return 0.5 * g, np.full_like(g, 0.5)
    e = 1.0 / (p - 1.0)
    mag = np.maximum(np.abs(g) / p, 1e-300)
    x = np.sign(g) * mag**e
    return x, (e / p) * mag ** (e - 1.0)


def _duals(x: np.ndarray, lam: np.ndarray, a: np.ndarray, tau: np.ndarray, p: float) -> np.ndarray:
    """(n,) dual objective sum |x|^p - lam . (A x - tau) of each frame."""
    return np.sum(np.abs(x) ** p, axis=1) - np.einsum("nc,nc->n", lam, _times(a, x) - tau)


def _times(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(n, c) A x of every frame."""
    return np.einsum("nck,nk->nc", a, x)


def _controls(a, lam, lower, upper, p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, slope, free) of every frame at multipliers ``lam``."""
    x, slope = _phi(np.einsum("nck,nc->nk", a, lam), p)
    free = (x > lower) & (x < upper)
    return np.clip(x, lower, upper), slope, free


def _solve_frames(
    a: np.ndarray,
    tau: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    p: float,
    tolerance: float,
    max_iterations: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Semismooth Newton on the duals of all frames at once; returns x (n, k) and the
    iterations per frame (-1 where a frame did not converge)."""
    n, c, _ = a.shape
    scale = np.maximum(1.0, np.max(np.abs(tau), axis=1))
    lam = np.zeros((n, c))
    iterations = np.full(n, -1)
    todo = np.arange(n)
    for iteration in range(max_iterations):
        x, slope, free = _controls(a[todo], lam[todo], lower, upper, p)
        residual = tau[todo] - _times(a[todo], x)
        done = np.max(np.abs(residual), axis=1) <= tolerance * scale[todo]
        iterations[todo[done]] = iteration
        todo, x, free = todo[~done], x[~done], free[~done]
        slope, residual = slope[~done], residual[~done]
        if not len(todo):
            break
        # controls at a bound count a little, so the Jacobian stays regular when many are
        # there; all count on the first step, taken from zero multipliers
        weight = slope * (1.0 if iteration == 0 else np.where(free, 1.0, 1e-4))
        af = a[todo]
        jac = np.einsum("nck,nk,ndk->ncd", af, weight, af)
        ridge = 1e-12 * np.maximum(np.trace(jac, axis1=1, axis2=2), 1e-300)
        jac += ridge[:, None, None] * np.eye(c)
        step = np.linalg.solve(jac, residual[:, :, None])[:, :, 0]
        lam[todo] += (
            _line_search(af, tau[todo], lam[todo], x, step, lower, upper, p)[:, None] * step
        )
    return _controls(a, lam, lower, upper, p)[0], iterations


def _line_search(a, tau, lam, x, step, lower, upper, p) -> np.ndarray:
    """(n,) step lengths, halved frame by frame until the dual does not decrease."""
    value = _duals(x, lam, a, tau, p)
    t = np.ones(len(lam))
    pending = np.arange(len(lam))
    for _ in range(30):
        trial = lam[pending] + t[pending, None] * step[pending]
        xt = _controls(a[pending], trial, lower, upper, p)[0]
        now = _duals(xt, trial, a[pending], tau[pending], p)
        pending = pending[now < value[pending] - 1e-12 * np.abs(value[pending])]
        if not len(pending):
            break
        t[pending] *= 0.5
    return t


def _least_violation(
    a: np.ndarray, tau: np.ndarray, lower: np.ndarray, upper: np.ndarray, p: float
) -> np.ndarray:
    """Bounded least squares on the constraints, then the smallest effort nearby (fallback)."""
    from scipy.optimize import lsq_linear

    lo = np.where(np.isfinite(lower), lower, -1e6)
    hi = np.where(np.isfinite(upper), upper, 1e6)
    weight = 1e-4 * np.max(np.abs(a)) if a.size else 1.0
    stacked = np.vstack([a, weight * np.eye(a.shape[1])])
    target = np.concatenate([tau, np.zeros(a.shape[1])])
    return lsq_linear(stacked, target, bounds=(lo, hi)).x


def solve_static_optimization(
    a: np.ndarray,
    tau: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    exponent: float = 2.0,
    coordinates: list[str] | None = None,
    tolerance: float = 1e-9,
    max_iterations: int = 50,
) -> SOSolution:
    """Controls minimising ``sum |x|^exponent`` with ``A x = tau`` at every frame.

    Args:
        a: (n, c, k) generalized force per unit control (N or N·m).
        tau: (n, c) generalized forces to meet.
        lower, upper: (k,) control bounds.
        exponent: the activation exponent (> 1).
        coordinates: names of the c rows (for the report of unmatched ones).
        tolerance: relative tolerance on the constraints.
    """
    if exponent <= 1.0:
        raise KintwinError(f"the activation exponent must be > 1, not {exponent:g}")
    n, c, k = a.shape
    acts = np.any(np.abs(a) > 0, axis=(0, 2))
    rows = np.flatnonzero(acts)
    names = coordinates or [str(i) for i in range(c)]
    af, tf = a[:, rows, :], tau[:, rows]
    controls, iterations = _solve_frames(af, tf, lower, upper, exponent, tolerance, max_iterations)
    for f in np.flatnonzero(iterations < 0):  # the actuators cannot meet this frame
        controls[f] = _least_violation(af[f], tf[f], lower, upper, exponent)
    violation = np.max(np.abs(_times(af, controls) - tf), axis=1) if len(rows) else np.zeros(n)
    return SOSolution(controls, violation, iterations, [names[i] for i in range(c) if not acts[i]])


# ------------------------------------------------------------------------ actuator forces


def actuator_generalized_forces(
    converted: ConvertedModel, trajectory: Trajectory, frames: np.ndarray, actuators: list[Actuator]
) -> np.ndarray:
    """(n, c, r) generalized force about each independent coordinate per unit control.

    Coordinate actuators act on their coordinate; point and torque actuators through the
    Jacobians of the converted MuJoCo model at each frame (OpenSim's ground and body frames).
    """
    out = _coordinate_actuator_forces(
        converted.kinematics.independent_coordinates, len(frames), actuators
    )
    spatial = [j for j, act in enumerate(actuators) if act.kind != "CoordinateActuator"]
    if not spatial:
        return out
    import mujoco

    model = converted.mj_model
    data = mujoco.MjData(model)
    plain = _plain_dofs(converted)
    for row, k in enumerate(frames):
        data.qpos[:] = trajectory.qpos[k]
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        qfrc = np.array([_spatial_generalized_force(model, data, actuators[j]) for j in spatial])
        touched = np.flatnonzero(np.any(qfrc != 0.0, axis=0))
        if all(d in plain for d in touched):  # usually the root: its dofs are its coordinates
            for d in touched:
                out[row, plain[d], spatial] = qfrc[:, d]
            continue
        pose = {c: float(v[k]) for c, v in trajectory.coordinates.items()}
        jac = converted.kinematics.jacobian(pose, model.nv)
        out[row, :, spatial] = qfrc @ jac
    return out


def _coordinate_actuator_forces(
    independent: list[str], n: int, actuators: list[Actuator]
) -> np.ndarray:
    """(n, c, r) generalized forces per unit control of the CoordinateActuators (0 elsewhere)."""
    out = np.zeros((n, len(independent), len(actuators)))
    for j, act in enumerate(actuators):
        if act.kind == "CoordinateActuator":
            if act.coordinate not in independent:
                raise KintwinError(
                    f"{act.source}: CoordinateActuator '{act.name}' drives coordinate "
                    f"'{act.coordinate}', which is coupled to another; drive the independent one"
                )
            out[:, independent.index(act.coordinate), j] = act.optimal_force
    return out


def _plain_dofs(converted: ConvertedModel) -> dict[int, int]:
    """MuJoCo dof -> independent coordinate column, for dofs that are the coordinate itself
    (no axis function, no coupled dependents)."""
    kinematics = converted.kinematics
    independent = kinematics.independent_coordinates
    coupled = {c.independent for c in kinematics.couplings}
    owners: dict[str, list] = {}
    for slot in kinematics.slots:
        owners.setdefault(slot.coordinate, []).append(slot)
    return {
        slots[0].dof: independent.index(c)
        for c, slots in owners.items()
        if c in independent and c not in coupled and len(slots) == 1 and slots[0].function is None
    }


def _spatial_generalized_force(
    model: mujoco.MjModel, data: mujoco.MjData, act: Actuator
) -> np.ndarray:
    """MuJoCo generalized force of one point or torque actuator at unit control."""
    import mujoco

    from converters.spatial import OPENSIM_TO_MUJOCO

    qfrc = np.zeros(model.nv)
    zero = np.zeros(3)
    if act.kind == "PointActuator":
        body = model.body(act.body).id
        rot = data.xmat[body].reshape(3, 3)
        direction = act.optimal_force * act.direction
        force = OPENSIM_TO_MUJOCO @ direction if act.force_is_global else rot @ direction
        point = (
            OPENSIM_TO_MUJOCO @ act.point
            if act.point_is_global
            else data.xpos[body] + rot @ act.point
        )
        mujoco.mj_applyFT(model, data, force, zero, point, body, qfrc)
        return qfrc
    body_a = model.body(act.body).id
    axis = act.optimal_force * act.axis
    torque = (
        OPENSIM_TO_MUJOCO @ axis if act.torque_is_global else data.xmat[body_a].reshape(3, 3) @ axis
    )
    mujoco.mj_applyFT(model, data, zero, torque, data.xpos[body_a], body_a, qfrc)
    if act.body_b:
        body_b = model.body(act.body_b).id
        mujoco.mj_applyFT(model, data, zero, -torque, data.xpos[body_b], body_b, qfrc)
    return qfrc


# ------------------------------------------------------------------------------- tables


def so_tables(
    time: np.ndarray, labels: list[str], controls: np.ndarray, forces: np.ndarray
) -> tuple[Table, Table]:
    """The activation and force tables, laid out as OpenSim's StaticOptimization writes them."""
    activation = Table(
        time=np.asarray(time, dtype=float),
        labels=list(labels),
        data=np.asarray(controls, dtype=float),
        name=ACTIVATION_TABLE_NAME,
        in_degrees=False,
        comments=list(_ACTIVATION_COMMENTS),
        dialect="storage",
    )
    force = replace(
        activation,
        data=np.asarray(forces, dtype=float),
        labels=list(labels),
        name=FORCE_TABLE_NAME,
        comments=list(_FORCE_COMMENTS),
    )
    return activation, force


# ------------------------------------------------------------------------------- the job


@dataclass(frozen=True)
class SOSettings:
    """What OpenSim's StaticOptimization analysis (in an AnalyzeTool) is told.

    Attributes:
        activation_exponent: the exponent p of sum |x|^p.
        lowpass_hz: coordinate low-pass cut-off, Hz (None: no filtering).
        time_range: (start, end) in s, or None for every frame.
        step_interval: solve every this many frames (OpenSim's ``step_interval``).
    """

    activation_exponent: float = 2.0
    lowpass_hz: float | None = 6.0
    time_range: tuple[float, float] | None = None
    step_interval: int = 1


@dataclass
class SOResult:
    """Both output tables, the inverse-dynamics table they balance and the solver's report;
    ``failed_muscles`` are those OpenSim could not give a force at some frame (none there)."""

    activation: Table
    force: Table
    inverse_dynamics: Table
    solution: SOSolution
    failed_muscles: tuple[str, ...] = ()


def classic_static_optimization(
    model_path,
    converted: ConvertedModel,
    series,
    loads,
    actuators: list[Actuator],
    settings: SOSettings = SOSettings(),
) -> SOResult:
    """OpenSim's static optimization of ``series`` (a :class:`CoordinateSeries`) with ``loads``.

    ``converted`` is the exact skeleton (``convert_osim(..., muscles=False, exact=True)``) of
    ``model_path``; ``actuators`` the model's own non-muscle actuators followed by the reserves.
    """
    from converters.inverse_dynamics import classic_inverse_dynamics
    from converters.motion import Trajectory

    kinematics = converted.kinematics
    model = converted.mj_model
    times, q, qd, qdd = _smoothed(series, kinematics.independent_coordinates, settings)
    qvel, qacc = kinematics.derivatives(q, qd, qdd, model.nv)
    trajectory = Trajectory(times, kinematics.qpos(q, model.nq), qvel, qacc, q)
    frames = np.arange(len(times))
    inverse = classic_inverse_dynamics(
        converted, series, loads, settings.lowpass_hz, None, trajectory=trajectory
    )
    speeds = {c: v[frames] for c, v in qd.items()}
    return solve_so_problem(
        model_path, converted, trajectory, frames, inverse, actuators, settings, speeds=speeds
    )


def _smoothed(series, independent: list[str], settings: SOSettings) -> tuple:
    """The analysed times and the (filtered, splined) values, speeds and accelerations there of
    the ``independent`` coordinates the file holds, as OpenSim's AnalyzeTool makes them."""
    from converters.motion import analysis_times, smooth_derivatives

    given = {c: v for c, v in series.values.items() if c in independent}
    span = settings.time_range
    if span is not None and (span[0] > series.time[-1] + 1e-9 or span[1] < series.time[0] - 1e-9):
        raise KintwinError(
            f"the time range {span[0]:g}-{span[1]:g} s lies outside the coordinates "
            f"({series.time[0]:g}-{series.time[-1]:g} s)"
        )
    times = analysis_times(series.time, settings.lowpass_hz, settings.time_range)
    if not len(times):
        raise KintwinError(f"no coordinate frames inside the time range {settings.time_range}")
    times = times[:: max(1, settings.step_interval)]
    return (times, *smooth_derivatives(series.time, given, settings.lowpass_hz, at=times))


def opensim_static_optimization(
    model_path, osim: OsimModel, series, actuators: list[Actuator], settings: SOSettings
) -> SOResult:
    """:func:`classic_static_optimization` with no external loads, constraints or spatial
    actuators, done entirely by the ``opensim`` package: its inverse dynamics (all forces off)
    in the same pass as the muscle states, no MuJoCo model (a smaller, faster process).
    Coordinates the file lacks stay at their defaults, at rest."""
    from converters.mjcf.kinematic_map import KinematicMap
    from converters.opensim_reference.muscle_states import muscle_states

    if osim.couplers or any(a.kind != "CoordinateActuator" for a in actuators):
        raise KintwinError("OpenSim's own static optimization path takes no coupled coordinates")
    defaults = {c: x.default_value for c, x in osim.coordinates.items()}
    kinematics = KinematicMap(list(osim.coordinates), [], [], defaults)
    independent = kinematics.independent_coordinates
    times, q, qd, qdd = _smoothed(series, independent, settings)
    n = len(times)
    values = {c: q.get(c, np.full(n, defaults[c])) for c in independent}
    speeds = {c: qd.get(c, np.zeros(n)) for c in independent}
    accelerations = {c: qdd.get(c, np.zeros(n)) for c in independent}
    muscles = muscle_states(model_path, osim, kinematics, values, speeds, accelerations)
    types = {c: x.motion_type for c, x in osim.coordinates.items()}
    target = Table(
        time=times,
        labels=[f"{c}_moment" if types[c] == "rotational" else f"{c}_force" for c in independent],
        data=muscles.generalized_forces,
        name="Inverse Dynamics Generalized Forces",
        in_degrees=False,
        dialect="storage",
    )
    a_actuators = _coordinate_actuator_forces(independent, n, actuators)
    return _so_of(muscles, a_actuators, target, actuators, settings, None)


def solve_so_problem(
    model_path,
    converted: ConvertedModel,
    trajectory: Trajectory,
    frames: np.ndarray,
    target: Table,
    actuators: list[Actuator],
    settings: SOSettings,
    constrained: list[str] | None = None,
    speeds: dict[str, np.ndarray] | None = None,
) -> SOResult:
    """Muscle states at ``frames``, the problem, its solution and the two tables.

    ``target`` holds the generalized forces to meet at ``frames``, in ID layout; ``constrained``
    limits the constraints to those coordinates (default: all independent coordinates);
    ``speeds`` gives the independent coordinates' speeds at ``frames`` (else found from qvel).
    """
    from converters.opensim_reference.muscle_states import muscle_states

    kinematics = converted.kinematics
    independent = kinematics.independent_coordinates
    values = {c: trajectory.coordinates[c][frames] for c in independent}
    if speeds is None:
        speeds = _independent_speeds(converted, trajectory, frames)
    muscles = muscle_states(model_path, converted.osim, kinematics, values, speeds)
    a_actuators = actuator_generalized_forces(converted, trajectory, frames, actuators)
    return _so_of(muscles, a_actuators, target, actuators, settings, constrained)


def _so_of(muscles, a_actuators, target: Table, actuators, settings, constrained) -> SOResult:
    """Problem, solution and tables from the muscle states and actuators' generalized forces."""
    independent = muscles.coordinates
    n = len(target.time)
    a_muscles = muscles.moment_arm * muscles.max_active_force[:, :, None]
    a = np.concatenate([np.transpose(a_muscles, (0, 2, 1)), a_actuators], axis=2)
    tau = target.data
    if constrained is not None:
        rows = [independent.index(c) for c in constrained]
        a, tau = a[:, rows, :], tau[:, rows]
    names = list(independent) if constrained is None else list(constrained)
    lower = np.concatenate([muscles.min_control, [x.min_control for x in actuators]])
    upper = np.concatenate([muscles.max_control, [x.max_control for x in actuators]])
    solution = solve_static_optimization(a, tau, lower, upper, settings.activation_exponent, names)
    scale = np.concatenate(
        [muscles.max_active_force, np.tile([x.optimal_force for x in actuators], (n, 1))],
        axis=1,
    )
    labels = [*muscles.names, *(x.name for x in actuators)]
    activation, force = so_tables(target.time, labels, solution.controls, solution.controls * scale)
    return SOResult(activation, force, target, solution, muscles.failed)


def _independent_speeds(
    converted: ConvertedModel, trajectory: Trajectory, frames: np.ndarray
) -> dict[str, np.ndarray]:
    """Each independent coordinate's speed at ``frames``, from qvel through the coupling Jacobian."""
    independent = converted.kinematics.independent_coordinates
    out = {c: np.zeros(len(frames)) for c in independent}
    for row, k in enumerate(frames):
        pose = {c: float(v[k]) for c, v in trajectory.coordinates.items()}
        jac = converted.kinematics.jacobian(pose, converted.mj_model.nv)
        rates = np.linalg.lstsq(jac, trajectory.qvel[k], rcond=None)[0]
        for i, c in enumerate(independent):
            out[c][row] = rates[i]
    return out
