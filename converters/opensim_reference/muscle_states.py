"""Muscle quantities static optimization needs, from the ``opensim`` package itself.

Per frame and muscle: the force the muscle makes at full activation with a rigid tendon
(OpenSim's ``calcInextensibleTendonActiveFiberForce(s, 1)``: F0 fl(l) fv(v) cos(alpha), the
multiplier ``use_muscle_physiology`` gives the static optimization), the muscle-tendon length and
the moment arms about every independent coordinate (-dL/dq, forward differences of OpenSim's path
lengths with dependent coordinates following their couplers). Moment arms are only computed for
the coordinates of the joints a muscle's path spans (tree path between the bodies of its points and
wrap surfaces, plus the coordinates its moving or conditional points depend on). Given the
coordinates' accelerations, the same pass also gives OpenSim's inverse dynamics (every force of the
model off: gravity and inertia only), for models without constraints.

OpenSim's own SO tool, the reference this reproduces, is run by :mod:`.tools`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converters.errors import KintwinError
from converters.mjcf.kinematic_map import KinematicMap
from converters.opensim_reference.log import opensim_log
from converters.osim.model import Muscle, OsimModel

__all__ = [
    "MuscleStates",
    "muscle_states",
    "spanned_coordinates",
]

_STEP = 1e-5  # forward-difference step of the moment arms (rad or m)


@dataclass(frozen=True)
class MuscleStates:
    """Muscle quantities over a motion.

    Attributes:
        names: the muscles, in model order.
        coordinates: the independent coordinates the moment arms are about.
        length: (n, m) muscle-tendon lengths, m.
        max_active_force: (n, m) rigid-tendon active force along the tendon at activation 1, N.
        moment_arm: (n, m, c) moment arms (-dL/dq), m (or dimensionless for translations).
        min_control, max_control: (m,) each muscle's activation bounds.
        failed: muscles whose force OpenSim could not compute at some frame (taken as 0 there).
        generalized_forces: (n, c) inverse-dynamics generalized forces about ``coordinates``
            (N·m or N) when accelerations were given, else None.
    """

    names: list[str]
    coordinates: list[str]
    length: np.ndarray
    max_active_force: np.ndarray
    moment_arm: np.ndarray
    min_control: np.ndarray
    max_control: np.ndarray
    failed: tuple[str, ...] = ()
    generalized_forces: np.ndarray | None = None


def spanned_coordinates(osim: OsimModel, muscle: Muscle) -> list[str]:
    """Coordinates whose motion can change ``muscle``'s length, in model order."""
    parent = {j.child_body: j for j in osim.joints}
    bodies = {p.body for p in muscle.points}
    bodies |= {
        osim.wrap_objects[w.wrap_object].body
        for w in muscle.wraps
        if w.wrap_object in osim.wrap_objects
    }

    def chain(body: str) -> list[str]:
        out = [body]
        while out[-1] in parent:
            out.append(parent[out[-1]].parent_body)
        return out

    chains = [chain(b) for b in sorted(bodies)]
    common = set.intersection(*(set(c) for c in chains)) if chains else set()
    found = set()
    for c in chains:
        for body in c:
            if body in common:
                break
            found.update(parent[body].coordinates)
    for point in muscle.points:
        if point.coordinate:
            found.add(point.coordinate)
        for axis in point.moving:
            if axis is not None:
                found.add(axis[0])
    return [c for c in osim.coordinates if c in found]


def muscle_states(
    model_path: str | Path,
    osim: OsimModel,
    kinematics: KinematicMap,
    values: dict[str, np.ndarray],
    speeds: dict[str, np.ndarray],
    accelerations: dict[str, np.ndarray] | None = None,
) -> MuscleStates:
    """Muscle lengths, full-activation forces and moment arms at every frame.

    ``values`` and ``speeds`` hold each independent coordinate's (n,) values (rad, m) and speeds
    (rad/s, m/s), e.g. OpenSim's filtered and splined coordinates. With ``accelerations``
    (rad/s², m/s²) also OpenSim's inverse dynamics at every frame (models without constraints).
    """
    if not osim.muscles:
        raise KintwinError(
            f"{model_path}: the model has no muscles; static optimization needs them"
        )
    independent = kinematics.independent_coordinates
    n = len(next(iter(values.values())))
    with opensim_log("off") as opensim:
        try:
            model = opensim.Model(str(model_path))
            state = model.initSystem()
        except RuntimeError as error:
            detail = next((line for line in str(error).splitlines() if "details" in line), "")
            raise KintwinError(
                f"{model_path}: OpenSim cannot build the model {detail.strip()}".rstrip()
            ) from None
        coordinate_set = model.getCoordinateSet()
        handles = {c: coordinate_set.get(c) for c in kinematics.coordinates}
        muscle_set = model.getMuscles()
        muscles = [muscle_set.get(m.name) for m in osim.muscles]
        names = [m.name for m in osim.muscles]
        spans = [spanned_coordinates(osim, m) for m in osim.muscles]
        users = {c: [i for i, s in enumerate(spans) if c in s] for c in independent}
        failed: set[str] = set()
        length = np.zeros((n, len(names)))
        force = np.zeros((n, len(names)))
        arms = np.zeros((n, len(names), len(independent)))
        dynamics = None
        if accelerations is not None:
            dynamics = _InverseDynamics(opensim, model, state, handles, independent, model_path)
        tau = np.zeros((n, len(independent)))
        full, rates = _all_coordinates(kinematics, values, speeds)
        coupled = {c.independent for c in kinematics.couplings}
        for k in range(n):
            for c, handle in handles.items():
                handle.setValue(state, full[c][k], False)
                handle.setSpeedValue(state, rates[c][k])
            model.realizeVelocity(state)
            for i, muscle in enumerate(muscles):
                length[k, i] = muscle.getLength(state)
                try:
                    force[k, i] = muscle.calcInextensibleTendonActiveFiberForce(state, 1.0)
                except RuntimeError:  # e.g. Thelen's fv inverse beyond its range: no force
                    force[k, i] = 0.0
                    failed.add(names[i])
            pose = {c: full[c][k] for c in independent}
            _moment_arms(
                model,
                state,
                handles,
                kinematics,
                pose,
                (users, coupled),
                muscles,
                length[k],
                arms[k],
            )
            if dynamics is not None:
                tau[k] = dynamics.solve(state, [float(accelerations[c][k]) for c in independent])
        bounds = np.array([[m.getMinControl(), m.getMaxControl()] for m in muscles])
    return MuscleStates(
        names=names,
        coordinates=list(independent),
        length=length,
        max_active_force=force,
        moment_arm=arms,
        min_control=bounds[:, 0],
        max_control=bounds[:, 1],
        failed=tuple(sorted(failed)),
        generalized_forces=None if dynamics is None else tau,
    )


