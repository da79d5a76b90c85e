"""MuJoCo muscle shapes fitted to an OpenSim muscle's isometric equilibrium.

With a rigid tendon and OpenSim's constant-thickness pennation (fiber length ``l`` with
``l sin(alpha) = l_opt sin(alpha0)``), ``dL_mtu/dl~ = l_opt / cos(alpha)``: the physiological
mapping onto MuJoCo's muscle (:mod:`converters.mjcf.muscle_curves`) is ``L0 = l_opt /
cos(alpha0)``, optimum at ``l_ts + l_opt cos(alpha0)``, and ``vmax`` in those units keeps OpenSim's
max contraction velocity.

OpenSim's muscles have compliant tendons and curves that are not MuJoCo's, so the shapes are fitted
by bounded least squares to OpenSim's own isometric equilibrium (:class:`MuscleReference`, from
:func:`converters.opensim_reference.muscles.isometric_equilibrium`), with the implied optimal fiber
length ``L0 cos(alpha0)`` kept within :attr:`FitBounds.optimal_length` of OpenSim's and the
optimum's MTU length within :attr:`FitBounds.slack_shift` optimal fiber lengths of [rigid tendon,
tendon at its strain under max isometric force]. Where MuJoCo's passive shape cannot follow
OpenSim's exponential (RMSE above :attr:`FitBounds.spring_threshold`), the muscle's tendon also
gets a cubic spring beyond a dead band (MuJoCo's polynomial tendon ``stiffness`` with
``springlength = (0, start)``). OpenSim's fiber damping goes on the actuator's ``damping`` (MuJoCo
applies it along the tendon).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import mujoco
import numpy as np

from converters.mjcf.muscle_curves import (
    gain_length,
    gain_velocity,
    passive_curve,
    polynomial_spring,
    tendon_force,
)
from converters.mjcf.muscle_params import ActuatorParams, FitReport
from converters.mjcf.reference import MuscleReference
from converters.osim.model import Muscle, OsimModel

__all__ = [
    "MuscleReference",
    "FitBounds",
    "sample_poses",
    "mujoco_actuator_parameters",
]

_TENDON_STRAIN = {  # tendon strain at max isometric force: (XML property, curve, default)
    "Millard2012EquilibriumMuscle": ("strain_at_one_norm_force", "TendonForceLengthCurve", 0.049),
    "DeGrooteFregly2016Muscle": ("tendon_strain_at_one_norm_force", None, 0.049),
    "Thelen2003Muscle": ("FmaxTendonStrain", None, 0.04),
}
_DAMPING_DEFAULT = {"Millard2012EquilibriumMuscle": 0.1, "DeGrooteFregly2016Muscle": 0.0}


@dataclass(frozen=True)
class FitBounds:
    """How far a fit may move from OpenSim's physiology. Normalized lengths are fiber lengths over
    the optimal fiber length (MTU length / ``L0``, ``L0 = l_opt / cos(alpha0)``).

    Attributes:
        optimal_length: implied optimal fiber length ``L0 cos(alpha0)`` within this fraction of
            OpenSim's ``optimal_fiber_length``.
        slack_shift: the active optimum's MTU length may leave [rigid tendon, tendon stretched to
            its strain at max isometric force] by this many optimal fiber lengths.
        force: MuJoCo's active ``force`` between ``force[0] * cos(alpha0) * Fmax`` and
            ``force[1] * Fmax`` (the pennation factor is folded into it).
        lmin, lmax: MuJoCo's normalized ends of the active force-length curve.
        passive_onset: where the passive force starts, normalized, relative to the rigid-tendon
            optimum (OpenSim's curves start near 0 and rise exponentially).
        passive_lmax: ``lmax`` of the passive curve (it is quadratic up to ``(1 + lmax) / 2``).
        fpmax: the passive curve's ``fpmax`` (force at ``(1 + lmax) / 2`` is ``fpmax / 2`` Fmax).
        fvmax: MuJoCo's eccentric force-velocity plateau.
        spring_threshold: passive RMSE (% Fmax) of MuJoCo's own passive curve above which the
            tendon spring is added; ``math.inf`` never adds it.
        spring_onset: where the spring starts, normalized, beyond the passive onset.
        spring_coefficient: upper bound of each spring coefficient, Fmax per normalized length^n.
    """

    optimal_length: float = 0.2
    slack_shift: float = 0.2
    force: tuple[float, float] = (0.8, 1.0)
    lmin: tuple[float, float] = (-1.0, 0.95)
    lmax: tuple[float, float] = (1.05, 3.0)
    passive_onset: tuple[float, float] = (-0.3, 0.6)
    passive_lmax: tuple[float, float] = (1.05, 6.0)
    fpmax: tuple[float, float] = (1e-6, 20.0)
    fvmax: tuple[float, float] = (1.0, 2.0)
    spring_threshold: float = 2.5
    spring_onset: tuple[float, float] = (0.0, 2.0)
    spring_coefficient: float = 1e4


@dataclass(frozen=True)
class _Shape:
    """A MuJoCo muscle in physical terms. Active: MTU length at the optimum (m), ``width`` = L0
    (m of MTU per normalized length), lmin, lmax, ``force`` (N). Passive: MTU length where it
    starts (m), its L0 (m), lmax, fpmax (per Fmax); tendon spring from MTU length
    ``spring_start`` (m, inf: none) with coefficients ``spring`` (Fmax per normalized length^n,
    n = 1..3, in the passive's normalisation). ``fvmax``: eccentric plateau."""

    mtu_optimal: float
    width: float
    lmin: float
    lmax: float
    force: float
    passive_onset: float
    passive_width: float
    passive_lmax: float
    fpmax: float
    fvmax: float
    spring_start: float = math.inf
    spring: tuple[float, float, float] = (0.0, 0.0, 0.0)


# ----------------------------------------------------------------------------- poses


def sample_poses(model: OsimModel, count: int = 60, seed: int = 0) -> list[dict[str, float]]:
    """``count`` poses (coordinate name -> value, rad or m) uniform over the ranges of the
    independent, unlocked coordinates, each range clipped to +-pi; the first is the default pose."""
    dependent = {c.dependent for c in model.couplers}
    free = [
        c
        for c in model.coordinates.values()
        if not c.locked and c.name not in dependent and c.motion_type != "coupled"
    ]
    rng = np.random.default_rng(seed)
    poses = [{c.name: float(c.default_value) for c in free}]
    for _ in range(count - 1):
        poses.append(
            {
                c.name: float(rng.uniform(max(c.range[0], -math.pi), min(c.range[1], math.pi)))
                for c in free
            }
        )
    return poses


# ----------------------------------------------------------------------------- fitting


def mujoco_actuator_parameters(
    muscle: Muscle,
    length_range: tuple[float, float] | None,
    reference: MuscleReference | tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    bounds: FitBounds | None = None,
) -> ActuatorParams:
    """MuJoCo muscle actuator parameters for ``muscle``.

    Args:
        muscle: the parsed OpenSim muscle (SI units).
        length_range: (min, max) MTU length of the muscle's tendon over its motion, m; it anchors
            MuJoCo's normalisation (any range gives the same forces). None: the reference's range,
            else normalized lengths 0.5..1.5.
        reference: OpenSim's isometric curves (:class:`MuscleReference` or (lengths, active,
            passive)); None gives the physiological rigid-tendon mapping, unfitted.
        bounds: how far the fit may leave OpenSim's physiology.
    """
    bounds = bounds or FitBounds()
    start = _physiological_shape(muscle)
    reference = _valid(reference)
    shape, edges, builtin = start, (), math.nan
    if reference is not None:
        shape, edges, builtin = _fitpassive_curve(muscle, reference, start, bounds)
        shape, active_edges = _fit_active(muscle, reference, shape, bounds)
        shape = _fit_velocity(shape, reference, bounds)
        edges += active_edges
    if length_range is None and reference is not None:
        length_range = (float(reference.lengths.min()), float(reference.lengths.max()))
    elif length_range is None:
        length_range = (
            start.mtu_optimal - 0.5 * start.width,
            start.mtu_optimal + 0.5 * start.width,
        )
    lo, hi = (float(v) for v in length_range)
    if hi - lo < 1e-6:
        lo, hi = lo - 1e-3, hi + 1e-3
    params = _assemble(muscle, shape, (lo, hi))
    report = _report(muscle, params, shape, start, reference, edges, builtin)
    return replace(params, fit_report=report)


def _valid(reference) -> MuscleReference | None:
    """The reference without its NaN samples; None if fewer than 3 remain."""
    if reference is None:
        return None
    reference = MuscleReference(*(np.asarray(v, dtype=float) for v in reference))
    keep = np.isfinite(reference.lengths + reference.active + reference.passive)
    if keep.sum() < 3:
        return None
    return reference._replace(
        lengths=reference.lengths[keep],
        active=reference.active[keep],
        passive=reference.passive[keep],
    )


def _number(muscle: Muscle, curve: str | None, prop: str, default: float) -> float:
    """A scalar of the muscle element (``curve`` None) or of one of its curve elements."""
    text = (muscle.curves.get(curve, {}) if curve else muscle.properties).get(prop, "")
    return float(text) if text else default


def _tendon_strain(muscle: Muscle) -> float:
    """Tendon strain at max isometric force; 0 for a rigid tendon."""
    ignore = muscle.properties.get("ignore_tendon_compliance", "false").strip().lower()
    if ignore == "true" or "Rigid" in muscle.type:
        return 0.0
    prop, curve, default = _TENDON_STRAIN.get(muscle.type, ("", None, 0.04))
    return _number(muscle, curve, prop, default) if prop else default


def _physiological_shape(muscle: Muscle) -> _Shape:
    """Rigid-tendon mapping of OpenSim's parameters; shapes from the muscle's curve parameters
    (Thelen's Gaussian matched at half maximum; passive through Fmax at its strain there)."""
    cos0 = math.cos(muscle.pennation_angle)
    if muscle.type == "Thelen2003Muscle":
        half = 2.0 * math.sqrt(_number(muscle, None, "KshapeActive", 0.45) * math.log(2))
        lmin, lmax = 1.0 - half, 1.0 + half
        strain = _number(muscle, None, "FmaxMuscleStrain", 0.6)
    else:
        afl = "ActiveForceLengthCurve"
        lmin = _number(muscle, afl, "min_norm_active_fiber_length", 0.4441)
        lmax = _number(muscle, afl, "max_norm_active_fiber_length", 1.8123)
        strain = _number(muscle, "FiberForceLengthCurve", "strain_at_one_norm_force", 0.7)
        strain = _number(muscle, None, "passive_fiber_strain_at_one_norm_force", strain)
    strain = max(strain, 0.05)  # passive force reaches Fmax at 1 + strain
    fvmax = _number(muscle, None, "Flen", 1.4)
    mtu_optimal = muscle.tendon_slack_length + muscle.optimal_fiber_length * cos0
    width = muscle.optimal_fiber_length / cos0
    return _Shape(
        mtu_optimal=mtu_optimal,
        width=width,
        lmin=lmin,
        lmax=lmax,
        force=muscle.max_isometric_force * cos0,
        passive_onset=mtu_optimal,
        passive_width=width,
        passive_lmax=lmax,
        fpmax=1.0 / float(passive_curve(np.array(1.0 + strain), lmax, 1.0)),
        fvmax=_number(
            muscle, "ForceVelocityCurve", "max_eccentric_velocity_force_multiplier", fvmax
        ),
    )


def _shape_curves(shape: _Shape, fmax: float, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Isometric tendon force of ``shape`` at full activation and passive, N."""
    L = 1.0 + (lengths - shape.mtu_optimal) / shape.width
    L_passive = 1.0 + (lengths - shape.passive_onset) / shape.passive_width
    spring = polynomial_spring((lengths - shape.spring_start) / shape.passive_width, shape.spring)
    passive = fmax * (passive_curve(L_passive, shape.passive_lmax, shape.fpmax) + spring)
    return shape.force * gain_length(L, shape.lmin, shape.lmax) + passive, passive


def _least_squares(
    residual, starts: list, lower: list[float], upper: list[float], names: tuple[str, ...]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Bounded least squares from the ``_STARTS`` best of ``starts``; the solution and the
    names of the parameters that ended on a bound."""
    from scipy.optimize import least_squares  # imported when fitting: converting without is quicker

    points = [np.clip(np.asarray(x, dtype=float), lower, upper) for x in starts]
    points.sort(key=lambda x: float(np.sum(residual(x) ** 2)))
    runs = [least_squares(residual, x, bounds=(lower, upper)) for x in points[:_STARTS]]
    best = min(runs, key=lambda run: run.cost)
    edges = tuple(
        name
        for name, x, lo, hi in zip(names, best.x, lower, upper, strict=True)
        if min(x - lo, hi - x) <= 1e-6 * max(1.0, hi - lo)
    )
    return best.x, edges


def _fitpassive_curve(
    muscle: Muscle, reference: MuscleReference, start: _Shape, bounds: FitBounds
) -> tuple[_Shape, tuple[str, ...], float]:
    """Fit MuJoCo's passive curve (onset, lmax, fpmax) to OpenSim's passive force, and add the
    tendon spring when that is not enough. Returns the shape, the parameters on bounds and the
    passive RMSE of MuJoCo's own curve (% Fmax)."""
    fmax = muscle.max_isometric_force

    def decode(x: np.ndarray) -> _Shape:
        onset = start.mtu_optimal + x[0] * start.width
        return replace(start, passive_onset=onset, passive_lmax=x[1], fpmax=x[2])

    def residual(x: np.ndarray) -> np.ndarray:
        return (_shape_curves(decode(x), fmax, reference.lengths)[1] - reference.passive) / fmax

    lower = [bounds.passive_onset[0], bounds.passive_lmax[0], bounds.fpmax[0]]
    upper = [bounds.passive_onset[1], bounds.passive_lmax[1], bounds.fpmax[1]]
    starts = [[onset, lmax, start.fpmax] for onset in (0.0, 0.2, 0.4) for lmax in (1.6, 3.0)]
    x, edges = _least_squares(residual, starts, lower, upper, _PASSIVE_NAMES)
    builtin = 100.0 * float(np.sqrt(np.mean(residual(x) ** 2)))
    if builtin <= bounds.spring_threshold:
        return decode(x), edges, builtin
    shape, spring_edges = _fitpolynomial_spring(muscle, reference, start, bounds)
    return shape, spring_edges, builtin


def _fitpolynomial_spring(
    muscle: Muscle, reference: MuscleReference, start: _Shape, bounds: FitBounds
) -> tuple[_Shape, tuple[str, ...]]:
    """Fit MuJoCo's passive curve plus a cubic tendon spring to OpenSim's passive force: a grid
    over the onsets and lmax with the four linear coefficients by non-negative least squares,
    then bounded least squares over all seven from the best grid point."""
    from scipy.optimize import nnls

    fmax, width = muscle.max_isometric_force, start.width
    target = reference.passive / fmax

    def decode(x: np.ndarray) -> _Shape:
        onset = start.mtu_optimal + x[0] * width
        return replace(
            start,
            passive_onset=onset,
            passive_lmax=x[1],
            fpmax=x[2],
            spring_start=onset + x[3] * width,
            spring=tuple(x[4:7]),
        )

    def residual(x: np.ndarray) -> np.ndarray:
        return _shape_curves(decode(x), fmax, reference.lengths)[1] / fmax - target

    best = (math.inf, None)
    for onset in np.linspace(*bounds.passive_onset, 10):
        L = 1.0 + (reference.lengths - start.mtu_optimal) / width - onset
        for lmax in np.linspace(1.2, bounds.passive_lmax[1], 10):
            quadratic = passive_curve(L, lmax, 1.0)
            for spring in np.linspace(*bounds.spring_onset, 16):
                stretch = np.maximum(L - 1.0 - spring, 0.0)
                basis = np.stack([quadratic, stretch, stretch**2, stretch**3], axis=1)
                coefficients, error = nnls(basis, target)
                if error < best[0]:
                    best = (error, [onset, lmax, coefficients[0], spring, *coefficients[1:]])
    lower = [
        bounds.passive_onset[0],
        bounds.passive_lmax[0],
        bounds.fpmax[0],
        bounds.spring_onset[0],
        0.0,
        0.0,
        0.0,
    ]
    upper = [
        bounds.passive_onset[1],
        bounds.passive_lmax[1],
        bounds.fpmax[1],
        bounds.spring_onset[1],
        *(bounds.spring_coefficient,) * 3,
    ]
    names = (*_PASSIVE_NAMES, "spring_onset", "spring_1", "spring_2", "spring_3")
    x, edges = _least_squares(residual, [best[1]], lower, upper, names)
    return decode(x), tuple(e for e in edges if not e.startswith("spring_") or e == "spring_onset")


def _fit_active(
    muscle: Muscle, reference: MuscleReference, start: _Shape, bounds: FitBounds
) -> tuple[_Shape, tuple[str, ...]]:
    """Fit the active optimum's MTU length, L0, lmin, lmax and force to OpenSim's tendon force
    at full activation (passive part fixed)."""
    fmax, lopt = muscle.max_isometric_force, muscle.optimal_fiber_length
    cos0 = math.cos(muscle.pennation_angle)
    stretch = muscle.tendon_slack_length * _tendon_strain(muscle) / lopt

    def decode(x: np.ndarray) -> _Shape:
        return replace(
            start,
            mtu_optimal=start.mtu_optimal + x[0] * lopt,
            width=start.width * x[1],
            lmin=x[2],
            lmax=x[3],
            force=x[4] * fmax,
        )

    def residual(x: np.ndarray) -> np.ndarray:
        return (_shape_curves(decode(x), fmax, reference.lengths)[0] - reference.active) / fmax

    lower = [
        -bounds.slack_shift,
        1 - bounds.optimal_length,
        bounds.lmin[0],
        bounds.lmax[0],
        bounds.force[0] * cos0,
    ]
    upper = [
        stretch + bounds.slack_shift,
        1 + bounds.optimal_length,
        bounds.lmin[1],
        bounds.lmax[1],
        bounds.force[1],
    ]
    starts = [
        [shift * stretch, 1.0, lmin, lmax, cos0]
        for shift in (0.0, 0.5, 1.0)
        for lmin, lmax in _START_SHAPES
    ]
    x, edges = _least_squares(residual, starts, lower, upper, _ACTIVE_NAMES)
    return decode(x), edges


_START_SHAPES = ((0.45, 1.6), (0.3, 1.9), (-0.2, 2.5))  # (lmin, lmax) of the active curve
_STARTS = 3  # least-squares runs from the best starting points
_ACTIVE_NAMES = ("mtu_optimal", "optimal_fiber_length", "lmin", "lmax", "force")
_PASSIVE_NAMES = ("passive_onset", "passive_lmax", "fpmax")


def _fit_velocity(shape: _Shape, reference: MuscleReference, bounds: FitBounds) -> _Shape:
    """Fit MuJoCo's eccentric plateau ``fvmax`` to OpenSim's force-velocity curve (normalized
    velocities map one to one: vmax keeps OpenSim's); unchanged without an OpenSim curve."""
    from scipy.optimize import least_squares

    if reference.fv_multiplier.size == 0:
        return shape
    v, fv = reference.fv_velocity, reference.fv_multiplier
    x0 = [float(np.clip(shape.fvmax, *bounds.fvmax))]
    result = least_squares(lambda x: gain_velocity(v, x[0]) - fv, x0, bounds=bounds.fvmax)
    return replace(shape, fvmax=float(result.x[0]))


# ----------------------------------------------------------------------------- assembly


def _assemble(muscle: Muscle, shape: _Shape, lengthrange: tuple[float, float]) -> ActuatorParams:
    """MuJoCo's parameters for ``shape`` anchored at ``lengthrange`` (report left empty).

    gainprm/biasprm = (range0, range1, force, scale, lmin, lmax, vmax, fpmax, fvmax); the passive
    curve (biasprm) has its own range, lmax and force (Fmax); vmax keeps OpenSim's max
    contraction velocity; dynprm = (activation, deactivation time constant, no smoothing)."""
    fmax, cos0 = muscle.max_isometric_force, math.cos(muscle.pennation_angle)
    velocity = muscle.optimal_fiber_length * muscle.max_contraction_velocity  # m/s
    vmax = velocity / (cos0 * shape.width)
    gain, bias, dynprm = np.zeros(mujoco.mjNGAIN), np.zeros(mujoco.mjNBIAS), np.zeros(mujoco.mjNDYN)
    ranges = [1.0 + (x - shape.mtu_optimal) / shape.width for x in lengthrange]
    passive = [1.0 + (x - shape.passive_onset) / shape.passive_width for x in lengthrange]
    common = (vmax, shape.fpmax, shape.fvmax)
    gain[:9] = [*ranges, shape.force, 1.0, shape.lmin, shape.lmax, *common]
    bias[:9] = [*passive, fmax, 1.0, shape.lmin, shape.passive_lmax, *common]
    dynprm[:3] = [muscle.activation_time_constant, muscle.deactivation_time_constant, 0.0]
    damping = _number(muscle, None, "fiber_damping", _DAMPING_DEFAULT.get(muscle.type, 0.0))
    spring = math.isfinite(shape.spring_start)
    stiffness = tuple(fmax * c / shape.passive_width ** (n + 1) for n, c in enumerate(shape.spring))
    return ActuatorParams(
        name=muscle.name,
        gaintype=int(mujoco.mjtGain.mjGAIN_MUSCLE),
        biastype=int(mujoco.mjtBias.mjBIAS_MUSCLE),
        dyntype=int(mujoco.mjtDyn.mjDYN_MUSCLE),
        gainprm=gain,
        biasprm=bias,
        dynprm=dynprm,
        lengthrange=lengthrange,
        ctrlrange=(0.0, 1.0),
        damping=damping * fmax * cos0**2 / velocity,
        tendon_stiffness=stiffness if spring else (0.0, 0.0, 0.0),
        tendon_springlength=(0.0, shape.spring_start) if spring else None,
        fit_report=None,
    )


def _errors(
    params: ActuatorParams, reference: MuscleReference | None, fmax: float
) -> tuple[float, float, float, float]:
    """RMSE and max |error| of isometric active and passive tendon force, % of ``fmax``."""
    if reference is None:
        return (math.nan,) * 4
    errors = [
        tendon_force(params, reference.lengths, 0.0, a) - target
        for a, target in ((1.0, reference.active), (0.0, reference.passive))
    ]
    rmse = [100.0 * float(np.sqrt(np.mean(e**2))) / fmax for e in errors]
    worst = [100.0 * float(np.max(np.abs(e))) / fmax for e in errors]
    return rmse[0], rmse[1], worst[0], worst[1]


def _report(
    muscle: Muscle,
    params: ActuatorParams,
    shape: _Shape,
    start: _Shape,
    reference: MuscleReference | None,
    edges: tuple[str, ...],
    builtin: float,
) -> FitReport:
    """Agreement of ``params`` (and of the unfitted ``start``) with ``reference``."""
    fmax, cos0 = muscle.max_isometric_force, math.cos(muscle.pennation_angle)
    errors = _errors(params, reference, fmax)
    unfitted = _errors(_assemble(muscle, start, params.lengthrange), reference, fmax)
    fv_error = math.nan
    if reference is not None and reference.fv_multiplier.size:
        fv = gain_velocity(reference.fv_velocity, shape.fvmax) - reference.fv_multiplier
        fv_error = 100.0 * float(np.sqrt(np.mean(fv**2)))
    implied = shape.width * cos0
    normalized = lambda mtu: 1.0 + (mtu - shape.mtu_optimal) / shape.width  # noqa: E731
    return FitReport(
        fitted=reference is not None,
        samples=0 if reference is None else int(reference.lengths.size),
        rmse_active=errors[0],
        rmse_passive=errors[1],
        max_error_active=errors[2],
        max_error_passive=errors[3],
        rmse_passive_builtin=builtin,
        rmse_active_unfitted=unfitted[0],
        rmse_passive_unfitted=unfitted[1],
        rmse_fv=fv_error,
        optimal_fiber_length=implied,
        optimal_fiber_length_ratio=implied / muscle.optimal_fiber_length,
        tendon_slack_length=shape.mtu_optimal - implied * cos0,
        mtu_optimal_length=shape.mtu_optimal,
        force=shape.force,
        lmin=shape.lmin,
        lmax=shape.lmax,
        passive_onset=normalized(shape.passive_onset),
        passive_lmax=shape.passive_lmax,
        fpmax=shape.fpmax,
        fvmax=shape.fvmax,
        vmax=float(params.gainprm[6]),
        tendon_spring=params.tendon_springlength is not None,
        spring_onset=normalized(shape.spring_start),
        at_bounds=edges,
    )
