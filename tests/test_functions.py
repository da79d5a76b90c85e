"""OpenSim Function types: every value and derivative checked against the ``opensim`` package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from converters.errors import FileFormatError, KintwinError, UnsupportedElement
from converters.osim.functions import (
    Constant,
    GCVSpline,
    LinearFunction,
    MultiplierFunction,
    OsimFunction,
    PolynomialFunction,
    SimmSpline,
    parse_function,
)

osim = pytest.importorskip("opensim")
osim.Logger.setLevelString("error")

RTOL = 1e-10
RNG = np.random.default_rng(20240611)

MODELS = (
    "opensim-models/Models/Rajagopal/Rajagopal2016.osim",
    "opencap-processing/OpenSimPipeline/Models/LaiUhlrich2022.osim",
    "opensim-models/Models/Gait2392_Simbody/gait2392_millard2012muscle.osim",
)


# ------------------------------------------------------------------------------------- helpers


def xml(snippet: str) -> etree._Element:
    return etree.fromstring(snippet)


def numbers(values: np.ndarray) -> str:
    return " ".join(repr(float(v)) for v in values)


def knot_xml(tag: str, x: np.ndarray, y: np.ndarray) -> etree._Element:
    return xml(f"<{tag} name='function'><x>{numbers(x)}</x><y>{numbers(y)}</y></{tag}>")


def opensim_values(function, points: np.ndarray, order: int) -> np.ndarray:
    """OpenSim's value (order 0) or derivative of a one-argument function at each point."""
    out = []
    for p in points:
        arg = osim.Vector(1, float(p))
        if order == 0:
            out.append(function.calcValue(arg))
        else:
            out.append(function.calcDerivative(osim.StdVectorInt([0] * order), arg))
    return np.array(out)


def assert_like_opensim(ours: OsimFunction, theirs, points: np.ndarray) -> None:
    """Value, first and second derivative agree to RTOL (plus a round-off floor)."""
    for order in (0, 1, 2):
        expected = opensim_values(theirs, points, order)
        got = ours.value(points) if order == 0 else ours.derivative(points, order)
        floor = 1e-12 * max(1.0, float(np.max(np.abs(expected))))
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=floor, err_msg=f"order {order}")


def probe_points(x: np.ndarray) -> np.ndarray:
    """Inside and outside the knots, on the knots and just beside them (also within 2e-13)."""
    low, high = float(x[0]), float(x[-1])
    width = max(high - low, 1.0)
    grid = np.linspace(low - 0.6 * width, high + 0.6 * width, 301)
    near = np.concatenate([x, x - 1e-14, x + 1e-14, x - 1e-9, x + 1e-9])
    return np.concatenate([grid, near])


def random_knots(n: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.cumsum(RNG.uniform(0.05, 1.0, n)) - 1.3
    return x, RNG.normal(0.0, 1.0, n)


def simm_spline(x: np.ndarray, y: np.ndarray):
    spline = osim.SimmSpline()
    for a, b in zip(x, y, strict=True):
        spline.addPoint(float(a), float(b))
    return spline


def from_document(tmp_path: Path, element_text: str):
    """An OpenSim Function object read from an XML document holding ``element_text``."""
    path = tmp_path / "function.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        f'<OpenSimDocument Version="40000">{element_text}</OpenSimDocument>\n'
    )
    return osim.Function.safeDownCast(osim.OpenSimObject.makeObjectFromFile(str(path)))


# --------------------------------------------------------------------------- one type at a time


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 17])
def test_simm_spline_matches_opensim(n: int) -> None:
    x, y = random_knots(n)
    ours = parse_function(knot_xml("SimmSpline", x, y))
    assert isinstance(ours, SimmSpline)
    assert_like_opensim(ours, simm_spline(x, y), probe_points(x))


