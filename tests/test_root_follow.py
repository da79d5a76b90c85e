"""Letting the body walk its own horizontal path where the trial's stance feet slide
(policies.root_follow), on OpenCap subject 4's walk and a copy of it whose pelvis drifts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import mujoco
import numpy as np
import pytest
from click.testing import CliRunner

from kintwin_cli.main import cli
from policies.config import TrackingConfig
from policies.env import TrackingEnv
from policies.root_fit import fit_root_path
from policies.root_follow import FOLLOW_SLIP_M_PER_S, RootFollower, should_follow
from policies.task import build_task_model

SUBJECT = "opencap-subject4"
POLICY = Path(__file__).resolve().parents[1] / "policies/pretrained/laiuhlrich2022_torque"


def _push(time: np.ndarray, speed: float = 0.5) -> np.ndarray:
    """How far (m) a pelvis pushed forward at ``speed`` (m/s) in every other 0.25 s has gone by
    each of ``time``'s frames: stance feet that slide, as markerless kinematics' do, but no
    scale error."""
    t = time - time[0]
    pushed = (np.floor(t / 0.25) % 2 == 0).astype(float)
    return speed * np.concatenate([[0.0], np.cumsum(pushed[:-1] * np.diff(t))])


def _drifting(trajectory, converted, speed: float = 0.5):
    """``trajectory`` with its pelvis pushed (:func:`_push`)."""
    column = converted.mj_model.joint("pelvis_tx").qposadr[0]
    qpos = trajectory.qpos.copy()
    qpos[:, column] += _push(trajectory.time, speed)
    return replace(trajectory, qpos=qpos)


def _env(converted, trajectory) -> TrackingEnv:
    config = TrackingConfig(belt_speed=0.0)
    return TrackingEnv(converted, trajectory, config, task=build_task_model(converted, config))


def test_auto_follows_only_feet_that_slide_after_the_fit():
    assert should_follow("auto", FOLLOW_SLIP_M_PER_S + 0.01)
    assert not should_follow("auto", FOLLOW_SLIP_M_PER_S - 0.01)
    assert not should_follow("auto", None)  # no root fit, nothing measured
    assert should_follow("on", None) and not should_follow("off", 1.0)
    with pytest.raises(ValueError, match="auto, on or off"):
        should_follow("sometimes", 0.0)


def test_the_fit_measures_the_slip_it_leaves(subject4_walk):
    """The subject's own walk slides ~0.05 m/s (IK noise), below the threshold; a pelvis pushed
    at 0.5 m/s half the time slides more than the threshold after the fit, which cannot scale
    it away."""
    converted, trajectory = subject4_walk
    task = build_task_model(converted, TrackingConfig(belt_speed=0.0))
    own = fit_root_path(task, trajectory)
    assert own.fitted_slip_m_per_s == own.stance_slip_m_per_s < FOLLOW_SLIP_M_PER_S
    drifting = fit_root_path(task, _drifting(trajectory, converted))
    assert drifting.fitted_slip_m_per_s > FOLLOW_SLIP_M_PER_S
    assert drifting.stance_slip_m_per_s > own.stance_slip_m_per_s


def test_a_world_offset_moves_the_root_by_it_in_coordinates(subject4_walk):
    """The follower's coordinate offset, added to the pose, moves the root body by its world
    offset (the pelvis slides' axes are not the world's)."""
    converted, _ = subject4_walk
    task = build_task_model(converted, TrackingConfig(belt_speed=0.0))
    follower = RootFollower.for_task(task)
    follower.world_offset[:] = [0.3, -0.2, 0.0]
    m, d = task.model, mujoco.MjData(task.model)
    mujoco.mj_kinematics(m, d)
    before = d.xpos[task.root_body].copy()
    d.qpos[task.coord_qpos] += follower.coordinate_offset
    mujoco.mj_kinematics(m, d)
    np.testing.assert_allclose(d.xpos[task.root_body] - before, [0.3, -0.2, 0.0], atol=1e-9)
    moved = np.flatnonzero(follower.coordinate_offset)
    assert set(moved) <= set(task.horizontal.tolist())


def test_the_reference_follows_a_body_that_went_elsewhere(subject4_walk):
    """A body 20 cm ahead of its reference: without a follower the root error stays; with one
    the reference's horizontal root moves to the body by the time constant, and the pelvis_tx
    difference the reward sees goes with it, while the height error stays."""
    converted, trajectory = subject4_walk
    env = _env(converted, trajectory)
    env.reset(reference=0, frame=10)
    column = converted.mj_model.joint("pelvis_tx").qposadr[0]
    env.data.qpos[column] += 0.2
    mujoco.mj_kinematics(env.task.model, env.data)
    dq, away = env._differences()
    assert away[0] == pytest.approx(0.2, abs=0.02)  # the reset's touch-down moves it a little
    env.follower = RootFollower.for_task(env.task)
    reference_root = env.ref.root_pos[env.t]
    for _ in range(5):  # 5 control periods of 0.01 s at 0.05 s: 1 - 0.8**5 of the way
        env.follower.update(env.data, reference_root, 0.01)
    assert env.follower.world_offset[:2] == pytest.approx((1 - 0.8**5) * away[:2])
    for _ in range(200):
        env.follower.update(env.data, reference_root, 0.01)
    followed_dq, followed = env._differences()
    assert followed[:2] == pytest.approx([0.0, 0.0], abs=1e-9)
    assert followed[2] == pytest.approx(away[2])
    tx = env.task.coordinates.index("pelvis_tx")
    assert followed_dq[tx] == pytest.approx(0.0, abs=1e-9) and dq[tx] == pytest.approx(away[0])
    rest = [i for i in range(len(dq)) if i not in env.task.horizontal]
    np.testing.assert_array_equal(followed_dq[rest], dq[rest])
    env.reset(reference=0, frame=10)
    assert not env.follower.world_offset.any()


def test_a_restored_run_repeats_itself_with_its_offset(subject4_walk):
    """The offset is part of a run's state: stepping on from a snapshot repeats the steps
    exactly, although the offset had moved on in between."""
    converted, trajectory = subject4_walk
    env = _env(converted, _drifting(trajectory, converted))
    env.follower = RootFollower.for_task(env.task)
    env.reset(reference=0, frame=0)
    zero = np.zeros(len(env.action_names))
    for _ in range(5):
        env.step(zero, reward=False)
    snapshot = env.snapshot()
    first = [env.step(zero, reward=False)[0] for _ in range(5)]
    assert env.follower.world_offset.any()
    env.restore(snapshot)
    again = [env.step(zero, reward=False)[0] for _ in range(5)]
    np.testing.assert_array_equal(np.array(first), np.array(again))


def _write_drifting_walk(shared_data: Path, folder: Path) -> Path:
    """Subject 4's walking1 with its pelvis pushed (:func:`_push`)."""
    from converters.opensim_io.table import read_table, write_table

    walk = read_table(shared_data / SUBJECT / "IK" / "walking1_ik.mot")
    data = walk.data.copy()
    data[:, walk.labels.index("pelvis_tx")] += _push(walk.time)
    return write_table(replace(walk, data=data), folder / "drifting_ik.mot")


