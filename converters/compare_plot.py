"""The comparison plot: one subplot per common column, ours solid, reference dashed."""

from __future__ import annotations

import math
from pathlib import Path

from converters.compare import UNITS, Comparison, in_span, named_columns
from converters.files import atomic_output
from converters.opensim_io.table import Table

__all__ = ["plot_comparison"]

CELL_IN = (4.0, 2.8)  # one subplot with its titles, labels and ticks (in)
TITLE_IN = 0.5  # the figure's title band above the subplots (in)


def _fixed_layout(figure, width: float, height: float) -> None:
    """Margins in inches, whatever the number of rows: the title band stays clear of the first
    row's titles (a fraction of a 3D model's nine-row figure would not), and the figure is drawn
    once (``tight_layout`` draws it once more to measure it, the larger part of a plot's time)."""
    left, right, bottom, top = 0.7, 0.15, 0.45, TITLE_IN + 0.45  # in
    gap_x, gap_y = 0.75, 0.85  # between subplots: y labels and ticks; two-line titles, x ticks
    columns = round(width / CELL_IN[0])
    rows = round((height - TITLE_IN) / CELL_IN[1])
    axis_w = (width - left - right - gap_x * (columns - 1)) / columns
    axis_h = (height - bottom - top - gap_y * (rows - 1)) / rows
    figure.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=gap_x / axis_w,
        hspace=gap_y / axis_h,
    )


def plot_comparison(
    ours: Table, reference: Table, comparison: Comparison, path: str | Path, force: bool = False
) -> Path:
    """Write a PNG of every compared column over the common time span, titled with r and RMSE.

    Reference gait events (GRF files) are marked with dotted vertical lines on their column.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours_columns, reference_columns = named_columns(ours), named_columns(reference)
    inside_ours = in_span(ours.time, comparison.span)
    inside_reference = in_span(reference.time, comparison.span)
    count = len(comparison.columns)
    columns = min(4, count)
    rows = math.ceil(count / columns)
    width, height = CELL_IN[0] * columns, CELL_IN[1] * rows + TITLE_IN
    figure, axes = plt.subplots(rows, columns, figsize=(width, height), squeeze=False)
    _fixed_layout(figure, width, height)
    for axis, column in zip(axes.flat, comparison.columns, strict=False):
        axis.plot(
            ours.time[inside_ours],
            ours_columns[column.ours_label][inside_ours],
            "C3-",
            label="ours",
        )
        axis.plot(
            reference.time[inside_reference],
            reference_columns[column.name][inside_reference],
            "k--",
            label="reference",
        )
        for event in comparison.events:
            if event.group == column.name and event.reference_time is not None:
                axis.axvline(event.reference_time, color="0.6", linestyle=":", linewidth=0.8)
        r = "n/a" if math.isnan(column.r) else f"{column.r:.3f}"
        unit = UNITS[column.kind]
        axis.set_title(f"{column.name}\nr {r}, RMSE {column.rmse:.3g} {unit}".rstrip(), fontsize=9)
        axis.tick_params(labelsize=7)
        axis.set_ylabel(unit, fontsize=8)
    for i, axis in enumerate(axes.flat):
        if i >= count:
            axis.axis("off")
        elif i + columns >= count:  # the lowest subplot of its column
            axis.set_xlabel("time (s)", fontsize=8)
    axes.flat[0].legend(fontsize=7)
    figure.suptitle(
        f"{Path(comparison.ours).name} (solid) vs {Path(comparison.reference).name}",
        y=1 - 0.15 / height,
        va="top",
    )
    with atomic_output(path, force) as tmp:
        figure.savefig(tmp, format="png", dpi=90)
    plt.close(figure)
    return Path(path)
