"""Classic inverse dynamics in MuJoCo: measured kinematics and ground reaction forces in,
OpenSim's generalized forces out (``<coordinate>_moment`` / ``<coordinate>_force``).

It reproduces OpenSim's InverseDynamicsTool: coordinates padded, low-pass filtered and splined
(see :mod:`converters.motion`), external loads interpolated by cubic GCV splines, the equations of
motion solved with every constraint switched off, and forces on dependent axes projected onto
their independent coordinate through the coupling Jacobian.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import mujoco
import numpy as np

from converters.errors import KintwinError
from converters.model_conversion import ConvertedModel
from converters.motion import CoordinateSeries, Trajectory, frames_in_range, make_trajectory
from converters.natural_spline import NaturalSpline
from converters.opensim_io.external_loads import ExternalLoads
from converters.opensim_io.table import Table
from converters.osim.functions import GCVSpline
from converters.spatial import OPENSIM_TO_MUJOCO

__all__ = ["classic_inverse_dynamics", "id_labels", "inverse_dynamics_settings", "ID_TABLE_NAME"]

ID_TABLE_NAME = "Inverse Dynamics Generalized Forces"


def id_labels(converted: ConvertedModel) -> list[str]:
    """OpenSim's ID column names for the independent coordinates, in model order: ``_moment`` for
    rotational coordinates, ``_force`` for all others (coupled included, as OpenSim names them)."""
    types = {n: c.motion_type for n, c in converted.osim.coordinates.items()}
    return [
        f"{n}_moment" if types[n] == "rotational" else f"{n}_force"
        for n in converted.kinematics.independent_coordinates
    ]


def _load_values(loads: ExternalLoads, time: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Per applied force: body name and its (n, 9) force, point and torque at ``time``, from
    OpenSim's cubic GCV splines through the loads: the natural cubic spline inside the data,
    its tangent line beyond either end (``GCVSpline``'s degree m - 1 Taylor extrapolation)."""
    if len(loads.time) < 4:  # too short for a cubic: the general function says why
        return [
            (
                f.body,
                np.column_stack([GCVSpline(2, loads.time, c).value(time) for c in _columns(f)]),
            )
            for f in loads.forces
        ]
    t0, t1 = float(loads.time[0]), float(loads.time[-1])
    clipped = np.clip(time, t0, t1)
    before, after = (time < t0)[:, None], (time >= t1)[:, None]
    out = []
    for force in loads.forces:
        spline = NaturalSpline(loads.time, np.column_stack(_columns(force)), half_order=2)
        values = spline(clipped, 0)
        ends = spline(np.array([t0, t1]), 0), spline(np.array([t0, t1]), 1)
        values = np.where(before, ends[0][0] + ends[1][0] * (time - t0)[:, None], values)
        values = np.where(after, ends[0][1] + ends[1][1] * (time - t1)[:, None], values)
        out.append((force.body, values))
    return out


def _columns(force) -> list[np.ndarray]:
    return [*force.force.T, *force.point.T, *force.torque.T]


def _external_generalized_forces(
    model: mujoco.MjModel, data: mujoco.MjData, loads: list[tuple[str, np.ndarray]]
) -> np.ndarray:
    """J^T of every external load (body, its 9 values now): MuJoCo generalized forces, (nv,)."""
    total = np.zeros(model.nv)
    for body, values in loads:
        force = OPENSIM_TO_MUJOCO @ values[0:3]
        point = OPENSIM_TO_MUJOCO @ values[3:6]
        torque = OPENSIM_TO_MUJOCO @ values[6:9]
        qfrc = np.zeros(model.nv)
        mujoco.mj_applyFT(model, data, force, torque, point, model.body(body).id, qfrc)
        total += qfrc
    return total


@contextlib.contextmanager
def inverse_dynamics_settings(model: mujoco.MjModel) -> Iterator[None]:
    """``model`` set for ``mj_inverse`` as OpenSim's ID: the generalized forces are what the
    joints must supply, so no constraint, spring or damper forces (OpenSim's ID excludes
    muscles; a model converted with muscles keeps tendon springs); restored afterwards."""
    saved = model.opt.disableflags
    model.opt.disableflags |= (
        mujoco.mjtDisableBit.mjDSBL_CONSTRAINT
        | mujoco.mjtDisableBit.mjDSBL_SPRING
        | mujoco.mjtDisableBit.mjDSBL_DAMPER
    )
    try:
        yield
    finally:
        model.opt.disableflags = saved


def classic_inverse_dynamics(
    converted: ConvertedModel,
    series: CoordinateSeries,
    loads: ExternalLoads | None = None,
    lowpass_hz: float | None = None,
    time_range: tuple[float, float] | None = None,
    trajectory: Trajectory | None = None,
    source: str | Path = "",
) -> Table:
    """OpenSim-format ID table over the frames of ``series`` inside ``time_range``.

    ``converted`` must be the exact model (``convert_osim(..., exact=True)``). ``trajectory``,
    if given, is ``make_trajectory(series, ...)`` already computed (it is not recomputed).
    ``source`` (the coordinates' file) names errors.
    """
    model = converted.mj_model
    if np.any(model.dof_armature != 0):
        raise KintwinError("classic inverse dynamics needs the exact model (no armature)")
    if trajectory is None:
        trajectory = make_trajectory(series, converted.kinematics, model.nq, model.nv, lowpass_hz)
    keep = frames_in_range(trajectory.time, time_range, source)
    unknown = (
        []
        if loads is None
        else [f.body for f in loads.forces if f.body not in converted.osim.bodies]
    )
    if unknown:
        raise KintwinError(
            f"external loads applied to bodies not in the model: {', '.join(unknown)}"
        )
    values = [] if loads is None else _load_values(loads, trajectory.time)
    data = mujoco.MjData(model)
    rows = []
    with inverse_dynamics_settings(model):
        for k in np.flatnonzero(keep):
            data.qpos[:], data.qvel[:], data.qacc[:] = (
                trajectory.qpos[k],
                trajectory.qvel[k],
                trajectory.qacc[k],
            )
            mujoco.mj_inverse(model, data)
            tau = data.qfrc_inverse.copy()
            if values:
                now = [(body, v[k]) for body, v in values]
                tau -= _external_generalized_forces(model, data, now)
            pose = {c: float(v[k]) for c, v in trajectory.coordinates.items()}
            rows.append(converted.kinematics.jacobian(pose, model.nv).T @ tau)
    return Table(
        time=trajectory.time[keep],
        labels=id_labels(converted),
        data=np.array(rows),
        name=ID_TABLE_NAME,
        in_degrees=False,
        dialect="storage",
    )
