"""OpenSim's coordinate smoothing in numpy: pad, low-pass IIR, GCV-spline derivatives.

OpenSim's ID tool (and our trajectories) take generalized coordinates through an
``opensim.Storage``: ``pad(n // 2)`` (odd reflection at both ends, time included), then
``lowpassIIR(f)`` (resampled first, through quintic GCV splines, at the smallest time step when
the steps are not uniform to machine precision; then a third-order Butterworth run forwards and
backwards), then ``GCVSplineSet(5, ...)`` whose value, first and second derivative are read at
the original times. :func:`smooth_derivatives` does the same steps with the same arithmetic
(``Signal::Pad``, ``Storage::lowpassIIR``, ``Storage::resample``, ``Signal::LowpassIIR`` of
OpenSim 4), and :class:`~converters.natural_spline.NaturalSpline` for the splines (OpenSim's
GCV splines with error variance 0 interpolate). It agrees with the ``opensim`` package to
round-off (tested) without importing it, which takes longer than an imitation-ID run.
"""

from __future__ import annotations

import math

import numpy as np

from converters.errors import KintwinError
from converters.natural_spline import NaturalSpline

__all__ = ["smooth_derivatives", "pad", "lowpass_iir", "lowpass_times", "resample"]

EPS = float(np.finfo(float).eps)  # SimTK::Eps
MAX_RESAMPLE_SIZE = 100000  # OpenSim's Storage::MAX_RESAMPLE_SIZE


def smooth_derivatives(
    time: np.ndarray,
    values: dict[str, np.ndarray],
    lowpass_hz: float | None = None,
    at: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(q, qdot, qddot) at ``time`` (s), or at the times ``at``, per coordinate name: OpenSim's
    pad + low-pass IIR at ``lowpass_hz`` (none if None or <= 0) + quintic GCV spline."""
    names = list(values)
    time = np.asarray(time, dtype=float)
    block = np.column_stack([np.asarray(values[n], dtype=float) for n in names])
    knots, data = time, block
    if lowpass_hz is not None and lowpass_hz > 0:
        size = len(time) // 2
        knots, data = pad(time, size), pad(block, size)
        knots, data = lowpass_iir(knots, data, float(lowpass_hz))
    if len(knots) < 6 or np.any(np.diff(knots) <= 0):
        raise KintwinError(
            f"quintic splines need at least 6 frames at increasing times ({len(time)} given)"
        )
    spline = NaturalSpline(knots, data, half_order=3)
    out: tuple[dict, dict, dict] = ({}, {}, {})
    for order in range(3):
        evaluated = spline(time if at is None else np.asarray(at, dtype=float), order)
        for k, name in enumerate(names):
            out[order][name] = evaluated[:, k].copy()
    return out


def pad(signal: np.ndarray, size: int) -> np.ndarray:
    """``Signal::Pad``: ``size`` samples prepended and appended along axis 0 by reflecting the
    signal about its end values (odd extension)."""
    if size <= 0:
        return signal
    n = signal.shape[0]
    if size > n - 1:
        raise ValueError(f"pad of {size} samples needs more than {size} samples, not {n}")
    before = 2.0 * signal[0] - signal[size:0:-1]
    after = 2.0 * signal[-1] - signal[n - 2 :: -1][:size]
    return np.concatenate((before, signal, after), axis=0)


def lowpass_iir(
    time: np.ndarray, data: np.ndarray, cutoff_hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """``Storage::lowpassIIR``: (time, data) resampled at the smallest step when the steps are
    not uniform, then each column through ``Signal::LowpassIIR`` at that step."""
    dt_min = _resample_step(time)
    if dt_min is None:
        return time, data  # OpenSim logs "cannot be resampled" and leaves the data alone
    if dt_min > 0:
        time, data, dt_min = resample(time, data, dt_min)
    else:
        dt_min = -dt_min
    if len(time) < 4:
        return time, data  # OpenSim: "too few data points to filter"
    return time, _butterworth3(data, dt_min, cutoff_hz)


def lowpass_times(time: np.ndarray) -> np.ndarray:
    """The times :func:`lowpass_iir` returns for ``time`` (without filtering any data)."""
    dt_min = _resample_step(time)
    return _resample_grid(time, dt_min)[0] if dt_min is not None and dt_min > 0 else time


def _resample_step(time: np.ndarray) -> float | None:
    """The smallest step if ``Storage::lowpassIIR`` resamples at it, minus the (uniform) step
    if it does not, None if it cannot resample."""
    size = len(time)
    dt_min = float(np.min(np.diff(time))) if size > 1 else math.inf
    if size < 2 or dt_min < EPS:
        return None
    average = (time[-1] - time[0]) / (size - 1)
    return dt_min if average - dt_min > EPS else -dt_min


def resample(time: np.ndarray, data: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray, float]:
    """``Storage::resample(dt, 5)``: quintic GCV splines through each column, read from the
    first time in steps of ``dt`` (summed, as OpenSim sums them) up to the last time."""
    grid, dt = _resample_grid(time, dt)
    return grid, NaturalSpline(time, data, half_order=3)(grid), dt


def _resample_grid(time: np.ndarray, dt: float) -> tuple[np.ndarray, float]:
    """The times and step of ``Storage::resample(dt, ...)``."""
    span = time[-1] - time[0]
    if span / dt > MAX_RESAMPLE_SIZE:
        dt = span / MAX_RESAMPLE_SIZE
    grid = []
    x, last = float(time[0]), float(time[-1])
    while x <= last:
        grid.append(x)
        x += dt
    return np.array(grid), dt


def _butterworth3(data: np.ndarray, dt: float, cutoff_hz: float) -> np.ndarray:
    """``Signal::LowpassIIR`` on every column: a third-order Butterworth low-pass, forwards
    then backwards, the first three samples of each pass copied through."""
    if cutoff_hz >= 0.5 / dt:
        cutoff_hz = 0.49 / dt  # OpenSim warns and clamps
    wa = math.tan(2 * math.pi * cutoff_hz * dt / 2.0)
    wa2 = wa * wa
    wa3 = wa * wa * wa
    denom = (wa + 1) * (wa * wa + wa + 1.0)
    a = (wa3 / denom, 3 * wa3 / denom, 3 * wa3 / denom, wa3 / denom)
    b = (
        1.0,
        (3 * wa3 + 2 * wa2 - 2 * wa - 3) / denom,
        (3 * wa3 - 2 * wa2 - 2 * wa + 3) / denom,
        (wa - 1) * (wa2 - wa + 1) / denom,
    )
    forward = _recursion(data, a, b)
    return _recursion(forward[::-1], a, b)[::-1].copy()


def _recursion(signal: np.ndarray, a: tuple, b: tuple) -> np.ndarray:
    """One pass of the third-order recursion along axis 0, column by column in Python floats
    (IEEE double, the same arithmetic as OpenSim's C++; faster than numpy row by row)."""
    a0, a1, a2, a3 = a
    _, b1, b2, b3 = b
    out = []
    for x in signal.T.tolist():
        y = x[:3]
        for i in range(3, len(x)):
            y.append(
                a0 * x[i] + a1 * x[i - 1] + a2 * x[i - 2] + a3 * x[i - 3]
                - b1 * y[i - 1] - b2 * y[i - 2] - b3 * y[i - 3]
            )  # fmt: skip
        out.append(y)
    return np.array(out).T
