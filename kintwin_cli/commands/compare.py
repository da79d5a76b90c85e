"""``kintwin compare``: our table against a reference (RMSE, r, peak error, gait events)."""

from __future__ import annotations

from pathlib import Path

import click

from kintwin_cli.options import (
    EXISTING_FILE,
    OUTPUT_FILE,
    POSITIVE,
    force_option,
    json_option,
    model_option,
)
from kintwin_cli.output import JsonSummary, note, result


def _prefix_pairs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """``("r_=", "l_=1_")`` -> ``(("r_", ""), ("l_", "1_"))``."""
    for value in values:
        if "=" not in value:
            raise click.BadParameter(f"'{value}': expected OURS=REF, e.g. r_=", ctx, param)
    return tuple(tuple(value.split("=", 1)) for value in values)


@click.command()
@click.argument("ours", type=EXISTING_FILE)
@click.argument("reference", type=EXISTING_FILE)
@click.option("--mass", type=POSITIVE, help="Subject mass (kg): adds RMSE per kg and in %BW.")
@model_option(
    required=False,
    help="Take --mass from this .osim model (its total body mass); its coordinate couplers "
    "explain reference columns ours lacks.",
)
@click.option(
    "--height", type=POSITIVE, help="Subject height (m), with --mass: moment RMSE in %BW·height."
)
@click.option(
    "--threshold",
    default=20.0,
    show_default=True,
    type=POSITIVE,
    help="Vertical ground force (N) that marks contact, for gait events.",
)
@click.option(
    "--rename",
    "renames",
    multiple=True,
    metavar="OURS=REF",
    callback=_prefix_pairs,
    help="Rename OURS columns starting with prefix OURS to start with REF (repeatable), e.g. "
    "--rename r_= --rename l_=1_ to match a force-plate file's feet.",
)
@click.option("--plot", "plot_path", type=OUTPUT_FILE, help="Write a PNG, one subplot per column.")
@click.option("--csv", "csv_path", type=OUTPUT_FILE, help="Write a CSV, one row per common column.")
@json_option("every number")
@force_option("Overwrite the --plot, --csv and --json files.")
def compare(
    ours: Path,
    reference: Path,
    mass: float | None,
    model_path: Path | None,
    height: float | None,
    threshold: float,
    renames: tuple[tuple[str, str], ...],
    plot_path: Path | None,
    csv_path: Path | None,
    json_target: Path | str | None,
    force: bool,
) -> None:
    """Compare OURS with REFERENCE (.sto/.mot/.csv), column by column, on their common times.

    Columns are matched by name (hip_flexion_r also matches hip_flexion_r_moment); OURS is
    interpolated onto REFERENCE's times. Per column: RMSE, Pearson r and peak absolute error;
    with --mass also RMSE per kg and in %BW (forces), with --height too in %BW·height (moments).
    Ground reaction force files (*force_vx/vy/vz columns) also get heel strikes and toe-offs
    (vertical force crossing --threshold), each paired one-to-one with a reference event of the
    same kind within 200 ms, closest pairs first: timing error in ms, positive when ours is
    later (events within 40 ms of either end of the common span are left out: their partner
    may lie outside the data; events with no partner are listed as such). Columns found in one
    file only are listed as missing; with --model, a reference column of a coupled coordinate
    (OpenSim's ID of OpenCap's model has knee_angle_r_beta_force: the patella follows the knee)
    is named as such: kintwin's ID carries that force in the coordinate it follows. --json holds every number, NaN as null; --csv one row
    per common column (name, ours_label, kind, unit, n, rmse, r, peak_error, peak_time,
    rmse_per_kg, rmse_pct_bw, rmse_pct_bwh; empty where undefined).

    \b
    Examples:
      kintwin compare my_ID.sto subject01_walk_ID.sto --mass 72.6 --height 1.8
      kintwin compare my_grf.mot subject01_walk_grf.mot --mass 72.6 --plot grf.png
      kintwin compare my_ID.sto subject01_walk_ID.sto --model subject01.osim --json id.json
      kintwin compare walk_grf.mot subject01_walk_grf.mot --rename r_= --rename l_=1_ --mass 72.6
      kintwin compare my_ID.sto subject01_walk_ID.sto --json | jq '.columns[0].rmse'
      kintwin compare walking1_id.sto walking1_ID.sto --model subject4.osim --csv w.csv --plot w.png
    """
    from converters.compare_files import CompareFiles, compare_files
    from converters.compare_text import format_comparison

    if mass is not None and model_path is not None:
        raise click.UsageError("give --mass or --model, not both")
    if height is not None and mass is None and model_path is None:
        raise click.UsageError("--height needs --mass or --model (%BW·height uses both)")
    summary = JsonSummary(json_target, force)
    config = CompareFiles(
        ours, reference, mass, model_path, height, threshold, renames, plot_path, force, csv_path
    )
    comparison = compare_files(config)
    result(format_comparison(comparison))
    summary.emit(comparison.as_dict())
    for written in (csv_path, plot_path):
        if written is not None:
            note(f"wrote {written}")
