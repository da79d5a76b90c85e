"""``kintwin run-tool``: run an OpenSim tool setup file (InverseDynamicsTool)."""

from __future__ import annotations

from pathlib import Path

import click

from kintwin_cli.output import note

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("run-tool")
@click.argument("setup", type=EXISTING_FILE)
@click.option("--model", "model_path", type=EXISTING_FILE, help="Override <model_file>.")
@click.option("--coordinates", type=EXISTING_FILE, help="Override <coordinates_file>.")
@click.option("--external-loads", type=EXISTING_FILE, help="Override <external_loads_file>.")
@click.option("--grf", type=EXISTING_FILE, help="Override the ExternalLoads <datafile>.")
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Override <results_directory>.",
)
@click.option(
    "--method",
    type=click.Choice(["classic"]),
    default="classic",
    show_default=True,
    help="classic: the setup's measured external loads, as OpenSim does.",
)
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def run_tool(
    setup: Path,
    model_path: Path | None,
    coordinates: Path | None,
    external_loads: Path | None,
    grf: Path | None,
    results_dir: Path | None,
    method: str,
    force: bool,
) -> None:
    """Run an OpenSim InverseDynamicsTool setup, writing the output file it names.

    Paths in the setup are relative to the setup file, as in OpenSim; any that do not exist here
    (for example absolute Windows paths) can be pointed elsewhere with the options.

    \b
    Examples:
      kintwin run-tool walk_Setup_ID.xml
      kintwin run-tool SetupID_gait_14.xml --model subject2.osim --coordinates IK_gait_14.mot \\
        --external-loads External_Loads_gait_14.xml --grf GRF_gait_14.mot --results-dir out/
    """
    from converters.opensim_io.setups import read_id_setup
    from converters.workflows import run_classic_id

    overrides = {
        "model_file": model_path,
        "coordinates_file": coordinates,
        "external_loads_file": external_loads,
        "results_directory": results_dir,
    }
    config = read_id_setup(setup, {k: v for k, v in overrides.items() if v is not None})
    time_range = (
        None if not all(abs(t) < float("inf") for t in config.time_range) else config.time_range
    )
    table = run_classic_id(
        config.model_file,
        config.coordinates_file,
        config.external_loads_file,
        grf,
        config.lowpass_cutoff_frequency_for_coordinates,
        time_range,
        config.output_gen_force_file,
        force,
    )
    note(
        f"wrote {config.output_gen_force_file} ({table.n_rows} frames, {len(table.labels)} "
        "generalized forces)"
    )
