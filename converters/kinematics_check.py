"""Kinematics no body makes: coordinates that jump faster than any movement (a pose estimate that
failed for a few frames, a marker swap), found before a simulation tries to follow them.

Markerless pipelines (OpenCap, Pose2Sim) sometimes lose the person for a few frames; IK then
returns a pelvis turned tens of degrees within one frame. A simulated body cannot follow that, and
what it computes there means little. The pelvis limit is far above what the whole body turns at
in gait, squats, jumps or cutting; the joint limit is above the knee in kicking (about
1000-1500 °/s). Throwing can exceed it (the shoulder rotates at several thousand °/s in a pitch),
which is why this is a warning and never changes the input.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from converters.motion import CoordinateSeries
from converters.osim.model import OsimModel

__all__ = [
    "MAX_JOINT_SPEED_DEG_S", "MAX_ROOT_SPEED_DEG_S", "MAX_ROOT_SPEED_M_S", "ImplausibleSpan",
    "implausible_spans", "range_without", "implausible_summary",
]  # fmt: skip

MAX_ROOT_SPEED_DEG_S = 600.0
"""A root (pelvis) angle faster than this, °/s, is a data error."""
MAX_ROOT_SPEED_M_S = 12.0
"""A root translation faster than this, m/s (above sprinting), is a data error."""
MAX_JOINT_SPEED_DEG_S = 2000.0
"""Any other angle faster than this, °/s, is a data error."""


@dataclass(frozen=True)
class ImplausibleSpan:
    """Where coordinates moved implausibly fast: the span (s), the fastest coordinate and
    its peak speed (°/s or m/s), and every coordinate past its limit there."""

    from_s: float
    to_s: float
    fastest: str
    peak_speed: float
    unit: str  # "deg/s" or "m/s"
    coordinates: tuple[str, ...]

    def as_json(self) -> dict:
        return {**asdict(self), "coordinates": list(self.coordinates)}


def implausible_spans(
    series: CoordinateSeries, model: OsimModel, merge_within_s: float = 0.05
) -> list[ImplausibleSpan]:
    """The spans of ``series`` (SI units) where a coordinate of ``model`` moves faster than the
    limits above; spans closer than ``merge_within_s`` merge. Coupled coordinates (functions of
    others) are not checked."""
    time = series.time
    if len(time) < 3:
        return []
    root = _root_coordinates(model)
    too_fast: dict[str, tuple[np.ndarray, np.ndarray, float, str]] = {}
    for name, values in series.values.items():
        motion = model.coordinates[name].motion_type
        if motion == "coupled":
            continue
        speed = np.abs(np.gradient(values, time))
        if motion == "rotational":
            speed, unit = np.degrees(speed), "deg/s"
            limit = MAX_ROOT_SPEED_DEG_S if name in root else MAX_JOINT_SPEED_DEG_S
        else:
            unit = "m/s"
            limit = MAX_ROOT_SPEED_M_S if name in root else math.inf
        over = speed > limit
        if over.any():
            too_fast[name] = (over, speed, limit, unit)
    if not too_fast:
        return []
    any_over = np.any([over for over, *_ in too_fast.values()], axis=0)
    spans = []
    for a, b in _runs(any_over, time, merge_within_s):
        inside = slice(a, b + 1)
        names = [n for n, (over, *_) in too_fast.items() if over[inside].any()]
        # the fastest relative to its limit, so an angle and a translation compare
        fastest = max(names, key=lambda n: too_fast[n][1][inside].max() / too_fast[n][2])
        _, speed, _, unit = too_fast[fastest]
        peak = float(speed[inside].max())
        spans.append(
            ImplausibleSpan(float(time[a]), float(time[b]), fastest, peak, unit, tuple(names))
        )
    return spans


def range_without(
    spans: list[ImplausibleSpan], start: float, end: float, margin_s: float = 0.1
) -> tuple[float, float] | None:
    """The time range (s) of ``start``-``end`` left when every span in its first half is cut
    off with what precedes it, and every span in its second half with what follows, each with
    ``margin_s`` to spare; None if no spans, or if less than half the trial would be left."""
    if not spans:
        return None
    middle = 0.5 * (start + end)
    first = [s.to_s for s in spans if s.to_s <= middle or s.from_s < middle <= s.to_s]
    last = [s.from_s for s in spans if s.from_s > middle]
    a = max(first) + margin_s if first else start
    b = min(last) - margin_s if last else end
    return (a, b) if b - a >= 0.5 * (end - start) else None


def _root_coordinates(model: OsimModel) -> set[str]:
    """Coordinates of the joints whose parent is ground (the root's six)."""
    return {c for j in model.joints if j.parent_body == "ground" for c in j.coordinates}


def _runs(mask: np.ndarray, time: np.ndarray, merge_within_s: float) -> list[tuple[int, int]]:
    """(first, last) rows of each run of True in ``mask``, runs less than ``merge_within_s``
    apart merged."""
    rows = np.flatnonzero(mask)
    runs: list[list[int]] = []
    for k in rows:
        if runs and time[k] - time[runs[-1][1]] <= merge_within_s + 1e-9:
            runs[-1][1] = int(k)
        else:
            runs.append([int(k), int(k)])
    return [(a, b) for a, b in runs]


def implausible_summary(spans: list[ImplausibleSpan], start: float, end: float) -> dict | None:
    """A summary's ``implausible_kinematics``: the spans, and the time range of ``start``-``end``
    left without them (None: no spans; the range None: too little would be left)."""
    if not spans:
        return None
    keep = range_without(spans, start, end)
    return {
        "spans": [span.as_json() for span in spans],
        "time_range_without_s": None if keep is None else [round(t, 3) for t in keep],
    }
