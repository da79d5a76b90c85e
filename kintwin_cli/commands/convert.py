"""``kintwin convert``: rewrite files between formats (tables now; models and motions later)."""

from __future__ import annotations

from pathlib import Path

import click

from kintwin_cli.output import note

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def convert() -> None:
    """Convert between file formats."""


@convert.command("table")
@click.argument("source", type=EXISTING_FILE)
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--degrees", "angles", flag_value="degrees", help="Write rotational columns in degrees."
)
@click.option(
    "--radians", "angles", flag_value="radians", help="Write rotational columns in radians."
)
@click.option(
    "--model",
    type=EXISTING_FILE,
    help="The .osim model whose coordinate types say which columns are angles.",
)
@click.option(
    "--dialect",
    type=click.Choice(["storage", "timeseries", "simm"]),
    help="Header style of a .sto/.mot output (default: the input's).",
)
@click.option("--force", is_flag=True, help="Overwrite TARGET if it exists.")
def table(
    source: Path,
    target: Path,
    angles: str | None,
    model: Path | None,
    dialect: str | None,
    force: bool,
) -> None:
    """Rewrite a table between .sto, .mot and .csv (chosen by extension).

    \b
    Examples:
      kintwin convert table subject01_walk_IK.mot ik.csv
      kintwin convert table ik_deg.mot ik_rad.sto --radians --model subject01.osim
    """
    from converters.opensim_io.table import read_table, write_table
    from converters.opensim_io.units import convert_angles, rotational_columns

    data = read_table(source)
    if angles is not None:
        motion_types = None
        if model is not None:
            from converters.osim.summary import coordinate_motion_types

            motion_types = coordinate_motion_types(model)
        rotational = rotational_columns(data.labels, motion_types)
        data = convert_angles(data, to_degrees=angles == "degrees", rotational=rotational)
        basis = (
            f"the coordinates of {model.name}" if model else "column names (use --model to be sure)"
        )
        note(f"{len(rotational)} rotational columns in {angles}, chosen from {basis}")
    write_table(data, target, dialect=dialect, force=force)
    note(f"wrote {target} ({data.n_rows} rows, {len(data.labels)} columns)")


@convert.command("model")
@click.argument("model", type=EXISTING_FILE)
@click.option(
    "-o",
    "--output",
    "outdir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the MJCF files.",
)
@click.option(
    "--geometry-dir",
    "geometry_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Extra folder to look for .vtp/.obj/.stl meshes in (repeatable).",
)
@click.option("--no-meshes", is_flag=True, help="Leave the display meshes out.")
@click.option(
    "--no-auto-contact",
    is_flag=True,
    help="Do not add foot contact spheres to a model that has no contact geometry.",
)
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
def model(
    model: Path,
    outdir: Path,
    geometry_dirs: tuple[Path, ...],
    no_meshes: bool,
    no_auto_contact: bool,
    force: bool,
) -> None:
    """Convert an OpenSim model to MuJoCo: OUTDIR/<name>.xml, <name>_map.json, meshes.

    Bodies, joints (every type, coupled axes as polynomial joint equalities), coordinate
    couplers, markers (sites), contact geometry and muscles (spatial tendons with wraps, MuJoCo
    muscle actuators fitted to OpenSim's) are converted. OpenSim 3 files are upgraded first with
    the opensim package.

    \b
    Examples:
      kintwin convert model subject01.osim -o converted/
      kintwin convert model LaiUhlrich2022.osim -o out/ --geometry-dir ~/OpenSim/Geometry
    """
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim, write_converted
    from kintwin_cli.output import warn

    options = ConvertOptions(
        auto_contact=not no_auto_contact,
        meshes=not no_meshes,
        geometry_dirs=tuple(str(d) for d in geometry_dirs),
    )
    converted = convert_osim(model, options)
    paths = write_converted(converted, outdir, force=force)
    report = converted.map
    fitted = [m["fit"] for m in report["muscles"] if m.get("fit")]
    if fitted:
        worst = max(f["rmse_active"] for f in fitted)
        note(
            f"{len(report['muscles'])} muscles: tendons + MuJoCo muscle actuators fitted to "
            f"OpenSim's (worst active-force RMSE {worst:.1f} % of Fmax)"
        )
    if report["unsupported"]:
        warn("not converted: " + "; ".join(report["unsupported"]))
    if report["missing_meshes"]:
        warn(
            f"{len(report['missing_meshes'])} mesh files not found (use --geometry-dir): "
            + ", ".join(report["missing_meshes"][:8])
        )
    for line in report["warnings"]:
        warn(line)
    note(
        f"wrote {paths['mjcf']} ({report['nq']} qpos, {len(report['bodies'])} bodies, "
        f"worst coupling-polynomial error {report['worst_coupling_error']:.2g}) and {paths['map'].name}"
    )


