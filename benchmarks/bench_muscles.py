"""Muscle paths vs OpenSim: lengths and moment arms on the five acceptance models.

200 random poses within the coordinate ranges (plus IK frames for Gait10dof18musc), every
muscle-coordinate pair whose OpenSim moment arm exceeds 1 mm. Samples where OpenSim's own path is
discontinuous within +-0.1 deg (decided from OpenSim alone, see converters.validate_muscles) are
left out of the bars and listed with our errors at them. Also times conversion with muscles.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from converters.mjcf.builder import ConvertOptions
from converters.model_conversion import convert_osim
from converters.motion import coordinate_series
from converters.opensim_io.table import read_table
from converters.validate import sample_poses
from converters.validate_muscles import MUSCLE_BARS, validate_muscle_paths

MODELS = {
    "Arm26": ("opensim-models/Models/Arm26/arm26.osim", None),
    "Gait10dof18musc": (
        "opensim-models/Pipelines/Gait10dof18musc/OutputReference/subject01.osim",
        "opensim-models/Pipelines/Gait10dof18musc/OutputReference/IK/subject01_walk_IK.mot",
    ),
    "Gait2392": ("opensim-models/Models/Gait2392_Simbody/gait2392_millard2012muscle.osim", None),
    "Rajagopal2016": ("opensim-models/Models/Rajagopal/Rajagopal2016.osim", None),
    "LaiUhlrich2022": ("opencap-processing/OpenSimPipeline/Models/LaiUhlrich2022.osim", None),
}


def _poses(converted, ik: Path | None, n: int = 200) -> dict[str, np.ndarray]:
    coordinates = converted.osim.coordinates
    locked = {c.name for c in coordinates.values() if c.locked}
    ranges = {c.name: c.range for c in coordinates.values()}
    poses = {
        c: v for c, v in sample_poses(converted.kinematics, ranges, n).items() if c not in locked
    }
    if ik is not None:
        series = coordinate_series(read_table(ik), converted.osim, ik)
        frames = len(series.time)
        for c in poses:
            extra = series.values.get(c, np.full(frames, converted.kinematics.defaults[c]))
            poses[c] = np.concatenate([poses[c], extra])
    return poses


def _flag(flag) -> dict:
    """One excluded sample, numbers rounded for the results file."""
    return {
        "pose": flag.pose,
        "muscle": flag.muscle,
        "coordinate": flag.coordinate,
        "kind": flag.kind,
        "size_mm": round(flag.size_mm, 3),
        "values": flag.values,
        "our_length_err_mm": round(flag.length_err_mm, 3),
        "our_moment_arm_err_mm": round(flag.moment_arm_err_mm, 3),
    }


def run(data: Path) -> dict:
    results = {}
    for name, (model, ik) in MODELS.items():
        path = data / model
        start = time.perf_counter()
        convert_osim(path)
        seconds = time.perf_counter() - start
        converted = convert_osim(path, ConvertOptions(meshes=False), exact=True)
        report = validate_muscle_paths(
            path, converted, _poses(converted, None if ik is None else data / ik)
        )
        results[name] = {
            "convert_s": round(seconds, 3),
            "poses": report.poses,
            **report.summary(),
            "failures": report.failures(),
            "worst_pairs": [
                {
                    "muscle": p.muscle,
                    "coordinate": p.coordinate,
                    "moment_arm_max_err_mm": round(p.moment_arm_max_err_mm, 3),
                    "length_max_err_mm": round(p.length_max_err_mm, 3),
                }
                for p in sorted(report.pairs, key=lambda p: -p.moment_arm_max_err_mm)[:5]
            ],
            "reference_discontinuities": [_flag(f) for f in report.flags],
        }
    return {
        "models": results,
        "bars": MUSCLE_BARS,
        "summary": {name: not r["failures"] for name, r in results.items()},
    }
