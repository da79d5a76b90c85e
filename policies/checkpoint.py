"""Policy directories: ``policy.pt`` (to use), ``last.pt`` (for resuming) and ``card.json``.

A checkpoint holds the network weights, the observation normaliser, observation and action
names, the configs, the sha256 of the ``.osim`` it was trained on and the package versions, so it
can be evaluated without the training process. A policy is refused for any other model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from converters.errors import KintwinError
from converters.version import __version__
from policies.agent import Agent, RunningNorm
from policies.inference import POLICY_FILE, check_trained_for, checkpoint_path

__all__ = [
    "POLICY_FILE",
    "LAST_FILE",
    "CARD_FILE",
    "package_versions",
    "save_checkpoint",
    "load_checkpoint",
    "agent_from_checkpoint",
    "write_card",
    "read_card",
    "drive_card",
]

LAST_FILE = "last.pt"
CARD_FILE = "card.json"


def package_versions() -> dict[str, str]:
    """Versions of the packages a checkpoint depends on."""
    import mujoco
    import numpy

    return {
        "kintwin": __version__,
        "torch": torch.__version__,
        "mujoco": mujoco.__version__,
        "numpy": numpy.__version__,
    }


def save_checkpoint(path: str | Path, agent: Agent, norm: RunningNorm, meta: dict) -> None:
    """Write weights, normaliser and ``meta`` (names, configs, model hash, counters) atomically.

    ``meta`` must hold ``model_sha256``, ``model_name``, ``obs_names`` and ``action_names``.
    """
    for key in ("model_sha256", "model_name", "obs_names", "action_names"):
        if key not in meta:
            raise KintwinError(f"checkpoint meta lacks '{key}'")
    path = Path(path)
    payload = {
        "agent": agent.state_dict(),
        "obs_norm": norm.state_dict(),
        "versions": package_versions(),
        **meta,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(
    path: str | Path,
    model_sha256: str | None = None,
    model_name: str = "",
    family: dict | None = None,
) -> dict:
    """Read a checkpoint (a file, or a policy directory's ``policy.pt``); check the model.

    A checkpoint that records its model family (``model_family``) accepts any model of the
    family (``family``, from :func:`converters.model_family.model_family`): a subject scaled
    differently. Older checkpoints accept only the model file they were trained on (its
    SHA-256). Raises KintwinError naming what differs.
    """
    path = checkpoint_path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - any unreadable file is one user error
        raise KintwinError(f"{path}: not a readable policy checkpoint ({error})") from None
    check_trained_for(ckpt, path, model_sha256, model_name, family)
    return ckpt


def agent_from_checkpoint(ckpt: dict) -> tuple[Agent, RunningNorm]:
    """The agent and observation normaliser stored in a loaded checkpoint."""
    ppo = ckpt["ppo_config"]
    agent = Agent(
        len(ckpt["obs_names"]), len(ckpt["action_names"]), ppo["hidden"], ppo["init_log_std"]
    )
    agent.load_state_dict(ckpt["agent"])
    norm = RunningNorm(len(ckpt["obs_names"]))
    norm.load_state_dict(ckpt["obs_norm"])
    return agent, norm


def write_card(policy_dir: str | Path, card: dict) -> Path:
    """Write ``card.json`` (model hash, coordinates, drive, motions, steps, wall time, metrics)."""
    path = Path(policy_dir) / CARD_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(card, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def read_card(policy_dir: str | Path) -> dict:
    """The card of a policy directory (older cards hold absolute paths where newer ones hold
    file names and SHA-256)."""
    path = Path(policy_dir) / CARD_FILE
    if not path.exists():
        raise KintwinError(f"{path}: no policy card there")
    return json.loads(path.read_text())


def drive_card(task) -> dict:
    """What drives the model, for the card: muscles, reserves and their limit, and the
    coordinates no muscle crosses (muscle drive); nothing more for the torque drive."""
    if task.muscle is None:
        return {}
    drive = task.muscle
    torque = [task.coordinates[task.actuated[i]] for i in drive.torque_driven]
    return {
        "muscles": drive.names,
        "reserves": drive.reserve_names,
        "reserve_limit_Nm": drive.reserve_limit,
        "torque_driven_coordinates": torque,
    }
