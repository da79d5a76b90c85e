"""Is a trial on a treadmill, and how fast does its belt run? One rule for the imitation's tasks
(``policies.reference.estimate_belt_speed``) and the contact solve.

On a treadmill the standing foot slides backwards with the belt while the root stays put: the
belt's speed is the median forward velocity of the standing foot (the lowest contact point of
each frame, on the frames it stands), if that is at least ``TREADMILL_SPEED`` while the root
travels under ``ROOT_SHARE`` of it (a markerless overground walk's foot skate is no belt). The
belt runs along the model's forward axis (OpenSim +x, MuJoCo x), as a treadmill runs under a
walk. Which frames the lowest point stands on is each method's own floor: the imitation's is
:func:`standing`; the contact solve's is where its points have full strength.
"""

from __future__ import annotations

import numpy as np

__all__ = ["belt_speed", "standing", "median", "TREADMILL_SPEED"]

TREADMILL_SPEED = 0.3  # m/s: a standing foot sliding this fast, the root still, rides a belt
ROOT_SHARE = 0.25  # on a treadmill the root travels under this share of the belt's speed
STANCE_HEIGHT = 0.01  # m above the floor: the lowest point stands (standing)
FLOOR_PERCENTILE = 5.0  # %: the floor ignores fewer low outliers than this (standing)


def belt_speed(stance_velocity: np.ndarray, root_forward: np.ndarray, time: np.ndarray) -> float:
    """Belt speed (m/s along x) of a treadmill trial, or 0.0 for an overground one (or fewer
    than 3 frames), from the standing foot's forward velocity on its stance frames and the
    root's forward position (``root_forward``, (T,) at ``time``)."""
    if len(time) < 3:
        return 0.0
    speed = median(stance_velocity)
    root_speed = abs(root_forward[-1] - root_forward[0]) / (time[-1] - time[0])
    treadmill = abs(speed) > TREADMILL_SPEED and root_speed < ROOT_SHARE * abs(speed)
    return speed if treadmill else 0.0


def standing(heights: np.ndarray) -> np.ndarray:
    """(T,) bool: the frames whose lowest contact point (``heights``, m) is within
    ``STANCE_HEIGHT`` of the floor. The floor is the lowest point of the trial, unless fewer
    than ``FLOOR_PERCENTILE`` % of the frames come that close to it (a failed markerless pose
    that puts a foot deep in the floor for a frame or two): then it is that percentile, and the
    frames more than ``STANCE_HEIGHT`` below it are not standing either."""
    percentile = float(np.percentile(heights, FLOOR_PERCENTILE))
    if heights.min() >= percentile - STANCE_HEIGHT:
        return heights < heights.min() + STANCE_HEIGHT
    return np.abs(heights - percentile) < STANCE_HEIGHT


def median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D array (the mean of the middle two of an even count; NaN if any is
    NaN, or if there is none), without ``np.median``, whose first call imports ``numpy.ma`` (a
    few % of a ``kintwin id`` run)."""
    ordered = np.sort(values)
    if not ordered.size or np.isnan(ordered[-1]):
        return float("nan")
    half = ordered.size // 2
    return float(ordered[half] if ordered.size % 2 else (ordered[half - 1] + ordered[half]) / 2.0)
