"""What the wrap layout reads: MuJoCo's site and geom positions over sampled poses, and
OpenSim's own wrapped paths at stratified reference poses (asked through
:class:`converters.mjcf.reference.PathQueries`)."""

from __future__ import annotations

import mujoco
import numpy as np

from converters.mjcf.path_points import current_kinematics
from converters.mjcf.reference import PathQueries
from converters.mjcf.stand_ins import StandIn
from converters.osim.model import Muscle

__all__ = [
    "WRAP_PLACEMENT_POSES",
    "REFERENCE_POSES",
    "Samples",
    "segment_hits",
    "WrapReference",
    "site_index",
]

WRAP_PLACEMENT_POSES = 48  # random poses placing a wrap OpenSim does not apply in its poses
REFERENCE_POSES = 120  # random poses at which OpenSim's own wrapped paths are read


class Samples:
    """World positions of sites and geoms (and geom axes) over random poses plus the default,
    and, when OpenSim can load the model, OpenSim's own paths of the wrapped muscles."""

    def __init__(self, builder) -> None:
        model = builder.spec.compile()
        data = mujoco.MjData(model)
        kinematics = current_kinematics(builder, model)
        rng = np.random.default_rng(0)
        poses = {}
        for name in kinematics.independent_coordinates:
            coordinate = builder.model.coordinates[name]
            lo, hi = max(coordinate.range[0], -np.pi), min(coordinate.range[1], np.pi)
            draws = (
                rng.uniform(lo, hi, WRAP_PLACEMENT_POSES)
                if not coordinate.locked and hi > lo
                else np.full(WRAP_PLACEMENT_POSES, builder.defaults[name])
            )
            poses[name] = np.append(draws, builder.defaults[name])
        qpos = kinematics.qpos(poses, model.nq)
        self.model, self.data, self.kinematics = model, data, kinematics
        self.site = {model.site(k).name: k for k in range(model.nsite)}
        self.geom = {model.geom(k).name: k for k in range(model.ngeom)}
        self.site_body = model.site_bodyid.copy()
        self.geom_body = model.geom_bodyid.copy()
        self.site_xpos = np.zeros((len(qpos), model.nsite, 3))
        self.geom_xpos = np.zeros((len(qpos), model.ngeom, 3))
        self.geom_axis = np.zeros((len(qpos), model.ngeom, 3))
        self.geom_size = model.geom_size.copy()
        self.geom_type = model.geom_type.copy()
        for i, q in enumerate(qpos):
            data.qpos[:] = q
            mujoco.mj_kinematics(model, data)
            self.site_xpos[i] = data.site_xpos
            self.geom_xpos[i] = data.geom_xpos
            self.geom_axis[i] = data.geom_xmat.reshape(-1, 3, 3)[:, :, 2]
        self.reference = WrapReference.load(builder, kinematics)
        self.tuning: list[StandIn] = []


def segment_hits(samples: Samples, geom: str, a: str, b: str) -> tuple[int, float]:
    """(poses where segment a-b passes through the wrap surface, mean clearance in m)."""
    g = samples.geom[geom]
    p, q = samples.site_xpos[:, samples.site[a]], samples.site_xpos[:, samples.site[b]]
    center, radius = samples.geom_xpos[:, g], samples.geom_size[g, 0]
    if samples.geom_type[g] == mujoco.mjtGeom.mjGEOM_CYLINDER:  # distance to the axis, in 2D
        axis = samples.geom_axis[:, g]
        p = p - np.sum((p - center) * axis, axis=1, keepdims=True) * axis
        q = q - np.sum((q - center) * axis, axis=1, keepdims=True) * axis
    d = q - p
    t = np.clip(np.sum((center - p) * d, axis=1) / np.maximum(np.sum(d * d, axis=1), 1e-18), 0, 1)
    clearance = np.linalg.norm(p + t[:, None] * d - center, axis=1) - radius
    return int(np.sum(clearance < 0)), float(np.mean(clearance))


