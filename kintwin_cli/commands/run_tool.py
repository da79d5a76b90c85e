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
    type=click.Choice(["imitation", "classic"]),
    help="imitation (default with --policy): a trained policy tracks the coordinates in "
    "simulation; the setup's external loads are ignored. classic: the setup's measured external "
    "loads, as OpenSim does.",
)
@click.option(
    "--policy",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Policy directory (kintwin train) for imitation.",
)
@click.option("--adapt-minutes", type=float, help="Imitation: fine-tune the policy on the trial.")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def run_tool(
    setup: Path,
    model_path: Path | None,
    coordinates: Path | None,
    external_loads: Path | None,
    grf: Path | None,
    results_dir: Path | None,
    method: str | None,
    policy: Path | None,
    adapt_minutes: float | None,
    force: bool,
) -> None:
    """Run an OpenSim InverseDynamicsTool setup, writing the output file it names.

    Paths in the setup are relative to the setup file, as in OpenSim; any that do not exist here
    (for example absolute Windows paths) can be pointed elsewhere with the options.

    With --policy the generalized forces come from imitation (see kintwin id): the setup's
    output file gets them, and the simulated GRF, kinematics and summary go beside it.

    \b
    Examples:
      kintwin run-tool walk_Setup_ID.xml
      kintwin run-tool walk_Setup_ID.xml --policy policies/pretrained/gait10dof18musc_walk_torque
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
    from converters.errors import KintwinError

    method = method or ("imitation" if policy is not None else "classic")
    if method == "imitation":
        if policy is None:
            raise KintwinError("--method imitation needs --policy POLICY_DIR (see kintwin train)")
    elif policy is not None or adapt_minutes is not None:
        raise KintwinError("--policy and --adapt-minutes belong to --method imitation")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if method == "imitation":
        overrides["external_loads_file"] = None  # ignored: the simulation makes its own
    config = read_id_setup(setup, overrides)
    time_range = (
        None if not all(abs(t) < float("inf") for t in config.time_range) else config.time_range
    )
    if method == "imitation":
        from kintwin_cli.commands.inverse_dynamics import run_imitation

        output = config.output_gen_force_file
        run_imitation(
            config.model_file, config.coordinates_file, policy, output.parent, None,
            adapt_minutes, time_range, force, id_file=output,
        )  # fmt: skip
        return
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
