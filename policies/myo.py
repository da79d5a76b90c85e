"""KinTwin's tracking task in MyoSuite's registry, following its conventions (``kintwin[myo]``).

    import policies.myo                    # registers myoKinTwinTrack-v0 (needs myosuite)
    env = gymnasium.make("myoKinTwinTrack-v0", model="subject01.osim",
                         motions=["subject01_walk_IK.mot"])

The environment is a ``myosuite.envs.gymnasium_env.MyoGymnasiumEnv``: ``get_obs_dict`` gives
named observation groups, ``obs_keys`` picks and orders the ones in the observation vector (by
default all, in the order of KinTwin's own observation, so a policy from ``kintwin train`` runs
unchanged), and ``get_reward_dict`` gives every reward term of KinTwin's task plus MyoSuite's
``dense`` (the terms weighted by ``weighted_reward_keys``, 1 each by default: KinTwin's reward),
``sparse`` (minus the tracking error, degrees), ``solved`` (tracking within 2°) and ``done`` (a
fall). ``model``/``data`` are the task's MuJoCo model and data. The physics, reference and
termination are ``policies.env.TrackingEnv``'s (built as in ``policies.gym``); an episode that
reaches the motion's end is truncated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gymnasium import spaces
from myosuite.core import registry
from myosuite.envs.gymnasium_env import CpuEnvAccessor, MyoGymnasiumEnv

from policies.gym import episode_start, make_tracking_env

__all__ = ["KinTwinTrackEnv", "ENV_ID"]

ENV_ID = "myoKinTwinTrack-v0"
SOLVED_DEG = 2.0  # tracking error under which the step counts as solved (the benchmark's bar)
_GROUPS = (  # observation name prefix -> obs_dict key, in KinTwin's observation order
    ("q:", "qpos"), ("qdot:", "qvel"), ("root_height", "root_height"), ("root_q", "root_quat"),
    ("belt_speed", "belt_speed"), ("dq+", "reference_error"), ("dqdot+", "reference_vel_error"),
    ("prev_action:", "prev_action"), ("activation:", "act"),
)  # fmt: skip


def _group(name: str) -> str:
    for prefix, key in _GROUPS:
        if name.startswith(prefix):
            if key == "reference_error":  # dq+K:coordinate -> reference_error_K
                return f"{key}_{name.split(':')[0][3:]}"
            return key
    raise KeyError(name)


class KinTwinTrackEnv(MyoGymnasiumEnv):
    """MyoSuite environment of KinTwin's tracking task (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 100}

    def __init__(
        self,
        model: str | Path,
        motions: list,
        drive: str = "torque",
        config=None,
        obs_keys: list[str] | None = None,
        weighted_reward_keys: dict[str, float] | None = None,
        render_mode: str | None = None,
        **kwargs,
    ) -> None:
        self.task_env = make_tracking_env(model, list(motions), drive, config)
        super().__init__(frame_skip=self.task_env.task.frame_skip, render_mode=render_mode)
        self.model, self.data = self.task_env.task.model, self.task_env.data
        self._ctrl_dt = self.task_env.config.control_dt
        names = self.task_env.obs_names
        self._slices: dict[str, list[int]] = {}
        for k, name in enumerate(names):
            self._slices.setdefault(_group(name), []).append(k)
        self.DEFAULT_OBS_KEYS = list(self._slices)
        self.obs_keys = list(obs_keys or self.DEFAULT_OBS_KEYS)
        self._last = self.task_env.reset(reference=0, frame=0)
        # the term names, from the reward of the reset state (evaluating it changes nothing)
        zero = np.zeros(len(self.task_env.action_names))
        terms = self.task_env._reward(zero)[1]["reward_terms"]
        self.rwd_keys_wt = weighted_reward_keys or dict.fromkeys(terms, 1.0)
        size = len(self._obs_keys_to_vec(self._split(self._last)))
        self.observation_space = self._unbounded_obs_space(size)
        self.action_space = spaces.Box(-1.0, 1.0, (len(self.task_env.action_names),), np.float32)
        self._terms: dict = {}
        self._terminated = self._truncated = False
        self._error = 0.0

    def _split(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return {key: obs[index].copy() for key, index in self._slices.items()}

    def _get_obs_dict(self, accessor=None) -> dict[str, np.ndarray]:
        return self._split(self._last)

    def _obs_dict_to_vec(self, obs_dict: dict[str, np.ndarray]) -> np.ndarray:
        return self._obs_keys_to_vec(obs_dict)

    def get_reward_dict(self, obs_dict: dict[str, np.ndarray]) -> dict:
        rwd = {k: float(v) for k, v in self._terms.items()}
        rwd["sparse"] = -self._error
        rwd["solved"] = self._error < SOLVED_DEG
        rwd["done"] = self._terminated
        rwd["dense"] = float(sum(w * rwd.get(k, 0.0) for k, w in self.rwd_keys_wt.items()))
        return rwd

    def reset(self, seed: int | None = None, options: dict | None = None):
        import gymnasium

        gymnasium.Env.reset(self, seed=seed)
        reference, frame = episode_start(self.task_env, self.np_random, options)
        self._last = self.task_env.reset(reference, frame)
        self._terms, self._terminated, self._error = {}, False, 0.0
        self._accessor = CpuEnvAccessor(self.model, self.data, self._ctrl_dt)
        obs = self._obs_dict_to_vec(self._get_obs_dict())
        return self._ensure_obs_gymnasium_compliant(obs), {}

    def step(self, action: np.ndarray, **kwargs):
        obs, _, terminated, truncated, info = self.task_env.step(np.asarray(action))
        self._last, self._terminated = obs, bool(terminated)
        self._terms, self._error = info["reward_terms"], info["tracking_error_deg"]
        self._accessor = CpuEnvAccessor(self.model, self.data, self._ctrl_dt)
        obs_dict = self._get_obs_dict()
        result = self._finalize_step(obs_dict, self.get_reward_dict(obs_dict))
        return result[0], result[1], result[2], bool(truncated), result[4]


registry.register_env(ENV_ID, entry_point="policies.myo:KinTwinTrackEnv", max_episode_steps=100_000)
