"""Imitation ID as ``kintwin id`` and ``kintwin run-tool`` run it: progress bar and report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kintwin_cli.output import note, progress_lines, warn

__all__ = [
    "run_imitation", "note_fall_search", "warn_fall", "warn_implausible", "warn_vertical_grf",
    "warn_body_outside_training",
    "DEFAULT_FORCE_LOWPASS_HZ",
]  # fmt: skip

DEFAULT_FORCE_LOWPASS_HZ = 6.0  # as OpenSim's ID setups filter the coordinates
FLOOR_NOTE_M = 0.03  # a floor shift larger than this is noted (as the root fit applies from 3 cm)
VERTICAL_GRF_WARN_BW = 0.10  # feet this far (RMS) from the motion's need are warned of


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
    report: bool = False,
    fit_root: bool = True,
    restart_on_fall: bool = False,
    fall_search: bool = True,
    root_follow: str = "auto",
) -> dict:
    """Run imitation ID into ``outdir`` (``lowpass_hz``: None = the default, 0 = off) and
    report it; returns the summary with the output paths added under ``"outputs"``.
    ``fit_root`` fits the trial's pelvis path to the model (``policies.root_fit``);
    ``root_follow`` (auto, on, off) lets the body walk its own path (``policies.root_follow``);
    ``restart_on_fall`` restarts a fallen simulation from the kinematics (kintwin id --on-fall);
    ``fall_search`` first searches the policy's own actions for a way through (--fall-search).
    ``report`` also writes ``<trial>_report.html`` there (``kintwin report``)."""
    from converters.files import check_writable, trial_name
    from policies.imitation_id import output_paths, run_imitation_id

    trial = trial_name(coordinates)
    outputs = output_paths(outdir, trial, id_file)
    html = Path(outdir) / f"{trial}_report.html"
    if report:
        check_writable(html, force)  # before any work
    progress = None
    if adapt_minutes:
        note(f"fine-tuning the policy on {coordinates.name} for {adapt_minutes:g} min")
        progress = _adapt_progress(adapt_minutes)
    cutoff = DEFAULT_FORCE_LOWPASS_HZ if lowpass_hz is None else (lowpass_hz or None)
    summary = run_imitation_id(
        model_path, coordinates, policy, outputs, cutoff, adapt_minutes, time_range, force,
        progress, fit_root=fit_root, restart_on_fall=restart_on_fall, fall_search=fall_search,
        root_follow=root_follow,
    )  # fmt: skip
    warn_implausible(summary, coordinates)
    note_fall_search(summary)
    warn_fall(summary)
    warn_vertical_grf(summary, coordinates)
    warn_body_outside_training(summary, model_path)
    shift = summary.get("floor_shift_m")
    if shift is not None and abs(shift) > FLOOR_NOTE_M:
        note(
            f"{coordinates.name}: moved {100 * shift:+.1f} cm up so its feet stand on the floor, "
            "as the policy's training motions did (floor_shift_m)"
        )
    fit = summary.get("root_fit")
    if fit and fit["applied"]:
        note(
            f"{coordinates.name} does not fit this model (feet {100 * fit['floor_offset_m']:+.1f} "
            f"cm off its floor, stance feet sliding {fit['stance_slip_m_per_s']:.2f} m/s): pelvis "
            f"path scaled by {fit['scale']:.3f} and moved {100 * fit['shift_m']:+.1f} cm up"
        )
    follow = summary.get("root_follow") or {}
    if follow.get("on"):
        slip = (fit or {}).get("fitted_slip_m_per_s")
        why = f"stance feet sliding {slip:.2f} m/s after the fit" if slip is not None else "asked"
        note(
            f"{coordinates.name}: the body walks its own path over the floor ({why}): the "
            f"pelvis's horizontal path follows the simulation (time constant "
            f"{follow['time_constant_s']:g} s); pelvis_tx/tz errors are from the trial's path"
        )
    bends = summary.get("toes_completed_deg") or {}  # a policy trained with complete_toes
    if bends:
        toes = ", ".join(f"{c} up to {d:.0f}°" for c, d in bends.items())
        note(
            f"{coordinates.name} holds its toes still: they bend where they would go below the "
            f"foot's stance level, as in the policy's training ({toes}); their errors are from "
            "the bent toes"
        )
    if summary["coordinates_held_at_default"]:
        held = ", ".join(summary["coordinates_held_at_default"])
        note(f"coordinates not in {coordinates.name}, held at their default values: {held}")
    if summary.get("reserves"):  # muscle drive: the reserves it needed, never hidden
        worst = max(r["rms_percent_of_peak_moment"] for r in summary["reserves"].values())
        rms = max(r["rms_Nm"] for r in summary["reserves"].values())
        note(f"muscle drive: reserves up to {rms:.2f} N·m RMS ({worst:.1f} % of a peak moment)")
    note(
        f"wrote {outputs.id_sto}, {outputs.grf_mot.name}, {outputs.grf_xml.name}, "
        f"{outputs.kinematics_mot.name}, {outputs.summary_json.name} "
        f"(tracking {summary['tracking_rms_deg']:.2f}° RMS, {summary['wall_time_s']:.1f} s)"
    )
    names = ("id_sto", "grf_mot", "grf_xml", "kinematics_mot", "summary_json")
    paths = {name: str(getattr(outputs, name)) for name in names}
    if report:
        from policies.report import ReportConfig, write_report

        config = ReportConfig(trial=trial, model=model_path, coordinates=coordinates, policy=policy)
        written = write_report(outdir, html, config, force)
        note(f"wrote {html} (frames: {written.renderer})")
        paths["report_html"] = str(html)
    return {"method": "imitation", **summary, "outputs": paths}


def note_fall_search(summary: dict) -> None:
    """Say where the run would have fallen and how the search went on (--fall-search)."""
    for search in summary.get("fall_search") or ():
        fall = f"the policy's mean action fell at {search['fall_s']:.2f} s"
        if search["way_from_s"] is None:
            note(f"{fall}; no draw of its own actions got past it")
            continue
        way = f"its own actions drawn from {search['way_from_s']:.2f} s"
        if search["through"]:
            note(f"{fall}; {way} got through")
        else:
            note(f"{fall}; {way} got further, to {search['way_to_s']:.2f} s")


def warn_implausible(summary: dict, coordinates: Path) -> None:
    """Warn of coordinates moving implausibly fast (converters.kinematics_check), and
    say which --time-range leaves them out."""
    implausible = summary.get("implausible_kinematics")
    if not implausible:
        return
    for span in implausible["spans"]:
        unit = "°/s" if span["unit"] == "deg/s" else " m/s"
        others = len(span["coordinates"]) - 1
        also = f" (and {others} more coordinate{'s' * (others > 1)})" if others else ""
        warn(
            f"{coordinates.name}: {span['fastest']}{also} moves at {span['peak_speed']:.0f}{unit} "
            f"between {span['from_s']:.2f} and {span['to_s']:.2f} s, implausibly fast for a body "
            "(a failed pose estimate?); the outputs near it mean little"
        )
    keep = implausible["time_range_without_s"]
    if keep is not None:
        note(f"--time-range {keep[0]:.2f} {keep[1]:.2f} leaves the implausible frames out")


def warn_body_outside_training(summary: dict, model: Path) -> None:
    """Warn when the model's segments or mass lie outside the bodies the policy trained on
    (``body_vs_training``): the policy extrapolates there."""
    body = summary.get("body_vs_training")
    if not body or not body["outside"]:
        return
    lo, hi = body["trained_lengths"]
    m_lo, m_hi = body["trained_mass_kg"]
    parts = [
        f"{body['mass_kg']:.0f} kg"
        if name == "mass"
        else f"{name} x{body['segment_factors'][name]:.2f}"
        for name in body["outside"]
    ]
    warn(
        f"{Path(model).name}: {', '.join(parts)} lie outside the bodies the policy trained on "
        f"(lengths x{lo:g}-{hi:g} of its family's model, {m_lo:g}-{m_hi:g} kg); it extrapolates "
        "(body_vs_training in the summary)"
    )


def warn_fall(summary: dict) -> None:
    """Warn of a fall: where the outputs end, or (--on-fall restart) the spans to distrust."""
    if summary.get("restarts_s"):
        times = ", ".join(f"{t:.2f}" for t in summary["restarts_s"])
        spans = ", ".join(f"{a:.2f}-{b:.2f}" for a, b in summary["distrusted_spans_s"])
        warn(
            f"the model fell at {times} s and was restarted from the kinematics there; "
            f"distrust {spans or 'nothing of the trial'} s (distrusted_spans_s in the summary)"
        )
    elif summary["fell"]:
        end = summary["time_span_s"][1]
        warn(f"the model fell at {end:.2f} s; the outputs cover the tracked part only")


def warn_vertical_grf(summary: dict, coordinates: Path) -> None:
    """Warn when the simulated feet's vertical force is far from what the motion needs
    (``vertical_grf_vs_motion``): the policy's moments and GRF then mean little, and the
    contact solve, which meets that need by construction, is the better answer."""
    check = summary.get("vertical_grf_vs_motion")
    if check and check["rmse_percent_bw"] > 100.0 * VERTICAL_GRF_WARN_BW:
        warn(
            f"{coordinates.name}: the simulated feet push {check['rmse_percent_bw']:.0f} %BW RMS "
            "off the vertical force the motion needs (mass x (COM acceleration + g)); its "
            "moments and GRF are doubtful: kintwin id --method contact solves them from the "
            "motion alone"
        )


def _adapt_progress(minutes: float) -> Callable[[dict], None]:
    from tqdm import tqdm

    bar = tqdm(total=round(minutes * 60), unit="s", dynamic_ncols=True, disable=None)
    lines = progress_lines(bar)  # with no terminal (a batch job's log) instead of the bar

    def progress(row: dict) -> None:
        bar.n = min(bar.total, round(row["wall_time"]))
        bar.set_postfix(err=f"{row['tracking_error_deg']:.2f}°", refresh=True)
        lines(row)

    return progress
