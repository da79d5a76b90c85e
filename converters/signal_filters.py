"""Zero-lag Butterworth low-pass filtering in numpy, as ``scipy.signal`` computes it.

``butter_lowpass`` designs the digital filter the way ``scipy.signal.butter(order, wn)`` does
(analog prototype poles, pre-warped bilinear transform, polynomial expansion) and ``filtfilt``
runs it forwards and backwards the way ``scipy.signal.filtfilt(b, a, x, axis=0)`` does with its
defaults (odd extension by ``3 * max(len(a), len(b))`` samples, initial state from the step
response's steady state). Results agree with scipy to round-off (tested to 1e-10); this avoids
importing ``scipy.signal``, which takes longer than the rest of an imitation-ID run.
"""

from __future__ import annotations

import numpy as np

__all__ = ["butter_lowpass", "filtfilt", "lowpass"]


def butter_lowpass(order: int, wn: float) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of a digital Butterworth low-pass of ``order`` with cut-off ``wn`` (a fraction of
    the Nyquist frequency, 0 < wn < 1)."""
    if order < 1 or int(order) != order:
        raise ValueError(f"filter order must be a positive integer, not {order}")
    if not 0.0 < wn < 1.0:
        raise ValueError(f"digital filter cut-off must be 0 < wn < 1, not {wn}")
    m = np.arange(-order + 1, order, 2, dtype=np.float64)
    poles = -np.exp(1j * np.pi * m / (2 * order))  # analog prototype, cut-off 1 rad/s
    fs2 = 4.0  # 2 * fs with scipy's normalised fs = 2
    warped = float(fs2 * np.tan(np.pi * wn / 2.0))
    poles = warped * poles
    gain = warped**order
    z_poles = (fs2 + poles) / (fs2 - poles)
    gain = gain * np.real(1.0 / np.prod(fs2 - poles))
    b = gain * _poly(-np.ones(order))
    a = _poly(z_poles)
    return b, a


def _poly(roots: np.ndarray) -> np.ndarray:
    """Coefficients (highest power first) of the monic polynomial with ``roots``; real when the
    complex roots come in conjugate pairs (as ``numpy.poly``)."""
    coefficients = np.ones(1, dtype=roots.dtype)
    for root in roots:
        coefficients = np.convolve(coefficients, np.array([1, -root], dtype=roots.dtype))
    if np.iscomplexobj(coefficients):
        positive = np.sort(roots[np.imag(roots) > 0])
        negative = np.sort(np.conjugate(roots[np.imag(roots) < 0]))
        if len(positive) == len(negative) and np.all(positive == negative):
            coefficients = coefficients.real.copy()
    return coefficients


def _steady_state(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Initial state of the transposed direct form II filter whose response to a constant 1 is
    constant (``scipy.signal.lfilter_zi``); ``a[0]`` is 1."""
    n = len(a)
    companion = np.zeros((n - 1, n - 1))
    companion[0, :] = -a[1:] / a[0]
    companion[1:, :-1] += np.eye(n - 2)
    i_minus_a = np.eye(n - 1) - companion.T
    return np.linalg.solve(i_minus_a, b[1:] - a[1:] * b[0])


def _lfilter(b: np.ndarray, a: np.ndarray, x: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Filter ``x`` along axis 0 (transposed direct form II, ``a[0]`` = 1) from ``state`` of
    shape (len(a) - 1, *x.shape[1:]); the arithmetic of ``scipy.signal.lfilter``, in Python
    floats (IEEE double) column by column: faster than numpy for a few hundred samples."""
    taps = len(b)
    bs, as_ = [float(v) for v in b], [float(v) for v in a]
    columns = x.reshape(x.shape[0], -1).T.tolist()
    states = state.reshape(taps - 1, -1).T.tolist()
    out = []
    for column, z in zip(columns, states, strict=True):
        y = []
        for xk in column:
            yk = z[0] + bs[0] * xk
            for j in range(taps - 2):
                z[j] = z[j + 1] + xk * bs[j + 1] - yk * as_[j + 1]
            z[taps - 2] = xk * bs[taps - 1] - yk * as_[taps - 1]
            y.append(yk)
        out.append(y)
    return np.array(out).T.reshape(x.shape)


def filtfilt(b: np.ndarray, a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x`` filtered forwards and backwards along axis 0 (zero phase), odd-extended at both
    ends by ``3 * max(len(a), len(b))`` samples first; ``x`` must be longer than that."""
    b, a = np.asarray(b, dtype=float), np.asarray(a, dtype=float)
    x = np.asarray(x, dtype=float)
    taps = max(len(a), len(b))
    if len(a) != len(b) or a[0] != 1.0:
        raise ValueError("filtfilt needs b and a of equal length with a[0] = 1")
    edge = 3 * taps
    if x.shape[0] <= edge:
        raise ValueError(f"filtfilt needs more than {edge} samples, not {x.shape[0]}")
    extended = np.concatenate(
        (2 * x[:1] - x[edge:0:-1], x, 2 * x[-1:] - x[-2 : -(edge + 2) : -1]), axis=0
    )
    zi = _steady_state(b, a).reshape((taps - 1,) + (1,) * (x.ndim - 1))
    y = _lfilter(b, a, extended, zi * extended[:1])
    y = _lfilter(b, a, y[::-1], zi * y[-1:])[::-1]
    return y[edge:-edge]


def lowpass(values: np.ndarray, cutoff_hz: float | None, dt: float, order: int = 2) -> np.ndarray:
    """Zero-lag Butterworth low-pass of ``order`` along axis 0 at ``cutoff_hz`` for samples
    ``dt`` seconds apart; ``values`` unchanged when off (None or 0), at or above the Nyquist
    frequency, or shorter than 16 samples."""
    nyquist = 0.5 / dt
    if not cutoff_hz or cutoff_hz >= nyquist or len(values) < 16:
        return values
    b, a = butter_lowpass(order, cutoff_hz / nyquist)
    return filtfilt(b, a, values)