def test_simm_spline_with_close_and_repeated_knots_matches_opensim() -> None:
    x = np.array([-2.0944, -1.5708, 0.0, 0.00017453, 0.00034907, 0.0279253, 0.0872665, 2.0944])
    y = np.array([0.0155805, 0.0275081, 0.0617576, 0.0617669, 0.0617762, 0.0633, 0.0669, 0.0573])
    assert_like_opensim(SimmSpline(x, y), simm_spline(x, y), probe_points(x))
    x_repeated = np.array([0.0, 1.0, 1.0, 2.0, 3.0])
    y_repeated = np.array([0.0, 1.0, 1.5, 0.5, 1.0])
    assert_like_opensim(
        SimmSpline(x_repeated, y_repeated),
        simm_spline(x_repeated, y_repeated),
        probe_points(x_repeated),
    )


def test_the_older_spline_names_are_read_as_simm_splines() -> None:
    x, y = random_knots(6)
    points = probe_points(x)
    expected = SimmSpline(x, y).value(points)
    for tag in ("NaturalCubicSpline", "natCubicSpline"):
        np.testing.assert_array_equal(parse_function(knot_xml(tag, x, y)).value(points), expected)


@pytest.mark.parametrize("n", [2, 3, 7])
def test_piecewise_linear_function_matches_opensim(n: int) -> None:
    x, y = random_knots(n)
    theirs = osim.PiecewiseLinearFunction()
    for a, b in zip(x, y, strict=True):
        theirs.addPoint(float(a), float(b))
    ours = parse_function(knot_xml("PiecewiseLinearFunction", x, y))
    assert_like_opensim(ours, theirs, probe_points(x))


@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_piecewise_constant_function_matches_opensim(n: int) -> None:
    x, y = random_knots(n)
    theirs = osim.PiecewiseConstantFunction()
    for a, b in zip(x, y, strict=True):
        theirs.addPoint(float(a), float(b))
    ours = parse_function(knot_xml("PiecewiseConstantFunction", x, y))
    assert_like_opensim(ours, theirs, probe_points(x))


@pytest.mark.parametrize(("half_order", "n"), [(1, 5), (2, 4), (2, 9), (3, 6), (3, 12), (4, 10)])
def test_gcv_spline_matches_opensim(tmp_path: Path, half_order: int, n: int) -> None:
    x, y = random_knots(n)
    text = (
        f"<GCVSpline name='g'><half_order>{half_order}</half_order>"
        f"<error_variance>0</error_variance><x>{numbers(x)}</x><y>{numbers(y)}</y>"
        f"<weights>{numbers(np.ones(n))}</weights></GCVSpline>"
    )
    ours = parse_function(xml(text))
    assert isinstance(ours, GCVSpline) and ours.degree == 2 * half_order - 1
    assert_like_opensim(ours, from_document(tmp_path, text), probe_points(x))


def test_gcv_spline_from_sampled_data_matches_opensim(tmp_path: Path) -> None:
    x = np.linspace(0.0, 1.0, 101)
    y = np.sin(2 * np.pi * x) + 0.3 * x**2
    text = (
        f"<GCVSpline><half_order>3</half_order><x>{numbers(x)}</x><y>{numbers(y)}</y></GCVSpline>"
    )
    assert_like_opensim(parse_function(xml(text)), from_document(tmp_path, text), probe_points(x))


@pytest.mark.parametrize(
    "coefficients",
    [[2.5], [0.5, -1.0], [1.0, -2.0, 0.5, 3.0], [0.0108, -0.0252, -0.0328, 0.0791, -1.5e-08]],
)
def test_polynomial_function_matches_opensim_highest_power_first(coefficients: list[float]) -> None:
    element = xml(
        f"<PolynomialFunction><coefficients>{numbers(coefficients)}</coefficients></PolynomialFunction>"
    )
    ours = parse_function(element)
    theirs = osim.PolynomialFunction(osim.Vector(coefficients))
    assert_like_opensim(ours, theirs, np.linspace(-3.0, 3.0, 61))
    assert float(ours.value(2.0)) == pytest.approx(np.polyval(coefficients, 2.0), rel=1e-14)


