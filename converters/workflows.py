"""End-to-end jobs the command line runs: each reads files, calls the library, writes files."""

from __future__ import annotations

from pathlib import Path

from converters.files import check_writable
from converters.opensim_io.table import Table

__all__ = ["run_classic_id"]


def run_classic_id(
    model: Path,
    coordinates: Path,
    external_loads: Path | None,
    grf: Path | None,
    lowpass_hz: float | None,
    time_range: tuple[float, float] | None,
    output: Path,
    force: bool,
) -> Table:
    """Classic ID from files to an OpenSim ``.sto``; refuses to overwrite without ``force``."""
    from converters.errors import KintwinError
    from converters.inverse_dynamics import classic_inverse_dynamics
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series
    from converters.opensim_io.external_loads import load_external_loads
    from converters.opensim_io.table import read_table, write_table

    check_writable(output, force)  # before any work
    if grf is not None and external_loads is None:
        raise KintwinError(
            "--grf needs --external-loads (the XML that says which columns act on which body)"
        )
    # Like OpenSim's forces_to_exclude=Muscles: the skeleton alone (no tendons, no actuators).
    converted = convert_osim(model, ConvertOptions(meshes=False, muscles=False), exact=True)
    series = coordinate_series(read_table(coordinates), converted.osim, coordinates)
    loads = None if external_loads is None else load_external_loads(external_loads, grf)
    table = classic_inverse_dynamics(converted, series, loads, lowpass_hz, time_range)
    write_table(table, output, force=force)
    return table
