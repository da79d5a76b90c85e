"""Marker files (.trc): every file in the shared data reads, round-trips and loads in OpenSim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data_dir

from converters.opensim_io.trc import MarkerTable, format_trc, read_trc, write_trc

TRC_FILES = sorted(shared_data_dir().rglob("*.trc"))


def _id(path: Path) -> str:
    return str(path.relative_to(shared_data_dir()))


def test_shared_data_has_trc_files():
    assert len(TRC_FILES) >= 25


@pytest.mark.parametrize("path", TRC_FILES, ids=_id)
def test_round_trip_keeps_markers_and_missing_cells(path: Path, tmp_path: Path):
    original = read_trc(path)
    out = write_trc(original, tmp_path / "copy.trc")
    again = read_trc(out)
    assert again.markers == original.markers and again.units == original.units
    np.testing.assert_array_equal(again.frames, original.frames)
    np.testing.assert_allclose(again.time, original.time, rtol=1e-9)
    np.testing.assert_array_equal(np.isnan(again.data), np.isnan(original.data))
    np.testing.assert_allclose(again.data, original.data, rtol=1e-9, equal_nan=True)
    assert format_trc(again) == out.read_text()


@pytest.mark.parametrize("path", TRC_FILES, ids=_id)
def test_opensim_reads_what_we_write(path: Path, tmp_path: Path):
    opensim = pytest.importorskip("opensim")
    opensim.Logger.setLevelString("error")
    ours = read_trc(path)
    out = write_trc(ours, tmp_path / "copy.trc")
    theirs = opensim.TimeSeriesTableVec3(str(out))
    assert list(theirs.getColumnLabels()) == ours.markers
    first = np.array(
        [[theirs.getRowAtIndex(0)[k][i] for i in range(3)] for k in range(len(ours.markers))]
    )
    np.testing.assert_allclose(first, ours.data[0], rtol=1e-12, equal_nan=True)


def test_blank_cells_are_missing_markers(shared_data: Path):
    table = read_trc(shared_data / "opencap-subject4/MarkerData/walking1.trc")
    assert table.units == "m" and len(table.markers) == 51 and table.n_frames == 131
    missing = np.isnan(table.data).any(axis=2)
    assert 0 < missing.sum() < missing.size  # some, not all
    assert np.array_equal(np.isnan(table.data).all(axis=2), missing)  # whole triples missing


def test_values_agree_with_opensim_reader(shared_data: Path):
    opensim = pytest.importorskip("opensim")
    opensim.Logger.setLevelString("error")
    path = shared_data / "opensim-models/Pipelines/Rajagopal/ExpData/motion_capture_walk.trc"
    ours = read_trc(path)  # space-padded header values separated by double tabs
    theirs = opensim.TimeSeriesTableVec3(str(path))
    assert theirs.getNumRows() == ours.n_frames and list(theirs.getColumnLabels()) == ours.markers
    row = theirs.getRowAtIndex(10)
    np.testing.assert_allclose([row[3][i] for i in range(3)], ours.data[10, 3], rtol=1e-12)
    assert ours.data_rate == 100.0 and ours.units == "mm"


def test_unit_conversion(shared_data: Path):
    mm = read_trc(
        shared_data
        / "opensim-models/Pipelines/Gait10dof18musc/OutputReference/ExperimentalData/subject01_walk.trc"
    )
    metres = mm.in_units("m")
    assert metres.units == "m" and metres.header["Units"] == "m"
    np.testing.assert_allclose(metres.data * 1000.0, mm.data)


def test_written_header_is_opensim_layout(tmp_path: Path):
    table = MarkerTable(
        time=[0.0, 0.01],
        frames=[1, 2],
        markers=["A", "B"],
        data=np.arange(12.0).reshape(2, 2, 3),
        units="m",
        header={"DataRate": "100"},
        file_name="x.trc",
    )
    lines = format_trc(table).splitlines()
    assert lines[0] == "PathFileType\t4\t(X/Y/Z)\tx.trc"
    assert lines[1].split("\t")[:5] == [
        "DataRate",
        "CameraRate",
        "NumFrames",
        "NumMarkers",
        "Units",
    ]
    assert lines[2].split("\t")[2:5] == ["2", "2", "m"]
    assert lines[3] == "Frame#\tTime\tA\t\t\tB"
    assert lines[4] == "\t\tX1\tY1\tZ1\tX2\tY2\tZ2"
