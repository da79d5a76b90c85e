"""Muscle paths against OpenSim: muscle-tendon lengths and moment arms at many poses.

Moment arms use OpenSim's sign, r = -dL/dq. MuJoCo's are the tendon Jacobian projected onto the
independent coordinates (through dependent axes, movers and couplers). Only muscle-coordinate
pairs whose OpenSim moment arm exceeds 1 mm somewhere are judged.

OpenSim's own paths are not always continuous (conditional path points switching at their range
ends, wrap objects switching sides or briefly taking the far side). Every sample is checked on
the reference side alone: OpenSim's length at each spanned coordinate +-``REFERENCE_STEP_DEG``
must follow OpenSim's own moment arm to first order within ``REFERENCE_JUMP_MM`` (else the
length jumps there: the muscle's length and moment arms at that pose are not judged), and the
one-sided slopes of OpenSim's length on either side of the pose must agree within the
moment-arm bar (else the moment arm jumps there: that pair's moment arm is not judged). Our
model plays no part in the flags; flagged samples are reported with our errors at them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import mujoco
import numpy as np

from converters.model_conversion import ConvertedModel
from converters.muscle_limits import MuscleLimit, stand_in_limits
from converters.opensim_reference.log import opensim_log
from converters.opensim_reference.model import OpenSimModel
from converters.opensim_reference.paths import MusclePaths

__all__ = [
    "MusclePair",
    "MuscleReport",
    "ReferenceFlag",
    "validate_muscle_paths",
    "spanned_coordinates",
    "MUSCLE_BARS",
    "REFERENCE_STEP_DEG",
    "REFERENCE_JUMP_MM",
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
# Reference check. The step reaches past the narrowest OpenSim glitch measured (BIClong's
# far-side wrap, 0.12 deg wide) from any sample inside it. On the five acceptance models at the
# benchmark's poses, unflagged samples miss first order by at most 0.043 mm (median 0.03 um)
# and change slope by at most 8.2 mm; flagged ones by 5.5-87 mm or 17-350 mm.
REFERENCE_STEP_DEG = 0.1
REFERENCE_STEP_M = 1e-4  # translational coordinates
REFERENCE_JUMP_MM = 1.0  # first-order misfit of OpenSim's length that makes it a jump
Discontinuities = Literal["exclude", "report", "skip"]


@dataclass
class MusclePair:
    """One muscle-coordinate pair: errors in mm (lengths are per muscle, repeated per pair)."""

    muscle: str
    coordinate: str
    length_median_err_mm: float
    length_max_err_mm: float
    moment_arm_rmse_mm: float
    moment_arm_max_err_mm: float
    length_p99_err_mm: float = float("nan")
    moment_arm_p99_err_mm: float = float("nan")
    active_force_rmse_pct: float = float("nan")
    passive_force_rmse_pct: float = float("nan")


@dataclass
class ReferenceFlag:
    """A sample where OpenSim's own path is discontinuous within one step of the pose.

    ``kind`` "length": OpenSim's length at ``coordinate`` +-step misses its own first-order
    prediction by ``size_mm`` (> REFERENCE_JUMP_MM); "moment_arm": its one-sided slopes differ
    by ``size_mm`` of moment arm (> the moment-arm bar), or OpenSim's moment arm is NaN there
    (``size_mm`` NaN: OpenSim 4.6 gives NaN right where a wrapped path jumps). ``values``: the muscle's spanned
    coordinates at the pose (deg or m). The errors are ours at that sample, reported, not judged.
    """

    pose: int
    muscle: str
    coordinate: str
    kind: str
    size_mm: float
    values: dict[str, float]
    length_err_mm: float = float("nan")
    moment_arm_err_mm: float = float("nan")


@dataclass
class MuscleReport:
    model: str
    poses: int
    pairs: list[MusclePair]
    curves: dict = field(default_factory=dict)  # (muscle, coordinate) -> arrays for plots
    flags: list[ReferenceFlag] = field(default_factory=list)
    excluded: bool = True  # whether flagged samples were left out of the errors
    limits: list[MuscleLimit] = field(default_factory=list)  # where each path stops holding
    # Per-sample |errors| in mm, NaN where not judged: "length" muscle -> (n,), "moment_arm"
    # (muscle, coordinate) -> (n,).
    sample_errors: dict = field(default_factory=dict)

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
            "discontinuous_reference_samples": len({(f.pose, f.muscle) for f in self.flags}),
            "excluded_samples": len({(f.pose, f.muscle) for f in self.flags}) * self.excluded,
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

    def limit_rows(self) -> list[dict]:
        return [limit.as_dict() for limit in self.limits]

    def rows(self) -> list[dict]:
        return [asdict(p) for p in self.pairs]

    def flag_rows(self) -> list[dict]:
        return [asdict(f) for f in self.flags]


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
    osim_path: str | Path,
    converted: ConvertedModel,
    poses: dict[str, np.ndarray],
    discontinuities: Discontinuities = "exclude",
) -> MuscleReport:
    """Lengths and moment arms of every muscle, OpenSim vs MuJoCo, at each pose (exact model).

    ``discontinuities``: "exclude" leaves samples where OpenSim's own path is discontinuous out
    of the errors (see the module's docstring), "report" only lists them, "skip" does not look.
    """
    osim = OpenSimModel(osim_path)
    paths = MusclePaths(osim)
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
    steps = {} if discontinuities == "skip" else _reference_steps(converted, spans)
    shifted = _shifted_poses(kinematics, values, steps)
    probes = {c: {m: np.zeros((n, 2)) for m in spans if c in spans[m]} for c in steps}
    data = mujoco.MjData(model)
    independent = kinematics.independent_coordinates
    with opensim_log("error"):
        for k in range(n):
            pose = {c: float(v[k]) for c, v in values.items()}
            data.qpos[:] = qpos[k]
            mujoco.mj_fwdPosition(model, data)
            jac = kinematics.jacobian(pose, model.nv)
            ten_j = tendon_jacobian(model, data)
            paths.set_pose(pose)
            for muscle in muscles:
                t = _tendon_id(model, muscle.name)
                ours[muscle.name][k] = data.ten_length[t]
                theirs[muscle.name][k] = paths.length(muscle.name)
                for coordinate in spans[muscle.name]:
                    arm = -(ten_j[t] @ jac[:, independent.index(coordinate)])
                    arms_ours[(muscle.name, coordinate)][k] = arm
                    arms_theirs[(muscle.name, coordinate)][k] = paths.moment_arm(
                        muscle.name, coordinate
                    )
            _probe_reference(paths, shifted, probes, k)
    flags = _reference_flags(converted, values, spans, steps, probes, theirs, arms_theirs)
    for f in flags:  # our errors there, for the record
        f.length_err_mm = 1000 * abs(ours[f.muscle][f.pose] - theirs[f.muscle][f.pose])
        arm = arms_ours[(f.muscle, f.coordinate)][f.pose]
        f.moment_arm_err_mm = 1000 * abs(arm - arms_theirs[(f.muscle, f.coordinate)][f.pose])
    excluded = flags if discontinuities == "exclude" else []
    report = _report(converted, n, spans, ours, theirs, arms_ours, arms_theirs, values, excluded)
    report.model = osim.name
    report.flags, report.excluded = flags, discontinuities == "exclude"
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


def _reference_steps(converted: ConvertedModel, spans: dict[str, list[str]]) -> dict[str, float]:
    """The probing step of every spanned coordinate, in its own unit (rad or m)."""
    coordinates = converted.osim.coordinates
    return {
        c: REFERENCE_STEP_M
        if coordinates[c].motion_type == "translational"
        else np.radians(REFERENCE_STEP_DEG)
        for cs in spans.values()
        for c in cs
    }


def _shifted_poses(kinematics, values: dict, steps: dict[str, float]) -> dict[tuple, dict]:
    """(coordinate, +1 | -1) -> every coordinate's values with that one moved by its step."""
    own = {c: values[c] for c in kinematics.independent_coordinates}
    return {
        (c, sign): kinematics.complete({**own, c: own[c] + sign * h})
        for c, h in steps.items()
        for sign in (1, -1)
    }


def _probe_reference(paths: MusclePaths, shifted: dict, probes: dict, k: int) -> None:
    """OpenSim's lengths at pose ``k`` with each spanned coordinate moved +-step."""
    for (coordinate, sign), moved in shifted.items():
        paths.set_pose({c: float(v[k]) for c, v in moved.items()})
        for muscle, lengths in probes.get(coordinate, {}).items():
            lengths[k, 0 if sign > 0 else 1] = paths.length(muscle)


def _reference_flags(
    converted, values, spans, steps, probes, theirs, arms_theirs
) -> list[ReferenceFlag]:
    """Samples where OpenSim's length jumps, or its slope jumps by more than the moment-arm bar,
    within one step of the pose; decided from OpenSim's lengths and moment arms alone."""
    flags = []
    for coordinate, muscle, probed in ((c, m, p) for c in probes for m, p in probes[c].items()):
        h, length, arm = steps[coordinate], theirs[muscle], arms_theirs[(muscle, coordinate)]
        plus, minus = probed[:, 0], probed[:, 1]
        misfit = 1000 * np.maximum(abs(plus - length + arm * h), abs(minus - length - arm * h))
        kink = 1000 * abs(plus - 2 * length + minus) / h
        judged = np.nanmax(np.abs(arm)) > MOMENT_ARM_FLOOR_M
        for k in range(len(length)):
            if not np.isfinite(arm[k]):  # OpenSim's moment arm undefined: its path jumps here
                kind, size = "moment_arm", float("nan")
            elif misfit[k] > REFERENCE_JUMP_MM:
                kind, size = "length", misfit[k]
            elif judged and kink[k] > MUSCLE_BARS["moment_arm_max_err_mm"]:
                kind, size = "moment_arm", kink[k]
            else:
                continue
            where = _pose_values(converted, values, spans[muscle], k)
            flags.append(ReferenceFlag(k, muscle, coordinate, kind, float(size), where))
    return sorted(flags, key=lambda f: (f.pose, f.muscle, f.coordinate))


def _pose_values(converted: ConvertedModel, values: dict, coordinates: list[str], k: int) -> dict:
    """Pose ``k`` of ``coordinates``: degrees (rotational) or metres (translational)."""
    kinds = converted.osim.coordinates
    scale = {
        c: 1.0 if kinds[c].motion_type == "translational" else 180 / np.pi for c in coordinates
    }
    return {c: round(float(values[c][k]) * scale[c], 6) for c in coordinates}


def _kept(n: int, spans: dict, excluded: list[ReferenceFlag]) -> tuple[dict, dict]:
    """Which samples are judged: per muscle (lengths) and per pair (moment arms)."""
    lengths = {m: np.ones(n, bool) for m in spans}
    arms = {(m, c): np.ones(n, bool) for m in spans for c in spans[m]}
    for f in excluded:
        if f.kind == "length":
            lengths[f.muscle][f.pose] = False
            for c in spans[f.muscle]:
                arms[(f.muscle, c)][f.pose] = False
        else:
            arms[(f.muscle, f.coordinate)][f.pose] = False
    return lengths, arms


def _report(
    converted, n, spans, ours, theirs, arms_ours, arms_theirs, values, excluded
) -> MuscleReport:
    pairs, curves = [], {}
    keep_length, keep_arm = _kept(n, spans, excluded)
    length_errors, arm_errors = {}, {}
    for muscle, coordinates in spans.items():
        everywhere = np.abs(ours[muscle] - theirs[muscle]) * 1000
        length_errors[muscle] = np.where(keep_length[muscle], everywhere, np.nan)
        length_error = everywhere[keep_length[muscle]]
        for coordinate in coordinates:
            reference = arms_theirs[(muscle, coordinate)]
            if not np.nanmax(np.abs(reference)) > MOMENT_ARM_FLOOR_M:
                continue
            error = (arms_ours[(muscle, coordinate)] - reference) * 1000
            kept = keep_arm[(muscle, coordinate)]
            arm_errors[(muscle, coordinate)] = np.where(kept, np.abs(error), np.nan)
            error = error[kept]
            pairs.append(
                MusclePair(
                    muscle,
                    coordinate,
                    _stat(np.median, length_error),
                    _stat(np.max, length_error),
                    _stat(lambda e: np.sqrt(np.mean(e**2)), error),
                    _stat(np.max, np.abs(error)),
                    _stat(lambda e: np.percentile(e, 99), length_error),
                    _stat(lambda e: np.percentile(e, 99), np.abs(error)),
                )
            )
            curves[(muscle, coordinate)] = (
                values[coordinate],
                arms_ours[(muscle, coordinate)],
                reference,
            )
    coordinates = sorted({c for cs in spans.values() for c in cs})
    shown = _display_values(converted, values, coordinates)
    units = {
        c: "m" if converted.osim.coordinates[c].motion_type == "translational" else "deg"
        for c in coordinates
    }
    limits = stand_in_limits(shown, units, spans, length_errors, arm_errors)
    errors = {"length": length_errors, "moment_arm": arm_errors}
    return MuscleReport(
        model="", poses=n, pairs=pairs, curves=curves, limits=limits, sample_errors=errors
    )


def _display_values(converted, values: dict, coordinates: list[str]) -> dict[str, np.ndarray]:
    """``coordinates``' sampled values in degrees (rotational) or metres (translational)."""
    kinds = converted.osim.coordinates
    return {
        c: np.asarray(values[c]) * (1.0 if kinds[c].motion_type == "translational" else 180 / np.pi)
        for c in coordinates
    }


def _stat(function, errors: np.ndarray) -> float:
    """``function`` of the judged errors; NaN (a missed bar) when none is left."""
    return float(function(errors)) if errors.size else float("nan")
