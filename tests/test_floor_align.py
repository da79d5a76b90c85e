"""Each motion on the floor before the feet are fitted to the motions (TrackingConfig.floor_align,
contact_percentile): policies.root_fit.align_floor, policies.reference.prepare_motions and
kintwin id applying what the policy trained with."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

SUBJECT4 = "opencap-subject4"


@pytest.fixture(scope="module")
def walk_task(subject4_walk):
    """(converted, walking1 trajectory, the task with the converter's own foot spheres)."""
    from policies.env import TrackingConfig, build_task_model

    converted, trajectory = subject4_walk
    return converted, trajectory, build_task_model(converted, TrackingConfig())


def test_align_floor_puts_the_feet_on_the_floor_and_moves_nothing_else(walk_task) -> None:
    """Subject 4's walk stands 1-3 cm in the floor of its model (its IK's floor); aligned, the
    median lowest contact point is on the floor, the root moved straight up by as much, every
    other coordinate untouched."""
    from policies.root_fit import _root_slides, align_floor, floor_offset

    _, trajectory, task = walk_task
    before = floor_offset(task, trajectory)
    assert -0.03 < before < -0.01
    aligned, shift = align_floor(task, trajectory)
    assert shift == pytest.approx(-before)
    assert floor_offset(task, aligned) == pytest.approx(0.0, abs=1e-9)
    qpos_idx, _, axes, _ = _root_slides(task)
    moved = (aligned.qpos[:, qpos_idx] - trajectory.qpos[:, qpos_idx]) @ axes
    np.testing.assert_allclose(moved, np.tile([0.0, 0.0, shift], (len(moved), 1)), atol=1e-12)
    others = np.setdiff1d(np.arange(trajectory.qpos.shape[1]), qpos_idx)
    np.testing.assert_array_equal(aligned.qpos[:, others], trajectory.qpos[:, others])
    np.testing.assert_array_equal(aligned.qvel, trajectory.qvel)


def test_a_percentile_calibration_shrinks_no_sphere_more_than_the_deepest(walk_task) -> None:
    """A percentile of depths is never deeper than the deepest frame, so no radius is smaller;
    spheres pressed deep in a few frames only (the toes at push-off) keep more of theirs."""
    from policies.env import TrackingConfig
    from policies.reference import calibrate_contacts

    converted, trajectory, _ = walk_task
    deepest = dict(calibrate_contacts(converted, [trajectory], TrackingConfig()).contact_radii)
    config = TrackingConfig(contact_percentile=20.0)
    typical = dict(calibrate_contacts(converted, [trajectory], config).contact_radii)
    assert typical.keys() == deepest.keys()
    assert all(typical[n] >= deepest[n] - 1e-12 for n in deepest)
    assert sum(typical[n] > deepest[n] + 1e-3 for n in deepest) >= 2


def test_prepare_motions_aligns_before_it_calibrates(walk_task) -> None:
    """With floor_align the calibration sees the motion on the floor: the heel, 2 cm in the
    floor as given, keeps more of its radius; without it, the motions are returned as given."""
    from policies.env import TrackingConfig
    from policies.reference import prepare_motions
    from policies.root_fit import floor_offset

    converted, trajectory, task = walk_task
    same, plain, _ = prepare_motions(converted, [trajectory], TrackingConfig())
    assert same[0] is trajectory
    moved, aligned, _ = prepare_motions(converted, [trajectory], TrackingConfig(floor_align=True))
    assert floor_offset(task, moved[0]) == pytest.approx(0.0, abs=1e-9)
    heel = "kintwin_contact1_r"
    assert dict(aligned.contact_radii)[heel] > dict(plain.contact_radii)[heel] + 0.005
    given = replace(TrackingConfig(floor_align=True), contact_radii=plain.contact_radii)
    _, kept, _ = prepare_motions(converted, [trajectory], given)
    assert kept.contact_radii == plain.contact_radii  # radii given (a resumed run): kept


def test_kintwin_id_aligns_the_trial_as_its_policy_trained(shared_data: Path, tmp_path: Path):
    """A policy trained with --set floor_align=true moves the trial onto the floor in kintwin
    id and says by how much (summary floor_shift_m); one trained without says null."""
    from click.testing import CliRunner

    from kintwin_cli.main import cli

    root = shared_data / SUBJECT4
    model = root / "Models" / "optimized_scale_and_markers.osim"
    ik = root / "IK" / "walking1_ik.mot"
    runner = CliRunner()
    shifts = {}
    for align in ("true", "false"):
        policy = tmp_path / f"policy_{align}"
        trained = runner.invoke(cli, [
            "train", "--model", str(model), "--motions", str(ik), "--steps", "32", "--envs", "2",
            "--workers", "1", "--overground", "--set", f"floor_align={align}", "-o", str(policy),
        ])  # fmt: skip
        assert trained.exit_code == 0, trained.output
        card = json.loads((policy / "card.json").read_text())
        assert card["tracking_config"]["floor_align"] is (align == "true")
        out = tmp_path / f"out_{align}"
        ran = runner.invoke(cli, [
            "id", "--model", str(model), "--coordinates", str(ik), "--policy", str(policy),
            "-o", str(out), "--no-fall-search", "--time-range", "0", "0.3",
        ])  # fmt: skip
        assert ran.exit_code == 0, ran.output
        shifts[align] = json.loads((out / "walking1_summary.json").read_text())["floor_shift_m"]
    assert shifts["false"] is None
    assert 0.01 < shifts["true"] < 0.03  # the walk stands 1-3 cm in the floor as given
