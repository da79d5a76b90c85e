"""``kintwin compare``: errors per column, %BW normalisations, gait events, bad input, outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from converters.compare import (
    CompareConfig,
    column_metrics,
    compare_tables,
    gait_events,
    id_agreement,
    match_columns,
)
from converters.opensim_io.table import Table, read_table, write_table
from kintwin_cli.main import cli

GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"
MASS, HEIGHT = 70.0, 1.8
SHIFT_SAMPLES = 12  # at 1 kHz: 12 ms


def _run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _write(path: Path, time: np.ndarray, columns: dict[str, np.ndarray]) -> Path:
    table = Table(time=time, labels=list(columns), data=np.column_stack(list(columns.values())))
    return write_table(table, path)


def _id_columns(time: np.ndarray) -> dict[str, np.ndarray]:
    """Smooth, linear-free synthetic generalized forces (N·m and N)."""
    return {
        "knee_angle_r_moment": 40 * np.sin(2 * np.pi * time),
        "pelvis_ty_force": 700 + 50 * np.cos(2 * np.pi * time),
    }


def _json_run(tmp_path: Path, ours: Path, reference: Path, *options: str) -> dict:
    out = tmp_path / "out.json"
    result = _run("compare", ours, reference, "--json", out, "--force", *options)
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def _by_name(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["columns"]}


def _assert_one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kintwin: error: "), result.output
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


# ------------------------------------------------------------------------------- errors per column


def test_identical_files_give_zero_error(tmp_path: Path):
    time = np.linspace(0, 1, 101)
    ref = _write(tmp_path / "ref.sto", time, _id_columns(time))
    report = _json_run(tmp_path, ref, ref, "--mass", MASS, "--height", HEIGHT)
    assert [c["name"] for c in report["columns"]] == list(_id_columns(time))
    for column in report["columns"]:
        assert column["rmse"] == 0 and column["peak_error"] == 0 and column["n"] == 101
        assert column["r"] == pytest.approx(1.0, abs=1e-12)
    assert report["only_ours"] == report["only_reference"] == [] and not report["grf"]


def test_offset_gives_exact_rmse_per_kg_and_percent_bw(tmp_path: Path):
    """Ours: finer, longer, offset; interpolation of linear columns is exact inside the overlap."""
    fine = np.linspace(0, 1, 201)
    ref_time = np.linspace(0.2, 1.4, 61)  # overlap 0.2..1.0: 41 reference samples
    ours = _write(
        tmp_path / "ours.sto",
        fine,
        {"knee_angle_r_moment": 30 * fine + 2.0, "pelvis_ty_force": 100 * fine - 10.0},
    )
    ref = _write(
        tmp_path / "ref.mot",
        ref_time,
        {"knee_angle_r_moment": 30 * ref_time, "pelvis_ty_force": 100 * ref_time},
    )
    report = _json_run(tmp_path, ours, ref, "--mass", MASS, "--height", HEIGHT)
    assert report["span_s"] == pytest.approx([0.2, 1.0])
    moment, force = _by_name(report)["knee_angle_r_moment"], _by_name(report)["pelvis_ty_force"]
    assert moment["n"] == force["n"] == 41
    assert moment["rmse"] == pytest.approx(2.0, abs=1e-9)
    assert moment["rmse_per_kg"] == pytest.approx(2.0 / MASS, abs=1e-9)
    assert moment["rmse_pct_bwh"] == pytest.approx(100 * 2.0 / (MASS * 9.81 * HEIGHT), abs=1e-9)
    assert moment["rmse_pct_bw"] is None
    assert force["rmse"] == pytest.approx(10.0, abs=1e-9)
    assert force["peak_error"] == pytest.approx(10.0, abs=1e-9)
    assert force["rmse_pct_bw"] == pytest.approx(100 * 10.0 / (MASS * 9.81), abs=1e-9)
    assert moment["r"] == pytest.approx(1.0) and force["r"] == pytest.approx(1.0)


def test_scale_gives_exact_rmse_and_r_one(tmp_path: Path):
    time = np.linspace(0, 1, 1001)[:-1]  # whole periods: the RMS of A·sin is A/√2
    ours = _write(
        tmp_path / "ours.sto", time, {"hip_flexion_r_moment": 1.1 * 40 * np.sin(2 * np.pi * time)}
    )
    ref = _write(
        tmp_path / "ref.sto", time, {"hip_flexion_r_moment": 40 * np.sin(2 * np.pi * time)}
    )
    column = _json_run(tmp_path, ours, ref, "--mass", MASS)["columns"][0]
    assert column["rmse"] == pytest.approx(4.0 / math.sqrt(2), rel=1e-9)
    assert column["peak_error"] == pytest.approx(4.0, rel=1e-6)
    assert column["r"] == pytest.approx(1.0, abs=1e-12)
    assert column["rmse_per_kg"] == pytest.approx(4.0 / math.sqrt(2) / MASS, rel=1e-9)
    assert column["rmse_pct_bwh"] is None  # no height given


def test_suffix_matching_and_missing_columns_are_notes(tmp_path: Path):
    time = np.linspace(0, 1, 11)
    ours = _write(tmp_path / "ours.sto", time, {"knee_angle_r": time, "extra": time})
    ref = _write(
        tmp_path / "ref.sto", time, {"knee_angle_r_moment": time, "hip_flexion_r_moment": time}
    )
    result = _run("compare", ours, ref)
    assert result.exit_code == 0, result.output
    assert "knee_angle_r_moment (knee_angle_r)" in result.output
    assert "hip_flexion_r_moment" in result.output and "missing in ours" in result.output
    assert "extra" in result.output and "missing in reference" in result.output


def test_match_columns_needs_one_side_without_suffix():
    pairs, only_ours, only_reference = match_columns(
        ["a_moment", "b", "c_force", "time_x"], ["a_moment", "b_moment", "c_moment", "d"]
    )
    assert pairs == [("a_moment", "a_moment"), ("b", "b_moment")]
    assert only_ours == ["c_force", "time_x"] and only_reference == ["c_moment", "d"]


def test_constant_column_has_no_correlation(tmp_path: Path):
    time = np.linspace(0, 1, 11)
    metrics = column_metrics(time, np.full(11, -0.0075), np.full(11, -0.0075))
    assert math.isnan(metrics["r"]) and metrics["rmse"] == 0
    ref = _write(tmp_path / "ref.sto", time, {"ground_force_py": np.full(11, -0.0075)})
    assert _json_run(tmp_path, ref, ref)["columns"][0]["r"] is None  # JSON null, not NaN


# ------------------------------------------------------------------------------------ gait events


def _stance(time: np.ndarray, start: float, end: float) -> np.ndarray:
    """A vertical force (N): a half-sine of 800 N between start and end, zero elsewhere."""
    inside = (time >= start) & (time <= end)
    return np.where(inside, 800 * np.sin(np.pi * (time - start) / (end - start)), 0.0)


def _grf_columns(vy: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    return {
        f"{prefix}ground_force_vx": 0.1 * vy,
        f"{prefix}ground_force_vy": vy,
        f"{prefix}ground_force_vz": np.zeros_like(vy),
    }


def test_gait_events_are_interpolated_threshold_crossings():
    time = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    events = gait_events(time, np.array([0.0, 40.0, 100.0, 10.0, 0.0]), threshold=20.0)
    assert events["heel_strike"] == pytest.approx([0.05])
    assert events["toe_off"] == pytest.approx([0.2 + 0.1 * 80 / 90])


def test_shifted_event_gives_its_error_in_ms(tmp_path: Path):
    time = np.arange(2001) / 1000.0  # 1 kHz, 0..2 s
    right = _stance(time, 0.3, 0.9) + _stance(time, 1.4, 1.95)
    left = _stance(time, 0.8, 1.5)
    shifted = np.concatenate([np.zeros(SHIFT_SAMPLES), right[:-SHIFT_SAMPLES]])  # 12 ms later
    ref = _write(
        tmp_path / "ref_grf.mot", time, {**_grf_columns(right, "r_"), **_grf_columns(left, "l_")}
    )
    ours = _write(
        tmp_path / "ours_grf.mot", time, {**_grf_columns(shifted, "r_"), **_grf_columns(left, "l_")}
    )
    report = _json_run(tmp_path, ours, ref, "--mass", MASS)
    assert report["grf"]
    right_events = [e for e in report["events"] if e["group"] == "r_ground_force_vy"]
    left_events = [e for e in report["events"] if e["group"] == "l_ground_force_vy"]
    assert [e["kind"] for e in right_events] == ["heel_strike", "toe_off"] * 2
    assert [e["kind"] for e in left_events] == ["heel_strike", "toe_off"]
    for event in right_events:
        assert event["error_ms"] == pytest.approx(SHIFT_SAMPLES, abs=1e-6)
    for event in left_events:
        assert event["error_ms"] == pytest.approx(0.0, abs=1e-9)
    assert report["max_event_error_ms"] == pytest.approx(SHIFT_SAMPLES, abs=1e-6)
    vy = _by_name(report)["r_ground_force_vy"]
    assert vy["rmse_pct_bw"] == pytest.approx(100 * vy["rmse"] / (MASS * 9.81))
    result = _run("compare", ours, ref)
    assert "error +12.0 ms" in result.output and "max timing error: 12.0 ms" in result.output


def _late_first_contact(tmp_path: Path, delay: float) -> tuple[Path, Path]:
    """(ours, reference): the reference foot is loaded from before its first sample and again
    from 0.8 s; ours is the same but unloaded for the first ``delay`` seconds."""
    time = np.arange(1001) / 1000.0
    reference_vy = _stance(time, -0.1, 0.5) + _stance(time, 0.8, 1.2)
    ours_vy = np.where(time < delay, 0.0, reference_vy)
    ref = _write(tmp_path / "ref.mot", time, _grf_columns(reference_vy, "r_"))
    return _write(tmp_path / "ours.mot", time, _grf_columns(ours_vy, "r_")), ref


def test_crossing_at_the_start_is_not_matched_to_a_later_event(tmp_path: Path):
    """Ours rises through the threshold 8 ms in: that is the start, not a heel strike to match
    with the next one."""
    ours, ref = _late_first_contact(tmp_path, 0.008)
    report = _json_run(tmp_path, ours, ref)
    assert [e["kind"] for e in report["events"]] == ["toe_off", "heel_strike"]
    assert report["max_event_error_ms"] == pytest.approx(0.0, abs=1e-6)


def test_event_with_no_partner_nearby_is_unmatched_not_a_second_off(tmp_path: Path):
    """Ours touches down 60 ms in (past the 40 ms edge): listed without a partner, not paired
    with the heel strike at 0.8 s."""
    ours, ref = _late_first_contact(tmp_path, 0.06)
    report = _json_run(tmp_path, ours, ref)
    first = report["events"][0]
    assert first["kind"] == "heel_strike" and first["time"] == pytest.approx(0.06, abs=2e-3)
    assert first["reference_time"] is None and first["error_ms"] is None
    assert report["max_event_error_ms"] == pytest.approx(0.0, abs=1e-6)
    assert report["event_counts"]["r_ground_force_vy"]["heel_strike"] == {"ours": 2, "reference": 1}
    result = _run("compare", ours, ref)
    assert "unmatched: no free reference event within 200 ms" in result.output


def test_a_bounce_is_an_extra_event_not_a_second_match(tmp_path: Path):
    """Ours lifts off for 30 ms just after the heel strike at 0.8 s: the heel strike at 0.8 s
    keeps its partner; the bounce's toe-off and heel strike are extra events, unmatched (not
    paired again with the reference's 0.8 s heel strike, 130 ms away)."""
    time = np.arange(1001) / 1000.0
    reference_vy = _stance(time, -0.1, 0.5) + _stance(time, 0.8, 1.2)
    ours_vy = np.where((time > 0.9) & (time < 0.93), 0.0, reference_vy)
    ref = _write(tmp_path / "ref.mot", time, _grf_columns(reference_vy, "r_"))
    ours = _write(tmp_path / "ours.mot", time, _grf_columns(ours_vy, "r_"))
    report = _json_run(tmp_path, ours, ref)
    strikes = [e for e in report["events"] if e["kind"] == "heel_strike"]
    assert [e["reference_time"] is None for e in strikes] == [False, True]
    assert strikes[0]["error_ms"] == pytest.approx(0.0, abs=1e-3)
    assert report["max_event_error_ms"] == pytest.approx(0.0, abs=1e-3)
    assert report["event_counts"]["r_ground_force_vy"]["heel_strike"] == {"ours": 2, "reference": 1}


