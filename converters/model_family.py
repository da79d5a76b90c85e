"""A model family: what a trained policy depends on in a model, and what may differ.

OpenSim's ScaleTool changes a subject's segment lengths, masses and inertias but keeps the names,
the tree and the joint types; every OpenCap session's model is ``LaiUhlrich2022.osim`` scaled so.
A policy that observes the body and acts on coordinates works on any model of its family, and
must refuse another: other coordinates, another tree, other joint types, other muscles (for a
muscle-driven policy). :func:`model_family` records those; :func:`family_differences` says, in
words, what a model changes.
"""

from __future__ import annotations

from converters.osim.model import OsimModel

__all__ = ["model_family", "family_differences"]


def model_family(osim: OsimModel, muscles: bool = False) -> dict:
    """The family signature of ``osim``: coordinates (name, type) in model order, each body's
    parent, each joint's type; with ``muscles``, the muscle names in model order. Plain lists and
    dicts, for a checkpoint or a card."""
    family = {
        "coordinates": [[c.name, c.motion_type] for c in osim.coordinates.values()],
        "parents": {j.child_body: j.parent_body for j in osim.joints},
        "joint_types": {j.name: j.type for j in osim.joints},
    }
    if muscles:
        family["muscles"] = [m.name for m in osim.muscles]
    return family


def family_differences(expected: dict, actual: dict) -> list[str]:
    """What ``actual`` changes in the family ``expected`` (empty when it belongs to it)."""
    found = _named_list("coordinate", expected["coordinates"], actual["coordinates"])
    found += _mapping("body", "hangs on", expected["parents"], actual["parents"])
    found += _mapping("joint", "is a", expected["joint_types"], actual["joint_types"])
    if "muscles" in expected:
        found += _named_list("muscle", expected["muscles"], actual.get("muscles", []))
    return found


def _named_list(noun: str, expected: list, actual: list) -> list[str]:
    """Missing, extra and changed entries of two ordered lists (names, or [name, kind] pairs)."""

    def name(item) -> str:
        return item[0] if isinstance(item, list | tuple) else item

    want = {name(i): i for i in expected}
    have = {name(i): i for i in actual}
    found = []
    missing = [n for n in want if n not in have]
    extra = [n for n in have if n not in want]
    if missing:
        found.append(f"{_plural(noun)} missing: {_few(missing)}")
    if extra:
        found.append(f"{_plural(noun)} not in the family: {_few(extra)}")
    for n in want:
        if n in have and list(want[n]) != list(have[n]) and not isinstance(want[n], str):
            found.append(f"{noun} '{n}' is {have[n][1]}, not {want[n][1]}")
    if not missing and not extra and [name(i) for i in expected] != [name(i) for i in actual]:
        found.append(f"{_plural(noun)} in another order")
    return found


def _mapping(noun: str, verb: str, expected: dict, actual: dict) -> list[str]:
    """Differences between two name -> value maps, e.g. body -> parent."""
    found = _named_list(noun, list(expected), list(actual))
    found = [line for line in found if not line.endswith("in another order")]
    for key, value in expected.items():
        if key in actual and actual[key] != value:
            found.append(f"{noun} '{key}' {verb} {actual[key]}, not {value}")
    return found


def _few(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def _plural(noun: str) -> str:
    return "bodies" if noun == "body" else f"{noun}s"
