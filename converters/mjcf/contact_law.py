"""OpenSim's compliant contact laws mapped onto MuJoCo's soft contact (solref, solimp, friction).

**OpenSim (Simbody).** ``HuntCrossleyForce`` between a sphere of radius R and a half space, with
the parameter sets of the two surfaces (stiffness k1, k2; dissipation c1, c2; friction u1, u2):
Simbody stores k' = k^(2/3), mixes k_e' = k1' k2' / (k1' + k2'), c = (k2' c1 + k1' c2)/(k1' + k2'),
friction coefficients by their harmonic mean 2 u1 u2 / (u1 + u2), and applies

    f = 4/3 E sqrt(R) d^1.5 (1 + 1.5 c v),   E = k_e'^1.5        (d depth m, v approach speed m/s)

so one parameter set shared by both surfaces (k1 = k2 = k) gives E = k / 2^1.5.
``SmoothSphereHalfSpaceForce`` uses E = (k^(2/3) / 2)^1.5 = k / 2^1.5, the same law smoothed.
``ElasticFoundationForce`` puts a spring at each mesh face (area A_i) inside the other surface:
f = k A d (1 + c v), so a flat patch of area A carries f = k A d.

**Design point.** A contact carries a design load W (N): its tree's weight shared by the contact
geometry of that tree, half of them in stance (one geometry alone carries all of it). The static
depth is then d0 = (W / (4/3 E sqrt R))^(2/3) (Hertz) or W / (k A) (elastic foundation). Around d0
the OpenSim contact is a spring-damper on the mass m = W/g: stiffness 1.5 W/d0 (Hertz; W/d0
elastic foundation), damping 1.5 c W (c W), i.e. a damping ratio
zeta = (c/2) sqrt(1.5 g d0) (Hertz; (c/2) sqrt(g d0) elastic foundation).

**MuJoCo.** A contact with impedance d and reference acceleration a_ref = -b v - k r obeys
a1 + d (b v + k r) = (1 - d) a0 (a0: the acceleration without the contact). We use a constant
impedance d0 (``solimp = [d0, d0, width, 0.5, 2]``) and direct ``solref = [-K, -B]``, for which
MuJoCo sets k = K / d0 and b = B / d0. For the penetration p of a body pushed by a0 = g:

    p'' + B p' + K p = (1 - d0) g,   i.e.   (m / (1 - d0)) p'' + ... + (m K / (1 - d0)) p = m g.

Matching the static depth (p = d0 at the design load) gives K = (1 - d0) g / d0_depth: the contact
then has OpenSim's secant stiffness W / d0 and loads settle at OpenSim's depth; matching the damping
ratio gives B = 2 zeta sqrt(K). In a multibody model MuJoCo scales a contact's force by 1/A, A its
estimate of the contact's inverse mass (the two bodies' ``body_invweight0`` summed): a static
contact force is K p / ((1 - d0) A), so K and B are multiplied by A m (m = W/g) to keep the
stiffness W / d0. The impedance acts like extra inertia of the contact, so the
contact's natural frequency is sqrt(1 - d0) lower than a spring's; d0 is kept high
(:data:`IMPEDANCE`) because the same impedance makes friction firm. Friction: MuJoCo's Coulomb
coefficient is OpenSim's dynamic friction (what a sliding contact feels; OpenSim's static peak only
acts below its transition velocity, a few mm/s), both coefficients reported in the map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from converters.osim.model import ContactParameters

__all__ = [
    "IMPEDANCE",
    "ContactLaw",
    "hertz_modulus",
    "mixed_parameters",
    "hertz_law",
    "foundation_law",
    "mujoco_contact",
]

IMPEDANCE = 0.9
"""Constant MuJoCo impedance d0 of converted contacts (MuJoCo's default rises 0.9 -> 0.95)."""

SOLIMP_WIDTH = 0.001  # m; irrelevant with dmin = dmax, MuJoCo requires it > 0


@dataclass(frozen=True)
class ContactLaw:
    """One converted contact: OpenSim's law at its design point and MuJoCo's parameters.

    Units: ``design_load`` N, ``penetration`` m (static depth at the design load), ``stiffness``
    N/m (secant, W / depth), ``damping_ratio`` dimensionless, friction coefficients dimensionless.
    """

    geometry: str
    other: str
    force: str
    law: str  # "hertz" | "elastic_foundation"
    design_load: float
    penetration: float
    stiffness: float
    damping_ratio: float
    static_friction: float
    dynamic_friction: float
    solref: tuple[float, float]
    solimp: tuple[float, float, float, float, float]
    friction: tuple[float, float, float]
    inverse_weight: float = 0.0  # 1/kg: MuJoCo's A for this contact at the default pose
    limited_by_timestep: bool = False

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _harmonic(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a + b > 0 else 0.0


def mixed_parameters(
    first: ContactParameters, second: ContactParameters
) -> tuple[float, float, float, float]:
    """Simbody's Hunt-Crossley mix of two surfaces: (E N/m^2, c s/m, static, dynamic friction)."""
    k1, k2 = first.stiffness ** (2 / 3), second.stiffness ** (2 / 3)
    if k1 + k2 <= 0:
        return 0.0, 0.0, 0.0, 0.0
    s1 = k2 / (k1 + k2)
    modulus = (k1 * s1) ** 1.5
    dissipation = first.dissipation * s1 + second.dissipation * (1 - s1)
    return (
        modulus,
        dissipation,
        _harmonic(first.static_friction, second.static_friction),
        _harmonic(first.dynamic_friction, second.dynamic_friction),
    )


def hertz_modulus(stiffness: float) -> float:
    """E of one parameter set shared by both surfaces (and of SmoothSphereHalfSpaceForce)."""
    return stiffness / 2**1.5


def hertz_law(modulus: float, radius: float, load: float, dissipation: float, gravity: float):
    """(static depth m, secant stiffness N/m, damping ratio) of a Hertz sphere carrying ``load``."""
    depth = (load / (4.0 / 3.0 * modulus * math.sqrt(radius))) ** (2.0 / 3.0)
    return depth, load / depth, 0.5 * dissipation * math.sqrt(1.5 * gravity * depth)


def foundation_law(stiffness: float, area: float, load: float, dissipation: float, gravity: float):
    """(static depth m, stiffness N/m, damping ratio) of an elastic-foundation patch of ``area``."""
    depth = load / (stiffness * area)
    return depth, load / depth, 0.5 * dissipation * math.sqrt(gravity * depth)


def mujoco_contact(
    depth: float,
    damping_ratio: float,
    gravity: float,
    timestep: float,
    points: int = 1,
    scale: float = 1.0,
) -> tuple[tuple[float, float], tuple[float, ...], bool]:
    """(solref, solimp, limited) settling at ``depth`` under its design load with ``damping_ratio``.

    K = (1 - d0) g / depth and B = 2 zeta sqrt(K) (module docstring), times ``scale`` = A m (MuJoCo's
    inverse-weight estimate A of the contact times the design mass m = W/g; 1 for a free body
    alone on a static floor) and divided among n = ``points`` MuJoCo contacts (4 where a mesh face
    lies on a plane). K is capped so that sqrt(K) dt <= 0.5 for a stable step (``limited`` is then
    True: stiffer in OpenSim).
    """
    stiffness = (1.0 - IMPEDANCE) * gravity / depth
    limit = (0.5 / timestep) ** 2
    limited = stiffness > limit
    stiffness = min(stiffness, limit)
    damping = 2.0 * damping_ratio * math.sqrt(stiffness)
    solimp = (IMPEDANCE, IMPEDANCE, SOLIMP_WIDTH, 0.5, 2.0)
    factor = scale / points
    return (-stiffness * factor, -damping * factor), solimp, limited
