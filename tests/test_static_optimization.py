"""Static optimization: closed-form activations, OpenSim's file layout, reserves, run-tool, bad input.

The analytic joints are tiny models built with the ``opensim`` package: a rod on a pin joint held
still against gravity by vertical muscles at their optimal fiber length (fl = fv = cos = 1), so a
muscle at distance ``d`` from the pin makes ``a d F0`` of moment and the minimum of sum a^2 has a
closed form. Agreement with OpenSim's own SO is checked on Arm26.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import REPO

from converters.opensim_io.table import Table, read_table, write_table
from kintwin_cli.main import cli

MASS, COM, G = 2.0, 0.3, 9.81  # kg, m, m/s^2: holding torque m g L about the pin
TORQUE = MASS * G * COM


def _joint_model(path: Path, muscles: list[tuple[str, float, float]]) -> Path:
    """A rod on a pin (coordinate 'q', horizontal at q = 0) with vertical muscles (name, d, F0)."""
    import opensim

    model = opensim.Model()
    model.setName("pin_rod")
    model.setGravity(opensim.Vec3(0, -G, 0))
    rod = opensim.Body("rod", MASS, opensim.Vec3(COM, 0, 0), opensim.Inertia(0.01, 0.01, 0.01))
    pin = opensim.PinJoint(
        "pin", model.getGround(), opensim.Vec3(0), opensim.Vec3(0), rod, opensim.Vec3(0),
        opensim.Vec3(0),
    )  # fmt: skip
    pin.updCoordinate().setName("q")
    model.addBody(rod)
    model.addJoint(pin)
    height, optimal = 0.4, 0.1
    for name, d, f0 in muscles:
        # fiber at its optimal length with a rigid tendon: l_MT - l_ts = l_opt
        muscle = opensim.Thelen2003Muscle(name, f0, optimal, height - optimal, 0.0)
        muscle.addNewPathPoint(f"{name}_origin", model.getGround(), opensim.Vec3(d, height, 0))
        muscle.addNewPathPoint(f"{name}_insertion", rod, opensim.Vec3(d, 0, 0))
        model.addForce(muscle)
    model.finalizeConnections()
    model.printToXML(str(path))
    return path


def _still_motion(path: Path) -> Path:
    time = np.linspace(0.0, 1.0, 51)
    table = Table(time, ["q"], np.zeros((51, 1)), name="still", in_degrees=False)
    return write_table(table, path)


def _reserve_file(path: Path, coordinate: str = "q", optimal_force: float = 10.0) -> Path:
    path.write_text(
        f"""<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="30000"><ForceSet name="reserves"><objects>
