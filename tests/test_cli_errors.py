"""The command line's promises: one-line errors with exit 2, ``--json`` on stdout, outputs
checked before any work and never overwritten without ``--force``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from converters.opensim_io.table import Table, write_table
from kintwin_cli.main import cli

GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"


def _run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_line_error(result) -> str:
    """The single stderr line of a usage error (exit 2, nothing on stdout, no traceback)."""
    assert result.exit_code == 2, result.output
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kintwin: error: "), lines[0]
    assert "Traceback" not in result.stderr and "Usage:" not in result.stderr
    return lines[0]


# ------------------------------------------------------------------------------- usage errors


def test_missing_input_file_names_the_file_first(tmp_path: Path):
    missing = tmp_path / "nope.mot"
    line = _one_line_error(_run("convert", "table", missing, tmp_path / "out.csv"))
    assert line == f"kintwin: error: {missing}: no such file (argument SOURCE)"


def test_missing_file_given_to_an_option(tmp_path: Path):
    missing = tmp_path / "model.osim"
    line = _one_line_error(
        _run("id", "--model", missing, "--coordinates", missing, "-o", tmp_path / "x")
    )
    assert line == f"kintwin: error: {missing}: no such file (option --model)"


def test_folder_given_for_a_file(tmp_path: Path):
    line = _one_line_error(_run("inspect", tmp_path))
    assert line == f"kintwin: error: {tmp_path}: is a folder, expected a file (argument PATH)"


def test_unknown_option(tmp_path: Path):
    line = _one_line_error(_run("inspect", "--bogus", tmp_path / "a.mot"))
    assert "no such option '--bogus'" in line and "kintwin inspect --help" in line


def test_unknown_root_option_and_command():
    assert "no such option '--bogus'" in _one_line_error(_run("--bogus"))
    line = _one_line_error(_run("frobnicate"))
    assert "no such command 'frobnicate'" in line and "'kintwin --help'" in line


def test_missing_required_option(shared_data: Path, tmp_path: Path):
    ik = shared_data / GAIT10 / "IK/subject01_walk_IK.mot"
    line = _one_line_error(_run("id", "--coordinates", ik, "-o", tmp_path / "x.sto"))
    assert "missing option '--model'" in line


def test_missing_argument():
    line = _one_line_error(_run("compare"))
    assert "missing argument 'OURS'" in line


def test_bad_choice(shared_data: Path, tmp_path: Path):
    model = shared_data / GAIT10 / "subject01.osim"
    line = _one_line_error(
        _run("id", "--method", "magic", "--model", model, "--coordinates", model, "-o", tmp_path)
    )
    assert "invalid value for '--method'" in line and "'magic' is not one of" in line


def test_bad_number(shared_data: Path):
    line = _one_line_error(_run("validate", shared_data / GAIT10 / "subject01.osim", "--poses", 0))
    assert "invalid value for '--poses'" in line


def test_bare_command_still_shows_help():
    result = _run()
    assert "Usage:" in result.output and "Commands:" in result.output


def test_debug_keeps_the_traceback_of_a_project_error(tmp_path: Path):
    bad = tmp_path / "bad.mot"
    bad.write_text("no header at all\n")
    assert _run("inspect", bad).exit_code == 2
    result = _run("--debug", "inspect", bad)
    assert result.exception is not None and "endheader" in str(result.exception)


# ---------------------------------------------------------------------------------------- --json


def _tables(tmp_path: Path) -> tuple[Path, Path]:
    time = np.linspace(0.0, 1.0, 101)
    reference = np.sin(2 * np.pi * time)
    ref = write_table(Table(time, ["knee_angle_r_moment"], reference[:, None]), tmp_path / "r.sto")
    ours = write_table(
        Table(time, ["knee_angle_r_moment"], (reference + 0.1)[:, None]), tmp_path / "o.sto"
    )
    return ours, ref


def test_compare_json_on_stdout_and_report_on_stderr(tmp_path: Path):
    ours, ref = _tables(tmp_path)
    result = _run("compare", ours, ref, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # stdout holds the JSON object and nothing else
    column = summary["columns"][0]
    assert column["name"] == "knee_angle_r_moment"
    assert column["rmse"] == pytest.approx(0.1, rel=1e-12)  # a constant 0.1 offset
    assert "ours " in result.stderr and "knee_angle_r_moment" in result.stderr
    plain = _run("compare", ours, ref)  # without --json the report is on stdout
    assert plain.stdout.startswith("ours ") and plain.stderr == ""


def test_json_file_is_refused_if_it_exists(tmp_path: Path):
    ours, ref = _tables(tmp_path)
    target = tmp_path / "c.json"
    target.write_text("keep me")
    line = _one_line_error(_run("compare", ours, ref, "--json", target))
    assert line == f"kintwin: error: {target}: exists already; use --force to overwrite it"
    assert target.read_text() == "keep me"
    assert _run("compare", ours, ref, "--json", target, "--force").exit_code == 0
    assert json.loads(target.read_text())["columns"][0]["n"] == 101


def test_json_summary_writes_no_nan(tmp_path: Path):
    from kintwin_cli.output import json_safe

    value = {"a": float("nan"), "b": [np.float64(np.inf), np.arange(2)], "c": tmp_path}
    assert json_safe(value) == {"a": None, "b": [None, [0, 1]], "c": str(tmp_path)}


def test_classic_id_json_summary(shared_data: Path, tmp_path: Path):
    from converters.opensim_io.table import read_table

    p = shared_data / GAIT10
    out = tmp_path / "walk_id.sto"
    result = _run(
        "id", "--model", p / "subject01.osim", "--coordinates", p / "IK/subject01_walk_IK.mot",
        "--external-loads", p / "ExperimentalData/subject01_walk_grf.xml", "--lowpass-hz", 6,
        "-o", out, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    table = read_table(out)
    assert summary["method"] == "classic" and summary["outputs"]["id_sto"] == str(out)
    assert summary["frames"] == table.n_rows and summary["columns"] == table.labels
    assert f"wrote {out}" in result.stderr
    assert "no --external-loads" not in result.stderr


def test_classic_id_without_loads_says_where_the_ground_reactions_went(
    shared_data: Path, tmp_path: Path
):
    """Classic ID with no external loads runs as OpenSim's does (the ground reactions land in
    the pelvis residuals), with a warning that names the trial and the plate-free methods."""
    from converters.opensim_io.table import read_table

    p = shared_data / GAIT10
    out = tmp_path / "walk_id.sto"
    result = _run(
        "id", "--model", p / "subject01.osim", "--coordinates", p / "IK/subject01_walk_IK.mot",
        "--time-range", 0.6, 0.8, "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "subject01_walk_IK.mot: no --external-loads" in result.stderr
    assert "--method contact" in result.stderr
    weight = read_table(out).column("pelvis_ty_force")
    assert np.median(weight) > 500.0  # the body's weight (72.6 kg) held by the residual


# -------------------------------------------------------------- outputs checked before any work


@pytest.fixture
def no_conversion(monkeypatch: pytest.MonkeyPatch):
    """Fail the test if a model gets converted (the expensive work outputs must not wait for)."""
    import converters.model_conversion

    def refuse(*args, **kwargs):
        raise AssertionError("the model was converted before the outputs were checked")

    monkeypatch.setattr(converters.model_conversion, "convert_osim", refuse)


def test_validate_json_refused_before_any_work(shared_data: Path, tmp_path: Path, no_conversion):
    target = tmp_path / "validate.json"
    target.write_text("keep me")
    line = _one_line_error(
        _run("validate", shared_data / GAIT10 / "subject01.osim", "--json", target)
    )
    assert "exists already; use --force" in line and target.read_text() == "keep me"


def test_validate_muscle_report_refused_before_any_work(
    shared_data: Path, tmp_path: Path, no_conversion
):
    (tmp_path / "subject01_moment_arms.png").write_bytes(b"keep me")
    result = _run(
        "validate", shared_data / GAIT10 / "subject01.osim", "--muscles", "--report", tmp_path
    )
    assert "subject01_moment_arms.png: exists already" in _one_line_error(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["subject01_moment_arms.png"]


@pytest.mark.parametrize("existing", ["subject01.xml", "subject01_map.json"])
def test_convert_model_refused_before_converting(
    shared_data: Path, tmp_path: Path, no_conversion, existing: str
):
    (tmp_path / existing).write_text("keep me")
    result = _run("convert", "model", shared_data / GAIT10 / "subject01.osim", "-o", tmp_path)
    assert f"{existing}: exists already" in _one_line_error(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]


def test_convert_motion_refused_before_converting(shared_data: Path, tmp_path: Path, no_conversion):
    p = shared_data / GAIT10
    out = tmp_path / "walk.npz"
    out.write_text("keep me")
    result = _run(
        "convert", "motion", p / "IK/subject01_walk_IK.mot", "--model", p / "subject01.osim",
        "-o", out,
    )  # fmt: skip
    assert _one_line_error(result).endswith("exists already; use --force to overwrite it")
    assert out.read_text() == "keep me"


def test_classic_id_refused_before_converting(shared_data: Path, tmp_path: Path, no_conversion):
    p = shared_data / GAIT10
    out = tmp_path / "id.sto"
    out.write_text("keep me")
    result = _run(
        "id", "--model", p / "subject01.osim", "--coordinates", p / "IK/subject01_walk_IK.mot",
        "-o", out,
    )  # fmt: skip
    assert "exists already" in _one_line_error(result) and out.read_text() == "keep me"


def test_id_json_file_refused_before_converting(shared_data: Path, tmp_path: Path, no_conversion):
    p = shared_data / GAIT10
    target = tmp_path / "summary.json"
    target.write_text("keep me")
    result = _run(
        "id", "--model", p / "subject01.osim", "--coordinates", p / "IK/subject01_walk_IK.mot",
        "-o", tmp_path / "id.sto", "--json", target,
    )  # fmt: skip
    assert "summary.json: exists already" in _one_line_error(result)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["summary.json"]