# --------------------------------------------------------------------------------------- real data


def test_real_id_file_against_itself(shared_data: Path, tmp_path: Path):
    ref = shared_data / GAIT10 / "ID/Results/subject01_walk_ID.sto"
    report = _json_run(tmp_path, ref, ref, "--mass", "72.6", "--height", "1.8")
    assert len(report["columns"]) == 10 and not report["grf"] and report["events"] == []
    for column in report["columns"]:
        assert column["n"] == 151 and column["rmse"] == 0 and column["peak_error"] == 0
        assert column["r"] == pytest.approx(1.0, abs=1e-12)
        assert column["kind"] == ("force" if column["name"].endswith("_force") else "moment")


def test_real_grf_file_against_itself(shared_data: Path, tmp_path: Path):
    ref = shared_data / GAIT10 / "ExperimentalData/subject01_walk_grf.mot"
    report = _json_run(tmp_path, ref, ref, "--mass", "72.6")
    assert report["grf"] and len(report["columns"]) == 18
    assert {e["group"] for e in report["events"]} == {"ground_force_vy", "1_ground_force_vy"}
    assert len(report["events"]) == 8  # two heel strikes and two toe-offs per foot
    assert all(e["error_ms"] == 0 for e in report["events"])
    assert report["max_event_error_ms"] == 0
    assert all(c["rmse"] == 0 for c in report["columns"])


