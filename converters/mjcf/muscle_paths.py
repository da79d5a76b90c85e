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
* Wrap cylinders and spheres become wrap geoms, placed in the path segment that passes closest
  to them in the default pose, with a side site for OpenSim's ``quadrant``. Ellipsoids become a
  cylinder along their long axis when the other two radii are equal, else a sphere of the mean
  radius; tori are not supported (listed).
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
    for muscle in model.muscles:
        _add_tendon(builder, muscle, paths[muscle.name], wraps, samples)
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
    geom = body.add_geom(name=spec.name, type=kind)
    geom.size = size
    geom.pos = pose[:3, 3]
    geom.quat = quat_from_matrix(pose[:3, :3])
    geom.contype = geom.conaffinity = 0
    geom.group = WRAP_GROUP
    geom.rgba = [0.3, 0.8, 0.9, 0.3]
    side = _side_site(body, spec, pose, radius)
    return spec.name, side


def _ellipsoid_stand_in(builder, spec: WrapObjectSpec):
    a = np.asarray(spec.dimensions, dtype=float)
    order = np.argsort(a)
    pose = spec.pose.copy()
    if np.isclose(a[order[0]], a[order[1]]):
        axis = order[2]  # the long axis becomes the cylinder's z
        rotation = np.eye(3)[:, [(axis + 1) % 3, (axis + 2) % 3, axis]]
        pose[:3, :3] = pose[:3, :3] @ rotation
        radius = float(a[order[0]])
        builder.result.warnings.append(
            f"wrap ellipsoid '{spec.name}' {a.tolist()} -> cylinder of "
            f"radius {radius:g} along its long axis"
        )
        return mujoco.mjtGeom.mjGEOM_CYLINDER, [radius, float(a[axis]), 0], radius, pose
    radius = float(np.mean(a))
    builder.result.warnings.append(
        f"wrap ellipsoid '{spec.name}' {a.tolist()} -> sphere of radius {radius:g}"
    )
    return mujoco.mjtGeom.mjGEOM_SPHERE, [radius, 0, 0], radius, pose


def _side_site(body, spec: WrapObjectSpec, pose: np.ndarray, radius: float) -> str | None:
    """A site outside the surface on OpenSim's ``quadrant`` side ('+x', '-y', ...)."""
    quadrant = spec.quadrant.strip().lower()
    if quadrant in ("", "all"):
        return None
    sign = -1.0 if quadrant.startswith("-") else 1.0
    axis = "xyz".index(quadrant[-1])
    direction = sign * spec.pose[:3, axis]  # in the OpenSim wrap frame
    site = body.add_site(name=f"{spec.name}_side")
    site.pos = pose[:3, 3] + 2.0 * radius * direction
    site.size = [0.002, 0, 0]
    site.group = WRAP_GROUP
    return site.name


# ------------------------------------------------------------------------------------ tendons


WRAP_PLACEMENT_POSES = 48  # random poses used to choose the path segment a wrap belongs to


class _Samples:
    """World positions of sites and geoms (and geom axes) over random poses plus the default."""

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


def _add_tendon(builder, muscle: Muscle, sites: list[str], wraps: dict, samples) -> None:
    if len(sites) < 2:
        builder.result.warnings.append(f"muscle '{muscle.name}' has fewer than 2 path points")
        return
    placed: dict[int, tuple[tuple[int, float], tuple[str, str | None]]] = {}
    for path_wrap in muscle.wraps:
        wrap = wraps.get(path_wrap.wrap_object)
        if wrap is None:
            continue
        first, last = path_wrap.range
        segments = [
            k
            for k in range(len(sites) - 1)
            if (first < 0 or k + 1 >= first) and (last < 0 or k + 2 <= last)
        ]
        if not segments:
            continue
        # The segment that passes through the surface in most sampled poses (then the closest).
        scores = {k: _segment_hits(samples, wrap[0], sites[k], sites[k + 1]) for k in segments}
        k = max(segments, key=lambda k: (scores[k][0], -scores[k][1]))
        rank = (-scores[k][0], scores[k][1])
        if k not in placed or rank < placed[k][0]:
            placed[k] = (rank, wrap)
    tendon = builder.spec.add_tendon(name=muscle.name)
    tendon.group = TENDON_GROUP
    tendon.width = 0.003
    for k, site in enumerate(sites):
        tendon.wrap_site(site)
        if k in placed:
            geom, side = placed[k][1]
            tendon.wrap_geom(geom, side or "")
