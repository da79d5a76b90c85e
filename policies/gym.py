"""KinTwin's tracking task as a gymnasium environment, for any RL library.

    import gymnasium
    env = gymnasium.make("policies.gym:kintwin/Track-v0", model="subject01.osim",
                         motions=["subject01_walk_IK.mot"], drive="torque")

``gymnasium.make`` imports this module, which registers ``kintwin/Track-v0`` in gymnasium's
registry (the one import-time effect, which that ``module:id`` form relies on). The environment
is the task ``kintwin train`` learns (``policies.env.TrackingEnv``): the same model conversion,
reference filtering, contact calibration, observations, actions in [-1, 1], reward and
termination, so a policy trained elsewhere sees what KinTwin's own trainer sees. An episode
starts at a random frame of a random motion (reference-state initialisation) and ends on a fall
(terminated) or at the motion's end (truncated). ``reset(options={"reference": i, "frame": k})``
starts at a given frame. ``info`` holds ``tracking_error_deg``. ``drive="muscle"`` drives the model's muscles (MuJoCo
muscle actuators fitted to OpenSim's, with activation dynamics), as ``kintwin train --drive
muscle`` does.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium
import numpy as np
from gymnasium import spaces

from converters.errors import KintwinError

__all__ = ["TrackEnv", "ENV_ID", "make_tracking_env", "episode_start"]

ENV_ID = "kintwin/Track-v0"
DRIVES = ("torque", "muscle")


def make_tracking_env(model: str | Path, motions: list, drive: str = "torque", config=None, seed=0):
    """The ``policies.env.TrackingEnv`` of ``model`` along ``motions`` (IK files), set up as
    ``kintwin train`` sets it up; ``config`` is a TrackingConfig or a dict of its fields."""
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table
    from policies.env import TrackingConfig, TrackingEnv
    from policies.muscle import convert_for_drive
    from policies.reference import prepare_motions
    from policies.toes import complete_toes

    if drive not in DRIVES:
        raise KintwinError(f"no drive '{drive}'; drives are: {', '.join(DRIVES)}")
    if not motions:
        raise KintwinError("give at least one motion (an IK .mot file)")
    settings = config.to_dict() if isinstance(config, TrackingConfig) else dict(config or {})
    if settings.get("drive", drive) != drive:
        raise KintwinError(f"drive='{drive}' but the config's drive is '{settings['drive']}'")
    tracking = TrackingConfig.from_dict({**settings, "drive": drive})
    converted = convert_for_drive(Path(model), drive)
    m = converted.mj_model
    series = [coordinate_series(read_table(p), converted.osim, p) for p in motions]
    if tracking.complete_toes:  # as training and kintwin id make the references
        series = [complete_toes(s, converted)[0] for s in series]
    trajectories = [
        make_trajectory(s, converted.kinematics, m.nq, m.nv, tracking.lowpass_hz) for s in series
    ]
    trajectories, tracking, _ = prepare_motions(converted, trajectories, tracking)
    return TrackingEnv(converted, trajectories, tracking, seed)


def episode_start(task_env, rng: np.random.Generator, options: dict | None) -> tuple[int, int]:
    """(reference, frame) of a new episode: ``options``' ``reference``/``frame`` where given,
    else drawn from ``rng`` (gymnasium's seeded generator) as ``TrackingEnv.reset`` draws them:
    a uniform reference, then a uniform frame that leaves at least two steps."""
    options = options or {}
    reference = options.get("reference")
    if reference is None:
        reference = int(rng.integers(len(task_env.references)))
    frame = options.get("frame")
    if frame is None:
        frame = int(rng.integers(max(1, len(task_env.references[reference].qpos) - 2)))
    return int(reference), int(frame)


class TrackEnv(gymnasium.Env):
    """Gymnasium wrapper of ``policies.env.TrackingEnv`` (see the module docstring).

    Observation: float32 vector named by ``obs_names`` (state, reference ahead, last action).
    Action: float32 vector in [-1, 1] named by ``action_names`` (PD-target offsets for the
    torque drive).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        model: str | Path,
        motions: list,
        drive: str = "torque",
        config=None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise KintwinError(f"render_mode '{render_mode}': no rendering (see kintwin report)")
        self.task_env = make_tracking_env(model, list(motions), drive, config)
        self.obs_names = self.task_env.obs_names
        self.action_names = self.task_env.action_names
        self.observation_space = spaces.Box(-np.inf, np.inf, (len(self.obs_names),), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (len(self.action_names),), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        reference, frame = episode_start(self.task_env, self.np_random, options)
        obs = self.task_env.reset(reference=reference, frame=frame)
        return obs.astype(np.float32), {}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.task_env.step(np.asarray(action))
        return obs.astype(np.float32), float(reward), bool(terminated), bool(truncated), info


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point=TrackEnv, disable_env_checker=True)
