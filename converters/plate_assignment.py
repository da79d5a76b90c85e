"""Force plates -> ground reactions per foot, for OpenSim's inverse dynamics.

Lab files often hold one force/point/torque triple per plate and an ExternalLoads file that applies
every plate to one body (OpenCap's validation data applies both plates to ``talus_r``). Inverse
dynamics needs each load on the foot that stands on the plate. Here every loaded plate is assigned,
frame by frame, to the foot whose contact points (the converted model's foot contact spheres, posed
by the IK coordinates) lie nearest its centre of pressure in the floor plane; the plates that one
foot stands on are summed into one wrench per foot, expressed as OpenSim expects it: force, centre
of pressure on the plates' plane and the free (vertical) torque about it.

A loaded plate is left out, and reported, where no foot is within ``max_distance`` of its centre of
pressure or the kinematics do not cover its time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from converters.errors import KintwinError
from converters.files import check_writable
from converters.model_conversion import ConvertedModel
from converters.motion import CoordinateSeries
from converters.opensim_io.ground_reactions import (
    FootLoads,
    centre_of_pressure,
    grf_table,
    write_external_loads,
)
from converters.opensim_io.table import Table, write_table
from converters.spatial import OPENSIM_TO_MUJOCO

__all__ = [
    "Plate",
    "find_plates",
    "PlateAssignment",
    "assign_plates",
    "foot_points",
    "feet_grf_paths",
    "convert_plates_to_feet",
]

SIDES = {"r": "right", "l": "left"}


@dataclass(frozen=True)
class Plate:
    """One plate's columns in a GRF table: force, centre of pressure, torque (x, y, z labels)."""

    name: str
    force: tuple[str, str, str]
    point: tuple[str, str, str]
    torque: tuple[str, str, str] | None


_FORCE = re.compile(r"^(?P<stem>.*)v(?P<axis>x)$")


def find_plates(table: Table, source: str | Path = "") -> list[Plate]:
    """The plates of ``table``: every ``<stem>vx/vy/vz`` with ``<stem>px/py/pz`` beside it.

    Torques are ``<stem>mx…`` (``ground_force_1_mx``) or the stem with ``force`` replaced by
    ``torque`` (``1_ground_torque_x``); a plate without torque columns gets zero torque.
    """
    labels = set(table.labels)
    plates = []
    for label in table.labels:
        match = _FORCE.match(label)
        if not match:
            continue
        stem = match["stem"]
        force = tuple(f"{stem}v{a}" for a in "xyz")
        point = tuple(f"{stem}p{a}" for a in "xyz")
        if not set(force) <= labels or not set(point) <= labels:
            continue
        torque = None
        for candidate in (f"{stem}m", stem.replace("force_", "torque_").replace("force", "torque")):
            names = tuple(f"{candidate}{a}" for a in "xyz")
            if candidate != stem and set(names) <= labels:
                torque = names
                break
        plates.append(Plate(stem.strip("_") or "plate", force, point, torque))  # type: ignore[arg-type]
    if not plates:
        raise KintwinError(
            f"{source}: no force plate columns found (expected <name>vx/vy/vz with <name>px/py/pz)"
        )
    return plates


def foot_points(converted: ConvertedModel) -> dict[str, np.ndarray]:
    """Geom ids of each foot's contact spheres ('r', 'l'): the points a plate is matched to."""
    model = converted.mj_model
    feet: dict[str, list[int]] = {side: [] for side in SIDES}
    for g in range(model.ngeom):
        body = model.body(int(model.geom_bodyid[g])).name
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE and body[-2:] in ("_r", "_l"):
            feet[body[-1]].append(g)
    missing = [SIDES[s] for s, geoms in feet.items() if not geoms]
    if missing:
        raise KintwinError(
            f"{converted.osim.path}: no foot contact spheres on the {' and '.join(missing)} "
            "side (a model with calcn_r/calcn_l and toes bodies gets them automatically)"
        )
    return {side: np.array(geoms) for side, geoms in feet.items()}


@dataclass
class PlateAssignment:
    """The result: per-foot loads at the plates' times and where each plate went.

    Attributes:
        time: (n,) s, the plate table's times.
        feet: one FootLoads per foot ('r_' right, 'l_' left), MuJoCo world frame.
        plate_foot: (n, n_plates) index into ``feet`` per frame, -1 unloaded, -2 left out.
        left_out: (plate name, first time, last time, reason) per stretch of left-out frames.
    """

    time: np.ndarray
    feet: list[FootLoads]
    plates: list[Plate]
    plate_foot: np.ndarray
    left_out: list[tuple[str, float, float, str]] = field(default_factory=list)


