"""What is in an ``.osim`` model, as OpenSim itself reads it (through the ``opensim`` package).

:func:`summarize_model` loads the model with OpenSim and returns a :class:`ModelSummary`: name,
document version, gravity, masses, coordinates, joints, constraints, forces, muscles, markers and
contact geometry. :func:`format_summary` turns it into the text ``kintwin inspect model.osim`` prints.
``opensim`` is imported only when a model is read, so importing this module is cheap.
"""

from __future__ import annotations

import math
import re
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from converters.errors import FileFormatError

__all__ = [
    "BodyInfo",
    "CoordinateInfo",
    "JointInfo",
    "ModelSummary",
    "MotionType",
    "coordinate_motion_types",
    "format_summary",
    "summarize_model",
]

MotionType = Literal["rotational", "translational", "coupled", "undefined"]
_MOTION_TYPES: dict[int, MotionType] = {1: "rotational", 2: "translational", 3: "coupled"}
_SWIG_PREFIX = re.compile(r"^std::exception in '[^']*':\s*")
_WIDTH = 100


@dataclass(frozen=True)
class BodyInfo:
    """A body: name and mass (kg)."""

    name: str
    mass: float


@dataclass(frozen=True)
class CoordinateInfo:
    """A coordinate. ``range`` and ``default_value`` are in rad (rotational) or m (translational)."""

    name: str
    motion_type: MotionType
    range: tuple[float, float]
    default_value: float
    locked: bool
    clamped: bool


@dataclass(frozen=True)
class JointInfo:
    """A joint: its OpenSim class name and the bodies it connects (base frames, 'ground' included)."""

    name: str
    type: str
    parent: str
    child: str


@dataclass(frozen=True)
class ModelSummary:
    """Contents of an ``.osim`` model. ``*_by_type`` map OpenSim class names to counts.

    ``forces_by_type`` excludes muscles, which are in ``muscles_by_type`` and ``muscle_names``;
    ``force_names`` are the other forces. ``gravity`` is in m/s² in the ground frame, masses in kg.
    """

    path: Path
    name: str
    version: int | None
    gravity: tuple[float, float, float]
    total_mass: float
    bodies: tuple[BodyInfo, ...]
    coordinates: tuple[CoordinateInfo, ...]
    joints: tuple[JointInfo, ...]
    joints_by_type: Mapping[str, int]
    constraints_by_type: Mapping[str, int]
    forces_by_type: Mapping[str, int]
    force_names: tuple[str, ...]
    muscles_by_type: Mapping[str, int]
    muscle_names: tuple[str, ...]
    markers: tuple[str, ...]
    contact_geometry_by_type: Mapping[str, int]


def summarize_model(path: str | Path) -> ModelSummary:
    """Load ``path`` with OpenSim and summarise it; FileFormatError if it is not a readable .osim."""
    path = Path(path)
    version = _document_version(path)
    model = _load_model(path)
    bodies = tuple(BodyInfo(b.getName(), b.getMass()) for b in _items(model.getBodySet()))
    joints = tuple(_joint_info(joint) for joint in _items(model.getJointSet()))
    muscles, others = _split_forces(model)
    gravity = model.getGravity()
    return ModelSummary(
        path=path,
        name=model.getName(),
        version=version,
        gravity=(gravity.get(0), gravity.get(1), gravity.get(2)),
        total_mass=math.fsum(body.mass for body in bodies),
        bodies=bodies,
        coordinates=_coordinates(model),
        joints=joints,
        joints_by_type=_count(joint.type for joint in joints),
        constraints_by_type=_count_classes(model.getConstraintSet()),
        forces_by_type=_count(force.getConcreteClassName() for force in others),
        force_names=tuple(force.getName() for force in others),
        muscles_by_type=_count(muscle.getConcreteClassName() for muscle in muscles),
        muscle_names=tuple(muscle.getName() for muscle in muscles),
        markers=tuple(marker.getName() for marker in _items(model.getMarkerSet())),
        contact_geometry_by_type=_count_classes(model.getContactGeometrySet()),
    )


def coordinate_motion_types(path: str | Path) -> dict[str, MotionType]:
    """Coordinate name -> 'rotational', 'translational' or 'coupled', as OpenSim classifies them."""
    path = Path(path)
    _document_version(path)
    return {c.name: c.motion_type for c in _coordinates(_load_model(path))}


def format_summary(summary: ModelSummary) -> str:
    """A compact multi-line description of ``summary`` (rotations shown in degrees)."""
    lines = _overview(summary)
    lines.append(f"coordinates ({len(summary.coordinates)}):")
    lines += [_coordinate_line(c) for c in summary.coordinates]
    lines.append(f"joints ({len(summary.joints)}):")
    lines += [f"  {j.name:<20} {j.type:<16} {j.parent} -> {j.child}" for j in summary.joints]
    bodies = (f"{b.name} {b.mass:.4g}" for b in summary.bodies)
    lines += _wrapped(f"bodies ({len(summary.bodies)}, kg)", bodies)
    lines += _wrapped(f"muscles ({len(summary.muscle_names)})", summary.muscle_names)
    lines += _wrapped(f"other forces ({len(summary.force_names)})", summary.force_names)
    lines += _wrapped(f"markers ({len(summary.markers)})", summary.markers)
    return "\n".join(lines)


