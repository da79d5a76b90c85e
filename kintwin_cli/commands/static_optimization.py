"""``kintwin so``: muscle activations and forces in OpenSim's static optimization files."""

from __future__ import annotations

from pathlib import Path

import click

from kintwin_cli.options import (
    EXISTING_FILE,
    coordinates_option,
    fall_search_option,
    force_option,
    json_option,
    lowpass_option,
    method_option,
    model_option,
    on_fall_option,
    output_option,
    policy_option,
    refuse_imitation_options,
    resolve_method,
)
from kintwin_cli.output import JsonSummary, note, warn


@click.command("so")
@method_option()
@model_option()
@coordinates_option()
@policy_option()
@click.option("--external-loads", type=EXISTING_FILE, help="Classic: OpenSim ExternalLoads .xml.")
@click.option("--grf", type=EXISTING_FILE, help="Classic: GRF data file (overrides the XML's).")
@click.option(
    "--reserves",
    type=EXISTING_FILE,
    multiple=True,
    help="Classic: ForceSet .xml of reserve/residual actuators (repeatable), as OpenSim's SO takes.",
)
@lowpass_option("Coordinate low-pass cut-off [default: 6; 0 = off]; imitation: also the forces'.")
@click.option(
    "--activation-exponent", type=click.FloatRange(min=1, min_open=True), default=2.0,
    show_default=True, help="Classic: the exponent p of the sum of activations^p minimised.",
)  # fmt: skip
@click.option("--time-range", nargs=2, type=float, help="T0 T1 in seconds (default: all frames).")
@click.option("--name", help="Output prefix: NAME_StaticOptimization_*.sto [default: the trial].")
@output_option("The output directory.", kind="dir", name="outdir")
@json_option("a summary (outputs, frames, unmet forces; with --policy also tracking)")
@click.option(
    "--report",
    "write_html",
    is_flag=True,
    help="Imitation: also write OUTDIR/<trial>_report.html (see kintwin report).",
)
@on_fall_option(
    "Imitation: as kintwin id --on-fall (stop at a fall, or restart from the kinematics)."
)
@fall_search_option()
@force_option()
def static_optimization(
    method: str | None,
    model_path: Path,
    coordinates: Path,
    policy: Path | None,
    external_loads: Path | None,
    grf: Path | None,
    reserves: tuple[Path, ...],
    lowpass_hz: float | None,
    activation_exponent: float,
    time_range: tuple[float, float] | None,
    name: str | None,
    outdir: Path,
    json_target: Path | str | None,
    write_html: bool,
    restart_on_fall: bool,
    fall_search: bool,
    force: bool,
) -> None:
    """Static optimization: muscle activations and forces, frame by frame.

    Classic: OpenSim's StaticOptimization (rigid tendons, force-length-velocity, minimum sum of
    squared activations) meeting the inverse dynamics of the trial with its measured external
    loads; reserve and residual actuators from --reserves take what the muscles cannot.

    Imitation (with --policy): no force plates. The policy reproduces the trial in simulation
    (writing everything kintwin id writes), and the joint torques it needed are shared among the
    muscles along the simulated motion (its own contact forces: no residual at the root).

    Writes OUTDIR/NAME_StaticOptimization_activation.sto and _force.sto, laid out as OpenSim
    writes them.

    \b
    Examples:
      kintwin so --method classic --model subject01.osim --coordinates subject01_walk_IK.mot \\
        --external-loads subject01_walk_grf.xml --reserves gait10dof_Reserve_Actuators.xml -o so/
      kintwin so --model subject01.osim --coordinates subject01_walk_IK.mot \\
        --policy policies/pretrained/gait10dof18musc_walk_torque -o so/
    """
    from converters.files import trial_name
    from converters.so_workflow import so_output_paths

    method = resolve_method(method, policy, None)
    refuse_imitation_options(method)
    summary = JsonSummary(json_target, force)
    lowpass = 6.0 if lowpass_hz is None else (lowpass_hz or None)
    outputs = so_output_paths(outdir, name or trial_name(coordinates))
    if method == "classic":
        if write_html:
            raise click.UsageError("--report belongs to --method imitation (a policy's trial)")
        from converters.so_workflow import run_classic_so
        from converters.static_optimization import SOSettings

        settings = SOSettings(activation_exponent, lowpass, time_range)
        result = run_classic_so(
            model_path, coordinates, external_loads, reserves, settings, outputs, force, grf
        )
        summary.emit(_report(result, outputs))
        return
    if external_loads is not None or grf is not None or reserves:
        warn("imitation SO ignores --external-loads/--grf/--reserves: the simulation needs none")
    if activation_exponent != 2.0:
        raise click.UsageError("--activation-exponent applies to --method classic only")
    trial = trial_name(coordinates)
    html = Path(outdir) / f"{trial}_report.html"
    if write_html:
        from converters.files import check_writable

        check_writable(html, force)  # before any work
    result = _imitation(
        model_path, coordinates, policy, outdir, outputs, lowpass, time_range, force,
        restart_on_fall, fall_search,
    )  # fmt: skip
    if write_html:
        from policies.report import ReportConfig, write_report

        config = ReportConfig(trial=trial, model=model_path, coordinates=coordinates, policy=policy)
        written = write_report(outdir, html, config, force)
        note(f"wrote {html} (frames: {written.renderer})")
        result["outputs"]["report_html"] = str(html)
    summary.emit(result)


