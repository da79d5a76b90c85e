"""Where episodes start and what ends or holds them: failure-weighted reference sampling
(``failure_weight``), start frames (``first_frame_share``), the pelvis-angle fall rule
(``max_root_angle``), the stance-foot reward, and which resumed changes keep evaluation scores."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

SUBJECT = "opencap-subject4"


@pytest.fixture(scope="module")
def env(shared_data):
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table
    from policies.config import TrackingConfig
    from policies.env import TrackingEnv
    from policies.muscle import convert_for_drive

    root = shared_data / SUBJECT
    converted = convert_for_drive(root / "Models" / "optimized_scale_and_markers.osim", "torque")
    m = converted.mj_model
    trajectories = []
    for name in ("walking1", "squats1"):
        motion = root / "IK" / f"{name}_ik.mot"
        series = coordinate_series(read_table(motion), converted.osim, motion)
        trajectories.append(make_trajectory(series, converted.kinematics, m.nq, m.nv, 6.0))
    return TrackingEnv(converted, trajectories, TrackingConfig(failure_weight=4.0), 0)


def test_clips_the_policy_falls_on_come_more_often(env):
    env.outcomes[:] = 0.0
    for fell in (True, False):
        env.ref = env.references[0 if fell else 1]
        for _ in range(50):
            env.record_outcome(fell)
    episodes = sum(0.98**k for k in range(50))  # the decayed count of 50 episodes
    np.testing.assert_allclose(env.outcomes, [[episodes, episodes], [episodes, 0.0]])
    rates = np.array([episodes + 0.5, 0.5]) / (episodes + 1.0)
    expected = (1 + 4.0 * rates) / np.sum(1 + 4.0 * rates)
    draws = np.array([env._draw_reference() for _ in range(4000)])
    assert abs(np.mean(draws == 0) - expected[0]) < 0.025  # binomial sd 0.006
    assert expected[0] > 0.8
    snapshot = env.snapshot()
    env.outcomes[:] = 0.0
    env.restore(snapshot)
    np.testing.assert_allclose(env.outcomes[0], [episodes, episodes])


def test_a_fall_is_counted_and_zero_weight_keeps_uniform_draws(env):
    env.outcomes[:] = 0.0
    config = env.config
    env.config = replace(config, max_root_error=-1.0)  # any step ends the episode as a fall
    try:
        env.reset(reference=1, frame=3)
        _, _, terminated, _, _ = env.step(np.zeros(len(env.action_names)))
    finally:
        env.config = config
    assert terminated
    np.testing.assert_allclose(env.outcomes, [[0.0, 0.0], [1.0, 1.0]])
    env.config = replace(config, failure_weight=0.0)
    try:
        state = env.rng.bit_generator.state
        draws = [env._draw_reference() for _ in range(20)]
        env.rng.bit_generator.state = state
        assert draws == [int(env.rng.integers(2)) for _ in range(20)]  # as before the option
    finally:
        env.config = config


@pytest.mark.parametrize("turn, falls", [(0.3, False), (0.6, True)])
def test_a_pelvis_turned_past_max_root_angle_is_a_fall(env, turn, falls):
    """The root's orientation error is the angle of the rotation between it and the
    reference's (exactly the turn given one of the pelvis hinges), and past
    ``max_root_angle`` (0.45 rad) the episode ends as a fall, whatever the joints do."""
    import mujoco

    from policies.config import TrackingConfig

    assert env.config.max_root_angle == 0.45  # the default of a new run
    assert TrackingConfig.from_saved({}).max_root_angle is None  # a policy from before it
    env.reset(reference=0, frame=40)
    list_qpos = env.task.coord_qpos[env.task.coordinates.index("pelvis_list")]
    env.data.qpos[list_qpos] += turn
    mujoco.mj_forward(env.task.model, env.data)
    assert env._root_angle() == pytest.approx(turn, abs=1e-6)
    _, _, terminated, _, info = env.step(np.zeros(len(env.action_names)))
    assert info["root_angle"] == pytest.approx(turn, abs=0.1)  # one control step later
    assert info["root_error"] < env.config.max_root_error  # the position alone is no fall
    assert terminated == falls


def test_first_frame_share_starts_that_share_of_episodes_where_a_run_starts(env):
    """``first_frame_share`` resets that share at row 0 (where ``kintwin id`` starts), the rest
    at a uniform frame; at 0 the draws are exactly the uniform ones from before the option."""
    config = env.config
    try:
        for share, low, high in ((1.0, 1.0, 1.0), (0.5, 0.42, 0.58)):
            env.config = replace(config, first_frame_share=share)
            starts = []
            for _ in range(400):
                env.reset(reference=0)
                starts.append(env.t)
            assert low <= np.mean(np.array(starts) == 0) <= high  # binomial sd 0.025
            assert share == 1.0 or len(set(starts)) > 50
        env.config = replace(config, first_frame_share=0.0)
        state = env.rng.bit_generator.state
        frames = [env._draw_frame() for _ in range(20)]
        env.rng.bit_generator.state = state
        expected = [int(env.rng.integers(len(env.ref.qpos) - 2)) for _ in range(20)]
        assert frames == expected
    finally:
        env.config = config


def test_stance_feet_are_held_where_the_kinematics_put_them(env):
    """The stance-foot term is whole at the reference pose, falls as exp(-k d²) for each foot in
    stance when the body slides d over the floor, ignores a foot in swing and is off at 0."""
    import mujoco

    config = env.config
    tx = env.task.coord_qpos[env.task.coordinates.index("pelvis_tx")]
    try:
        env.config = replace(config, w_stance_foot=0.3, k_stance_foot=200.0)
        for reference, feet in ((1, 2), (0, 1)):  # squats1: both feet down; walking1: one
            ref = env.references[reference]
            frame = int(np.flatnonzero(ref.stance.sum(axis=1) == feet)[5])
            env.reset(reference=reference, frame=frame)
            assert env._stance_foot_term() == pytest.approx(0.3, abs=1e-9)
            env.data.qpos[tx] += 0.05
            mujoco.mj_forward(env.task.model, env.data)
            expected = 0.3 * np.exp(-200.0 * feet * 0.05**2)
            assert env._stance_foot_term() == pytest.approx(expected, rel=1e-6)
        env.config = replace(config, w_stance_foot=0.0)
        assert env._stance_foot_term() == 0.0
    finally:
        env.config = config


def test_reward_changes_on_resume_keep_earlier_evaluations():
    """The evaluation measures tracking and falls, so a resumed run that changes only reward
    weights or scales (or start frames) keeps policy.pt's score; a new fall rule does not."""
    from policies.train import keeps_scores

    assert keeps_scores(None)
    assert keeps_scores({"w_stance_foot": 0.2, "k_grf": 5.0, "first_frame_share": 0.3})
    assert not keeps_scores({"w_stance_foot": 0.2, "max_root_angle": 0.5})
