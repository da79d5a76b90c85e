"""The converter's truth test: the same quantities from the ``opensim`` package and from MuJoCo.

For many poses (uniform within coordinate ranges, plus IK frames when given) this compares body
origins and orientations, marker positions, total mass and the mass matrix in independent
coordinates (dependent axes and coupled coordinates projected through the coupling Jacobian, as
OpenSim's constraints do).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from converters.mjcf.kinematic_map import KinematicMap
from converters.spatial import OPENSIM_TO_MUJOCO, rotation_angle_between

__all__ = ["KinematicsReport", "validate_kinematics", "sample_poses", "set_opensim_pose", "BARS"]

BARS = {
    "body_position_m": 1e-5,
    "body_orientation_rad": 1e-5,
    "marker_m": 1e-5,
    "mass_kg": 1e-9,
    "mass_matrix_rel": 1e-6,
}


@dataclass
class KinematicsReport:
    """Worst-case differences between OpenSim and the converted MuJoCo model (SI units)."""

    model: str
    poses: int
    body_position_m: float
    body_orientation_rad: float
    marker_m: float
    mass_opensim_kg: float
    mass_mujoco_kg: float
    mass_matrix_rel: float
    worst: dict[str, str] = field(default_factory=dict)

    @property
    def mass_kg(self) -> float:
        return abs(self.mass_opensim_kg - self.mass_mujoco_kg)

    def failures(self, bars: dict[str, float] = BARS) -> list[str]:
        """The bars this report misses, as readable lines (empty when all hold)."""
        values = {**asdict(self), "mass_kg": self.mass_kg}
        return [
            f"{key} = {values[key]:.3g} > {bar:g}"
            for key, bar in bars.items()
            if not values[key] <= bar
        ]

    def as_dict(self) -> dict:
        return {**asdict(self), "mass_kg": self.mass_kg}


def sample_poses(
    kinematics: KinematicMap, ranges: dict[str, tuple[float, float]], n: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """``n`` poses uniform within each independent coordinate's range (bounded to +-pi / +-2 m)."""
    rng = np.random.default_rng(seed)
    poses = {}
    for name in kinematics.independent_coordinates:
        lo, hi = ranges[name]
        lo, hi = max(lo, -np.pi), min(hi, np.pi)
        poses[name] = rng.uniform(lo, hi, n) if hi > lo else np.full(n, lo)
    return poses


def validate_kinematics(
    osim_path: str | Path,
    mj_model: mujoco.MjModel,
    kinematics: KinematicMap,
    poses: dict[str, np.ndarray],
    locked: dict[str, float],
) -> KinematicsReport:
    """Compare OpenSim and MuJoCo at every pose in ``poses`` (coordinate name -> (n,) values)."""
    import opensim

    opensim.Logger.setLevelString("off")  # old models log errors about forces we drop anyway
    osim = opensim.Model(str(osim_path))
    osim.updForceSet().clearAndDestroy()  # kinematics and mass only: forces play no part
    state = osim.initSystem()
    opensim.Logger.setLevelString("error")
    values = kinematics.complete({**poses, **{k: np.full(_n(poses), v) for k, v in locked.items()}})
    qpos = kinematics.qpos(values, mj_model.nq)
    data = mujoco.MjData(mj_model)
    speeds = _speed_index(osim, state)
    report = _Worst()
    for k in range(qpos.shape[0]):
        pose = {name: float(v[k]) for name, v in values.items()}
        set_opensim_pose(osim, state, pose)
        data.qpos[:] = qpos[k]
        mujoco.mj_forward(mj_model, data)
        _compare_frames(osim, state, mj_model, data, report)
        report.note(
            "mass_matrix_rel",
            _mass_matrix_error(osim, state, speeds, mj_model, data, kinematics, pose),
            f"pose {k}",
        )
    masses = [osim.getBodySet().get(i).getMass() for i in range(osim.getBodySet().getSize())]
    ground = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_BODY, osim.getGround().getName())
    return KinematicsReport(
        model=osim.getName(),
        poses=qpos.shape[0],
        body_position_m=report.value["body_position_m"],
        body_orientation_rad=report.value["body_orientation_rad"],
        marker_m=report.value["marker_m"],
        mass_opensim_kg=float(sum(masses)),
        mass_mujoco_kg=float(mj_model.body_subtreemass[ground]),
        mass_matrix_rel=report.value["mass_matrix_rel"],
        worst=report.where,
    )


def _n(poses: dict[str, np.ndarray]) -> int:
    return int(np.size(next(iter(poses.values()))))


class _Worst:
    """Running maxima and where they occurred."""

    def __init__(self) -> None:
        self.value = {
            "body_position_m": 0.0,
            "body_orientation_rad": 0.0,
            "marker_m": 0.0,
            "mass_matrix_rel": 0.0,
        }
        self.where: dict[str, str] = {}

    def note(self, key: str, value: float, where: str) -> None:
        if not value <= self.value[key]:  # NaN is a failure too
            self.value[key] = value
            self.where[key] = where


