"""Simulated ground reactions as OpenSim files: a GRF ``.mot`` and the ExternalLoads ``.xml``.

Layout as in OpenSim's example data: per foot ``<p>ground_force_vx/vy/vz``, ``<p>ground_force_px/
py/pz`` and ``<p>ground_torque_x/y/z`` with ``<p>`` = ``r_``, ``l_``…, all in the ground frame;
the point is the centre of pressure and the torque the free torque about it. The XML applies each
foot's columns to its body, as ExternalForce objects, so OpenSim's ID tool reads the pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lxml import etree

from converters.errors import KintwinError
from converters.files import atomic_output
from converters.opensim_io.table import Table
from converters.spatial import OPENSIM_TO_MUJOCO

__all__ = [
    "FootLoads",
    "centre_of_pressure",
    "grf_table",
    "foot_loads_from_table",
    "external_loads_xml",
    "write_external_loads",
]

MIN_VERTICAL_FORCE = 1.0  # N; below it a foot is unloaded and its centre of pressure is zero


@dataclass(frozen=True)
class FootLoads:
    """One foot's loads over time, MuJoCo world frame (z up)."""

    prefix: str  # column prefix, e.g. 'r_'
    name: str  # ExternalForce name, e.g. 'right'
    body: str  # OpenSim body the force is applied to
    force: np.ndarray  # (T, 3) N
    point: np.ndarray  # (T, 3) m
    free_torque: np.ndarray  # (T,) N·m about the vertical


def centre_of_pressure(
    force: np.ndarray, moment: np.ndarray, height: float
) -> tuple[np.ndarray, float]:
    """Point on the horizontal plane z = ``height`` and free (vertical) torque of a wrench.

    ``force`` and ``moment`` (about the world origin) are world-frame (z up). At the returned
    point the horizontal moment vanishes. An unloaded foot gives the origin and zero torque.
    """
    fx, fy, fz = force
    if fz < MIN_VERTICAL_FORCE:
        return np.zeros(3), 0.0
    px = (height * fx - moment[1]) / fz
    py = (moment[0] + height * fy) / fz
    point = np.array([px, py, height])
    torque = moment[2] - (px * fy - py * fx)
    return point, float(torque)


def _to_opensim(vectors: np.ndarray) -> np.ndarray:
    """(T, 3) MuJoCo-world vectors in OpenSim's ground frame (y up)."""
    return vectors @ OPENSIM_TO_MUJOCO  # rows: R^T v = v^T R


def grf_table(time: np.ndarray, feet: list[FootLoads]) -> Table:
    """The GRF ``.mot`` table (storage dialect, OpenSim ground frame)."""
    labels, columns = [], []
    for foot in feet:
        torque = np.zeros((len(time), 3))
        torque[:, 2] = foot.free_torque
        parts = (
            ("ground_force_v", foot.force),
            ("ground_force_p", foot.point),
            ("ground_torque_", torque),
        )
        for stem, values in parts:
            labels += [f"{foot.prefix}{stem}{axis}" for axis in "xyz"]
            columns.append(_to_opensim(values))
    return Table(
        time=np.asarray(time, dtype=float),
        labels=labels,
        data=np.hstack(columns) if columns else np.zeros((len(time), 0)),
        name="ground_reactions",
        in_degrees=False,
        dialect="storage",
    )


def foot_loads_from_table(
    table: Table, time: np.ndarray, prefixes: tuple[str, ...] = ("r_", "l_")
) -> list[FootLoads]:
    """Each ``prefix``'s loads of a GRF table in :func:`grf_table`'s layout (OpenSim ground
    frame: force, centre of pressure, torque about it) at ``time`` (linear interpolation), in
    the MuJoCo world frame; the torque's vertical part is the free torque (a centre of
    pressure's torque has no other). An error names a missing column."""
    loads = []
    for prefix in prefixes:
        parts = []
        for stem in ("ground_force_v", "ground_force_p", "ground_torque_"):
            labels = [f"{prefix}{stem}{axis}" for axis in "xyz"]
            missing = [c for c in labels if c not in table.labels]
            if missing:
                raise KintwinError(f"GRF table has no column {missing[0]}")
            columns = [np.interp(time, table.time, table.column(c)) for c in labels]
            parts.append(np.column_stack(columns) @ OPENSIM_TO_MUJOCO.T)
        name = {"r_": "right", "l_": "left"}.get(prefix, prefix.rstrip("_"))
        loads.append(FootLoads(prefix, name, "", parts[0], parts[1], parts[2][:, 2]))
    return loads


def external_loads_xml(datafile: str, feet: list[FootLoads], name: str = "SimulatedGRF") -> bytes:
    """An OpenSim ExternalLoads document applying each foot's columns (ground frame)."""
    root = etree.Element("OpenSimDocument", Version="40000")
    loads = etree.SubElement(root, "ExternalLoads", name=name)
    objects = etree.SubElement(loads, "objects")
    for foot in feet:
        force = etree.SubElement(objects, "ExternalForce", name=foot.name)
        for tag, text in (
            ("applied_to_body", foot.body),
            ("force_expressed_in_body", "ground"),
            ("point_expressed_in_body", "ground"),
            ("force_identifier", f"{foot.prefix}ground_force_v"),
            ("point_identifier", f"{foot.prefix}ground_force_p"),
            ("torque_identifier", f"{foot.prefix}ground_torque_"),
            ("data_source_name", "Unassigned"),
        ):
            etree.SubElement(force, tag).text = text
    etree.SubElement(loads, "groups")
    etree.SubElement(loads, "datafile").text = datafile
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write_external_loads(
    path: str | Path,
    datafile: str,
    feet: list[FootLoads],
    force: bool = False,
    name: str = "SimulatedGRF",
) -> Path:
    """Write the ExternalLoads XML (``datafile`` relative to it, as OpenSim resolves it)."""
    path = Path(path)
    with atomic_output(path, force) as tmp:
        tmp.write_bytes(external_loads_xml(datafile, feet, name))
    return path
