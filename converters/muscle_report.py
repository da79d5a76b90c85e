"""Muscle validation outputs: the per-pair CSV, the moment-arm plot (worst 12 pairs) and the
lines saying where each muscle's path stops holding."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from converters.files import atomic_output
from converters.model_conversion import ConvertedModel
from converters.muscle_limits import SAMPLE_BARS
from converters.validate_muscles import MuscleReport, validate_muscle_paths

__all__ = ["write_muscle_csv", "plot_worst_moment_arms", "limit_lines", "CSV_COLUMNS"]

CSV_COLUMNS = [
    "muscle",
    "coordinate",
    "length_median_err_mm",
    "length_max_err_mm",
    "moment_arm_rmse_mm",
    "moment_arm_max_err_mm",
    "length_p99_err_mm",
    "moment_arm_p99_err_mm",
    "active_force_rmse_pct",
    "passive_force_rmse_pct",
]


def write_muscle_csv(report: MuscleReport, path: Path, force: bool = False) -> Path:
    with atomic_output(path, force) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for row in report.rows():
                writer.writerow(
                    {
                        k: (f"{v:.6g}" if isinstance(v, float) else v)
                        for k, v in row.items()
                        if k in CSV_COLUMNS
                    }
                )
    return path


def limit_lines(report: MuscleReport, bars: dict[str, float] = SAMPLE_BARS) -> list[str]:
    """Where the paths stop holding: the worst p99s over the sampled poses, then one line per
    muscle whose p99 misses a per-sample bar or that misses one in a region of a coordinate."""
    limits = report.limits
    if not limits:
        return []
    length = max(limits, key=lambda m: m.length_p99_mm)
    arm = max(limits, key=lambda m: m.moment_arm_p99_mm)
    lines = [
        f"  p99 over {report.poses} poses: length {length.length_p99_mm:.2f} mm "
        f"({length.muscle}), moment arm {arm.moment_arm_p99_mm:.2f} mm ({arm.muscle}, "
        f"about {arm.worst_pair}); per-sample bars {bars['length_mm']:g} / "
        f"{bars['moment_arm_mm']:g} mm"
    ]
    for limit in limits:
        if limit.holds(bars) and not limit.regions:
            continue
        head = (
            f"    {limit.muscle}: p99 length {limit.length_p99_mm:.2f} mm, "
            f"moment arm {limit.moment_arm_p99_mm:.2f} mm"
        )
        where = "; ".join(region.describe() for region in limit.regions)
        lines.append(head + (f"; {where}" if where else "; misses are spread, no one region"))
    return lines


def plot_worst_moment_arms(
    osim_path: Path,
    converted: ConvertedModel,
    report: MuscleReport,
    path: Path,
    force: bool = False,
    count: int = 12,
) -> Path:
    """Moment arm vs coordinate (others at default) for the ``count`` worst pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    worst = sorted(report.pairs, key=lambda p: -p.moment_arm_max_err_mm)[:count]
    columns = 4
    rows = max(1, int(np.ceil(len(worst) / columns)))
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for axis, pair in zip(axes.flat, worst, strict=False):
        coordinate = converted.osim.coordinates[pair.coordinate]
        lo, hi = max(coordinate.range[0], -np.pi), min(coordinate.range[1], np.pi)
        sweep = validate_muscle_paths(
            osim_path, converted, {pair.coordinate: np.linspace(lo, hi, 61)}, "skip"
        )
        x, ours, theirs = sweep.curves.get((pair.muscle, pair.coordinate), (None, None, None))
        if x is None:
            continue
        scale = 180 / np.pi if coordinate.motion_type == "rotational" else 1.0
        axis.plot(x * scale, theirs * 1000, "k--", label="OpenSim")
        axis.plot(x * scale, ours * 1000, "C3-", label="KinTwin (MuJoCo)")
        axis.set_title(
            f"{pair.muscle} / {pair.coordinate}\nmax err {pair.moment_arm_max_err_mm:.2f} mm",
            fontsize=9,
        )
        axis.set_xlabel("deg" if scale != 1.0 else "m", fontsize=8)
        axis.set_ylabel("moment arm (mm)", fontsize=8)
    for axis in list(axes.flat)[len(worst) :]:
        axis.axis("off")
    if worst:
        axes.flat[0].legend(fontsize=8)
    figure.suptitle(f"{report.model}: moment arms, worst {len(worst)} muscle-coordinate pairs")
    figure.tight_layout()
    with atomic_output(path, force) as tmp:
        figure.savefig(tmp, format="png", dpi=90)
    plt.close(figure)
    return path
