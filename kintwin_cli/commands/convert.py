"""``kintwin convert``: rewrite files between formats (tables, models, motions, markers)."""

from __future__ import annotations

from pathlib import Path

import click

from kintwin_cli.options import (
    EXISTING_DIR,
    EXISTING_FILE,
    OUTPUT_FILE,
    POSITIVE,
    coordinates_option,
    force_option,
    lowpass_option,
    model_option,
    output_option,
)
from kintwin_cli.output import note, warn


@click.group()
def convert() -> None:
    """Convert between file formats."""


@convert.command("table")
@click.argument("source", type=EXISTING_FILE)
@click.argument("target", type=OUTPUT_FILE)
@click.option(
    "--degrees", "angles", flag_value="degrees", help="Write rotational columns in degrees."
)
@click.option(
    "--radians", "angles", flag_value="radians", help="Write rotational columns in radians."
)
@model_option(
    required=False, help="The .osim model whose coordinate types say which columns are angles."
)
@click.option(
    "--dialect",
    type=click.Choice(["storage", "timeseries", "simm"]),
    help="Header style of a .sto/.mot output (default: the input's).",
)
@force_option("Overwrite TARGET if it exists.")
def table(
    source: Path,
    target: Path,
    angles: str | None,
    model_path: Path | None,
    dialect: str | None,
    force: bool,
) -> None:
    """Rewrite a table between .sto, .mot and .csv (chosen by extension).

    \b
    Examples:
      kintwin convert table subject01_walk_IK.mot ik.csv
      kintwin convert table ik_deg.mot ik_rad.sto --radians --model subject01.osim
    """
    from converters.convert_files import TableConversion, convert_table

    done = convert_table(TableConversion(source, target, angles, model_path, dialect, force))
    if done.rotational is not None:
        basis = f"the coordinates of {model_path.name}" if model_path else "column names"
        hint = "" if model_path else " (use --model to be sure)"
        note(f"{len(done.rotational)} rotational columns in {angles}, chosen from {basis}{hint}")
    note(f"wrote {target} ({done.rows} rows, {done.columns} columns)")


@convert.command("model")
@click.argument("model", type=EXISTING_FILE)
@output_option("Folder for the MJCF files.", kind="dir", name="outdir")
@click.option(
    "--geometry-dir",
    "geometry_dirs",
    multiple=True,
    type=EXISTING_DIR,
    help="Extra folder to look for .vtp/.obj/.stl meshes in (repeatable).",
)
@click.option("--no-meshes", is_flag=True, help="Leave the display meshes out.")
@click.option(
    "--no-muscles",
    is_flag=True,
    help="Leave the muscles out (a torque-driven policy needs none; their fit is most of the "
    "time of a many-muscle model's conversion).",
)
@click.option(
    "--no-auto-contact",
    is_flag=True,
    help="Do not add foot contact spheres to a model that has no contact geometry.",
)
@force_option()
def model(
    model: Path,
    outdir: Path,
    geometry_dirs: tuple[Path, ...],
    no_meshes: bool,
    no_muscles: bool,
    no_auto_contact: bool,
    force: bool,
) -> None:
    """Convert an OpenSim model to MuJoCo: OUTDIR/<name>.xml, <name>_map.json, meshes.

    Bodies, joints (every type, coupled axes as polynomial joint equalities), coordinate
    couplers, markers (sites), contact geometry and muscles (spatial tendons with wraps, MuJoCo
    muscle actuators fitted to OpenSim's) are converted. OpenSim 3 files are upgraded first with
    the opensim package. Existing outputs are refused (without --force) before converting.

    \b
    Examples:
      kintwin convert model subject01.osim -o converted/
      kintwin convert model LaiUhlrich2022.osim -o out/ --geometry-dir ~/OpenSim/Geometry
      kintwin convert model LaiUhlrich2022.osim -o out/ --no-muscles --no-meshes
    """
    from converters.convert_files import ModelConversion, convert_model

    config = ModelConversion(
        model,
        outdir,
        geometry_dirs,
        meshes=not no_meshes,
        auto_contact=not no_auto_contact,
        force=force,
        muscles=not no_muscles,
    )
    done = convert_model(config)
    report = done.map
    fitted = [m["fit"] for m in report["muscles"] if m.get("fit")]
    if fitted:
        worst = max(f["rmse_active"] for f in fitted)
        note(
            f"{len(report['muscles'])} muscles: tendons + MuJoCo muscle actuators fitted to "
            f"OpenSim's (worst active-force RMSE {worst:.1f} % of Fmax)"
        )
    if report["unsupported"]:
        warn("not converted: " + "; ".join(report["unsupported"]))
    missing = report["missing_meshes"]
    if missing:
        shown = ", ".join(missing[:8])
        warn(f"{len(missing)} mesh files not found (use --geometry-dir): {shown}")
    for line in report["warnings"]:
        warn(line)
    note(
        f"wrote {done.paths['mjcf']} ({report['nq']} qpos, {len(report['bodies'])} bodies, "
        f"worst coupling-polynomial error {report['worst_coupling_error']:.2g}) and "
        f"{done.paths['map'].name}"
    )


