"""``kintwin validate``: the converted model against the opensim package, numerically."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.argument("model", type=EXISTING_FILE)
@click.option(
    "--ik", "ik_file", type=EXISTING_FILE, help="IK .mot whose frames are added as poses."
)
@click.option(
    "--markers",
    "trc_file",
    type=EXISTING_FILE,
    help="Marker .trc of the IK trial: reports the IK marker error (RMS).",
)
@click.option(
    "--poses",
    default=200,
    show_default=True,
    type=click.IntRange(min=1),
    help="Random poses, uniform within the coordinate ranges.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the random poses.")
@click.option("--position-bar", default=1e-5, show_default=True, help="Max body/marker error (m).")
@click.option("--orientation-bar", default=1e-5, show_default=True, help="Max body error (rad).")
@click.option("--mass-matrix-bar", default=1e-6, show_default=True, help="Max relative error.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report as JSON.",
)
@click.option(
    "--muscles",
    is_flag=True,
    help="Also compare muscle-tendon lengths and moment arms with OpenSim.",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --muscles: write DIR/<model>_muscles.csv and a moment-arm PNG.",
)
@click.option(
    "--exclude-discontinuous/--keep-discontinuous",
    "exclude_discontinuous",
    default=True,
    show_default=True,
    help="With --muscles: leave out of the bars the samples where OpenSim's own path is "
    "discontinuous within +-0.1 deg (decided from OpenSim alone; listed either way).",
)
@click.option("--force", is_flag=True, help="Overwrite report files.")
def validate(
    model: Path,
    ik_file: Path | None,
    trc_file: Path | None,
    poses: int,
    seed: int,
    position_bar: float,
    orientation_bar: float,
    mass_matrix_bar: float,
    json_path: Path | None,
    muscles: bool,
    report_dir: Path | None,
    exclude_discontinuous: bool,
    force: bool,
) -> None:
    """Convert MODEL and compare it with OpenSim at many poses; exit 1 if a bar is missed.

    Compares body origins and orientations, marker positions, total mass and the mass matrix in
    independent coordinates, computed by the opensim package and by MuJoCo.

    \b
    Examples:
      kintwin validate subject01.osim
      kintwin validate subject01.osim --ik subject01_walk_IK.mot --markers subject01_walk.trc
      kintwin validate Rajagopal2016.osim --muscles --report validation/
    """
    from converters.validate import BARS

    bars = {
        **BARS,
        "body_position_m": position_bar,
        "marker_m": position_bar,
        "body_orientation_rad": orientation_bar,
        "mass_matrix_rel": mass_matrix_bar,
    }
    report = _run(model, ik_file, trc_file, poses, seed)
    failures = report["kinematics"].failures(bars)
    click.echo(_format(report, bars))
    if muscles:
        failures += _muscles(model, report, report_dir, force, exclude_discontinuous)
    if json_path is not None:
        payload = {
            **{k: v for k, v in report.items() if not k.startswith("_")},
            "kinematics": report["kinematics"].as_dict(),
            "bars": bars,
            "failures": failures,
        }
        json_path.write_text(json.dumps(payload, indent=1) + "\n")
    if failures:
        click.echo("FAILED: " + "; ".join(failures), err=True)
        sys.exit(1)


def _run(model: Path, ik_file: Path | None, trc_file: Path | None, n: int, seed: int) -> dict:
    import numpy as np

    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series
    from converters.opensim_io.table import read_table
    from converters.validate import sample_poses, validate_kinematics

    converted = convert_osim(model, ConvertOptions(meshes=False), exact=True)
    kinematics = converted.kinematics
    coordinates = converted.osim.coordinates
    locked = {c.name: c.default_value for c in coordinates.values() if c.locked}
    ranges = {c.name: c.range for c in coordinates.values()}
    free = [c for c in kinematics.independent_coordinates if c not in locked]
    poses = {c: v for c, v in sample_poses(kinematics, ranges, n, seed).items() if c in free}
    result = {"model": str(model), "random_poses": n, "ik_frames": 0}
    if ik_file is not None:
        series = coordinate_series(read_table(ik_file), converted.osim, ik_file)
        frames = len(series.time)
        for c in free:
            default = kinematics.defaults[c]
            poses[c] = np.concatenate([poses[c], series.values.get(c, np.full(frames, default))])
        result["ik_frames"] = frames
        if trc_file is not None:
            result["ik_marker_error"] = _marker_error(converted, series, trc_file)
    result["kinematics"] = validate_kinematics(model, converted.mj_model, kinematics, poses, locked)
    result["_converted"], result["_poses"] = converted, poses
    result["coupling_polynomials"] = converted.conversion.couplings_fit
    return result


def _marker_error(converted, series, trc_file: Path) -> dict:
    from converters.markers import markers_for_model
    from converters.opensim_io.trc import read_trc
    from converters.validate import marker_tracking_error

    independent = {
        c: v for c, v in series.values.items() if c in converted.kinematics.independent_coordinates
    }
    qpos = converted.kinematics.qpos(independent, converted.mj_model.nq)
    markers = markers_for_model(read_trc(trc_file), converted.osim)
    return marker_tracking_error(converted.mj_model, qpos, series.time, markers)


def _format(report: dict, bars: dict) -> str:
    k = report["kinematics"]
    rows = [
        ("body origin (m)", k.body_position_m, bars["body_position_m"]),
        ("body orientation (rad)", k.body_orientation_rad, bars["body_orientation_rad"]),
        ("marker (m)", k.marker_m, bars["marker_m"]),
        ("total mass (kg)", k.mass_kg, bars["mass_kg"]),
        ("mass matrix (relative)", k.mass_matrix_rel, bars["mass_matrix_rel"]),
    ]
    lines = [
        f"model {k.model}: {k.poses} poses ({report['random_poses']} random, "
        f"{report['ik_frames']} IK frames); OpenSim mass {k.mass_opensim_kg:.6g} kg",
        f"  {'quantity':<24}{'worst':>11}{'bar':>10}  ok   where",
    ]
    for name, value, bar in rows:
        ok = "yes" if value <= bar else "NO"
        where = k.worst.get(
            {
                "body origin (m)": "body_position_m",
                "marker (m)": "marker_m",
                "body orientation (rad)": "body_orientation_rad",
                "mass matrix (relative)": "mass_matrix_rel",
            }.get(name, ""),
            "",
        )
        lines.append(f"  {name:<24}{value:>11.2e}{bar:>10.0e}  {ok:<4} {where}")
    fits = report["coupling_polynomials"]
    if fits:
        worst = max(fits, key=lambda f: f["max_error"])
        lines.append(
            f"  coupling polynomials: {len(fits)}, worst {worst['max_error']:.2e} "
            f"({worst['what']}; used by the simulation's joint equalities only)"
        )
    if "ik_marker_error" in report:
        e = report["ik_marker_error"]
        lines.append(
            f"  IK marker error (RMS over {e['markers']} markers): mean "
            f"{100 * e['rms_mean_m']:.2f} cm, max {100 * e['rms_max_m']:.2f} cm"
        )
    return "\n".join(lines)


def _muscles(
    model: Path, report: dict, report_dir: Path | None, force: bool, exclude: bool
) -> list[str]:
    from converters.muscle_report import plot_worst_moment_arms, write_muscle_csv
    from converters.validate_muscles import MUSCLE_BARS, validate_muscle_paths

    converted, poses = report["_converted"], report["_poses"]
    if not converted.osim.muscles:
        click.echo("  muscles: none in this model")
        return []
    muscles = validate_muscle_paths(model, converted, poses, "exclude" if exclude else "report")
    s = muscles.summary()
    report["muscles"] = {
        "summary": s,
        "failures": muscles.failures(),
        "reference_discontinuities": muscles.flag_rows(),
    }
    click.echo(
        f"  muscles: {s['muscles']}, {s['pairs']} muscle-coordinate pairs (moment arm > 1 mm)"
    )
    click.echo(
        f"  {'length error, worst median (mm)':<40}{s['length_worst_median_mm']:>9.3f}  bar {MUSCLE_BARS['length_median_mm']:g}"
    )
    click.echo(
        f"  {'length error, max (mm)':<40}{s['length_max_mm']:>9.3f}  bar {MUSCLE_BARS['length_max_mm']:g}"
    )
    click.echo(
        f"  {'moment arm RMSE, median over pairs (mm)':<40}{s['moment_arm_median_rmse_mm']:>9.3f}  bar {MUSCLE_BARS['moment_arm_median_rmse_mm']:g}"
    )
    click.echo(
        f"  {'moment arm error, max (mm)':<40}{s['moment_arm_max_err_mm']:>9.3f}  bar {MUSCLE_BARS['moment_arm_max_err_mm']:g}"
    )
    click.echo(
        f"  {'active force RMSE, worst muscle (% Fmax)':<40}{s['active_force_rmse_pct']:>9.3f}  bar {MUSCLE_BARS['active_force_rmse_pct']:g}"
    )
    click.echo(
        f"  {'passive force RMSE, worst muscle (% Fmax)':<40}{s['passive_force_rmse_pct']:>9.3f}  bar {MUSCLE_BARS['passive_force_rmse_pct']:g}"
    )
    if report_dir is not None:
        stem = model.stem
        csv_path = write_muscle_csv(muscles, report_dir / f"{stem}_muscles.csv", force)
        png = plot_worst_moment_arms(
            model, converted, muscles, report_dir / f"{stem}_moment_arms.png", force
        )
        click.echo(f"  wrote {csv_path} and {png}")
    if muscles.flags:
        click.echo(_discontinuity_note(muscles))
    return muscles.failures()


def _discontinuity_note(muscles) -> str:
    """One line: the samples where OpenSim's own path is discontinuous, and what became of them."""
    flags = sorted(muscles.flags, key=lambda f: (f.kind != "length", -f.size_mm))
    where = ", ".join(f"{f.muscle} pose {f.pose} ({f.coordinate}, {f.kind})" for f in flags[:3])
    more = f" and {len(flags) - 3} more" if len(flags) > 3 else ""
    done = "excluded from the bars" if muscles.excluded else "kept (--keep-discontinuous)"
    count = muscles.summary()["discontinuous_reference_samples"]
    return (
        f"  note: OpenSim's own path is discontinuous within +-0.1 deg at {count} muscle "
        f"samples, {done}: {where}{more}"
    )
