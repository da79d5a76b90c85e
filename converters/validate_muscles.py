"""Muscle paths against OpenSim: muscle-tendon lengths and moment arms at many poses.

Moment arms use OpenSim's sign, r = -dL/dq. MuJoCo's are the tendon Jacobian projected onto the
independent coordinates (through dependent axes, movers and couplers). Only muscle-coordinate
pairs whose OpenSim moment arm exceeds 1 mm somewhere are judged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from converters.model_conversion import ConvertedModel
from converters.validate import set_opensim_pose

__all__ = [
    "MusclePair",
    "MuscleReport",
    "validate_muscle_paths",
    "spanned_coordinates",
    "MUSCLE_BARS",
    "tendon_jacobian",
]

MUSCLE_BARS = {
    "length_median_mm": 1.0,
    "length_max_mm": 5.0,
    "moment_arm_median_rmse_mm": 2.0,
    "moment_arm_max_err_mm": 10.0,
    "active_force_rmse_pct": 5.0,
    "passive_force_rmse_pct": 5.0,
}
MOMENT_ARM_FLOOR_M = 1e-3


@dataclass
class MusclePair:
    """One muscle-coordinate pair: errors in mm (lengths are per muscle, repeated per pair)."""

    muscle: str
    coordinate: str
    length_median_err_mm: float
    length_max_err_mm: float
    moment_arm_rmse_mm: float
    moment_arm_max_err_mm: float
    active_force_rmse_pct: float = float("nan")
    passive_force_rmse_pct: float = float("nan")


@dataclass
class MuscleReport:
    model: str
    poses: int
    pairs: list[MusclePair]
    curves: dict = field(default_factory=dict)  # (muscle, coordinate) -> arrays for plots

    def summary(self) -> dict[str, float]:
        lengths = {p.muscle: (p.length_median_err_mm, p.length_max_err_mm) for p in self.pairs}
        rmse = [p.moment_arm_rmse_mm for p in self.pairs]
        return {
            "muscles": len(lengths),
            "pairs": len(self.pairs),
            "length_median_mm": float(np.median([v[0] for v in lengths.values()]))
            if lengths
            else 0.0,
            "length_worst_median_mm": max((v[0] for v in lengths.values()), default=0.0),
            "length_max_mm": max((v[1] for v in lengths.values()), default=0.0),
            "moment_arm_median_rmse_mm": float(np.median(rmse)) if rmse else 0.0,
            "moment_arm_max_rmse_mm": max(rmse, default=0.0),
            "moment_arm_max_err_mm": max(
                (p.moment_arm_max_err_mm for p in self.pairs), default=0.0
            ),
            "active_force_rmse_pct": max(
                (p.active_force_rmse_pct for p in self.pairs), default=0.0
            ),
            "passive_force_rmse_pct": max(
                (p.passive_force_rmse_pct for p in self.pairs), default=0.0
            ),
        }

    def failures(self, bars: dict[str, float] = MUSCLE_BARS) -> list[str]:
        """Bars missed: per-muscle median/max length error, median RMSE and max moment-arm error."""
        summary = self.summary()
        checks = {
            "length_median_mm": summary["length_worst_median_mm"],
            "length_max_mm": summary["length_max_mm"],
            "moment_arm_median_rmse_mm": summary["moment_arm_median_rmse_mm"],
            "moment_arm_max_err_mm": summary["moment_arm_max_err_mm"],
            "active_force_rmse_pct": summary["active_force_rmse_pct"],
            "passive_force_rmse_pct": summary["passive_force_rmse_pct"],
        }
        return [f"{k} = {v:.3g} > {bars[k]:g}" for k, v in checks.items() if not v <= bars[k]]

    def rows(self) -> list[dict]:
        return [asdict(p) for p in self.pairs]


def spanned_coordinates(converted: ConvertedModel, muscle) -> list[str]:
    """Independent coordinates of the joints between the bodies the muscle's path touches."""
    parent = {j.child_body: j for j in converted.osim.joints}
    bodies = {p.body for p in muscle.points}

    def chain(body: str) -> list[str]:
        out = []
        while body in parent:
            out.append(body)
            body = parent[body].parent_body
        return out + [body]

    chains = [chain(b) for b in bodies]
    common = set.intersection(*(set(c) for c in chains))
    joints = {parent[b].name for c in chains for b in c if b not in common}
    kinematics = converted.kinematics
    roots = {c.dependent: c.independent for c in kinematics.couplings}
    found = []
    for name, coordinate in converted.osim.coordinates.items():
        root = roots.get(name, name)
        if (
            coordinate.joint in joints
            and root not in found
            and not converted.osim.coordinates[root].locked
        ):
            found.append(root)
    return found


