"""File-to-file conversions (``kintwin convert``): tables, models, motions, markers.

One function per operation, each taking a frozen config: it checks that every output may be
written (an existing one needs ``force``) before any work, reads, converts, writes atomically
and returns what it did for the caller to report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from converters.files import check_writable

__all__ = [
    "TableConversion",
    "TableConverted",
    "convert_table",
    "ModelConversion",
    "ModelConverted",
    "convert_model",
    "model_output_paths",
    "MotionConversion",
    "MotionConverted",
    "convert_motion",
    "MarkerConversion",
    "MarkersConverted",
    "convert_markers",
]


@dataclass(frozen=True)
class TableConversion:
    """Rewrite a table between ``.sto``, ``.mot`` and ``.csv`` (chosen by extension).

    Attributes:
        source: the table to read.
        target: the table to write.
        angles: "degrees" or "radians" to convert the rotational columns; None keeps them.
        model: ``.osim`` model whose coordinate types say which columns are angles (without
            it, column names decide).
        dialect: header style of a ``.sto``/``.mot`` target ("storage", "timeseries", "simm");
            None keeps the source's.
        force: overwrite an existing target.
    """

    source: Path
    target: Path
    angles: str | None = None
    model: Path | None = None
    dialect: str | None = None
    force: bool = False


@dataclass(frozen=True)
class TableConverted:
    """What :func:`convert_table` wrote: rows and columns, and the converted angle columns."""

    target: Path
    rows: int
    columns: int
    rotational: list[str] | None = None


def convert_table(config: TableConversion) -> TableConverted:
    """Read ``config.source``, convert its angles if asked, write ``config.target``."""
    from converters.opensim_io.table import read_table, write_table
    from converters.opensim_io.units import convert_angles, rotational_columns

    check_writable(config.target, config.force)
    data = read_table(config.source)
    rotational = None
    if config.angles is not None:
        motion_types = None
        if config.model is not None:
            from converters.osim.summary import coordinate_motion_types

            motion_types = coordinate_motion_types(config.model)
        rotational = rotational_columns(data.labels, motion_types)
        data = convert_angles(data, to_degrees=config.angles == "degrees", rotational=rotational)
    write_table(data, config.target, dialect=config.dialect, force=config.force)
    return TableConverted(config.target, data.n_rows, len(data.labels), rotational)


@dataclass(frozen=True)
class ModelConversion:
    """Convert an OpenSim model to MuJoCo: ``outdir/<name>.xml``, ``<name>_map.json``, meshes.

    Attributes:
        model: the ``.osim`` file.
        outdir: folder for the MJCF, the map and ``<name>_meshes/``.
        geometry_dirs: extra folders to look for ``.vtp``/``.obj``/``.stl`` meshes in.
        meshes: include the display meshes.
        auto_contact: add foot contact spheres to a model without contact geometry.
        force: overwrite existing outputs.
        muscles: convert the muscles (tendons and fitted actuators; for a many-muscle model
            the larger part of the time); a torque-driven use needs none.
    """

    model: Path
    outdir: Path
    geometry_dirs: tuple[Path, ...] = ()
    meshes: bool = True
    auto_contact: bool = True
    force: bool = False
    muscles: bool = True


@dataclass(frozen=True)
class ModelConverted:
    """The files :func:`convert_model` wrote (``"mjcf"``, ``"map"``, ``"mesh:<name>"``) and the map."""

    paths: dict[str, Path]
    map: dict = field(repr=False)


def model_output_paths(model: Path, outdir: Path) -> dict[str, Path]:
    """The outputs known before converting: the MJCF, the map and the meshes folder."""
    stem = Path(model).stem
    outdir = Path(outdir)
    return {
        "mjcf": outdir / f"{stem}.xml",
        "map": outdir / f"{stem}_map.json",
        "meshes": outdir / f"{stem}_meshes",
    }


def convert_model(config: ModelConversion) -> ModelConverted:
    """Convert ``config.model`` and write it; refuses existing outputs before converting."""
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim, write_converted

    planned = model_output_paths(config.model, config.outdir)
    check_writable(planned["mjcf"], config.force)
    check_writable(planned["map"], config.force)
    if config.meshes and _non_empty_dir(planned["meshes"]):
        check_writable(planned["meshes"], config.force)
    options = ConvertOptions(
        auto_contact=config.auto_contact,
        meshes=config.meshes,
        muscles=config.muscles,
        geometry_dirs=tuple(str(d) for d in config.geometry_dirs),
    )
    converted = convert_osim(config.model, options)
    paths = write_converted(converted, config.outdir, force=config.force)
    return ModelConverted(paths, converted.map)


def _non_empty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


@dataclass(frozen=True)
class MotionConversion:
    """IK coordinates (``.mot``/``.sto``) -> MuJoCo qpos/qvel/qacc (``.npz``), or back.

    Attributes:
        source: IK coordinates, or (with ``inverse``) a trajectory ``.npz``.
        model: the ``.osim`` model.
        output: the ``.npz`` (or, with ``inverse``, a ``.mot``/``.sto``).
        lowpass_hz: low-pass cut-off (Hz) of the coordinates before differentiating; None: off.
        inverse: write coordinates from a trajectory instead.
        radians: with ``inverse``, angles in radians (default degrees).
        force: overwrite an existing output.
    """

    source: Path
    model: Path
    output: Path
    lowpass_hz: float | None = None
    inverse: bool = False
    radians: bool = False
    force: bool = False


@dataclass(frozen=True)
class MotionConverted:
    """What :func:`convert_motion` wrote; ``missing``: coordinates held at their defaults."""

    output: Path
    frames: int
    columns: int
    missing: list[str] = field(default_factory=list)


def convert_motion(config: MotionConversion) -> MotionConverted:
    """Convert a motion either way (see :class:`MotionConversion`)."""
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim

    check_writable(config.output, config.force)
    converted = convert_osim(config.model, ConvertOptions(meshes=False))
    if config.inverse:
        return _trajectory_to_coordinates(config, converted)
    return _coordinates_to_trajectory(config, converted)


def _trajectory_to_coordinates(config: MotionConversion, converted) -> MotionConverted:
    from converters.motion import coordinates_from_qpos, coordinates_table, load_trajectory
    from converters.opensim_io.table import write_table

    arrays = load_trajectory(config.source)
    values = coordinates_from_qpos(
        arrays["qpos"], arrays["qpos_joints"].tolist(), converted.kinematics, config.source
    )
    table = coordinates_table(arrays["time"], values, converted.osim, in_degrees=not config.radians)
    write_table(table, config.output, force=config.force)
    return MotionConverted(config.output, table.n_rows, len(table.labels))


def _coordinates_to_trajectory(config: MotionConversion, converted) -> MotionConverted:
    from converters.motion import coordinate_series, make_trajectory, save_trajectory
    from converters.opensim_io.table import read_table

    table = read_table(config.source)
    series = coordinate_series(table, converted.osim, config.source)
    m = converted.mj_model
    trajectory = make_trajectory(series, converted.kinematics, m.nq, m.nv, config.lowpass_hz)
    save_trajectory(
        config.output,
        trajectory,
        converted.kinematics,
        source_in_degrees=bool(table.in_degrees),
        force=config.force,
    )
    return MotionConverted(config.output, len(trajectory.time), m.nq, list(series.missing))


@dataclass(frozen=True)
class MarkerConversion:
    """Marker trajectories (``.trc``) -> MuJoCo frame and metres (``.npz``).

    Attributes:
        source: the ``.trc`` file.
        model: the ``.osim`` model whose markers are kept.
        output: the ``.npz``.
        force: overwrite an existing output.
    """

    source: Path
    model: Path
    output: Path
    force: bool = False


@dataclass(frozen=True)
class MarkersConverted:
    """What :func:`convert_markers` wrote; ``unmatched``: file markers the model lacks."""

    output: Path
    names: list[str]
    frames: int
    unmatched: list[str]


def convert_markers(config: MarkerConversion) -> MarkersConverted:
    """Keep the model's markers of ``config.source``, in MuJoCo's frame, and save them."""
    from converters.markers import markers_for_model, save_markers
    from converters.opensim_io.trc import read_trc
    from converters.osim.parser import load_osim

    check_writable(config.output, config.force)
    matched = markers_for_model(read_trc(config.source), load_osim(config.model))
    save_markers(config.output, matched, force=config.force)
    return MarkersConverted(
        config.output, matched.names, len(matched.time), matched.unmatched_in_file
    )
