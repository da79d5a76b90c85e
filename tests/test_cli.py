"""The command line: version, help for every command, inspect on every kind of file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kintwin_cli import __version__
from kintwin_cli.main import COMMANDS, cli

GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_version():
    result = _run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def _all_commands():
    from click import Group

    found = []
    for name in COMMANDS:
        command = cli.get_command(None, name)
        found.append((name,))
        if isinstance(command, Group):
            found += [(name, sub) for sub in command.list_commands(None)]
    return found


@pytest.mark.parametrize("words", _all_commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(words):
    result = _run(*words, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    command = cli
    for word in words:
        command = command.get_command(None, word)
    if not hasattr(command, "commands"):  # leaf commands show how to use them
        assert "Example" in result.output, f"{' '.join(words)} --help gives no example"


@pytest.mark.parametrize(
    "relative, expected",
    [
        (f"{GAIT10}/IK/subject01_walk_IK.mot", ["rows      151", "angles    degrees", "60 Hz"]),
        (f"{GAIT10}/ExperimentalData/subject01_walk.trc", ["markers   41", "units     mm"]),
        (f"{GAIT10}/subject01.osim", ["coordinates   10", "muscles       18"]),
        (f"{GAIT10}/ExperimentalData/subject01_walk_grf.xml", ["2 forces", "on calcn_r"]),
        (f"{GAIT10}/ID/walk_Setup_ID.xml", ["InverseDynamicsTool setup", "(0.0, 2.5)"]),
        (
            "3dpredictsim-subject2/ID/SetupID_gait_14.xml",
            ["missing: override it on the command line"],
        ),
    ],
)
def test_inspect(shared_data: Path, relative: str, expected: list[str]):
    result = _run("inspect", str(shared_data / relative))
    assert result.exit_code == 0, result.output
    for text in expected:
        assert text in result.output


def test_inspect_unknown_type(tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    result = _run("inspect", str(path))
    assert result.exit_code == 2
    assert result.output.startswith(f"kintwin: error: {path}: unknown file type '.txt'")


def test_convert_table_to_radians_with_model(shared_data: Path, tmp_path: Path):
    import numpy as np

    from converters.opensim_io.table import read_table

    source = shared_data / f"{GAIT10}/IK/subject01_walk_IK.mot"
    out = tmp_path / "ik_rad.sto"
    result = _run(
        "convert",
        "table",
        str(source),
        str(out),
        "--radians",
        "--model",
        str(shared_data / f"{GAIT10}/subject01.osim"),
    )
    assert result.exit_code == 0, result.output
    before, after = read_table(source), read_table(out)
    assert before.in_degrees is True and after.in_degrees is False
    for label in before.labels:
        expected = before.column(label)
        if label not in ("pelvis_tx", "pelvis_ty"):
            expected = np.deg2rad(expected)
        np.testing.assert_allclose(after.column(label), expected, rtol=1e-15)
    back = tmp_path / "ik_deg.mot"
    assert _run("convert", "table", str(out), str(back), "--degrees").exit_code == 0
    np.testing.assert_allclose(read_table(back).data, before.data, rtol=1e-12)
