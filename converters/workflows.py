"""End-to-end jobs the command line runs: each reads files, calls the library, writes files.

(The ``kintwin convert``, ``validate`` and ``compare`` jobs live beside their subjects:
:mod:`converters.convert_files`, :mod:`converters.model_validation`,
:mod:`converters.compare_files`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from converters.files import check_writable
from converters.opensim_io.table import Table

__all__ = ["ClassicIDConfig", "run_classic_id"]


@dataclass(frozen=True)
class ClassicIDConfig:
    """OpenSim's InverseDynamicsTool, reproduced on the converted model, from files to a file.

    Attributes:
        model: the ``.osim`` model.
        coordinates: IK coordinates (``.mot``/``.sto``).
        output: the generalized-forces ``.sto`` to write.
        external_loads: OpenSim ExternalLoads ``.xml`` (measured GRF); None: no external loads.
        grf: GRF data file replacing the one the ExternalLoads names (needs ``external_loads``).
        lowpass_hz: low-pass cut-off of the coordinates (Hz); None or 0: not filtered.
        time_range: (t0, t1) in seconds; None: every frame.
        force: overwrite an existing ``output``.
    """

    model: Path
    coordinates: Path
    output: Path
    external_loads: Path | None = None
    grf: Path | None = None
    lowpass_hz: float | None = None
    time_range: tuple[float, float] | None = None
    force: bool = False


def run_classic_id(config: ClassicIDConfig) -> Table:
    """Classic ID from files to an OpenSim ``.sto``; the output is checked before any work."""
    from converters.errors import KintwinError
    from converters.inverse_dynamics import classic_inverse_dynamics
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series
    from converters.opensim_io.external_loads import load_external_loads
    from converters.opensim_io.table import read_table, write_table

    check_writable(config.output, config.force)  # before any work
    if config.grf is not None and config.external_loads is None:
        raise KintwinError(
            "--grf needs --external-loads (the XML that says which columns act on which body)"
        )
    # Like OpenSim's forces_to_exclude=Muscles: the skeleton alone (no tendons, no actuators).
    model = convert_osim(config.model, ConvertOptions(meshes=False, muscles=False), exact=True)
    series = coordinate_series(read_table(config.coordinates), model.osim, config.coordinates)
    loads = None
    if config.external_loads is not None:
        loads = load_external_loads(config.external_loads, config.grf)
    table = classic_inverse_dynamics(
        model, series, loads, config.lowpass_hz or None, config.time_range
    )
    write_table(table, config.output, force=config.force)
    return table