def test_linear_function_matches_opensim() -> None:
    ours = parse_function(
        xml("<LinearFunction><coefficients> -1.5 0.25</coefficients></LinearFunction>")
    )
    assert_like_opensim(ours, osim.LinearFunction(-1.5, 0.25), np.linspace(-4.0, 4.0, 33))


def test_linear_function_of_three_arguments_matches_opensim() -> None:
    coefficients = [0.5, -2.0, 1.25, 0.75]
    ours = parse_function(
        xml(
            f"<LinearFunction><coefficients>{numbers(coefficients)}</coefficients></LinearFunction>"
        )
    )
    array = osim.ArrayDouble()
    for c in coefficients:
        array.append(c)
    theirs = osim.LinearFunction(array)
    assert ours.n_args == theirs.getArgumentSize() == 3
    points = RNG.normal(size=(20, 3))
    for point, value in zip(points, ours.value(points), strict=True):
        arg = osim.Vector(point.tolist())
        assert value == pytest.approx(theirs.calcValue(arg), rel=RTOL)
        for wrt in range(3):
            first = theirs.calcDerivative(osim.StdVectorInt([wrt]), arg)
            assert float(ours.derivative(point, 1, wrt=wrt)) == first
            assert float(ours.derivative(point, 2, wrt=wrt)) == 0.0
    assert ours.value(points).shape == (20,)


def test_constant_matches_opensim() -> None:
    ours = parse_function(xml("<Constant name='function'><value>-0.0123</value></Constant>"))
    assert_like_opensim(ours, osim.Constant(-0.0123), np.linspace(-2.0, 2.0, 9))


@pytest.mark.parametrize(("start", "end"), [(0.2, 1.3), (1.3, 0.2)])
def test_step_function_matches_opensim(start: float, end: float) -> None:
    text = (
        f"<StepFunction><transition_start_time>{start}</transition_start_time>"
        f"<transition_end_time>{end}</transition_end_time><start_value>-1.5</start_value>"
        "<end_value>2.0</end_value></StepFunction>"
    )
    ours = parse_function(xml(text))
    assert_like_opensim(ours, osim.StepFunction(start, end, -1.5, 2.0), np.linspace(-1.0, 2.5, 71))


def test_multiplier_function_matches_opensim() -> None:
    x, y = random_knots(6)
    inner = simm_spline(x, y)
    inner.this.disown()  # the MultiplierFunction owns (and deletes) its function
    theirs = osim.MultiplierFunction(inner, 1.0013503793384051)
    element = xml(
        "<MultiplierFunction name='function'><function>"
        f"{etree.tostring(knot_xml('SimmSpline', x, y)).decode()}"
        "</function><scale>1.0013503793384051</scale></MultiplierFunction>"
    )
    ours = parse_function(element)
    assert isinstance(ours, MultiplierFunction) and ours.x_range == (x[0], x[-1])
    assert_like_opensim(ours, theirs, probe_points(x))


# ------------------------------------------------------------------------------- API, wrappers


def test_property_wrappers_are_unwrapped() -> None:
    for wrapper in ("function", "x_location", "coupled_coordinates_function"):
        element = xml(
            f"<{wrapper}><!-- a comment --><LinearFunction><coefficients>2 1</coefficients>"
            f"</LinearFunction></{wrapper}>"
        )
        function = parse_function(element)
        assert isinstance(function, LinearFunction)
        assert float(function.value(3.0)) == 7.0


