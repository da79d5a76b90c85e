"""Muscle path points -> MuJoCo sites: fixed points on their bodies, moving points on massless
movers driven by slides, conditional points as movers tabulated over their coordinate.

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
"""

from __future__ import annotations

import mujoco
import numpy as np

from converters.mjcf.kinematic_map import JointSlot, KinematicMap
from converters.osim.functions import PiecewiseLinearFunction
from converters.osim.model import Muscle, PathPointSpec
from converters.spatial import quat_from_matrix

__all__ = [
    "TENDON_GROUP",
    "CONDITIONAL_SAMPLES",
    "add_points",
    "add_conditional_movers",
    "add_mover",
    "current_kinematics",
]

TENDON_GROUP = 0
_MOVER_MASS = 1e-12  # kg: MuJoCo needs a positive mass on a body with joints
CONDITIONAL_SAMPLES = 241  # points tabulating a conditional point's location over its coordinate


def add_points(builder, muscle: Muscle) -> list[str | PathPointSpec]:
    """Site names along the muscle's path; conditional points stay as their specs for now."""
    sites: list[str | PathPointSpec] = []
    for k, point in enumerate(muscle.points):
        name = f"{muscle.name}-{point.name or k}"
        if point.kind == "conditional":
            sites.append(point)
            continue
        if point.kind == "moving":
            body, position = add_mover(builder, muscle, point, name), np.zeros(3)
        else:
            body, position = builder.bodies[point.body], point.location
        site = body.add_site(name=name)
        site.pos = position
        site.size = [0.004, 0, 0]
        site.group = TENDON_GROUP
        sites.append(name)
    return sites


def add_conditional_movers(builder, paths: dict[str, list]) -> None:
    """Replace each conditional point in ``paths`` by the site of a mover tabulated as above."""
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
    kinematics = current_kinematics(builder, model)
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
        body = add_mover(builder, muscles[muscle], mover, name)
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


def current_kinematics(builder, model):
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


def add_mover(builder, muscle: Muscle, point: PathPointSpec, name: str):
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
