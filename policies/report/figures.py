"""The report's plots, each returned as PNG bytes (matplotlib, Agg backend, no files)."""

from __future__ import annotations

import io
import math

import numpy as np

from converters.compare import UNITS, Comparison, gait_events
from converters.opensim_io.table import Table

__all__ = [
    "png",
    "tracking_figure",
    "series_figure",
    "grf_figure",
    "events_figure",
    "distance_figure",
    "slip_figure",
]

OURS, REFERENCE = "C3", "k"
AXES = {"x": "anterior-posterior", "y": "vertical", "z": "medio-lateral"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(figure, dpi: int = 80) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def _grid(count: int, columns: int = 4, size=(3.6, 2.4)):
    plt = _pyplot()
    columns = max(1, min(columns, count))
    rows = max(1, math.ceil(count / columns))
    figure, axes = plt.subplots(
        rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False
    )
    for axis in axes.flat[count:]:
        axis.axis("off")
    return figure, axes


def tracking_figure(rows: list[tuple[str, float, str, float, bool]]) -> bytes:
    """Horizontal bars: tracking RMSE per coordinate as a fraction of its bar (1 = the bar)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7.5, 0.28 * len(rows) + 0.9))
    names = [f"{n} ({v:.2f} {u})" for n, v, u, _, _ in rows]
    ratio = [v / bar for _, v, _, bar, _ in rows]
    colours = ["#2e7d32" if ok else "#c62828" for *_, ok in rows]
    axis.barh(names, ratio, color=colours)
    axis.axvline(1.0, color="k", linestyle="--", linewidth=1)
    axis.invert_yaxis()
    axis.set_xlabel("tracking RMSE / bar (1 = bar: 2° or 2 cm)")
    axis.set_xlim(0, max(1.2, max(ratio, default=0) * 1.1))
    axis.tick_params(labelsize=8)
    figure.tight_layout()
    return png(figure)


def _legend_label(comparison: Comparison | None, label: str) -> str:
    """'reference, r 0.94, RMSE 0.16 N·m/kg' from the comparison of column ``label``."""
    if comparison is None:
        return "reference"
    for column in comparison.columns:
        if column.ours_label == label or column.name == label:
            r = "n/a" if math.isnan(column.r) else f"{column.r:.2f}"
            if column.rmse_per_kg is not None and column.kind == "moment":
                rmse = f"{column.rmse_per_kg:.3f} {UNITS[column.kind]}/kg"
            elif column.rmse_pct_bw is not None:
                rmse = f"{column.rmse_pct_bw:.1f} %BW"
            else:
                rmse = f"{column.rmse:.3g} {UNITS[column.kind]}".rstrip()
            return f"reference: r {r}, RMSE {rmse}"
    return "reference"


def series_figure(
    ours: Table,
    labels: list[str],
    unit: str,
    reference: Table | None = None,
    comparison: Comparison | None = None,
    columns: int = 4,
) -> bytes:
    """One subplot per column of ``ours`` (solid), with the reference's column dashed when given;
    the reference's legend entry holds r and RMSE."""
    figure, axes = _grid(len(labels), columns)
    matched = {}
    if comparison is not None:
        matched = {c.ours_label: c.name for c in comparison.columns}
    for axis, label in zip(axes.flat, labels, strict=False):
        axis.plot(ours.time, ours.column(label), f"{OURS}-", linewidth=1.4, label="KinTwin")
        if reference is not None and label in matched:
            axis.plot(
                reference.time,
                reference.column(matched[label]),
                f"{REFERENCE}--",
                linewidth=1.0,
                label=_legend_label(comparison, label),
            )
            axis.set_xlim(*comparison.span)
        axis.set_title(label, fontsize=9)
        axis.set_ylabel(unit, fontsize=8)
        axis.tick_params(labelsize=7)
        axis.legend(fontsize=6.5, loc="upper right", framealpha=0.7)
    for axis in axes[-1]:
        axis.set_xlabel("time (s)", fontsize=8)
    figure.tight_layout()
    return png(figure)


def grf_figure(
    ours: Table,
    prefixes: list[str],
    reference: Table | None = None,
    comparison: Comparison | None = None,
) -> bytes:
    """GRF per foot (rows) and component (columns: AP, vertical, ML), N."""
    plt = _pyplot()
    figure, axes = plt.subplots(len(prefixes), 3, figsize=(11, 2.5 * len(prefixes)), squeeze=False)
    for row, prefix in enumerate(prefixes):
        foot = {"r_": "right", "l_": "left"}.get(prefix, prefix.rstrip("_"))
        for col, axis_name in enumerate("yxz"):
            axis, label = axes[row, col], f"{prefix}ground_force_v{axis_name}"
            axis.plot(ours.time, ours.column(label), f"{OURS}-", linewidth=1.4, label="KinTwin")
            if reference is not None and label in reference.labels:
                axis.plot(
                    reference.time,
                    reference.column(label),
                    f"{REFERENCE}--",
                    linewidth=1.0,
                    label=_legend_label(comparison, label),
                )
                axis.set_xlim(*comparison.span)
            low, high = axis.get_ylim()
            if high - low < 2.0:  # a planar model's zero lateral force: no 1e-13 N scale
                middle = 0.5 * (high + low)
                axis.set_ylim(middle - 1.0, middle + 1.0)
            axis.set_title(f"{foot} foot, {AXES[axis_name]} ({label})", fontsize=9)
            axis.set_ylabel("N", fontsize=8)
            axis.tick_params(labelsize=7)
            axis.legend(fontsize=6.5, loc="upper right", framealpha=0.7)
    for axis in axes[-1]:
        axis.set_xlabel("time (s)", fontsize=8)
    figure.tight_layout()
    return png(figure)


def events_figure(
    ours: Table, prefixes: list[str], threshold_n: float, reference: Table | None = None
) -> bytes:
    """Stance bars per foot (vertical force above ``threshold_n``): ours above, reference below."""
    plt = _pyplot()
    sources = [("KinTwin", ours, OURS)] + ([("reference", reference, "0.4")] if reference else [])
    figure, axis = plt.subplots(figsize=(11, 0.45 * len(prefixes) * len(sources) + 0.9))
    ticks, names = [], []
    for k, prefix in enumerate(prefixes):
        for j, (name, table, colour) in enumerate(sources):
            label = f"{prefix}ground_force_vy"
            if label not in table.labels:
                continue
            y = k * (len(sources) + 0.6) + j
            events = gait_events(table.time, table.column(label), threshold_n)
            starts = list(events["heel_strike"])
            ends = list(events["toe_off"])
            if table.column(label)[0] > threshold_n:
                starts.insert(0, table.time[0])
            if table.column(label)[-1] > threshold_n:
                ends.append(table.time[-1])
            spans = [(a, b - a) for a, b in zip(starts, ends, strict=False)]
            axis.broken_barh(spans, (y - 0.35, 0.7), color=colour)
            for t in events["heel_strike"]:
                axis.text(t, y + 0.4, f"{t:.2f}", fontsize=6, ha="center")
            ticks.append(y)
            names.append(f"{prefix.rstrip('_') or 'plate'} {name}")
    axis.set_yticks(ticks, names, fontsize=8)
    axis.set_xlabel(f"time (s); bars: stance (vertical force > {threshold_n:g} N)", fontsize=8)
    axis.invert_yaxis()
    figure.tight_layout()
    return png(figure)


def distance_figure(time: np.ndarray, distance: np.ndarray, bar: float) -> bytes:
    """Distance of each frame's pose to the nearest training pose, against the bar."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7.5, 2.2))
    axis.plot(time, distance, "C0-", linewidth=1.2)
    axis.axhline(bar, color="k", linestyle="--", linewidth=1, label=f"bar {bar:g}°")
    axis.set_ylabel("deg RMS", fontsize=8)
    axis.set_xlabel("time (s)", fontsize=8)
    axis.set_title("distance to the nearest training pose", fontsize=9)
    axis.legend(fontsize=7)
    axis.tick_params(labelsize=7)
    figure.tight_layout()
    return png(figure)


def slip_figure(slips: list) -> bytes:
    """Slip speed of each loaded foot over time (cm/s)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7.5, 2.2))
    for k, slip in enumerate(slips):
        axis.plot(slip.time, slip.speed, f"C{k}-", linewidth=1.0, label=slip.prefix.rstrip("_"))
    axis.set_ylabel("cm/s", fontsize=8)
    axis.set_xlabel("time (s)", fontsize=8)
    axis.set_title("foot slip speed under the centre of pressure (while loaded)", fontsize=9)
    axis.legend(fontsize=7)
    axis.tick_params(labelsize=7)
    figure.tight_layout()
    return png(figure)
