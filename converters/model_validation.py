"""``kintwin validate`` as one operation: convert a model and compare it with OpenSim.

:func:`validate_model` samples random poses (plus IK frames when given), compares kinematics
and mass properties (``converters.validate``), optionally the IK marker error and the muscle
paths (``converters.validate_muscles``), and returns a :class:`ModelValidation` with the bars it
missed; :func:`format_validation` is its text report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from converters.files import check_writable
from converters.validate import BARS, KinematicsReport

__all__ = [
    "ValidateConfig",
    "ModelValidation",
    "validate_model",
    "muscle_report_paths",
    "format_validation",
]


@dataclass(frozen=True)
class ValidateConfig:
    """Options of one validation.

    Attributes:
        model: the ``.osim`` file.
        ik: IK ``.mot`` whose frames are added to the poses.
        markers: marker ``.trc`` of the IK trial: adds the IK marker error (RMS, m).
        poses: random poses, uniform within the coordinate ranges.
        seed: seed of the random poses.
        position_bar_m: largest body-origin and marker error allowed (m).
        orientation_bar_rad: largest body-orientation error allowed (rad).
        mass_matrix_bar: largest relative mass-matrix error allowed.
        muscles: also compare muscle-tendon lengths and moment arms.
        report_dir: with ``muscles``, write ``<model>_muscles.csv`` and ``_moment_arms.png`` here.
        exclude_discontinuous: with ``muscles``, leave samples where OpenSim's own path is
            discontinuous out of the bars (they are listed either way).
        force: overwrite existing report files.
    """

    model: Path
    ik: Path | None = None
    markers: Path | None = None
    poses: int = 200
    seed: int = 0
    position_bar_m: float = BARS["body_position_m"]
    orientation_bar_rad: float = BARS["body_orientation_rad"]
    mass_matrix_bar: float = BARS["mass_matrix_rel"]
    muscles: bool = False
    report_dir: Path | None = None
    exclude_discontinuous: bool = True
    force: bool = False

    @property
    def bars(self) -> dict[str, float]:
        return {
            **BARS,
            "body_position_m": self.position_bar_m,
            "marker_m": self.position_bar_m,
            "body_orientation_rad": self.orientation_bar_rad,
            "mass_matrix_rel": self.mass_matrix_bar,
        }


@dataclass
class ModelValidation:
    """What :func:`validate_model` found; ``failures`` lists the bars missed (empty: passed)."""

    config: ValidateConfig
    kinematics: KinematicsReport
    random_poses: int
    ik_frames: int
    coupling_polynomials: list[dict]
    ik_marker_error: dict | None = None
    muscles: object | None = None  # a converters.validate_muscles.MuscleReport
    has_muscles: bool = False
    report_files: list[Path] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The JSON-ready report (the keys ``kintwin validate --json`` has always written)."""
        out = {
            "model": str(self.config.model),
            "random_poses": self.random_poses,
            "ik_frames": self.ik_frames,
            "kinematics": self.kinematics.as_dict(),
            "coupling_polynomials": self.coupling_polynomials,
            "bars": self.config.bars,
            "failures": self.failures,
            "passed": not self.failures,
        }
        if self.ik_marker_error is not None:
            out["ik_marker_error"] = self.ik_marker_error
        if self.muscles is not None:
            out["muscles"] = {
                "summary": self.muscles.summary(),
                "failures": self.muscles.failures(),
                "reference_discontinuities": self.muscles.flag_rows(),
                "limits": self.muscles.limit_rows(),
            }
            out["report_files"] = [str(p) for p in self.report_files]
        return out


def muscle_report_paths(model: Path, report_dir: Path) -> tuple[Path, Path]:
    """The muscle CSV and moment-arm PNG that ``report_dir`` gets for ``model``."""
    stem = Path(model).stem
    return report_dir / f"{stem}_muscles.csv", report_dir / f"{stem}_moment_arms.png"


def validate_model(config: ValidateConfig) -> ModelValidation:
    """Convert ``config.model`` and compare it with OpenSim (report files checked first)."""
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.validate import validate_kinematics

    if config.muscles and config.report_dir is not None:
        for path in muscle_report_paths(config.model, config.report_dir):
            check_writable(path, config.force)
    converted = convert_osim(config.model, ConvertOptions(meshes=False), exact=True)
    poses, locked, ik_frames, series = _poses(converted, config)
    kinematics = validate_kinematics(
        config.model, converted.mj_model, converted.kinematics, poses, locked
    )
    report = ModelValidation(
        config, kinematics, config.poses, ik_frames, converted.conversion.couplings_fit
    )
    report.failures = kinematics.failures(config.bars)
    if series is not None and config.markers is not None:
        report.ik_marker_error = _marker_error(converted, series, config.markers)
    report.has_muscles = bool(converted.osim.muscles)
    if config.muscles and report.has_muscles:
        _validate_muscles(converted, poses, config, report)
    return report