<CoordinateActuator name="q_reserve"><coordinate>{coordinate}</coordinate>
<optimal_force>{optimal_force}</optimal_force></CoordinateActuator>
</objects></ForceSet></OpenSimDocument>
"""
    )
    return path


def _so(*args: str) -> object:
    return CliRunner().invoke(cli, ["so", *[str(a) for a in args]])


def test_one_muscle_activation_is_torque_over_strength(tmp_path: Path) -> None:
    model = _joint_model(tmp_path / "one.osim", [("m1", 0.05, 400.0)])
    result = _so("--model", model, "--coordinates", _still_motion(tmp_path / "q.mot"),
                 "-o", tmp_path / "out")  # fmt: skip
    assert result.exit_code == 0, result.output
    a = read_table(tmp_path / "out/q_StaticOptimization_activation.sto")
    f = read_table(tmp_path / "out/q_StaticOptimization_force.sto")
    assert a.labels == ["m1"]
    np.testing.assert_allclose(a.column("m1"), TORQUE / (0.05 * 400.0), rtol=1e-6)
    np.testing.assert_allclose(f.column("m1") * 0.05, TORQUE, rtol=1e-6)


def test_two_muscles_and_a_reserve_share_as_least_squares(tmp_path: Path) -> None:
    muscles = [("near", 0.03, 300.0), ("far", 0.08, 500.0)]
    model = _joint_model(tmp_path / "two.osim", muscles)
    motion = _still_motion(tmp_path / "q.mot")
    reserves = _reserve_file(tmp_path / "reserves.xml", optimal_force=10.0)
    result = _so("--model", model, "--coordinates", motion, "--reserves", reserves,
                 "--name", "two", "-o", tmp_path / "out")  # fmt: skip
    assert result.exit_code == 0, result.output
    a = read_table(tmp_path / "out/two_StaticOptimization_activation.sto")
    assert a.labels == ["near", "far", "q_reserve"]
    # min sum x^2 s.t. sum k_i x_i = T: x_i = T k_i / sum k^2 (k: moment per unit control)
    k = np.array([0.03 * 300.0, 0.08 * 500.0, 10.0])
    expected = TORQUE * k / np.sum(k**2)
    for label, value in zip(a.labels, expected, strict=True):
        np.testing.assert_allclose(a.column(label), value, rtol=1e-6)


def test_files_have_opensims_layout_and_read_back_in_opensim(tmp_path: Path) -> None:
    import opensim

    model = _joint_model(tmp_path / "one.osim", [("m1", 0.05, 400.0)])
    _so("--model", model, "--coordinates", _still_motion(tmp_path / "q.mot"), "-o", tmp_path)
    activation = tmp_path / "q_StaticOptimization_activation.sto"
    lines = activation.read_text().splitlines()
    assert lines[:8] == [
        "Static Optimization", "version=1", "nRows=51", "nColumns=2", "inDegrees=no",
        "This file contains static optimization results.", "", "endheader",
    ]  # fmt: skip
    assert lines[8] == "time\tm1"
    force = tmp_path / "q_StaticOptimization_force.sto"
    assert force.read_text().splitlines()[:5] == [
        "ModelForces", "version=1", "nRows=51", "nColumns=2", "inDegrees=no",
    ]  # fmt: skip
    for path in (activation, force):
        storage = opensim.Storage(str(path))
        assert storage.getSize() == 51
        assert storage.getColumnLabels().get(1) == "m1"
        table = opensim.TimeSeriesTable(str(path))
        assert table.getNumRows() == 51 and list(table.getColumnLabels()) == ["m1"]
        ours = read_table(path).column("m1")
        assert math.isclose(table.getDependentColumn("m1")[7], ours[7], rel_tol=1e-15)


def test_reserves_are_parsed_with_kinds_and_frames(shared_data: Path) -> None:
    from converters.opensim_io.actuators import read_actuators

    path = shared_data / "opensim-models/Pipelines/Gait10dof18musc/gait10dof_Reserve_Actuators.xml"
    coordinates = ["hip_flexion_r", "knee_angle_r", "ankle_angle_r", "hip_flexion_l"]
    coordinates += ["knee_angle_l", "ankle_angle_l", "lumbar_extension"]
    found = read_actuators(path, coordinates, ["ground", "pelvis"])
    assert [a.name for a in found][:3] == ["FX", "FY", "MZ"]
    assert [a.kind for a in found[:3]] == ["PointActuator", "PointActuator", "TorqueActuator"]
    assert found[1].optimal_force == 2.0 and found[1].force_is_global
    np.testing.assert_allclose(found[0].point, [-0.034, 0.0, 0.0])
    assert found[2].body == "pelvis" and found[2].body_b == "ground"
    assert found[3].coordinate == "hip_flexion_r" and found[3].name == "hip_flexion_r_reserve"
    assert all(a.min_control == -math.inf for a in found)


def test_unknown_reserve_coordinate_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    model = _joint_model(tmp_path / "one.osim", [("m1", 0.05, 400.0)])
    reserves = _reserve_file(tmp_path / "bad.xml", coordinate="knee")
    result = _so("--model", model, "--coordinates", _still_motion(tmp_path / "q.mot"),
                 "--reserves", reserves, "-o", tmp_path / "out")  # fmt: skip
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "no coordinate 'knee'" in result.output
    assert not (tmp_path / "out").exists()


def test_muscle_less_model_is_refused(tmp_path: Path) -> None:
    model = _joint_model(tmp_path / "bare.osim", [])
    result = _so("--model", model, "--coordinates", _still_motion(tmp_path / "q.mot"),
                 "-o", tmp_path / "out")  # fmt: skip
    assert result.exit_code == 2 and "has no muscles" in result.output
    assert result.output.count("\n") == 1 and not (tmp_path / "out").exists()


def test_policy_for_another_model_is_refused(tmp_path: Path) -> None:
    model = _joint_model(tmp_path / "one.osim", [("m1", 0.05, 400.0)])
    policy = REPO / "policies/pretrained/gait10dof18musc_walk_torque"
    result = _so("--model", model, "--coordinates", _still_motion(tmp_path / "q.mot"),
                 "--policy", policy, "-o", tmp_path / "out")  # fmt: skip
    assert result.exit_code == 2 and "trained for model" in result.output
    assert result.output.count("\n") == 1 and not (tmp_path / "out").exists()


def test_setup_without_static_optimization_is_refused(tmp_path: Path, shared_data: Path) -> None:
    setup = tmp_path / "analyze.xml"
    setup.write_text(
        '<OpenSimDocument Version="30000"><AnalyzeTool name="x"><model_file>m.osim</model_file>'
        '<AnalysisSet name="Analyses"><objects><Kinematics name="k"/></objects></AnalysisSet>'
        "</AnalyzeTool></OpenSimDocument>"
    )
    result = CliRunner().invoke(cli, ["run-tool", str(setup), "--results-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "has no StaticOptimization analysis" in result.output
    assert result.output.count("\n") == 1 and not (tmp_path / "r").exists()


ARM26_SETUP = "opensim-core/Applications/Analyze/tests/resources/arm26_Setup_StaticOptimization.xml"
ARM26_MODEL = "opensim-models/Models/Arm26/arm26.osim"


def test_run_tool_on_arm26_setup_matches_opensims_so(tmp_path: Path, shared_data: Path) -> None:
    """run-tool honours the setup (0.25-0.75 s, 6 Hz); activations equal OpenSim's SO run on
    the same setup (opensim-core's copy of arm26.osim no longer loads in OpenSim 4.6, so both
    use opensim-models' Arm26)."""
    from converters.opensim_reference.tools import run_static_optimization

    setup = shared_data / ARM26_SETUP
    model = shared_data / ARM26_MODEL
    result = CliRunner().invoke(
        cli, ["run-tool", str(setup), "--model", str(model), "--results-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    ours = read_table(tmp_path / "arm26_StaticOptimization_activation.sto")
    assert ours.time[0] == pytest.approx(0.25, abs=1e-6) and ours.time[-1] <= 0.75 + 1e-6
    reference = run_static_optimization(
        model,
        setup.parent / "arm26_InverseKinematics.mot",
        None,
        6.0,
        (0.25, 0.75),
        tmp_path / "opensim",
    ).activation
    assert ours.labels == reference.labels
    # OpenSim resamples the (not quite uniform) IK times when it filters: the same frames here
    np.testing.assert_allclose(ours.time, reference.time, rtol=0, atol=1e-12)
    compared = 0
    for label in reference.labels:
        theirs, mine = reference.column(label), ours.column(label)
        if theirs.max() < 0.05:
            continue
        compared += 1
        assert np.corrcoef(mine, theirs)[0, 1] >= 0.95, label
        assert np.max(np.abs(mine - theirs)) <= 0.05, label
    assert compared >= 2


def test_solver_matches_a_general_optimizer_with_bounds_active() -> None:
    """Random problems where many controls sit at their bounds; exponent 2 and 3."""
    from scipy.optimize import minimize

    from converters.static_optimization import solve_static_optimization

    rng = np.random.default_rng(3)
    for exponent in (2.0, 3.0):
        a = rng.normal(size=(4, 3, 12)) * 50.0
        lower, upper = np.full(12, 0.01), np.ones(12)
        truth = rng.uniform(0.01, 0.6, size=(4, 12))
        tau = np.einsum("fck,fk->fc", a, truth)
        ours = solve_static_optimization(a, tau, lower, upper, exponent)
        for f in range(4):
            ref = minimize(
                lambda x, p=exponent: np.sum(np.abs(x) ** p),
                truth[f],
                method="SLSQP",
                bounds=list(zip(lower, upper, strict=True)),
                constraints={"type": "eq", "fun": lambda x, m=a[f], t=tau[f]: m @ x - t},
                options={"ftol": 1e-12, "maxiter": 500},
            )
            assert np.max(np.abs(a[f] @ ref.x - tau[f])) < 1e-6  # a feasible reference
            mine = ours.controls[f]
            assert np.all((mine >= lower - 1e-12) & (mine <= upper + 1e-12))
            assert ours.violation[f] < 1e-6
            assert np.sum(mine**exponent) <= np.sum(np.abs(ref.x) ** exponent) + 1e-9
            np.testing.assert_allclose(mine, ref.x, atol=1e-3)


def test_existing_outputs_are_kept_without_force(tmp_path: Path) -> None:
    model = _joint_model(tmp_path / "one.osim", [("m1", 0.05, 400.0)])
    motion = _still_motion(tmp_path / "q.mot")
    existing = tmp_path / "out/q_StaticOptimization_force.sto"
    existing.parent.mkdir()
    existing.write_text("mine")
    result = _so("--model", model, "--coordinates", motion, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "--force" in result.output
    assert existing.read_text() == "mine"
    assert not (tmp_path / "out/q_StaticOptimization_activation.sto").exists()
    assert (
        _so("--model", model, "--coordinates", motion, "-o", tmp_path / "out", "--force").exit_code
        == 0
    )
    assert read_table(existing).labels == ["m1"]


def test_compare_reports_per_muscle_agreement(tmp_path: Path) -> None:
    model = _joint_model(tmp_path / "two.osim", [("near", 0.03, 300.0), ("far", 0.08, 500.0)])
    _so("--model", model, "--coordinates", _still_motion(tmp_path / "q.mot"), "-o", tmp_path)
    ours = tmp_path / "q_StaticOptimization_activation.sto"
    shifted = read_table(ours)
    write_table(shifted.with_data(shifted.data + [0.0, 0.01]), tmp_path / "ref.sto")
    result = CliRunner().invoke(cli, ["compare", str(ours), str(tmp_path / "ref.sto"), "--json"])
    assert result.exit_code == 0, result.output
    import json

    columns = {c["name"]: c for c in json.loads(result.stdout)["columns"]}
    assert columns["near"]["rmse"] == pytest.approx(0.0, abs=1e-12)
    assert columns["far"]["rmse"] == pytest.approx(0.01, rel=1e-9)


WALK = "opensim-models/Pipelines/Gait10dof18musc"


def test_run_tool_walk_setup_equals_kintwin_so(tmp_path: Path, shared_data: Path) -> None:
    """An AnalyzeTool SO setup for the walk (external loads, reserve actuators, 6 Hz), written
    by the opensim package, gives the same files as the equivalent kintwin so command."""
    import opensim

    p = shared_data / WALK / "OutputReference"
    model, ik = p / "subject01.osim", p / "IK/subject01_walk_IK.mot"
    loads = p / "ExperimentalData/subject01_walk_grf.xml"
    reserves = shared_data / WALK / "gait10dof_Reserve_Actuators.xml"
    tool = opensim.AnalyzeTool()
    tool.setName("walk")
    tool.setModelFilename(str(model))
    files = opensim.ArrayStr()
    files.append(str(reserves))
    tool.setForceSetFiles(files)
    tool.setCoordinatesFileName(str(ik))
    tool.setExternalLoadsFileName(str(loads))
    tool.setLowpassCutoffFrequency(6.0)
    tool.setInitialTime(0.5)
    tool.setFinalTime(0.8)
    tool.setResultsDir("results")
    tool.getAnalysisSet().cloneAndAppend(opensim.StaticOptimization())
    tool.printToXML(str(tmp_path / "walk_Setup_SO.xml"))
    result = CliRunner().invoke(cli, ["run-tool", str(tmp_path / "walk_Setup_SO.xml")])
    assert result.exit_code == 0, result.output
    direct = _so("--method", "classic", "--model", model, "--coordinates", ik,
                 "--external-loads", loads, "--reserves", reserves, "--time-range", 0.5, 0.8,
                 "--name", "walk", "-o", tmp_path / "direct")  # fmt: skip
    assert direct.exit_code == 0, direct.output
    for kind in ("activation", "force"):
        a = read_table(tmp_path / f"results/walk_StaticOptimization_{kind}.sto")
        b = read_table(tmp_path / f"direct/walk_StaticOptimization_{kind}.sto")
        assert a.labels == b.labels and a.labels[-1] == "lumbar_extension_reserve"
        np.testing.assert_array_equal(a.time, b.time)
        np.testing.assert_allclose(a.data, b.data, rtol=0, atol=1e-12)


def test_reserve_on_unknown_body_names_file_actuator_and_bodies(shared_data: Path) -> None:
    from converters.errors import UnknownNameError
    from converters.opensim_io.actuators import read_actuators

    path = shared_data / WALK / "gait10dof_Reserve_Actuators.xml"
    with pytest.raises(UnknownNameError) as error:
        read_actuators(path, ["hip_flexion_r"], ["ground", "torso"])
    message = str(error.value)
    assert str(path) in message and "PointActuator 'FX'" in message
    assert "no body 'pelvis'" in message and "ground, torso" in message


def test_so_of_given_dynamics_matches_classic_so(tmp_path: Path, shared_data: Path) -> None:
    """The policy route's second half on a known motion: SO meeting OpenSim's own ID moments
    at the non-root coordinates (no reserves, no loads) shares them among the muscles as
    classic SO with force plates and reserves does (its reserves are penalised out)."""
    from policies.imitation_so import static_optimization_of_simulation

    p = shared_data / WALK / "OutputReference"
    model, ik = p / "subject01.osim", p / "IK/subject01_walk_IK.mot"
    ours = static_optimization_of_simulation(model, ik, p / "ID/Results/subject01_walk_ID.sto")
    assert ours.solution.unmatched == ["lumbar_extension"]  # the only one without muscles
    assert "pelvis_tx" not in ours.activation.labels and len(ours.activation.labels) == 18
    result = _so("--method", "classic", "--model", model, "--coordinates", ik,
                 "--external-loads", p / "ExperimentalData/subject01_walk_grf.xml",
                 "--reserves", shared_data / WALK / "gait10dof_Reserve_Actuators.xml",
                 "--name", "walk", "-o", tmp_path)  # fmt: skip
    assert result.exit_code == 0, result.output
    classic = read_table(tmp_path / "walk_StaticOptimization_activation.sto")
    inside = (classic.time > 0.05) & (classic.time < 2.45)  # away from the filter's ends
    for label in ours.activation.labels:
        mine = np.interp(classic.time, ours.activation.time, ours.activation.column(label))
        diff = np.abs(mine - classic.column(label))[inside]
        assert diff.max() < 0.005, (label, diff.max())


def test_time_range_outside_the_trial_is_refused(tmp_path: Path) -> None:
    model = _joint_model(tmp_path / "one.osim", [("m1", 0.05, 400.0)])
    result = _so("--model", model, "--coordinates", _still_motion(tmp_path / "q.mot"),
                 "--time-range", 5, 6, "-o", tmp_path / "out")  # fmt: skip
    assert result.exit_code == 2 and "lies outside the coordinates (0-1 s)" in result.output
    assert not (tmp_path / "out").exists()


def test_opensim_alone_equals_the_mujoco_skeleton_route_on_arm26(shared_data: Path) -> None:
    """Without loads or constraints, OpenSim's own inverse dynamics (all forces off) gives the
    generalized forces MuJoCo's mj_inverse of the exact skeleton gives, so the same SO."""
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series
    from converters.static_optimization import (
        SOSettings,
        classic_static_optimization,
        opensim_static_optimization,
    )

    model = shared_data / ARM26_MODEL
    ik = shared_data / ARM26_SETUP.replace("Setup_StaticOptimization.xml", "InverseKinematics.mot")
    converted = convert_osim(model, ConvertOptions(meshes=False, muscles=False), exact=True)
    series = coordinate_series(read_table(ik), converted.osim, ik)
    settings = SOSettings(time_range=(0.1, 0.9))
    skeleton = classic_static_optimization(model, converted, series, None, [], settings)
    alone = opensim_static_optimization(model, converted.osim, series, [], settings)
    assert alone.inverse_dynamics.labels == skeleton.inverse_dynamics.labels
    np.testing.assert_allclose(alone.activation.time, skeleton.activation.time, atol=1e-12)
    tau = skeleton.inverse_dynamics.data
    assert np.max(np.abs(tau)) > 0.5  # N·m: the arm is held against gravity
    np.testing.assert_allclose(alone.inverse_dynamics.data, tau, rtol=0, atol=1e-9)
    np.testing.assert_allclose(alone.activation.data, skeleton.activation.data, atol=1e-9)


def test_classic_so_without_loads_imports_no_mujoco(tmp_path: Path, shared_data: Path) -> None:
    """Arm26 without external loads runs on the opensim package alone (a smaller process)."""
    import subprocess
    import sys

    ik = shared_data / ARM26_SETUP.replace("Setup_StaticOptimization.xml", "InverseKinematics.mot")
    script = (
        "import sys\nfrom kintwin_cli.main import cli\n"
        "try:\n    cli(sys.argv[1:])\nexcept SystemExit as done:\n    assert not done.code\n"
        "heavy = {'mujoco', 'scipy', 'torch'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    args = ["so", "--method", "classic", "--model", shared_data / ARM26_MODEL,
            "--coordinates", ik, "--name", "arm26", "-o", tmp_path]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "arm26_StaticOptimization_activation.sto").exists()
