"""MuJoCo's built-in muscle (``mju_muscleGain`` / ``mju_muscleBias``) in numpy, for the
parameters of one muscle actuator (:mod:`converters.mjcf.muscle_params`).

MuJoCo's muscle sees only the actuator length ``len`` (here the muscle-tendon unit, MTU, length
of the muscle's tendon) through an affine map::

    L0 = (lengthrange1 - lengthrange0) / (range1 - range0)
    L  = range0 + (len - lengthrange0) / L0          # normalized length, optimum at L = 1
    V  = vel / (L0 * vmax)                           # normalized velocity

so the active curve is fixed by the MTU length at its optimum, the slope ``L0`` (m of MTU per unit
of normalized length) and the shapes ``lmin``, ``lmax``, ``fvmax``. ``gainprm`` and ``biasprm``
are separate arrays, so the passive curve (half-quadratic, then linear) gets its own range
(onset), ``lmax`` and ``fpmax``. A tendon spring (MuJoCo's polynomial tendon ``stiffness``) and
the actuator's ``damping`` add to it: :func:`tendon_force` sums all three.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from converters.mjcf.muscle_params import ActuatorParams

__all__ = [
    "gain_length",
    "passive_curve",
    "gain_velocity",
    "polynomial_spring",
    "muscle_force",
    "tendon_force",
]


def gain_length(L: np.ndarray, lmin: float, lmax: float) -> np.ndarray:
    """MuJoCo's active force-length curve (``mju_muscleGainLength``)."""
    a, b = 0.5 * (lmin + 1.0), 0.5 * (1.0 + lmax)
    tiny = mujoco.mjMINVAL
    out = np.where(L <= a, 0.5 * ((L - lmin) / max(tiny, a - lmin)) ** 2, 0.0)
    out = np.where((L > a) & (L <= 1), 1 - 0.5 * ((1 - L) / max(tiny, 1 - a)) ** 2, out)
    out = np.where((L > 1) & (L <= b), 1 - 0.5 * ((L - 1) / max(tiny, b - 1)) ** 2, out)
    out = np.where(L > b, 0.5 * ((lmax - L) / max(tiny, lmax - b)) ** 2, out)
    return np.where((L >= lmin) & (L <= lmax), out, 0.0)


def passive_curve(L: np.ndarray, lmax: float, fpmax: float) -> np.ndarray:
    """MuJoCo's passive curve (``mju_muscleBias`` over force): half-quadratic, then linear."""
    b = 0.5 * (1.0 + lmax)
    scale = max(mujoco.mjMINVAL, b - 1.0)
    quadratic = 0.5 * ((L - 1.0) / scale) ** 2
    return fpmax * np.where(L <= 1.0, 0.0, np.where(L <= b, quadratic, 0.5 + (L - b) / scale))


def gain_velocity(V: np.ndarray, fvmax: float) -> np.ndarray:
    """MuJoCo's force-velocity curve."""
    y = fvmax - 1.0
    eccentric = fvmax - (y - V) ** 2 / max(mujoco.mjMINVAL, y)
    out = np.where(V <= 0, (V + 1.0) ** 2, np.where(V <= y, eccentric, fvmax))
    return np.where(V <= -1.0, 0.0, out)


def polynomial_spring(x: np.ndarray, coefficients: Sequence[float]) -> np.ndarray:
    """Polynomial spring ``c1 x + c2 x^2 + c3 x^3`` of the stretch ``x`` beyond the dead band."""
    x = np.maximum(x, 0.0)
    return x * (coefficients[0] + x * (coefficients[1] + x * coefficients[2]))


def muscle_force(
    gainprm: np.ndarray,
    biasprm: np.ndarray,
    lengthrange: tuple[float, float],
    length: np.ndarray,
    velocity: np.ndarray | float = 0.0,
    activation: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Pulling force (N) of a MuJoCo muscle actuator with ``force > 0``: minus ``gain * act +
    bias`` as ``mju_muscleGain`` and ``mju_muscleBias`` compute them, at actuator (MTU) length
    ``length`` (m) and lengthening speed ``velocity`` (m/s)."""
    length = np.asarray(length, dtype=float)
    lo, hi = lengthrange
    tiny = mujoco.mjMINVAL
    width = (hi - lo) / max(tiny, gainprm[1] - gainprm[0])
    L = gainprm[0] + (length - lo) / max(tiny, width)
    V = np.asarray(velocity, dtype=float) / max(tiny, width * gainprm[6])
    gain = gainprm[2] * gain_length(L, gainprm[4], gainprm[5]) * gain_velocity(V, gainprm[8])
    width_b = (hi - lo) / max(tiny, biasprm[1] - biasprm[0])
    L_b = biasprm[0] + (length - lo) / max(tiny, width_b)
    return np.asarray(activation) * gain + biasprm[2] * passive_curve(L_b, biasprm[5], biasprm[7])


def tendon_force(
    params: ActuatorParams,
    length: np.ndarray,
    velocity: np.ndarray | float = 0.0,
    activation: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Whole pulling force (N) along the muscle's tendon in MuJoCo: the actuator's (muscle
    gain and bias, actuator damping) plus the tendon spring's, at MTU length ``length`` (m) and
    lengthening speed ``velocity`` (m/s). In a simulation: ``-actuator_force`` plus the spring."""
    force = muscle_force(
        params.gainprm, params.biasprm, params.lengthrange, length, velocity, activation
    )
    force = force + params.damping * np.asarray(velocity, dtype=float)
    if params.tendon_springlength is not None:
        stretch = np.asarray(length, dtype=float) - params.tendon_springlength[1]
        force = force + polynomial_spring(stretch, params.tendon_stiffness)
    return force
