"""What the MJCF builder needs from OpenSim, as an interface: the builder never runs OpenSim.

:mod:`converters.opensim_reference` implements it (:class:`~converters.opensim_reference.muscles.
OpenSimMuscles`); :func:`converters.model_conversion.convert_osim` hands one to the builder. With
none, wraps are placed by geometry alone and muscle actuators keep OpenSim's parameters unfitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

import numpy as np

__all__ = ["MuscleReference", "PathQueries", "OpenSimQueries"]


class MuscleReference(NamedTuple):
    """OpenSim's isometric equilibrium of one muscle at sampled poses (NaN where it failed).

    Attributes:
        lengths: (n,) muscle-tendon lengths, m.
        active: (n,) tendon force at full activation (active + passive along the tendon), N.
        passive: (n,) passive fiber force along the tendon at activation 0.01, N.
        fv_velocity: (k,) normalized fiber velocities (fraction of max contraction velocity,
            negative shortening) at which ``fv_multiplier`` is given.
        fv_multiplier: (k,) OpenSim's force-velocity multiplier there (full activation).
    """

    lengths: np.ndarray
    active: np.ndarray
    passive: np.ndarray
    fv_velocity: np.ndarray = np.zeros(0)
    fv_multiplier: np.ndarray = np.zeros(0)


class PathQueries(Protocol):
    """OpenSim's muscle paths at a pose the caller sets (complete poses: coordinate -> rad or
    m, dependent coordinates consistent). Lengths and positions in m, moment arms -dL/dq in m."""

    def set_pose(self, values: Mapping[str, float]) -> None: ...

    def length(self, muscle: str) -> float: ...

    def lengths_and_moment_arms(
        self, muscle: str, values: Mapping[str, np.ndarray], coordinates: Sequence[str] = ()
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def entries(self, muscle: str, positions: bool = False) -> list[tuple]: ...

    def to_frame(self, point: np.ndarray, body: str) -> np.ndarray: ...

    def to_ground(self, point: np.ndarray, body: str) -> np.ndarray: ...


class OpenSimQueries(Protocol):
    """OpenSim's view of one model. Both methods raise (any exception) when OpenSim cannot
    build the model; the builder then falls back as described above."""

    def paths(self) -> PathQueries: ...

    def isometric(
        self, poses: Sequence[Mapping[str, float]], muscles: Sequence[str]
    ) -> dict[str, MuscleReference]: ...