def set_opensim_pose(osim, state, pose: dict[str, float]) -> None:
    """Set every unlocked coordinate of an ``opensim`` model's state and realize positions."""
    coordinates = osim.getCoordinateSet()
    for name, value in pose.items():
        coordinate = coordinates.get(name)
        if not coordinate.getLocked(state):
            coordinate.setValue(state, value, False)
    osim.realizePosition(state)


def _compare_frames(osim, state, mj_model, data, report: _Worst) -> None:
    to_opensim = OPENSIM_TO_MUJOCO.T
    bodies = osim.getBodySet()
    for i in range(bodies.getSize()):
        body = bodies.get(i)
        x = body.getTransformInGround(state)
        p_os = np.array([x.p().get(j) for j in range(3)])
        r_os = np.array([[x.R().get(a, b) for b in range(3)] for a in range(3)])
        k = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_BODY, body.getName())
        p_mj = to_opensim @ data.xpos[k]
        r_mj = to_opensim @ data.xmat[k].reshape(3, 3)
        report.note("body_position_m", float(np.linalg.norm(p_os - p_mj)), body.getName())
        report.note("body_orientation_rad", rotation_angle_between(r_os, r_mj), body.getName())
    markers = osim.getMarkerSet()
    for i in range(markers.getSize()):
        marker = markers.get(i)
        v = marker.getLocationInGround(state)
        k = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_SITE, marker.getName())
        p_mj = to_opensim @ data.site_xpos[k]
        report.note(
            "marker_m",
            float(np.linalg.norm(np.array([v.get(j) for j in range(3)]) - p_mj)),
            marker.getName(),
        )


def _speed_index(osim, state) -> dict[str, int]:
    """Coordinate name -> index of its mobility in OpenSim's generalized speeds u."""
    import opensim

    index = {}
    coordinates = osim.getCoordinateSet()
    for i in range(coordinates.getSize()):
        state.setU(opensim.Vector(state.getNU(), 0.0))
        coordinates.get(i).setSpeedValue(state, 1.0)
        u = np.array([state.getU().get(j) for j in range(state.getNU())])
        index[coordinates.get(i).getName()] = int(np.argmax(np.abs(u)))
    state.setU(opensim.Vector(state.getNU(), 0.0))
    return index


def _to_numpy(matrix) -> np.ndarray:
    return np.array(
        [[matrix.get(i, j) for j in range(matrix.ncol())] for i in range(matrix.nrow())]
    )


def _n_matrix(osim, state) -> np.ndarray:
    """OpenSim's qdot = N(q) u (identity except for ball and free joints, whose u are angular
    velocities while their coordinates are Euler angles)."""
    import opensim

    matter = osim.getMatterSubsystem()
    columns = []
    for j in range(state.getNU()):
        u = opensim.Vector(state.getNU(), 0.0)
        u.set(j, 1.0)
        qdot = opensim.Vector(state.getNQ(), 0.0)
        matter.multiplyByN(state, False, u, qdot)
        columns.append([qdot.get(i) for i in range(state.getNQ())])
    return np.array(columns).T


def _mass_matrix_error(
    osim,
    state,
    u_index: dict[str, int],
    mj_model,
    data,
    kinematics: KinematicMap,
    pose: dict[str, float],
) -> float:
    """Relative difference of the mass matrices in independent-coordinate rates."""
    import opensim

    if not kinematics.independent_coordinates:
        return 0.0
    matrix = opensim.Matrix()
    osim.getMatterSubsystem().calcM(state, matrix)
    m_u = _to_numpy(matrix)
    rates = _opensim_speeds_per_coordinate_rate(osim, state, u_index, kinematics, pose)
    reference = rates.T @ m_u @ rates
    m_mj = np.zeros((mj_model.nv, mj_model.nv))
    mujoco.mj_fullM(mj_model, data, m_mj)
    jac = kinematics.jacobian(pose, mj_model.nv)
    scale = np.linalg.norm(reference)
    difference = np.linalg.norm(jac.T @ m_mj @ jac - reference)
    return float(difference / scale) if scale > 0 else float(difference)


def _opensim_speeds_per_coordinate_rate(
    osim, state, u_index: dict[str, int], kinematics: KinematicMap, pose: dict[str, float]
) -> np.ndarray:
    """(nu, n_independent): OpenSim's generalized speeds u per unit rate of each independent
    coordinate. Where u is q-dot (every joint but ball and free) this is the coupling Jacobian;
    otherwise q is differentiated numerically and mapped through N (q-dot = N u)."""
    independent = kinematics.independent_coordinates
    n = _n_matrix(osim, state)
    result = np.zeros((n.shape[1], len(independent)))
    if n.shape[0] == n.shape[1] and np.allclose(n, np.eye(n.shape[0])):
        for name, rates in kinematics.coordinate_rates(pose).items():
            for free, rate in rates.items():
                result[u_index[name], independent.index(free)] += rate
        return result
    step = 1e-6
    for k, name in enumerate(independent):
        q = []
        for sign in (1.0, -1.0):
            moved = kinematics.complete(
                {
                    **{c: np.asarray(v) for c, v in pose.items() if c in independent},
                    name: np.asarray(pose[name] + sign * step),
                }
            )
            set_opensim_pose(osim, state, {c: float(v) for c, v in moved.items()})
            q.append(np.array([state.getQ().get(j) for j in range(state.getNQ())]))
        result[:, k] = np.linalg.lstsq(n, (q[0] - q[1]) / (2 * step), rcond=None)[0]
    set_opensim_pose(osim, state, pose)
    return result


