"""Toes that bend where the kinematics hold them still (policies.toes), on OpenCap subject 4's
walk, whose IK holds mtp_angle_r/l at 0."""

from __future__ import annotations

import json
from dataclasses import replace

import mujoco
import numpy as np
import pytest

from converters.motion import coordinate_series, make_trajectory
from converters.opensim_io.table import read_table
from policies.config import TrackingConfig
from policies.imitation_id import _trajectory
from policies.toes import complete_toes, toe_joints

TOES = ["mtp_angle_r", "mtp_angle_l"]


@pytest.fixture(scope="module")
def walk(shared_data, subject4_walk):
    converted, _ = subject4_walk
    ik = shared_data / "opencap-subject4" / "IK" / "walking1_ik.mot"
    return converted, ik, coordinate_series(read_table(ik), converted.osim, ik)


def _toe_heights(converted, series) -> dict[str, np.ndarray]:
    """Per toe joint: (frames,) height of its lowest toe sphere; and of its foot's lowest sphere."""
    m = converted.mj_model
    data = mujoco.MjData(m)
    qpos = make_trajectory(series, converted.kinematics, m.nq, m.nv).qpos
    heights = {}
    for joint in toe_joints(converted):
        toes, foot = [], []
        for q in qpos:
            data.qpos[:] = q
            mujoco.mj_kinematics(m, data)
            bottom = data.geom_xpos[:, 2] - m.geom_size[:, 0]
            toes.append(bottom[joint.toe_spheres].min())
            foot.append(bottom[joint.foot_spheres].min())
        heights[joint.coordinate] = (np.array(toes), np.array(foot))
    return heights


def test_the_toe_joints_are_the_mtp_hinges(walk):
    converted, _, _ = walk
    joints = toe_joints(converted)
    assert [j.coordinate for j in joints] == TOES
    for joint in joints:
        assert len(joint.toe_spheres) == 2 and len(joint.foot_spheres) == 6
        assert joint.range == pytest.approx((-np.pi / 4, np.pi / 6))


def test_held_toes_bend_just_enough_to_stay_at_the_stance_level(walk):
    """The held toes dip 2 cm or more below where the foot stands; the completed ones never go
    below it while the range allows, and stay at the held 0 wherever they were above it."""
    converted, _, series = walk
    completed, bends = complete_toes(series, converted)
    assert set(bends) == set(TOES) and all(20.0 < b <= 45.0 + 1e-9 for b in bends.values())
    before, after = _toe_heights(converted, series), _toe_heights(converted, completed)
    for joint in toe_joints(converted):
        name = joint.coordinate
        toes, foot = before[name]
        level = np.median(np.sort(foot)[: int(0.4 * len(foot))])
        assert level - toes.min() > 0.02  # the trial's own toes, m below the level
        angle = completed.values[name]
        low, high = joint.range
        assert np.all((angle >= low - 1e-12) & (angle <= high + 1e-12))
        at_limit = np.isclose(angle, low) | np.isclose(angle, high)
        assert np.all(after[name][0][~at_limit] >= level - 1e-5)
        assert np.all(angle[toes >= level] == 0.0)
        bent = angle != 0.0
        assert bent.any() and np.all(toes[bent] < level)  # bent only where they dipped
        # just enough: the bent toes stand at the level, not above it
        np.testing.assert_allclose(after[name][0][bent & ~at_limit], level, atol=1e-5)
    for name, values in series.values.items():  # nothing else changes
        if name not in TOES:
            np.testing.assert_array_equal(completed.values[name], values)


def test_measured_toe_motion_is_left_alone(walk):
    converted, _, series = walk
    moving = dict(series.values)
    moving["mtp_angle_r"] = 0.1 * np.sin(series.time)
    completed, bends = complete_toes(replace(series, values=moving), converted)
    assert list(bends) == ["mtp_angle_l"]
    np.testing.assert_array_equal(completed.values["mtp_angle_r"], moving["mtp_angle_r"])


def test_toes_that_never_dip_are_left_as_the_trial_holds_them(shared_data, walk):
    """A squat's flat feet: no toe goes below the stance level, so nothing bends or is named."""
    converted = walk[0]
    ik = shared_data / "opencap-subject4" / "IK" / "squats1_ik.mot"
    series = coordinate_series(read_table(ik), converted.osim, ik)
    completed, bends = complete_toes(series, converted)
    assert bends == {}
    for name in TOES:
        np.testing.assert_array_equal(completed.values[name], series.values[name])