def _document_version(path: Path) -> int | None:
    """``Version`` of the ``<OpenSimDocument>`` root; FileFormatError unless it holds a ``<Model>``."""
    if not path.is_file():
        raise FileFormatError(path, "no such file" if not path.exists() else "not a file")
    depth, version = 0, None
    try:
        with path.open("rb") as stream:
            for event, element in ET.iterparse(stream, events=("start", "end")):
                depth += 1 if event == "start" else -1
                if event == "end":
                    continue
                if depth == 1 and element.tag != "OpenSimDocument":
                    raise FileFormatError(path, f"not an OpenSim model: root is <{element.tag}>")
                if depth == 1:
                    version = element.get("Version")
                elif depth == 2 and element.tag == "Model":
                    return int(version) if version and version.strip().isdigit() else None
    except ET.ParseError as error:
        raise FileFormatError(path, f"not an OpenSim model: {error}") from None
    raise FileFormatError(path, "not an OpenSim model: no <Model> in <OpenSimDocument>")


def _load_model(path: Path) -> Any:
    """``opensim.Model`` of ``path`` with connections finalised; OpenSim errors -> one line."""
    from converters.opensim_reference.log import opensim_log

    with opensim_log("error") as opensim:
        try:
            model = opensim.Model(str(path))
            model.finalizeFromProperties()
            model.finalizeConnections()
        except RuntimeError as error:
            raise FileFormatError(path, f"OpenSim cannot read it: {_first_line(error)}") from None
    return model


def _first_line(error: BaseException) -> str:
    """The informative first line of an OpenSim (SWIG) exception message."""
    lines = [line.strip() for line in _SWIG_PREFIX.sub("", str(error)).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return type(error).__name__
    if lines[0].endswith(":") and len(lines) > 1:  # a heading such as "SimTK Exception thrown at"
        return f"{lines[0]} {lines[1]}"
    return lines[0]


def _items(opensim_set: Any) -> list[Any]:
    """The elements of an OpenSim Set, in order."""
    return [opensim_set.get(i) for i in range(opensim_set.getSize())]


def _count(names: Iterable[str]) -> dict[str, int]:
    """Name -> count, in order of first appearance."""
    return dict(Counter(names))


def _count_classes(opensim_set: Any) -> dict[str, int]:
    """OpenSim class name -> count over a Set."""
    return _count(item.getConcreteClassName() for item in _items(opensim_set))


def _coordinates(model: Any) -> tuple[CoordinateInfo, ...]:
    """Every coordinate of ``model`` with its motion type, range, default and flags."""
    return tuple(
        CoordinateInfo(
            name=c.getName(),
            motion_type=_MOTION_TYPES.get(int(c.getMotionType()), "undefined"),
            range=(c.getRangeMin(), c.getRangeMax()),
            default_value=c.getDefaultValue(),
            locked=bool(c.getDefaultLocked()),
            clamped=bool(c.getDefaultClamped()),
        )
        for c in _items(model.getCoordinateSet())
    )


def _joint_info(joint: Any) -> JointInfo:
    """Name, class and the base frames (bodies or ground) of the joint's parent and child frames."""
    parent = joint.getParentFrame().findBaseFrame().getName()
    child = joint.getChildFrame().findBaseFrame().getName()
    return JointInfo(joint.getName(), joint.getConcreteClassName(), parent, child)


def _split_forces(model: Any) -> tuple[list[Any], list[Any]]:
    """The model's forces split into (muscles, everything else)."""
    from converters.opensim_reference.log import import_opensim

    opensim = import_opensim()

    muscles, others = [], []
    for force in _items(model.getForceSet()):
        muscle = opensim.Muscle.safeDownCast(force)
        (muscles if muscle is not None else others).append(force)
    return muscles, others


def _overview(summary: ModelSummary) -> list[str]:
    """Header lines: name, file, mass, gravity and counts by type."""
    version = f"OpenSim document {summary.version}" if summary.version else "no document version"
    motion = _count(c.motion_type for c in summary.coordinates)
    g = " ".join(f"{value:g}" for value in summary.gravity)
    return [
        f"model {summary.name} ({version})",
        f"  file          {summary.path}",
        f"  mass          {summary.total_mass:.6g} kg in {len(summary.bodies)} bodies",
        f"  gravity       {g} m/s^2",
        f"  coordinates   {len(summary.coordinates)}{_by_type(motion)}",
        f"  joints        {len(summary.joints)}{_by_type(summary.joints_by_type)}",
        f"  constraints   {sum(summary.constraints_by_type.values())}"
        f"{_by_type(summary.constraints_by_type)}",
        f"  muscles       {len(summary.muscle_names)}{_by_type(summary.muscles_by_type)}",
        f"  other forces  {len(summary.force_names)}{_by_type(summary.forces_by_type)}",
        f"  markers       {len(summary.markers)}",
        f"  contacts      {sum(summary.contact_geometry_by_type.values())}"
        f"{_by_type(summary.contact_geometry_by_type)}",
    ]


def _by_type(counts: Mapping[str, int]) -> str:
    """': A 3, B 1' (or '' when empty)."""
    return ": " + ", ".join(f"{name} {n}" for name, n in counts.items()) if counts else ""


def _coordinate_line(c: CoordinateInfo) -> str:
    """One coordinate: type, range and default (deg for rotational, m for translational)."""
    scale, unit = {"rotational": (180.0 / math.pi, "deg"), "translational": (1.0, "m")}.get(
        c.motion_type, (1.0, "")
    )
    low, high = (value * scale for value in c.range)
    flags = "".join(f" {flag}" for flag, on in (("locked", c.locked), ("clamped", c.clamped)) if on)
    span = f"[{low:.6g}, {high:.6g}] {unit}"
    return f"  {c.name:<20} {c.motion_type:<13} {span:<26} default {c.default_value * scale:.6g}{flags}"


def _wrapped(title: str, names: Iterable[str]) -> list[str]:
    """``title:`` then the names, comma separated, wrapped and indented; nothing if none."""
    text = ", ".join(names)
    if not text:
        return []
    return [f"{title}:", textwrap.fill(text, _WIDTH, initial_indent="  ", subsequent_indent="  ")]
