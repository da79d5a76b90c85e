"""``kintwin compare``: our table against a reference (RMSE, r, peak error, gait events)."""

from __future__ import annotations

import math
from pathlib import Path

import click

from kintwin_cli.output import note

TABLE_FILE = click.Path(dir_okay=False, path_type=Path)  # a missing file: one-line error
OUTPUT_FILE = click.Path(dir_okay=False, path_type=Path)
POSITIVE = click.FloatRange(min=0, min_open=True)


@click.command()
@click.argument("ours", type=TABLE_FILE)
@click.argument("reference", type=TABLE_FILE)
@click.option("--mass", type=POSITIVE, help="Subject mass (kg): adds RMSE per kg and in %BW.")
@click.option(
    "--model",
    "model_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Take --mass from this .osim model (the sum of its body masses).",
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
    help="Rename OURS columns starting with prefix OURS to start with REF (repeatable), e.g. "
    "--rename r_= --rename l_=1_ to match a force-plate file's feet.",
)
@click.option("--plot", "plot_path", type=OUTPUT_FILE, help="Write a PNG, one subplot per column.")
@click.option("--json", "json_path", type=OUTPUT_FILE, help="Write every number as JSON.")
@click.option("--force", is_flag=True, help="Overwrite the --plot and --json files.")
def compare(
    ours: Path,
    reference: Path,
    mass: float | None,
    model_path: Path | None,
    height: float | None,
    threshold: float,
    renames: tuple[str, ...],
    plot_path: Path | None,
    json_path: Path | None,
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
    file only are listed as missing. --json holds every number, NaN as null.

    \b
    Examples:
      kintwin compare my_ID.sto subject01_walk_ID.sto --mass 72.6 --height 1.8
      kintwin compare my_grf.mot subject01_walk_grf.mot --mass 72.6 --plot grf.png
      kintwin compare my_ID.sto subject01_walk_ID.sto --model subject01.osim --json id.json
      kintwin compare walk_grf.mot subject01_walk_grf.mot --rename r_= --rename l_=1_ --mass 72.6
    """
    from converters.compare import (
        CompareConfig,
        compare_tables,
        rename_prefixes,
        write_comparison_json,
    )
    from converters.errors import KintwinError
    from converters.files import check_writable
    from converters.opensim_io.table import read_table

    if model_path is not None:
        if mass is not None:
            raise KintwinError("give --mass or --model, not both")
        from converters.osim.parser import load_osim

        mass = load_osim(model_path).total_mass
    if height is not None and mass is None:
        raise KintwinError("--height needs --mass (%BW·height uses both)")
    for path in (plot_path, json_path):
        if path is not None:
            check_writable(path, force)
    pairs = []
    for rename in renames:
        if "=" not in rename:
            raise KintwinError(f"--rename '{rename}': expected OURS=REF, e.g. r_=")
        old, new = rename.split("=", 1)
        pairs.append((old, new))
    ours_table, reference_table = read_table(ours), read_table(reference)
    ours_table = rename_prefixes(ours_table, pairs) if pairs else ours_table
    config = CompareConfig(mass_kg=mass, height_m=height, event_threshold_n=threshold)
    comparison = compare_tables(ours_table, reference_table, config, (str(ours), str(reference)))
    click.echo(_format(comparison))
    if json_path is not None:
        note(f"wrote {write_comparison_json(comparison, json_path, force)}")
    if plot_path is not None:
        from converters.compare_plot import plot_comparison

        plot_comparison(ours_table, reference_table, comparison, plot_path, force)
        note(f"wrote {plot_path}")


def _format(comparison) -> str:
    """The stdout report: one row per column (missing ones noted), then the gait events."""
    from converters.compare import UNITS

    config = comparison.config
    per_mass = config.mass_kg is not None
    subject = f"; mass {config.mass_kg:g} kg" if per_mass else ""
    subject += f", height {config.height_m:g} m" if config.height_m is not None else ""
    names = [_name(c) for c in comparison.columns]
    width = max(len(x) for x in [*names, *comparison.only_ours, *comparison.only_reference]) + 2
    lines = [
        f"ours {comparison.ours} vs reference {comparison.reference}",
        f"common span {comparison.span[0]:g} to {comparison.span[1]:g} s{subject}",
        f"  {'column':<{width}}{'n':>6}{'rmse':>11} {'unit':<5}"
        + (f"{'rmse/kg':>10}{'%BW(·h)':>9}" if per_mass else "")
        + f"{'r':>9}{'peak err':>11}",
    ]
    for c, name in zip(comparison.columns, names, strict=True):
        norm = c.rmse_pct_bw if c.rmse_pct_bw is not None else c.rmse_pct_bwh
        extra = f"{_num(c.rmse_per_kg, 10, '.4f')}{_num(norm, 9, '.3f')}" if per_mass else ""
        lines.append(
            f"  {name:<{width}}{c.n:>6}{c.rmse:>11.4g} {UNITS[c.kind]:<5}{extra}"
            f"{_num(c.r, 9, '.4f')}{c.peak_error:>11.4g}"
        )
    lines += [f"  {name:<{width}}missing in ours" for name in comparison.only_reference]
    lines += [f"  {name:<{width}}missing in reference" for name in comparison.only_ours]
    if per_mass:
        lines.append("  %BW(·h): forces in % body weight, moments in % body weight × height")
    if comparison.grf:
        lines += _format_events(comparison)
    return "\n".join(lines)


def _format_events(comparison) -> list[str]:
    lines = [f"gait events (vertical force crossing {comparison.config.event_threshold_n:g} N):"]
    for e in comparison.events:
        if e.error_ms is None:
            lines.append(
                f"  {e.group:<20}{e.kind:<12}{e.time:>9.4f} s  unmatched: no free reference "
                f"event within {1000 * comparison.config.event_match_s:.0f} ms"
            )
        else:
            lines.append(
                f"  {e.group:<20}{e.kind:<12}{e.time:>9.4f} s  reference {e.reference_time:.4f} s"
                f"  error {e.error_ms:+.1f} ms"
            )
    for group, kinds in comparison.event_counts.items():
        for kind, n in kinds.items():
            if n["ours"] != n["reference"]:
                lines.append(
                    f"  {group}: {n['ours']} {kind} events in ours, {n['reference']} in reference"
                )
    worst = comparison.max_event_error_ms
    lines.append(f"  max timing error: {'n/a' if worst is None else f'{worst:.1f} ms'}")
    return lines


def _name(column) -> str:
    """The reference's label, with ours in parentheses when it differs."""
    if column.ours_label == column.name:
        return column.name
    return f"{column.name} ({column.ours_label})"


def _num(value: float | None, width: int, spec: str) -> str:
    """A right-aligned number, or '-' for None/NaN."""
    if value is None or math.isnan(value):
        return f"{'-':>{width}}"
    return f"{value:>{width}{spec}}"