class WrapReference:
    """OpenSim's own paths of the muscles that wrap, at ``REFERENCE_POSES`` stratified poses.

    ``lengths[muscle]``: (n,) path lengths; ``wraps[muscle]``: per pose, the wraps OpenSim applied
    in path order as (path point before the wrap, wrap object). OpenSim decides which segment a
    wrap takes (the first the straight line crosses, else the least lengthened one), in which
    order several wraps follow each other and which side a quadrant forces, so these decide the
    MuJoCo path's structure where geometry alone would guess. ``paths`` answers for OpenSim;
    its pose is the last one set (:meth:`set_pose`)."""

    def __init__(self, builder, kinematics, paths: PathQueries) -> None:
        self.paths, self.builder, self.kinematics = paths, builder, kinematics
        rng = np.random.default_rng(1)
        poses = {}
        for name in kinematics.independent_coordinates:  # stratified: one pose per 1/n of range
            coordinate = builder.model.coordinates[name]
            lo, hi = max(coordinate.range[0], -np.pi), min(coordinate.range[1], np.pi)
            strata = rng.permutation(REFERENCE_POSES) + rng.uniform(size=REFERENCE_POSES)
            poses[name] = (
                lo + (hi - lo) * strata / REFERENCE_POSES
                if not coordinate.locked and hi > lo
                else np.full(REFERENCE_POSES, builder.defaults[name])
            )
        self.poses = poses
        self.values = values = kinematics.complete(poses)
        self._arms: dict[tuple[str, str], np.ndarray] = {}
        names = [m.name for m in builder.model.muscles if m.wraps]
        self.lengths = {n: np.full(REFERENCE_POSES, np.nan) for n in names}
        self.wraps: dict[str, list[list[tuple[str, str]]]] = {n: [] for n in names}
        for i in range(REFERENCE_POSES):
            self.set_pose({c: float(v[i]) for c, v in values.items()})
            for name in names:
                self.lengths[name][i] = paths.length(name)
                self.wraps[name].append(
                    [(b, w) for b, w, index in self.entries(name) if w and index == 0]
                )

    @classmethod
    def load(cls, builder, kinematics) -> WrapReference | None:
        """None when no muscle wraps, or OpenSim is not given or cannot build the model."""
        if not any(m.wraps for m in builder.model.muscles):
            return None
        if builder.opensim is None:
            builder.result.warnings.append(
                "no OpenSim reference given: wraps are placed by geometry alone"
            )
            return None
        try:
            return cls(builder, kinematics, builder.opensim.paths())
        except Exception as error:  # noqa: BLE001 - any OpenSim failure: geometry alone decides
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            builder.result.warnings.append(
                f"OpenSim could not evaluate the wrapped paths ({first}); "
                "wraps are placed by geometry alone"
            )
            return None

    def moment_arms(self, muscle: str, coordinates: list[str]) -> np.ndarray:
        """(n, len(coordinates)) OpenSim's moment arms at the reference poses (cached)."""
        missing = [c for c in coordinates if (muscle, c) not in self._arms]
        if missing:
            table = self.paths.lengths_and_moment_arms(muscle, self.values, missing)[1]
            for k, c in enumerate(missing):
                self._arms[(muscle, c)] = table[:, k]
        return np.column_stack([self._arms[(muscle, c)] for c in coordinates])

    def evaluate(
        self, muscle: str, poses: dict[str, np.ndarray], coordinates: list[str] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        """OpenSim's lengths (n,) and moment arms about ``coordinates`` (n, c) of ``muscle`` at
        ``poses`` (arrays of independent coordinates, the others at their defaults)."""
        values = self.kinematics.complete(poses)
        return self.paths.lengths_and_moment_arms(muscle, values, list(coordinates))

    def set_pose(self, values: dict[str, float]) -> None:
        self.paths.set_pose(values)

    def entries(self, muscle: str, positions: bool = False) -> list[tuple]:
        """The current path as (last path point name, wrap object or None, index of the point
        within its wrap), plus its ground position when ``positions``."""
        return self.paths.entries(muscle, positions)

    def to_frame(self, point: np.ndarray, body: str) -> np.ndarray:
        """A ground position in ``body``'s frame (current pose)."""
        return self.paths.to_frame(point, body)

    def to_ground(self, point: np.ndarray, body: str) -> np.ndarray:
        """A position in ``body``'s frame in ground (current pose)."""
        return self.paths.to_ground(point, body)

    def center_in_ground(self, wrap: str) -> np.ndarray:
        spec = self.builder.model.wrap_objects[wrap]
        return self.paths.to_ground(spec.pose[:3, 3], spec.body)

    def segment_counts(self, muscle: Muscle, sites: list[str]) -> dict[str, dict[int, int]]:
        """wrap object -> {segment index into ``sites``: poses where OpenSim wraps it there}."""
        index = site_index(muscle, sites)
        counts: dict[str, dict[int, int]] = {}
        for pose in self.wraps.get(muscle.name, []):
            for before, wrap in pose:
                if before in index:
                    per = counts.setdefault(wrap, {})
                    per[index[before]] = per.get(index[before], 0) + 1
        return counts

    def order(self, muscle: Muscle, sites: list[str], k: int, wraps: list[str]) -> list[str]:
        """``wraps`` (all in segment ``k``) in OpenSim's path order: by how often each comes
        before each other one where both wrap; ties keep the PathWrapSet order."""
        index = site_index(muscle, sites)
        before = {(a, b): 0 for a in wraps for b in wraps}
        for pose in self.wraps.get(muscle.name, []):
            here = [w for p, w in pose if index.get(p) == k and w in wraps]
            for i, a in enumerate(here):
                for b in here[i + 1 :]:
                    before[(a, b)] += 1
        score = {a: sum(before[(a, b)] - before[(b, a)] for b in wraps) for a in wraps}
        return sorted(wraps, key=lambda w: (-score[w], wraps.index(w)))


def site_index(muscle: Muscle, sites: list[str]) -> dict[str, int]:
    """OpenSim path point name -> index of its site in ``sites``."""
    names = {f"{muscle.name}-{p.name or k}": p.name for k, p in enumerate(muscle.points)}
    return {names[s]: k for k, s in enumerate(sites) if s in names}