def _imitation(
    model_path, coordinates, policy, outdir, outputs, lowpass, time_range, force, restart,
    fall_search,
) -> dict:  # fmt: skip
    from converters.files import trial_name
    from kintwin_cli.imitation import note_fall_search, warn_fall, warn_implausible
    from policies.imitation_id import output_paths
    from policies.imitation_so import run_imitation_so

    id_outputs = output_paths(outdir, trial_name(coordinates))
    summary = run_imitation_so(
        model_path, coordinates, policy, id_outputs, outputs, lowpass, time_range, force,
        restart_on_fall=restart, fall_search=fall_search,
    )  # fmt: skip
    warn_implausible(summary, coordinates)
    note_fall_search(summary)
    warn_fall(summary)
    note(
        f"wrote {id_outputs.id_sto}, {id_outputs.grf_mot.name}, {id_outputs.grf_xml.name}, "
        f"{id_outputs.kinematics_mot.name}, {id_outputs.summary_json.name}, "
        f"{outputs.activation.name}, {outputs.force.name} "
        f"(tracking {summary['tracking_rms_deg']:.2f}° RMS)"
    )
    files = {k: str(v) for k, v in vars(id_outputs).items()}
    files.update(activation_sto=str(outputs.activation), force_sto=str(outputs.force))
    return {"method": "imitation", **summary, "outputs": files}


def _report(result, outputs) -> dict:
    """Tell what was written; the --json summary of a classic run."""
    worst = float(result.solution.violation.max()) if len(result.solution.violation) else 0.0
    note(
        f"wrote {outputs.activation} and {outputs.force.name} ({result.activation.n_rows} frames, "
        f"{len(result.activation.labels)} actuators; largest unmet generalized force {worst:.2g})"
    )
    if result.solution.unmatched:
        warn(f"no actuator acts on: {', '.join(result.solution.unmatched)} (left unmatched)")
    return {
        "method": "classic",
        "outputs": {"activation_sto": str(outputs.activation), "force_sto": str(outputs.force)},
        "frames": result.activation.n_rows,
        "actuators": result.activation.labels,
        "max_unmet_generalized_force": worst,
        "unmatched_coordinates": result.solution.unmatched,
        "muscles_without_force_at_some_frame": list(result.failed_muscles),
    }


def run_so_setup(
    setup: Path, overrides: dict, grf: Path | None, policy: Path | None, force: bool
) -> dict:
    """An AnalyzeTool StaticOptimization setup, classic or (with ``policy``) by imitation."""
    from converters.so_workflow import so_output_paths, so_settings_from_setup

    config, settings = so_settings_from_setup(setup, overrides)
    outputs = so_output_paths(
        config.results_directory, config.name, config.static_optimization.name
    )
    if policy is not None:
        return _imitation(
            config.model_file, config.coordinates_file, policy, config.results_directory,
            outputs, settings.lowpass_hz or 6.0, settings.time_range, force,
        )  # fmt: skip
    from converters.so_workflow import run_classic_so

    result = run_classic_so(
        config.model_file, config.coordinates_file, config.external_loads_file,
        config.force_set_files, settings, outputs, force, grf,
    )  # fmt: skip
    return _report(result, outputs)
