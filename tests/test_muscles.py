"""Muscles in MuJoCo vs OpenSim: path lengths, moment arms, forces; stable when all are active."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import mujoco
import numpy as np
import pytest
from click.testing import CliRunner

from converters.mjcf.builder import ConvertOptions
from converters.model_conversion import convert_osim, write_converted
from converters.motion import coordinate_series
from converters.muscle_limits import SAMPLE_BARS
from converters.muscle_report import CSV_COLUMNS
from converters.opensim_io.table import read_table
from converters.validate import sample_poses
from converters.validate_muscles import MUSCLE_BARS, REFERENCE_STEP_DEG, validate_muscle_paths
from kintwin_cli.main import cli

GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference/subject01.osim"
GAIT10_IK = "opensim-models/Pipelines/Gait10dof18musc/OutputReference/IK/subject01_walk_IK.mot"
ARM26 = "opensim-models/Models/Arm26/arm26.osim"
MODELS = {
    "Gait10dof18musc": GAIT10,
    "Gait2392": "opensim-models/Models/Gait2392_Simbody/gait2392_millard2012muscle.osim",
    "Rajagopal2016": "opensim-models/Models/Rajagopal/Rajagopal2016.osim",
    "LaiUhlrich2022": "opencap-processing/OpenSimPipeline/Models/LaiUhlrich2022.osim",
    # At the benchmark's 200 poses too: test_arm26_benchmark_meets_the_bars_at_the_side_switch.
    "Arm26": ARM26,
}


def _report(shared_data: Path, relative: str, poses: int = 120, seed: int = 3, keep=None):
    """``poses`` random poses (of which the ``keep`` mask, if given), validated."""
    path = shared_data / relative
    converted = convert_osim(path, ConvertOptions(meshes=False), exact=True)
    coordinates = converted.osim.coordinates
    ranges = {c.name: c.range for c in coordinates.values()}
    free = {
        c: v if keep is None else v[keep]
        for c, v in sample_poses(converted.kinematics, ranges, poses, seed=seed).items()
        if not coordinates[c].locked
    }
    return converted, validate_muscle_paths(path, converted, free)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_muscles_within_bars(shared_data: Path, name: str):
    _, report = _report(shared_data, MODELS[name])
    assert report.pairs and report.failures() == [], report.summary()


def test_reference_check_passes_a_smooth_reference(shared_data: Path):
    """OpenSim's paths over the 151 frames of the Gait10dof18musc walk are smooth: no flag."""
    path = shared_data / GAIT10
    converted = convert_osim(path, ConvertOptions(meshes=False), exact=True)
    series = coordinate_series(read_table(shared_data / GAIT10_IK), converted.osim, GAIT10_IK)
    frames = {
        c: np.asarray(v)
        for c, v in series.values.items()
        if c in converted.kinematics.independent_coordinates
    }
    report = validate_muscle_paths(path, converted, frames)
    assert report.poses == 151 and report.pairs
    assert report.flags == [] and report.summary()["excluded_samples"] == 0


def test_reference_check_flags_opensims_own_switch_wherever_we_are(shared_data: Path):
    """The flag is OpenSim's alone: at one of the random poses the knee is 0.01 deg from the end
    of rect_fem_r's conditional point's range (-1.45997 rad), where OpenSim's slope jumps; our
    path follows it exactly there and the sample is flagged all the same, and nothing else."""
    _, report = _report(shared_data, GAIT10)
    assert [(f.muscle, f.coordinate, f.kind) for f in report.flags] == [
        ("rect_fem_r", "knee_angle_r", "moment_arm")
    ]
    flag = report.flags[0]
    assert abs(flag.values["knee_angle_r"] - np.degrees(-1.45997)) < REFERENCE_STEP_DEG
    assert flag.length_err_mm < 1e-6 and flag.moment_arm_err_mm < 1e-6


def test_arm26_biclong_glitch_is_flagged_and_excluded(shared_data: Path):
    """Benchmark pose 106 of Arm26 (seed 0): OpenSim's BIClong takes its far-side wrap, 87 mm
    longer, for 0.12 deg of shoulder elevation (29.51-29.63 deg). Next to it, 0.5 deg away, the
    reference is smooth. Only the glitch is flagged; excluded, the pose left is within the
    length and moment-arm bars. (Its length error, 1.7 mm, is also the one sample's median:
    from 0 to 30 deg OpenSim's path over the ellipsoid is up to 2.1 mm longer than round the
    cylinder standing in for it.)"""
    path = shared_data / ARM26
    converted = convert_osim(path, ConvertOptions(meshes=False), exact=True)
    poses = {
        "r_shoulder_elev": np.array([0.5156272221234068, 0.5156272221234068 - 0.0087]),
        "r_elbow_flex": np.array([1.207433814724011, 1.207433814724011]),
    }
    kept = validate_muscle_paths(path, converted, poses, "report")
    assert [(f.pose, f.muscle, f.coordinate, f.kind) for f in kept.flags] == [
        (0, "BIClong", "r_shoulder_elev", "length")
    ]
    assert 85 < kept.flags[0].size_mm < 89 and kept.flags[0].length_err_mm > 85
    assert kept.summary()["length_max_mm"] > 85 and kept.summary()["excluded_samples"] == 0
    excluded = validate_muscle_paths(path, converted, poses)
    summary = excluded.summary()
    assert summary["excluded_samples"] == 1
    assert summary["length_max_mm"] < MUSCLE_BARS["length_max_mm"]
    assert summary["moment_arm_max_err_mm"] < MUSCLE_BARS["moment_arm_max_err_mm"]


