"""``kintwin report``: one self-contained HTML page for a trial of a ``kintwin id`` folder."""

from __future__ import annotations

from pathlib import Path

import click

from kintwin_cli.options import (
    EXISTING_DIR,
    EXISTING_FILE,
    coordinates_option,
    force_option,
    model_option,
    output_option,
    policy_option,
)
from kintwin_cli.output import note


@click.command("report")
@click.argument("outdir", type=EXISTING_DIR)
@click.option("--trial", help="The trial's name, when OUTDIR holds several.")
@click.option("--reference-id", type=EXISTING_FILE, help="OpenSim ID .sto to compare moments with.")
@click.option("--reference-grf", type=EXISTING_FILE, help="Force-plate GRF .mot to compare with.")
@click.option("--reference-so", type=EXISTING_FILE, help="OpenSim SO activation .sto to compare.")
@model_option(False, "The trial's .osim model (default: found by name beside OUTDIR).")
@coordinates_option(False, "The trial's IK motion (default: found by name beside OUTDIR).")
@policy_option(False, "The policy (default: found by name beside OUTDIR or among the shipped).")
@click.option(
    "--training-motions",
    "training_dirs",
    multiple=True,
    type=EXISTING_DIR,
    help="A folder holding the policy's training motions (repeatable).",
)
@click.option("--frames", default=6, show_default=True, help="Frames in the strip (0: none).")
@click.option(
    "--renderer",
    type=click.Choice(["auto", "mujoco", "skeleton"]),
    default="auto",
    show_default=True,
    help="auto: MuJoCo's offscreen renderer (EGL/OSMesa) where it works, else a stick figure.",
)
@output_option("The report, REPORT.html.", kind="file")
@force_option("Overwrite an existing report.")
def report(
    outdir: Path,
    trial: str | None,
    reference_id: Path | None,
    reference_grf: Path | None,
    reference_so: Path | None,
    model_path: Path | None,
    coordinates: Path | None,
    policy: Path | None,
    training_dirs: tuple[Path, ...],
    frames: int,
    renderer: str,
    output: Path,
    force: bool,
) -> None:
    """Write one HTML page (images inline, works offline) for a trial in OUTDIR.

    Trust flags first (fall, tracking error per coordinate against a bar, root residuals, foot
    slip, distance from the policy's training motions), then joint moments, GRF per foot,
    muscle activations (when OUTDIR holds kintwin so's) and gait events, against the references
    given with r and RMSE in the legends, and frames of the simulated body over the reference.
    The summary names the model, motion and policy by file name and SHA-256: given ones are
    checked against it, others are looked for beside OUTDIR; parts that need a missing one say so.

    \b
    Examples:
      kintwin report results/ -o results/report.html
      kintwin report results/ --model subject01.osim --coordinates subject01_walk_IK.mot \\
        --reference-id subject01_walk_ID.sto --reference-grf subject01_walk_grf.mot -o report.html
    """
    from policies.report import ReportConfig, write_report

    config = ReportConfig(
        trial=trial, reference_id=reference_id, reference_grf=reference_grf,
        reference_so=reference_so, frames=frames, renderer=renderer, model=model_path,
        coordinates=coordinates, policy=policy, training_dirs=training_dirs,
    )  # fmt: skip
    result = write_report(outdir, output, config, force)
    metrics = result.metrics
    unsettled = [x for x in (metrics["flags_failed"], metrics["flags_unmeasured"]) if x]
    trusted = "all trust flags within their bars" if metrics["trusted"] else (
        "trust flags over the bar or unmeasured: " + "; ".join(unsettled)
    )  # fmt: skip
    note(f"wrote {output} ({trusted}; frames: {result.renderer})")
