"""A :class:`~converters.compare.Comparison` as a text report: one row per column, then events."""

from __future__ import annotations

import math

from converters.compare import UNITS, ColumnComparison, Comparison

__all__ = ["format_comparison"]


def format_comparison(comparison: Comparison) -> str:
    """The report: one row per column (missing ones noted), then the gait events."""
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
    lines += [
        f"  {name:<{width}}missing in ours{_coupled(comparison, name)}"
        for name in comparison.only_reference
    ]
    lines += [f"  {name:<{width}}missing in reference" for name in comparison.only_ours]
    if per_mass:
        lines.append("  %BW(·h): forces in % body weight, moments in % body weight × height")
    if comparison.grf:
        lines += _format_events(comparison)
    return "\n".join(lines)


def _format_events(comparison: Comparison) -> list[str]:
    config = comparison.config
    lines = [f"gait events (vertical force crossing {config.event_threshold_n:g} N):"]
    for e in comparison.events:
        if e.error_ms is None:
            lines.append(
                f"  {e.group:<20}{e.kind:<12}{e.time:>9.4f} s  unmatched: no free reference "
                f"event within {1000 * config.event_match_s:.0f} ms"
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


def _coupled(comparison: Comparison, name: str) -> str:
    """Why a coupled coordinate's column is missing, when the model told (--model)."""
    followed = comparison.coupled.get(name)
    if not followed:
        return ""
    coordinates = ", ".join(followed)
    return f" (a coordinate coupled to {coordinates}: ours carries its force in {coordinates}'s)"


def _name(column: ColumnComparison) -> str:
    """The reference's label, with ours in parentheses when it differs."""
    if column.ours_label == column.name:
        return column.name
    return f"{column.name} ({column.ours_label})"


def _num(value: float | None, width: int, spec: str) -> str:
    """A right-aligned number, or '-' for None/NaN."""
    if value is None or math.isnan(value):
        return f"{'-':>{width}}"
    return f"{value:>{width}{spec}}"
