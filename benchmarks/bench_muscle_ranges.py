"""Arm26's muscle paths over its whole coordinate ranges: where each stand-in stops holding.

2,400 poses uniform in the coordinate ranges (seed 0; not the poses the wrap stand-ins are
fitted at), validated against OpenSim as ``kintwin validate --muscles`` does: per muscle the p99
length and moment-arm errors and the coordinate regions where misses of the per-sample bars
(5 mm, 10 mm) gather (converters.muscle_limits); OpenSim's own discontinuities are listed and
excluded. Then the two cases of issue 14: TRIlong at shoulder elevation >= 170 deg, and BIClong
around shoulder 29.5 deg, where OpenSim's length jumps (ours and OpenSim's side by side).
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np

from converters.mjcf.builder import ConvertOptions
from converters.model_conversion import convert_osim
from converters.muscle_limits import SAMPLE_BARS
from converters.opensim_reference.model import OpenSimModel
from converters.opensim_reference.paths import MusclePaths
from converters.validate import sample_poses
from converters.validate_muscles import validate_muscle_paths

ARM26 = "opensim-models/Models/Arm26/arm26.osim"
POSES = 2400


def run(data: Path) -> dict:
    path = data / ARM26
    converted = convert_osim(path, ConvertOptions(meshes=False, muscle_actuators=False), exact=True)
    ranges = {c.name: c.range for c in converted.osim.coordinates.values()}
    poses = sample_poses(converted.kinematics, ranges, POSES, seed=0)
    report = validate_muscle_paths(path, converted, poses)
    shoulder = np.degrees(poses["r_shoulder_elev"])
    return {
        "poses": POSES,
        "bars_per_sample_mm": SAMPLE_BARS,
        "summary": report.summary(),
        "limits": [_rounded(m.as_dict()) for m in report.limits],
        "reference_discontinuities": [
            {"pose": f.pose, "muscle": f.muscle, "kind": f.kind, "values": f.values}
            for f in report.flags
        ],
        "trilong_shoulder_from_170deg": _region(report, "TRIlong", shoulder >= 170.0),
        "biclong_around_29_5deg": _biclong(path, converted),
    }


def _region(report, muscle: str, where: np.ndarray) -> dict:
    """p99 of our |length error| and |moment-arm error| about the shoulder over the samples
    ``where`` (mm; OpenSim's discontinuities left out)."""
    length = report.sample_errors["length"][muscle][where]
    arm = report.sample_errors["moment_arm"][(muscle, "r_shoulder_elev")][where]
    return {
        "samples": int(np.isfinite(length).sum()),
        "length_p99_mm": round(float(np.nanpercentile(length, 99)), 3),
        "moment_arm_p99_mm": round(float(np.nanpercentile(arm, 99)), 3),
    }


def _biclong(path: Path, converted) -> list[dict]:
    """OpenSim's and our BIClong length across OpenSim's jump, at three elbow angles (m)."""
    paths = MusclePaths(OpenSimModel(path))
    model, kinematics = converted.mj_model, converted.kinematics
    data, tendon = mujoco.MjData(model), model.tendon("BIClong").id
    rows = []
    for elbow in (0.0, 60.0, 121.0):
        for shoulder in (29.40, 29.50, 29.57, 29.62, 29.70):
            values = kinematics.complete(
                {"r_shoulder_elev": np.radians([shoulder]), "r_elbow_flex": np.radians([elbow])}
            )
            data.qpos[:] = kinematics.qpos(values, model.nq)[0]
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
            mujoco.mj_tendon(model, data)
            paths.set_pose({c: float(v[0]) for c, v in values.items()})
            rows.append(
                {
                    "shoulder_deg": shoulder,
                    "elbow_deg": elbow,
                    "opensim_m": round(paths.length("BIClong"), 6),
                    "ours_m": round(float(data.ten_length[tendon]), 6),
                }
            )
    return rows


def _rounded(row: dict) -> dict:
    return {
        k: round(v, 3)
        if isinstance(v, float)
        else [_rounded(r) for r in v]
        if k == "regions"
        else v
        for k, v in row.items()
    }
