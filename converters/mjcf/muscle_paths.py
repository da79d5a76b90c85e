"""Muscle paths -> MuJoCo spatial tendons, one per muscle, named as the muscle.

* A fixed path point is a site on its body.
* A moving path point (location a function of coordinates) is a site on a small massless child
  body moved by up to three slide joints; the slides are dependent joints of the kinematic map, so
  their positions are exact in validation and follow quartic joint equalities in simulation.
* A conditional path point (on the path only inside a coordinate range) has no MuJoCo
  counterpart. It becomes a moving point: at its location inside the range, and outside it on the
  straight line between its neighbours, where it changes nothing - exactly OpenSim's path when
  the line depends on that coordinate alone (the other coordinates at their defaults otherwise, a
  second-order error). The location is tabulated over the coordinate's range (piecewise linear,
  with OpenSim's jump at the range ends), so validation is exact. No polynomial follows that jump,
  so in simulation the point is held where it is in the default pose (the map gives how far its
  true position strays from there).
* Wrap cylinders and spheres become wrap geoms with a side site for OpenSim's ``quadrant``.
  MuJoCo wraps only spheres and infinite cylinders, one geom between two sites, so OpenSim's
  own paths at stratified reference poses (lengths, moment arms, which wraps it applies in which
  segment and order) decide the layout: each wrap goes in the segment where OpenSim applies it;
  wraps OpenSim applies one after the other in one segment get a split site between them (on a
  mover tabulated over the coordinate relating their bodies, on OpenSim's straight path between
  them); an ellipsoid gets a sphere or cylinder of the muscle's own fitted to OpenSim, also
  either side of the coordinate values where OpenSim's moment arm jumps (a wrap switching sides
  as the straight line sweeps over the surface's centre), so that it switches there too. Where
  MuJoCo's rules differ from OpenSim's (finite cylinders, spheres and ellipsoids that OpenSim
  wraps only where the line crosses them, OpenSim's multi-wrap length summed from positions
  cached in its first pass), rival layouts - with and without side sites, split or one tuned
  surface - are compared against OpenSim's lengths and moment arms and the closest is kept (the
  conversion's warnings give the numbers). Without the opensim package, wraps go where the
  straight segment crosses them in sampled poses and spheres/ellipsoids get no side site; tori
  are not supported (listed).
"""

from __future__ import annotations

from dataclasses import asdict

import mujoco
import numpy as np

from converters.mjcf.kinematic_map import JointSlot
from converters.osim.model import Muscle, PathPointSpec, WrapObjectSpec
from converters.spatial import quat_from_matrix

__all__ = ["add_muscle_paths", "WRAP_GROUP", "TENDON_GROUP"]

WRAP_GROUP, TENDON_GROUP = 5, 0
# OpenSim wraps a sphere or an ellipsoid only where the straight line crosses it (its quadrant
# then picks the side); a cylinder with a quadrant also where the line passes on the wrong side.
_ROUND = ("WrapSphere", "WrapEllipsoid")
_MOVER_MASS = 1e-12  # kg: MuJoCo needs a positive mass on a body with joints
CONDITIONAL_SAMPLES = 241  # points tabulating a conditional point's location over its coordinate


def add_muscle_paths(builder) -> None:
    """Sites, movers, wrap geoms and a spatial tendon for every muscle of ``builder.model``."""
    model = builder.model
    if not model.muscles:
        return
    wraps = {
        name: _add_wrap_geom(builder, spec)
        for name, spec in model.wrap_objects.items()
        if spec.active
    }
    paths = {m.name: _add_points(builder, m) for m in model.muscles}
    _add_conditional_movers(builder, paths)
    samples = _sampled_geometry(builder) if any(m.wraps for m in model.muscles) else None
    layouts = []
    for muscle in model.muscles:
        sites = paths[muscle.name]
        if len(sites) < 2:
            builder.result.warnings.append(f"muscle '{muscle.name}' has fewer than 2 path points")
            continue
        layouts.append((muscle, sites, _wrap_plans(builder, muscle, sites, wraps, samples)))
    _settle(builder, samples, layouts)
    for muscle, sites, plans in layouts:
        _add_tendon(builder, muscle.name, sites, plans[0])
    if builder.options.muscle_actuators:
        _add_actuators(builder)


def _add_actuators(builder) -> None:
    """A MuJoCo muscle on each tendon, fitted to OpenSim's own muscle (see muscle_actuator)."""
    from converters.mjcf.muscle_actuator import add_muscle_actuator, fit_muscles

    tendons = {t.name for t in builder.spec.tendons}
    muscles = [m for m in builder.model.muscles if m.name in tendons]
    if not muscles:
        return
    try:
        params = fit_muscles(builder.model.path, _with_muscles(builder.model, muscles))
    except RuntimeError as error:  # OpenSim could not build the model's muscles
        from converters.mjcf.muscle_actuator import mujoco_actuator_parameters

        first = str(error).strip().splitlines()[0][:200]
        builder.result.warnings.append(
            f"OpenSim could not evaluate the muscles ({first}); "
            "actuators use OpenSim's parameters without fitting"
        )
        params = {m.name: mujoco_actuator_parameters(m, None) for m in muscles}
    for muscle in muscles:
        add_muscle_actuator(builder.spec, params[muscle.name])
        report = params[muscle.name].fit_report
        builder.result.muscle_fits[muscle.name] = (
            {}
            if report is None
            else {
                k: (
                    float(v)
                    if isinstance(v, (int, float, np.floating)) and not isinstance(v, bool)
                    else v
                )
                for k, v in asdict(report).items()
            }
        )


def _with_muscles(model, muscles):
    from dataclasses import replace

    return replace(model, muscles=muscles)


# ------------------------------------------------------------------------------------ points


def _add_points(builder, muscle: Muscle) -> list[str | PathPointSpec]:
    """Site names along the muscle's path; conditional points stay as their specs for now."""
    sites: list[str | PathPointSpec] = []
    for k, point in enumerate(muscle.points):
        name = f"{muscle.name}-{point.name or k}"
        if point.kind == "conditional":
            sites.append(point)
            continue
        if point.kind == "moving":
            body, position = _add_mover(builder, muscle, point, name), np.zeros(3)
        else:
            body, position = builder.bodies[point.body], point.location
        site = body.add_site(name=name)
        site.pos = position
        site.size = [0.004, 0, 0]
        site.group = TENDON_GROUP
        sites.append(name)
    return sites


def _add_conditional_movers(builder, paths: dict[str, list]) -> None:
    """Replace each conditional point in ``paths`` by the site of a mover tabulated as above."""
    from converters.osim.functions import PiecewiseLinearFunction

    todo = [
        (m, k)
        for m, sites in paths.items()
        for k, s in enumerate(sites)
        if isinstance(s, PathPointSpec)
    ]
    if not todo:
        return
    model = builder.spec.compile()
    data = mujoco.MjData(model)
    kinematics = _current_kinematics(builder, model)
    muscles = {m.name: m for m in builder.model.muscles}
    original = {m: list(sites) for m, sites in paths.items()}
    tables: dict[tuple[str, int], tuple[str, np.ndarray, np.ndarray]] = {}
    for muscle, k in todo:  # in path order, so a previous conditional point is tabulated first
        sites, point = paths[muscle], paths[muscle][k]
        before = next((s for s in reversed(original[muscle][:k]) if isinstance(s, str)), None)
        after = next((s for s in original[muscle][k + 1 :] if isinstance(s, str)), None)
        if before is None or after is None:
            sites[k] = None
            builder.result.warnings.append(
                f"conditional point '{point.name}' of '{muscle}' is at an end of the path; left out"
            )
            continue
        x, locations = _conditional_table(
            builder, model, data, kinematics, point, before, after, tables.get((muscle, k - 1))
        )
        tables[(muscle, k)] = (point.coordinate, x, locations, point.body)
        moving = [(point.coordinate, PiecewiseLinearFunction(x, locations[:, a])) for a in range(3)]
        mover = PathPointSpec(point.name, point.body, point.location, "moving", moving=moving)
        name = f"{muscle}-{point.name}"
        first_slot = len(builder.slots)
        body = _add_mover(builder, muscles[muscle], mover, name)
        for slot in builder.slots[first_slot:]:  # a jump no polynomial follows: hold it
            slot.locked_in_simulation = True
        site = body.add_site(name=name)
        site.size = [0.004, 0, 0]
        site.group = TENDON_GROUP
        sites[k] = name
        builder.result.conditional_points.append(
            {
                "muscle": muscle,
                "point": point.name,
                "coordinate": point.coordinate,
                "range": list(point.range),
                "represented_as": "moving point, collapsed outside its range",
            }
        )
    for sites in paths.values():
        sites[:] = [s for s in sites if s is not None]