def test_id_agreement_still_works_for_the_benchmark(shared_data: Path):
    table = read_table(shared_data / GAIT10 / "ID/Results/subject01_walk_ID.sto")
    assert id_agreement(table, table)["within_bar"]
    config = CompareConfig(mass_kg=72.6)
    assert compare_tables(table, table, config).columns[0].rmse == 0


# --------------------------------------------------------------------------------------- bad input


def test_missing_file_is_one_line(tmp_path: Path):
    time = np.linspace(0, 1, 11)
    ref = _write(tmp_path / "ref.sto", time, _id_columns(time))
    missing = tmp_path / "nope.sto"
    _assert_one_line_error(_run("compare", missing, ref), f"{missing}: no such file")


def test_no_common_columns_names_both_files(tmp_path: Path):
    time = np.linspace(0, 1, 11)
    ours = _write(tmp_path / "ours.sto", time, {"a": time})
    ref = _write(tmp_path / "ref.sto", time, {"b_moment": time})
    line = _assert_one_line_error(_run("compare", ours, ref), str(ours), str(ref))
    assert "no column in common" in line


def test_no_time_overlap_names_both_files(tmp_path: Path):
    ours = _write(tmp_path / "ours.sto", np.linspace(0, 1, 11), {"a": np.zeros(11)})
    ref = _write(tmp_path / "ref.sto", np.linspace(2, 3, 11), {"a": np.zeros(11)})
    line = _assert_one_line_error(_run("compare", ours, ref), str(ours), str(ref))
    assert "do not overlap in time" in line


