"""OpenSim's own tools, run by the ``opensim`` package: inverse dynamics and static
optimization (the classic pipeline the project is compared with). Failures raise
:class:`OpenSimToolError` with OpenSim's first line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from converters.errors import KintwinError
from converters.opensim_io.table import Table, read_table
from converters.opensim_reference.log import opensim_log
from converters.opensim_reference.model import OpenSimModel, first_line

__all__ = [
    "OpenSimToolError",
    "run_inverse_dynamics",
    "run_static_optimization",
    "StaticOptimizationResult",
]


class OpenSimToolError(KintwinError):
    """One of OpenSim's tools failed (or wrote no results)."""

    def __init__(self, tool: str, problem: str) -> None:
        super().__init__(f"OpenSim's {tool} failed: {problem}")


def run_inverse_dynamics(
    model: str | Path,
    coordinates: str | Path,
    external_loads: str | Path | None,
    lowpass_hz: float | None,
    time_range: tuple[float, float],
    workdir: str | Path,
    excluded: tuple[str, ...] = ("Muscles",),
) -> Path:
    """Run OpenSim's InverseDynamicsTool on ``coordinates`` (IK ``.mot``) with optional
    ``external_loads`` (ExternalLoads ``.xml``), filtering at ``lowpass_hz`` (None: none),
    between ``time_range`` (s), without the forces ``excluded``; return its output ``.sto``
    (``workdir/opensim_id.sto``)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    osim = OpenSimModel(model, level="error")
    output = workdir / "opensim_id.sto"
    with opensim_log("error") as opensim:
        tool = opensim.InverseDynamicsTool()
        tool.setModel(osim.model)
        tool.setCoordinatesFileName(str(coordinates))
        if external_loads is not None:
            tool.setExternalLoadsFileName(str(external_loads))
        tool.setLowpassCutoffFrequency(-1.0 if lowpass_hz is None else float(lowpass_hz))
        tool.setStartTime(time_range[0])
        tool.setEndTime(time_range[1])
        excluded_set = opensim.ArrayStr()
        for name in excluded:
            excluded_set.append(name)
        tool.setExcludedForces(excluded_set)
        tool.setResultsDir(str(workdir))
        tool.setOutputGenForceFileName(output.name)
        _run(tool, "InverseDynamicsTool", output)
    return output


@dataclass(frozen=True)
class StaticOptimizationResult:
    """OpenSim's static optimization: the files it wrote and their tables (activations 0..1 of
    every actuator; forces in N, or N m for coordinate actuators)."""

    activation_path: Path
    force_path: Path
    activation: Table
    force: Table


def run_static_optimization(
    model: str | Path,
    coordinates: str | Path,
    external_loads: str | Path | None,
    lowpass_hz: float | None,
    time_range: tuple[float, float],
    workdir: str | Path,
    actuators: str | Path | None = None,
    name: str = "kintwin_so",
) -> StaticOptimizationResult:
    """Run OpenSim's StaticOptimization (an AnalyzeTool) and read its results.

    ``actuators`` is an optional force-set XML (reserve actuators) added to the model's forces.
    The tool is written as a setup file (``workdir/<name>_setup.xml``) and run from it, as the
    OpenSim GUI does, so that it loads the model and the coordinates itself. Outputs:
    ``workdir/<name>_StaticOptimization_activation.sto`` and ``..._force.sto``.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    activation = workdir / f"{name}_StaticOptimization_activation.sto"
    force = workdir / f"{name}_StaticOptimization_force.sto"
    with opensim_log("error") as opensim:
        tool = opensim.AnalyzeTool()
        tool.setName(name)
        tool.setModelFilename(str(Path(model).resolve()))
        if actuators is not None:
            files = opensim.ArrayStr()
            files.append(str(Path(actuators).resolve()))
            tool.setForceSetFiles(files)
            tool.setReplaceForceSet(False)
        tool.setCoordinatesFileName(str(Path(coordinates).resolve()))
        if external_loads is not None:
            tool.setExternalLoadsFileName(str(Path(external_loads).resolve()))
        tool.setLowpassCutoffFrequency(-1.0 if lowpass_hz is None else float(lowpass_hz))
        tool.setInitialTime(time_range[0])
        tool.setFinalTime(time_range[1])
        tool.setResultsDir(str(workdir))
        analysis = opensim.StaticOptimization()
        analysis.setStartTime(time_range[0])
        analysis.setEndTime(time_range[1])
        tool.getAnalysisSet().cloneAndAppend(analysis)
        setup = workdir / f"{name}_setup.xml"
        tool.printToXML(str(setup))
        try:
            runner = opensim.AnalyzeTool(str(setup))
        except RuntimeError as error:
            raise OpenSimToolError("StaticOptimization", first_line(error)) from None
        _run(runner, "StaticOptimization", activation)
    return StaticOptimizationResult(activation, force, read_table(activation), read_table(force))


def _run(tool, label: str, output: Path) -> None:
    """``tool.run()``; OpenSim's exception, a False return or no ``output`` -> the error."""
    try:
        ok = tool.run()
    except RuntimeError as error:
        raise OpenSimToolError(label, first_line(error)) from None
    if not ok:
        raise OpenSimToolError(label, "the tool reported failure (run it with OpenSim for details)")
    if not output.exists():
        raise OpenSimToolError(label, f"it wrote no {output.name}")
