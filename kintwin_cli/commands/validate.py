"""``kintwin validate``: the converted model against the opensim package, numerically."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kintwin_cli.options import EXISTING_FILE, OUTPUT_DIR, force_option, json_option
from kintwin_cli.output import JsonSummary, result

EXIT_FAILED = 1


@click.command()
@click.argument("model", type=EXISTING_FILE)
@click.option(
    "--ik", "ik_file", type=EXISTING_FILE, help="IK .mot whose frames are added as poses."
)
@click.option(
    "--markers",
    "trc_file",
    type=EXISTING_FILE,
    help="With --ik: the trial's marker .trc; reports the IK marker error (RMS).",
)
@click.option(
    "--poses",
    default=200,
    show_default=True,
    type=click.IntRange(min=1),
    help="Random poses, uniform within the coordinate ranges.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the random poses.")
@click.option("--position-bar", default=1e-5, show_default=True, help="Max body/marker error (m).")
@click.option("--orientation-bar", default=1e-5, show_default=True, help="Max body error (rad).")
@click.option("--mass-matrix-bar", default=1e-6, show_default=True, help="Max relative error.")
@json_option("the report")
@click.option(
    "--muscles",
    is_flag=True,
    help="Also compare muscle-tendon lengths and moment arms with OpenSim.",
)
@click.option(
    "--report",
    "report_dir",
    type=OUTPUT_DIR,
    help="With --muscles: write DIR/<model>_muscles.csv and a moment-arm PNG.",
)
@click.option(
    "--exclude-discontinuous/--keep-discontinuous",
    "exclude_discontinuous",
    default=True,
    show_default=True,
    help="With --muscles: leave out of the bars the samples where OpenSim's own path is "
    "discontinuous within +-0.1 deg (decided from OpenSim alone; listed either way).",
)
@force_option("Overwrite the --json and --report files.")
def validate(
    model: Path,
    ik_file: Path | None,
    trc_file: Path | None,
    poses: int,
    seed: int,
    position_bar: float,
    orientation_bar: float,
    mass_matrix_bar: float,
    json_target: Path | str | None,
    muscles: bool,
    report_dir: Path | None,
    exclude_discontinuous: bool,
    force: bool,
) -> None:
    """Convert MODEL and compare it with OpenSim at many poses; exit 1 if a bar is missed.

    Compares body origins and orientations, marker positions, total mass and the mass matrix in
    independent coordinates, computed by the opensim package and by MuJoCo.

    \b
    Examples:
      kintwin validate subject01.osim
      kintwin validate subject01.osim --ik subject01_walk_IK.mot --markers subject01_walk.trc
      kintwin validate Rajagopal2016.osim --muscles --report validation/
      kintwin validate subject01.osim --json | jq .passed
    """
    from converters.model_validation import ValidateConfig, format_validation, validate_model

    if trc_file is not None and ik_file is None:
        raise click.UsageError("--markers needs --ik (the IK frames the marker error is of)")
    if report_dir is not None and not muscles:
        raise click.UsageError("--report needs --muscles (it holds the muscle comparison)")
    summary = JsonSummary(json_target, force)
    config = ValidateConfig(
        model, ik_file, trc_file, poses, seed, position_bar, orientation_bar, mass_matrix_bar,
        muscles, report_dir, exclude_discontinuous, force,
    )  # fmt: skip
    report = validate_model(config)
    result(format_validation(report))
    summary.emit(report.as_dict())
    if report.failures:
        click.echo("FAILED: " + "; ".join(report.failures), err=True)
        sys.exit(EXIT_FAILED)
