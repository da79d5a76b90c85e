"""Where each wrap goes in a muscle's MuJoCo path, and the rival layouts (plans) to compare.

MuJoCo wraps only spheres and infinite cylinders, one geom between two sites, so OpenSim's own
paths at stratified reference poses (lengths, moment arms, which wraps it applies in which
segment and order) decide the layout: each wrap goes in the segment where OpenSim applies it;
wraps OpenSim applies one after the other in one segment get a split site between them (on a
mover tabulated over the coordinate relating their bodies, on OpenSim's straight path between
them). Where MuJoCo's rules differ from OpenSim's, rival plans - with and without side sites,
split or one tuned surface - are made here and compared by :mod:`converters.mjcf.wrap_fit`.
"""

from __future__ import annotations

import mujoco
import numpy as np

from converters.mjcf.path_points import TENDON_GROUP, add_mover
from converters.mjcf.stand_ins import StandIn
from converters.mjcf.wrap_geoms import ROUND_WRAPS, quadrant_of
from converters.mjcf.wrap_reference import segment_hits
from converters.osim.functions import PiecewiseLinearFunction
from converters.osim.model import Muscle, PathPointSpec

__all__ = [
    "SPLIT_SAMPLES",
    "SPLIT_REFINEMENTS",
    "Plan",
    "add_tendon",
    "wrap_plans",
    "discard",
    "refine_jumps",
    "relating_coordinates",
]

SPLIT_SAMPLES = 121  # coordinate values tabulating a split site between two wraps
SPLIT_REFINEMENTS = 14  # bisections of an interval where the split site jumps


class Plan:
    """One way to lay a muscle's wraps into its path: tendon name, per segment the items that
    follow the segment's first site, what it is, and the spec elements and joint slots made
    for it alone (removed if another plan is kept)."""

    def __init__(self, tendon: str, what: str = "") -> None:
        self.tendon, self.what = tendon, what
        self.items: dict[int, list[tuple]] = {}
        self.elements: list = []
        self.slots: list[str] = []
        self.stand_ins: list[StandIn] = []


def add_tendon(builder, name: str, sites: list[str], plan: Plan):
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
                k: segment_hits(samples, wraps[name][0], sites[k], sites[k + 1]) for k in segments
            }
            k = max(segments, key=lambda k: (scores[k][0], -scores[k][1]))
            rank = (-scores[k][0], scores[k][1])
        chosen.setdefault(k, []).append((name, rank))
    return chosen


def wrap_plans(builder, muscle: Muscle, sites: list[str], wraps: dict, samples) -> list[Plan]:
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
        plan = Plan(muscle.name)
        for k, name in best.items():
            plan.items[k] = [_wrap_item(builder, muscle, plan, name, wraps, samples, sided=False)]
        for k, names in shared.items():
            builder.result.warnings.append(
                f"muscle '{muscle.name}': wraps {', '.join(names)} share a path segment; "
                f"only '{best[k]}' is kept"
            )
        return [plan]
    shared = {k: reference.order(muscle, sites, k, names) for k, names in shared.items()}
    splits = Plan("", "")  # the split sites, common to the plans that use them
    between: dict[int, list[str]] | None = {}
    for k, names in shared.items():
        between[k] = []
        for a, b in zip(names, names[1:], strict=False):
            site = _split_site(builder, muscle, sites[k], sites[k + 1], a, b, samples, splits)
            if site is None:
                discard(builder, splits)
                between = None
                break
            between[k].append(site)
        if between is None:
            break
    quadrants = any(
        builder.model.wrap_objects[n].type in ROUND_WRAPS
        and quadrant_of(builder.model.wrap_objects[n]) is not None
        for n in list(best.values()) + [n for names in shared.values() for n in names]
    )
    plans: list[Plan] = []

    def new(what: str) -> Plan:
        plan = Plan(f"{muscle.name}~{len(plans)}", what)
        plans.append(plan)
        return plan

    for sided in (True, False) if quadrants else (True,):
        tail = "" if sided else ", spheres and ellipsoids without side sites"

        def item(plan: Plan, name: str, tune: bool = False, sided=sided) -> tuple:
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
    plan: Plan,
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
    if not sided and spec.type in ROUND_WRAPS:
        side = None
    if (tune or ellipsoid) and samples is not None and samples.reference is not None:
        stand_in = StandIn.add(
            builder, muscle, spec, plan.tendon, sided or spec.type not in ROUND_WRAPS
        )
        samples.tuning.append(stand_in)
        plan.stand_ins.append(stand_in)
        plan.elements += [stand_in.geom] + ([stand_in.side] if stand_in.side else [])
        geom, side = stand_in.geom.name, stand_in.side.name if stand_in.side else None
    return ("geom", geom, side)


def discard(builder, plan: Plan, kept: Plan | None = None) -> None:
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
    builder, muscle: Muscle, start: str, end: str, first: str, second: str, samples, plan: Plan
) -> str | None:
    """A site between wraps ``first`` and ``second`` of one segment (MuJoCo brackets every wrap
    geom by sites), on OpenSim's straight path between them: then MuJoCo wraps each on its own
    and finds the same tangent points. It moves with the one coordinate relating the two wrap
    bodies (a mover tabulated from OpenSim's paths over the coordinate's range, the others at
    their defaults: a second-order length error where they matter), on the body where it moves
    least, at the point of that line nearest a point fixed on the body (kept off the line's
    ends). None when more than one coordinate relates the bodies, or OpenSim's path lacks the
    segment's points."""
    reference = samples.reference
    a, b = _point_name(muscle, start), _point_name(muscle, end)
    bodies = list(dict.fromkeys(builder.model.wrap_objects[w].body for w in (first, second)))
    coordinates = relating_coordinates(builder, samples, bodies[0], bodies[-1])
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
        x, locations = refine_jumps(x, locations, lambda xs: (locate(xs, anchor) or {}).get(body))
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
        holder, position = add_mover(builder, muscle, spec, name), np.zeros(3)
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


def refine_jumps(x: np.ndarray, y: np.ndarray, evaluate) -> tuple[np.ndarray, np.ndarray]:
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


def relating_coordinates(builder, samples, a: str, b: str) -> list[str]:
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
