"""``policies.myo`` (``kintwin[myo]``): the tracking task in MyoSuite's registry and conventions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("myosuite", reason="MyoSuite is not installed (pip install 'kintwin-cli[myo]')")
import gymnasium  # noqa: E402

GAIT = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"


@pytest.fixture(scope="module")
def walk(shared_data: Path) -> dict:
    p = shared_data / GAIT
    return {"model": str(p / "subject01.osim"), "motions": [str(p / "IK/subject01_walk_IK.mot")]}


@pytest.fixture(scope="module")
def myo_env(walk: dict):
    import policies.myo  # noqa: F401  (registers the environment)

    return gymnasium.make("myoKinTwinTrack-v0", **walk)


def test_registered_with_myosuite_and_passes_the_env_checker(myo_env):
    from gymnasium.utils.env_checker import check_env
    from myosuite.core import registry
    from myosuite.envs.gymnasium_env import MyoGymnasiumEnv

    assert "myoKinTwinTrack-v0" in registry._ENV_REGISTRY
    assert isinstance(myo_env.unwrapped, MyoGymnasiumEnv)
    check_env(myo_env.unwrapped, skip_render_check=True)


def test_observation_and_reward_are_kintwins(walk: dict, myo_env):
    """The flat observation is KinTwin's own; ``dense`` equals KinTwin's reward, step by step."""
    kintwin = gymnasium.make("policies.gym:kintwin/Track-v0", **walk)
    env = myo_env.unwrapped
    start = {"reference": 0, "frame": 40}
    ours, _ = kintwin.reset(seed=3, options=start)
    theirs, _ = myo_env.reset(seed=3, options=start)
    np.testing.assert_array_equal(ours, theirs)
    rng = np.random.default_rng(0)
    for _ in range(20):
        action = rng.uniform(-0.3, 0.3, myo_env.action_space.shape).astype(np.float32)
        ours, reward, *_ = kintwin.step(action)
        theirs, dense, terminated, _, info = myo_env.step(action)
        np.testing.assert_array_equal(ours, theirs)
        assert dense == pytest.approx(reward, rel=1e-12, abs=1e-12)
        rwd = info["rwd_dict"]
        assert {"dense", "sparse", "solved", "done", "pose", "contact"} <= set(rwd)
        assert rwd["done"] == terminated
    groups = env.get_obs_dict()
    assert list(groups)[:2] == ["qpos", "qvel"] and "reference_error_10" in groups
    assert sum(v.size for v in groups.values()) == env.observation_space.shape[0]


def test_obs_keys_choose_the_observation(walk: dict):
    import policies.myo  # noqa: F401

    env = gymnasium.make("myoKinTwinTrack-v0", **walk, obs_keys=["qvel", "prev_action"])
    obs, _ = env.reset(seed=0)
    groups = env.unwrapped.get_obs_dict()
    np.testing.assert_array_equal(obs, np.concatenate([groups["qvel"], groups["prev_action"]]))
    with pytest.raises(KeyError, match="unknown obs_keys"):
        bad = gymnasium.make("myoKinTwinTrack-v0", **walk, obs_keys=["nope"])
        bad.reset(seed=0)


def test_muscle_drive_activations_are_myosuites_act(walk: dict):
    import policies.myo  # noqa: F401

    env = gymnasium.make("myoKinTwinTrack-v0", **walk, drive="muscle")
    obs, _ = env.reset(seed=0, options={"reference": 0, "frame": 0})
    groups = env.unwrapped.get_obs_dict()
    assert groups["act"].shape == (18,) and np.all((groups["act"] >= 0) & (groups["act"] <= 1))
    np.testing.assert_array_equal(obs, env.unwrapped.task_env.observation())
