"""Letting the simulation walk its own horizontal path where the kinematics' cannot be walked.

Markerless kinematics, and IK made for another body, move the pelvis over the floor faster or
slower than their stance feet allow: the feet slide. A simulated body cannot slide its feet, so
it falls behind such a path (or runs ahead of it), turns to chase it and the run ends on the
root-position rule while its joints still track. A :class:`RootFollower` shifts the reference's
horizontal root path (pelvis and stance feet) towards the simulated pelvis with a time constant:
the policy keeps tracking the joint angles and the pelvis's height and orientation, and where
the body goes over the floor is left to its physics. ``kintwin id`` follows the root when the
stance feet still slide faster than :data:`FOLLOW_SLIP_M_PER_S` after the root fit
(:mod:`policies.root_fit`), i.e. not on a lab trial on its own model.

The offset is part of a run's state (``TrackingEnv.snapshot``). The files and the tracking
errors still compare with the trial as given, so the pelvis translations' errors show how far
the body went from the trial's path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

__all__ = ["RootFollower", "FOLLOW_SLIP_M_PER_S", "FOLLOW_TIME_CONSTANT_S", "should_follow"]

# m/s: stance feet sliding faster than this after the root fit are not walkable (subject 4's lab
# walks slide 0.04-0.05 m/s as given); chosen before any markerless trial was run with it
FOLLOW_SLIP_M_PER_S = 0.1
# s: chosen among 0.02, 0.05 and 0.1 s on subject 4's training walks with a random 2 Hz drift
# (0.3 m/s RMS per axis) added to their pelvis path: 2 falls in 8 against 3, 4 and, without
# following, 5
FOLLOW_TIME_CONSTANT_S = 0.05


def should_follow(mode: str, fitted_slip_m_per_s: float | None) -> bool:
    """Whether a run follows the root: ``mode`` "on", "off" or "auto" (on when the stance feet
    slide faster than :data:`FOLLOW_SLIP_M_PER_S` after the root fit; off without a fit)."""
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"root follow mode must be auto, on or off, not {mode!r}")
    if mode == "auto":
        return fitted_slip_m_per_s is not None and fitted_slip_m_per_s > FOLLOW_SLIP_M_PER_S
    return mode == "on"


@dataclass
class RootFollower:
    """The reference's horizontal root offset (world, m) and how it maps to coordinates."""

    to_coordinates: np.ndarray  # (n_coord, 3): coordinate offsets per world offset
    root_body: int
    time_constant_s: float = FOLLOW_TIME_CONSTANT_S
    world_offset: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @classmethod
    def for_task(cls, task, time_constant_s: float = FOLLOW_TIME_CONSTANT_S) -> RootFollower:
        """A follower for ``task``'s horizontal root slides (``TaskModel.horizontal``)."""
        m, d = task.model, mujoco.MjData(task.model)
        mujoco.mj_kinematics(m, d)
        horizontal = task.horizontal
        axes = np.array([d.xaxis[m.joint(task.coordinates[i]).id] for i in horizontal])
        to_coordinates = np.zeros((len(task.coordinates), 3))
        if len(horizontal):  # the slides' values that move the root by a world offset
            to_coordinates[horizontal] = np.linalg.pinv(axes.T)
        return cls(to_coordinates, task.root_body, time_constant_s)

    @property
    def coordinate_offset(self) -> np.ndarray:
        """(n_coord,) the offset in the task's coordinates (zero but on horizontal slides)."""
        return self.to_coordinates @ self.world_offset

    def reset(self) -> None:
        self.world_offset[:] = 0.0

    def update(self, data: mujoco.MjData, reference_root: np.ndarray, dt: float) -> None:
        """Move the offset towards the simulated root's horizontal distance from
        ``reference_root`` (world, m) over one control period ``dt``."""
        gain = min(1.0, dt / self.time_constant_s)
        away = data.xpos[self.root_body][:2] - reference_root[:2]
        self.world_offset[:2] += gain * (away - self.world_offset[:2])