def test_kintwin_id_lets_a_sliding_walk_go_its_own_way_and_says_so(shared_data: Path, tmp_path):
    """On the drifting walk ``kintwin id`` follows the root (auto), notes it and records it in
    the summary, and its pelvis_tx error is measured from the trial's path (it grows with the
    drift the body did not make); on the subject's own walk auto leaves it off; ``--root-follow``
    belongs to imitation only."""
    root = shared_data / SUBJECT
    model = root / "Models/optimized_scale_and_markers.osim"
    args = ["id", "--model", str(model), "--policy", str(POLICY)]
    drifting = _write_drifting_walk(shared_data, tmp_path)
    result = CliRunner().invoke(
        cli, [*args, "--coordinates", str(drifting), "-o", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    assert "drifting_ik.mot: the body walks its own path over the floor" in result.output
    summary = json.loads((tmp_path / "d/drifting_summary.json").read_text())
    assert summary["root_follow"] == {"mode": "auto", "on": True, "time_constant_s": 0.05}
    assert summary["root_fit"]["fitted_slip_m_per_s"] > FOLLOW_SLIP_M_PER_S
    assert summary["tracking_rmse"]["pelvis_tx"] > 2.0  # cm from the trial's own path
    own = root / "IK" / "walking1_ik.mot"
    result = CliRunner().invoke(cli, [*args, "--coordinates", str(own), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "walks its own path" not in result.output
    summary = json.loads((tmp_path / "o/walking1_summary.json").read_text())
    assert summary["root_follow"]["on"] is False
    contact = ["id", "--method", "contact", "--model", str(model), "--coordinates", str(own),
               "--root-follow", "on", "-o", str(tmp_path / "c")]  # fmt: skip
    result = CliRunner().invoke(cli, contact)
    assert result.exit_code == 2 and "--root-follow belongs to --method imitation" in result.output