def test_arm26_benchmark_meets_the_bars_at_the_side_switch(shared_data: Path):
    """At the benchmark's 200 poses, OpenSim's discontinuities excluded, Arm26 meets every bar.
    Poses 2 and 108 (shoulder -78.94 and -79.06 deg) lie 0.5 deg before OpenSim's BIClong
    switching sides over its ellipsoid (-78.42 deg, moment arm -9 -> +14 mm; not flagged):
    the switch is among the poses the stand-in is fitted at, so its cylinder switches there too
    (it was a sphere switching gradually over -80.5..-78.5 deg, 25-26 mm off here)."""
    _, report = _report(shared_data, ARM26, poses=200, seed=0)
    assert report.failures() == [], report.summary()
    assert (106, "BIClong", "length") in {(f.pose, f.muscle, f.kind) for f in report.flags}
    assert not {2, 108} & {f.pose for f in report.flags if f.muscle == "BIClong"}
    values, ours, theirs = report.curves[("BIClong", "r_shoulder_elev")]
    near = np.abs(np.degrees(values) + 79.0) < 0.1
    assert near.sum() == 2 and np.all(np.abs(ours - theirs)[near] < 2e-3)


def test_arm26_whole_ranges_hold_the_per_sample_bars(shared_data: Path):
    """Arm26 at 400 poses uniform over its whole coordinate ranges (seed 11, not the poses the
    stand-ins are fitted at): every muscle's p99 length and moment-arm errors are within the
    issue's per-sample maxima (5 mm, 10 mm) and no region of a coordinate gathers misses of
    them (OpenSim's own discontinuities excluded, as for every bar)."""
    _, report = _report(shared_data, ARM26, poses=400, seed=11)
    assert {m.muscle for m in report.limits} == {
        "TRIlong", "TRIlat", "TRImed", "BIClong", "BICshort", "BRA"
    }  # fmt: skip
    misses = [
        (m.muscle, m.length_p99_mm, m.moment_arm_p99_mm, [r.describe() for r in m.regions])
        for m in report.limits
        if not m.holds(SAMPLE_BARS) or m.regions
    ]
    assert misses == []
    assert all(m.samples >= 390 for m in report.limits)


def test_moment_arms_have_opensims_sign(shared_data: Path):
    """Vasti extend the knee: OpenSim's knee_angle is negative in flexion, r = -dL/dq > 0."""
    _, report = _report(shared_data, GAIT10, poses=20)
    pair = next(p for p in report.pairs if (p.muscle, p.coordinate) == ("vasti_r", "knee_angle_r"))
    _, ours, theirs = report.curves[(pair.muscle, pair.coordinate)]
    assert np.all(theirs > 0) and np.all(ours > 0)


def test_all_muscles_active_for_two_seconds_is_stable(shared_data: Path, tmp_path: Path):
    paths = write_converted(convert_osim(shared_data / GAIT10), tmp_path)
    model = mujoco.MjModel.from_xml_path(str(paths["mjcf"]))
    assert model.nu == 18 and model.ntendon == 18
    data = mujoco.MjData(model)
    data.ctrl[:] = 1.0
    while data.time < 2.0:
        before = data.time
        mujoco.mj_step(model, data)
        assert data.time > before, "unstable"
    assert np.all(np.isfinite(data.qpos)) and np.all(data.act > 0.9)


def test_actuators_keep_opensims_physiology(shared_data: Path):
    converted = convert_osim(shared_data / GAIT10, ConvertOptions(meshes=False))
    model = converted.mj_model
    for muscle in converted.osim.muscles:
        actuator = model.actuator(muscle.name)
        fit = converted.map["muscles"][
            [m["name"] for m in converted.map["muscles"]].index(muscle.name)
        ]["fit"]
        assert actuator.dynprm[0] == muscle.activation_time_constant
        assert actuator.dynprm[1] == muscle.deactivation_time_constant
        assert 0.8 <= fit["optimal_fiber_length_ratio"] <= 1.2
        assert fit["rmse_active"] <= 5.0 and fit["rmse_passive"] <= 5.0


def test_validate_muscle_report_files(shared_data: Path, tmp_path: Path):
    result = CliRunner().invoke(
        cli,
        [
            "validate",
            str(shared_data / GAIT10),
            "--muscles",
            "--poses",
            "40",
            "--report",
            str(tmp_path),
            "--json",
            str(tmp_path / "validate.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    muscles = json.loads((tmp_path / "validate.json").read_text())["muscles"]
    assert muscles["failures"] == [] and muscles["summary"]["pairs"] == 24
    limits = {m["muscle"]: m for m in muscles["limits"]}
    assert len(limits) == 18 and all(m["length_p99_mm"] <= 5.0 for m in limits.values())
    assert "p99 over 40 poses" in result.output
    flagged = {(f["pose"], f["muscle"]) for f in muscles["reference_discontinuities"]}
    assert muscles["summary"]["excluded_samples"] == len(flagged)
    with open(tmp_path / "subject01_muscles.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == CSV_COLUMNS
    assert {r["muscle"] for r in rows} >= {"vasti_r", "soleus_l", "hamstrings_r"}
    png = (tmp_path / "subject01_moment_arms.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000
