"""How two feet on the floor share the body's weight when kinematics alone cannot say: the
smooth-transition prior of double support (Ren, Jones and Howard 2008, J Biomech 41:2750),
used by the imitation task's reward and the contact solve."""

from __future__ import annotations

import numpy as np

__all__ = ["double_support_share"]


def double_support_share(stance: np.ndarray) -> np.ndarray | None:
    """(T, 2) prior share of the vertical load on each foot in double support, NaN elsewhere;
    None unless there are exactly two feet.

    Kinematics do not say how two feet on the floor share the body's weight. The prior is a
    smooth transition: the trailing foot (the one that lifts off when double support ends)
    carries all of it the frame before double support begins and none the frame after it
    ends, linearly in between; the leading foot carries the rest. A double support that
    ends with the motion has no known trailing foot unless one foot was down before it.
    """
    if stance.ndim != 2 or stance.shape[1] != 2:
        return None
    share = np.full((len(stance), 2), np.nan)
    edges = np.diff(np.concatenate([[0], stance.all(axis=1).astype(int), [0]]))
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        trailing = _trailing_foot(stance, start, stop - 1)
        if trailing is not None:
            falling = (stop - np.arange(start, stop)) / (stop - start + 1)
            share[start:stop, trailing] = falling
            share[start:stop, 1 - trailing] = 1.0 - falling
    return share


def _trailing_foot(stance: np.ndarray, start: int, end: int) -> int | None:
    """The foot that leaves the floor after double support rows ``start..end``, or else the
    one that was down alone before them; None when neither is known."""
    if end + 1 < len(stance) and stance[end + 1].sum() == 1:
        return int(np.argmax(stance[end + 1] == 0))
    if start > 0 and stance[start - 1].sum() == 1:
        return int(np.argmax(stance[start - 1]))
    return None
