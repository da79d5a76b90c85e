"""OpenSim's muscles at rest: isometric equilibrium over poses and force-velocity curves, and
:class:`OpenSimMuscles`, the builder's window on OpenSim (:mod:`converters.mjcf.reference`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from converters.errors import UnknownNameError
from converters.mjcf.reference import MuscleReference
from converters.opensim_reference.log import opensim_log
from converters.opensim_reference.model import OpenSimModel
from converters.opensim_reference.paths import MusclePaths

__all__ = ["isometric_equilibrium", "force_velocity_curve", "OpenSimMuscles", "FV_VELOCITIES"]

FV_VELOCITIES = np.linspace(-1.0, 1.0, 41)  # normalized fiber velocities the curve is read at
PASSIVE_ACTIVATION = 0.01  # Millard's and Thelen's minimum; DeGroote cannot equilibrate at 0


def isometric_equilibrium(
    model: OpenSimModel,
    poses: Sequence[Mapping[str, float]],
    muscles: Sequence[str] | None = None,
) -> dict[str, MuscleReference]:
    """OpenSim's own isometric equilibrium of each muscle at each pose.

    At every pose (coordinate -> value; others at their defaults; constraints assembled) the
    muscles are equilibrated (``Model.equilibrateMuscles``, compliant tendons included) at full
    activation and at activation 0.01 (Millard's and Thelen's minimum), where the passive fiber
    force along the tendon is read. Poses where a muscle cannot equilibrate give NaN for it.
    ``muscles``: names (default: all). Takes about 15 ms per pose for 80 muscles.
    """
    with opensim_log("error"):
        muscle_set = model.model.getMuscles()
        available = [muscle_set.get(k).getName() for k in range(muscle_set.getSize())]
        names = list(muscles) if muscles is not None else available
        for name in names:
            if name not in available:
                raise UnknownNameError("muscle", name, available, str(model.path))
        handles = [muscle_set.get(n) for n in names]
        state = model.state
        table = np.full((len(poses), len(names), 3), np.nan)
        for row, pose in enumerate(poses):
            model.set_pose(pose, assemble=True)
            table[row, :, 0] = [m.getLength(state) for m in handles]
            table[row, :, 1] = _equilibrium(model, handles, 1.0, "getTendonForce")
            table[row, :, 2] = _equilibrium(
                model, handles, PASSIVE_ACTIVATION, "getPassiveFiberForceAlongTendon"
            )
        return {
            name: MuscleReference(
                table[:, k, 0],
                table[:, k, 1],
                table[:, k, 2],
                FV_VELOCITIES,
                force_velocity_curve(handle),
            )
            for k, (name, handle) in enumerate(zip(names, handles, strict=True))
        }


def _equilibrium(model: OpenSimModel, handles: list, activation: float, reader: str) -> list:
    """Set every muscle's activation, equilibrate them and read ``reader`` from each (N); NaN
    for a muscle OpenSim cannot equilibrate."""
    state = model.state
    for muscle in handles:
        muscle.setActivation(state, activation)
    failed: set[int] = set()
    try:
        model.model.equilibrateMuscles(state)
    except RuntimeError:
        for k, muscle in enumerate(handles):
            try:
                muscle.computeEquilibrium(state)
            except RuntimeError:
                failed.add(k)
    try:
        model.model.realizeDynamics(state)
    except RuntimeError:
        return [math.nan] * len(handles)
    return [
        math.nan if k in failed else float(getattr(muscle, reader)(state))
        for k, muscle in enumerate(handles)
    ]


def force_velocity_curve(handle, velocities: np.ndarray = FV_VELOCITIES) -> np.ndarray:
    """OpenSim's force-velocity multiplier of muscle ``handle`` at normalized fiber
    ``velocities`` (full activation, optimal length), or an empty array for muscle types
    without a known curve."""
    with opensim_log("error") as opensim:
        kind = handle.getConcreteClassName()
        v = velocities
        if kind == "Millard2012EquilibriumMuscle":
            curve = opensim.Millard2012EquilibriumMuscle.safeDownCast(handle)
            curve = curve.getForceVelocityCurve()
            return np.array([curve.calcValue(float(x)) for x in v])
        if kind == "DeGrooteFregly2016Muscle":
            fv = opensim.DeGrooteFregly2016Muscle.calcForceVelocityMultiplier
            return np.array([fv(float(x)) for x in v])
        if kind == "Thelen2003Muscle":
            thelen = opensim.Thelen2003Muscle.safeDownCast(handle)
            af, flen = thelen.get_Af(), thelen.get_Flen()
            k = np.maximum(v, 0.0) * (2.0 + 2.0 / af) / (flen - 1.0)
            return np.where(v <= 0, (1.0 + v) / (1.0 - v / af), (1.0 + k * flen) / (1.0 + k))
        return np.zeros(0)


class OpenSimMuscles:
    """OpenSim's answers about one model file for the MJCF builder
    (:class:`converters.mjcf.reference.OpenSimQueries`); the model is loaded at the first
    question, once (a failure to load is raised again at every question)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._model: OpenSimModel | None = None
        self._error: BaseException | None = None

    def model(self) -> OpenSimModel:
        if self._error is not None:
            raise self._error
        if self._model is None:
            try:
                self._model = OpenSimModel(self.path)
            except BaseException as error:
                self._error = error
                raise
        return self._model

    def paths(self) -> MusclePaths:
        return MusclePaths(self.model())

    def isometric(
        self, poses: Sequence[Mapping[str, float]], muscles: Sequence[str]
    ) -> dict[str, MuscleReference]:
        return isometric_equilibrium(self.model(), poses, muscles)
