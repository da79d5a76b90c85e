"""``kintwin id``: joint moments (generalized forces) in OpenSim's ID format."""

from __future__ import annotations

from pathlib import Path

import click

from kintwin_cli.output import note

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("id")
@click.option(
    "--method",
    type=click.Choice(["classic"]),
    default="classic",
    show_default=True,
    help="classic: measured ground reaction forces and OpenSim's equations, in MuJoCo.",
)
@click.option("--model", "model_path", required=True, type=EXISTING_FILE, help="The .osim model.")
@click.option("--coordinates", required=True, type=EXISTING_FILE, help="IK coordinates .mot/.sto.")
@click.option("--external-loads", type=EXISTING_FILE, help="OpenSim ExternalLoads .xml.")
@click.option("--grf", type=EXISTING_FILE, help="GRF data file (overrides the XML's datafile).")
@click.option("--lowpass-hz", type=float, help="Coordinate low-pass cut-off (Hz); none if absent.")
@click.option("--time-range", nargs=2, type=float, help="T0 T1 in seconds (default: all frames).")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output .sto (OpenSim 'Inverse Dynamics Generalized Forces').",
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def inverse_dynamics(
    method: str,
    model_path: Path,
    coordinates: Path,
    external_loads: Path | None,
    grf: Path | None,
    lowpass_hz: float | None,
    time_range: tuple[float, float] | None,
    output: Path,
    force: bool,
) -> None:
    """Inverse dynamics: generalized forces at every coordinate, pelvis residuals included.

    The classic method reproduces OpenSim's InverseDynamicsTool (filtering, splines, external
    loads) on the converted MuJoCo model; it needs measured ground reaction forces.

    \b
    Example:
      kintwin id --method classic --model subject01.osim --coordinates subject01_walk_IK.mot \\
        --external-loads subject01_walk_grf.xml --lowpass-hz 6 -o subject01_walk_ID.sto
    """
    from converters.workflows import run_classic_id

    table = run_classic_id(
        model_path, coordinates, external_loads, grf, lowpass_hz, time_range, output, force
    )
    note(f"wrote {output} ({table.n_rows} frames, {len(table.labels)} generalized forces)")
