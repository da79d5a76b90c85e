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