def validate_muscle_paths(
    osim_path: str | Path, converted: ConvertedModel, poses: dict[str, np.ndarray]
) -> MuscleReport:
    """Lengths and moment arms of every muscle, OpenSim vs MuJoCo, at each pose (exact model)."""
    import opensim

    opensim.Logger.setLevelString("off")
    osim = opensim.Model(str(osim_path))
    state = osim.initSystem()
    opensim.Logger.setLevelString("error")
    kinematics, model = converted.kinematics, converted.mj_model
    values = kinematics.complete(poses)
    qpos = kinematics.qpos(values, model.nq)
    n = qpos.shape[0]
    muscles = [m for m in converted.osim.muscles if _tendon_id(model, m.name) >= 0]
    spans = {m.name: spanned_coordinates(converted, m) for m in muscles}
    ours = {m.name: np.zeros(n) for m in muscles}
    theirs = {m.name: np.zeros(n) for m in muscles}
    arms_ours = {(m, c): np.zeros(n) for m in spans for c in spans[m]}
    arms_theirs = {(m, c): np.zeros(n) for m in spans for c in spans[m]}
    data = mujoco.MjData(model)
    independent = kinematics.independent_coordinates
    forces = osim.getMuscles()
    for k in range(n):
        pose = {c: float(v[k]) for c, v in values.items()}
        data.qpos[:] = qpos[k]
        mujoco.mj_fwdPosition(model, data)
        jac = kinematics.jacobian(pose, model.nv)
        ten_j = tendon_jacobian(model, data)
        set_opensim_pose(osim, state, pose)
        for muscle in muscles:
            path = forces.get(muscle.name).getGeometryPath()
            t = _tendon_id(model, muscle.name)
            ours[muscle.name][k] = data.ten_length[t]
            theirs[muscle.name][k] = path.getLength(state)
            for coordinate in spans[muscle.name]:
                arm = -(ten_j[t] @ jac[:, independent.index(coordinate)])
                arms_ours[(muscle.name, coordinate)][k] = arm
                arms_theirs[(muscle.name, coordinate)][k] = path.computeMomentArm(
                    state, osim.getCoordinateSet().get(coordinate)
                )
    report = _report(osim.getName(), n, spans, ours, theirs, arms_ours, arms_theirs, values)
    for pair in report.pairs:  # the actuator fits' agreement with OpenSim's muscle forces
        fit = converted.conversion.muscle_fits.get(pair.muscle) or {}
        pair.active_force_rmse_pct = float(fit.get("rmse_active", float("nan")))
        pair.passive_force_rmse_pct = float(fit.get("rmse_passive", float("nan")))
    return report


def tendon_jacobian(model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """(ntendon, nv) dense dL/dqvel (MuJoCo stores it sparse)."""
    dense = np.zeros((model.ntendon, model.nv))
    if model.ntendon:
        mujoco.mju_sparse2dense(
            dense, data.ten_J, model.ten_J_rownnz, model.ten_J_rowadr, model.ten_J_colind
        )
    return dense


def _tendon_id(model: mujoco.MjModel, name: str) -> int:
    return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_TENDON, name)


def _report(name, n, spans, ours, theirs, arms_ours, arms_theirs, values) -> MuscleReport:
    pairs, curves = [], {}
    for muscle, coordinates in spans.items():
        length_error = np.abs(ours[muscle] - theirs[muscle]) * 1000
        for coordinate in coordinates:
            reference = arms_theirs[(muscle, coordinate)]
            if np.abs(reference).max() <= MOMENT_ARM_FLOOR_M:
                continue
            error = (arms_ours[(muscle, coordinate)] - reference) * 1000
            pairs.append(
                MusclePair(
                    muscle,
                    coordinate,
                    float(np.median(length_error)),
                    float(length_error.max()),
                    float(np.sqrt(np.mean(error**2))),
                    float(np.abs(error).max()),
                )
            )
            curves[(muscle, coordinate)] = (
                values[coordinate],
                arms_ours[(muscle, coordinate)],
                reference,
            )
    return MuscleReport(model=name, poses=n, pairs=pairs, curves=curves)
