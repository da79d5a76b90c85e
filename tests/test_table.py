"""OpenSim .sto/.mot tables: every file in the shared data reads, round-trips and loads in OpenSim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data_dir

from converters.errors import FileFormatError, KintwinError, OutputExistsError
from converters.opensim_io.table import Table, format_table, read_table, write_table

XML_IN_DISGUISE = {"subject2_withMTP_scaled.sto", "subject2_withMTP_weldRadius_scaled.sto"}


def _table_files() -> list[Path]:
    root = shared_data_dir()
    files = sorted([*root.rglob("*.sto"), *root.rglob("*.mot")])
    return [f for f in files if f.name not in XML_IN_DISGUISE]


TABLE_FILES = _table_files()


def _id(path: Path) -> str:
    return str(path.relative_to(shared_data_dir()))


def test_shared_data_has_tables():
    assert len(TABLE_FILES) >= 90


@pytest.mark.parametrize("path", TABLE_FILES, ids=_id)
def test_round_trip_keeps_values_names_and_bytes(path: Path, tmp_path: Path):
    original = read_table(path)
    out = tmp_path / f"copy{path.suffix}"
    write_table(original, out)
    again = read_table(out)
    assert again.labels == original.labels
    assert again.time_label == original.time_label
    np.testing.assert_allclose(again.time, original.time, rtol=1e-9, atol=0)
    np.testing.assert_allclose(again.data, original.data, rtol=1e-9, atol=0)
    assert (again.name, again.in_degrees, again.dialect) == (
        original.name,
        original.in_degrees,
        original.dialect,
    )
    assert again.metadata == original.metadata and again.comments == original.comments
    assert format_table(again) == out.read_text()  # byte-stable on a second write


@pytest.mark.parametrize("path", TABLE_FILES, ids=_id)
def test_opensim_reads_what_we_write(path: Path, tmp_path: Path):
    opensim = pytest.importorskip("opensim")
    opensim.Logger.setLevelString("error")
    ours = read_table(path)
    out = tmp_path / f"copy{path.suffix}"
    write_table(ours, out)
    theirs = opensim.TimeSeriesTable(str(out))
    assert list(theirs.getColumnLabels()) == ours.labels
    np.testing.assert_allclose(np.array(theirs.getIndependentColumn()), ours.time, rtol=1e-12)
    np.testing.assert_allclose(theirs.getMatrix().to_numpy(), ours.data, rtol=1e-12)
    assert opensim.Storage(str(out)).getSize() == ours.n_rows


def test_values_agree_with_opensim_reader(shared_data: Path):
    opensim = pytest.importorskip("opensim")
    opensim.Logger.setLevelString("error")
    path = shared_data / "opencap-subject4/IK/walking1_manual_scaling_ik.mot"  # CRLF endings
    ours = read_table(path)
    theirs = opensim.TimeSeriesTable(str(path))
    assert list(theirs.getColumnLabels()) == ours.labels
    np.testing.assert_allclose(theirs.getMatrix().to_numpy(), ours.data, rtol=1e-12)


@pytest.mark.parametrize(
    "relative, dialect, in_degrees, name",
    [
        (
            "opensim-models/Pipelines/Gait10dof18musc/OutputReference/IK/subject01_walk_IK.mot",
            "storage",
            True,
            "Coordinates",
        ),
        ("opencap-subject4/ID/walking1_grf.mot", "timeseries", None, ""),
        (
            "3dpredictsim-subject2/GRF/GRF_gait_15.mot",
            "simm",
            None,
            r"C:\Users\u0101727\Documents\MyRepositories\predictivesimulations\OpenSimModel\subject1"
            r"\GRF\gait_15_test.mot",
        ),
        ("opensim-models/Pipelines/Rajagopal/ExpData/grf_run.mot", "simm", None, "grf_run.mot"),
        (
            "gaitdynamics-video/example_usage/example_mot_missing_knee_kinematics.mot",
            "storage",
            False,
            "Coordinates",
        ),
    ],
)
def test_header_dialects(shared_data: Path, relative: str, dialect: str, in_degrees, name: str):
    table = read_table(shared_data / relative)
    assert (table.dialect, table.in_degrees, table.name) == (dialect, in_degrees, name)


def test_timeseries_metadata_is_kept(shared_data: Path):
    table = read_table(shared_data / "opencap-subject4/ID/walking1_grf.mot")
    assert table.metadata == {"DataType": "double", "OpenSimVersion": "4.1"}
    assert table.labels[0] == "ground_force_1_vx" and len(table.labels) == 18


def test_header_counts_are_not_trusted(shared_data: Path):
    # nColumns=24 in the header, 22 columns in the data: OpenSim wrote it, OpenSim reads it.
    path = shared_data / "gaitdynamics-video/example_usage/example_mot_missing_knee_kinematics.mot"
    assert len(read_table(path).labels) == 21


def test_simm_files_may_repeat_labels_but_lookup_refuses_ambiguity(shared_data: Path):
    path = (
        shared_data
        / "opensim-models/Pipelines/Gait2392_Simbody/OutputReference/subject01_walk1_ik.mot"
    )
    table = read_table(path)
    assert table.labels.count("ground_force_vx") == 2
    with pytest.raises(KintwinError, match="occurs 2 times"):
        table.column("ground_force_vx")
    assert table.column("pelvis_tx").shape == (table.n_rows,)


def test_padded_labels_and_trailing_tabs(shared_data: Path):
    table = read_table(shared_data / "3dpredictsim-subject2/GRF/GRF_gait_15.mot")
    assert table.time_label == "time" and table.labels[0] == "ground_force_vx"
    assert table.n_rows == 5430 and table.time[0] == pytest.approx(0.001)


def test_column_lookup_lists_valid_names():
    table = Table(time=[0.0, 0.1], labels=["a", "b"], data=[[1, 2], [3, 4]])
    with pytest.raises(KintwinError, match="no column 'c'; columns are: a, b"):
        table.column("c")
    np.testing.assert_array_equal(table.column("b"), [2, 4])


def test_write_refuses_to_overwrite_without_force(tmp_path: Path):
    table = Table(time=[0.0, 0.1], labels=["a"], data=[[1.0], [2.0]], in_degrees=False)
    out = tmp_path / "t.sto"
    out.write_text("precious")
    with pytest.raises(OutputExistsError):
        write_table(table, out)
    assert out.read_text() == "precious"
    write_table(table, out, force=True)
    assert read_table(out).column("a").tolist() == [1.0, 2.0]


def test_csv_round_trip(tmp_path: Path, shared_data: Path):
    source = read_table(
        shared_data
        / "opensim-models/Pipelines/Gait10dof18musc/OutputReference/ID/Results/subject01_walk_ID.sto"
    )
    write_table(source, tmp_path / "id.csv")
    back = read_table(tmp_path / "id.csv")
    assert back.labels == source.labels
    np.testing.assert_array_equal(back.data, source.data)


def test_unknown_extension_is_an_error(tmp_path: Path):
    table = Table(time=[0.0], labels=["a"], data=[[1.0]])
    with pytest.raises(FileFormatError, match="unknown table extension '.txt'"):
        write_table(table, tmp_path / "t.txt")
    assert not list(tmp_path.iterdir())