def test_height_without_mass_is_refused(tmp_path: Path):
    time = np.linspace(0, 1, 11)
    ref = _write(tmp_path / "ref.sto", time, _id_columns(time))
    _assert_one_line_error(_run("compare", ref, ref, "--height", "1.8"), "--height needs --mass")


# ----------------------------------------------------------------------------------------- outputs


def test_plot_and_json_written_and_not_overwritten_without_force(tmp_path: Path):
    time = np.linspace(0, 1, 51)
    ref = _write(tmp_path / "ref.sto", time, _id_columns(time))
    ours = _write(tmp_path / "ours.sto", time, {k: v + 1 for k, v in _id_columns(time).items()})
    png, report = tmp_path / "cmp.png", tmp_path / "cmp.json"
    result = _run("compare", ours, ref, "--plot", png, "--json", report)
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(report.read_text())["columns"][0]["rmse"] == pytest.approx(1.0)
    for option, path in (("--plot", png), ("--json", report)):
        before = path.read_bytes()
        again = _run("compare", ours, ref, option, path)
        _assert_one_line_error(again, f"{path}: exists already; use --force")
        assert path.read_bytes() == before
        assert _run("compare", ours, ref, option, path, "--force").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["ref.sto", "ours.sto", "cmp.png", "cmp.json"]
    )  # no temporary files left
