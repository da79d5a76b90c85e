"""``kintwin run-tool``: run an OpenSim tool setup file (InverseDynamicsTool, or an AnalyzeTool
with an InverseDynamics or StaticOptimization analysis)."""

from __future__ import annotations

import math
from pathlib import Path

import click

from kintwin_cli.options import (
    EXISTING_FILE,
    OUTPUT_DIR,
    force_option,
    json_option,
    method_option,
    model_option,
    policy_option,
    resolve_method,
)
from kintwin_cli.output import JsonSummary, note


@click.command("run-tool")
@click.argument("setup", type=EXISTING_FILE)
@model_option(required=False, help="Override <model_file>.")
@click.option("--coordinates", type=EXISTING_FILE, help="Override <coordinates_file>.")
@click.option("--external-loads", type=EXISTING_FILE, help="Override <external_loads_file>.")
@click.option("--grf", type=EXISTING_FILE, help="Override the ExternalLoads <datafile>.")
@click.option("--results-dir", type=OUTPUT_DIR, help="Override <results_directory>.")
@method_option("the coordinates")
@policy_option()
@click.option("--adapt-minutes", type=float, help="Imitation: fine-tune the policy on the trial.")
@json_option("a summary (outputs and, with --policy, tracking, falls, residuals)")
@force_option("Overwrite the output file if it exists.")
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
    json_target: Path | str | None,
    force: bool,
) -> None:
    """Run an OpenSim InverseDynamicsTool or AnalyzeTool (StaticOptimization) setup, writing
    the output files it names.

    Paths in the setup are relative to the setup file, as in OpenSim; any that do not exist here
    (for example absolute Windows paths) can be pointed elsewhere with the options.

    With --policy the generalized forces come from imitation (see kintwin id): the setup's
    output file gets them, and the simulated GRF, kinematics and summary go beside it; the
    setup's external loads are ignored.

    An AnalyzeTool with a StaticOptimization analysis runs kintwin so: classic with the
    setup's external loads and force_set_files, or with --policy on the simulated dynamics,
    writing <name>_StaticOptimization_activation.sto and _force.sto in its results directory.

    \b
    Examples:
      kintwin run-tool walk_Setup_ID.xml
      kintwin run-tool arm26_Setup_StaticOptimization.xml --results-dir so/
      kintwin run-tool walk_Setup_ID.xml --policy policies/pretrained/gait10dof18musc_walk_torque
      kintwin run-tool SetupID_gait_14.xml --model subject2.osim --coordinates IK_gait_14.mot \\
        --external-loads External_Loads_gait_14.xml --grf GRF_gait_14.mot --results-dir out/
    """
    from converters.opensim_io.setups import read_id_setup, setup_kind

    method = resolve_method(method, policy, adapt_minutes)
    summary = JsonSummary(json_target, force)
    overrides = {
        "model_file": model_path,
        "coordinates_file": coordinates,
        "external_loads_file": external_loads,
        "results_directory": results_dir,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if method == "imitation":
        overrides["external_loads_file"] = None  # ignored: the simulation makes its own
    if setup_kind(setup) == "so":
        from kintwin_cli.commands.static_optimization import run_so_setup

        if grf is not None and method == "imitation":
            raise click.UsageError("--grf belongs to the classic method")
        summary.emit(
            run_so_setup(setup, overrides, grf, policy if method == "imitation" else None, force)
        )
        return
    config = read_id_setup(setup, overrides)
    span = config.time_range
    time_range = span if all(math.isfinite(t) for t in span) else None
    output = config.output_gen_force_file
    if method == "imitation":
        from kintwin_cli.imitation import run_imitation

        summary.emit(
            run_imitation(
                config.model_file,
                config.coordinates_file,
                policy,
                output.parent,
                None,
                adapt_minutes,
                time_range,
                force,
                id_file=output,
            )  # fmt: skip
        )
        return
    from converters.workflows import ClassicIDConfig, run_classic_id

    table = run_classic_id(
        ClassicIDConfig(
            config.model_file,
            config.coordinates_file,
            output,
            config.external_loads_file,
            grf,
            config.lowpass_cutoff_frequency_for_coordinates,
            time_range,
            force,
        )  # fmt: skip
    )
    note(f"wrote {output} ({table.n_rows} frames, {len(table.labels)} generalized forces)")
    summary.emit({"method": "classic", "outputs": {"id_sto": str(output)}, "frames": table.n_rows})
