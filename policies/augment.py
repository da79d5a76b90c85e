"""More training motions from the ones recorded: left-right mirrored and speed-changed copies.

A mirrored copy is the motion reflected in the sagittal plane (OpenSim's x-y plane, z -> -z):
each ``*_r`` coordinate takes its ``*_l`` partner's values and the reverse, and the coordinates
whose motion leaves the plane (pelvis list and rotation, pelvis_tz, lumbar bending and rotation
in OpenCap's LaiUhlrich2022) change sign. Which coordinates pair up and which change sign is not
read from their names alone: :func:`mirror_plan` finds each one's partner by name and its sign
by forward kinematics of the converted model (the sign whose pose is the reflection of the
original's), so it holds for any model family with mirrored left and right legs.

A speed-changed copy plays the motion ``speed`` times faster (time divided by ``speed``), a
cheap stand-in for a subject who walks or squats faster or slower.

A noisy copy carries errors like those of markerless IK: each rotational coordinate gets a
smooth random error, a sum of sinusoids under ``NOISE_HZ``, of ``NOISE_DEG`` RMS (copy k of a
motion, k x ``NOISE_DEG``: :func:`noisy_copies`), so its stance
feet slide, as a policy meets them on markerless trials. (OpenCap's video-based joint angles are
4.5° off marker-based ones on average, Uhlrich et al. 2023, PLOS Comput Biol 19:e1011462, but
mostly in ways that keep the feet where the video sees them; independent errors of 1° already
make subject 4's stance feet slide about 0.16 m/s where the recorded walks slide 0.05, and the
markerless gaitdynamics walks 0.09-0.12 on the generic model scaled to fit them.)
"""

from __future__ import annotations

import re
from dataclasses import replace

import mujoco
import numpy as np

from converters.errors import KintwinError
from converters.motion import CoordinateSeries
from converters.spatial import OPENSIM_TO_MUJOCO

__all__ = [
    "partner_name",
    "mirror_plan",
    "mirror_series",
    "time_scaled_series",
    "noisy_series",
    "noisy_copies",
    "COPY",
    "evaluated_motions",
    "NOISE_DEG",
    "NOISE_HZ",
    "NOISE_SINES",
    "MIRROR_MUJOCO",
]

# The reflection z -> -z of OpenSim's ground frame, in MuJoCo's world frame.
MIRROR_MUJOCO = OPENSIM_TO_MUJOCO @ np.diag([1.0, 1.0, -1.0]) @ OPENSIM_TO_MUJOCO.T

_LOCAL_MIRROR = np.diag([1.0, 1.0, -1.0])  # the same reflection in a body's own OpenSim axes
_SIDE = re.compile(r"(?<=_)([rl])(?=_|$)")
_PROBE = 0.3  # rad (or m/10) the sign test turns each coordinate
COPY = "#"  # a derived motion's label: <file>#mirrored, <file>#speed=1.1, <file>#noisy=1
NOISE_DEG = 1.0  # RMS of the first noisy copy's error per rotational coordinate (k-th: k x)
NOISE_HZ = 2.0  # its errors' highest frequency
NOISE_SINES = 6  # sinusoids summed per coordinate, frequencies uniform in (0.1 Hz, NOISE_HZ)
MIRROR_TOLERANCE = 1e-5  # m: OpenCap's models are symmetric to ~1e-6 (numbers rounded in the .osim)


def partner_name(name: str) -> str:
    """``name`` with its side markers swapped (``hip_flexion_r`` <-> ``hip_flexion_l``,
    ``knee_angle_r_beta`` <-> ``knee_angle_l_beta``); unchanged without one."""
    return _SIDE.sub(lambda m: "l" if m.group(1) == "r" else "r", name)


def _body_pairs(model: mujoco.MjModel) -> np.ndarray:
    """(nbody,) index of each body's mirror partner (itself for a central body)."""
    names = [model.body(b).name for b in range(model.nbody)]
    index = {n: b for b, n in enumerate(names)}
    return np.array([index.get(partner_name(n), b) for b, n in enumerate(names)])


