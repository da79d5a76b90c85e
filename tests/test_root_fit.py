"""Fitting a trial's root path to the model that tracks it (policies.root_fit): the floor and
the size of the body the kinematics were made for, measured on OpenCap subject 4's walk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converters.opensim_io.table import read_table
from policies.body_randomization import rescale_trajectory
from policies.body_scaling import BodyScaling, scale_converted
from policies.config import TrackingConfig
from policies.root_fit import FLOOR_TOLERANCE, apply_root_fit, fit_root_path
from policies.task import build_task_model

SUBJECT = "opencap-subject4"


def _scaled(converted, factor: float):
    names = [b.name for b in converted.conversion.spec.bodies if b.name not in ("world", "ground")]
    return scale_converted(converted, BodyScaling.uniform(dict.fromkeys(names, factor)))


def _task(converted):
    return build_task_model(converted, TrackingConfig(belt_speed=0.0))


def _raised_walk(root: Path, folder: Path) -> Path:
    """Subject 4's walking1 IK with the pelvis 20 cm higher (a markerless floor), as a file."""
    from dataclasses import replace

    from converters.opensim_io.table import write_table

    walk = read_table(root / "IK" / "walking1_ik.mot")
    data = walk.data.copy()
    data[:, walk.labels.index("pelvis_ty")] += 0.2
    write_table(replace(walk, data=data), folder / "raised_ik.mot")
    return folder / "raised_ik.mot"


def test_the_subjects_own_model_and_ik_are_left_alone(subject4_walk):
    converted, trajectory = subject4_walk
    task = _task(converted)
    fit = fit_root_path(task, trajectory)
    assert not fit.applied and fit.scale == 1.0 and fit.shift_m == 0.0
    assert apply_root_fit(task, trajectory, fit) is trajectory


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_a_body_of_another_size_gets_the_root_path_of_its_legs(subject4_walk, factor):
    """The walk on a body scaled by ``factor``: the stance feet would slide and float (or sink)
    by ~9 cm; the fit finds the scale, and the fitted path equals the one training's random
    bodies use (the path scaled) within a centimetre, with the stance feet on the floor."""
    converted, trajectory = subject4_walk
    other = _scaled(converted, factor)
    task = _task(other)
    fit = fit_root_path(task, trajectory)
    assert fit.applied
    assert fit.scale == pytest.approx(factor, abs=0.01)
    assert abs(fit.floor_offset_m) > FLOOR_TOLERANCE  # 10 % of a 0.9 m leg
    fitted = apply_root_fit(task, trajectory, fit)
    expected = rescale_trajectory(trajectory, converted, other, task.floor_height)
    root = [other.mj_model.joint(n).qposadr[0] for n in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]
    travel = fitted.qpos[:, root] - fitted.qpos[0, root]
    np.testing.assert_allclose(travel, expected.qpos[:, root] - expected.qpos[0, root], atol=0.01)
    assert fitted.coordinates["pelvis_ty"] == pytest.approx(fitted.qpos[:, root[1]])
    refit = fit_root_path(task, fitted)  # a fitted path needs no more fitting
    assert not refit.applied and refit.scale == pytest.approx(1.0, abs=0.01)
    assert refit.floor_offset_m == pytest.approx(0.0, abs=0.002)


def test_a_floor_elsewhere_is_found(subject4_walk):
    """The same body on kinematics 15 cm higher (a markerless floor): only the height moves."""
    converted, trajectory = subject4_walk
    task = _task(converted)
    raised = trajectory.qpos.copy()
    raised[:, converted.mj_model.joint("pelvis_ty").qposadr[0]] += 0.15
    from dataclasses import replace

    given = fit_root_path(task, trajectory).floor_offset_m
    fit = fit_root_path(task, replace(trajectory, qpos=raised))
    assert fit.applied and fit.scale == pytest.approx(1.0, abs=0.01)
    assert fit.floor_offset_m == pytest.approx(given + 0.15, abs=1e-6)
    assert fit.shift_m == pytest.approx(-fit.floor_offset_m, abs=0.005)


def test_kintwin_id_fits_a_raised_walk_and_says_so(shared_data: Path, tmp_path):
    """``kintwin id`` with the shipped 3D policy on subject 4's walk 20 cm above the floor (as
    a markerless floor might put it): a note says how the pelvis path was fitted, the summary
    records it; ``--no-fit-root`` tracks the file as given."""
    import json

    from click.testing import CliRunner

    from kintwin_cli.main import cli

    root = shared_data / SUBJECT
    raised = _raised_walk(root, tmp_path)
    policy = Path(__file__).resolve().parents[1] / "policies/pretrained/laiuhlrich2022_torque"
    args = ["id", "--model", str(root / "Models/optimized_scale_and_markers.osim"),
            "--coordinates", str(raised), "--policy", str(policy), "--time-range", "0.1", "0.4"]  # fmt: skip
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "fit")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "fit/raised_summary.json").read_text())
    fit = summary["root_fit"]
    if summary["floor_shift_m"] is not None:  # a floor-aligned policy moves it down first
        assert "raised_ik.mot: moved -" in result.output
        assert summary["floor_shift_m"] == pytest.approx(-0.2, abs=0.03)
        assert fit["scale"] == pytest.approx(1.0, abs=0.01)
    else:
        assert "raised_ik.mot does not fit this model" in result.output
        assert fit["applied"] and fit["scale"] == pytest.approx(1.0, abs=0.01)
        assert fit["shift_m"] == pytest.approx(-0.2, abs=0.03)
    result = CliRunner().invoke(cli, [*args, "--no-fit-root", "-o", str(tmp_path / "asis")])
    assert result.exit_code == 0, result.output
    assert "does not fit" not in result.output
    assert json.loads((tmp_path / "asis/raised_summary.json").read_text())["root_fit"] is None