def test_derivatives_match_finite_differences() -> None:
    x, y = random_knots(9)
    functions = [
        SimmSpline(x, y),
        GCVSpline(3, x, y),
        GCVSpline(4, x, y),
        PolynomialFunction([0.3, -1.0, 2.0, 0.5]),
        MultiplierFunction(SimmSpline(x, y), -2.0),
        parse_function(
            xml("<StepFunction><transition_start_time>0</transition_start_time></StepFunction>")
        ),
    ]
    points = np.linspace(x[0] - 1.0, x[-1] + 1.0, 400)
    points = points[np.min(np.abs(points[:, None] - x[None, :]), axis=1) > 1e-3]
    h = 1e-6
    for function in functions:
        for order in (1, 2):
            below = function.value(points - h) if order == 1 else function.derivative(points - h)
            above = function.value(points + h) if order == 1 else function.derivative(points + h)
            expected = function.derivative(points, order)
            np.testing.assert_allclose((above - below) / (2 * h), expected, rtol=1e-5, atol=1e-5)


def test_flags_ranges_and_representations() -> None:
    identity = parse_function(
        xml("<LinearFunction><coefficients> 1 0</coefficients></LinearFunction>")
    )
    assert identity.is_identity and identity.is_linear and identity.x_range is None
    assert not LinearFunction(1.0, 0.1).is_identity
    assert MultiplierFunction(LinearFunction(2.0, 0.0), 0.5).is_identity
    assert Constant(3.0).is_linear and not Constant(3.0).is_identity
    assert PolynomialFunction([0.0, 0.0, 1.0, 0.0]).is_identity
    assert not PolynomialFunction([1.0, 0.0, 0.0]).is_linear
    assert SimmSpline([0.0, 1.0], [0.0, 2.0]).is_linear
    spline = SimmSpline([0.0, 1.0, 2.5], [0.0, 2.0, 1.0])
    assert not spline.is_linear and spline.x_range == (0.0, 2.5)
    assert "SimmSpline" in repr(spline) and "LinearFunction(1.0, 0.0)" == repr(identity)
    assert np.shape(spline.value(0.5)) == () and spline.value(np.zeros((2, 3))).shape == (2, 3)
    with pytest.raises(ValueError, match="order"):
        spline.derivative(0.5, order=3)


# ------------------------------------------------------------------------------------- errors


def test_unknown_function_raises_error_naming_the_tag() -> None:
    element = etree.fromstring(
        "<TransformAxis name='rotation1'>\n<function>\n"
        "<ExpressionBasedFunction name='f'><expression>x^2</expression></ExpressionBasedFunction>"
        "</function></TransformAxis>"
    )
    with pytest.raises(UnsupportedElement, match="<ExpressionBasedFunction name='f'>") as caught:
        parse_function(element.find("function"))
    assert isinstance(caught.value, KintwinError)
    assert caught.value.tag == "ExpressionBasedFunction" and ":3" in caught.value.where
    with pytest.raises(UnsupportedElement, match="TransformAxis"):
        parse_function(element)


def test_smoothing_gcv_spline_raises_error() -> None:
    element = xml(
        "<GCVSpline><half_order>3</half_order><error_variance>0.1</error_variance>"
        "<x>0 1 2 3 4 5</x><y>0 1 0 1 0 1</y></GCVSpline>"
    )
    with pytest.raises(UnsupportedElement, match="error_variance"):
        parse_function(element)


@pytest.mark.parametrize(
    ("snippet", "problem"),
    [
        ("<SimmSpline><x>0</x><y>1</y></SimmSpline>", "at least 2 points"),
        ("<SimmSpline><x>0 1 2</x><y>1 2</y></SimmSpline>", "3 x values but 2 y values"),
        ("<PiecewiseLinearFunction><x>0 a</x><y>1 2</y></PiecewiseLinearFunction>", "not a number"),
        ("<GCVSpline><half_order>3</half_order><x>0 1 2</x><y>0 1 2</y></GCVSpline>", "at least 6"),
        ("<GCVSpline><x>0 1 2</x><y>0 1 2</y></GCVSpline>", "half_order"),
        ("<LinearFunction><coefficients>1</coefficients></LinearFunction>", "2 coefficients"),
        ("<MultiplierFunction><scale>2</scale></MultiplierFunction>", "no <function>"),
        ("<function></function>", "exactly one"),
    ],
)
def test_malformed_function_raises_error(snippet: str, problem: str) -> None:
    with pytest.raises(FileFormatError, match=problem):
        parse_function(xml(snippet))


