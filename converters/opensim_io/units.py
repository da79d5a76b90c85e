"""Degrees <-> radians for coordinate tables: the one place where angles change units.

Which columns are rotational comes from the model when one is given (OpenSim's coordinate motion
types), else from the column names: ``*_tx``/``*_ty``/``*_tz`` and force, point, torque and moment
columns are not angles.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from converters.errors import KintwinError
from converters.opensim_io.table import Table

__all__ = ["rotational_columns", "convert_angles", "coordinate_of_column"]

_NOT_ANGLE = re.compile(
    r"(_t[xyz]$|_[vpm][xyz]$|force|torque|moment|_pos|_vel|_acc|activation|length|time$|"
    r"translation|residual|error)",
    re.IGNORECASE,
)


_UNIT_NOTE = re.compile(r"angles are in (degrees|radians)", re.IGNORECASE)


def coordinate_of_column(label: str) -> str:
    """The coordinate a column belongs to: ``/jointset/hip_r/hip_flexion_r/value`` -> ``hip_flexion_r``."""
    parts = [p for p in label.split("/") if p]
    if len(parts) >= 2 and parts[-1] in ("value", "speed"):
        return parts[-2]
    return label


def rotational_columns(
    labels: Iterable[str], motion_types: Mapping[str, str] | None = None
) -> list[str]:
    """The labels that hold angles.

    Args:
        labels: column labels of a table.
        motion_types: coordinate name -> 'rotational' | 'translational' | 'coupled' from a model;
            when given, only columns of rotational coordinates count (OpenSim's own rule).
    """
    if motion_types is None:
        return [x for x in labels if not _NOT_ANGLE.search(x)]
    return [
        x for x in labels if motion_types.get(coordinate_of_column(x)) in ("rotational", "coupled")
    ]


def convert_angles(table: Table, to_degrees: bool, rotational: Iterable[str]) -> Table:
    """A copy of ``table`` with its rotational columns in degrees (or radians) and the flag set.

    A table already in the wanted unit is returned unchanged (as a copy). A table whose header
    does not say which unit it is in cannot be converted.
    """
    if table.in_degrees is None:
        raise KintwinError(
            "the table's header has no inDegrees flag, so its angle unit is unknown; "
            "add inDegrees=yes or inDegrees=no to its header first"
        )
    data = table.data.copy()
    if table.in_degrees != to_degrees:
        factor = 180.0 / math.pi if to_degrees else math.pi / 180.0
        wanted = set(rotational)
        for k, label in enumerate(table.labels):
            if label in wanted:
                data[:, k] *= factor
    converted = table.with_data(data, in_degrees=to_degrees)
    converted.comments = [c for c in converted.comments if not _UNIT_NOTE.search(c)]
    return converted
