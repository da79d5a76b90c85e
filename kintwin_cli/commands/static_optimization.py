"""``kintwin so``: muscle activations and forces in OpenSim's static optimization files."""

from __future__ import annotations

from pathlib import Path

import click

from kintwin_cli.output import note, warn

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
POLICY_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command("so")
@click.option(
    "--method",
    type=click.Choice(["imitation", "classic"]),
    help="imitation (default with --policy): a trained policy reproduces the trial in simulation, "
    "no force plates. classic: OpenSim's static optimization with measured loads.",
)
@click.option("--model", "model_path", required=True, type=EXISTING_FILE, help="The .osim model.")
@click.option("--coordinates", required=True, type=EXISTING_FILE, help="IK coordinates .mot/.sto.")
@click.option("--policy", type=POLICY_DIR, help="Policy directory (kintwin train) for imitation.")
@click.option("--external-loads", type=EXISTING_FILE, help="Classic: OpenSim ExternalLoads .xml.")
@click.option("--grf", type=EXISTING_FILE, help="Classic: GRF data file (overrides the XML's).")
@click.option(
    "--reserves",
    type=EXISTING_FILE,
    multiple=True,
    help="Classic: ForceSet .xml of reserve/residual actuators (repeatable), as OpenSim's SO takes.",
)
@click.option(
    "--lowpass-hz",
    type=float,
    default=6.0,
    show_default=True,
    help="Coordinate low-pass cut-off (0 = none); imitation: also the force cut-off.",
)
@click.option("--activation-exponent", type=float, default=2.0, show_default=True)
@click.option("--time-range", nargs=2, type=float, help="T0 T1 in seconds (default: all frames).")
@click.option("--name", help="Output prefix: <NAME>_StaticOptimization_*.sto [default: trial].")
@click.option(
    "-o", "--output", "outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Output directory.",
)  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite existing outputs.")
def static_optimization(
    method: str | None,
    model_path: Path,
    coordinates: Path,
    policy: Path | None,
    external_loads: Path | None,
    grf: Path | None,
    reserves: tuple[Path, ...],
    lowpass_hz: float,
    activation_exponent: float,
    time_range: tuple[float, float] | None,
    name: str | None,
    outdir: Path,
    force: bool,
) -> None:
    """Static optimization: muscle activations and forces, frame by frame.

    Classic: OpenSim's StaticOptimization (rigid tendons, force-length-velocity, minimum sum of
    squared activations) meeting the inverse dynamics of the trial with its measured external
    loads; reserve and residual actuators from --reserves take what the muscles cannot.

    Imitation (with --policy): no force plates. The policy reproduces the trial in simulation
    (everything kintwin id writes), and its joint torques are shared among the muscles along
    the simulated motion (its own contact forces: no residual at the root).

    Writes OUTDIR/<NAME>_StaticOptimization_activation.sto and _force.sto, laid out as OpenSim
    writes them.

    \b
    Examples:
      kintwin so --method classic --model subject01.osim --coordinates subject01_walk_IK.mot \\
        --external-loads subject01_walk_grf.xml --reserves gait10dof_Reserve_Actuators.xml -o so/
      kintwin so --model subject01.osim --coordinates subject01_walk_IK.mot \\
        --policy policies/pretrained/gait10dof18musc_walk_torque -o so/
    """
    from converters.errors import KintwinError
    from converters.so_workflow import so_output_paths
    from policies.imitation_id import trial_name

    method = method or ("imitation" if policy is not None else "classic")
    lowpass = lowpass_hz or None
    outputs = so_output_paths(outdir, name or trial_name(coordinates))
    if method == "classic":
        if policy is not None:
            raise KintwinError("--policy belongs to --method imitation")
        from converters.so_workflow import run_classic_so
        from converters.static_optimization import SOSettings

        settings = SOSettings(activation_exponent, lowpass, time_range)
        result = run_classic_so(
            model_path, coordinates, external_loads, reserves, settings, outputs, force, grf
        )
        _report(result, outputs)
        return
    if policy is None:
        raise KintwinError("--method imitation needs --policy POLICY_DIR (see kintwin train)")
    if external_loads is not None or grf is not None or reserves:
        warn("imitation SO ignores --external-loads/--grf/--reserves: the simulation needs none")
    if activation_exponent != 2.0:
        raise KintwinError("--activation-exponent applies to --method classic only")
    from policies.imitation_id import output_paths
    from policies.imitation_so import run_imitation_so

    id_outputs = output_paths(outdir, trial_name(coordinates))
    summary = run_imitation_so(
        model_path, coordinates, policy, id_outputs, outputs, lowpass, time_range, force
    )
    if summary["fell"]:
        warn(f"the model fell at {summary['time_span_s'][1]:.2f} s; outputs cover the tracked part")
    note(
        f"wrote {id_outputs.id_sto}, {id_outputs.grf_mot.name}, {id_outputs.grf_xml.name}, "
        f"{id_outputs.kinematics_mot.name}, {id_outputs.summary_json.name}, "
        f"{outputs.activation.name}, {outputs.force.name} "
        f"(tracking {summary['tracking_rms_deg']:.2f}° RMS)"
    )


def _report(result, outputs) -> None:
    worst = float(result.solution.violation.max()) if len(result.solution.violation) else 0.0
    note(
        f"wrote {outputs.activation} and {outputs.force.name} ({result.activation.n_rows} frames, "
        f"{len(result.activation.labels)} actuators; largest unmet generalized force {worst:.2g})"
    )
    if result.solution.unmatched:
        warn(f"no actuator acts on: {', '.join(result.solution.unmatched)} (left unmatched)")


def run_so_setup(
    setup: Path, overrides: dict, grf: Path | None, policy: Path | None, force: bool
) -> None:
    """An AnalyzeTool StaticOptimization setup, classic or (with ``policy``) by imitation."""
    from converters.so_workflow import so_output_paths, so_settings_from_setup

    config, settings = so_settings_from_setup(setup, overrides)
    outputs = so_output_paths(config.results_directory, config.name, config.static_optimization.name)
    if policy is not None:
        from policies.imitation_id import output_paths, trial_name
        from policies.imitation_so import run_imitation_so

        id_outputs = output_paths(config.results_directory, trial_name(config.coordinates_file))
        run_imitation_so(
            config.model_file, config.coordinates_file, policy, id_outputs, outputs,
            settings.lowpass_hz or 6.0, settings.time_range, force,
        )  # fmt: skip
        note(f"wrote {outputs.activation} and {outputs.force.name} (imitation)")
        return
    from converters.so_workflow import run_classic_so

    result = run_classic_so(
        config.model_file, config.coordinates_file, config.external_loads_file,
        config.force_set_files, settings, outputs, force, grf,
    )  # fmt: skip
    _report(result, outputs)
