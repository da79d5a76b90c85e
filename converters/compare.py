"""Agreement between two OpenSim tables of generalized forces (ours vs a reference)."""

from __future__ import annotations

import numpy as np

from converters.opensim_io.table import Table

__all__ = ["id_agreement"]


def id_agreement(ours: Table, reference: Table, edge: float = 0.05) -> dict:
    """Worst column against the ID bar max(0.5 N·m or N, 1 % of the column's peak).

    Reference columns are interpolated onto our times; the first and last ``edge`` seconds are
    left out (filter and spline end effects). ``ratio`` <= 1 means within the bar.
    """
    inner = (ours.time > ours.time[0] + edge) & (ours.time < ours.time[-1] - edge)
    worst = {"ratio": 0.0, "column": None, "max_error": 0.0, "tolerance": 0.0}
    for label in reference.labels:
        expected = np.interp(ours.time, reference.time, reference.column(label))
        tolerance = max(0.5, 0.01 * float(np.abs(expected).max()))
        error = float(np.abs(ours.column(label) - expected)[inner].max())
        if error / tolerance > worst["ratio"]:
            worst = {
                "ratio": error / tolerance,
                "column": label,
                "max_error": error,
                "tolerance": tolerance,
            }
    return {
        "columns": len(reference.labels),
        "frames": int(inner.sum()),
        "worst": worst,
        "within_bar": worst["ratio"] <= 1.0,
    }