def opensim_inverse_dynamics(
    model: str | Path,
    coordinates: str | Path,
    external_loads: str | Path | None,
    lowpass_hz: float | None,
    time_range: tuple[float, float],
    workdir: str | Path,
    excluded: tuple[str, ...] = ("Muscles",),
) -> Path:
    """Run the ``opensim`` package's InverseDynamicsTool; return the path of its output .sto."""
    import opensim

    opensim.Logger.setLevelString("error")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    osim = opensim.Model(str(model))
    osim.initSystem()
    tool = opensim.InverseDynamicsTool()
    tool.setModel(osim)
    tool.setCoordinatesFileName(str(coordinates))
    if external_loads is not None:
        tool.setExternalLoadsFileName(str(external_loads))
    tool.setLowpassCutoffFrequency(-1.0 if lowpass_hz is None else float(lowpass_hz))
    tool.setStartTime(time_range[0])
    tool.setEndTime(time_range[1])
    excluded_set = opensim.ArrayStr()
    for name in excluded:
        excluded_set.append(name)
    tool.setExcludedForces(excluded_set)
    tool.setResultsDir(str(workdir))
    tool.setOutputGenForceFileName("opensim_id.sto")
    if not tool.run():
        raise RuntimeError("OpenSim's InverseDynamicsTool failed")
    return workdir / "opensim_id.sto"


def marker_tracking_error(
    mj_model: mujoco.MjModel, qpos: np.ndarray, time: np.ndarray, markers
) -> dict[str, float]:
    """RMS distance (m) between model marker sites and measured markers, frame by frame.

    ``markers`` is a :class:`converters.markers.MarkerTrajectories`; frames are matched by time
    (nearest), missing markers are skipped. This is OpenSim's IK marker error.
    """
    data = mujoco.MjData(mj_model)
    sites = [mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_SITE, n) for n in markers.names]
    rms = []
    for k in range(qpos.shape[0]):
        j = int(np.argmin(np.abs(markers.time - time[k])))
        data.qpos[:] = qpos[k]
        mujoco.mj_kinematics(mj_model, data)
        difference = data.site_xpos[sites] - markers.positions[j]
        distance = np.linalg.norm(difference, axis=1)
        distance = distance[np.isfinite(distance)]
        if distance.size:
            rms.append(float(np.sqrt(np.mean(distance**2))))
    return {
        "frames": len(rms),
        "markers": len(sites),
        "rms_mean_m": float(np.mean(rms)),
        "rms_max_m": float(np.max(rms)),
    }


def opensim_static_optimization(
    model: str | Path,
    coordinates: str | Path,
    external_loads: str | Path | None,
    lowpass_hz: float | None,
    time_range: tuple[float, float],
    workdir: str | Path,
    actuators: str | Path | None = None,
) -> Path:
    """Run the ``opensim`` package's StaticOptimization (AnalyzeTool) and return its activation
    ``.sto``; ``actuators`` is an optional force-set XML (reserve actuators) added to the model.

    The tool is written as a setup file and run from it, as the OpenSim GUI does, so that it
    loads the model and the coordinates itself.
    """
    import opensim

    opensim.Logger.setLevelString("error")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    tool = opensim.AnalyzeTool()
    tool.setName("kintwin_so")
    tool.setModelFilename(str(Path(model).resolve()))
    if actuators is not None:
        files = opensim.ArrayStr()
        files.append(str(Path(actuators).resolve()))
        tool.setForceSetFiles(files)
        tool.setReplaceForceSet(False)
    tool.setCoordinatesFileName(str(Path(coordinates).resolve()))
    if external_loads is not None:
        tool.setExternalLoadsFileName(str(Path(external_loads).resolve()))
    tool.setLowpassCutoffFrequency(-1.0 if lowpass_hz is None else float(lowpass_hz))
    tool.setInitialTime(time_range[0])
    tool.setFinalTime(time_range[1])
    tool.setResultsDir(str(workdir))
    analysis = opensim.StaticOptimization()
    analysis.setStartTime(time_range[0])
    analysis.setEndTime(time_range[1])
    tool.getAnalysisSet().cloneAndAppend(analysis)
    setup = workdir / "kintwin_so_setup.xml"
    tool.printToXML(str(setup))
    if not opensim.AnalyzeTool(str(setup)).run():
        raise RuntimeError("OpenSim's StaticOptimization failed")
    return workdir / "kintwin_so_StaticOptimization_activation.sto"