@convert.command("motion")
@click.argument("source", type=EXISTING_FILE)
@click.option("--model", "model_path", required=True, type=EXISTING_FILE, help="The .osim model.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TRAJ.npz (or, with --inverse, a .mot/.sto).",
)
@click.option(
    "--lowpass-hz",
    type=click.FloatRange(min=0, min_open=True),
    help="Low-pass cut-off for the coordinates before differentiating (OpenSim's IIR).",
)
@click.option("--inverse", is_flag=True, help="Write a coordinates .mot from a trajectory .npz.")
@click.option(
    "--radians", is_flag=True, help="With --inverse: angles in radians (default degrees)."
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def motion(
    source: Path,
    model_path: Path,
    output: Path,
    lowpass_hz: float | None,
    inverse: bool,
    radians: bool,
    force: bool,
) -> None:
    """IK coordinates (.mot/.sto) -> MuJoCo qpos/qvel/qacc (.npz), or back with --inverse.

    Angles become radians, dependent axes and coupled coordinates are filled from their
    functions, and derivatives come from OpenSim's quintic GCV splines (after an optional
    low-pass filter).

    \b
    Examples:
      kintwin convert motion subject01_walk_IK.mot --model subject01.osim -o walk.npz
      kintwin convert motion walk.npz --model subject01.osim -o walk_back.mot --inverse
    """
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import (
        coordinate_series,
        coordinates_from_qpos,
        coordinates_table,
        load_trajectory,
        make_trajectory,
        save_trajectory,
    )
    from converters.opensim_io.table import read_table, write_table

    converted = convert_osim(model_path, ConvertOptions(meshes=False))
    if inverse:
        arrays = load_trajectory(source)
        values = coordinates_from_qpos(
            arrays["qpos"], arrays["qpos_joints"].tolist(), converted.kinematics, source
        )
        table = coordinates_table(arrays["time"], values, converted.osim, in_degrees=not radians)
        write_table(table, output, force=force)
        note(f"wrote {output} ({table.n_rows} frames, {len(table.labels)} coordinates)")
        return
    table = read_table(source)
    series = coordinate_series(table, converted.osim, source)
    if series.missing:
        note(
            f"coordinates not in {source.name}, held at their defaults: {', '.join(series.missing)}"
        )
    trajectory = make_trajectory(
        series, converted.kinematics, converted.mj_model.nq, converted.mj_model.nv, lowpass_hz
    )
    save_trajectory(
        output,
        trajectory,
        converted.kinematics,
        source_in_degrees=bool(table.in_degrees),
        force=force,
    )
    note(f"wrote {output} ({len(trajectory.time)} frames, nq={converted.mj_model.nq})")


@convert.command("markers")
@click.argument("source", type=EXISTING_FILE)
@click.option("--model", "model_path", required=True, type=EXISTING_FILE, help="The .osim model.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="MARKERS.npz",
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def markers(source: Path, model_path: Path, output: Path, force: bool) -> None:
    """Marker trajectories (.trc) -> MuJoCo frame and metres (.npz), matched to model markers.

    \b
    Example:
      kintwin convert markers subject01_walk.trc --model subject01.osim -o walk_markers.npz
    """
    from converters.markers import markers_for_model, save_markers
    from converters.opensim_io.trc import read_trc
    from converters.osim.parser import load_osim
    from kintwin_cli.output import warn

    matched = markers_for_model(read_trc(source), load_osim(model_path))
    if matched.unmatched_in_file:
        warn(
            f"markers in {source.name} that the model does not have: "
            + ", ".join(matched.unmatched_in_file)
        )
    save_markers(output, matched, force=force)
    note(f"wrote {output} ({len(matched.names)} markers, {len(matched.time)} frames)")