def _poses(converted, values: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """World body positions (nbody, 3) and orientations (nbody, 3, 3) at ``values``."""
    m = converted.mj_model
    d = mujoco.MjData(m)
    coords = {
        c: np.array([values.get(c, 0.0)]) for c in converted.kinematics.independent_coordinates
    }
    d.qpos[:] = converted.kinematics.qpos(coords, m.nq)[0]
    mujoco.mj_kinematics(m, d)
    return d.xpos.copy(), d.xmat.reshape(-1, 3, 3).copy()


def mirror_error(converted, original: dict[str, float], mirrored: dict[str, float]) -> float:
    """Largest difference (m, and rotation-matrix entries) between the bodies posed by
    ``mirrored`` and the sagittal reflection of those posed by ``original`` (left and right
    bodies exchanged)."""
    pairs = _body_pairs(converted.mj_model)
    pos, rot = _poses(converted, original)
    pos2, rot2 = _poses(converted, mirrored)
    # body frames keep OpenSim's axes (x forwards, y up, z right): a reflected body frame is
    # the world reflection applied to the frame, composed with z -> -z of its own axes
    want_pos = pos @ MIRROR_MUJOCO.T
    want_rot = MIRROR_MUJOCO @ rot @ _LOCAL_MIRROR
    return float(
        max(
            np.abs(pos2[pairs] - want_pos)[1:].max(),
            np.abs(rot2[pairs] - want_rot)[1:].max(),
        )
    )


def mirror_plan(converted) -> dict[str, tuple[str, float]]:
    """For each independent coordinate: (its mirror partner, the sign its values take).

    The sign is the one whose forward kinematics reflect the original's best when the
    coordinate alone is turned from zero. Raises KintwinError if a coordinate has no sign that
    reflects its motion to MIRROR_TOLERANCE (the model's left and right sides are not mirror images).
    """
    coords = list(converted.kinematics.independent_coordinates)
    plan = {}
    for c in coords:
        partner = partner_name(c)
        if partner not in coords:
            partner = c
        errors = {
            sign: mirror_error(converted, {c: _PROBE}, {partner: sign * _PROBE})
            for sign in (1.0, -1.0)
        }
        sign = min(errors, key=errors.get)
        if errors[sign] > MIRROR_TOLERANCE:
            raise KintwinError(
                f"{converted.osim.path}: the model is not left-right symmetric at '{c}' "
                f"(its mirror '{partner}' is {errors[sign]:.2g} m off); --mirror needs a "
                "symmetric model"
            )
        plan[c] = (partner, sign)
    return plan


def mirror_series(series: CoordinateSeries, plan: dict[str, tuple[str, float]]) -> CoordinateSeries:
    """The motion of ``series`` reflected in the sagittal plane (see :func:`mirror_plan`).
    Coordinates the plan does not cover (dependent ones) are dropped: the model's couplings
    recompute them from the mirrored independent ones. A coordinate whose mirror image the
    motion lacks (e.g. the arms of a markerless capture) is missing from the result too."""
    values = {c: sign * series.values[p] for c, (p, sign) in plan.items() if p in series.values}
    lacking = [c for c in plan if c not in values]
    missing = sorted({*lacking, *(c for c in series.missing if c not in plan)})
    return replace(series, values=values, missing=missing)


def time_scaled_series(series: CoordinateSeries, speed: float) -> CoordinateSeries:
    """``series`` played ``speed`` times as fast (same first time, same values)."""
    if not speed > 0:
        raise KintwinError(f"speed {speed}: must be positive")
    t0 = float(series.time[0])
    return replace(series, time=t0 + (series.time - t0) / speed)


def noisy_series(
    series: CoordinateSeries,
    converted,
    seed: int | tuple[int, ...],
    deg: float = NOISE_DEG,
    hz: float = NOISE_HZ,
) -> CoordinateSeries:
    """``series`` with a smooth random error of ``deg`` RMS (over its frames) added to each
    independent rotational coordinate: a sum of NOISE_SINES sinusoids of random frequency
    (0.1 Hz to ``hz``), phase and amplitude, the same for a given ``seed``. A clamped
    coordinate stays inside its range (or no further out than the original). Translations are
    left as they are; dependent coordinates are dropped (the couplings recompute them)."""
    if not deg > 0 or not hz > 0.1:
        raise KintwinError(f"noise of {deg}° under {hz} Hz: needs deg > 0 and hz > 0.1")
    rng = np.random.default_rng(seed)
    coordinates = converted.osim.coordinates
    time = series.time - series.time[0]
    independent = converted.kinematics.independent_coordinates
    values = {c: v for c, v in series.values.items() if c in independent}
    for name in independent:
        coordinate = coordinates.get(name)
        if name not in values or coordinate is None or coordinate.motion_type != "rotational":
            continue
        freq = rng.uniform(0.1, hz, NOISE_SINES)
        phase = rng.uniform(0.0, 2.0 * np.pi, NOISE_SINES)
        amplitude = rng.standard_normal(NOISE_SINES)
        error = np.sin(2.0 * np.pi * np.outer(time, freq) + phase) @ amplitude
        error *= np.deg2rad(deg) / max(float(np.sqrt(np.mean(error**2))), 1e-12)
        original = values[name]
        noisy = original + error
        if coordinate.clamped:
            low, high = coordinate.range
            noisy = np.clip(noisy, np.minimum(low, original), np.maximum(high, original))
        values[name] = noisy
    return replace(series, values=values)


def noisy_copies(
    label: str, series: CoordinateSeries, converted, copies: int, seed: tuple[int, int]
) -> list[tuple[str, CoordinateSeries]]:
    """``copies`` noisy copies of ``series`` labelled ``<label>#noisy=k``, copy k with errors of
    k x ``NOISE_DEG`` RMS (from the mild errors of good video to the larger ones of poor), each
    following the seed ``(seed[0], k, seed[1])``."""
    return [
        (
            f"{label}{COPY}noisy={k}",
            noisy_series(series, converted, (seed[0], k, seed[1]), k * NOISE_DEG),
        )
        for k in range(1, copies + 1)
    ]


def evaluated_motions(labels: list[str], noisy: bool) -> list[int] | None:
    """Indices of the motions a training run evaluates (None: all): the motions as given, and
    with ``noisy`` their own noisy copies (``<file>#noisy=k``, not those of their mirrors)."""
    chosen = [
        i for i, label in enumerate(labels)
        if COPY not in label or noisy and re.fullmatch(rf"[^{COPY}]+{COPY}noisy=\d+", label)
    ]  # fmt: skip
    return None if len(chosen) in (0, len(labels)) else chosen
