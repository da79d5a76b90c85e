"""One OpenSim model and its state: the only place the ``opensim`` package loads a model."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from converters.errors import FileFormatError, UnknownNameError
from converters.opensim_reference.log import opensim_log

__all__ = ["OpenSimModel", "first_line"]


class OpenSimModel:
    """An ``opensim.Model`` read from a file, with its system initialised and one ``State``.

    Args:
        path: the ``.osim`` file.
        forces: keep the model's forces; False clears the force set before the system is built
            (kinematics and mass only: old models' forces then cannot fail to build).
        level: OpenSim's log level while loading (:func:`opensim_log`); OpenSim's messages about
            a model's missing meshes and dropped elements are noise to most callers.

    Raises:
        FileFormatError: OpenSim cannot read the file or build its system (first line of
            OpenSim's message).
        ImportError: the ``opensim`` package is missing.
    """

    def __init__(self, path: str | Path, forces: bool = True, level: str = "off") -> None:
        self.path, self.forces, self.level = Path(path), forces, level
        self._pose: tuple[dict[str, float], bool] | None = None
        self._load()

    def _load(self) -> None:
        with opensim_log(self.level) as opensim:
            self.opensim = opensim
            try:
                self.model = opensim.Model(str(self.path))
                if not self.forces:
                    self.model.updForceSet().clearAndDestroy()
                self.state = self.model.initSystem()
            except RuntimeError as error:
                raise FileFormatError(
                    self.path, f"OpenSim cannot build this model: {first_line(error)}"
                ) from None
        self._coordinates = self.model.getCoordinateSet()

    def reload(self) -> None:
        """Read the model again (new ``model`` and ``state``: handles taken from the old ones
        are stale) and return to the last pose set. For OpenSim's sticky failures: once a
        muscle path's moment arm is NaN (OpenSim 4.6, at a pose where the wrapped path jumps) it
        stays NaN at every later pose of that model, even after ``initSystem``."""
        self._load()
        if self._pose is not None:
            self.set_pose(*self._pose)

    @property
    def name(self) -> str:
        return self.model.getName()

    @property
    def ground_name(self) -> str:
        return self.model.getGround().getName()

    def coordinate(self, name: str) -> Any:
        """OpenSim's ``Coordinate`` called ``name``."""
        if not self._coordinates.contains(name):
            raise UnknownNameError("coordinate", name, self.coordinate_names(), str(self.path))
        return self._coordinates.get(name)

    def coordinate_names(self) -> list[str]:
        return [self._coordinates.get(k).getName() for k in range(self._coordinates.getSize())]

    def frame(self, body: str) -> Any:
        """The ground or the body called ``body`` (a ``PhysicalFrame``)."""
        if body == self.ground_name:
            return self.model.getGround()
        return self.model.getBodySet().get(body)

    def set_pose(self, pose: Mapping[str, float], assemble: bool = False) -> None:
        """Move the state to ``pose`` (coordinate name -> value, rad or m) and realize positions.

        Without ``assemble`` only the unlocked coordinates in ``pose`` change (the rest of the
        state stays): for complete poses, whose dependent coordinates already satisfy every
        coupling. With ``assemble`` the state starts over: speeds zero, every coordinate at its
        value in ``pose`` or else its default, then OpenSim's assembler satisfies the constraints
        (couplers) from there; for poses of the independent coordinates alone.
        """
        state, coordinates = self.state, self._coordinates
        self._pose = (dict(pose), assemble)
        if not assemble:
            for name, value in pose.items():
                coordinate = coordinates.get(name)
                if not coordinate.getLocked(state):
                    coordinate.setValue(state, float(value), False)
            self.model.realizePosition(state)
            return
        state.updQ().setToZero()
        state.updU().setToZero()
        for k in range(coordinates.getSize()):
            coordinate = coordinates.get(k)
            value = pose.get(coordinate.getName(), coordinate.getDefaultValue())
            coordinate.setValue(state, float(value), False)
        self.model.assemble(state)
        self.model.realizePosition(state)


def first_line(error: BaseException) -> str:
    """The first non-empty line of an OpenSim (SWIG) error message, at most 200 characters."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:200]
