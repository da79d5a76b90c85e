"""Reserve and residual actuators: the ForceSet XML OpenSim's static optimization takes.

One handler per actuator element (``CoordinateActuator``, ``PointActuator``, ``TorqueActuator``);
each becomes a :class:`Actuator` whose scalar control ``u`` (bounded by ``min_control`` and
``max_control``) makes ``u * optimal_force`` of generalized force (N or N·m). Names of coordinates
and bodies are checked against the model, so a typo is one line naming the file, the actuator and
the valid choices. The same handlers read the non-muscle actuators of a model's own ForceSet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lxml import etree

from converters.errors import FileFormatError, UnknownNameError
from converters.opensim_io.xml_fields import ElementFields, opensim_element, parse_xml

__all__ = ["Actuator", "ACTUATOR_TAGS", "read_actuators", "model_actuators"]

ACTUATOR_TAGS = ("CoordinateActuator", "PointActuator", "TorqueActuator")


@dataclass(frozen=True)
class Actuator:
    """One scalar actuator (OpenSim's conventions).

    Attributes:
        kind: 'CoordinateActuator', 'PointActuator' or 'TorqueActuator'.
        name: the actuator's name (its column in the static optimization files).
        optimal_force: generalized force per unit control, N or N·m.
        min_control, max_control: control bounds (may be infinite).
        coordinate: CoordinateActuator: the coordinate it drives.
        body: PointActuator: the body the force acts on; TorqueActuator: body A.
        point: PointActuator: application point, m (ground frame if ``point_is_global``).
        direction: PointActuator: force direction (ground frame if ``force_is_global``).
        body_b: TorqueActuator: the body that takes the opposite torque.
        axis: TorqueActuator: torque axis (ground frame if ``torque_is_global``, else body A).
        source: the file it was read from.
    """

    kind: str
    name: str
    optimal_force: float
    min_control: float = -math.inf
    max_control: float = math.inf
    coordinate: str = ""
    body: str = ""
    point: np.ndarray | None = None
    point_is_global: bool = False
    direction: np.ndarray | None = None
    force_is_global: bool = False
    body_b: str = ""
    axis: np.ndarray | None = None
    torque_is_global: bool = True
    source: str = ""


def _unit(values: tuple[float, ...], f: ElementFields, tag: str) -> np.ndarray:
    v = np.array(values, dtype=float)
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        raise FileFormatError(
            f.path, f"<{tag}> of '{f.name}' is the zero vector", line=f.element.sourceline
        )
    return v / norm


def _common(f: ElementFields, default_force: float) -> dict:
    return {
        "name": f.name,
        "optimal_force": f.number("optimal_force", default_force),
        "min_control": f.number("min_control", -math.inf),
        "max_control": f.number("max_control", math.inf),
        "source": str(f.path),
    }


def _coordinate(f: ElementFields) -> Actuator:
    return Actuator("CoordinateActuator", coordinate=f.text("coordinate") or "", **_common(f, 1.0))


def _point(f: ElementFields) -> Actuator:
    return Actuator(
        "PointActuator",
        body=f.text("body") or "",
        point=np.array(f.numbers("point", 3, (0.0, 0.0, 0.0))),
        point_is_global=f.flag("point_is_global", False),
        # OpenSim uses the direction as given (its magnitude scales the force)
        direction=np.array(f.numbers("direction", 3, (1.0, 0.0, 0.0))),
        force_is_global=f.flag("force_is_global", False),
        **_common(f, 1.0),
    )


def _torque(f: ElementFields) -> Actuator:
    return Actuator(
        "TorqueActuator",
        body=f.text("bodyA") or "",
        body_b=f.text("bodyB") or "",
        axis=_unit(f.numbers("axis", 3, (0.0, 0.0, 1.0)), f, "axis"),
        torque_is_global=f.flag("torque_is_global", True),
        **_common(f, 1.0),
    )


_HANDLERS = {"CoordinateActuator": _coordinate, "PointActuator": _point, "TorqueActuator": _torque}


def _enabled(f: ElementFields) -> bool:
    return f.flag("appliesForce", True) and not f.flag("isDisabled", False)


def _check(
    actuator: Actuator, path: Path, coordinates: Iterable[str], bodies: Iterable[str], line: int
) -> None:
    where = f"{path}:{line} {actuator.kind} '{actuator.name}'"
    if actuator.kind == "CoordinateActuator":
        coordinates = list(coordinates)
        if actuator.coordinate not in coordinates:
            raise UnknownNameError("coordinate", actuator.coordinate, coordinates, where=where)
        return
    bodies = list(bodies)
    for body in (actuator.body, actuator.body_b):
        if body and body not in bodies:
            raise UnknownNameError("body", body, bodies, where=where)
    if not actuator.body:
        raise UnknownNameError("body", "", bodies, where=where)


def _read(path: Path, elements: Iterable[etree._Element], coordinates, bodies) -> list[Actuator]:
    found = []
    for element in elements:
        if not isinstance(element.tag, str) or element.tag not in _HANDLERS:
            continue
        f = ElementFields(path, element)
        if not _enabled(f):
            continue
        actuator = _HANDLERS[element.tag](f)
        _check(actuator, path, coordinates, bodies, element.sourceline)
        found.append(actuator)
    return found


def read_actuators(
    path: str | Path, coordinates: Iterable[str], bodies: Iterable[str]
) -> list[Actuator]:
    """The enabled actuators of a ForceSet file, in file order.

    ``coordinates`` and ``bodies`` are the model's (ground included among the bodies); an
    actuator naming anything else raises UnknownNameError. Other elements (muscles, springs)
    are ignored here, as static optimization only adds scalar actuators.
    """
    path = Path(path)
    element = opensim_element(path, ("ForceSet",), "a force set (reserve actuators) file")
    objects = element.find("objects")
    if objects is None:
        raise FileFormatError(path, "the ForceSet has no <objects>", line=element.sourceline)
    bodies = list(bodies)
    return _read(path, list(objects), list(coordinates), bodies)


def model_actuators(
    osim_path: str | Path, coordinates: Iterable[str], bodies: Iterable[str]
) -> list[Actuator]:
    """The enabled coordinate, point and torque actuators of a model's own ForceSet."""
    path = Path(osim_path)
    root = parse_xml(path)
    objects = root.find(".//Model/ForceSet/objects")
    if objects is None:
        return []
    return _read(path, list(objects), list(coordinates), list(bodies))
