"""The report: one self-contained HTML page for a trial of a ``kintwin id`` output folder.

Everything is inline (CSS, PNG images as base64 ``data:`` URIs, no script, no font or network
request), so the file opens offline and from an e-mail. Sections, in the order a reader decides
whether to believe the numbers: trust flags, joint moments, ground reaction forces per foot,
muscle activations, gait events, and a strip of frames of the simulated body over the reference.
"""

from __future__ import annotations

import base64
import html
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from converters.errors import KintwinError
from converters.files import atomic_output
from converters.opensim_io.table import read_table
from policies.report import figures
from policies.report.outputs import TrialFiles, find_trial
from policies.report.trust import TrustBars, tracking_rows, training_distance, trust_flags

__all__ = ["ReportConfig", "Report", "build_report", "write_report"]


@dataclass(frozen=True)
class ReportConfig:
    """Options of one report.

    Attributes:
        trial: the trial's name in the folder (None: its only trial).
        reference_id: an OpenSim ID ``.sto`` to compare the joint moments with.
        reference_grf: a GRF ``.mot`` (force plates) to compare the feet's forces with.
        reference_so: an OpenSim SO activation ``.sto`` to compare the activations with.
        frames: number of frames in the strip (0: no strip).
        renderer: 'auto' (MuJoCo offscreen, else a stick figure), 'mujoco' or 'skeleton'.
        bars: the trust flags' bars.
        model, coordinates, policy: the trial's inputs (checked against the summary's SHA-256);
            when None, looked for by name and digest beside the output folder.
        training_dirs: folders to look in for the policy's training motions (besides the
            trial's folder, the policy's and KinTwin's example cache).
    """

    trial: str | None = None
    model: Path | None = None
    coordinates: Path | None = None
    policy: Path | None = None
    training_dirs: tuple[Path, ...] = ()
    reference_id: Path | None = None
    reference_grf: Path | None = None
    reference_so: Path | None = None
    frames: int = 6
    renderer: str = "auto"
    bars: TrustBars = field(default_factory=TrustBars)


@dataclass
class Report:
    """The page and the numbers it shows (``metrics``: flat, for a results table)."""

    html: str
    metrics: dict
    renderer: str