def test_training_fits_another_bodys_trial_and_keeps_the_subjects_own(subject4_walk):
    """Training's motions (prepare_motions) are fitted as kintwin id fits a trial: the walk as
    a body 10 % larger would have it (root travel x1.1, feet in the floor) comes back to this
    body's root travel within a centimetre, feet on the floor; the subject's own walk is left
    exactly as it is."""
    from policies.reference import prepare_motions

    converted, trajectory = subject4_walk
    task = _task(converted)
    bigger = _scaled(converted, 1.1)
    foreign = rescale_trajectory(trajectory, converted, bigger, task.floor_height)
    config = TrackingConfig(belt_speed=0.0, calibrate_contacts=False)
    (own, fitted), _, fits = prepare_motions(converted, [trajectory, foreign], config)
    assert not fits[0].applied and fits[1].applied
    np.testing.assert_array_equal(own.qpos, trajectory.qpos)
    root = [converted.mj_model.joint(n).qposadr[0] for n in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]
    assert np.abs(foreign.qpos[:, root] - trajectory.qpos[:, root]).max() > 0.09  # not trivially
    travel = fitted.qpos[:, root] - fitted.qpos[0, root]
    np.testing.assert_allclose(
        travel, trajectory.qpos[:, root] - trajectory.qpos[0, root], atol=0.01
    )
    assert fit_root_path(task, fitted).floor_offset_m == pytest.approx(0.0, abs=0.002)


def test_kintwin_id_finds_a_treadmill_belt_the_policy_never_stood_on(shared_data: Path, tmp_path):
    """The shipped 3D policy was trained overground (every motion's belt at 0). Subject 4's
    walk turned into a treadmill walk (pelvis_tx minus its mean speed, so the stance feet slide
    backwards at it): ``kintwin id`` finds the belt at that speed, from the whole file even when
    asked for 0.2 s of it, and the summary says so; the stance feet's slip is measured over it."""
    import json
    from dataclasses import replace

    from click.testing import CliRunner

    from converters.opensim_io.table import write_table
    from kintwin_cli.main import cli

    policy = Path(__file__).resolve().parents[1] / "policies/pretrained/laiuhlrich2022_torque"
    card = json.loads((policy / "card.json").read_text())
    assert set(card["belt_speeds_m_per_s"]) == {0.0}
    root = shared_data / SUBJECT
    walk = read_table(root / "IK" / "walking1_ik.mot")
    data, tx = walk.data.copy(), walk.labels.index("pelvis_tx")
    speed = (data[-1, tx] - data[0, tx]) / (walk.time[-1] - walk.time[0])
    assert speed > 1.0
    data[:, tx] -= speed * (walk.time - walk.time[0])
    treadmill = tmp_path / "treadmill_ik.mot"
    write_table(replace(walk, data=data), treadmill)
    args = ["id", "--model", str(root / "Models/optimized_scale_and_markers.osim"),
            "--coordinates", str(treadmill), "--policy", str(policy), "--time-range", "0.1", "0.3",
            "-o", str(tmp_path / "out")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out/treadmill_summary.json").read_text())
    assert summary["treadmill"]
    assert summary["belt_speed_m_per_s"] == pytest.approx(-speed, rel=0.1)
    assert summary["root_fit"]["stance_slip_m_per_s"] < 0.1  # over the belt, as overground


def test_a_few_frames_of_a_foot_deep_in_the_floor_make_no_treadmill(subject4_walk):
    """A failed markerless pose: for three frames the body drops 20 cm into the floor and jumps
    backwards 30 cm. Belt detection takes its floor from the frames, not that outlier, and the
    walk stays overground (it read as a 10 m/s treadmill when the floor was the lowest point)."""
    from dataclasses import replace

    from policies.reference import estimate_belt_speed

    converted, trajectory = subject4_walk
    task = _task(converted)
    assert estimate_belt_speed(task, trajectory) == 0.0
    qpos = trajectory.qpos.copy()
    m = converted.mj_model
    tx, ty = m.joint("pelvis_tx").qposadr[0], m.joint("pelvis_ty").qposadr[0]
    qpos[60:63, ty] -= 0.2
    qpos[60:63, tx] -= [0.1, 0.2, 0.3]
    assert estimate_belt_speed(task, replace(trajectory, qpos=qpos)) == 0.0


def test_the_training_card_names_the_motions_whose_pelvis_path_was_fitted(
    shared_data: Path, tmp_path
):
    """``kintwin train`` on subject 4's walk and the same walk 20 cm above the floor: the card's
    ``root_fits`` lists the raised one only, moved down 20 cm (within 3 cm)."""
    import json

    from click.testing import CliRunner

    from kintwin_cli.main import cli

    root = shared_data / SUBJECT
    raised = _raised_walk(root, tmp_path)
    result = CliRunner().invoke(
        cli,
        ["train", "--model", str(root / "Models/optimized_scale_and_markers.osim"),
         "--motions", str(root / "IK" / "walking1_ik.mot"), "--motions", str(raised),
         "--steps", "32", "--envs", "2", "--workers", "1", "--overground", "-o",
         str(tmp_path / "policy")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    fits = json.loads((tmp_path / "policy" / "card.json").read_text())["root_fits"]
    assert list(fits) == ["raised_ik.mot"]
    assert fits["raised_ik.mot"]["shift_m"] == pytest.approx(-0.2, abs=0.03)