def test_kintwin_id_completes_the_whole_file_then_cuts_the_time_range(walk):
    """``kintwin id``'s trial with complete_toes: the toes bent as over the whole file, also
    when --time-range keeps a part of it (the stance level is the whole trial's)."""
    converted, ik, series = walk
    config = TrackingConfig(complete_toes=True, lowpass_hz=None)
    whole, held, _, toes = _trajectory(converted, ik, config, None)
    assert set(toes) == set(TOES) and held == []
    start, end = float(series.time[40]), float(series.time[110])
    part, _, _, toes_part = _trajectory(converted, ik, config, (start, end))
    assert toes_part == toes
    keep = (series.time >= start - 1e-9) & (series.time <= end + 1e-9)
    np.testing.assert_allclose(part.qpos, whole.qpos[keep], atol=1e-12)
    plain, _, _, none = _trajectory(converted, ik, replace(config, complete_toes=False), None)
    assert none == {}
    column = converted.mj_model.joint("mtp_angle_r").qposadr[0]
    assert np.all(plain.qpos[:, column] == 0.0) and np.any(whole.qpos[:, column] != 0.0)


def test_training_bends_the_toes_as_its_setting_says_also_when_resumed(
    shared_data, tmp_path, monkeypatch
):
    """``kintwin train --set complete_toes=true`` completes its motions' toes, and so does the
    run resumed without repeating the setting (the references are made as the run began)."""
    from click.testing import CliRunner

    import policies.toes
    from kintwin_cli.main import cli

    completed = []

    def spy(series, converted):
        completed.append(len(series.time))
        return complete_toes(series, converted)

    monkeypatch.setattr(policies.toes, "complete_toes", spy)
    root = shared_data / "opencap-subject4"
    args = ["train", "--model", str(root / "Models" / "optimized_scale_and_markers.osim"),
            "--motions", str(root / "IK" / "walking1_ik.mot"), "--envs", "2"]  # fmt: skip
    run = [*args, "-o", str(tmp_path / "toes")]
    result = CliRunner().invoke(cli, [*run, "--steps", "128", "--set", "complete_toes=true"])
    assert result.exit_code == 0, result.output
    assert len(completed) == 1
    again = CliRunner().invoke(cli, [*run, "--steps", "256", "--resume"])
    assert again.exit_code == 0, again.output
    assert len(completed) == 2
    plain = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "plain"), "--steps", "128"])
    assert plain.exit_code == 0, plain.output
    assert len(completed) == 2
    # kintwin id with the policy bends the trial's toes too, and says so
    ik = root / "IK" / "walking1_ik.mot"
    run_id = ["id", "--model", args[2], "--coordinates", str(ik), "--policy"]
    result = CliRunner().invoke(cli, [*run_id, str(tmp_path / "toes"), "-o", str(tmp_path / "i")])
    assert result.exit_code == 0, result.output
    assert "walking1_ik.mot holds its toes still: they bend" in result.output
    summary = json.loads((tmp_path / "i" / "walking1_summary.json").read_text())
    assert set(summary["toes_completed_deg"]) == set(TOES)
    result = CliRunner().invoke(cli, [*run_id, str(tmp_path / "plain"), "-o", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert "holds its toes still" not in result.output
    assert (
        json.loads((tmp_path / "p" / "walking1_summary.json").read_text())["toes_completed_deg"]
        == {}
    )


def test_the_gym_environment_bends_the_toes_as_its_config_says(shared_data, walk):
    """``make_tracking_env`` makes its references as training does: bent toes with
    complete_toes, the trial's held ones without."""
    from policies.gym import make_tracking_env

    model = shared_data / "opencap-subject4" / "Models" / "optimized_scale_and_markers.osim"
    ik = walk[1]
    column = walk[0].mj_model.joint("mtp_angle_r").qposadr[0]
    bent = make_tracking_env(model, [ik], config={"complete_toes": True})
    held = make_tracking_env(model, [ik])
    assert np.degrees(np.abs(bent.references[0].qpos[:, column]).max()) > 20.0
    assert np.all(held.references[0].qpos[:, column] == 0.0)
