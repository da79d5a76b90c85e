"""Coordinate tables (IK ``.mot``) <-> MuJoCo trajectories (qpos, qvel, qacc).

Angles become radians here, from the table's ``inDegrees`` flag and the model's coordinate types
(like OpenSim, only rotational coordinates are converted; coupled ones are left as they are). Derivatives follow OpenSim's tools: optional
padding and low-pass IIR filtering of the coordinates, then a quintic GCV spline through them,
differentiated analytically (OpenSim's ``Storage`` and ``GCVSplineSet`` steps, in numpy:
:mod:`converters.coordinate_smoothing`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from converters.coordinate_smoothing import smooth_derivatives
from converters.errors import KintwinError
from converters.mjcf.kinematic_map import KinematicMap
from converters.opensim_io.table import Table
from converters.opensim_io.units import coordinate_of_column
from converters.osim.model import OsimModel

__all__ = [
    "CoordinateSeries",
    "coordinate_series",
    "smooth_derivatives",
    "analysis_times",
    "Trajectory",
    "make_trajectory",
    "frames_in_range",
    "trajectory_rows",
]


@dataclass
class CoordinateSeries:
    """Coordinate values over time, SI units (rad, m), independent and dependent alike."""

    time: np.ndarray
    values: dict[str, np.ndarray]
    missing: list[str] = field(default_factory=list)  # model coordinates not in the table
    ignored: list[str] = field(default_factory=list)  # table columns that are not coordinates


def coordinate_series(table: Table, model: OsimModel, source: str | Path = "") -> CoordinateSeries:
    """The model's coordinates from ``table`` (matched by name), converted to radians if needed."""
    in_degrees = table.in_degrees
    if in_degrees is None:
        if table.dialect != "simm":
            raise KintwinError(
                f"{source}: the header has no inDegrees flag, so the angle unit is "
                "unknown; add inDegrees=yes or inDegrees=no to the header"
            )
        in_degrees = True  # SIMM motion files are in degrees
    values, ignored = {}, []
    for k, label in enumerate(table.labels):
        name = coordinate_of_column(label)
        if name not in model.coordinates:
            ignored.append(label)
            continue
        column = table.data[:, k]
        if in_degrees and model.coordinates[name].motion_type == "rotational":  # as OpenSim
            column = column * (math.pi / 180.0)
        values[name] = column
    missing = [c for c in model.coordinates if c not in values]
    if not values:
        raise KintwinError(f"{source}: no column is a coordinate of model '{model.name}'")
    bad = [c for c, v in values.items() if not np.all(np.isfinite(v))]
    if bad:
        raise KintwinError(f"{source}: NaN or infinite values in coordinate(s) {', '.join(bad)}")
    return CoordinateSeries(time=table.time.copy(), values=values, missing=missing, ignored=ignored)