class _Page:
    """Sections of HTML, appended in order."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def text(self, text: str, css: str = "") -> None:
        klass = f' class="{css}"' if css else ""
        self.parts.append(f"<p{klass}>{html.escape(text)}</p>")

    def image(self, data: bytes, alt: str) -> None:
        encoded = base64.b64encode(data).decode("ascii")
        self.parts.append(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">')

    def table(self, header: list[str], rows: list[list[str]], css: list[str] | None = None) -> None:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = []
        for k, row in enumerate(rows):
            klass = f' class="{css[k]}"' if css and css[k] else ""
            cells = "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
            body.append(f"<tr{klass}>{cells}</tr>")
        self.parts.append(f"<table><tr>{head}</tr>{''.join(body)}</table>")


STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:1.5em auto;
max-width:1150px;color:#222;line-height:1.35}
h1{font-size:1.5em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}
tr.ok td:first-child{border-left:6px solid #2e7d32}tr.bad td:first-child{border-left:6px solid #c62828}
tr.unknown td:first-child{border-left:6px solid #9e9e9e}
img{max-width:100%;display:block;margin:.5em 0}.note{color:#555;font-size:.9em}
.verdict{font-size:1.1em;font-weight:600;padding:.4em .8em;display:inline-block}
.verdict.ok{background:#e8f5e9}.verdict.bad{background:#ffebee}
"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kintwin-cli")
    except PackageNotFoundError:
        return "unknown"


def build_report(folder: str | Path, config: ReportConfig = ReportConfig()) -> Report:
    """The report of one trial in ``folder``; raises KintwinError on unreadable input."""
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from policies.report.inputs import locate_inputs

    files = find_trial(folder, config.trial)
    summary, bars = files.summary, config.bars
    inputs = locate_inputs(files.folder, summary, config.model, config.coordinates, config.policy)
    converted = None
    if inputs.model is not None:
        converted = convert_osim(inputs.model, ConvertOptions(meshes=False, muscles=False))
    tables = {
        key: read_table(path)
        for key, path in (
            ("id", files.id_sto), ("grf", files.grf_mot), ("kinematics", files.kinematics_mot),
            ("activation", files.activation_sto),
        )
        if path is not None
    }  # fmt: skip
    references = {
        key: read_table(path)
        for key, path in (
            ("id", config.reference_id), ("grf", config.reference_grf), ("so", config.reference_so)
        )
        if path is not None
    }  # fmt: skip
    metrics: dict = {"trial": files.name}
    page = _Page()
    page.heading(f"KinTwin report: {files.name}", 1)
    page.text(
        f"model {summary.get('model')} · motion {summary.get('trial')} · policy "
        f"{summary.get('policy')} · kintwin {_version()} · {time.strftime('%Y-%m-%d %H:%M')}",
        "note",
    )
    _trust_section(page, files, inputs, converted, tables, config, metrics)
    _moments_section(page, tables, references, config, summary, metrics)
    prefixes, plates, grf_comparison = _grf_section(
        page, tables, references, config, summary, metrics
    )
    _activation_section(page, tables, references, config, summary, metrics, files.activation_sto)
    _events_section(page, tables, prefixes, plates, grf_comparison, bars)
    renderer = _frames_section(page, files, inputs, converted, tables, config)
    metrics["renderer"] = renderer
    body = "\n".join(page.parts)
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>KinTwin report: {html.escape(files.name)}</title><style>{STYLE}</style>"
        f"</head><body>\n{body}\n</body></html>\n"
    )
    return Report(document, metrics, renderer)


def write_report(
    folder: str | Path,
    output: str | Path,
    config: ReportConfig = ReportConfig(),
    force: bool = False,
) -> Report:
    """Build the report and write it to ``output`` (atomic; an existing file needs ``force``)."""
    from converters.files import check_writable

    check_writable(output, force)
    report = build_report(folder, config)
    with atomic_output(output, force) as tmp:
        tmp.write_text(report.html, encoding="utf-8")
    return report


# ------------------------------------------------------------------------------------ sections


def _trust_section(page, files: TrialFiles, inputs, converted, tables, config, metrics) -> None:
    from policies.report.poses import foot_slip

    summary, bars = files.summary, config.bars
    slips, slip_note = None, ""
    if converted is None:
        slip_note = inputs.missing.get("model", "no model")
    elif "grf" not in tables or "kinematics" not in tables:
        slip_note = "the folder has no _grf.mot or _kinematics.mot"
    else:
        slips = foot_slip(
            converted, tables["kinematics"], tables["grf"], summary.get("feet", []),
            float(summary.get("belt_speed_m_per_s", 0.0)), bars.contact_n,
        )  # fmt: skip
    distance, distance_note = _distance(inputs, config, summary)
    flags = trust_flags(summary, bars, slips, slip_note, distance, distance_note)
    verdict = all(f.ok for f in flags)
    metrics.update(
        fell=bool(summary["fell"]),
        fraction_tracked=float(summary.get("fraction_tracked", 1.0)),
        tracking_rms_deg=float(summary.get("tracking_rms_deg", math.nan)),
        tracking_worst=max(tracking_rows(summary, bars), key=lambda r: r[1] / r[3])[0],
        slip_worst_cm=max((s.worst_cm for s in slips), default=math.nan) if slips else math.nan,
        training_distance_p95_deg=distance.p95 if distance else math.nan,
        residual_rms_pct_bw=float(summary.get("residuals", {}).get("rms_percent_bw", 0.0)),
        trusted=verdict,
        flags_failed=";".join(f.name for f in flags if f.ok is False),
        flags_unmeasured=";".join(f.name for f in flags if f.ok is None),
    )
    page.heading("Can these numbers be trusted?")
    failed = [f.name for f in flags if f.ok is False]
    unknown = [f.name for f in flags if f.ok is None]
    if verdict:
        page.parts.append('<p class="verdict ok">All trust flags are within their bars.</p>')
    else:
        words = (["over the bar: " + ", ".join(failed)] if failed else []) + (
            ["not measured: " + ", ".join(unknown)] if unknown else []
        )
        page.parts.append(f'<p class="verdict bad">{html.escape("; ".join(words))}</p>')
    css = ["ok" if f.ok else "unknown" if f.ok is None else "bad" for f in flags]
    page.table(
        ["flag", "result", "measured", "bar", "detail"],
        [
            [f.name, {True: "✓", False: "✗", None: "–"}[f.ok], f.value, f.bar, f.detail]
            for f in flags
        ],
        css,
    )
    page.heading("Tracking error per coordinate", 3)
    page.image(
        figures.tracking_figure(tracking_rows(summary, bars)), "tracking error per coordinate"
    )
    if slips:
        page.image(figures.slip_figure(slips), "foot slip speed")
    if distance is not None:
        page.image(
            figures.distance_figure(distance.time, distance.distance, bars.training_distance_deg),
            "distance to the training motions",
        )
        page.text(f"training motions: {', '.join(distance.motions)}"
                  + (f"; not found here: {', '.join(distance.missing)}" if distance.missing else ""),
                  "note")  # fmt: skip


def _distance(inputs, config: ReportConfig, summary: dict):
    """(TrainingDistance or None, why not)."""
    from policies.report.inputs import locate_training_motions

    if inputs.policy is None or inputs.coordinates is None:
        return None, inputs.missing.get("policy") or inputs.missing.get("motion", "")
    rotational = [c for c, u in summary.get("tracking_units", {}).items() if u == "deg"]
    places = [inputs.coordinates.parent, inputs.policy, *config.training_dirs]
    try:
        motions, missing = locate_training_motions(inputs.policy, places)
        if not motions:
            return None, (
                f"the policy's training motions ({', '.join(missing)}) were not found "
                "(give --training-motions DIR)"
            )
        trial = read_table(inputs.coordinates)
        return training_distance(trial, motions, rotational, missing), ""
    except KintwinError as error:
        return None, str(error)


def _column_rows(comparison, per_kg_key: str, per_kg_unit: str) -> list[list[str]]:
    rows = []
    for c in comparison.columns:
        value = getattr(c, per_kg_key)
        r = "n/a" if math.isnan(c.r) else f"{c.r:.3f}"
        normalised = "" if value is None else f"{value:.3g} {per_kg_unit}"
        rows.append([c.ours_label, r, f"{c.rmse:.3g}", normalised, f"{c.peak_error:.3g}"])
    return rows


def _moments_section(page, tables, references, config, summary, metrics) -> None:
    from policies.report.references import compare

    page.heading("Joint moments")
    if "id" not in tables:
        page.text("The folder has no _id.sto.", "note")
        return
    ours = tables["id"]
    labels = [lb for lb in ours.labels if np.any(ours.column(lb) != 0.0)]
    labels = [lb for lb in labels if lb.endswith("_moment")] or labels
    reference = references.get("id")
    comparison = None
    if reference is not None:
        comparison = compare(ours, reference, summary.get("body_mass_kg"),
                             (str(ours.name or "ours"), str(config.reference_id)))  # fmt: skip
        shown = [c for c in comparison.columns if c.ours_label in labels]
        comparison.columns = shown
        if shown:
            metrics["moment_r_min"] = min(c.r for c in shown)
            metrics["moment_rmse_max_nm_per_kg"] = max(c.rmse_per_kg or 0.0 for c in shown)
    page.image(figures.series_figure(ours, labels, "N·m", reference, comparison), "joint moments")
    if comparison is not None:
        page.text(f"against {config.reference_id} (r: Pearson correlation; RMSE over "
                  f"{comparison.span[0]:.2f}–{comparison.span[1]:.2f} s)", "note")  # fmt: skip
        page.table(["column", "r", "RMSE (N·m)", "RMSE per kg", "peak error (N·m)"],
                   _column_rows(comparison, "rmse_per_kg", "N·m/kg"))  # fmt: skip
    else:
        page.text("No reference ID given (--reference-id): the moments are shown alone.", "note")


def _grf_section(page, tables, references, config, summary, metrics):
    """GRF per foot; returns (our foot prefixes, the renamed plates, their comparison)."""
    from policies.report.references import compare, grf_groups, match_plates

    page.heading("Ground reaction forces per foot")
    if "grf" not in tables:
        page.text("The folder has no _grf.mot.", "note")
        return [], None, None
    ours = tables["grf"]
    prefixes = grf_groups(ours)
    reference, comparison = None, None
    if "grf" in references:
        pairing = match_plates(ours, references["grf"])
        reference = pairing.renamed
        comparison = compare(ours, reference, summary.get("body_mass_kg"),
                             ("ours", str(config.reference_grf)))  # fmt: skip
        comparison.columns = [c for c in comparison.columns if "_force_v" in c.name]
        vertical = [c for c in comparison.columns if c.name.endswith("force_vy")]
        if vertical:
            metrics["grf_vertical_rmse_max_pct_bw"] = max(c.rmse_pct_bw or 0.0 for c in vertical)
        if comparison.max_event_error_ms is not None:
            metrics["event_error_max_ms"] = comparison.max_event_error_ms
        paired = ", ".join(
            f"our {m.rstrip('_')} foot ↔ plate '{t}' (vertical r {pairing.correlation[m]:.2f})"
            for m, t in pairing.pairs.items()
        )
        page.text(f"against {config.reference_grf}: {paired}", "note")
    page.image(figures.grf_figure(ours, prefixes, reference, comparison), "ground reaction forces")
    if comparison is not None:
        page.table(["column", "r", "RMSE (N)", "RMSE %BW", "peak error (N)"],
                   _column_rows(comparison, "rmse_pct_bw", "%BW"))  # fmt: skip
    else:
        page.text("No force plates given (--reference-grf): the simulated forces are shown alone.",
                  "note")  # fmt: skip
    return prefixes, reference, comparison


def _activation_section(
    page, tables, references, config, summary, metrics, files_activation=None
) -> None:
    from policies.report.references import compare

    page.heading("Muscle activations")
    if "activation" not in tables:
        page.text("No <trial>_StaticOptimization_activation.sto in the folder (kintwin so writes "
                  "it): no activations to show.", "note")  # fmt: skip
        return
    ours = tables["activation"]
    labels = [lb for lb in ours.labels if not lb.endswith(("_reserve", "_residual"))]
    reference = references.get("so")
    comparison = None
    if reference is not None:
        comparison = compare(ours, reference, None, ("ours", str(config.reference_so)))
        if comparison.columns:
            metrics["activation_r_min"] = min(c.r for c in comparison.columns)
            metrics["activation_rmse_max"] = max(c.rmse for c in comparison.columns)
    page.text(f"{len(labels)} muscles from {Path(files_activation).name}"
              + ("" if reference is not None else " (no reference SO given: --reference-so)"),
              "note")  # fmt: skip
    page.image(figures.series_figure(ours, labels, "activation", reference, comparison, 6),
               "muscle activations")  # fmt: skip
    if comparison is not None:
        page.table(["muscle", "r", "RMSE", "", "peak error"],
                   _column_rows(comparison, "rmse_per_kg", ""))  # fmt: skip


def _events_section(page, tables, prefixes, reference, comparison, bars) -> None:
    """Stance bars per foot (and the plates paired with them); event timing errors."""
    page.heading("Gait events")
    if "grf" not in tables:
        page.text("The folder has no _grf.mot.", "note")
        return
    page.image(figures.events_figure(tables["grf"], prefixes, bars.contact_n, reference),
               "gait events")  # fmt: skip
    if comparison is not None and comparison.events:
        rows = [
            [e.group, e.kind.replace("_", " "), f"{e.time:.3f}",
             "–" if e.reference_time is None else f"{e.reference_time:.3f}",
             "unmatched" if e.error_ms is None else f"{e.error_ms:+.0f}"]
            for e in comparison.events
        ]  # fmt: skip
        page.table(["force", "event", "ours (s)", "reference (s)", "error (ms)"], rows)


def _frames_section(page, files, inputs, converted, tables, config) -> str:
    from policies.report.frames import frame_strip, frame_times

    page.heading("The simulated body over the reference")
    if config.frames <= 0:
        page.text("No frames asked for.", "note")
        return "none"
    missing = [inputs.missing[k] for k in ("model", "motion") if k in inputs.missing]
    if "kinematics" not in tables:
        missing.append("the folder has no _kinematics.mot")
    if missing:
        page.text(f"No frames: {'; '.join(missing)}.", "note")
        return "none"
    model, trial_path = inputs.model, inputs.coordinates
    times = frame_times(tables["kinematics"].time, config.frames)
    try:
        strip = frame_strip(converted, model, files.kinematics_mot, trial_path, times,
                            config.renderer)  # fmt: skip
    except RuntimeError as error:
        raise KintwinError(f"--renderer mujoco: MuJoCo could not render ({error})") from None
    page.image(strip.png, "frames of the simulated body over the reference")
    colours = (
        "simulated body opaque, reference translucent blue"
        if strip.method.startswith("MuJoCo")
        else "simulated body red, reference dashed blue"
    )
    page.text(f"Drawn with the {strip.method}: {colours}."
              + (f" {strip.note}." if strip.note else ""), "note")  # fmt: skip
    return strip.method
