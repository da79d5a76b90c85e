"""The comparison plot: one subplot per common column, ours solid, reference dashed."""

from __future__ import annotations

import math
from pathlib import Path

from converters.compare import UNITS, Comparison, in_span, named_columns
from converters.files import atomic_output
from converters.opensim_io.table import Table

__all__ = ["plot_comparison"]


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
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.8 * rows), squeeze=False)
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
    figure.suptitle(f"{Path(comparison.ours).name} (solid) vs {Path(comparison.reference).name}")
    figure.tight_layout()
    with atomic_output(path, force) as tmp:
        figure.savefig(tmp, format="png", dpi=90)
    plt.close(figure)
    return Path(path)
