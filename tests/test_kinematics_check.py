"""Kinematics no body makes (converters.kinematics_check) and kintwin id's warning about them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from converters.kinematics_check import (
    MAX_JOINT_SPEED_DEG_S,
    MAX_ROOT_SPEED_DEG_S,
    implausible_spans,
    range_without,
)
from converters.motion import CoordinateSeries, coordinate_series
from converters.opensim_io.table import read_table

SUBJECT4 = "opencap-subject4"
POLICY = Path(__file__).resolve().parents[1] / "policies" / "pretrained" / "laiuhlrich2022_torque"


@pytest.fixture(scope="module")
def subject4(shared_data: Path):
    """(subject 4's parsed model, its walking1 as a coordinate series)."""
    from converters.osim.parser import load_osim

    root = shared_data / SUBJECT4
    model = load_osim(root / "Models" / "optimized_scale_and_markers.osim")
    ik = root / "IK" / "walking1_ik.mot"
    return model, coordinate_series(read_table(ik), model, ik)


def _with(series: CoordinateSeries, name: str, rows: slice, add: float) -> CoordinateSeries:
    values = {k: v.copy() for k, v in series.values.items()}
    values[name][rows] += add
    return CoordinateSeries(series.time, values)


def test_a_real_walk_is_plausible(subject4) -> None:
    model, series = subject4
    assert implausible_spans(series, model) == []


def test_a_pelvis_flip_of_a_few_frames_is_found_with_its_span(subject4) -> None:
    """30° added to the pelvis list for 3 frames: a jump at each edge, one span from the first
    edge to the last (merged), the pelvis named with its speed."""
    model, series = subject4
    dt = float(series.time[1] - series.time[0])
    flipped = _with(series, "pelvis_list", slice(50, 53), math.radians(30.0))
    spans = implausible_spans(flipped, model)
    assert len(spans) == 1
    span = spans[0]
    assert span.fastest == "pelvis_list" and span.coordinates == ("pelvis_list",)
    assert span.from_s == pytest.approx(series.time[49]) and span.to_s == pytest.approx(
        series.time[53]
    )
    assert span.peak_speed == pytest.approx(15.0 / dt, rel=0.1)  # half the jump per dt
    assert span.peak_speed > MAX_ROOT_SPEED_DEG_S


def test_joints_have_a_higher_limit_than_the_root(subject4) -> None:
    """A knee jump below the joint limit (but above the root's) is no error; above it, it is."""
    model, series = subject4
    dt = float(series.time[1] - series.time[0])
    below = math.radians(0.8 * MAX_JOINT_SPEED_DEG_S * 2 * dt)  # central difference halves
    assert implausible_spans(_with(series, "knee_angle_r", slice(40, 60), below), model) == []
    above = math.radians(1.5 * MAX_JOINT_SPEED_DEG_S * 2 * dt)
    spans = implausible_spans(_with(series, "knee_angle_r", slice(40, 60), above), model)
    assert [s.fastest for s in spans] == ["knee_angle_r", "knee_angle_r"]  # two edges, apart


def test_range_without_cuts_each_half_at_its_spans(subject4) -> None:
    model, series = subject4
    t = series.time
    early = _with(series, "pelvis_tilt", slice(5, 8), math.radians(40.0))
    late = _with(early, "pelvis_rotation", slice(len(t) - 6, len(t) - 3), math.radians(40.0))
    spans = implausible_spans(late, model)
    assert len(spans) == 2
    a, b = range_without(spans, float(t[0]), float(t[-1]))
    assert a == pytest.approx(spans[0].to_s + 0.1) and b == pytest.approx(spans[1].from_s - 0.1)
    assert range_without([], float(t[0]), float(t[-1])) is None
    middle = _with(series, "pelvis_tilt", slice(len(t) // 2 - 1, len(t) // 2 + 1), 0.7)
    cut = range_without(implausible_spans(middle, model), float(t[0]), float(t[-1]))
    assert cut is None  # cutting at the middle would leave less than half


def test_kintwin_id_warns_and_names_the_range(shared_data: Path, tmp_path: Path) -> None:
    """A copy of walking1 with its pelvis flipped for 3 frames near the start: kintwin id warns
    on stderr, the summary lists the span and the --time-range that leaves it out."""
    from click.testing import CliRunner

    from converters.opensim_io.table import write_table
    from kintwin_cli.main import cli

    root = shared_data / SUBJECT4
    table = read_table(root / "IK" / "walking1_ik.mot")
    column = table.labels.index("pelvis_list")
    data = table.data.copy()
    data[10:13, column] += 30.0 if table.in_degrees else math.radians(30.0)
    trial = tmp_path / "walking1_flipped.mot"
    write_table(table.with_data(data), trial)
    out = tmp_path / "out"
    args = ["id", "--model", str(root / "Models" / "optimized_scale_and_markers.osim"),
            "--coordinates", str(trial), "-o", str(out), "--policy", str(POLICY), "--no-fall-search"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "pelvis_list moves at" in result.output and "implausibly fast" in result.output
    summary = json.loads((out / "walking1_flipped_summary.json").read_text())
    implausible = summary["implausible_kinematics"]
    assert [s["fastest"] for s in implausible["spans"]] == ["pelvis_list"]
    start, end = implausible["time_range_without_s"]
    assert start == pytest.approx(table.time[13] + 0.1, abs=1e-3)
    assert end == pytest.approx(table.time[-1], abs=1e-3)
    assert f"--time-range {start:.2f} {end:.2f}" in result.output
    so = CliRunner().invoke(cli, [
        "so", "--model", str(root / "Models" / "optimized_scale_and_markers.osim"),
        "--coordinates", str(trial), "--policy", str(POLICY), "-o", str(tmp_path / "so"),
        "--time-range", "0", "0.4", "--no-fall-search",
    ])  # fmt: skip
    assert so.exit_code == 0, so.output
    assert "pelvis_list moves at" in so.output  # kintwin so warns alike
    contact = CliRunner().invoke(cli, [
        "id", "--method", "contact", "--model",
        str(root / "Models" / "optimized_scale_and_markers.osim"), "--coordinates", str(trial),
        "-o", str(tmp_path / "contact"), "--json",
    ])  # fmt: skip
    assert contact.exit_code == 0, contact.output
    assert "pelvis_list moves at" in contact.output  # and the contact solve
    assert json.loads(contact.stdout)["implausible_kinematics"] == implausible


def test_kintwin_id_on_a_plausible_trial_reports_none(shared_data: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kintwin_cli.main import cli

    root = shared_data / SUBJECT4
    out = tmp_path / "out"
    args = ["id", "--model", str(root / "Models" / "optimized_scale_and_markers.osim"),
            "--coordinates", str(root / "IK" / "squats1_ik.mot"), "-o", str(out),
            "--time-range", "0", "1", "--policy", str(POLICY), "--no-fall-search"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "implausibly fast" not in result.output
    summary = json.loads((out / "squats1_summary.json").read_text())
    assert summary["implausible_kinematics"] is None
    assert np.isfinite(summary["tracking_rms_deg"])
