"""Classic inverse dynamics in MuJoCo reproduces OpenSim's own results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from converters.compare import id_agreement
from converters.opensim_io.table import read_table
from converters.opensim_reference.tools import run_inverse_dynamics
from kintwin_cli.main import cli

GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"
TRIALS = ["14", "15", "23", "25", "27", "60", "61"]


def assert_matches(ours_path: Path, reference_path: Path) -> None:
    """Every reference column within max(0.5, 1 % of its peak), but the first/last 0.05 s."""
    ours, reference = read_table(ours_path), read_table(reference_path)
    assert set(reference.labels) <= set(ours.labels)
    agreement = id_agreement(ours, reference)
    assert agreement["within_bar"], agreement["worst"]


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_gait10dof18musc_walk_matches_opensim_stored_id(shared_data: Path, tmp_path: Path):
    p = shared_data / GAIT10
    out = tmp_path / "id.sto"
    result = _run(
        "id",
        "--method",
        "classic",
        "--model",
        str(p / "subject01.osim"),
        "--coordinates",
        str(p / "IK/subject01_walk_IK.mot"),
        "--external-loads",
        str(p / "ExperimentalData/subject01_walk_grf.xml"),
        "--lowpass-hz",
        "6",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    table = read_table(out)
    assert table.name == "Inverse Dynamics Generalized Forces" and table.in_degrees is False
    assert table.labels[:3] == ["pelvis_tilt_moment", "pelvis_tx_force", "pelvis_ty_force"]
    assert_matches(out, p / "ID/Results/subject01_walk_ID.sto")


@pytest.mark.parametrize("trial", TRIALS)
def test_3dpredictsim_trials_match_opensim_stored_id(shared_data: Path, tmp_path: Path, trial: str):
    d = shared_data / "3dpredictsim-subject2"
    result = _run(
        "run-tool",
        str(d / f"ID/SetupID_gait_{trial}.xml"),
        "--model",
        str(d / "Models/subject2_withMTP_weldRadius_scaled_FK.osim"),
        "--coordinates",
        str(d / f"IK/IK_gait_{trial}.mot"),
        "--external-loads",
        str(d / f"ExternalLoads/External_Loads_gait_{trial}.xml"),
        "--grf",
        str(d / f"GRF/GRF_gait_{trial}.mot"),
        "--results-dir",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert_matches(tmp_path / f"ID_gait_{trial}.sto", d / f"ID/ID_gait_{trial}.sto")


def test_gait2392_matches_opensim_computed_now(shared_data: Path, tmp_path: Path):
    p = shared_data / "opensim-models/Pipelines/Gait2392_Simbody"
    model = p / "OutputReference/subject01_simbody.osim"
    reference = run_inverse_dynamics(
        model,
        p / "subject01_walk1_ik.mot",
        p / "subject01_walk1_grf.xml",
        6.0,
        (0.4, 1.6),
        tmp_path / "opensim",
    )
    result = _run(
        "run-tool",
        str(p / "subject01_Setup_InverseDynamics.xml"),
        "--model",
        str(model),
        "--results-dir",
        str(tmp_path / "ours"),
    )
    assert result.exit_code == 0, result.output
    ours = next((tmp_path / "ours").glob("*.sto"))
    assert_matches(ours, reference)


def test_run_tool_names_the_missing_field_and_option(shared_data: Path):
    setup = shared_data / "3dpredictsim-subject2/ID/SetupID_gait_14.xml"
    result = _run("run-tool", str(setup))
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert (
        "<model_file> names 'C:\\Users" in result.output and "give it with --model" in result.output
    )


def test_run_tool_never_overwrites_without_force(shared_data: Path, tmp_path: Path):
    p = shared_data / GAIT10
    args = ["run-tool", str(p / "ID/walk_Setup_ID.xml"), "--results-dir", str(tmp_path)]
    first = _run(*args, "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)  # --json: the summary alone on stdout
    assert summary["outputs"]["id_sto"] == str(tmp_path / "subject01_walk_ID.sto")
    again = _run(*args)
    assert again.exit_code == 2 and "use --force" in again.output
    assert _run(*args, "--force").exit_code == 0


def test_grf_without_external_loads_is_refused(shared_data: Path, tmp_path: Path):
    p = shared_data / GAIT10
    result = _run(
        "id",
        "--model",
        str(p / "subject01.osim"),
        "--coordinates",
        str(p / "IK/subject01_walk_IK.mot"),
        "--grf",
        str(p / "ExperimentalData/subject01_walk_grf.mot"),
        "-o",
        str(tmp_path / "x.sto"),
    )
    assert result.exit_code == 2 and "--grf needs --external-loads" in result.output
