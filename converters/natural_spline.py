"""Interpolating natural splines of odd degree in numpy (B-spline form, banded collocation).

OpenSim's ``GCVSpline`` with error variance 0 (what ``GCVSplineSet`` builds) is the natural spline
of degree ``2m - 1`` through the points: derivatives ``m`` to ``2m - 2`` vanish at both end knots.
:class:`NaturalSpline` builds that spline for one or many columns sharing the abscissae and
evaluates it and its derivatives inside the knots, without scipy (whose import takes longer than
the rest of an imitation-ID run). The collocation system (one row per point, ``m - 1`` end
conditions at each end) is banded; it is solved by Gaussian elimination with partial pivoting
within the band, a few milliseconds for a thousand points.
"""

from __future__ import annotations

import numpy as np

__all__ = ["NaturalSpline"]


class NaturalSpline:
    """The natural spline of degree ``2 * half_order - 1`` through ``(x, y)``.

    ``x`` is (n,) strictly increasing; ``y`` is (n,) or (n, columns). ``half_order`` m is 1 to 4
    (linear to heptic); n must be at least 2m.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, half_order: int = 3) -> None:
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        m = int(half_order)
        if not 1 <= m <= 4:
            raise ValueError(f"half_order must be 1 to 4, not {half_order}")
        if x.ndim != 1 or y.ndim not in (1, 2) or y.shape[:1] != x.shape:
            raise ValueError(f"x {x.shape} and y {y.shape} do not match")
        if x.size < 2 * m:
            raise ValueError(f"a degree {2 * m - 1} spline needs {2 * m} points, not {x.size}")
        if not np.all(np.diff(x) > 0):
            raise ValueError("x must be strictly increasing")
        k = 2 * m - 1
        self.x, self.degree, self.half_order = x, k, m
        self.knots = np.concatenate((np.full(k + 1, x[0]), x[1:-1], np.full(k + 1, x[-1])))
        n_coef = x.size + k - 1
        matrix = np.zeros((n_coef, n_coef))
        # rows: left end conditions, one row per point, right end conditions (band order)
        for j, order in enumerate(range(m, 2 * m - 1)):
            matrix[j, : k + 1] = _end_row(self.knots[: 2 * k + 2], k, x[0], order)
            matrix[-1 - j, -(k + 1) :] = _end_row(self.knots[-(2 * k + 2) :], k, x[-1], order)
        span, values = _local_basis(self.knots, k, x)
        rows = m - 1 + np.arange(x.size)
        for r in range(k + 1):
            matrix[rows, span - k + r] = values[:, r]
        rhs = np.zeros((n_coef, 1 if y.ndim == 1 else y.shape[1]))
        rhs[m - 1 : m - 1 + x.size] = y.reshape(x.size, -1)
        self.coefficients = _solve_banded(matrix, rhs, k)  # (n + k - 1, columns)
        self._columns = y.shape[1:]

    def __call__(self, x: np.ndarray, order: int = 0) -> np.ndarray:
        """The spline's ``order``-th derivative at ``x`` (inside [x[0], x[-1]]), of shape
        ``x.shape + y.shape[1:]``."""
        x = np.asarray(x, dtype=float)
        if order > self.degree:
            return np.zeros(x.shape + self._columns)
        coefficients, knots = self.coefficients, self.knots
        for j in range(order):  # the derivative of a B-spline series: differenced coefficients
            p = self.degree - j
            count = coefficients.shape[0] - 1
            span = knots[j + 1 + p : j + 1 + p + count] - knots[j + 1 : j + 1 + count]
            coefficients = p * np.diff(coefficients, axis=0) / span[:, None]
        inner = knots[order : knots.size - order]
        degree = self.degree - order
        flat = x.ravel()
        spans, basis = _local_basis(inner, degree, flat)
        values = np.zeros((flat.size, coefficients.shape[1]))
        for r in range(degree + 1):
            values += basis[:, r : r + 1] * coefficients[spans - degree + r]
        return values.reshape(x.shape + self._columns)


def _local_basis(knots: np.ndarray, degree: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each x: the knot span i (knots[i] <= x < knots[i+1], the last span closed) and the
    degree + 1 B-splines that do not vanish there, ``B_{i-degree..i}`` (de Boor's recurrence)."""
    n_coef = knots.size - degree - 1
    spans = np.clip(np.searchsorted(knots, x, side="right") - 1, degree, n_coef - 1)
    basis = np.zeros((x.size, degree + 1))
    basis[:, 0] = 1.0
    left = np.zeros((x.size, degree + 1))
    right = np.zeros((x.size, degree + 1))
    for j in range(1, degree + 1):
        left[:, j] = x - knots[spans + 1 - j]
        right[:, j] = knots[spans + j] - x
        saved = np.zeros(x.size)
        for r in range(j):
            temp = basis[:, r] / (right[:, r + 1] + left[:, j - r])
            basis[:, r] = saved + right[:, r + 1] * temp
            saved = left[:, j - r] * temp
        basis[:, j] = saved
    return spans, basis


def _end_row(knots: np.ndarray, degree: int, x: float, order: int) -> np.ndarray:
    """The ``order``-th derivatives at an end knot ``x`` of the degree + 1 B-splines on
    ``knots`` (the 2 degree + 2 knots next to that end)."""
    coefficients = np.eye(degree + 1)
    for j in range(order):
        p = degree - j
        count = coefficients.shape[0] - 1
        span = knots[j + 1 + p : j + 1 + p + count] - knots[j + 1 : j + 1 + count]
        coefficients = p * np.diff(coefficients, axis=0) / span[:, None]
    spans, basis = _local_basis(knots[order : knots.size - order], degree - order, np.array([x]))
    first = spans[0] - (degree - order)
    return basis[0] @ coefficients[first : first + degree - order + 1]


def _solve_banded(matrix: np.ndarray, rhs: np.ndarray, width: int) -> np.ndarray:
    """Solve ``matrix @ X = rhs`` for a matrix whose non-zeros lie within ``width`` of the
    diagonal: Gaussian elimination with partial pivoting, touching only the band."""
    a, b = matrix.copy(), rhs.copy()
    n = a.shape[0]
    for j in range(n - 1):
        stop = min(n, j + width + 1)
        pivot = j + int(np.argmax(np.abs(a[j:stop, j])))
        if a[pivot, j] == 0.0:
            raise np.linalg.LinAlgError("singular spline collocation matrix")
        end = min(n, j + 2 * width + 1)  # a swapped row reaches this far
        if pivot != j:
            a[[j, pivot], j:end] = a[[pivot, j], j:end]
            b[[j, pivot]] = b[[pivot, j]]
        factors = a[j + 1 : stop, j] / a[j, j]
        a[j + 1 : stop, j:end] -= factors[:, None] * a[j, j:end]
        b[j + 1 : stop] -= factors[:, None] * b[j]
    if a[n - 1, n - 1] == 0.0:
        raise np.linalg.LinAlgError("singular spline collocation matrix")
    x = np.zeros_like(b)
    for j in range(n - 1, -1, -1):
        end = min(n, j + 2 * width + 1)
        x[j] = (b[j] - a[j, j + 1 : end] @ x[j + 1 : end]) / a[j, j]
    return x
