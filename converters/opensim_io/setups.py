"""Readers for OpenSim tool setup files: InverseDynamicsTool and AnalyzeTool/StaticOptimization.

Paths named in a setup file are resolved the way OpenSim resolves them: relative to the folder of
the setup file. Inputs the job needs are checked here, so a missing model or motion is reported
with the field that names it, the setup file and the command-line option that overrides it.
Outputs (results folder, output files) are resolved but need not exist.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from converters.errors import FileFormatError, MissingPathError, UnknownNameError
from converters.opensim_io.xml_fields import (
    ElementFields,
    is_foreign_absolute,
    opensim_element,
    resolve_setup_path,
)

__all__ = [
    "IDSetup",
    "SOSetup",
    "StaticOptimizationSettings",
    "read_id_setup",
    "read_so_setup",
    "setup_kind",
]

PathLike = str | os.PathLike[str]
PathOverrides = Mapping[str, PathLike | Sequence[PathLike] | None]

_OPTIONS = {
    "model_file": "--model",
    "coordinates_file": "--coordinates",
    "states_file": "--states",
    "external_loads_file": "--external-loads",
}


# ------------------------------------------------------------------------------------ setup types


@dataclass(frozen=True)
class IDSetup:
    """An inverse-dynamics job, from an InverseDynamicsTool (or AnalyzeTool/InverseDynamics) file.

    Attributes:
        path: the setup file.
        name: the tool's name.
        model_file: the .osim model (exists).
        coordinates_file: the coordinates .mot/.sto (exists).
        external_loads_file: the ExternalLoads .xml (exists), or None for no external loads.
        time_range: (start, end) in s; (-inf, inf) when the setup gives none.
        lowpass_cutoff_frequency_for_coordinates: in Hz; None for no filtering.
        forces_to_exclude: force names or groups (e.g. 'Muscles') left out of the dynamics.
        results_directory: the output folder (need not exist); a Windows drive path, which
            cannot exist here, is replaced by the setup file's folder.
        output_gen_force_file: the generalized-force .sto, inside ``results_directory``.
        joints_to_report_body_forces: joints whose reaction loads are reported.
        output_body_forces_file: their .sto inside ``results_directory``, or None.
        tool: 'InverseDynamicsTool', or 'AnalyzeTool' for an InverseDynamics analysis.
    """

    path: Path
    name: str
    model_file: Path
    coordinates_file: Path
    external_loads_file: Path | None
    time_range: tuple[float, float]
    lowpass_cutoff_frequency_for_coordinates: float | None
    forces_to_exclude: tuple[str, ...]
    results_directory: Path
    output_gen_force_file: Path
    joints_to_report_body_forces: tuple[str, ...] = ()
    output_body_forces_file: Path | None = None
    tool: str = "InverseDynamicsTool"


@dataclass(frozen=True)
class StaticOptimizationSettings:
    """The StaticOptimization analysis of an AnalyzeTool (OpenSim's defaults where absent).

    Attributes:
        name: the analysis name (part of the output file names; normally 'StaticOptimization').
        on: whether the analysis is enabled.
        start_time, end_time: the analysis window in s (clipped by the tool's times).
        step_interval: solve every this many frames.
        in_degrees: whether rotational results are written in degrees.
        use_model_force_set: use the model's actuators (else only the force-set files').
        activation_exponent: exponent of the sum of activations minimised (2 = squared).
        use_muscle_physiology: use force-length-velocity (else ideal force generators).
        optimizer_convergence_criterion: optimizer tolerance.
        optimizer_max_iterations: optimizer iteration limit.
    """

    name: str = "StaticOptimization"
    on: bool = True
    start_time: float = -math.inf
    end_time: float = math.inf
    step_interval: int = 1
    in_degrees: bool = True
    use_model_force_set: bool = True
    activation_exponent: float = 2.0
    use_muscle_physiology: bool = True
    optimizer_convergence_criterion: float = 1e-4
    optimizer_max_iterations: int = 100


@dataclass(frozen=True)
class SOSetup:
    """A static-optimization job, from an AnalyzeTool file with a StaticOptimization analysis.

    Attributes:
        path: the setup file.
        name: the tool's name (prefix of the output file names).
        model_file: the .osim model (exists).
        coordinates_file: the coordinates .mot/.sto (exists), or None when ``states_file`` is used.
        states_file: a states .sto (exists), or None.
        external_loads_file: the ExternalLoads .xml (exists), or None.
        initial_time, final_time: the time window in s.
        lowpass_cutoff_frequency_for_coordinates: in Hz; None for no filtering.
        results_directory: the output folder (need not exist); a Windows drive path is replaced
            by the setup file's folder.
        force_set_files: extra actuator files (e.g. reserve actuators), each existing.
        replace_force_set: whether they replace the model's force set instead of adding to it.
        static_optimization: the analysis settings.
    """

    path: Path
    name: str
    model_file: Path
    coordinates_file: Path | None
    states_file: Path | None
    external_loads_file: Path | None
    initial_time: float
    final_time: float
    lowpass_cutoff_frequency_for_coordinates: float | None
    results_directory: Path
    force_set_files: tuple[Path, ...]
    replace_force_set: bool
    static_optimization: StaticOptimizationSettings

    def _output(self, kind: str) -> Path:
        return self.results_directory / f"{self.name}_{self.static_optimization.name}_{kind}.sto"

    @property
    def activation_file(self) -> Path:
        """``<results_directory>/<name>_StaticOptimization_activation.sto``, as OpenSim names it."""
        return self._output("activation")

    @property
    def force_file(self) -> Path:
        """``<results_directory>/<name>_StaticOptimization_force.sto``, as OpenSim names it."""
        return self._output("force")


# ------------------------------------------------------------------------------------ dispatch


def setup_kind(path: str | Path) -> str:
    """'so' for an AnalyzeTool with a StaticOptimization analysis, 'id' for an
    InverseDynamicsTool or an AnalyzeTool with an InverseDynamics analysis; FileFormatError
    (naming the analyses found) for anything else."""
    path = Path(path)
    tool = opensim_element(
        path, ("InverseDynamicsTool", "AnalyzeTool"), "an inverse dynamics or analyze tool setup"
    )
    if tool.tag == "InverseDynamicsTool":
        return "id"
    f = ElementFields(path, tool)
    objects = f.element.find("AnalysisSet/objects")
    tags = [] if objects is None else [e.tag for e in objects if isinstance(e.tag, str)]
    if "StaticOptimization" in tags:
        return "so"
    if "InverseDynamics" in tags:
        return "id"
    _analysis(f, "StaticOptimization")  # raises, listing the analyses there are
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------------ ID reader


def read_id_setup(
    path: str | Path, overrides: PathOverrides | None = None, check_paths: bool = True
) -> IDSetup:
    """Read an InverseDynamicsTool setup (or an AnalyzeTool with an InverseDynamics analysis).

    ``overrides`` maps a field (``model_file``, ``coordinates_file``, ``external_loads_file``,
    ``results_directory``) to a path that replaces the setup's value before the existence checks;
    None clears an optional field. Raises FileFormatError for a wrong or malformed file and
    MissingPathError for a needed input that does not exist (unless ``check_paths`` is false, as
    for ``kintwin inspect``).
    """
    path = Path(path)
    tool = opensim_element(
        path, ("InverseDynamicsTool", "AnalyzeTool"), "an inverse dynamics setup"
    )
    if tool.tag == "AnalyzeTool":
        return _id_from_analyze_tool(path, tool, overrides, check_paths)
    f = ElementFields(path, tool)
    paths = _paths(
        f, ("model_file", "coordinates_file", "external_loads_file"), overrides, check=check_paths
    )
    results = _results_directory(f, overrides)
    body_forces = f.text("output_body_forces_file", "body_forces_at_joints.sto")
    return IDSetup(
        path=path,
        name=f.name,
        model_file=_required(f, paths, "model_file"),
        coordinates_file=_required(f, paths, "coordinates_file"),
        external_loads_file=paths.get("external_loads_file"),
        time_range=f.numbers("time_range", 2, (-math.inf, math.inf)),
        lowpass_cutoff_frequency_for_coordinates=_cutoff(f),
        forces_to_exclude=f.words("forces_to_exclude"),
        results_directory=results,
        output_gen_force_file=results / (f.text("output_gen_force_file") or "inverse_dynamics.sto"),
        joints_to_report_body_forces=f.words("joints_to_report_body_forces"),
        output_body_forces_file=results / body_forces if body_forces else None,
    )


def _id_from_analyze_tool(
    path: Path, tool: etree._Element, overrides: PathOverrides | None, check_paths: bool
) -> IDSetup:
    """An IDSetup from an AnalyzeTool whose analyses include InverseDynamics (opensim-core tests)."""
    f = ElementFields(path, tool)
    analysis = _analysis(f, "InverseDynamics")
    a = ElementFields(path, analysis)
    paths = _paths(
        f, ("model_file", "coordinates_file", "external_loads_file"), overrides, check=check_paths
    )
    results = _results_directory(f, overrides)
    # use_model_force_set=false: generalized forces for every dof, the model's actuators left out.
    excluded = () if a.flag("use_model_force_set", True) else ("Actuators",)
    return IDSetup(
        path=path,
        name=f.name,
        model_file=_required(f, paths, "model_file"),
        coordinates_file=_required(f, paths, "coordinates_file"),
        external_loads_file=paths.get("external_loads_file"),
        time_range=(f.number("initial_time", 0.0), f.number("final_time", 1.0)),
        lowpass_cutoff_frequency_for_coordinates=_cutoff(f),
        forces_to_exclude=excluded,
        results_directory=results,
        output_gen_force_file=results / f"{f.name}_{a.name or 'InverseDynamics'}.sto",
        tool="AnalyzeTool",
    )


# ------------------------------------------------------------------------------------ SO reader


def read_so_setup(
    path: str | Path, overrides: PathOverrides | None = None, check_paths: bool = True
) -> SOSetup:
    """Read an AnalyzeTool setup that has a StaticOptimization analysis.

    ``overrides`` maps a field (``model_file``, ``coordinates_file``, ``states_file``,
    ``external_loads_file``, ``results_directory``, ``force_set_files``) to a path (a list of
    paths for ``force_set_files``) replacing the setup's value before the existence checks;
    None clears an optional field. Raises FileFormatError for a wrong or malformed file (also when
    there is no StaticOptimization analysis) and MissingPathError for a missing input.
    """
    path = Path(path)
    tool = opensim_element(path, ("AnalyzeTool",), "a static optimization (AnalyzeTool) setup")
    f = ElementFields(path, tool)
    so = _so_settings(ElementFields(path, _analysis(f, "StaticOptimization")))
    fields = ("model_file", "coordinates_file", "states_file", "external_loads_file")
    paths = _paths(f, fields, overrides, extra=("force_set_files",), check=check_paths)
    coordinates = paths.get("coordinates_file")
    states = paths.get("states_file")
    if coordinates is None and states is None:
        raise FileFormatError(
            path,
            "<coordinates_file> and <states_file> are both empty; give the "
            "coordinates with --coordinates",
        )
    return SOSetup(
        path=path,
        name=f.name,
        model_file=_required(f, paths, "model_file"),
        coordinates_file=coordinates,
        states_file=states,
        external_loads_file=paths.get("external_loads_file"),
        initial_time=f.number("initial_time", 0.0),
        final_time=f.number("final_time", 1.0),
        lowpass_cutoff_frequency_for_coordinates=_cutoff(f),
        results_directory=_results_directory(f, overrides),
        force_set_files=_force_set_files(f, overrides, check_paths),
        replace_force_set=f.flag("replace_force_set", False),
        static_optimization=so,
    )


def _so_settings(a: ElementFields) -> StaticOptimizationSettings:
    d = StaticOptimizationSettings()
    return StaticOptimizationSettings(
        name=a.name or d.name,
        on=a.flag("on", d.on),
        start_time=a.number("start_time", d.start_time),
        end_time=a.number("end_time", d.end_time),
        step_interval=a.integer("step_interval", d.step_interval),
        in_degrees=a.flag("in_degrees", d.in_degrees),
        use_model_force_set=a.flag("use_model_force_set", d.use_model_force_set),
        activation_exponent=a.number("activation_exponent", d.activation_exponent),
        use_muscle_physiology=a.flag("use_muscle_physiology", d.use_muscle_physiology),
        optimizer_convergence_criterion=a.number(
            "optimizer_convergence_criterion", d.optimizer_convergence_criterion
        ),
        optimizer_max_iterations=a.integer("optimizer_max_iterations", d.optimizer_max_iterations),
    )


def _analysis(f: ElementFields, kind: str) -> etree._Element:
    """The first ``kind`` analysis in the tool's AnalysisSet; FileFormatError if there is none."""
    objects = f.element.find("AnalysisSet/objects")
    analyses = [] if objects is None else [e for e in objects if isinstance(e.tag, str)]
    for element in analyses:
        if element.tag == kind:
            return element
    found = ", ".join(e.tag for e in analyses) or "none"
    raise FileFormatError(
        f.path, f"{f.element.tag} '{f.name}' has no {kind} analysis (its analyses: {found})"
    )


# ------------------------------------------------------------------------------- shared fields


def _cutoff(f: ElementFields) -> float | None:
    """The coordinate low-pass cut-off in Hz; None when absent or <= 0 (OpenSim's -1: none)."""
    value = f.number("lowpass_cutoff_frequency_for_coordinates", -1.0)
    return value if value > 0 else None


def _paths(
    f: ElementFields,
    fields: Sequence[str],
    overrides: PathOverrides | None,
    extra: Sequence[str] = (),
    check: bool = True,
) -> dict[str, Path | None]:
    """Input path fields: the setup's values (resolved), replaced by ``overrides``, each checked."""
    overrides = dict(overrides or {})
    valid = [*fields, *extra, "results_directory"]
    for key in overrides:
        if key not in valid:
            raise UnknownNameError("overridable field", key, valid, where=str(f.path))
    paths: dict[str, Path | None] = {}
    for field in fields:
        if field in overrides:
            value = overrides[field]
            paths[field] = None if value is None else Path(value)
            if check:
                _check_exists(paths[field], str(paths[field]), field, None, "given as an override")
        else:
            text = f.text(field)
            paths[field] = None if text is None else resolve_setup_path(text, f.path.parent)
            if check:
                _check_exists(paths[field], text, field, f.path, _hint(field, text))
    return paths


def _check_exists(
    path: Path | None, text: str | None, field: str, source: Path | None, hint: str
) -> None:
    if path is not None and not path.exists():
        shown = text if text is not None and is_foreign_absolute(text) else path
        raise MissingPathError(shown, field, source, hint)


def _hint(field: str, text: str | None) -> str:
    option = _OPTIONS.get(field)
    fix = f"give it with {option}" if option else f"fix <{field}> in the setup"
    if text is not None and is_foreign_absolute(text):
        return f"an absolute Windows path; {fix}"
    return fix


def _required(f: ElementFields, paths: dict[str, Path | None], field: str) -> Path:
    path = paths[field]
    if path is None:
        option = _OPTIONS.get(field, field)
        raise FileFormatError(f.path, f"<{field}> is empty or absent; give it with {option}")
    return path


def _results_directory(f: ElementFields, overrides: PathOverrides | None) -> Path:
    """The output folder; a Windows drive path (which cannot exist here) becomes the setup's folder."""
    value = (overrides or {}).get("results_directory")
    if value is not None:
        return Path(value)
    text = f.text("results_directory") or "./"
    if is_foreign_absolute(text):
        return f.path.parent.absolute()
    return resolve_setup_path(text, f.path.parent)


def _force_set_files(
    f: ElementFields, overrides: PathOverrides | None, check: bool = True
) -> tuple[Path, ...]:
    overrides = overrides or {}
    if "force_set_files" in overrides:
        value = overrides["force_set_files"]
        items = [] if value is None else [value] if isinstance(value, (str, os.PathLike)) else value
        paths = tuple(Path(p) for p in items)
        for p in paths:
            if check:
                _check_exists(p, str(p), "force_set_files", None, "given as an override")
        return paths
    found = []
    for word in f.words("force_set_files"):
        p = resolve_setup_path(word, f.path.parent)
        if check:
            _check_exists(
                p,
                word,
                "force_set_files",
                f.path,
                "fix <force_set_files> in the setup or override force_set_files",
            )
        found.append(p)
    return tuple(found)