def analysis_times(
    time: np.ndarray, lowpass_hz: float | None, span: tuple[float, float] | None = None
) -> np.ndarray:
    """The frames OpenSim's AnalyzeTool analyses in ``span`` (default: the whole file).

    Filtering pads the coordinates and, when the file's sampling is not uniform (e.g. times
    rounded to milliseconds), resamples them at the smallest interval from the padded start;
    the tool then runs from the last frame at or before the start to the last at or before the
    end of ``span``.
    """
    from converters.coordinate_smoothing import lowpass_times, pad

    start, end = span if span is not None else (float(time[0]), float(time[-1]))
    grid = np.asarray(time, dtype=float)
    if lowpass_hz is not None and lowpass_hz > 0:
        grid = lowpass_times(pad(grid, len(grid) // 2))
    first = max(0, int(np.searchsorted(grid, start + 1e-9, side="right")) - 1)
    last = int(np.searchsorted(grid, end + 1e-9, side="right"))
    return grid[first:last]


@dataclass
class Trajectory:
    """A motion in MuJoCo terms: (n,) time and (n, nq) qpos, (n, nv) qvel and qacc."""

    time: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    qacc: np.ndarray
    coordinates: dict[str, np.ndarray]  # independent coordinate values (SI)


def make_trajectory(
    series: CoordinateSeries,
    kinematics: KinematicMap,
    nq: int,
    nv: int,
    lowpass_hz: float | None = None,
) -> Trajectory:
    """Exact qpos and spline derivatives of the independent coordinates of ``series``."""
    independent = {
        c: v for c, v in series.values.items() if c in kinematics.independent_coordinates
    }
    q, qd, qdd = smooth_derivatives(series.time, independent, lowpass_hz)
    qpos = kinematics.qpos(q, nq)
    qvel, qacc = kinematics.derivatives(q, qd, qdd, nv)
    return Trajectory(time=series.time, qpos=qpos, qvel=qvel, qacc=qacc, coordinates=q)


# ------------------------------------------------------------------------------------ files


def save_trajectory(
    path: str | Path,
    trajectory: Trajectory,
    kinematics: KinematicMap,
    source_in_degrees: bool,
    force: bool = False,
) -> Path:
    """Write ``trajectory`` as ``.npz``: time, qpos, qvel, qacc, qpos_joints, coordinate names."""
    from converters.files import atomic_output

    joints = [""] * trajectory.qpos.shape[1]
    for slot in kinematics.slots:
        joints[slot.qpos] = slot.name
    with atomic_output(path, force) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                time=trajectory.time,
                qpos=trajectory.qpos,
                qvel=trajectory.qvel,
                qacc=trajectory.qacc,
                qpos_joints=np.array(joints),
                coordinates=np.array(kinematics.coordinates),
                source_in_degrees=np.array(source_in_degrees),
            )
    return Path(path)


def load_trajectory(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a trajectory ``.npz`` (FileFormatError if it is not one)."""
    from converters.errors import FileFormatError

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as error:
        raise FileFormatError(path, f"not a trajectory .npz ({error})") from None
    missing = [k for k in ("time", "qpos", "qpos_joints") if k not in arrays]
    if missing:
        raise FileFormatError(path, f"not a KinTwin trajectory: no {', '.join(missing)} array")
    return arrays


def coordinates_from_qpos(
    qpos: np.ndarray, qpos_joints: list[str], kinematics: KinematicMap, source: str | Path = ""
) -> dict[str, np.ndarray]:
    """All coordinate values (SI) from MuJoCo positions: each independent coordinate is its own
    joint's qpos; dependent ones follow from their couplers."""
    index = {name: k for k, name in enumerate(qpos_joints)}
    values = {}
    for slot in kinematics.slots:
        if slot.function is None and slot.coordinate in kinematics.independent_coordinates:
            if slot.name not in index:
                raise KintwinError(
                    f"{source}: no qpos column for joint '{slot.name}'; "
                    "the trajectory belongs to another model"
                )
            values[slot.coordinate] = qpos[:, index[slot.name]]
    return kinematics.complete(values)


def coordinates_table(
    time: np.ndarray, values: dict[str, np.ndarray], model: OsimModel, in_degrees: bool
) -> Table:
    """An OpenSim ``Coordinates`` table (IK layout) of coordinate values given in SI units."""
    labels = [c for c in model.coordinates if c in values]
    columns = []
    for name in labels:
        column = np.asarray(values[name], dtype=float)
        if in_degrees and model.coordinates[name].motion_type == "rotational":
            column = column * (180.0 / math.pi)
        columns.append(column)
    return Table(
        time=time,
        labels=labels,
        data=np.column_stack(columns),
        name="Coordinates",
        in_degrees=in_degrees,
        dialect="storage",
    )


def frames_in_range(
    time: np.ndarray,
    time_range: tuple[float, float] | None,
    source: str | Path = "",
    minimum: int = 1,
) -> np.ndarray:
    """(n,) bool: the frames of ``time`` inside ``time_range`` (t0, t1 in s, ends included;
    None: every frame). Fewer than ``minimum`` is a KintwinError naming ``source``."""
    if time_range is None:
        return np.ones(len(time), dtype=bool)
    t0, t1 = time_range
    keep = (time >= t0 - 1e-9) & (time <= t1 + 1e-9)
    if keep.sum() < minimum:
        count = "no" if minimum <= 1 else f"fewer than {minimum}"
        where = f"{source}: " if str(source) else ""
        raise KintwinError(
            f"{where}{count} frames inside the time range {t0:g}-{t1:g} s (the coordinates "
            f"span {time[0]:g}-{time[-1]:g} s)"
        )
    return keep


def trajectory_rows(trajectory: Trajectory, keep: np.ndarray) -> Trajectory:
    """The rows ``keep`` (mask or indices) of ``trajectory``."""
    return Trajectory(
        time=trajectory.time[keep], qpos=trajectory.qpos[keep], qvel=trajectory.qvel[keep],
        qacc=trajectory.qacc[keep],
        coordinates={c: v[keep] for c, v in trajectory.coordinates.items()},
    )  # fmt: skip
