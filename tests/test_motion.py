"""Motions and markers in MuJoCo terms: round trips, derivatives, marker sites vs OpenSim."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest
from click.testing import CliRunner

from converters.errors import KintwinError
from converters.markers import markers_for_model
from converters.mjcf.builder import ConvertOptions
from converters.model_conversion import convert_osim
from converters.motion import coordinate_series, make_trajectory
from converters.opensim_io.table import Table, read_table
from converters.opensim_io.trc import read_trc
from converters.validate import marker_tracking_error, validate_kinematics
from kintwin_cli.main import cli

GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"


@pytest.fixture(scope="module")
def gait10(shared_data: Path):
    return convert_osim(
        shared_data / f"{GAIT10}/subject01.osim",
        ConvertOptions(meshes=False, muscle_actuators=False),
    )


@pytest.fixture(scope="module")
def rajagopal(shared_data: Path):
    path = shared_data / "opensim-models/Models/Rajagopal/Rajagopal2016.osim"
    # The skeleton's own couplings (muscle movers are tabulated, with kinks).
    return convert_osim(path, ConvertOptions(meshes=False, muscles=False))


def test_mot_npz_mot_round_trip(shared_data: Path, tmp_path: Path):
    source = shared_data / f"{GAIT10}/IK/subject01_walk_IK.mot"
    model = str(shared_data / f"{GAIT10}/subject01.osim")
    runner = CliRunner()
    npz, back = tmp_path / "walk.npz", tmp_path / "walk.mot"
    assert (
        runner.invoke(
            cli, ["convert", "motion", str(source), "--model", model, "-o", str(npz)]
        ).exit_code
        == 0
    )
    result = runner.invoke(
        cli, ["convert", "motion", str(npz), "--model", model, "-o", str(back), "--inverse"]
    )
    assert result.exit_code == 0, result.output
    original, again = read_table(source), read_table(back)
    assert again.labels == original.labels and again.in_degrees is True
    np.testing.assert_array_equal(again.time, original.time)
    np.testing.assert_allclose(again.data, original.data, rtol=1e-13, atol=1e-13)


def test_derivatives_match_finite_differences(rajagopal):
    """qvel/qacc by the chain rule through couplers and dependent axes vs numerical derivatives."""
    time = np.linspace(0.0, 1.0, 2001)  # fine: numerical 2nd derivatives are poor at spline knots
    knee = 0.6 + 0.5 * np.sin(2 * np.pi * time)
    series = coordinate_series(
        Table(
            time=time,
            labels=["knee_angle_r", "hip_flexion_r"],
            data=np.column_stack([knee, 0.3 * np.cos(2 * np.pi * time)]),
            in_degrees=False,
        ),
        rajagopal.osim,
    )
    model = rajagopal.mj_model
    trajectory = make_trajectory(series, rajagopal.kinematics, model.nq, model.nv)
    qpos = trajectory.qpos
    dt = time[1] - time[0]
    numeric_qvel = np.gradient(qpos, dt, axis=0)
    numeric_qacc = np.gradient(trajectory.qvel, dt, axis=0)
    inner = slice(50, -50)  # the spline's end conditions differ from the sine's
    np.testing.assert_allclose(
        trajectory.qvel[inner], numeric_qvel[inner], atol=2e-3 * np.abs(numeric_qvel).max()
    )
    np.testing.assert_allclose(
        trajectory.qacc[inner], numeric_qacc[inner], atol=2e-3 * np.abs(numeric_qacc).max()
    )
    patella = rajagopal.kinematics.slot("patellofemoral_r_rotation1").dof
    assert np.abs(trajectory.qvel[:, patella]).max() > 0.1  # the coupled patella really moves


def test_jacobian_matches_finite_differences(rajagopal):
    kinematics, model = rajagopal.kinematics, rajagopal.mj_model
    pose = {c: 0.2 for c in kinematics.independent_coordinates}
    pose["knee_angle_r"] = 1.1
    jac = kinematics.jacobian(pose, model.nv)
    step = 1e-6
    for k, name in enumerate(kinematics.independent_coordinates):
        plus, minus = dict(pose), dict(pose)
        plus[name] += step
        minus[name] -= step
        d = (kinematics.qpos(plus, model.nq)[0] - kinematics.qpos(minus, model.nq)[0]) / (2 * step)
        np.testing.assert_allclose(jac[:, k], d, atol=1e-7)  # hinge/slide: dof index = qpos index


def test_marker_sites_equal_opensim_at_every_ik_frame(shared_data: Path):
    converted = convert_osim(
        shared_data / f"{GAIT10}/subject01.osim",
        ConvertOptions(meshes=False, muscle_actuators=False),
        exact=True,
    )
    series = coordinate_series(
        read_table(shared_data / f"{GAIT10}/IK/subject01_walk_IK.mot"), converted.osim
    )
    report = validate_kinematics(
        shared_data / f"{GAIT10}/subject01.osim",
        converted.mj_model,
        converted.kinematics,
        series.values,
        {},
    )
    assert report.poses == 151 and report.marker_m <= 1e-5 and report.body_position_m <= 1e-5
    qpos = converted.kinematics.qpos(series.values, converted.mj_model.nq)
    markers = markers_for_model(
        read_trc(shared_data / f"{GAIT10}/ExperimentalData/subject01_walk.trc"), converted.osim
    )
    error = marker_tracking_error(converted.mj_model, qpos, series.time, markers)
    # OpenSim's IK residual for this trial is centimetres, not metres or micrometres.
    assert 0.005 < error["rms_mean_m"] < 0.05 and error["frames"] == 151


def test_markers_in_mujoco_frame_and_metres(shared_data: Path, gait10):
    trc = read_trc(shared_data / f"{GAIT10}/ExperimentalData/subject01_walk.trc")
    markers = markers_for_model(trc, gait10.osim)
    k = markers.names.index("R.Heel")
    opensim_mm = trc.marker("R.Heel")[0]
    np.testing.assert_allclose(
        markers.positions[0, k], [opensim_mm[0] / 1000, -opensim_mm[2] / 1000, opensim_mm[1] / 1000]
    )
    assert "R.Bicep" in markers.unmatched_in_file and len(markers.names) == 31


def test_degrees_without_flag_is_refused(gait10, tmp_path: Path):
    table = Table(time=[0.0, 0.1], labels=["knee_angle_r"], data=[[1.0], [2.0]], in_degrees=None)
    with pytest.raises(KintwinError, match="no inDegrees flag"):
        coordinate_series(table, gait10.osim, "x.mot")


def test_nan_in_coordinates_is_refused(gait10):
    table = Table(time=[0.0, 0.1], labels=["knee_angle_r"], data=[[1.0], [np.nan]], in_degrees=True)
    with pytest.raises(
        KintwinError, match=r"NaN or infinite values in coordinate\(s\) knee_angle_r"
    ):
        coordinate_series(table, gait10.osim, "x.mot")


def test_trajectory_from_another_model_is_refused(shared_data: Path, tmp_path: Path):
    runner = CliRunner()
    npz = tmp_path / "walk.npz"
    source = str(shared_data / f"{GAIT10}/IK/subject01_walk_IK.mot")
    assert (
        runner.invoke(
            cli,
            [
                "convert",
                "motion",
                source,
                "--model",
                str(shared_data / f"{GAIT10}/subject01.osim"),
                "-o",
                str(npz),
            ],
        ).exit_code
        == 0
    )
    other = str(shared_data / "opensim-models/Models/Arm26/arm26.osim")
    result = runner.invoke(
        cli,
        [
            "convert",
            "motion",
            str(npz),
            "--model",
            other,
            "-o",
            str(tmp_path / "x.mot"),
            "--inverse",
        ],
    )
    assert result.exit_code == 2 and "belongs to another model" in result.output
    assert not (tmp_path / "x.mot").exists()


def test_stepping_a_trajectory_pose_matches_exact_kinematics(gait10):
    """qpos from the map, forward kinematics in MuJoCo: the equality constraints are satisfied."""
    model = gait10.mj_model
    qpos = gait10.kinematics.qpos({"knee_angle_r": np.array([-1.0])}, model.nq)[0]
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    mujoco.mj_forward(model, data)
    rows = data.efc_type == mujoco.mjtConstraint.mjCNSTR_EQUALITY
    worst_fit = max(f["max_error"] for f in gait10.conversion.couplings_fit)
    assert 0 < np.abs(data.efc_pos[rows]).max() <= worst_fit + 1e-12  # the quartics' fit errors
