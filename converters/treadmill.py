"""Is a trial on a treadmill, and how fast does its belt run? One rule for the imitation's tasks
(``policies.reference.estimate_belt_speed``) and the contact solve.

On a treadmill the standing foot slides backwards with the belt while the root stays put. The
lowest contact point of each frame stands for the standing foot; the stance frames are those
where it is within ``STANCE_HEIGHT`` of the floor. The floor is the lowest point of the trial,
unless fewer than ``FLOOR_PERCENTILE`` % of the frames come that close to it (a failed
markerless pose that puts a foot deep in the floor for a frame or two): then it is
``STANCE_HEIGHT`` below that percentile of the lowest points. The belt runs along the model's
forward axis (OpenSim +x, MuJoCo x), as a treadmill runs under a walk.
"""

from __future__ import annotations

import numpy as np

__all__ = ["belt_speed", "median", "TREADMILL_SPEED"]

TREADMILL_SPEED = 0.3  # m/s: a standing foot sliding this fast, the root still, rides a belt
STANCE_HEIGHT = 0.01  # m above the floor: the lowest point stands
FLOOR_PERCENTILE = 5.0  # %: the floor ignores fewer low outliers than this
ROOT_SHARE = 0.25  # on a treadmill the root travels under this share of the belt's speed


def belt_speed(lowest: np.ndarray, root_forward: np.ndarray, time: np.ndarray) -> float:
    """Belt speed (m/s along x) of a treadmill trial, or 0.0 for an overground one (or fewer
    than 3 frames), from the lowest contact point of each frame (``lowest``, (T, 3) world
    positions, z up) and the root's forward position (``root_forward``, (T,))."""
    if len(time) < 3:
        return 0.0
    heights = lowest[:, 2]
    floor = max(
        float(heights.min()), float(np.percentile(heights, FLOOR_PERCENTILE)) - STANCE_HEIGHT
    )
    stance = heights < floor + STANCE_HEIGHT
    speed = median(np.gradient(lowest[:, 0], time)[stance])
    root_speed = abs(root_forward[-1] - root_forward[0]) / (time[-1] - time[0])
    treadmill = abs(speed) > TREADMILL_SPEED and root_speed < ROOT_SHARE * abs(speed)
    return speed if treadmill else 0.0


def median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D array (the mean of the middle two of an even count; NaN if any is
    NaN, or if there is none), without ``np.median``, whose first call imports ``numpy.ma`` (a
    few % of a ``kintwin id`` run)."""
    ordered = np.sort(values)
    if not ordered.size or np.isnan(ordered[-1]):
        return float("nan")
    half = ordered.size // 2
    return float(ordered[half] if ordered.size % 2 else (ordered[half - 1] + ordered[half]) / 2.0)