class _InverseDynamics:
    """OpenSim's InverseDynamicsSolver with every force of the model off (muscles, actuators,
    springs: the generalized forces the actuators must supply against gravity and inertia)."""

    def __init__(self, opensim, model, state, handles, independent, model_path) -> None:
        constraints = model.getConstraintSet()
        enforced = any(constraints.get(i).isEnforced(state) for i in range(constraints.getSize()))
        if enforced or len(handles) != state.getNU():
            raise KintwinError(
                f"{model_path}: OpenSim's inverse dynamics here needs a model without "
                "constraints, one speed per coordinate"
            )
        forces = model.getForceSet()
        for i in range(forces.getSize()):
            forces.get(i).setAppliesForce(state, False)
        self.columns = []
        for c in independent:  # the mobility of each coordinate
            state.updU().setToZero()
            handles[c].setSpeedValue(state, 1.0)
            self.columns.append(int(np.argmax(np.abs(state.getU().to_numpy()))))
        self.solver = opensim.InverseDynamicsSolver(model)
        self.udot = opensim.Vector(state.getNU(), 0.0)

    def solve(self, state, accelerations: list[float]) -> np.ndarray:
        """Generalized forces about the independent coordinates at ``state`` (its values and
        speeds set) with their ``accelerations`` (in the same order)."""
        for column, a in zip(self.columns, accelerations, strict=True):
            self.udot.set(column, a)
        return self.solver.solve(state, self.udot).to_numpy()[self.columns]


def _moment_arms(
    model, state, handles, kinematics: KinematicMap, pose, who_moves, muscles, lengths, arms
) -> None:
    """Fill ``arms`` (m, c) with -dL/dq by forward differences from the ``lengths`` at ``pose``;
    ``who_moves`` is (the muscles each coordinate moves, the coordinates with coupled
    dependents, which move them too)."""
    users, coupled = who_moves
    base = lengths.tolist()
    for column, (c, who) in enumerate(users.items()):
        if not who:
            continue
        if c in coupled:
            _set_state(state, handles, kinematics, dict(pose, **{c: pose[c] + _STEP}), None)
        else:
            handles[c].setValue(state, pose[c] + _STEP, False)
        model.realizePosition(state)
        for i in who:
            arms[i, column] = (base[i] - muscles[i].getLength(state)) / _STEP
        if c in coupled:
            _set_state(state, handles, kinematics, pose, None)
        else:
            handles[c].setValue(state, pose[c], False)


def _all_coordinates(
    kinematics: KinematicMap, values: dict[str, np.ndarray], speeds: dict[str, np.ndarray]
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Every coordinate's values and speeds at every frame (dependent ones through their
    couplers, others absent from ``values`` at their defaults and at rest), as Python floats."""
    full = kinematics.complete(values)
    n = len(next(iter(full.values())))
    rates = {c: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for c, v in speeds.items()}
    for coupling in kinematics.couplings:
        slope = coupling.function.derivative(full[coupling.independent], 1)
        rates[coupling.dependent] = slope * rates[coupling.independent]
    zero = np.zeros(n)
    as_lists = {c: np.broadcast_to(v, (n,)).tolist() for c, v in full.items()}
    return as_lists, {c: rates.get(c, zero).tolist() for c in full}


def _set_state(state, handles, kinematics: KinematicMap, pose, rates) -> None:
    """Every coordinate's value (and speed, unless ``rates`` is None) from the independent ones."""
    full = kinematics.complete({c: np.asarray(v) for c, v in pose.items()})
    speeds = None
    if rates is not None:
        speeds = dict(rates)
        for coupling in kinematics.couplings:
            slope = float(coupling.function.derivative(full[coupling.independent], 1))
            speeds[coupling.dependent] = slope * speeds[coupling.independent]
    for name, handle in handles.items():
        handle.setValue(state, float(full[name]), False)
        if speeds is not None:
            handle.setSpeedValue(state, float(speeds.get(name, 0.0)))
