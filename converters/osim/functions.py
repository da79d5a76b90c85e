"""OpenSim ``Function`` types as small numpy classes, evaluated the way OpenSim 4.6 evaluates them.

Each class is built from its ``.osim`` XML element by :func:`parse_function` (one handler per tag)
and evaluates vectorised: ``value(x)``, ``derivative(x, order=1 | 2)``. Values match the ``opensim``
package to round-off, inside the data range and outside it, where each type extrapolates as OpenSim
does:

- ``SimmSpline`` (also read for the older names ``NaturalCubicSpline`` and ``natCubicSpline``, which
  OpenSim 4 maps to it): a cubic spline whose end conditions match the third derivative to divided
  differences; outside the knots it continues along the end tangent (second derivative 0).
- ``PiecewiseLinearFunction``: continues with the end slopes.
- ``PiecewiseConstantFunction``: holds the end values; its derivatives are 0 everywhere.
- ``GCVSpline``: refitted from ``x`` and ``y`` (OpenSim 4 ignores the stored ``weights`` and
  ``coefficients``) as a natural spline of degree ``2*half_order - 1``; outside the knots it is
  the Taylor polynomial of degree ``half_order - 1`` at the end knot (so a quintic spline continues
  as a parabola, a linear one as a constant). Only interpolating splines (``error_variance`` 0) are
  supported.
- ``PolynomialFunction``: coefficients from the highest power to the constant term.
- ``LinearFunction``: ``coefficients`` are ``c_0 .. c_{N-1}, c_N`` for
  ``f(x) = sum_i c_i x_i + c_N``; two coefficients are slope and intercept.
- ``Constant``, ``StepFunction`` (SimTK's quintic smooth step) and ``MultiplierFunction``
  (another function times ``scale``).

A function of one argument takes ``x`` of any shape and returns that shape; a function of ``N > 1``
arguments (only ``LinearFunction``) takes ``x`` of shape ``(..., N)`` and returns shape ``(...)``.
Units are those of the model: radians or metres in, radians or metres out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from lxml import etree

from converters.errors import FileFormatError, UnsupportedElement

if TYPE_CHECKING:
    from scipy.interpolate import BSpline

__all__ = [
    "OsimFunction",
    "Constant",
    "LinearFunction",
    "PolynomialFunction",
    "SimmSpline",
    "PiecewiseLinearFunction",
    "PiecewiseConstantFunction",
    "GCVSpline",
    "StepFunction",
    "MultiplierFunction",
    "parse_function",
]

#: OpenSim's ``TINY_NUMBER``: the smallest knot spacing its splines divide by.
TINY_NUMBER = 1e-7
#: OpenSim's ``ROUNDOFF_ERROR``: an argument this close to an end knot is taken as that knot.
ROUNDOFF_ERROR = 2e-13


# ----------------------------------------------------------------------------------- base class


class OsimFunction(ABC):
    """A function of ``n_args`` arguments with value and first and second derivatives."""

    n_args: int = 1

    def value(self, x: np.ndarray | float) -> np.ndarray:
        """f(x): shape of ``x`` (one argument) or ``x.shape[:-1]`` (several arguments)."""
        return self._evaluate(self._arguments(x), 0, 0)

    def derivative(self, x: np.ndarray | float, order: int = 1, wrt: int = 0) -> np.ndarray:
        """d^order f / dx^order; for several arguments ``wrt`` picks the one differentiated first.

        A function of several arguments is linear, so its second derivatives are all 0.
        """
        if order not in (1, 2):
            raise ValueError(f"derivative order must be 1 or 2, not {order}")
        if not 0 <= wrt < self.n_args:
            raise ValueError(f"wrt must be in [0, {self.n_args}), not {wrt}")
        return self._evaluate(self._arguments(x), order, wrt)

    @property
    def is_linear(self) -> bool:
        """True when f is affine in its arguments over the whole real line."""
        return False

    @property
    def is_identity(self) -> bool:
        """True when f(x) = x exactly (a single argument, slope 1, offset 0)."""
        if self.n_args != 1 or not self.is_linear:
            return False
        return float(self.value(0.0)) == 0.0 and float(self.derivative(0.0)) == 1.0

    @property
    def x_range(self) -> tuple[float, float] | None:
        """First and last knot (or transition) of the data behind f; None if it has none."""
        return None

    def _arguments(self, x: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.n_args > 1 and (x.ndim == 0 or x.shape[-1] != self.n_args):
            raise ValueError(f"expected x of shape (..., {self.n_args}), got {x.shape}")
        return x

    @abstractmethod
    def _evaluate(self, x: np.ndarray, order: int, wrt: int) -> np.ndarray:
        """The value (order 0) or a derivative at already-validated arguments."""


# --------------------------------------------------------------------------- closed-form types


class Constant(OsimFunction):
    """f(x) = value, whatever x."""

    def __init__(self, value: float = 0.0) -> None:
        self.constant = float(value)

    @property
    def is_linear(self) -> bool:
        return True

    def _evaluate(self, x: np.ndarray, order: int, wrt: int) -> np.ndarray:
        return np.full(x.shape, self.constant if order == 0 else 0.0)

    def __repr__(self) -> str:
        return f"Constant({self.constant!r})"


class LinearFunction(OsimFunction):
    """f(x) = sum_i c_i x_i + c_N; ``LinearFunction(slope, intercept)`` for one argument."""

    def __init__(self, *coefficients: float) -> None:
        if len(coefficients) < 2:
            raise ValueError("LinearFunction needs at least 2 coefficients (slope, intercept)")
        self.coefficients = np.array(coefficients, dtype=float)
        self.n_args = len(coefficients) - 1

    @property
    def is_linear(self) -> bool:
        return True

    def _evaluate(self, x: np.ndarray, order: int, wrt: int) -> np.ndarray:
        shape = x.shape if self.n_args == 1 else x.shape[:-1]
        if order == 2:
            return np.zeros(shape)
        if order == 1:
            return np.full(shape, self.coefficients[wrt])
        if self.n_args == 1:
            return x * self.coefficients[0] + self.coefficients[1]
        total = np.zeros(shape)
        for i in range(self.n_args):  # summed in OpenSim's order, argument by argument
            total = total + x[..., i] * self.coefficients[i]
        return total + self.coefficients[-1]

    def __repr__(self) -> str:
        return f"LinearFunction({', '.join(repr(float(c)) for c in self.coefficients)})"


class PolynomialFunction(OsimFunction):
    """f(x) = c_0 x^n + c_1 x^(n-1) + ... + c_n: coefficients from the highest power down."""

    def __init__(self, coefficients: np.ndarray | list[float]) -> None:
        self.coefficients = np.atleast_1d(np.asarray(coefficients, dtype=float))

    @property
    def degree(self) -> int:
        """Polynomial order n = number of coefficients - 1 (leading zeros included)."""
        return len(self.coefficients) - 1

    @property
    def is_linear(self) -> bool:
        return bool(not np.any(self.coefficients[:-2]))

    def _evaluate(self, x: np.ndarray, order: int, wrt: int) -> np.ndarray:
        powers = self.degree - np.arange(len(self.coefficients))
        scaled = self.coefficients.copy()
        for j in range(order):  # c_i * p (p-1) ... for the order-th derivative of c_i x^p
            scaled = scaled * (powers - j)
        total = np.zeros(x.shape)
        for c in scaled[: len(scaled) - order]:  # Horner, as SimTK does
            total = total * x + c
        return total

    def __repr__(self) -> str:
        return f"PolynomialFunction({self.coefficients.tolist()!r})"


class StepFunction(OsimFunction):
    """SimTK's smooth step: ``start_value`` before ``start``, ``end_value`` after ``end``.

    In between, f = y0 + (y1 - y0) s(u) with u = (x - start) / (end - start) and
    s(u) = 10u^3 - 15u^4 + 6u^5, whose first and second derivatives vanish at both ends.
    """

    def __init__(self, start: float, end: float, start_value: float, end_value: float) -> None:
        if start == end:
            raise ValueError("StepFunction needs transition_start_time != transition_end_time")
        self.start, self.end = float(start), float(end)
        self.start_value, self.end_value = float(start_value), float(end_value)

    @property
    def x_range(self) -> tuple[float, float]:
        return (self.start, self.end)

    @property
    def is_linear(self) -> bool:
        return self.start_value == self.end_value

    def _evaluate(self, x: np.ndarray, order: int, wrt: int) -> np.ndarray:
        inverse_width = 1.0 / (self.end - self.start)
        sign = np.sign(inverse_width)
        u = (x - self.start) * inverse_width
        rise = self.end_value - self.start_value
        if order == 0:
            inside = self.start_value + u**3 * (10.0 + u * (6.0 * u - 15.0)) * rise
        elif order == 1:
            inside = inverse_width * 30.0 * u**2 * (1.0 + u * (u - 2.0)) * rise
        else:
            inside = inverse_width**2 * 60.0 * u * (1.0 + u * (2.0 * u - 3.0)) * rise
        before = (x - self.start) * sign <= 0
        after = (x - self.end) * sign >= 0
        held = (self.start_value, self.end_value) if order == 0 else (0.0, 0.0)
        return np.select([before, after], [np.full(x.shape, v) for v in held], inside)

    def __repr__(self) -> str:
        return (
            f"StepFunction(start={self.start!r}, end={self.end!r}, "
            f"start_value={self.start_value!r}, end_value={self.end_value!r})"
        )


class MultiplierFunction(OsimFunction):
    """f(x) = scale * g(x) for another function g."""

    def __init__(self, function: OsimFunction, scale: float = 1.0) -> None:
        self.function = function
        self.scale = float(scale)
        self.n_args = function.n_args

    @property
    def is_linear(self) -> bool:
        return self.function.is_linear

    @property
    def x_range(self) -> tuple[float, float] | None:
        return self.function.x_range

    def _evaluate(self, x: np.ndarray, order: int, wrt: int) -> np.ndarray:
        return self.function._evaluate(x, order, wrt) * self.scale

    def __repr__(self) -> str:
        return f"MultiplierFunction({self.function!r}, scale={self.scale!r})"


# ------------------------------------------------------------------------------ knot functions


class _KnotFunction(OsimFunction):
    """A function through points (x_i, y_i), located the way OpenSim locates an argument."""

    min_points = 2

    def __init__(self, x: np.ndarray | list[float], y: np.ndarray | list[float]) -> None:
        self.x = np.asarray(x, dtype=float).ravel()
        self.y = np.asarray(y, dtype=float).ravel()
        kind = type(self).__name__
        if self.x.size != self.y.size:
            raise ValueError(f"{kind} has {self.x.size} x values but {self.y.size} y values")
        if self.x.size < self.min_points:
            raise ValueError(f"{kind} needs at least {self.min_points} points, has {self.x.size}")

    @property
    def x_range(self) -> tuple[float, float]:
        return (float(self.x[0]), float(self.x[-1]))

    def _segment(self, x: np.ndarray) -> np.ndarray:
        """OpenSim's bisection: k with x_k <= x <= x_(k+1), ties resolved as OpenSim does."""
        knots, n = self.x, self.x.size
        target = np.clip(x, knots[0], knots[-1])  # outside points are answered elsewhere
        low, high = np.zeros(x.shape, dtype=int), np.full(x.shape, n)
        k = (low + high) // 2
        active = np.ones(x.shape, dtype=bool)
        for _ in range(4 * n + 64):  # bisection ends in log2(n) steps on sorted knots
            k = np.where(active, (low + high) // 2, k)
            below = active & (target < knots[k])
            above = active & ~below & (target > knots[np.minimum(k + 1, n - 1)])
            high, low = np.where(below, k, high), np.where(above, k, low)
            active = below | above
            if not active.any():
                break
        return k

    def _by_region(
        self, x: np.ndarray, outside: tuple, at_ends: tuple, inside: np.ndarray
    ) -> np.ndarray:
        """Pick left/right extrapolation, the end-knot answers, then the in-range answer."""
        first, last = self.x[0], self.x[-1]
        conditions = [
            x < first,
            x > last,
            np.abs(x - first) <= ROUNDOFF_ERROR,
            np.abs(x - last) <= ROUNDOFF_ERROR,
        ]
        choices = [np.broadcast_to(c, x.shape) for c in (*outside, *at_ends)]
        return np.select(conditions, choices, inside)


class SimmSpline(_KnotFunction):
    """OpenSim's SimmSpline (and old NaturalCubicSpline): cubic through the knots.

    Piece k is y_k + b_k dx + c_k dx^2 + d_k dx^3 with dx = x - x_k. The end conditions make the
    third derivative at each end equal the third divided difference of the four nearest points
    (a parabola for three points, a line for two). Outside the knots it is the end tangent.
    """

    def __init__(self, x: np.ndarray | list[float], y: np.ndarray | list[float]) -> None:
        super().__init__(x, y)
        self.b, self.c, self.d = _simm_coefficients(self.x, self.y)

    @property
    def is_linear(self) -> bool:
        return bool(not np.any(self.c) and not np.any(self.d) and np.all(self.b == self.b[0]))

    def _evaluate(self, x: np.ndarray, order: int, wrt: int) -> np.ndarray:
        k = self._segment(x)
        dx = x - self.x[k]
        b, c, d = self.b[k], self.c[k], self.d[k]
        if order == 0:
            outside = (
                self.y[0] + (x - self.x[0]) * self.b[0],
                self.y[-1] + (x - self.x[-1]) * self.b[-1],
            )
            inside = self.y[k] + dx * (b + dx * (c + dx * d))
            return self._by_region(x, outside, (self.y[0], self.y[-1]), inside)
        if order == 1:
            inside = b + dx * (2.0 * c + 3.0 * dx * d)
            ends = (self.b[0], self.b[-1])
            return self._by_region(x, ends, ends, inside)
        inside = 2.0 * c + 6.0 * dx * d
        return self._by_region(x, (0.0, 0.0), (2.0 * self.c[0], 2.0 * self.c[-1]), inside)

    def __repr__(self) -> str:
        return f"SimmSpline(n={self.x.size}, x_range={self.x_range})"


def _simm_coefficients(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients b, c, d (each shape (n,)) of SimmSpline's cubic pieces.

    Solves the tridiagonal system for s_i = f''(x_i) / 6 with interior rows
    h_(i-1) s_(i-1) + 2 (h_(i-1) + h_i) s_i + h_i s_(i+1) = delta_i - delta_(i-1).
    """
    n = x.size
    h = np.maximum(TINY_NUMBER, np.diff(x))
    delta = np.diff(y) / h
    if n == 2:
        return np.full(2, delta[0]), np.zeros(2), np.zeros(2)
    rhs = np.zeros(n)
    rhs[1:-1] = np.diff(delta)
    if n > 3:
        left = rhs[2] / _gap(x, 1, 3) - rhs[1] / _gap(x, 0, 2)
        right = rhs[-2] / _gap(x, -3, -1) - rhs[-3] / _gap(x, -4, -2)
        rhs[0] = left * h[0] * h[0] / _gap(x, 0, 3)
        rhs[-1] = -right * h[-1] * h[-1] / _gap(x, -4, -1)
    diagonal = np.empty(n)
    diagonal[1:-1] = 2.0 * (h[:-1] + h[1:])
    diagonal[0], diagonal[-1] = -h[0], -h[-1]
    bands = np.zeros((3, n))
    bands[0, 1:], bands[1], bands[2, :-1] = h, diagonal, h
    from scipy.linalg import solve_banded  # here: scipy takes longer to import than a model

    sigma = solve_banded((1, 1), bands, rhs)
    b = np.empty(n)
    b[:-1] = delta - h * (sigma[1:] + 2.0 * sigma[:-1])
    b[-1] = delta[-1] + h[-1] * (sigma[-2] + 2.0 * sigma[-1])
    d = np.empty(n)
    d[:-1] = np.diff(sigma) / h
    d[-1] = d[-2]
    return b, 3.0 * sigma, d


def _gap(x: np.ndarray, i: int, j: int) -> float:
    """x_j - x_i, but never below OpenSim's TINY_NUMBER."""
    return max(TINY_NUMBER, float(x[j] - x[i]))


class PiecewiseLinearFunction(_KnotFunction):
    """Straight lines between the knots, continued with the end slopes outside them."""

    def __init__(self, x: np.ndarray | list[float], y: np.ndarray | list[float]) -> None:
        super().__init__(x, y)
        slopes = np.diff(self.y) / np.maximum(TINY_NUMBER, np.diff(self.x))
        self.slopes = np.append(slopes, slopes[-1])

    @property
    def is_linear(self) -> bool:
        return bool(np.all(self.slopes == self.slopes[0]))

    def _evaluate(self, x: np.ndarray, order: int, wrt: int) -> np.ndarray:
        if order == 2:
            return np.zeros(x.shape)
        k = self._segment(x)
        first, last = self.slopes[0], self.slopes[-1]
        if order == 1:
            return self._by_region(x, (first, last), (first, last), self.slopes[k])
        outside = (self.y[0] + (x - self.x[0]) * first, self.y[-1] + (x - self.x[-1]) * last)
        inside = self.y[k] + (x - self.x[k]) * self.slopes[k]
        return self._by_region(x, outside, (self.y[0], self.y[-1]), inside)

    def __repr__(self) -> str:
        return f"PiecewiseLinearFunction(n={self.x.size}, x_range={self.x_range})"


class PiecewiseConstantFunction(_KnotFunction):
    """y_k from x_k up to the next knot (OpenSim's bisection decides at a knot); 0 derivatives."""

    min_points = 1

    @property
    def is_linear(self) -> bool:
        return bool(np.all(self.y == self.y[0]))

    def _evaluate(self, x: np.ndarray, order: int, wrt: int) -> np.ndarray:
        if order > 0:
            return np.zeros(x.shape)
        ends = (self.y[0], self.y[-1])
        return self._by_region(x, ends, ends, self.y[self._segment(x)])

    def __repr__(self) -> str:
        return f"PiecewiseConstantFunction(n={self.x.size}, x_range={self.x_range})"


class GCVSpline(_KnotFunction):
    """An interpolating GCV spline: the natural spline of degree 2m - 1 through the knots.

    ``half_order`` m is 1 (linear), 2 (cubic), 3 (quintic) or 4 (heptic); derivatives m to
    2m - 2 vanish at both end knots, and outside them the spline is its degree m - 1 Taylor
    polynomial at the nearer end knot (the right one from the last knot on, as SimTK searches).
    """

    def __init__(
        self, half_order: int, x: np.ndarray | list[float], y: np.ndarray | list[float]
    ) -> None:
        if not 1 <= half_order <= 4:
            raise ValueError(f"GCVSpline half_order must be 1 to 4, not {half_order}")
        self.half_order = int(half_order)
        self.min_points = 2 * self.half_order
        super().__init__(x, y)
        if np.any(np.diff(self.x) <= 0):
            raise ValueError("GCVSpline x values must be strictly increasing")
        m = self.half_order
        from scipy.interpolate import make_interp_spline

        zero_derivatives = [(j, 0.0) for j in range(m, 2 * m - 1)]
        bc = (zero_derivatives, zero_derivatives) if zero_derivatives else None
        self.spline: BSpline = make_interp_spline(self.x, self.y, k=2 * m - 1, bc_type=bc)
        self.left_taylor = np.array([self.spline(self.x[0], nu=j) for j in range(m)])
        self.right_taylor = np.array([self.spline(self.x[-1], nu=j) for j in range(m)])

    @property
    def degree(self) -> int:
        """Spline degree 2 * half_order - 1."""
        return 2 * self.half_order - 1

    def _evaluate(self, x: np.ndarray, order: int, wrt: int) -> np.ndarray:
        inside = self.spline(np.clip(x, self.x[0], self.x[-1]), nu=order)
        left = _taylor(self.left_taylor, x - self.x[0], order)
        right = _taylor(self.right_taylor, x - self.x[-1], order)
        return np.select([x < self.x[0], x >= self.x[-1]], [left, right], inside)

    def __repr__(self) -> str:
        return f"GCVSpline(half_order={self.half_order}, n={self.x.size}, x_range={self.x_range})"


def _taylor(derivatives: np.ndarray, dx: np.ndarray, order: int) -> np.ndarray:
    """The order-th derivative of sum_j derivatives[j] dx^j / j!."""
    total = np.zeros(dx.shape)
    factorial = 1.0
    for j in range(order, derivatives.size):
        total = total + derivatives[j] * dx ** (j - order) / factorial
        factorial *= j - order + 1
    return total


# ------------------------------------------------------------------------------------- parsing


def parse_function(element: etree._Element, where: str | None = None) -> OsimFunction:
    """Build the function an OpenSim XML element describes.

    ``element`` is a function element (``<SimmSpline>``, ``<LinearFunction>``, ...) or a property
    wrapper holding one (``<function>``, ``<x_location>``, ``<coupled_coordinates_function>``).
    ``where`` (default: file and line of the element) is used in error messages.
    Raises :class:`UnsupportedElement` for a function type with no handler and
    :class:`FileFormatError` for a malformed one.
    """
    tag = element.tag
    if tag not in _HANDLERS and tag[:1].islower():  # a property wrapper holding the function
        children = _children(element)
        if len(children) != 1:
            raise _format_error(element, f"<{tag}> should hold exactly one function element")
        return parse_function(children[0], where)
    handler = _HANDLERS.get(tag)
    if handler is None:
        raise UnsupportedElement(tag, element.get("name", ""), where or _where(element))
    try:
        return handler(element)
    except ValueError as error:
        raise _format_error(element, f"<{tag}>: {error}") from None


def _parse_simm_spline(element: etree._Element) -> OsimFunction:
    return SimmSpline(_numbers(element, "x"), _numbers(element, "y"))


def _parse_piecewise_linear(element: etree._Element) -> OsimFunction:
    return PiecewiseLinearFunction(_numbers(element, "x"), _numbers(element, "y"))


def _parse_piecewise_constant(element: etree._Element) -> OsimFunction:
    return PiecewiseConstantFunction(_numbers(element, "x"), _numbers(element, "y"))


def _parse_gcv_spline(element: etree._Element) -> OsimFunction:
    variance = _number(element, "error_variance", 0.0)
    if variance != 0.0:
        where = f"{_where(element)} (error_variance {variance}: only interpolating GCVSplines)"
        raise UnsupportedElement(element.tag, element.get("name", ""), where)
    half_order = _number(element, "half_order", 0.0)
    if half_order != int(half_order):
        raise ValueError(f"half_order must be an integer, not {half_order}")
    return GCVSpline(int(half_order), _numbers(element, "x"), _numbers(element, "y"))


def _parse_linear(element: etree._Element) -> OsimFunction:
    return LinearFunction(*_numbers(element, "coefficients", (1.0, 0.0)))


def _parse_polynomial(element: etree._Element) -> OsimFunction:
    return PolynomialFunction(_numbers(element, "coefficients", (1.0,)))


def _parse_constant(element: etree._Element) -> OsimFunction:
    return Constant(_number(element, "value", 0.0))


def _parse_step(element: etree._Element) -> OsimFunction:
    return StepFunction(
        _number(element, "transition_start_time", 0.99),
        _number(element, "transition_end_time", 1.01),
        _number(element, "start_value", 0.0),
        _number(element, "end_value", 1.0),
    )


def _parse_multiplier(element: etree._Element) -> OsimFunction:
    inner = element.find("function")
    if inner is None:  # tolerate the function object written directly inside
        inner = next((c for c in _children(element) if c.tag in _HANDLERS), None)
    if inner is None:
        raise ValueError("no <function> to multiply")
    return MultiplierFunction(parse_function(inner), _number(element, "scale", 1.0))


_HANDLERS: dict[str, Callable[[etree._Element], OsimFunction]] = {
    "SimmSpline": _parse_simm_spline,
    "NaturalCubicSpline": _parse_simm_spline,  # OpenSim 4 reads both old names as SimmSpline
    "natCubicSpline": _parse_simm_spline,
    "PiecewiseLinearFunction": _parse_piecewise_linear,
    "PiecewiseConstantFunction": _parse_piecewise_constant,
    "GCVSpline": _parse_gcv_spline,
    "LinearFunction": _parse_linear,
    "PolynomialFunction": _parse_polynomial,
    "Constant": _parse_constant,
    "StepFunction": _parse_step,
    "MultiplierFunction": _parse_multiplier,
}


def _children(element: etree._Element) -> list[etree._Element]:
    """Element children, skipping comments and processing instructions."""
    return [c for c in element if isinstance(c.tag, str)]


def _numbers(element: etree._Element, tag: str, default: tuple[float, ...] = ()) -> np.ndarray:
    """The whitespace-separated numbers of child ``<tag>`` (``default`` when it is absent)."""
    child = element.find(tag)
    if child is None:
        return np.array(default, dtype=float)
    try:
        return np.array([float(v) for v in (child.text or "").split()], dtype=float)
    except ValueError:
        raise _format_error(child, f"<{tag}> holds something that is not a number") from None


def _number(element: etree._Element, tag: str, default: float) -> float:
    """The single number of child ``<tag>``, or ``default`` when it is absent or empty."""
    values = _numbers(element, tag, (default,))
    if values.size > 1:
        raise _format_error(element.find(tag), f"<{tag}> should hold one number")
    return float(values[0]) if values.size else default


def _where(element: etree._Element) -> str:
    """'file:line' of an element, as far as lxml knows it."""
    path = element.getroottree().docinfo.URL or "<xml>"
    return f"{path}:{element.sourceline}" if element.sourceline else str(path)


def _format_error(element: etree._Element, problem: str) -> FileFormatError:
    path = element.getroottree().docinfo.URL or "<xml>"
    return FileFormatError(path, problem, line=element.sourceline)
