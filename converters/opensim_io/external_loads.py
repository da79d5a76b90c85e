"""OpenSim ExternalLoads: the ``.xml`` that names force-plate columns, and the GRF data it applies.

:func:`read_external_loads` parses the XML (document versions 20302, 30000 and 40000 alike) into
an :class:`ExternalLoadsSpec`; :func:`load_external_loads` also reads the data file and returns,
per enabled ExternalForce, the force, point and torque series in the ground frame
(:class:`ExternalLoads`), with per-body totals from :meth:`ExternalLoads.forces_by_body`.

Columns are found as OpenSim finds them: identifier + ``x``/``y``/``z`` (``ground_force_v`` ->
``ground_force_vx``, ``ground_force_vy``, ``ground_force_vz``). The data file is resolved relative
to the XML file's folder, as OpenSim does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import NamedTuple

import numpy as np

from converters.errors import FileFormatError, KintwinError, MissingPathError, UnknownNameError
from converters.opensim_io.table import Table, read_table
from converters.opensim_io.xml_fields import (
    ElementFields,
    is_foreign_absolute,
    opensim_element,
    resolve_setup_path,
)

__all__ = [
    "ExternalForceSpec",
    "ExternalLoadsSpec",
    "AppliedForce",
    "BodyLoad",
    "ExternalLoads",
    "read_external_loads",
    "load_external_loads",
]

_GROUND = "ground"
_AXES = (("x", "y", "z"), ("X", "Y", "Z"))


@dataclass(frozen=True)
class ExternalForceSpec:
    """One ``<ExternalForce>`` as written in the XML (identifiers are column-name prefixes).

    Attributes:
        name: the ExternalForce's name.
        applied_to_body: the model body that receives the load.
        force_expressed_in_body, point_expressed_in_body: frames of the force and the point.
        force_identifier: prefix of the 3 force columns (N).
        point_identifier: prefix of the 3 point columns (m), or None (body origin).
        torque_identifier: prefix of the 3 torque columns (N·m), or None.
        data_source_name: the per-force data source (unused when the loads name a datafile).
        is_disabled: ``isDisabled`` true (3.x) or ``appliesForce`` false (4.x).
    """

    name: str
    applied_to_body: str
    force_expressed_in_body: str = _GROUND
    point_expressed_in_body: str = _GROUND
    force_identifier: str = ""
    point_identifier: str | None = None
    torque_identifier: str | None = None
    data_source_name: str | None = None
    is_disabled: bool = False


@dataclass(frozen=True)
class ExternalLoadsSpec:
    """An ExternalLoads file: its forces and the data file they read.

    Attributes:
        path: the XML file.
        name: the ExternalLoads' name.
        forces: every ExternalForce, in file order (disabled ones included).
        datafile: the data file resolved against the XML's folder (a Windows absolute path is kept
            as written), or None when the XML names none.
        datafile_text: ``<datafile>`` as written.
        external_loads_model_kinematics_file: resolved like ``datafile``, or None.
        lowpass_cutoff_frequency_for_load_kinematics: in Hz; None when absent or <= 0.
    """

    path: Path
    name: str
    forces: tuple[ExternalForceSpec, ...]
    datafile: Path | None
    datafile_text: str | None = None
    external_loads_model_kinematics_file: Path | None = None
    lowpass_cutoff_frequency_for_load_kinematics: float | None = None


@dataclass(frozen=True, eq=False)
class AppliedForce:
    """The series of one enabled ExternalForce, in the ground frame (arrays are read-only).

    Attributes:
        name: the ExternalForce's name.
        body: the body it is applied to.
        force: (n, 3) N.
        point: (n, 3) m, point of application.
        torque: (n, 3) N·m, free torque (zeros when the data has no torque columns).
        has_torque: whether torque columns were found.
        columns: the data columns used, force then point then torque.
    """

    name: str
    body: str
    force: np.ndarray
    point: np.ndarray
    torque: np.ndarray
    has_torque: bool
    columns: tuple[str, ...]

    @property
    def moment(self) -> np.ndarray:
        """(n, 3) N·m, moment about the ground origin: point x force + torque."""
        return np.cross(self.point, self.force) + self.torque


class BodyLoad(NamedTuple):
    """The resultant external load on one body, in the ground frame.

    force: (n, 3) N, sum of the forces; moment: (n, 3) N·m, about the ground origin.
    """

    force: np.ndarray
    moment: np.ndarray


@dataclass(frozen=True, eq=False)
class ExternalLoads:
    """External loads resolved to time series.

    Attributes:
        spec: the parsed XML.
        data_file: the data file actually read.
        time: (n,) s, the data file's time column.
        forces: one AppliedForce per enabled ExternalForce, in file order.
    """

    spec: ExternalLoadsSpec
    data_file: Path
    time: np.ndarray
    forces: tuple[AppliedForce, ...]

    @property
    def bodies(self) -> list[str]:
        """The bodies that receive loads, in order of first appearance."""
        return list(dict.fromkeys(f.body for f in self.forces))

    @property
    def forces_without_torque(self) -> list[str]:
        """Names of the ExternalForces whose data has no torque columns (torque taken as zero)."""
        return [f.name for f in self.forces if not f.has_torque]

    def forces_by_body(self) -> dict[str, BodyLoad]:
        """Per body: summed force (n, 3) N and resultant moment about the ground origin (n, 3) N·m."""
        result: dict[str, BodyLoad] = {}
        for body in self.bodies:
            mine = [f for f in self.forces if f.body == body]
            result[body] = BodyLoad(
                force=sum(f.force for f in mine), moment=sum(f.moment for f in mine)
            )
        return result


# ------------------------------------------------------------------------------------ parsing


def read_external_loads(xml_path: str | Path) -> ExternalLoadsSpec:
    """Parse an ExternalLoads ``.xml`` (no data read, no existence checks).

    Raises FileFormatError (one line, naming the file) for a file that is not XML, not an
    ExternalLoads document, or holds a force type other than ExternalForce.
    """
    path = Path(xml_path)
    element = opensim_element(path, ("ExternalLoads",), "an ExternalLoads file")
    fields = ElementFields(path, element)
    objects = element.find("objects")
    children = [] if objects is None else [e for e in objects if isinstance(e.tag, str)]
    forces = tuple(_force_spec(ElementFields(path, e)) for e in children)
    text = fields.text("datafile")
    kinematics = fields.text("external_loads_model_kinematics_file")
    cutoff = fields.number("lowpass_cutoff_frequency_for_load_kinematics", -1.0)
    return ExternalLoadsSpec(
        path=path,
        name=fields.name,
        forces=forces,
        datafile=None if text is None else resolve_setup_path(text, path.parent),
        datafile_text=text,
        external_loads_model_kinematics_file=(
            None if kinematics is None else resolve_setup_path(kinematics, path.parent)
        ),
        lowpass_cutoff_frequency_for_load_kinematics=cutoff if cutoff > 0 else None,
    )


def _force_spec(f: ElementFields) -> ExternalForceSpec:
    if f.element.tag != "ExternalForce":
        raise FileFormatError(
            f.path,
            f"<{f.element.tag} name='{f.name}'> is not supported in ExternalLoads; "
            "only <ExternalForce> is",
            line=f.element.sourceline,
        )
    body = f.text("applied_to_body")
    force_id = f.text("force_identifier")
    for tag, value in (("applied_to_body", body), ("force_identifier", force_id)):
        if value is None:
            raise FileFormatError(
                f.path, f"ExternalForce '{f.name}' has no <{tag}>", line=f.element.sourceline
            )
    source = f.text("data_source_name")
    return ExternalForceSpec(
        name=f.name,
        applied_to_body=body or "",
        force_expressed_in_body=f.text("force_expressed_in_body", _GROUND) or _GROUND,
        point_expressed_in_body=f.text("point_expressed_in_body", _GROUND) or _GROUND,
        force_identifier=force_id or "",
        point_identifier=f.text("point_identifier"),
        torque_identifier=f.text("torque_identifier"),
        data_source_name=None if source in (None, "Unassigned") else source,
        is_disabled=f.flag("isDisabled", False) or not f.flag("appliesForce", True),
    )


# ------------------------------------------------------------------------------------ loading


def load_external_loads(xml_path: str | Path, data_file: str | Path | None = None) -> ExternalLoads:
    """Read an ExternalLoads ``.xml`` and its data file into per-force ground-frame series.

    ``data_file`` (e.g. from ``--grf``) replaces the XML's ``<datafile>``. Raises MissingPathError
    when the data file does not exist, UnknownNameError for a missing column, and KintwinError
    for forces or points not expressed in ground (not supported yet) or repeated column names.
    """
    spec = read_external_loads(xml_path)
    path = _data_path(spec, data_file)
    table = read_table(path)
    where = f"{path} (ExternalLoads {spec.path})"
    forces = tuple(
        _applied_force(table, force, where) for force in spec.forces if not force.is_disabled
    )
    return ExternalLoads(spec=spec, data_file=path, time=_frozen(table.time), forces=forces)


def _data_path(spec: ExternalLoadsSpec, data_file: str | Path | None) -> Path:
    """The data file to read: the override, else ``<datafile>``; it must exist."""
    if data_file is not None:
        path = Path(data_file)
        if not path.exists():
            raise MissingPathError(path, "datafile", None, "given as the GRF data file")
        return path
    if spec.datafile is None:
        raise FileFormatError(
            spec.path, "<datafile> is empty; pass the GRF data file explicitly (--grf)"
        )
    if not spec.datafile.exists():
        text = spec.datafile_text or str(spec.datafile)
        foreign = is_foreign_absolute(text)
        shown = text if foreign else spec.datafile
        name = PureWindowsPath(text).name if foreign else spec.datafile.name
        hint = (
            f"{'an absolute Windows path; ' if foreign else ''}pass the GRF data file "
            f"explicitly with --grf; the XML names '{name}'"
        )
        raise MissingPathError(shown, "datafile", spec.path, hint)
    return spec.datafile


def _applied_force(table: Table, force: ExternalForceSpec, where: str) -> AppliedForce:
    """The ground-frame series of one ExternalForce from the data table."""
    for role, frame in (
        ("force", force.force_expressed_in_body),
        ("point", force.point_expressed_in_body),
    ):
        if frame != _GROUND:
            raise KintwinError(
                f"{where}: ExternalForce '{force.name}' has its {role} expressed in body "
                f"'{frame}'; only ground is supported yet (other frames need the kinematics)"
            )
    if force.point_identifier is None:
        raise KintwinError(
            f"{where}: ExternalForce '{force.name}' has no <point_identifier>; "
            "a force at the body origin is not supported yet"
        )
    context = f"{where}, ExternalForce '{force.name}'"
    f_cols, f_data = _vector(table, force.force_identifier, "force_identifier", context)
    p_cols, p_data = _vector(table, force.point_identifier, "point_identifier", context)
    has_torque = force.torque_identifier is not None and _has_any(table, force.torque_identifier)
    if has_torque:
        t_cols, t_data = _vector(table, force.torque_identifier or "", "torque_identifier", context)
    else:
        t_cols, t_data = (), np.zeros_like(f_data)
    return AppliedForce(
        name=force.name,
        body=force.applied_to_body,
        force=_frozen(f_data),
        point=_frozen(p_data),
        torque=_frozen(t_data),
        has_torque=has_torque,
        columns=(*f_cols, *p_cols, *t_cols),
    )


def _labels(identifier: str) -> list[tuple[str, ...]]:
    return [tuple(identifier + axis for axis in axes) for axes in _AXES]


def _has_any(table: Table, identifier: str) -> bool:
    present = set(table.labels)
    return any(label in present for labels in _labels(identifier) for label in labels)


def _vector(
    table: Table, identifier: str, role: str, context: str
) -> tuple[tuple[str, ...], np.ndarray]:
    """The (n, 3) columns ``identifier``+x/y/z (or X/Y/Z); one-line errors name ``context``."""
    candidates = _labels(identifier)
    labels = next((c for c in candidates if all(x in table.labels for x in c)), candidates[0])
    for label in labels:
        count = table.labels.count(label)
        if count == 0:
            raise UnknownNameError(
                "column", label, table.labels, where=f"{context}, {role} '{identifier}'"
            )
        if count > 1:
            raise KintwinError(
                f"{context}: column '{label}' ({role} '{identifier}') occurs {count} times in the "
                "data file (an old SIMM file?); rename the repeated columns, e.g. with a '1_' "
                "prefix, and the identifiers to match"
            )
    return labels, np.column_stack([table.column(label) for label in labels])


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=float)
    array.setflags(write=False)
    return array
