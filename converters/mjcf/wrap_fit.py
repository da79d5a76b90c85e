"""The wrap layout fitted to OpenSim: the fit poses (reference poses plus either side of
OpenSim's side switches), every stand-in tuned there, and for each muscle the plan closest to
OpenSim kept."""

from __future__ import annotations

import mujoco
import numpy as np

from converters.mjcf.path_points import current_kinematics
from converters.mjcf.stand_ins import ARM_STEP, Target
from converters.mjcf.wrap_layout import Plan, add_tendon, discard, relating_coordinates
from converters.osim.model import Muscle

__all__ = ["SWITCH_SAMPLES", "settle"]

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


def settle(builder, samples, layouts: list) -> None:
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
    tendons = [add_tendon(builder, p.tendon, sites, p) for _, sites, plans in trial for p in plans]
    model = builder.spec.compile()
    data = mujoco.MjData(model)
    kinematics = current_kinematics(builder, model)
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
        targets[muscle.name] = Target(lengths, arms, qpos)
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
        losers = Plan("", "")
        for plan in plans:
            if plan is not best:
                losers.elements += [
                    e for e in plan.elements if all(e is not o for o in losers.elements)
                ]
                losers.slots += plan.slots
        discard(builder, losers, kept=best)
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
        for name in relating_coordinates(builder, samples, bodies[0], body):
            if name not in found:
                found.append(name)
    if not found:
        return []
    arms = reference.moment_arms(muscle.name, found)
    return [c for k, c in enumerate(found) if np.nanmax(np.abs(arms[:, k])) > 1e-3]
