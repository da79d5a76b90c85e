"""bench_opencap's own measurements, on synthetic files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench_opencap import _pelvis_drift
from converters.opensim_io.table import Table, read_table, write_table

ANGLES = ["pelvis_tilt", "pelvis_list", "pelvis_rotation"]


def test_pelvis_drift_is_the_pelvis_angle_error_per_fifth_in_degrees(tmp_path: Path):
    """IK in radians, the simulation in degrees and on its own time grid: a tilt that drifts
    3° off in the last fifth only reads 3° there (√(9/3) over the three angles) and 0 before."""
    time = np.arange(0.0, 1.0, 0.01)
    ik = np.column_stack([0.1 * np.sin(5 * time), 0.05 * time, -0.2 + 0 * time])
    write_table(Table(time, ANGLES, ik, in_degrees=False), tmp_path / "walk_ik.mot")
    rows = np.arange(0.005, 0.995, 0.01)  # the run's rows fall between the IK's
    simulated = np.degrees(np.column_stack([np.interp(rows, time, c) for c in ik.T]))
    simulated[rows >= rows[80], 0] += 3.0
    out = tmp_path / "out"
    out.mkdir()
    write_table(Table(rows, ANGLES, simulated, in_degrees=True), out / "walk_kinematics.mot")
    drift = _pelvis_drift(out, read_table(tmp_path / "walk_ik.mot"))
    assert drift[:4] == pytest.approx([0.0] * 4, abs=1e-6)
    assert drift[4] == pytest.approx(np.sqrt(3.0), rel=1e-6)