def _current_kinematics(builder, model):
    from converters.mjcf.kinematic_map import KinematicMap

    for slot in builder.slots:
        slot.qpos = int(model.joint(slot.name).qposadr[0])
        slot.dof = int(model.joint(slot.name).dofadr[0])
    return KinematicMap(
        list(builder.model.coordinates), builder.slots, builder.couplings, builder.defaults
    )


def _conditional_table(
    builder,
    model,
    data,
    kinematics,
    point: PathPointSpec,
    before: str,
    after: str,
    previous: tuple | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinate samples and the point's location (body frame) at each: itself inside the
    range; outside, on the point just before it when that is on the same body (a fixed point,
    or a conditional one of the same coordinate): the path is then exactly OpenSim's straight
    line whatever the other coordinates. Otherwise on the neighbours' chord."""
    coordinate = builder.model.coordinates[point.coordinate]
    lo, hi = max(coordinate.range[0], -2 * np.pi), min(coordinate.range[1], 2 * np.pi)
    edges = [e + d for e in point.range for d in (-1e-6, 1e-6) if lo < e + d < hi]
    if previous is not None and previous[0] == point.coordinate:
        edges = np.concatenate([edges, previous[1]])
    x = np.unique(np.concatenate([np.linspace(lo, hi, CONDITIONAL_SAMPLES), edges]))
    body = model.body(point.body).id
    inside = (x >= point.range[0]) & (x <= point.range[1])
    locations = np.tile(point.location, (len(x), 1))
    if previous is not None and previous[0] == point.coordinate and previous[3] == point.body:
        for axis in range(3):
            locations[~inside, axis] = np.interp(x[~inside], previous[1], previous[2][:, axis])
        return x, locations
    if previous is None and model.site(before).bodyid[0] == body:
        locations[~inside] = model.site(before).pos
        return x, locations
    qpos = kinematics.qpos({point.coordinate: x}, model.nq)
    for i in np.flatnonzero(~inside):
        data.qpos[:] = qpos[i]
        mujoco.mj_kinematics(model, data)
        rotation, origin = data.xmat[body].reshape(3, 3), data.xpos[body]
        a, b = (rotation.T @ (data.site_xpos[model.site(n).id] - origin) for n in (before, after))
        t = np.clip((point.location - a) @ (b - a) / max((b - a) @ (b - a), 1e-18), 0.0, 1.0)
        locations[i] = a + t * (b - a)
    return x, locations


def _add_mover(builder, muscle: Muscle, point: PathPointSpec, name: str):
    """A massless body at the point, with one slide per moving axis of the point's frame."""
    frame = point.frame
    values, slides = [], []
    for axis, entry in enumerate(point.moving):
        if entry is None:
            values.append(float(point.location @ frame[:3, axis] - frame[:3, 3] @ frame[:3, axis]))
            continue
        coordinate, function = entry
        values.append(float(function.value(builder.defaults[coordinate])))
        slides.append((axis, coordinate, function))
    body = builder.bodies[point.body].add_body(name=f"{name}_mover")
    body.pos = frame[:3, 3] + frame[:3, :3] @ np.array(values)
    body.quat = quat_from_matrix(frame[:3, :3])
    body.explicitinertial = True
    body.mass = _MOVER_MASS
    body.inertia = [_MOVER_MASS] * 3  # kg m^2: above MuJoCo's 1e-15 floor after printing
    for axis, coordinate, function in slides:
        joint_name = f"{name}_{'xyz'[axis]}"
        joint = body.add_joint(name=joint_name, type=mujoco.mjtJoint.mjJNT_SLIDE)
        joint.axis = np.eye(3)[axis]
        joint.ref = values[axis]
        joint.armature = builder.options.armature
        builder.slots.append(
            JointSlot(
                name=joint_name,
                kind="slide",
                coordinate=coordinate,
                function=function,
                ref=values[axis],
                opensim_joint=muscle.name,
                axis=f"{point.name}.{'xyz'[axis]}",
            )
        )
    return body


# ------------------------------------------------------------------------------------- wraps


def _add_wrap_geom(builder, spec: WrapObjectSpec) -> tuple[str, str | None] | None:
    """(geom name, side site name or None), or None for an unsupported surface."""
    body = builder.bodies[spec.body]
    pose = spec.pose.copy()
    if spec.type == "WrapCylinder":
        kind, size, radius = (
            mujoco.mjtGeom.mjGEOM_CYLINDER,
            [spec.radius, spec.length / 2, 0],
            spec.radius,
        )
    elif spec.type == "WrapSphere":
        kind, size, radius = mujoco.mjtGeom.mjGEOM_SPHERE, [spec.radius, 0, 0], spec.radius
    elif spec.type == "WrapEllipsoid":
        kind, size, radius, pose = _ellipsoid_stand_in(builder, spec)
    else:
        builder.result.warnings.append(
            f"wrap object {spec.type} '{spec.name}' is not supported "
            "(MuJoCo wraps only spheres and cylinders); left out"
        )
        return None
    _wrap_geom(body, spec.name, kind, size, pose)
    side = _side_site(body, spec, pose, radius, kind)
    return spec.name, side


def _wrap_geom(body, name: str, kind, size, pose: np.ndarray):
    geom = body.add_geom(name=name, type=kind)
    geom.size = size
    geom.pos = pose[:3, 3]
    geom.quat = quat_from_matrix(pose[:3, :3])
    geom.contype = geom.conaffinity = 0
    geom.group = WRAP_GROUP
    geom.rgba = [0.3, 0.8, 0.9, 0.3]
    return geom


def _ellipsoid_stand_in(builder, spec: WrapObjectSpec, warn: bool = True):
    """The untuned stand-in: a cylinder along the long axis when the other two radii are equal,
    else a sphere of the mean radius. (kind, size, radius, pose)."""
    a = np.asarray(spec.dimensions, dtype=float)
    order = np.argsort(a)
    pose = spec.pose.copy()
    if np.isclose(a[order[0]], a[order[1]]):
        axis = order[2]  # the long axis becomes the cylinder's z
        pose[:3, :3] = pose[:3, :3] @ _axis_to_z(axis)
        radius = float(a[order[0]])
        if warn:
            builder.result.warnings.append(
                f"wrap ellipsoid '{spec.name}' {a.tolist()} -> cylinder of "
                f"radius {radius:g} along its long axis"
            )
        return mujoco.mjtGeom.mjGEOM_CYLINDER, [radius, float(a[axis]), 0], radius, pose
    radius = float(np.mean(a))
    if warn:
        builder.result.warnings.append(
            f"wrap ellipsoid '{spec.name}' {a.tolist()} -> sphere of radius {radius:g}"
        )
    return mujoco.mjtGeom.mjGEOM_SPHERE, [radius, 0, 0], radius, pose


def _axis_to_z(axis: int) -> np.ndarray:
    """Rotation whose z column is ``axis`` of the frame it multiplies (a cyclic permutation)."""
    return np.eye(3)[:, [(axis + 1) % 3, (axis + 2) % 3, axis]]


def _quadrant(spec: WrapObjectSpec) -> tuple[int, float] | None:
    """(axis, sign) of OpenSim's ``quadrant`` ('+x', '-y', 'z'...), None for 'all'."""
    quadrant = spec.quadrant.strip().lower()
    if quadrant in ("", "all", "unassigned"):
        return None
    return "xyz".index(quadrant[-1]), (-1.0 if quadrant.startswith("-") else 1.0)


def _side_direction(spec: WrapObjectSpec, pose: np.ndarray, kind) -> np.ndarray | None:
    """Unit direction (body frame) of the allowed side, or None when there is no usable side:
    'all', or a cylinder whose axis is the quadrant's (MuJoCo projects the side across it)."""
    quadrant = _quadrant(spec)
    if quadrant is None:
        return None
    axis, sign = quadrant
    direction = sign * spec.pose[:3, axis]  # in the OpenSim wrap frame
    if kind == mujoco.mjtGeom.mjGEOM_CYLINDER and abs(direction @ pose[:3, 2]) > 0.99:
        return None
    return direction


def _side_site(
    body, spec: WrapObjectSpec, pose: np.ndarray, radius: float, kind, name: str | None = None
) -> str | None:
    """A site outside the surface on OpenSim's ``quadrant`` side ('+x', '-y', ...).

    MuJoCo then wraps on that side, and also wraps when the straight segment passes the surface
    on the other side (OpenSim's forced wrap the long way round)."""
    direction = _side_direction(spec, pose, kind)
    if direction is None:
        return None
    site = body.add_site(name=name or f"{spec.name}_side")
    site.pos = pose[:3, 3] + 2.0 * radius * direction
    site.size = [0.002, 0, 0]
    site.group = WRAP_GROUP
    return site.name


# ------------------------------------------------------------------------------------ tendons


WRAP_PLACEMENT_POSES = 48  # random poses placing a wrap OpenSim does not apply in its poses
REFERENCE_POSES = 120  # random poses at which OpenSim's own wrapped paths are read
SPLIT_SAMPLES = 121  # coordinate values tabulating a split site between two wraps
SPLIT_REFINEMENTS = 14  # bisections of an interval where the split site jumps
TUNING_EVALUATIONS = 160  # objective evaluations per stand-in family


class _Samples:
    """World positions of sites and geoms (and geom axes) over random poses plus the default,
    and, when OpenSim can load the model, OpenSim's own paths of the wrapped muscles."""

    def __init__(self, builder) -> None:
        model = builder.spec.compile()
        data = mujoco.MjData(model)
        kinematics = _current_kinematics(builder, model)
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
        self.reference = _Reference.load(builder, kinematics)
        self.tuning: list[_StandIn] = []


def _sampled_geometry(builder) -> _Samples:
    return _Samples(builder)


def _segment_hits(samples: _Samples, geom: str, a: str, b: str) -> tuple[int, float]:
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


class _Reference:
    """OpenSim's own paths of the muscles that wrap, at ``REFERENCE_POSES`` stratified poses.

    ``lengths[muscle]``: (n,) path lengths; ``wraps[muscle]``: per pose, the wraps OpenSim applied
    in path order as (path point before the wrap, wrap object). OpenSim decides which segment a
    wrap takes (the first the straight line crosses, else the least lengthened one), in which
    order several wraps follow each other and which side a quadrant forces, so these decide the
    MuJoCo path's structure where geometry alone would guess."""

    def __init__(self, builder, kinematics, osim, state) -> None:
        import opensim

        self.opensim, self.osim, self.state, self.builder = opensim, osim, state, builder
        self.kinematics = kinematics
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
        muscles = osim.getMuscles()
        names = [m.name for m in builder.model.muscles if m.wraps]
        self.handles = {n: muscles.get(n).getGeometryPath() for n in names}
        self.lengths = {n: np.full(REFERENCE_POSES, np.nan) for n in names}
        self.wraps: dict[str, list[list[tuple[str, str]]]] = {n: [] for n in names}
        for i in range(REFERENCE_POSES):
            self.set_pose({c: float(v[i]) for c, v in values.items()})
            for name, path in self.handles.items():
                self.lengths[name][i] = path.getLength(state)
                self.wraps[name].append(
                    [(b, w) for b, w, index in self.entries(name) if w and index == 0]
                )

    @classmethod
    def load(cls, builder, kinematics) -> _Reference | None:
        """None when the opensim package is missing or cannot build the model."""
        if not any(m.wraps for m in builder.model.muscles):
            return None
        try:
            import opensim

            opensim.Logger.setLevelString("off")
            osim = opensim.Model(str(builder.model.path))
            state = osim.initSystem()
            return cls(builder, kinematics, osim, state)
        except Exception as error:  # noqa: BLE001 - any OpenSim failure: geometry alone decides
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            builder.result.warnings.append(
                f"OpenSim could not evaluate the wrapped paths ({first}); "
                "wraps are placed by geometry alone"
            )
            return None
        finally:
            try:
                import opensim

                opensim.Logger.setLevelString("error")
            except ImportError:
                pass

    def moment_arms(self, muscle: str, coordinates: list[str]) -> np.ndarray:
        """(n, len(coordinates)) OpenSim's moment arms at the reference poses (cached)."""
        missing = [c for c in coordinates if (muscle, c) not in self._arms]
        if missing:
            table = np.full((REFERENCE_POSES, len(missing)), np.nan)
            handles = [self.osim.getCoordinateSet().get(c) for c in missing]
            for i in range(REFERENCE_POSES):
                self.set_pose({c: float(v[i]) for c, v in self.values.items()})
                for k, handle in enumerate(handles):
                    table[i, k] = self.handles[muscle].computeMomentArm(self.state, handle)
            for k, c in enumerate(missing):
                self._arms[(muscle, c)] = table[:, k]
        return np.column_stack([self._arms[(muscle, c)] for c in coordinates])

    def evaluate(
        self, muscle: str, poses: dict[str, np.ndarray], coordinates: list[str] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        """OpenSim's lengths (n,) and moment arms about ``coordinates`` (n, c) of ``muscle`` at
        ``poses`` (arrays of independent coordinates, the others at their defaults)."""
        values = self.kinematics.complete(poses)
        n = len(next(iter(values.values())))
        handles = [self.osim.getCoordinateSet().get(c) for c in coordinates]
        lengths, arms = np.zeros(n), np.zeros((n, len(handles)))
        for i in range(n):
            self.set_pose({c: float(v[i]) for c, v in values.items()})
            path = self.handles[muscle]
            lengths[i] = path.getLength(self.state)
            for k, handle in enumerate(handles):
                arms[i, k] = path.computeMomentArm(self.state, handle)
        return lengths, arms

    def set_pose(self, values: dict[str, float]) -> None:
        coordinates = self.osim.getCoordinateSet()
        for name, value in values.items():
            coordinate = coordinates.get(name)
            if not coordinate.getLocked(self.state):
                coordinate.setValue(self.state, value, False)
        self.osim.realizePosition(self.state)

    def entries(self, muscle: str, positions: bool = False) -> list[tuple]:
        """The current path as (last path point name, wrap object or None, index of the point
        within its wrap), plus its ground position (numpy) when ``positions``."""
        path = self.handles[muscle].getCurrentPath(self.state)
        out, before, previous = [], None, None
        for k in range(path.getSize()):
            point = path.get(k)
            if self.opensim.PathWrapPoint.safeDownCast(point) is None:
                before, name, index, previous = point.getName(), None, 0, None
            else:
                name = point.getWrapObject().getName()
                index, previous = (0 if name != previous else 1), name
            entry = (before, name, index)
            if positions:
                # As OpenSim sums its length (and draws the path): a wrap point's ground position
                # is cached when first asked for within a realization, so with several wraps it
                # can lag the point's final location by millimetres (OpenSim 4.6).
                ground = point.getLocationInGround(self.state)
                entry = (*entry, np.array(ground.to_numpy()))
            out.append(entry)
        return out

    def frame(self, body: str):
        if body == self.builder.model.ground:
            return self.osim.getGround()
        return self.osim.getBodySet().get(body)

    def to_frame(self, point: np.ndarray, body: str) -> np.ndarray:
        """A ground position in ``body``'s frame (current pose)."""
        station = self.opensim.Vec3(*[float(v) for v in point])
        ground = self.osim.getGround()
        moved = ground.findStationLocationInAnotherFrame(self.state, station, self.frame(body))
        return np.array(moved.to_numpy())

    def to_ground(self, point: np.ndarray, body: str) -> np.ndarray:
        """A position in ``body``'s frame in ground (current pose)."""
        station = self.opensim.Vec3(*[float(v) for v in point])
        return np.array(
            self.frame(body).findStationLocationInGround(self.state, station).to_numpy()
        )

    def center_in_ground(self, wrap: str) -> np.ndarray:
        spec = self.builder.model.wrap_objects[wrap]
        station = self.opensim.Vec3(*[float(v) for v in spec.pose[:3, 3]])
        return np.array(
            self.frame(spec.body).findStationLocationInGround(self.state, station).to_numpy()
        )

    def segment_counts(self, muscle: Muscle, sites: list[str]) -> dict[str, dict[int, int]]:
        """wrap object -> {segment index into ``sites``: poses where OpenSim wraps it there}."""
        index = _site_index(muscle, sites)
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
        index = _site_index(muscle, sites)
        before = {(a, b): 0 for a in wraps for b in wraps}
        for pose in self.wraps.get(muscle.name, []):
            here = [w for p, w in pose if index.get(p) == k and w in wraps]
            for i, a in enumerate(here):
                for b in here[i + 1 :]:
                    before[(a, b)] += 1
        score = {a: sum(before[(a, b)] - before[(b, a)] for b in wraps) for a in wraps}
        return sorted(wraps, key=lambda w: (-score[w], wraps.index(w)))


def _site_index(muscle: Muscle, sites: list[str]) -> dict[str, int]:
    """OpenSim path point name -> index of its site in ``sites``."""
    names = {f"{muscle.name}-{p.name or k}": p.name for k, p in enumerate(muscle.points)}
    return {names[s]: k for k, s in enumerate(sites) if s in names}


class _Plan:
    """One way to lay a muscle's wraps into its path: tendon name, per segment the items that
    follow the segment's first site, what it is, and the spec elements and joint slots made
    for it alone (removed if another plan is kept)."""

    def __init__(self, tendon: str, what: str = "") -> None:
        self.tendon, self.what = tendon, what
        self.items: dict[int, list[tuple]] = {}
        self.elements: list = []
        self.slots: list[str] = []
        self.stand_ins: list[_StandIn] = []


def _add_tendon(builder, name: str, sites: list[str], plan: _Plan):
    """The spatial tendon ``name``: the sites in order, ``plan``'s items after each."""
    tendon = builder.spec.add_tendon(name=name)
    tendon.group = TENDON_GROUP
    tendon.width = 0.003
    for k, site in enumerate(sites):
        tendon.wrap_site(site)
        for kind, item, side in plan.items.get(k, []):
            if kind == "site":
                tendon.wrap_site(item)
            else:
                tendon.wrap_geom(item, side or "")
    return tendon


def _segments(builder, muscle: Muscle, sites: list[str], wraps: dict, samples) -> dict:
    """Segment index -> [(wrap object, rank)]: where each PathWrap goes.

    A wrap goes in the segment where OpenSim wraps it in most reference poses (within its
    PathWrap ``range``); one OpenSim never applies there goes where the straight segment crosses
    the surface most often (then passes closest). Lower rank: more often wrapped there."""
    reference = samples.reference if samples is not None else None
    counts = reference.segment_counts(muscle, sites) if reference is not None else {}
    chosen: dict[int, list[tuple[str, tuple[int, float]]]] = {}
    for path_wrap in muscle.wraps:
        name = path_wrap.wrap_object
        if wraps.get(name) is None:
            continue
        first, last = path_wrap.range
        segments = [
            k
            for k in range(len(sites) - 1)
            if (first < 0 or k + 1 >= first) and (last < 0 or k + 2 <= last)
        ]
        if not segments:
            continue
        seen = counts.get(name, {})
        k = max(segments, key=lambda k: (seen.get(k, 0), -k))
        if seen.get(k, 0) > 0:
            rank = (-seen[k], 0.0)
        else:  # the segment that passes through the surface in most sampled poses (then closest)
            scores = {
                k: _segment_hits(samples, wraps[name][0], sites[k], sites[k + 1]) for k in segments
            }
            k = max(segments, key=lambda k: (scores[k][0], -scores[k][1]))
            rank = (-scores[k][0], scores[k][1])
        chosen.setdefault(k, []).append((name, rank))
    return chosen


def _wrap_plans(builder, muscle: Muscle, sites: list[str], wraps: dict, samples) -> list[_Plan]:
    """The plans worth comparing for ``muscle`` (one when nothing is in doubt).

    MuJoCo brackets every wrap geom by sites, so wraps that OpenSim applies one after the other
    in one segment need a site between them. Plans: all of them, with a split site between each
    two (:func:`_split_site`), as they are (the geometric path) and tuned, and, per such
    segment, each of its wraps alone, tuned. An ellipsoid always gets a tuned stand-in. A sphere
    or ellipsoid with a quadrant is tried with and without its side site (OpenSim wraps it only
    where the straight line crosses it, then on the allowed side; MuJoCo's side site also forces
    a wrap where the line passes on the other side). Without OpenSim only the most used wrap of
    a segment stays, and spheres and ellipsoids get no side site."""
    reference = samples.reference if samples is not None else None
    chosen = _segments(builder, muscle, sites, wraps, samples)
    shared = {k: [n for n, _ in entries] for k, entries in chosen.items() if len(entries) > 1}
    best = {k: min(entries, key=lambda e: e[1])[0] for k, entries in chosen.items()}
    if reference is None:
        plan = _Plan(muscle.name)
        for k, name in best.items():
            plan.items[k] = [_wrap_item(builder, muscle, plan, name, wraps, samples, sided=False)]
        for k, names in shared.items():
            builder.result.warnings.append(
                f"muscle '{muscle.name}': wraps {', '.join(names)} share a path segment; "
                f"only '{best[k]}' is kept"
            )
        return [plan]
    shared = {k: reference.order(muscle, sites, k, names) for k, names in shared.items()}
    splits = _Plan("", "")  # the split sites, common to the plans that use them
    between: dict[int, list[str]] | None = {}
    for k, names in shared.items():
        between[k] = []
        for a, b in zip(names, names[1:], strict=False):
            site = _split_site(builder, muscle, sites[k], sites[k + 1], a, b, samples, splits)
            if site is None:
                _discard(builder, splits)
                between = None
                break
            between[k].append(site)
        if between is None:
            break
    quadrants = any(
        builder.model.wrap_objects[n].type in _ROUND
        and _quadrant(builder.model.wrap_objects[n]) is not None
        for n in list(best.values()) + [n for names in shared.values() for n in names]
    )
    plans: list[_Plan] = []

    def new(what: str) -> _Plan:
        plan = _Plan(f"{muscle.name}~{len(plans)}", what)
        plans.append(plan)
        return plan

    for sided in (True, False) if quadrants else (True,):
        tail = "" if sided else ", spheres and ellipsoids without side sites"

        def item(plan: _Plan, name: str, tune: bool = False, sided=sided) -> tuple:
            return _wrap_item(builder, muscle, plan, name, wraps, samples, tune, sided)

        if not shared:
            plan = new("as placed" + tail)
            plan.items = {k: [item(plan, name)] for k, name in best.items()}
            continue
        for tune in (False, True) if between is not None else ():
            what = "all wraps, split sites between them" + (", tuned" if tune else "")
            plan = new(what + tail + splits.what)
            plan.elements, plan.slots = list(splits.elements), list(splits.slots)
            for k, name in best.items():
                if k not in shared:
                    plan.items[k] = [item(plan, name)]
                    continue
                items = [item(plan, shared[k][0], tune)]
                for site, b in zip(between[k], shared[k][1:], strict=True):
                    items += [("site", site, None), item(plan, b, tune)]
                plan.items[k] = items
        for k, names in shared.items():
            for alone in names:
                plan = new(f"only '{alone}', tuned" + tail)
                for j, name in best.items():
                    plan.items[j] = [item(plan, alone, True) if j == k else item(plan, name)]
    if len(plans) == 1 and not plans[0].stand_ins:
        plans[0].tendon = muscle.name
    return plans


def _wrap_item(
    builder,
    muscle: Muscle,
    plan: _Plan,
    name: str,
    wraps: dict,
    samples,
    tune: bool = False,
    sided: bool = True,
) -> tuple:
    """("geom", geom, side) for wrap object ``name`` in ``plan``: the shared geom, or a stand-in
    of the plan's own tuned later (always for an ellipsoid when OpenSim can be asked). A sphere
    or ellipsoid takes its side site only when ``sided``."""
    spec = builder.model.wrap_objects[name]
    geom, side = wraps[name]
    ellipsoid = spec.type == "WrapEllipsoid"
    if not sided and spec.type in _ROUND:
        side = None
    if (tune or ellipsoid) and samples is not None and samples.reference is not None:
        stand_in = _StandIn.add(
            builder, muscle, spec, plan.tendon, sided or spec.type not in _ROUND
        )
        samples.tuning.append(stand_in)
        plan.stand_ins.append(stand_in)
        plan.elements += [stand_in.geom] + ([stand_in.side] if stand_in.side else [])
        geom, side = stand_in.geom.name, stand_in.side.name if stand_in.side else None
    return ("geom", geom, side)


def _discard(builder, plan: _Plan, kept: _Plan | None = None) -> None:
    """Remove what was made for ``plan`` and not for ``kept``: movers, sites, geoms, slots."""
    keep = [] if kept is None else kept.elements
    for element in plan.elements:
        if not any(element is other for other in keep):
            builder.spec.delete(element)
    held = set() if kept is None else set(kept.slots)
    builder.slots[:] = [s for s in builder.slots if s.name not in set(plan.slots) - held]
    plan.elements, plan.slots = [], []


def _point_name(muscle: Muscle, site: str) -> str | None:
    for k, point in enumerate(muscle.points):
        if f"{muscle.name}-{point.name or k}" == site:
            return point.name
    return None


def _split_site(
    builder, muscle: Muscle, start: str, end: str, first: str, second: str, samples, plan: _Plan
) -> str | None:
    """A site between wraps ``first`` and ``second`` of one segment (MuJoCo brackets every wrap
    geom by sites), on OpenSim's straight path between them: then MuJoCo wraps each on its own
    and finds the same tangent points. It moves with the one coordinate relating the two wrap
    bodies (a mover tabulated from OpenSim's paths over the coordinate's range, the others at
    their defaults: a second-order length error where they matter), on the body where it moves
    least, at the point of that line nearest a point fixed on the body (kept off the line's
    ends). None when more than one coordinate relates the bodies, or OpenSim's path lacks the
    segment's points."""
    from converters.osim.functions import PiecewiseLinearFunction

    reference = samples.reference
    a, b = _point_name(muscle, start), _point_name(muscle, end)
    bodies = list(dict.fromkeys(builder.model.wrap_objects[w].body for w in (first, second)))
    coordinates = _relating_coordinates(builder, samples, bodies[0], bodies[-1])
    if a is None or b is None or len(coordinates) > 1:
        return None
    if coordinates:
        coordinate = builder.model.coordinates[coordinates[0]]
        lo, hi = max(coordinate.range[0], -2 * np.pi), min(coordinate.range[1], 2 * np.pi)
        x = np.linspace(lo, hi, SPLIT_SAMPLES)
    else:
        coordinate = builder.model.coordinates[samples.kinematics.independent_coordinates[0]]
        x = np.array([builder.defaults[coordinate.name]])

    def locate(xs: np.ndarray, anchor=None) -> dict[str, np.ndarray] | None:
        values = samples.kinematics.complete({coordinate.name: xs})
        out = {body: np.zeros((len(xs), 3)) for body in bodies}
        for i in range(len(xs)):
            reference.set_pose({c: float(v[i]) for c, v in values.items()})
            near = None if anchor is None else reference.to_ground(anchor[1], anchor[0])
            point = _free_piece_point(reference, muscle.name, a, b, first, second, near)
            if point is None:
                return None
            for body in bodies:
                out[body][i] = reference.to_frame(point, body)
        return out

    located = locate(x)
    if located is None:
        return None
    body = min(bodies, key=lambda n: float(np.sum(np.std(located[n], axis=0))))
    # Again, nearest a point fixed on that body (the first pass's median): the site then moves
    # smoothly with OpenSim's line, which a quartic in simulation follows better.
    anchor = (body, np.median(located[body], axis=0))
    located = locate(x, anchor)
    if located is None:
        return None
    locations = located[body]
    if coordinates:
        x, locations = _refine_jumps(x, locations, lambda xs: (locate(xs, anchor) or {}).get(body))
    name = f"{muscle.name}-{first}-{second}"
    default = np.array(
        [np.interp(builder.defaults[coordinate.name], x, locations[:, k]) for k in range(3)]
    )
    if not coordinates or np.ptp(locations, axis=0).max() < 1e-7:
        holder, position = builder.bodies[body], default
    else:
        moving = [
            (coordinate.name, PiecewiseLinearFunction(x, locations[:, k]))
            if np.ptp(locations[:, k]) >= 1e-7
            else None
            for k in range(3)
        ]
        spec = PathPointSpec(name, body, default, "moving", moving=moving)
        first_slot = len(builder.slots)
        holder, position = _add_mover(builder, muscle, spec, name), np.zeros(3)
        plan.elements.append(holder)
        plan.slots += [s.name for s in builder.slots[first_slot:]]
    site = holder.add_site(name=name)
    site.pos = position
    site.size = [0.003, 0, 0]
    site.group = TENDON_GROUP
    if not plan.elements or plan.elements[-1] is not holder:
        plan.elements.append(site)
    plan.what += (
        f"; the site between '{first}' and '{second}' "
        + (f"follows '{coordinates[0]}'" if coordinates else "is fixed")
        + f" on '{body}'"
    )
    return name


def _refine_jumps(x: np.ndarray, y: np.ndarray, evaluate) -> tuple[np.ndarray, np.ndarray]:
    """Bisect the table's intervals where ``y`` (n, 3) jumps (OpenSim's wrap switching on at a
    finite cylinder's end moves the path at once), so interpolation crosses each jump over a
    sliver of the range instead of a whole interval."""
    for _ in range(SPLIT_REFINEMENTS):
        steps, widths = np.linalg.norm(np.diff(y, axis=0), axis=1), np.diff(x)
        slopes = steps / widths
        neighbours = np.maximum(np.append(0, slopes[:-1]), np.append(slopes[1:], 0))
        jumps = np.flatnonzero((slopes > 3 * neighbours) & (steps > 1e-4) & (widths > 1e-5))
        if not len(jumps):
            break
        middles = 0.5 * (x[jumps] + x[jumps + 1])
        new = evaluate(middles)
        if new is None:
            break
        order = np.argsort(np.concatenate([x, middles]), kind="stable")
        x, y = np.concatenate([x, middles])[order], np.concatenate([y, new])[order]
    return x, y


def _free_piece_point(
    reference, muscle: str, a: str, b: str, first: str, second: str, anchor=None
) -> np.ndarray | None:
    """Ground position on OpenSim's current straight path from ``first``'s surface (or the
    previous point when it does not wrap) to ``second``'s: the point nearest ``anchor`` (ground;
    default the midpoint of the two centres), kept 2 mm (at most a third of the piece) off its
    ends. None when the path lacks points a and b."""
    entries = reference.entries(muscle, positions=True)
    starts = [k for k, e in enumerate(entries) if e[1] is None and e[0] == a]
    ends = [k for k, e in enumerate(entries) if e[1] is None and e[0] == b]
    if not starts or not ends or ends[0] <= starts[0]:
        return None
    segment = entries[starts[0] : ends[0] + 1]
    tags = [e[1] for e in segment]
    positions = [e[3] for e in segment]
    last_first = max((k for k, t in enumerate(tags) if t == first), default=None)
    first_second = min((k for k, t in enumerate(tags) if t == second), default=None)
    if last_first is not None and last_first + 1 < len(positions):
        p, q = positions[last_first], positions[last_first + 1]
    elif first_second is not None and first_second > 0:
        p, q = positions[first_second - 1], positions[first_second]
    else:
        p, q = positions[0], positions[-1]
    if anchor is None:
        anchor = 0.5 * (reference.center_in_ground(first) + reference.center_in_ground(second))
    d = q - p
    length = float(np.sqrt(d @ d))
    if length < 1e-9:
        return p
    margin = min(2e-3, length / 3) / length
    return p + float(np.clip((anchor - p) @ d / length**2, margin, 1 - margin)) * d


def _relating_coordinates(builder, samples, a: str, b: str) -> list[str]:
    """Independent coordinates that change the pose of body ``b`` relative to body ``a``."""
    if a == b:
        return []
    model, data, kinematics = samples.model, samples.data, samples.kinematics
    ids = [0 if n == builder.model.ground else model.body(n).id for n in (a, b)]

    def relative(name: str, value: float) -> np.ndarray:
        data.qpos[:] = kinematics.qpos({name: np.array([value])}, model.nq)[0]
        mujoco.mj_kinematics(model, data)
        (ra, rb), (pa, pb) = data.xmat[ids].reshape(2, 3, 3), data.xpos[ids]
        return np.concatenate([(ra.T @ rb).ravel(), ra.T @ (pb - pa)])

    found = []
    for name in kinematics.independent_coordinates:
        coordinate = builder.model.coordinates[name]
        lo, hi = max(coordinate.range[0], -np.pi), min(coordinate.range[1], np.pi)
        if coordinate.locked or hi <= lo:
            continue
        base = relative(name, builder.defaults[name])
        if any(np.abs(relative(name, lo + f * (hi - lo)) - base).max() > 1e-9 for f in (0.2, 0.8)):
            found.append(name)
    return found


# ------------------------------------------------------------------------------- stand-ins


_PROBE = """<mujoco><worldbody><site name="a"/><site name="b"/><site name="side"/>
<geom name="g" type="sphere" size="0.01" contype="0" conaffinity="0"/></worldbody>
<tendon><spatial name="t"><site site="a"/><geom geom="g" {side}/><site site="b"/></spatial>
</tendon></mujoco>"""


class _StandIn:
    """A plan's own sphere or cylinder for one wrap object, tuned to OpenSim's path.

    MuJoCo wraps only spheres and (infinite) cylinders. For an ellipsoid the family (a sphere, or
    a cylinder along one of its axes other than the quadrant's) is open; a cylinder may tilt and
    shift, a sphere shift. Radius and pose are fitted to OpenSim's lengths and moment arms of the
    muscle at its fit poses (:func:`_fit_poses`: the reference poses, and either side of
    OpenSim's side switches, which a sphere smears over degrees where the line passes the centre
    along an ellipsoid's long axis): each family from its natural start (the ellipsoid's mean
    radius, the mean of the two radii across the axis; the surface itself) by Nelder-Mead on
    :meth:`_Target.misfit`; the best is kept if it beats the untuned stand-in. The side site
    stays on the quadrant's side at twice the radius."""

    def __init__(self, tendon: str, muscle: str, spec: WrapObjectSpec, geom, side) -> None:
        self.tendon, self.muscle, self.spec, self.geom, self.side = tendon, muscle, spec, geom, side
        self.summary = ""

    @classmethod
    def add(
        cls, builder, muscle: Muscle, spec: WrapObjectSpec, tendon: str, sided: bool = True
    ) -> _StandIn:
        if spec.type == "WrapEllipsoid":
            kind, size, radius, pose = _ellipsoid_stand_in(builder, spec, warn=False)
            if _quadrant(spec) is not None and _side_direction(spec, pose, kind) is None:
                radius, pose = float(np.mean(spec.dimensions)), spec.pose.copy()
                kind, size = mujoco.mjtGeom.mjGEOM_SPHERE, [radius, 0, 0]
        elif spec.type == "WrapCylinder":
            kind, radius, pose = mujoco.mjtGeom.mjGEOM_CYLINDER, spec.radius, spec.pose.copy()
            size = [radius, spec.length / 2, 0]
        else:
            kind, radius, pose = mujoco.mjtGeom.mjGEOM_SPHERE, spec.radius, spec.pose.copy()
            size = [radius, 0, 0]
        name = f"{spec.name}_{tendon}"
        body = builder.bodies[spec.body]
        geom = _wrap_geom(body, name, kind, size, pose)
        side = None
        if sided and _quadrant(spec) is not None:
            side_name = _side_site(body, spec, pose, radius, kind, name=f"{name}_side")
            side = builder.spec.site(side_name) if side_name else None
        return cls(tendon, muscle.name, spec, geom, side)

    def families(self) -> list[tuple[str, int | None, np.ndarray]]:
        """(kind 'sphere' | 'axis' (an ellipsoid's) | 'tilt' (a cylinder's own, tilted), axis,
        start parameters: radius and offsets in mm, tilts in centiradians)."""
        if self.spec.type == "WrapCylinder":
            return [("tilt", 2, np.array([self.spec.radius * 1000, 0, 0, 0, 0]))]
        if self.spec.type == "WrapSphere":
            return [("sphere", None, np.array([self.spec.radius * 1000, 0, 0, 0]))]
        a = np.asarray(self.spec.dimensions, dtype=float) * 1000
        out = [
            ("centred", None, np.array([a.mean()])),
            ("sphere", None, np.array([a.mean(), 0, 0, 0])),
        ]
        quadrant = _quadrant(self.spec)
        for axis in range(3):
            if quadrant is not None and quadrant[0] == axis:
                continue  # MuJoCo could not tell the sides of a cylinder along the quadrant axis
            others = [k for k in range(3) if k != axis]
            out.append(("axis", axis, np.array([a[others].mean(), 0, 0])))
        return out

    def pose(self, family: str, axis: int | None, params: np.ndarray):
        """(radius m, centre in the body frame, rotation) of a family's parameters."""
        frame = self.spec.pose
        radius = max(float(params[0]), 0.05) / 1000
        offset, rotation = np.zeros(3), frame[:3, :3]
        if family == "sphere":
            offset[:] = params[1:4] / 1000
        elif family == "centred":
            pass
        elif family == "axis":
            offset[[k for k in range(3) if k != axis]] = params[1:3] / 1000
            rotation = frame[:3, :3] @ _axis_to_z(axis)
        else:
            offset[:2] = params[1:3] / 1000
            ax, ay = params[3:5] / 100
            tilt_x = np.array(
                [[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]]
            )
            tilt_y = np.array(
                [[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]]
            )
            rotation = frame[:3, :3] @ tilt_x @ tilt_y
        return radius, frame[:3, 3] + frame[:3, :3] @ offset, rotation

    def tune(self, model, data, target: _Target) -> None:
        from scipy.optimize import minimize

        t = model.tendon(self.tendon).id
        g = model.geom(self.geom.name).id
        wrap = next(
            j
            for j in range(model.tendon_adr[t], model.tendon_adr[t] + model.tendon_num[t])
            if model.wrap_type[j] != mujoco.mjtWrap.mjWRAP_SITE and model.wrap_objid[j] == g
        )
        sites = [model.wrap_objid[wrap - 1], model.wrap_objid[wrap + 1]]
        body = model.geom_bodyid[g]
        shape = target.qpos.shape[:2]
        ends = np.zeros((*shape, 2, 3))
        full = np.zeros(shape)
        for index in np.ndindex(shape):
            data.qpos[:] = target.qpos[index]
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
            mujoco.mj_tendon(model, data)
            full[index] = data.ten_length[t]
            rotation, origin = data.xmat[body].reshape(3, 3), data.xpos[body]
            ends[index] = (data.site_xpos[sites] - origin) @ rotation
        ends = ends.reshape(-1, 2, 3)
        probe = mujoco.MjModel.from_xml_string(
            _PROBE.format(side='sidesite="side"' if self.side is not None else "")
        )
        probe.site_sameframe[:] = 0  # positions change below: no shortcut through the body frame
        probe.geom_sameframe[:] = 0
        probe_data = mujoco.MjData(probe)
        direction = _side_direction(self.spec, self.spec.pose, None)

        def segment(cylinder: bool, radius: float, centre, rotation) -> np.ndarray:
            probe.geom_type[0] = (
                mujoco.mjtGeom.mjGEOM_CYLINDER if cylinder else mujoco.mjtGeom.mjGEOM_SPHERE
            )
            probe.wrap_type[1] = (
                mujoco.mjtWrap.mjWRAP_CYLINDER if cylinder else mujoco.mjtWrap.mjWRAP_SPHERE
            )
            probe.geom_size[0] = [radius, radius, 0]
            probe.geom_pos[0] = centre
            probe.geom_quat[0] = quat_from_matrix(rotation)
            if direction is not None:
                probe.site_pos[2] = centre + 2 * radius * direction
            out = np.zeros(len(ends))
            for i, (p, q) in enumerate(ends):
                probe.site_pos[0], probe.site_pos[1] = p, q
                mujoco.mj_kinematics(probe, probe_data)
                mujoco.mj_tendon(probe, probe_data)
                out[i] = probe_data.ten_length[0]
            return out.reshape(shape)

        rest = full - segment(
            self.geom.type == mujoco.mjtGeom.mjGEOM_CYLINDER,
            float(self.geom.size[0]),
            np.array(self.geom.pos),
            _matrix(np.array(self.geom.quat)),
        )
        untuned = target.misfit(full)
        best = (untuned, None)
        for family, axis, start in self.families():

            def objective(params, family=family, axis=axis):
                return target.misfit(
                    rest
                    + segment(family not in ("sphere", "centred"), *self.pose(family, axis, params))
                )

            simplex = np.vstack([start, start + np.diag(np.full(len(start), 0.25 * start[0]))])
            result = minimize(
                objective,
                start,
                method="Nelder-Mead",
                options={"initial_simplex": simplex, "maxfev": TUNING_EVALUATIONS, "xatol": 0.01},
            )
            if result.fun < best[0]:
                best = (float(result.fun), (family, axis, result.x))
        what, lengths = "kept untuned", full
        if best[1] is not None:
            family, axis, params = best[1]
            radius, centre, rotation = self.pose(family, axis, params)
            self._apply(
                model,
                g,
                wrap,
                family not in ("sphere", "centred"),
                radius,
                centre,
                rotation,
                direction,
            )
            lengths = rest + segment(family not in ("sphere", "centred"), radius, centre, rotation)
            shift = self.spec.pose[:3, :3].T @ (centre - self.spec.pose[:3, 3]) * 1000
            what = (
                f"sphere of radius {radius * 1000:.1f} mm"
                if family in ("sphere", "centred")
                else f"cylinder of radius {radius * 1000:.1f} mm"
                + (f" along its {'xyz'[axis]} axis" if family == "axis" else "")
                + (
                    f" tilted {np.round(params[3:5] / 100, 3).tolist()} rad"
                    if family == "tilt"
                    else ""
                )
            ) + f", centre moved {np.round(shift, 1).tolist()} mm"
        self.summary = (
            f"wrap {self.spec.type} '{self.spec.name}' for '{self.muscle}' -> {what}; tuned to "
            f"OpenSim at {target.qpos.shape[1]} poses: {target.describe(lengths)} "
            f"(untuned: {target.describe(full)})"
        )

    def _apply(self, model, g, wrap, cylinder, radius, centre, rotation, direction) -> None:
        """Write the chosen stand-in into the spec and the compiled ``model`` (used next)."""
        kind = mujoco.mjtGeom.mjGEOM_CYLINDER if cylinder else mujoco.mjtGeom.mjGEOM_SPHERE
        half = self.spec.length / 2 if self.spec.type == "WrapCylinder" else radius
        size = [radius, float(max(half, radius)), 0] if cylinder else [radius, 0, 0]
        quat = quat_from_matrix(rotation)
        self.geom.type, self.geom.size, self.geom.pos, self.geom.quat = kind, size, centre, quat
        model.geom_type[g] = kind
        model.wrap_type[wrap] = (
            mujoco.mjtWrap.mjWRAP_CYLINDER if cylinder else mujoco.mjtWrap.mjWRAP_SPHERE
        )
        model.geom_size[g], model.geom_pos[g], model.geom_quat[g] = size, centre, quat
        model.geom_sameframe[g] = 0
        if self.side is not None and direction is not None:
            self.side.pos = centre + 2 * radius * direction
            site = model.site(self.side.name).id
            model.site_pos[site] = self.side.pos
            model.site_sameframe[site] = 0


ARM_STEP = 1e-6  # coordinate nudge (rad or m) for moment arms by finite differences
SWITCH_SAMPLES = 61  # values of each spanned coordinate scanned for OpenSim's abrupt switches
SWITCH_WIDTH = 1e-4  # rad (translations: a tenth, m): how narrow a switch is bisected
SWITCH_STEP = np.radians(0.1)  # rad (m / 10): either side of a switch, where it is measured
SWITCH_JUMP = 5e-3  # m: OpenSim's moment arm jumping this much there makes a switch
SWITCH_GAP = 5e-3  # m: its length missing its first order by this much makes a glitch instead
SWITCH_OFFSETS = (0.0025, 0.01)  # rad (m / 10) either side of a switch: the poses fitted


def _switches(builder, reference, muscle: str, coordinate: str) -> list[float]:
    """Values of ``coordinate`` (the others at their defaults) where OpenSim's moment arm of
    ``muscle`` about it jumps: a wrap changing sides as the straight line sweeps over the
    surface's centre (within thousandths of a degree in OpenSim), which random reference poses
    rarely come near. Found on a scan of the coordinate's range, each narrowed by bisection to
    ``SWITCH_WIDTH`` and kept if OpenSim's moment arm differs by ``SWITCH_JUMP`` one step
    either side while its length stays continuous to first order (within ``SWITCH_GAP``:
    OpenSim's brief far-side glitches are not switches)."""
    spec = builder.model.coordinates[coordinate]
    lo, hi = max(spec.range[0], -np.pi), min(spec.range[1], np.pi)
    if spec.locked or hi <= lo:
        return []
    unit = 0.1 if spec.motion_type == "translational" else 1.0

    def evaluate(xs) -> tuple[np.ndarray, np.ndarray]:
        lengths, arms = reference.evaluate(
            muscle, {coordinate: np.asarray(xs, dtype=float)}, [coordinate]
        )
        return lengths, arms[:, 0]

    x = np.linspace(lo, hi, SWITCH_SAMPLES)
    _, arms = evaluate(x)
    found = []
    for k in np.flatnonzero(np.abs(np.diff(arms)) > SWITCH_JUMP):
        a, b, ma, mb = x[k], x[k + 1], arms[k], arms[k + 1]
        while b - a > SWITCH_WIDTH * unit:
            middle = 0.5 * (a + b)
            mm = evaluate([middle])[1][0]
            if abs(mm - ma) >= abs(mb - mm):
                b, mb = middle, mm
            else:
                a, ma = middle, mm
        step = SWITCH_STEP * unit
        (l1, l2), (m1, m2) = evaluate([a - step, b + step])
        first_order = l2 - l1 + 0.5 * (m1 + m2) * (b - a + 2 * step)
        if abs(m2 - m1) > SWITCH_JUMP and abs(first_order) < SWITCH_GAP:
            found.append(0.5 * (a + b))
    return found


def _fit_poses(builder, reference, muscle: str, coordinates: list[str]) -> tuple[dict, int]:
    """The poses a muscle's stand-ins and plans are fitted at: the reference poses, then either
    side of each of OpenSim's switches along a spanned coordinate (:func:`_switches`), where
    a stand-in's own switch must fall too. (independent coordinate -> values, extra poses)."""
    extra = []
    for coordinate in coordinates:
        spec = builder.model.coordinates[coordinate]
        unit = 0.1 if spec.motion_type == "translational" else 1.0
        for x in _switches(builder, reference, muscle, coordinate):
            for offset in SWITCH_OFFSETS:
                for value in (x - offset * unit, x + offset * unit):
                    if spec.range[0] <= value <= spec.range[1]:
                        extra.append((coordinate, value))
    poses = {}
    for name, values in reference.poses.items():
        added = [value if c == name else builder.defaults[name] for c, value in extra]
        poses[name] = np.concatenate([values, np.asarray(added, dtype=float)])
    return poses, len(extra)


class _Target:
    """OpenSim's lengths (n,) and moment arms (n, c) of one muscle at the reference poses, and
    the qpos (1 + c, n, nq) of those poses and of each nudged by ``ARM_STEP`` in one of the c
    coordinates it spans (those where OpenSim's moment arm exceeds 1 mm somewhere)."""

    def __init__(self, lengths: np.ndarray, arms: np.ndarray, qpos: np.ndarray) -> None:
        self.lengths, self.arms, self.qpos = lengths, arms, qpos

    def errors(self, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """|length error| (mm, valid poses) and |moment-arm error| (mm, all pairs) of tendon
        ``lengths`` (1 + c, n) at the poses and nudged poses."""
        valid = np.isfinite(self.lengths)
        length = np.abs(lengths[0] - self.lengths)[valid] * 1000
        arms = -(lengths[1:] - lengths[0]) / ARM_STEP
        arm = np.abs(arms.T - self.arms)[valid] * 1000
        return length, arm.ravel()

    def misfit(self, lengths: np.ndarray) -> float:
        """How far from the bars, as a soft maximum (8-norm) of the errors over their bars:
        length median over 1 mm and maximum over 5 mm, moment-arm RMS over 2 mm and maximum
        over 10 mm."""
        length, arm = self.errors(lengths)
        ratios = [np.median(length) / 1.0, length.max() / 5.0]
        if arm.size:
            ratios += [np.sqrt(np.mean(arm**2)) / 2.0, arm.max() / 10.0]
        return float(np.sum(np.asarray(ratios) ** 8) ** (1 / 8))

    def describe(self, lengths: np.ndarray) -> str:
        length, arm = self.errors(lengths)
        text = f"length error median {np.median(length):.2f} mm, max {length.max():.2f} mm"
        return text + (f", moment arm max {arm.max():.2f} mm" if arm.size else "")


def _matrix(quat: np.ndarray) -> np.ndarray:
    matrix = np.zeros(9)
    mujoco.mju_quat2Mat(matrix, quat)
    return matrix.reshape(3, 3)


def _settle(builder, samples, layouts: list) -> None:
    """Tune every stand-in to OpenSim's lengths and moment arms at the fit poses and keep,
    for each muscle with several plans, the one closest to OpenSim: ``layouts`` then holds one
    plan each. Plans with stand-ins or rivals get a provisional tendon for this, removed after."""
    trial = [
        (m, sites, plans) for m, sites, plans in layouts if len(plans) > 1 or plans[0].stand_ins
    ]
    if not trial:
        return
    reference = samples.reference
    spans = {m.name: _spanned(builder, samples, reference, m) for m, _, _ in trial}
    tendons = [_add_tendon(builder, p.tendon, sites, p) for _, sites, plans in trial for p in plans]
    model = builder.spec.compile()
    data = mujoco.MjData(model)
    kinematics = _current_kinematics(builder, model)
    targets = {}
    for muscle, _, _ in trial:
        coordinates = spans[muscle.name]
        poses, added = _fit_poses(builder, reference, muscle.name, coordinates)
        lengths, arms = (
            reference.lengths[muscle.name],
            reference.moment_arms(muscle.name, coordinates),
        )
        if added:
            tail = {c: v[-added:] for c, v in poses.items()}
            more_lengths, more_arms = reference.evaluate(muscle.name, tail, coordinates)
            lengths = np.concatenate([lengths, more_lengths])
            arms = np.concatenate([arms, more_arms])
        qpos = np.stack(
            [kinematics.qpos(poses, model.nq)]
            + [kinematics.qpos({**poses, c: poses[c] + ARM_STEP}, model.nq) for c in coordinates]
        )
        targets[muscle.name] = _Target(lengths, arms, qpos)
    for stand_in in samples.tuning:
        stand_in.tune(model, data, targets[stand_in.muscle])
    for tendon in tendons:
        builder.spec.delete(tendon)
    for k, (muscle, sites, plans) in enumerate(layouts):
        if not any(plans is other for _, _, other in trial):
            continue
        target = targets[muscle.name]
        ids = [model.tendon(p.tendon).id for p in plans]
        lengths = np.zeros((*target.qpos.shape[:2], len(ids)))
        for index in np.ndindex(target.qpos.shape[:2]):
            data.qpos[:] = target.qpos[index]
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
            mujoco.mj_tendon(model, data)
            lengths[index] = data.ten_length[ids]
        ours = [lengths[:, :, j] for j in range(len(plans))]
        scores = [target.misfit(o) for o in ours]
        best = plans[int(np.argmin(scores))]
        losers = _Plan("", "")
        for plan in plans:
            if plan is not best:
                losers.elements += [
                    e for e in plan.elements if all(e is not o for o in losers.elements)
                ]
                losers.slots += plan.slots
        _discard(builder, losers, kept=best)
        if len(plans) > 1:
            builder.result.warnings.append(
                f"muscle '{muscle.name}': of {len(plans)} ways to lay its wraps, kept {best.what} "
                f"({target.describe(ours[plans.index(best)])}); misfits: "
                + ", ".join(
                    f"{p.what.split(';')[0]} {v:.2f} [{target.describe(o)}]"
                    for p, v, o in zip(plans, scores, ours, strict=True)
                )
            )
        renamed = {}
        for stand_in in best.stand_ins:
            for element, name in (
                (stand_in.geom, f"{stand_in.spec.name}_{muscle.name}"),
                (stand_in.side, f"{stand_in.spec.name}_{muscle.name}_side"),
            ):
                if element is not None:
                    renamed[element.name], element.name = name, name
            builder.result.warnings.append(stand_in.summary)
        best.items = {
            j: [(kind, renamed.get(n, n), renamed.get(side, side)) for kind, n, side in items]
            for j, items in best.items.items()
        }
        layouts[k] = (muscle, sites, [best])


def _spanned(builder, samples, reference, muscle: Muscle) -> list[str]:
    """Independent coordinates moving the bodies of ``muscle``'s path relative to each other
    for which OpenSim's moment arm exceeds 1 mm at some reference pose."""
    bodies = list(dict.fromkeys(p.body for p in muscle.points))
    found = []
    for body in bodies[1:]:
        for name in _relating_coordinates(builder, samples, bodies[0], body):
            if name not in found:
                found.append(name)
    if not found:
        return []
    arms = reference.moment_arms(muscle.name, found)
    return [c for k, c in enumerate(found) if np.nanmax(np.abs(arms[:, k])) > 1e-3]