@convert.command("motion")
@click.argument("source", type=EXISTING_FILE)
@model_option()
@output_option("TRAJ.npz (or, with --inverse, a .mot/.sto).")
@lowpass_option("Low-pass cut-off for the coordinates before differentiating (OpenSim's IIR).")
@click.option("--inverse", is_flag=True, help="Write a coordinates .mot from a trajectory .npz.")
@click.option(
    "--radians", is_flag=True, help="With --inverse: angles in radians (default degrees)."
)
@force_option("Overwrite OUTPUT if it exists.")
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
    from converters.convert_files import MotionConversion, convert_motion

    config = MotionConversion(
        source, model_path, output, lowpass_hz or None, inverse, radians, force
    )
    done = convert_motion(config)
    if done.missing:
        note(f"coordinates not in {source.name}, held at their defaults: {', '.join(done.missing)}")
    what = f"{done.columns} coordinates" if inverse else f"nq={done.columns}"
    note(f"wrote {output} ({done.frames} frames, {what})")


@convert.command("markers")
@click.argument("source", type=EXISTING_FILE)
@model_option()
@output_option("MARKERS.npz")
@force_option("Overwrite OUTPUT if it exists.")
def markers(source: Path, model_path: Path, output: Path, force: bool) -> None:
    """Marker trajectories (.trc) -> MuJoCo frame and metres (.npz), matched to model markers.

    \b
    Example:
      kintwin convert markers subject01_walk.trc --model subject01.osim -o walk_markers.npz
    """
    from converters.convert_files import MarkerConversion, convert_markers

    done = convert_markers(MarkerConversion(source, model_path, output, force))
    if done.unmatched:
        warn(f"markers in {source.name} that the model does not have: {', '.join(done.unmatched)}")
    note(f"wrote {output} ({len(done.names)} markers, {done.frames} frames)")


@convert.command("grf")
@click.argument("plates", type=EXISTING_FILE)
@model_option(help="The subject's .osim model (its feet are posed by the coordinates).")
@coordinates_option()
@output_option("Prefix: writes PREFIX_grf.mot and PREFIX_grf.xml.", kind="any", name="prefix")
@click.option(
    "--threshold",
    type=POSITIVE,
    default=20.0,
    show_default=True,
    help="Vertical force (N) above which a plate is loaded.",
)
@click.option(
    "--max-distance",
    type=POSITIVE,
    default=0.25,
    show_default=True,
    help="Farthest (m) a foot may be from a plate's centre of pressure to take its load.",
)
@force_option("Overwrite the outputs if they exist.")
def grf(
    plates: Path,
    model_path: Path,
    coordinates: Path,
    prefix: Path,
    threshold: float,
    max_distance: float,
    force: bool,
) -> None:
    """Per-plate force file -> ground reactions per foot (a GRF .mot + ExternalLoads .xml).

    Each loaded plate goes, frame by frame, to the foot whose contact points (posed by the IK
    coordinates) lie nearest its centre of pressure; plates under one foot are summed. Frames
    where a loaded plate could not be assigned (no foot near, no kinematics) are listed.

    \b
    Example:
      kintwin convert grf walking1_grf.mot --model subject4.osim \\
        --coordinates walking1_ik.mot -o feet/walking1
    """
    from converters.plate_assignment import convert_plates_to_feet

    done, (mot, xml) = convert_plates_to_feet(
        plates, model_path, coordinates, prefix, threshold, max_distance, force
    )
    for name, first, last, reason in done.left_out:
        warn(f"{name}: load not assigned at {first:.3f}-{last:.3f} s: {reason}")
    counts = ", ".join(
        f"{plate.name} -> "
        + "/".join(
            f"{foot.name} {int((done.plate_foot[:, p] == f).sum())}"
            for f, foot in enumerate(done.feet)
        )
        for p, plate in enumerate(done.plates)
    )
    note(f"frames per foot: {counts}")
    note(f"wrote {mot} and {xml.name} ({len(done.time)} frames)")
