"""What a fitted MuJoCo muscle is: the actuator's (and its tendon's) parameters and how well
they reproduce OpenSim's muscle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ActuatorParams", "FitReport"]


@dataclass(frozen=True)
class FitReport:
    """How well the actuator reproduces OpenSim, and what was fitted.

    RMSE and max errors are in % of max isometric force over the reference lengths, for the
    whole tendon force (:func:`tendon_force`); ``rmse_passive_builtin`` is the passive RMSE of
    MuJoCo's own passive curve alone, ``*_unfitted`` those of the physiological rigid-tendon
    mapping (what :func:`mujoco_actuator_parameters` gives without a reference); ``rmse_fv`` is
    the force-velocity multiplier's RMSE in % over normalized fiber velocities -1..1. Lengths in m,
    forces in N; ``passive_onset`` and ``spring_onset`` are normalized lengths (1 = the active
    optimum). ``at_bounds`` names fitted parameters that ended on a bound of :class:`FitBounds`.
    NaN where there was no reference.
    """

    fitted: bool
    samples: int
    rmse_active: float
    rmse_passive: float
    max_error_active: float
    max_error_passive: float
    rmse_passive_builtin: float
    rmse_active_unfitted: float
    rmse_passive_unfitted: float
    rmse_fv: float
    optimal_fiber_length: float
    optimal_fiber_length_ratio: float
    tendon_slack_length: float
    mtu_optimal_length: float
    force: float
    lmin: float
    lmax: float
    passive_onset: float
    passive_lmax: float
    fpmax: float
    fvmax: float
    vmax: float
    tendon_spring: bool
    spring_onset: float
    at_bounds: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActuatorParams:
    """What to put on a MuJoCo actuator (``trntype`` tendon) driving the muscle's tendon, and on
    that tendon.

    Attributes:
        name: the muscle's name (name both the actuator and its tendon after it).
        gaintype, biastype, dyntype: MuJoCo enums (``mjtGain``, ``mjtBias``, ``mjtDyn``).
        gainprm, biasprm, dynprm: arrays of ``mjNGAIN``, ``mjNBIAS``, ``mjNDYN`` numbers.
        lengthrange: MTU length range the normalisation is anchored to, m.
        ctrlrange: control (excitation) range.
        damping: actuator damping along the tendon (OpenSim's fiber damping at the optimum),
            N s/m.
        tendon_stiffness: the tendon's polynomial spring (N/m, N/m^2, N/m^3); zeros: none.
        tendon_springlength: the tendon's dead band (0, start of the spring), m; None: no spring.
        fit_report: agreement with OpenSim and the fitted shape parameters.
    """

    name: str
    gaintype: int
    biastype: int
    dyntype: int
    gainprm: np.ndarray
    biasprm: np.ndarray
    dynprm: np.ndarray
    lengthrange: tuple[float, float]
    ctrlrange: tuple[float, float]
    damping: float
    tendon_stiffness: tuple[float, float, float]
    tendon_springlength: tuple[float, float] | None
    fit_report: FitReport | None

    def mjcf_attributes(self) -> dict[str, str]:
        """Attributes of an MJCF ``<general>`` element (add ``tendon=`` the tendon's name)."""
        return {
            "name": self.name,
            "dyntype": "muscle",
            "gaintype": "muscle",
            "biastype": "muscle",
            "dynprm": _numbers(self.dynprm),
            "gainprm": _numbers(self.gainprm),
            "biasprm": _numbers(self.biasprm),
            "lengthrange": _numbers(self.lengthrange),
            "ctrlrange": _numbers(self.ctrlrange),
            "ctrllimited": "true",
            "damping": _numbers([self.damping]),
        }

    def tendon_attributes(self) -> dict[str, str]:
        """Attributes to add to the muscle's ``<spatial>`` tendon (empty without a spring)."""
        if self.tendon_springlength is None:
            return {}
        return {
            "stiffness": _numbers(self.tendon_stiffness),
            "springlength": _numbers(self.tendon_springlength),
        }


def _numbers(values) -> str:
    """Numbers at full precision, space separated."""
    return " ".join(repr(float(v)) for v in values)
