"""Contact elements of an ``.osim``: geometry (spheres, half spaces, meshes) and compliant contact
forces (Hunt-Crossley, elastic foundation, smooth sphere/half-space) with their parameters.

OpenSim 4 nests a force's parameters as ``<HuntCrossleyForce::ContactParametersSet>`` /
``<...::ContactParameters>``; :func:`converters.opensim_io.xml_fields.parse_xml` reads ``::`` as
``_``, which is also how OpenSim 3 spelled them, so one handler reads both.
"""

from __future__ import annotations

import math

import numpy as np
from lxml import etree

from converters.errors import KintwinError
from converters.osim.model import (
    ContactForce,
    ContactHalfSpace,
    ContactMesh,
    ContactParameters,
    ContactSphere,
)

__all__ = ["CONTACT_FORCES", "contact_force", "contact_shape"]

CONTACT_FORCES = ("HuntCrossleyForce", "ElasticFoundationForce", "SmoothSphereHalfSpaceForce")
_FRICTION = ("static_friction", "dynamic_friction", "viscous_friction")


def _text(element: etree._Element, tag: str) -> str:
    child = element.find(tag)
    return "" if child is None or child.text is None else child.text.strip()


def _number(element: etree._Element, tag: str, default: float, where: str) -> float:
    """A finite, non-negative number property (``default`` when absent)."""
    text = _text(element, tag)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise KintwinError(f"{where}: <{tag}> is '{text}', expected a number >= 0")
    return value


def contact_shape(
    element: etree._Element, body: str, pose: np.ndarray, where: str
) -> ContactSphere | ContactHalfSpace | ContactMesh | None:
    """The geometry of one ``<ContactGeometrySet>`` entry on ``body`` at ``pose`` (its frame in the
    body); None for a type this project does not convert."""
    name = element.get("name") or ""
    if element.tag == "ContactSphere":
        radius = _number(element, "radius", 0.0, where)
        if radius <= 0:
            raise KintwinError(f"{where}: ContactSphere '{name}' needs a radius > 0")
        return ContactSphere(name, body, pose, radius)
    if element.tag == "ContactHalfSpace":
        return ContactHalfSpace(name, body, pose)
    if element.tag == "ContactMesh":
        mesh_file = _text(element, "filename")
        if not mesh_file:
            raise KintwinError(f"{where}: ContactMesh '{name}' has no <filename>")
        return ContactMesh(name, body, pose, mesh_file)
    return None


def contact_force(element: etree._Element, where: str) -> ContactForce:
    """A ``HuntCrossleyForce``, ``ElasticFoundationForce`` or ``SmoothSphereHalfSpaceForce``."""
    name = element.get("name") or ""
    transition = _number(element, "transition_velocity", 0.001, where)
    if element.tag == "SmoothSphereHalfSpaceForce":
        geometry = [
            _text(element, "socket_sphere").rsplit("/", 1)[-1],
            _text(element, "socket_half_space").rsplit("/", 1)[-1],
        ]
        parameters = [_parameters(element, [g for g in geometry if g], where)]
    else:
        tag = f"{element.tag}_ContactParameters"
        found = element.findall(f"{tag}Set/objects/{tag}") or element.findall(f".//{tag}")
        parameters = [_parameters(p, _text(p, "geometry").split(), where) for p in found]
    return ContactForce(element.tag, name, parameters, transition, where)


def _parameters(element: etree._Element, geometry: list[str], where: str) -> ContactParameters:
    return ContactParameters(
        geometry=geometry,
        stiffness=_number(element, "stiffness", 0.0, where),
        dissipation=_number(element, "dissipation", 0.0, where),
        **{f: _number(element, f, 0.0, where) for f in _FRICTION},
    )
