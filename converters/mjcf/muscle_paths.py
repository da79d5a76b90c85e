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

from converters.mjcf.muscle_actuator import add_muscle_actuators
from converters.mjcf.path_points import TENDON_GROUP, add_conditional_movers, add_points
from converters.mjcf.wrap_fit import settle
from converters.mjcf.wrap_geoms import WRAP_GROUP, add_wrap_geom
from converters.mjcf.wrap_layout import add_tendon, wrap_plans
from converters.mjcf.wrap_reference import Samples

__all__ = ["add_muscle_paths", "WRAP_GROUP", "TENDON_GROUP"]


def add_muscle_paths(builder) -> None:
    """Sites, movers, wrap geoms and a spatial tendon for every muscle of ``builder.model``."""
    model = builder.model
    if not model.muscles:
        return
    wraps = {
        name: add_wrap_geom(builder, spec)
        for name, spec in model.wrap_objects.items()
        if spec.active
    }
    paths = {m.name: add_points(builder, m) for m in model.muscles}
    add_conditional_movers(builder, paths)
    samples = Samples(builder) if any(m.wraps for m in model.muscles) else None
    layouts = []
    for muscle in model.muscles:
        sites = paths[muscle.name]
        if len(sites) < 2:
            builder.result.warnings.append(f"muscle '{muscle.name}' has fewer than 2 path points")
            continue
        layouts.append((muscle, sites, wrap_plans(builder, muscle, sites, wraps, samples)))
    settle(builder, samples, layouts)
    for muscle, sites, plans in layouts:
        add_tendon(builder, muscle.name, sites, plans[0])
    if builder.options.muscle_actuators:
        add_muscle_actuators(builder)
