"""Full-precision numbers in the MJCF text.

``MjSpec.to_xml`` prints six significant digits, which moves bodies by up to 1e-7 relative and
breaks inertias that sit exactly on the triangle inequality. This rewrites every numeric attribute
that the printed XML has, from the spec's own float64 values, as the shortest text that reads back
exactly.
"""

from __future__ import annotations

import mujoco
import numpy as np
from lxml import etree

__all__ = ["full_precision_xml"]

# tag -> (MjSpec finder, attributes copied verbatim from the spec object)
_ATTRIBUTES = {
    "body": ("body", ("pos", "quat")),
    "joint": ("joint", ("pos", "axis", "ref", "range", "armature")),
    "geom": ("geom", ("pos", "quat", "size")),
    "site": ("site", ("pos", "size")),
}
# <inertial> is printed from the compiled (diagonalised) body: principal moments and axes.
_INERTIAL = {"pos": "ipos", "quat": "iquat", "mass": "mass", "diaginertia": "inertia"}


def _text(values) -> str:
    return " ".join(repr(float(v)) for v in np.atleast_1d(np.asarray(values, dtype=float)))


def _copy(element: etree._Element, source, names: dict[str, str]) -> None:
    for attribute, field in names.items():
        if attribute in element.attrib:
            value = np.atleast_1d(np.asarray(getattr(source, field), dtype=float))
            width = len(element.get(attribute).split())
            element.set(attribute, _text(value[:width]))


def _add_missing_inertial(element: etree._Element, body) -> None:
    """``to_xml`` leaves out the inertial of a body whose centre of mass is at its origin."""
    if body.mass[0] <= 0:
        return
    inertial = etree.Element("inertial")
    inertial.set("pos", _text(body.ipos))
    inertial.set("quat", _text(body.iquat))
    inertial.set("mass", _text(body.mass))
    inertial.set("diaginertia", _text(body.inertia))
    element.insert(0, inertial)


def full_precision_xml(spec: mujoco.MjSpec, xml: str, model: mujoco.MjModel) -> str:
    """``xml`` (from ``spec.to_xml()``) with every number at full precision: from the spec, and
    for inertials from the compiled ``model`` (which is what ``to_xml`` prints there)."""
    root = etree.fromstring(xml.encode())
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = element.get("name")
        if element.getparent() is not None and element.getparent().tag == "equality":
            if name:
                _copy(element, spec.equality(name), {"polycoef": "data"})
        elif element.tag in _ATTRIBUTES and name:
            finder, attributes = _ATTRIBUTES[element.tag]
            _copy(element, getattr(spec, finder)(name), {a: a for a in attributes})
            if element.tag == "body" and element.find("inertial") is None:
                _add_missing_inertial(element, model.body(name))
        elif element.tag == "inertial":
            if "fullinertia" in element.attrib:
                raise ValueError("unexpected fullinertia in printed MJCF")
            _copy(element, model.body(element.getparent().get("name")), _INERTIAL)
        elif element.tag == "option":
            _copy(element, spec.option, {"gravity": "gravity", "timestep": "timestep"})
    return etree.tostring(root, pretty_print=True, encoding="unicode")
