"""``kintwin id`` with the shipped 3D policy (issue 13) on one whole shared trial, squats1 of
OpenCap subject 4, without force plates: bar 1's tracking numbers (benchmarks/bench_opencap.py
measures every trial; these are its definitions). The pelvis bar is not met yet: a strict xfail,
so a policy that meets it makes this file say so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kintwin_cli.main import cli

POLICY = Path(__file__).resolve().parents[1] / "policies" / "pretrained" / "laiuhlrich2022_torque"
SUBJECT = "opencap-subject4"


@pytest.fixture(scope="module")
def squats1(shared_data: Path, tmp_path_factory) -> dict:
    """The summary of ``kintwin id --policy`` (the shipped policy) on the whole of squats1."""
    root = shared_data / SUBJECT
    out = tmp_path_factory.mktemp("squats1")
    args = ["id", "--model", str(root / "Models" / "optimized_scale_and_markers.osim"),
            "--coordinates", str(root / "IK" / "squats1_ik.mot"), "--policy", str(POLICY),
            "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads((out / "squats1_summary.json").read_text())


def _joint_degrees(summary: dict) -> dict[str, float]:
    """RMSE (deg) of each rotational coordinate but the pelvis's (bar 1's joints)."""
    rmse, units = summary["tracking_rmse"], summary["tracking_units"]
    return {c: v for c, v in rmse.items() if units[c] == "deg" and not c.startswith("pelvis")}


def test_the_whole_trial_is_tracked_within_bar_1s_joint_errors(squats1: dict):
    """No fall, mean joint RMSE <= 2 deg, each joint <= 4 deg."""
    assert not squats1["fell"] and squats1["fraction_tracked"] == pytest.approx(1.0)
    degrees = _joint_degrees(squats1)
    assert len(degrees) == 27  # every joint of the model (the arms are in the file)
    assert np.mean(list(degrees.values())) <= 2.0
    worst = max(degrees, key=degrees.get)
    assert degrees[worst] <= 4.0, worst


@pytest.mark.xfail(strict=True, reason="bar 1's pelvis <= 2 cm is not met (4.9 cm on squats1)")
def test_the_pelvis_stays_within_bar_1s_2_cm(squats1: dict):
    units = squats1["tracking_units"]
    pelvis = [v for c, v in squats1["tracking_rmse"].items() if units[c] == "cm"]
    assert len(pelvis) == 3 and max(pelvis) <= 2.0


def test_the_subject_it_trained_on_lies_within_its_bodies(squats1: dict):
    body = squats1["body_vs_training"]
    assert body["outside"] == [] and body["mass_kg"] == pytest.approx(62.6, abs=0.1)
    assert all(f == pytest.approx(1.0, abs=0.01) for f in body["segment_factors"].values())
