"""``policies.gym``: KinTwin's tracking task through gymnasium's API (and MyoSuite's, when there)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium", reason="gymnasium is not installed")

GAIT = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"
REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "policies/pretrained/gait10dof18musc_walk_torque"


@pytest.fixture(scope="module")
def walk(shared_data: Path) -> dict:
    p = shared_data / GAIT
    return {"model": str(p / "subject01.osim"), "motions": [str(p / "IK/subject01_walk_IK.mot")]}


@pytest.fixture(scope="module")
def shipped_env(walk: dict):
    """The environment with the shipped policy's own task settings."""
    from policies.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(SHIPPED)
    env = gymnasium.make("policies.gym:kintwin/Track-v0", **walk, drive="torque",
                         config=checkpoint["tracking_config"])  # fmt: skip
    return env, checkpoint


def test_gymnasium_make_passes_the_env_checker(shipped_env):
    from gymnasium.utils.env_checker import check_env

    env, _ = shipped_env
    check_env(env.unwrapped, skip_render_check=True)
    assert env.action_space.shape == (7,) and env.observation_space.dtype == np.float32


def test_a_policy_from_kintwin_train_tracks_in_the_gym_env(shipped_env):
    """Same observations, actions and dynamics as kintwin train's task: the shipped policy,
    fed the gym env's observations, walks the trial's first second within its tracking bar."""
    import torch

    from policies.checkpoint import agent_from_checkpoint

    env, checkpoint = shipped_env
    assert env.unwrapped.obs_names == checkpoint["obs_names"]
    assert env.unwrapped.action_names == checkpoint["action_names"]
    agent, norm = agent_from_checkpoint(checkpoint)
    obs, _ = env.reset(seed=0, options={"reference": 0, "frame": 0})
    errors = []
    for _ in range(100):
        with torch.no_grad():
            action = agent.actor_mean(torch.from_numpy(norm(obs[None])))[0].numpy()
        obs, reward, terminated, truncated, info = env.step(action)
        assert not terminated and np.isfinite(reward)
        errors.append(info["tracking_error_deg"])
    assert np.sqrt(np.mean(np.square(errors))) < 2.0  # the benchmark's tracking bar


def test_same_seed_same_episode_start(shipped_env):
    env, _ = shipped_env
    first, _ = env.reset(seed=7)
    again, _ = env.reset(seed=7)
    other, _ = env.reset(seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_bad_drive_is_refused(walk: dict):
    from converters.errors import KintwinError

    with pytest.raises(KintwinError, match="no drive 'hydraulic'; drives are: torque, muscle"):
        gymnasium.make("policies.gym:kintwin/Track-v0", **walk, drive="hydraulic")
    with pytest.raises(KintwinError, match="drive='torque' but the config's drive is 'muscle'"):
        gymnasium.make("policies.gym:kintwin/Track-v0", **walk, config={"drive": "muscle"})


def test_muscle_drive_passes_the_env_checker(walk: dict):
    """drive="muscle": the model's 18 muscles drive the body (kintwin train --drive muscle)."""
    from gymnasium.utils.env_checker import check_env

    env = gymnasium.make("policies.gym:kintwin/Track-v0", **walk, drive="muscle")
    assert len(env.unwrapped.task_env.task.muscle.names) == 18
    check_env(env.unwrapped, skip_render_check=True)
    env.reset(seed=0, options={"reference": 0, "frame": 0})
    for _ in range(10):
        _, reward, terminated, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
        assert np.isfinite(reward) and not terminated


@pytest.mark.slow
def test_example_trains_a_few_iterations(walk: dict):
    run = subprocess.run(
        [sys.executable, str(REPO / "examples/gym_train.py"), walk["model"], *walk["motions"],
         "--iterations", "2", "--steps", "256"],
        capture_output=True, text=True, timeout=900, cwd=REPO,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("iteration")]
    assert len(lines) == 2 and all("nan" not in line for line in lines), run.stdout
