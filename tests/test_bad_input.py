"""Bad input: one line naming the file, the line and the problem; exit code 2; no output left."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kintwin_cli.main import cli

GOOD_HEADER = "Coordinates\nversion=1\nnRows=2\nnColumns=3\ninDegrees=yes\nendheader\n"

BAD_TABLES = {
    "missing_endheader": (
        "Coordinates\nversion=1\ntime\ta\n0\t1\n",
        None,
        "no 'endheader' line: not an OpenSim .sto/.mot table",
    ),
    "wrong_field_count": (
        GOOD_HEADER + "time\ta\tb\n0\t1\t2\n0.1\t3\n",
        9,
        "row has 2 fields but there are 3 column labels",
    ),
    "non_numeric_cell": (
        GOOD_HEADER + "time\ta\tb\n0\t1\t2\n0.1\tabc\t3\n",
        9,
        "non-numeric cell 'abc' in column 'a'",
    ),
    "time_not_increasing": (
        GOOD_HEADER + "time\ta\tb\n0\t1\t2\n0.1\t1\t2\n0.1\t1\t2\n",
        10,
        "time does not increase (0.1 then 0.1)",
    ),
    "duplicate_columns": (GOOD_HEADER + "time\ta\ta\n0\t1\t2\n", 7, "duplicate column names: a"),
    "unknown_in_degrees": (
        "Coordinates\nversion=1\ninDegrees=maybe\nendheader\ntime\ta\n0\t1\n",
        3,
        "unknown inDegrees value 'maybe' (expected yes or no)",
    ),
    "empty_file": ("", None, "file is empty"),
    "xml_document": (
        '<?xml version="1.0"?>\n<OpenSimDocument Version="40000">\n<MarkerSet name="m">'
        "</MarkerSet></OpenSimDocument>\n",
        None,
        "is an XML document (OpenSim MarkerSet), not a table",
    ),
    "no_data_rows": (GOOD_HEADER + "time\ta\n", 7, "no data rows after the column labels"),
}


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def _assert_one_line_error(result, path: Path, line: int | None, problem: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    where = f"{path}:{line}" if line is not None else f"{path}"
    assert lines[0] == f"kintwin: error: {where}: {problem}"
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_table(case: str, tmp_path: Path):
    text, line, problem = BAD_TABLES[case]
    bad = tmp_path / f"{case}.mot"
    bad.write_text(text)
    out = tmp_path / "out.sto"
    result = _run("convert", "table", str(bad), str(out))
    _assert_one_line_error(result, bad, line, problem)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [bad.name]  # no temporary file either


def test_real_marker_set_saved_as_sto(shared_data: Path, tmp_path: Path):
    bad = shared_data / "3dpredictsim-subject2/Scaling/subject2_withMTP_scaled.sto"
    result = _run("convert", "table", str(bad), str(tmp_path / "out.mot"))
    _assert_one_line_error(result, bad, None, "is an XML document (OpenSim MarkerSet), not a table")


TRC_HEADER = (
    "PathFileType\t4\t(X/Y/Z)\tx.trc\n"
    "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames\n"
)
BAD_TRC = {
    "marker_count": (
        TRC_HEADER
        + "100\t100\t1\t3\tmm\t100\t1\t1\nFrame#\tTime\tA\t\t\tB\n\t\tX1\tY1\tZ1\tX2\tY2\tZ2\n"
        "1\t0\t1\t2\t3\t4\t5\t6\n",
        4,
        "header says NumMarkers=3 but line 4 names 2 markers",
    ),
    "units": (
        TRC_HEADER
        + "100\t100\t1\t1\tinch\t100\t1\t1\nFrame#\tTime\tA\n\t\tX1\tY1\tZ1\n1\t0\t1\t2\t3\n",
        3,
        "unknown Units 'inch' (expected mm, cm or m)",
    ),
    "not_trc": (
        "hello\nworld\n1\n2\n3\n",
        1,
        "first line does not start with 'PathFileType': not a .trc file",
    ),
    "too_many_fields": (
        TRC_HEADER
        + "100\t100\t1\t1\tmm\t100\t1\t1\nFrame#\tTime\tA\n\t\tX1\tY1\tZ1\n1\t0\t1\t2\t3\t4\n",
        6,
        "row has 6 fields, more than the 5 of 1 markers",
    ),
    "non_numeric": (
        TRC_HEADER
        + "100\t100\t1\t1\tmm\t100\t1\t1\nFrame#\tTime\tA\n\t\tX1\tY1\tZ1\n1\t0\t1\tx\t3\n",
        6,
        "non-numeric cell 'x' in field 4",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TRC))
def test_bad_trc(case: str, tmp_path: Path):
    text, line, problem = BAD_TRC[case]
    bad = tmp_path / f"{case}.trc"
    bad.write_text(text)
    _assert_one_line_error(_run("inspect", str(bad)), bad, line, problem)


def test_missing_file_is_a_usage_error(tmp_path: Path):
    missing = tmp_path / "nope.mot"
    result = _run("convert", "table", str(missing), str(tmp_path / "out.sto"))
    _assert_one_line_error(result, missing, None, "no such file (argument SOURCE)")


def test_debug_shows_the_traceback(tmp_path: Path):
    bad = tmp_path / "bad.mot"
    bad.write_text("no header at all\n")
    result = _run("--debug", "inspect", str(bad))
    assert result.exit_code != 0 and result.exception is not None
    assert "endheader" in str(result.exception)


def test_existing_output_needs_force(tmp_path: Path, shared_data: Path):
    source = (
        shared_data
        / "opensim-models/Pipelines/Gait10dof18musc/OutputReference/IK/subject01_walk_IK.mot"
    )
    out = tmp_path / "ik.csv"
    out.write_text("keep me")
    result = _run("convert", "table", str(source), str(out))
    _assert_one_line_error(result, out, None, "exists already; use --force to overwrite it")
    assert out.read_text() == "keep me"
    assert _run("convert", "table", str(source), str(out), "--force").exit_code == 0
    assert out.read_text().startswith("time,pelvis_tilt,")
