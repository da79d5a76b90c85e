"""``kintwin id``: joint moments (generalized forces) in OpenSim's ID format."""

from __future__ import annotations

from pathlib import Path

import click

from kintwin_cli.output import note, warn

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
POLICY_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command("id")
@click.option(
    "--method",
    type=click.Choice(["imitation", "classic"]),
    help="imitation (default with --policy): a trained policy tracks the trial in simulation, no "
    "force plates. classic: measured ground reaction forces and OpenSim's equations, in MuJoCo.",
)
@click.option("--model", "model_path", required=True, type=EXISTING_FILE, help="The .osim model.")
@click.option("--coordinates", required=True, type=EXISTING_FILE, help="IK coordinates .mot/.sto.")
@click.option("--policy", type=POLICY_DIR, help="Policy directory (kintwin train) for imitation.")
@click.option("--adapt-minutes", type=float, help="Imitation: fine-tune the policy on this trial.")
@click.option("--external-loads", type=EXISTING_FILE, help="Classic: OpenSim ExternalLoads .xml.")
@click.option("--grf", type=EXISTING_FILE, help="Classic: GRF data file (overrides the XML's).")
@click.option(
    "--lowpass-hz",
    type=float,
    help="Classic: coordinate low-pass cut-off (none if absent). Imitation: force low-pass "
    "cut-off [default: 6; 0 = off].",
)
@click.option("--time-range", nargs=2, type=float, help="T0 T1 in seconds (default: all frames).")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Classic: the output .sto. Imitation: the output directory.",
)
@click.option("--force", is_flag=True, help="Overwrite existing outputs.")
def inverse_dynamics(
    method: str | None,
    model_path: Path,
    coordinates: Path,
    policy: Path | None,
    adapt_minutes: float | None,
    external_loads: Path | None,
    grf: Path | None,
    lowpass_hz: float | None,
    time_range: tuple[float, float] | None,
    output: Path,
    force: bool,
) -> None:
    """Inverse dynamics: generalized forces at every coordinate, pelvis residuals included.

    Imitation (with --policy): the policy drives the converted model along the trial (a gait
    trial from 0.3 s of its own stride before the first frame, to settle, until 0.3 s after the
    last); the torques it needed are the answer, and the simulated feet give the ground
    reaction forces. The files cover the trial's time span. Writes OUTPUT/<trial>_id.sto,
    <trial>_grf.mot + <trial>_grf.xml (OpenSim ExternalLoads, ground frame),
    <trial>_kinematics.mot and <trial>_summary.json (tracking error, falls, residuals). A
    policy trained for another model is refused.

    Classic: reproduces OpenSim's InverseDynamicsTool (filtering, splines, external loads) on
    the converted MuJoCo model; it needs measured ground reaction forces.

    \b
    Examples:
      kintwin id --model subject01.osim --coordinates subject01_walk_IK.mot \\
        --policy policies/pretrained/gait10dof18musc_walk_torque -o results/
      kintwin id --method classic --model subject01.osim --coordinates subject01_walk_IK.mot \\
        --external-loads subject01_walk_grf.xml --lowpass-hz 6 -o subject01_walk_ID.sto
    """
    from converters.errors import KintwinError

    method = method or ("imitation" if policy is not None else "classic")
    if method == "classic":
        if policy is not None or adapt_minutes is not None:
            raise KintwinError("--policy and --adapt-minutes belong to --method imitation")
        from converters.workflows import run_classic_id

        table = run_classic_id(
            model_path, coordinates, external_loads, grf, lowpass_hz, time_range, output, force
        )
        note(f"wrote {output} ({table.n_rows} frames, {len(table.labels)} generalized forces)")
        return
    if policy is None:
        raise KintwinError("--method imitation needs --policy POLICY_DIR (see kintwin train)")
    if external_loads is not None or grf is not None:
        warn("imitation ID ignores --external-loads/--grf: the simulation makes its own")
    run_imitation(
        model_path, coordinates, policy, output, lowpass_hz, adapt_minutes, time_range, force
    )


def run_imitation(
    model_path: Path,
    coordinates: Path,
    policy: Path,
    outdir: Path,
    lowpass_hz: float | None,
    adapt_minutes: float | None,
    time_range: tuple[float, float] | None,
    force: bool,
    id_file: Path | None = None,
) -> dict:
    """Run imitation ID into ``outdir`` and report it (shared with ``kintwin run-tool``)."""
    from converters.errors import KintwinError
    from policies.imitation_id import output_paths, run_imitation_id, trial_name

    if outdir.exists() and not outdir.is_dir():
        raise KintwinError(f"{outdir}: imitation ID writes several files; give a directory")
    outputs = output_paths(outdir, trial_name(coordinates), id_file)
    progress = None
    if adapt_minutes:
        note(f"fine-tuning the policy on {coordinates.name} for {adapt_minutes:g} min")
        progress = _adapt_progress(adapt_minutes)
    summary = run_imitation_id(
        model_path, coordinates, policy, outputs,
        6.0 if lowpass_hz is None else (lowpass_hz or None),
        adapt_minutes, time_range, force, progress,
    )  # fmt: skip
    if summary["fell"]:
        end = summary["time_span_s"][1]
        warn(f"the model fell at {end:.2f} s; the outputs cover the tracked part only")
    note(
        f"wrote {outputs.id_sto}, {outputs.grf_mot.name}, {outputs.grf_xml.name}, "
        f"{outputs.kinematics_mot.name}, {outputs.summary_json.name} "
        f"(tracking {summary['tracking_rms_deg']:.2f}° RMS, {summary['wall_time_s']:.1f} s)"
    )
    return summary


def _adapt_progress(minutes: float):
    from tqdm import tqdm

    bar = tqdm(total=round(minutes * 60), unit="s", dynamic_ncols=True, disable=None)

    def progress(row: dict) -> None:
        bar.n = min(bar.total, round(row["wall_time"]))
        bar.set_postfix(err=f"{row['tracking_error_deg']:.2f}°", refresh=True)

    return progress
