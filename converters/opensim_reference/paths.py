"""OpenSim's muscle paths: lengths, moment arms and the wrapped path's points, as numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from converters.errors import UnknownNameError
from converters.opensim_reference.log import opensim_log
from converters.opensim_reference.model import OpenSimModel

__all__ = ["MusclePaths", "PathEntry"]

PathEntry = tuple  # (last path point, wrap object or None, index within the wrap[, ground xyz])


class MusclePaths:
    """The geometry paths of an :class:`OpenSimModel`'s muscles.

    Poses are complete (every coordinate the path depends on, dependent ones consistent:
    :meth:`OpenSimModel.set_pose` without assembling); lengths in m, moment arms in m with
    OpenSim's sign (-dL/dq). Methods without a pose argument read the model's current pose.
    """

    def __init__(self, model: OpenSimModel) -> None:
        self.model = model
        self._handles()

    def _handles(self) -> None:
        muscles = self.model.model.getMuscles()
        names = [muscles.get(k).getName() for k in range(muscles.getSize())]
        self._paths = {name: muscles.get(name).getGeometryPath() for name in names}

    @property
    def names(self) -> list[str]:
        return list(self._paths)

    def _path(self, muscle: str):
        path = self._paths.get(muscle)
        if path is None:
            raise UnknownNameError("muscle", muscle, self._paths, str(self.model.path))
        return path

    def set_pose(self, values: Mapping[str, float]) -> None:
        """Move to a complete pose (coordinate -> rad or m)."""
        with opensim_log("error"):
            self.model.set_pose(values)

    def length(self, muscle: str) -> float:
        """Path length at the current pose, m."""
        with opensim_log("error"):
            return float(self._path(muscle).getLength(self.model.state))

    def moment_arm(self, muscle: str, coordinate: str) -> float:
        """Moment arm about ``coordinate`` at the current pose, m (OpenSim's sign); NaN where
        OpenSim's is undefined (its wrapped path jumping right there)."""
        with opensim_log("error"):
            self._path(muscle)
            return self._arm(muscle, coordinate)

    def _arm(self, muscle: str, coordinate: str) -> float:
        """OpenSim's moment arm; on NaN the model is read again (OpenSim's moment-arm solver
        stays NaN for good after one: :meth:`OpenSimModel.reload`) and asked once more, so one
        undefined pose does not spoil the poses after it."""
        for _ in range(2):
            handle = self.model.coordinate(coordinate)
            arm = float(self._paths[muscle].computeMomentArm(self.model.state, handle))
            if np.isfinite(arm):
                return arm
            self.model.reload()
            self._handles()
        return arm

    def lengths_and_moment_arms(
        self,
        muscle: str,
        values: Mapping[str, np.ndarray],
        coordinates: Sequence[str] = (),
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n,) lengths and (n, len(coordinates)) moment arms of ``muscle`` at each of the n
        complete poses ``values`` (coordinate -> (n,) values)."""
        n = len(next(iter(values.values())))
        lengths, arms = np.zeros(n), np.zeros((n, len(coordinates)))
        with opensim_log("error"):
            self._path(muscle)
            for i in range(n):
                self.model.set_pose({c: float(v[i]) for c, v in values.items()})
                lengths[i] = self._paths[muscle].getLength(self.model.state)
                for k, coordinate in enumerate(coordinates):
                    arms[i, k] = self._arm(muscle, coordinate)
        return lengths, arms

    def entries(self, muscle: str, positions: bool = False) -> list[PathEntry]:
        """The current path as (last path point name, wrap object or None, index of the point
        within its wrap), plus its ground position (3,) when ``positions``.

        As OpenSim sums its length (and draws the path): a wrap point's ground position is cached
        when first asked for within a realization, so with several wraps it can lag the point's
        final location by millimetres (OpenSim 4.6)."""
        with opensim_log("error") as opensim:
            path = self._path(muscle).getCurrentPath(self.model.state)
            out, before, previous = [], None, None
            for k in range(path.getSize()):
                point = path.get(k)
                if opensim.PathWrapPoint.safeDownCast(point) is None:
                    before, name, index, previous = point.getName(), None, 0, None
                else:
                    name = point.getWrapObject().getName()
                    index, previous = (0 if name != previous else 1), name
                entry = (before, name, index)
                if positions:
                    ground = point.getLocationInGround(self.model.state)
                    entry = (*entry, np.array(ground.to_numpy()))
                out.append(entry)
        return out

    def to_frame(self, point: np.ndarray, body: str) -> np.ndarray:
        """A ground position (3,) in ``body``'s frame at the current pose."""
        with opensim_log("error") as opensim:
            station = opensim.Vec3(*[float(v) for v in point])
            ground = self.model.model.getGround()
            moved = ground.findStationLocationInAnotherFrame(
                self.model.state, station, self.model.frame(body)
            )
            return np.array(moved.to_numpy())

    def to_ground(self, point: np.ndarray, body: str) -> np.ndarray:
        """A position (3,) in ``body``'s frame in ground at the current pose."""
        with opensim_log("error") as opensim:
            station = opensim.Vec3(*[float(v) for v in point])
            frame = self.model.frame(body)
            return np.array(frame.findStationLocationInGround(self.model.state, station).to_numpy())
