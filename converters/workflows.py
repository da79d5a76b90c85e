"""End-to-end jobs the command line runs: each reads files, calls the library, writes files.

(The ``kintwin convert``, ``validate`` and ``compare`` jobs live beside their subjects:
:mod:`converters.convert_files`, :mod:`converters.model_validation`,
:mod:`converters.compare_files`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from converters.files import check_writable, trial_name
from converters.opensim_io.table import Table

__all__ = [
    "ClassicIDConfig",
    "run_classic_id",
    "ContactIDConfig",
    "run_contact_id",
    "contact_id_paths",
]


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
        model, series, loads, config.lowpass_hz or None, config.time_range,
        source=config.coordinates,
    )  # fmt: skip
    write_table(table, config.output, force=config.force)
    return table


@dataclass(frozen=True)
class ContactIDConfig:
    """Inverse dynamics with ground reactions solved from the motion itself (no plates, no
    policy: :mod:`converters.contact_solve`), from files to files in ``outdir``.

    Attributes:
        model: the ``.osim`` model (its feet get the converter's contact spheres).
        coordinates: IK coordinates (``.mot``/``.sto``).
        outdir: writes ``<trial>_id.sto``, ``<trial>_grf.mot``, ``<trial>_grf.xml``.
        lowpass_hz: low-pass cut-off of the coordinates (Hz); None or 0: not filtered.
        time_range: (t0, t1) in seconds; None: every frame.
        force: overwrite existing outputs.
        seat: a seat under the thighs for a trial that sits (``ContactSolveConfig.seat``).
        trial: the outputs' name; None: the coordinates file's stem without ``_ik``.
    """

    model: Path
    coordinates: Path
    outdir: Path
    lowpass_hz: float | None = 6.0
    time_range: tuple[float, float] | None = None
    force: bool = False
    seat: bool = False
    trial: str | None = None


def contact_id_paths(outdir: Path, coordinates: Path, trial: str | None = None) -> dict[str, Path]:
    """The files :func:`run_contact_id` writes: ``id_sto``, ``grf_mot``, ``grf_xml``, named
    ``trial`` or after the coordinates file (its stem without ``_ik``)."""
    trial = trial_name(coordinates) if trial is None else trial
    outdir = Path(outdir)
    return {
        "id_sto": outdir / f"{trial}_id.sto",
        "grf_mot": outdir / f"{trial}_grf.mot",
        "grf_xml": outdir / f"{trial}_grf.xml",
    }


def run_contact_id(config: ContactIDConfig) -> dict:
    """Solve the ground reactions of the motion, write ID + GRF files; returns a summary."""
    import numpy as np

    from converters.contact_solve import (
        GRAVITY,
        ContactSolveConfig,
        solve_contacts,
        unsupported_spans,
    )
    from converters.errors import KintwinError
    from converters.kinematics_check import implausible_spans, implausible_summary
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import (
        coordinate_series,
        frames_in_range,
        make_trajectory,
        trajectory_rows,
    )
    from converters.opensim_io.ground_reactions import grf_table, write_external_loads
    from converters.opensim_io.table import read_table, write_table

    if config.outdir.exists() and not config.outdir.is_dir():
        raise KintwinError(
            f"{config.outdir}: the contact solve writes several files; give a directory"
        )
    paths = contact_id_paths(config.outdir, config.coordinates, config.trial)
    for path in paths.values():
        check_writable(path, config.force)  # before any work
    model = convert_osim(config.model, ConvertOptions(meshes=False, muscles=False), exact=True)
    series = coordinate_series(read_table(config.coordinates), model.osim, config.coordinates)
    spans = implausible_spans(series, model.osim)
    mj = model.mj_model
    trajectory = make_trajectory(series, model.kinematics, mj.nq, mj.nv, config.lowpass_hz or None)
    if config.time_range is not None:
        keep = frames_in_range(trajectory.time, config.time_range, config.coordinates)
        trajectory = trajectory_rows(trajectory, keep)
    solution = solve_contacts(model, trajectory, ContactSolveConfig(seat=config.seat))
    written: list[Path] = []
    try:
        written.append(write_table(solution.id_table, paths["id_sto"], force=config.force))
        grf = grf_table(solution.time, solution.feet + solution.seat)
        written.append(write_table(grf, paths["grf_mot"], force=config.force))
        write_external_loads(
            paths["grf_xml"],
            paths["grf_mot"].name,
            solution.feet + solution.seat,
            config.force,
            name="SolvedGRF",
        )
    except BaseException:
        for path in written:  # no partial set of outputs left behind
            path.unlink(missing_ok=True)
        raise
    weight = float(mj.body_subtreemass[0]) * GRAVITY
    residual = np.sqrt(np.mean(solution.root_residuals**2, axis=0))
    seat = None
    if solution.seat:
        seat_force = sum(s.force[:, 2] for s in solution.seat)
        seat = {
            "height_m": solution.seat_height,
            "peak_vertical_percent_bw": float(100.0 * seat_force.max() / weight),
            "loaded_s": float(
                np.sum(seat_force > 0.05 * weight) * np.median(np.diff(solution.time))
            ),
        }
    return {
        "method": "contact",
        "outputs": {k: str(v) for k, v in paths.items()},
        "frames": int(len(solution.time)),
        "time_span_s": [float(solution.time[0]), float(solution.time[-1])],
        "body_mass_kg": float(mj.body_subtreemass[0]),
        "floor_height_m": solution.floor_height,
        "peak_vertical_grf_percent_bw": float(
            100.0 * sum(f.force[:, 2] for f in solution.feet).max() / weight
        ),
        "root_residual_rms": [float(v) for v in residual],
        "seat": seat,
        # where no contact point is near the floor but the motion needs the floor's support
        "unsupported_spans": [
            {"from_s": a, "to_s": b, "peak_shortfall_percent_bw": 100.0 * peak}
            for a, b, peak in unsupported_spans(solution, weight)
        ],
        "implausible_kinematics": implausible_summary(
            spans, float(solution.time[0]), float(solution.time[-1])
        ),
    }