def assign_plates(
    table: Table,
    plates: list[Plate],
    converted: ConvertedModel,
    series: CoordinateSeries,
    threshold: float = 20.0,
    max_distance: float = 0.25,
) -> PlateAssignment:
    """Assign each plate, frame by frame, to the foot nearest its centre of pressure.

    ``threshold`` (N): a plate is loaded when its vertical force exceeds it. ``max_distance`` (m):
    the farthest a foot's nearest contact point may lie from the centre of pressure, in the floor
    plane.
    """
    n = len(table.time)
    column = {label: k for k, label in enumerate(table.labels)}

    def vectors(labels: tuple[str, str, str] | None) -> np.ndarray:
        if labels is None:
            return np.zeros((n, 3))
        return table.data[:, [column[label] for label in labels]] @ OPENSIM_TO_MUJOCO.T

    feet_geoms = foot_points(converted)
    sides = list(feet_geoms)
    positions, covered = _foot_positions(converted, series, feet_geoms, table.time)
    wrench = np.zeros((len(sides), n, 6))
    heights = np.zeros((len(sides), n))
    plate_foot = np.full((n, len(plates)), -1)
    left_out = []
    for p, plate in enumerate(plates):
        force, point, torque = vectors(plate.force), vectors(plate.point), vectors(plate.torque)
        loaded = force[:, 2] > threshold
        distance = np.stack(
            [
                np.linalg.norm(positions[s][:, :, :2] - point[:, None, :2], axis=2).min(axis=1)
                for s in range(len(sides))
            ],
            axis=1,
        )
        nearest = np.argmin(distance, axis=1)
        near_enough = distance[np.arange(n), nearest] <= max_distance
        use = loaded & covered & near_enough
        plate_foot[use, p] = nearest[use]
        plate_foot[loaded & ~use, p] = -2
        left_out += _stretches(plate.name, table.time, loaded & ~covered, "no kinematics")
        left_out += _stretches(
            plate.name,
            table.time,
            loaded & covered & ~near_enough,
            f"no foot within {max_distance * 100:g} cm of the centre of pressure",
        )
        moment = np.cross(point, force) + torque
        for s in range(len(sides)):
            mine = use & (nearest == s)
            wrench[s, mine, :3] += force[mine]
            wrench[s, mine, 3:] += moment[mine]
            heights[s, mine] += point[mine, 2] * force[mine, 2]
    feet = []
    for s, side in enumerate(sides):
        vertical = wrench[s, :, 2]
        height = np.divide(heights[s], vertical, out=np.zeros(n), where=vertical > 0)
        cop = [centre_of_pressure(wrench[s, k, :3], wrench[s, k, 3:], height[k]) for k in range(n)]
        feet.append(
            FootLoads(
                prefix=f"{side}_",
                name=SIDES[side],
                body=_carrier(converted, feet_geoms[side]),
                force=wrench[s, :, :3],
                point=np.array([c[0] for c in cop]),
                free_torque=np.array([c[1] for c in cop]),
            )
        )
    return PlateAssignment(table.time.copy(), feet, plates, plate_foot, left_out)


def _carrier(converted: ConvertedModel, geoms: np.ndarray) -> str:
    """The body carrying most of a foot's contact spheres (the heel segment, calcn): the body
    the foot's loads are applied to."""
    return converted.mj_model.body(
        int(np.bincount(converted.mj_model.geom_bodyid[geoms]).argmax())
    ).name


def _foot_positions(
    converted: ConvertedModel,
    series: CoordinateSeries,
    feet_geoms: dict[str, np.ndarray],
    time: np.ndarray,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Per foot (n, k, 3) world positions of its contact spheres at ``time`` (linear between the
    kinematics' frames), and (n,) whether the kinematics cover each time."""
    model = converted.mj_model
    data = mujoco.MjData(model)
    independent = {
        c: v for c, v in series.values.items() if c in converted.kinematics.independent_coordinates
    }
    qpos = converted.kinematics.qpos(independent, model.nq)
    frames = np.empty((len(qpos), model.ngeom, 3))
    for k, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        frames[k] = data.geom_xpos
    at = np.clip(time, series.time[0], series.time[-1])
    positions = []
    for geoms in feet_geoms.values():
        block = frames[:, geoms, :].reshape(len(qpos), -1)
        interpolated = np.column_stack(
            [np.interp(at, series.time, block[:, j]) for j in range(block.shape[1])]
        )
        positions.append(interpolated.reshape(len(time), len(geoms), 3))
    tolerance = 1e-9
    covered = (time >= series.time[0] - tolerance) & (time <= series.time[-1] + tolerance)
    return positions, covered


def _stretches(
    name: str, time: np.ndarray, mask: np.ndarray, reason: str
) -> list[tuple[str, float, float, str]]:
    """Contiguous runs of ``mask`` as (plate, first time, last time, reason)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return [
        (name, float(time[a]), float(time[b - 1]), reason)
        for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]


def feet_grf_paths(prefix: str | Path) -> tuple[Path, Path]:
    """The per-foot GRF ``.mot`` and the ExternalLoads ``.xml`` written for ``prefix``."""
    prefix = Path(prefix)
    return prefix.with_name(f"{prefix.name}_grf.mot"), prefix.with_name(f"{prefix.name}_grf.xml")


def convert_plates_to_feet(
    plates_path: str | Path,
    model_path: str | Path,
    coordinates_path: str | Path,
    prefix: str | Path,
    threshold: float = 20.0,
    max_distance: float = 0.25,
    force: bool = False,
) -> tuple[PlateAssignment, tuple[Path, Path]]:
    """Per-plate GRF file -> ``<prefix>_grf.mot`` + ``<prefix>_grf.xml`` (loads per foot).

    Nothing is written if either output exists without ``force`` (checked before any work).
    """
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series
    from converters.opensim_io.table import read_table

    mot, xml = feet_grf_paths(prefix)
    for path in (mot, xml):
        check_writable(path, force)
    table = read_table(plates_path)
    plates = find_plates(table, plates_path)
    converted = convert_osim(
        model_path, ConvertOptions(meshes=False, muscles=False, muscle_actuators=False)
    )
    series = coordinate_series(read_table(coordinates_path), converted.osim, coordinates_path)
    assignment = assign_plates(table, plates, converted, series, threshold, max_distance)
    grf = grf_table(assignment.time, assignment.feet)
    grf.name = Path(mot).stem
    write_table(grf, mot, force=force)
    try:
        write_external_loads(xml, mot.name, assignment.feet, force=force, name="FeetGRF")
    except BaseException:
        mot.unlink(missing_ok=True)
        raise
    return assignment, (mot, xml)
