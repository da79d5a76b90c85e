"""MuJoCo muscle actuators that keep an OpenSim muscle's physiology: each muscle's tendon gets
a MuJoCo muscle (:mod:`converters.mjcf.muscle_curves`) whose shapes are fitted to OpenSim's own
isometric equilibrium (:mod:`converters.mjcf.muscle_fit`), asked of OpenSim through
:class:`converters.mjcf.reference.OpenSimQueries`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace

import mujoco
import numpy as np

from converters.errors import KintwinError, UnknownNameError
from converters.mjcf.muscle_curves import ActuatorParams
from converters.mjcf.muscle_fit import FitBounds, mujoco_actuator_parameters, sample_poses
from converters.mjcf.reference import OpenSimQueries
from converters.osim.model import OsimModel

__all__ = ["add_muscle_actuator", "fit_muscles", "add_muscle_actuators"]


def add_muscle_actuator(spec: mujoco.MjSpec, params: ActuatorParams, tendon: str | None = None):
    """Add the muscle actuator driving ``tendon`` (default: the tendon named as the muscle) to
    ``spec``, and the tendon spring when ``params`` has one. Returns the new ``mjsActuator``."""
    target = tendon or params.name
    found = spec.tendon(target)
    if found is None:
        raise UnknownNameError("tendon", target, [t.name for t in spec.tendons], params.name)
    actuator = spec.add_actuator(
        name=params.name, target=target, trntype=mujoco.mjtTrn.mjTRN_TENDON
    )
    actuator.dyntype = mujoco.mjtDyn(params.dyntype)
    actuator.gaintype = mujoco.mjtGain(params.gaintype)
    actuator.biastype = mujoco.mjtBias(params.biastype)
    actuator.dynprm = params.dynprm
    actuator.gainprm = params.gainprm
    actuator.biasprm = params.biasprm
    actuator.lengthrange = list(params.lengthrange)
    actuator.ctrlrange = list(params.ctrlrange)
    actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    actuator.damping = [params.damping, 0.0, 0.0]
    if params.tendon_springlength is not None:
        found.stiffness = list(params.tendon_stiffness)
        found.springlength = list(params.tendon_springlength)
    return actuator


def fit_muscles(
    opensim: OpenSimQueries,
    model: OsimModel,
    poses: Sequence[Mapping[str, float]] | None = None,
    bounds: FitBounds | None = None,
    length_ranges: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, ActuatorParams]:
    """Actuator parameters of every muscle of ``model``, fitted to OpenSim's isometric
    equilibrium (asked of ``opensim``, the same model file) at ``poses`` (default
    :func:`~converters.mjcf.muscle_fit.sample_poses`).

    ``length_ranges`` (muscle -> (min, max) MTU length, m, e.g. the MuJoCo tendons' ranges)
    anchors each actuator's normalisation; default: the range OpenSim reached at ``poses``.
    """
    poses = list(poses) if poses is not None else sample_poses(model)
    names = [m.name for m in model.muscles]
    references = opensim.isometric(poses, names) if names else {}
    length_ranges = length_ranges or {}
    return {
        m.name: mujoco_actuator_parameters(m, length_ranges.get(m.name), references[m.name], bounds)
        for m in model.muscles
    }


def add_muscle_actuators(builder) -> None:
    """A MuJoCo muscle on each muscle tendon of ``builder``'s spec, fitted to OpenSim's own muscle
    (asked of ``builder.opensim``); unfitted, with a warning, when OpenSim cannot be asked."""
    tendons = {t.name for t in builder.spec.tendons}
    muscles = [m for m in builder.model.muscles if m.name in tendons]
    if not muscles:
        return
    unfitted = "actuators use OpenSim's parameters without fitting"
    if builder.opensim is None:
        builder.result.warnings.append(f"no OpenSim reference given: {unfitted}")
        params = {m.name: mujoco_actuator_parameters(m, None) for m in muscles}
    else:
        try:
            params = fit_muscles(builder.opensim, replace(builder.model, muscles=muscles))
        except (RuntimeError, KintwinError) as error:  # OpenSim could not build the muscles
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            builder.result.warnings.append(
                f"OpenSim could not evaluate the muscles ({first}); {unfitted}"
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
