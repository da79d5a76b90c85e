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
from converters.opensim_reference.kinematics import (
    body_frames,
    body_masses,
    generalized_q,
    marker_positions,
    mass_matrix,
    n_matrix,
    speed_index,
)
from converters.opensim_reference.log import opensim_log
from converters.opensim_reference.model import OpenSimModel
from converters.spatial import OPENSIM_TO_MUJOCO, rotation_angle_between

__all__ = [
    "KinematicsReport",
    "validate_kinematics",
    "sample_poses",
    "marker_tracking_error",
    "BARS",
]

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
    osim = OpenSimModel(osim_path, forces=False)  # kinematics and mass only
    values = kinematics.complete({**poses, **{k: np.full(_n(poses), v) for k, v in locked.items()}})
    qpos = kinematics.qpos(values, mj_model.nq)
    data = mujoco.MjData(mj_model)
    report = _Worst()
    with opensim_log("error"):
        speeds = speed_index(osim)
        for k in range(qpos.shape[0]):
            pose = {name: float(v[k]) for name, v in values.items()}
            osim.set_pose(pose)
            data.qpos[:] = qpos[k]
            mujoco.mj_forward(mj_model, data)
            _compare_frames(osim, mj_model, data, report)
            report.note(
                "mass_matrix_rel",
                _mass_matrix_error(osim, speeds, mj_model, data, kinematics, pose),
                f"pose {k}",
            )
    ground = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_BODY, osim.ground_name)
    return KinematicsReport(
        model=osim.name,
        poses=qpos.shape[0],
        body_position_m=report.value["body_position_m"],
        body_orientation_rad=report.value["body_orientation_rad"],
        marker_m=report.value["marker_m"],
        mass_opensim_kg=float(sum(body_masses(osim).values())),
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


def _compare_frames(osim: OpenSimModel, mj_model, data, report: _Worst) -> None:
    to_opensim = OPENSIM_TO_MUJOCO.T
    for name, (p_os, r_os) in body_frames(osim).items():
        k = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_BODY, name)
        p_mj = to_opensim @ data.xpos[k]
        r_mj = to_opensim @ data.xmat[k].reshape(3, 3)
        report.note("body_position_m", float(np.linalg.norm(p_os - p_mj)), name)
        report.note("body_orientation_rad", rotation_angle_between(r_os, r_mj), name)
    for name, p_os in marker_positions(osim).items():
        k = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_SITE, name)
        p_mj = to_opensim @ data.site_xpos[k]
        report.note("marker_m", float(np.linalg.norm(p_os - p_mj)), name)


def _mass_matrix_error(
    osim: OpenSimModel,
    u_index: dict[str, int],
    mj_model,
    data,
    kinematics: KinematicMap,
    pose: dict[str, float],
) -> float:
    """Relative difference of the mass matrices in independent-coordinate rates."""
    if not kinematics.independent_coordinates:
        return 0.0
    m_u = mass_matrix(osim)
    rates = _opensim_speeds_per_coordinate_rate(osim, u_index, kinematics, pose)
    reference = rates.T @ m_u @ rates
    m_mj = np.zeros((mj_model.nv, mj_model.nv))
    mujoco.mj_fullM(mj_model, data, m_mj)
    jac = kinematics.jacobian(pose, mj_model.nv)
    scale = np.linalg.norm(reference)
    difference = np.linalg.norm(jac.T @ m_mj @ jac - reference)
    return float(difference / scale) if scale > 0 else float(difference)


def _opensim_speeds_per_coordinate_rate(
    osim: OpenSimModel, u_index: dict[str, int], kinematics: KinematicMap, pose: dict[str, float]
) -> np.ndarray:
    """(nu, n_independent): OpenSim's generalized speeds u per unit rate of each independent
    coordinate. Where u is q-dot (every joint but ball and free) this is the coupling Jacobian;
    otherwise q is differentiated numerically and mapped through N (q-dot = N u)."""
    independent = kinematics.independent_coordinates
    n = n_matrix(osim)
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
            osim.set_pose({c: float(v) for c, v in moved.items()})
            q.append(generalized_q(osim))
        result[:, k] = np.linalg.lstsq(n, (q[0] - q[1]) / (2 * step), rcond=None)[0]
    osim.set_pose(pose)
    return result


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
