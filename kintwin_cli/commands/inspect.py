"""``kintwin inspect``: a summary of any file KinTwin reads."""

from __future__ import annotations

from pathlib import Path

import click

from kintwin_cli.options import EXISTING_FILE


@click.command()
@click.argument("path", type=EXISTING_FILE)
def inspect(path: Path) -> None:
    """Summarize a .sto/.mot/.csv table, a .trc marker file, an .osim model or a setup .xml.

    \b
    Tables: columns, rows, rate, time range, angle units.  Markers: names, frames, rate, units,
    missing samples.  Models: bodies, coordinates, joints and muscles by type, markers, mass.
    Setups and ExternalLoads: the files and settings they name.

    \b
    Examples:
      kintwin inspect subject01_walk_IK.mot
      kintwin inspect subject01.osim
    """
    from converters.describe import describe

    click.echo(describe(path))
