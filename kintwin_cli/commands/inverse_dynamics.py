"""``kintwin id``: joint moments (generalized forces) in OpenSim's ID format."""

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


@click.command("id")
@method_option(contact=True)
@model_option()
@coordinates_option()
@policy_option()
@click.option("--adapt-minutes", type=float, help="Imitation: fine-tune the policy on this trial.")
@click.option("--external-loads", type=EXISTING_FILE, help="Classic: OpenSim ExternalLoads .xml.")
@click.option("--grf", type=EXISTING_FILE, help="Classic: GRF data file (overrides the XML's).")
@lowpass_option(
    "Classic: coordinate low-pass cut-off (none if absent). Contact: coordinate low-pass "
    "cut-off [default: 6; 0 = off]. Imitation: force low-pass cut-off [default: 6; 0 = off]."
)
@click.option("--time-range", nargs=2, type=float, help="T0 T1 in seconds (default: all frames).")
@output_option("Classic: the output .sto. Imitation and contact: the output directory.", kind="any")
@json_option("a summary (outputs, tracking, falls, residuals)")
@click.option(
    "--fit-root/--no-fit-root", default=True, show_default=True,
    help="Imitation: where the trial's feet stand off the model's floor or its stance feet "
    "slide (IK of another body, a markerless floor), scale and shift the pelvis path to fit "
    "the model's legs; the summary's root_fit says what was done.",
)  # fmt: skip
@click.option(
    "--root-follow", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
    help="Imitation: let the body walk its own path over the floor, tracking joint angles and "
    "pelvis height and orientation (the reference's horizontal pelvis path follows the "
    "simulation, time constant 0.05 s). auto: where the stance feet still slide faster than "
    "0.1 m/s after --fit-root (markerless kinematics), never on a lab trial on its own model.",
)  # fmt: skip
@on_fall_option(
    "Imitation: if the model falls, stop there (the files cover the part tracked) or restart it "
    "from the kinematics at that frame and go on (the files cover the whole trial; the summary's "
    "distrusted_spans_s lists 0.5 s before to 0.3 s after each fall)."
)
@fall_search_option()
@click.option(
    "--report",
    "write_html",
    is_flag=True,
    help="Imitation: also write OUTPUT/<trial>_report.html (see kintwin report).",
)
@click.option(
    "--seat",
    is_flag=True,
    help="Contact: a trial that sits at its start or end (sit-to-stand) gets a seat under the "
    "thighs (seat_r_/seat_l_ loads on them). Off by default: it takes the seated weight off the "
    "feet, but keeps some load as the thighs start to rise.",
)
@force_option()
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
    json_target: Path | str | None,
    fit_root: bool,
    root_follow: str,
    restart_on_fall: bool,
    fall_search: bool,
    write_html: bool,
    seat: bool,
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

    Contact (no policy, no force plates): the whole-body equations of the measured motion give
    the total ground reaction; it is shared among contact points under both feet (nonnegative,
    inside a friction pyramid, weaker the higher and faster a point moves; each foot's force
    leaning towards the centre of mass) and OpenSim's equations give the joint moments with
    it. Writes OUTPUT/<trial>_id.sto, <trial>_grf.mot and <trial>_grf.xml. With --seat, a
    trial that sits at its start or end gets a seat under the thighs (seat_r_/seat_l_
    columns); without it, as for a handrail, the feet are given that load.

    \b
    Examples:
      kintwin id --model subject01.osim --coordinates subject01_walk_IK.mot \\
        --policy policies/pretrained/gait10dof18musc_walk_torque -o results/
      kintwin id --method classic --model subject01.osim --coordinates subject01_walk_IK.mot \\
        --external-loads subject01_walk_grf.xml --lowpass-hz 6 -o subject01_walk_ID.sto
      kintwin id --model subject01.osim --coordinates walk_IK.mot --policy P -o out/ --json
      kintwin id --method contact --model subject01.osim --coordinates walk_IK.mot -o out/
    """
    method = resolve_method(method, policy, adapt_minutes)
    refuse_imitation_options(method)
    if seat and method != "contact":
        raise click.UsageError("--seat belongs to --method contact")
    summary = JsonSummary(json_target, force)
    if method == "imitation":
        from kintwin_cli.imitation import run_imitation

        if external_loads is not None or grf is not None:
            warn("imitation ID ignores --external-loads/--grf: the simulation makes its own")
        summary.emit(
            run_imitation(
                model_path,
                coordinates,
                policy,
                output,
                lowpass_hz,
                adapt_minutes,
                time_range,
                force,
                report=write_html,
                fit_root=fit_root,
                root_follow=root_follow,
                restart_on_fall=restart_on_fall,
                fall_search=fall_search,
            )  # fmt: skip
        )
        return
    if write_html:
        from converters.errors import KintwinError

        raise KintwinError("--report belongs to --method imitation (a policy's trial)")
    if method == "contact":
        from converters.workflows import ContactIDConfig, run_contact_id
        from kintwin_cli.imitation import warn_implausible

        if external_loads is not None or grf is not None:
            raise click.UsageError("--external-loads/--grf belong to --method classic")
        cutoff = 6.0 if lowpass_hz is None else lowpass_hz
        config = ContactIDConfig(model_path, coordinates, output, cutoff, time_range, force, seat)
        result = run_contact_id(config)
        warn_implausible(result, coordinates)
        for span in result["unsupported_spans"]:
            warn(
                f"{coordinates.name}: between {span['from_s']:.2f} and {span['to_s']:.2f} s no "
                "foot is near the floor, yet the motion needs up to "
                f"{span['peak_shortfall_percent_bw']:.0f} % of body weight from it (a foot "
                "above the IK's floor?); the loads and moments there are short of it"
            )
        note(f"wrote {', '.join(result['outputs'].values())} ({result['frames']} frames)")
        summary.emit(result)
        return
    from converters.workflows import ClassicIDConfig, run_classic_id

    config = ClassicIDConfig(
        model_path, coordinates, output, external_loads, grf, lowpass_hz, time_range, force
    )
    table = run_classic_id(config)
    if external_loads is None and grf is None:
        warn(
            f"{coordinates.name}: no --external-loads: as in OpenSim's ID, the ground reactions "
            "end up in the pelvis residuals; without force plates use --method contact or --policy"
        )
    note(f"wrote {output} ({table.n_rows} frames, {len(table.labels)} generalized forces)")
    summary.emit(_classic_summary(table, output))


def _classic_summary(table, output: Path) -> dict:
    return {
        "method": "classic",
        "outputs": {"id_sto": str(output)},
        "frames": table.n_rows,
        "time_span_s": [float(table.time[0]), float(table.time[-1])],
        "columns": list(table.labels),
    }
