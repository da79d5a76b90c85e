"""Human-readable summaries of the files KinTwin reads (what ``kintwin inspect`` prints)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from converters.errors import FileFormatError
from converters.opensim_io.table import read_table
from converters.opensim_io.trc import read_trc

__all__ = ["describe", "describe_table", "describe_trc"]


def describe(path: str | Path) -> str:
    """A multi-line summary of ``path``, chosen by its extension (and XML root element)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".sto", ".mot", ".csv"):
        return describe_table(path)
    if suffix == ".trc":
        return describe_trc(path)
    if suffix == ".osim":
        from converters.osim.summary import format_summary, summarize_model

        return format_summary(summarize_model(path))
    if suffix == ".xml":
        from converters.opensim_io.setups import describe_setup_file

        return describe_setup_file(path)
    raise FileFormatError(
        path,
        f"unknown file type '{suffix}'; kintwin reads .sto, .mot, .csv, "
        ".trc, .osim and OpenSim setup/ExternalLoads .xml",
    )


def _span(time: np.ndarray) -> str:
    rate = (len(time) - 1) / (time[-1] - time[0]) if len(time) > 1 else float("nan")
    steps = np.diff(time)
    uniform = len(steps) == 0 or np.ptp(steps) <= 1e-6 * max(abs(steps.mean()), 1e-12)
    return (
        f"time      {time[0]:g} to {time[-1]:g} s ({time[-1] - time[0]:g} s), "
        f"{rate:.6g} Hz{'' if uniform else ' (mean; non-uniform steps)'}"
    )


def _columns(labels: list[str], width: int = 96) -> list[str]:
    lines, line = [], " "
    for label in labels:
        if len(line) + len(label) + 1 > width:
            lines.append(line)
            line = " "
        line += " " + label
    return lines + [line]


def describe_table(path: Path) -> str:
    table = read_table(path)
    units = {True: "degrees", False: "radians", None: "not stated (no inDegrees)"}[table.in_degrees]
    nan = int(np.isnan(table.data).sum())
    out = [
        f"{path}",
        f"kind      OpenSim table, {table.dialect} header"
        + (f", name '{table.name}'" if table.name else ""),
        f"rows      {table.n_rows}",
        _span(table.time),
        f"angles    {units}",
        f"columns   {len(table.labels)} (+ {table.time_label})"
        + (f", {nan} NaN values" if nan else ""),
    ]
    out += _columns(table.labels)
    out += [f"meta      {k}={v}" for k, v in table.metadata.items()]
    return "\n".join(out)


def describe_trc(path: Path) -> str:
    table = read_trc(path)
    missing = np.isnan(table.data).any(axis=2)
    out = [
        f"{path}",
        "kind      marker trajectories (.trc)",
        f"frames    {table.n_frames}",
        _span(table.time),
        f"units     {table.units}",
        f"markers   {len(table.markers)}"
        + (
            f", {int(missing.sum())} missing samples in {int(missing.any(axis=0).sum())} markers"
            if missing.any()
            else ", none missing"
        ),
    ]
    out += _columns(table.markers)
    return "\n".join(out)
