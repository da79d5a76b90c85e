"""Static optimization from files to files (what ``kintwin so`` and ``kintwin run-tool`` run)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from converters.static_optimization import SOResult, SOSettings

__all__ = [
    "SOOutputs",
    "so_output_paths",
    "so_settings_from_setup",
    "run_classic_so",
    "write_so_result",
    "load_actuators",
]


@dataclass(frozen=True)
class SOOutputs:
    """The two files OpenSim's StaticOptimization writes."""

    activation: Path
    force: Path


def so_output_paths(
    outdir: str | Path, name: str, analysis: str = "StaticOptimization"
) -> SOOutputs:
    """``<outdir>/<name>_<analysis>_activation.sto`` and ``_force.sto``, as OpenSim names them."""
    outdir = Path(outdir)
    return SOOutputs(
        outdir / f"{name}_{analysis}_activation.sto", outdir / f"{name}_{analysis}_force.sto"
    )


def load_actuators(
    model_path: Path, osim, reserves: Sequence[Path], use_model_force_set: bool = True
) -> list:
    """The model's own non-muscle actuators (unless not used) followed by each reserves file's."""
    from converters.opensim_io.actuators import model_actuators, read_actuators

    coordinates = list(osim.coordinates)
    bodies = [osim.ground, *osim.bodies]
    found = model_actuators(model_path, coordinates, bodies) if use_model_force_set else []
    for path in reserves:
        found += read_actuators(path, coordinates, bodies)
    names = [a.name for a in found]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        from converters.errors import KintwinError

        raise KintwinError(f"actuator name(s) used twice: {', '.join(repeated)}")
    return found


def write_so_result(result: SOResult, outputs: SOOutputs, force: bool) -> None:
    """Both tables, atomically; neither is written if either exists without ``force``."""
    from converters.files import check_writable
    from converters.opensim_io.table import write_table

    check_writable(outputs.activation, force)
    check_writable(outputs.force, force)
    write_table(result.activation, outputs.activation, force=force)
    write_table(result.force, outputs.force, force=force)


def run_classic_so(
    model: Path,
    coordinates: Path,
    external_loads: Path | None,
    reserves: Sequence[Path],
    settings: SOSettings,
    outputs: SOOutputs,
    force: bool,
    grf: Path | None = None,
    use_model_force_set: bool = True,
) -> SOResult:
    """Classic static optimization of a trial, written as OpenSim writes it.

    Without external loads, constraints, locked coordinates or point/torque actuators, OpenSim
    alone does it (:func:`opensim_static_optimization`: no MuJoCo model); otherwise the exact
    MuJoCo skeleton gives the inverse dynamics with the loads applied.
    """
    from converters.files import check_writable
    from converters.motion import coordinate_series
    from converters.opensim_io.table import read_table
    from converters.osim.cache import load_osim_cached

    check_writable(outputs.activation, force)  # before any work
    check_writable(outputs.force, force)
    osim = load_osim_cached(model)
    if not osim.muscles:
        from converters.errors import KintwinError

        raise KintwinError(f"{model}: the model has no muscles; static optimization needs them")
    actuators = load_actuators(model, osim, reserves, use_model_force_set)
    series = coordinate_series(read_table(coordinates), osim, coordinates)
    if external_loads is None and _opensim_alone(osim, actuators):
        from converters.static_optimization import opensim_static_optimization

        result = opensim_static_optimization(model, osim, series, actuators, settings)
    else:
        from converters.mjcf.builder import ConvertOptions
        from converters.model_conversion import convert_osim
        from converters.opensim_io.external_loads import load_external_loads
        from converters.static_optimization import classic_static_optimization

        converted = convert_osim(model, ConvertOptions(meshes=False, muscles=False), exact=True)
        loads = None if external_loads is None else load_external_loads(external_loads, grf)
        result = classic_static_optimization(model, converted, series, loads, actuators, settings)
    write_so_result(result, outputs, force)
    return result


def _opensim_alone(osim, actuators: Sequence) -> bool:
    """Whether OpenSim's own inverse dynamics (no constraints, no loads) serves this model."""
    constrained = osim.couplers or any("Constraint" in u.tag for u in osim.unsupported)
    locked = any(c.locked for c in osim.coordinates.values())
    spatial = any(a.kind != "CoordinateActuator" for a in actuators)
    return not (constrained or locked or spatial)


def so_settings_from_setup(setup: Path, overrides: dict | None = None):
    """(SOSetup, SOSettings) of an AnalyzeTool StaticOptimization setup; what cannot be honoured
    (a states file instead of coordinates, replaced force set, no muscle physiology) is refused."""
    from converters.errors import FileFormatError
    from converters.opensim_io.setups import read_so_setup

    config = read_so_setup(setup, overrides)
    so = config.static_optimization
    refused = {
        "<coordinates_file> is empty (states files are not supported)": config.coordinates_file
        is None,
        "<replace_force_set> true (it would drop the muscles)": config.replace_force_set,
        "<use_muscle_physiology> false": not so.use_muscle_physiology,
        "<use_model_force_set> false": not so.use_model_force_set,
        "the StaticOptimization analysis is off": not so.on,
    }
    for problem, bad in refused.items():
        if bad:
            raise FileFormatError(setup, f"{problem}: kintwin so cannot honour it")
    start = max(config.initial_time, so.start_time)
    end = min(config.final_time, so.end_time)
    settings = SOSettings(
        activation_exponent=so.activation_exponent,
        lowpass_hz=config.lowpass_cutoff_frequency_for_coordinates,
        time_range=(start, end),
        step_interval=so.step_interval,
    )
    return config, settings