def _poses(converted, config: ValidateConfig):
    """Random poses of the free coordinates (+ the IK frames), the locked values, the IK frame
    count and the IK coordinate series (None without ``config.ik``)."""
    from converters.motion import coordinate_series
    from converters.opensim_io.table import read_table
    from converters.validate import sample_poses

    kinematics = converted.kinematics
    coordinates = converted.osim.coordinates
    locked = {c.name: c.default_value for c in coordinates.values() if c.locked}
    ranges = {c.name: c.range for c in coordinates.values()}
    free = [c for c in kinematics.independent_coordinates if c not in locked]
    sampled = sample_poses(kinematics, ranges, config.poses, config.seed)
    poses = {c: v for c, v in sampled.items() if c in free}
    if config.ik is None:
        return poses, locked, 0, None
    series = coordinate_series(read_table(config.ik), converted.osim, config.ik)
    frames = len(series.time)
    for c in free:
        default = kinematics.defaults[c]
        poses[c] = np.concatenate([poses[c], series.values.get(c, np.full(frames, default))])
    return poses, locked, frames, series


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


def _validate_muscles(converted, poses, config: ValidateConfig, report: ModelValidation) -> None:
    from converters.muscle_report import plot_worst_moment_arms, write_muscle_csv
    from converters.validate_muscles import validate_muscle_paths

    mode = "exclude" if config.exclude_discontinuous else "report"
    muscles = validate_muscle_paths(config.model, converted, poses, mode)
    report.muscles = muscles
    report.failures += muscles.failures()
    if config.report_dir is not None:
        csv_path, png_path = muscle_report_paths(config.model, config.report_dir)
        write_muscle_csv(muscles, csv_path, config.force)
        plot_worst_moment_arms(config.model, converted, muscles, png_path, config.force)
        report.report_files = [csv_path, png_path]


# ------------------------------------------------------------------------------------------- text

_ROWS = [  # label, KinematicsReport attribute, bar key
    ("body origin (m)", "body_position_m", "body_position_m"),
    ("body orientation (rad)", "body_orientation_rad", "body_orientation_rad"),
    ("marker (m)", "marker_m", "marker_m"),
    ("total mass (kg)", "mass_kg", "mass_kg"),
    ("mass matrix (relative)", "mass_matrix_rel", "mass_matrix_rel"),
]
_MUSCLE_ROWS = [  # label, summary key, bar key
    ("length error, worst median (mm)", "length_worst_median_mm", "length_median_mm"),
    ("length error, max (mm)", "length_max_mm", "length_max_mm"),
    ("moment arm RMSE, median over pairs (mm)", "moment_arm_median_rmse_mm", None),
    ("moment arm error, max (mm)", "moment_arm_max_err_mm", None),
    ("active force RMSE, worst muscle (% Fmax)", "active_force_rmse_pct", None),
    ("passive force RMSE, worst muscle (% Fmax)", "passive_force_rmse_pct", None),
]


def format_validation(report: ModelValidation) -> str:
    """The text report: one row per quantity with its worst value, bar and where."""
    k, bars = report.kinematics, report.config.bars
    lines = [
        f"model {k.model}: {k.poses} poses ({report.random_poses} random, "
        f"{report.ik_frames} IK frames); OpenSim mass {k.mass_opensim_kg:.6g} kg",
        f"  {'quantity':<24}{'worst':>11}{'bar':>10}  ok   where",
    ]
    for label, attribute, bar_key in _ROWS:
        value, bar = getattr(k, attribute), bars[bar_key]
        ok = "yes" if value <= bar else "NO"
        where = k.worst.get(attribute, "")
        lines.append(f"  {label:<24}{value:>11.2e}{bar:>10.0e}  {ok:<4} {where}")
    fits = report.coupling_polynomials
    if fits:
        worst = max(fits, key=lambda f: f["max_error"])
        lines.append(
            f"  coupling polynomials: {len(fits)}, worst {worst['max_error']:.2e} "
            f"({worst['what']}; used by the simulation's joint equalities only)"
        )
    if report.ik_marker_error is not None:
        e = report.ik_marker_error
        lines.append(
            f"  IK marker error (RMS over {e['markers']} markers): mean "
            f"{100 * e['rms_mean_m']:.2f} cm, max {100 * e['rms_max_m']:.2f} cm"
        )
    if report.config.muscles:
        lines += _muscle_lines(report)
    return "\n".join(lines)


def _muscle_lines(report: ModelValidation) -> list[str]:
    from converters.muscle_report import limit_lines
    from converters.validate_muscles import MUSCLE_BARS

    if report.muscles is None:
        return ["  muscles: none in this model"]
    muscles = report.muscles
    s = muscles.summary()
    lines = [f"  muscles: {s['muscles']}, {s['pairs']} muscle-coordinate pairs (moment arm > 1 mm)"]
    for label, key, bar_key in _MUSCLE_ROWS:
        bar = MUSCLE_BARS[bar_key or key]
        lines.append(f"  {label:<40}{s[key]:>9.3f}  bar {bar:g}")
    lines += limit_lines(muscles)
    if report.report_files:
        lines.append(f"  wrote {report.report_files[0]} and {report.report_files[1]}")
    if muscles.flags:
        lines.append(_discontinuity_note(muscles))
    return lines


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
