"""Human-readable summaries of the files KinTwin reads (what ``kintwin inspect`` prints)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from converters.errors import FileFormatError
from converters.opensim_io.table import read_table
from converters.opensim_io.trc import read_trc

__all__ = ["describe", "describe_table", "describe_trc", "describe_xml"]


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
        return describe_xml(path)
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


def describe_xml(path: Path) -> str:
    """ExternalLoads, InverseDynamicsTool or AnalyzeTool (StaticOptimization) setup files."""
    from converters.opensim_io.xml_fields import opensim_element

    kinds = ("ExternalLoads", "InverseDynamicsTool", "AnalyzeTool")
    element = opensim_element(path, kinds, "an ExternalLoads or tool setup file")
    if element.tag == "ExternalLoads":
        return _describe_external_loads(path)
    if element.tag == "InverseDynamicsTool" or element.find(".//StaticOptimization") is None:
        from converters.opensim_io.setups import read_id_setup

        setup = read_id_setup(path, check_paths=False)
        title = "InverseDynamicsTool setup"
    else:
        from converters.opensim_io.setups import read_so_setup

        setup = read_so_setup(path, check_paths=False)
        title = "AnalyzeTool setup with StaticOptimization"
    return "\n".join([f"{path}", f"kind      {title}"] + _fields(setup))


_INPUT_FIELDS = ("model_file", "coordinates_file", "states_file", "external_loads_file")


def _fields(setup: object) -> list[str]:
    out = []
    for name, value in vars(setup).items():
        if name.startswith("_") or name == "path":
            continue
        shown = value
        if isinstance(value, Path) and name in _INPUT_FIELDS and not value.exists():
            shown = f"{value}   (missing: override it on the command line)"
        out.append(f"{name:<42}{shown}")
    return out


def _describe_external_loads(path: Path) -> str:
    from converters.opensim_io.external_loads import read_external_loads

    spec = read_external_loads(path)
    data = spec.datafile
    out = [
        f"{path}",
        f"kind      ExternalLoads '{spec.name}', {len(spec.forces)} forces",
        f"datafile  {data}{'' if data is None or Path(data).exists() else '   (missing)'}",
    ]
    for f in spec.forces:
        state = " (disabled)" if f.is_disabled else ""
        out.append(
            f"  {f.name}{state}: on {f.applied_to_body}; force {f.force_identifier}*, "
            f"point {f.point_identifier}*, torque {f.torque_identifier}*"
        )
    return "\n".join(out)