# ------------------------------------------------------------------------------ the real models


Found = tuple[str, etree._Element, object, list[str]]
AXES = ("rotation1", "rotation2", "rotation3", "translation1", "translation2", "translation3")


def axis_functions(tree: etree._ElementTree, model) -> Iterator[Found]:
    """(label, XML function element, the same function in OpenSim, coordinate names) per axis."""
    for joint in tree.iter("CustomJoint"):
        custom = osim.CustomJoint.safeDownCast(model.getJointSet().get(joint.get("name")))
        for axis in joint.iter("TransformAxis"):
            element = next(
                c for c in axis if isinstance(c.tag, str) and c.tag not in ("coordinates", "axis")
            )
            theirs = custom.getSpatialTransform().getTransformAxis(AXES.index(axis.get("name")))
            coordinates = (axis.findtext("coordinates") or "").split()
            yield (
                f"{joint.get('name')}/{axis.get('name')}",
                element,
                theirs.getFunction(),
                coordinates,
            )


def coupler_functions(tree: etree._ElementTree, model) -> Iterator[Found]:
    """The same, for each CoordinateCouplerConstraint."""
    for coupler in tree.iter("CoordinateCouplerConstraint"):
        name = coupler.get("name")
        theirs = osim.CoordinateCouplerConstraint.safeDownCast(model.getConstraintSet().get(name))
        coordinates = (coupler.findtext("independent_coordinate_names") or "").split()
        yield name, coupler.find("coupled_coordinates_function"), theirs.getFunction(), coordinates


def path_point_functions(tree: etree._ElementTree, model) -> Iterator[Found]:
    """The same, for the x, y and z location of each MovingPathPoint of a muscle."""
    for point in tree.iter("MovingPathPoint"):
        owner = next(a for a in point.iterancestors() if a.getparent().tag == "objects")
        muscle = osim.Muscle.safeDownCast(model.getForceSet().get(owner.get("name")))
        points = osim.GeometryPath.safeDownCast(muscle.getPath()).getPathPointSet()
        moving = osim.MovingPathPoint.safeDownCast(points.get(point.get("name")))
        locations = (moving.get_x_location(), moving.get_y_location(), moving.get_z_location())
        for axis, theirs in zip("xyz", locations, strict=True):
            coordinate = (point.findtext(f"socket_{axis}_coordinate") or "").split("/")[-1]
            yield (
                f"{point.get('name')}/{axis}",
                point.find(f"{axis}_location"),
                theirs,
                [coordinate],
            )


def coordinate_range(model, coordinates: list[str]) -> tuple[float, float]:
    if not coordinates:
        return (-1.0, 1.0)
    coordinate = model.getCoordinateSet().get(coordinates[0])
    return coordinate.getRangeMin(), coordinate.getRangeMax()


@pytest.mark.parametrize("relative", MODELS)
def test_every_function_of_the_real_models_matches_opensim(
    shared_data: Path, relative: str
) -> None:
    path = shared_data / relative
    tree, model = etree.parse(str(path)), osim.Model(str(path))
    found = [*axis_functions(tree, model), *coupler_functions(tree, model)]
    found += path_point_functions(tree, model)
    kinds = set()
    for label, element, theirs, coordinates in found:
        ours = parse_function(element)
        kinds.add(type(ours).__name__)
        assert ours.n_args == 1 and len(coordinates) <= 1, label
        low, high = coordinate_range(model, coordinates)
        points = np.linspace(low - 0.25 * (high - low), high + 0.25 * (high - low), 97)
        points = np.concatenate([points, getattr(ours, "x", [])])  # the knots, if any
        try:
            assert_like_opensim(ours, theirs, points)
        except AssertionError as error:
            raise AssertionError(f"{relative}: {label}: {ours!r}\n{error}") from None
    assert len(found) > 50
    assert {"LinearFunction", "SimmSpline", "Constant"} <= kinds
