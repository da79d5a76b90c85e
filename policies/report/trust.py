"""Trust flags of one imitation trial: can its moments and forces be believed?

Each flag compares one measurement with a bar and says ``ok`` True/False, or None when it could
not be measured (and why). The bars:

* tracking: 2° per rotational coordinate and 2 cm per translational one (RMSE), the bars the
  imitation benchmark holds the shipped policy to; a body that does not follow the motion did
  not need the reported moments to do it;
* fall: the policy kept the model up over the whole trial;
* root residuals: 2 %BW RMS, where residual actuators were used (without them the root is
  unactuated and every force on the body came from the feet);
* foot slip: 5 cm per stance; a foot that slides that far is skidding rather than rolling (a
  walking heel slides a few centimetres at most at heel strike), so its shear force is wrong;
* distance from the training motions: the 95th percentile, over the trial's frames, of the
  distance (RMS over rotational coordinates, degrees) from each frame's pose to the nearest pose
  of the policy's training motions, at most 5°; a policy is only known to work near the
  motions it learnt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from converters.errors import KintwinError
from converters.opensim_io.table import Table, read_table

__all__ = ["TrustBars", "Flag", "TrainingDistance", "training_distance", "trust_flags"]

MAX_TRAINING_FRAMES = 20000  # training frames compared (evenly subsampled beyond)


@dataclass(frozen=True)
class TrustBars:
    """The bars of the trust flags (see the module docstring for their reasons)."""

    tracking_deg: float = 2.0
    tracking_cm: float = 2.0
    residual_pct_bw: float = 2.0
    slip_cm: float = 5.0
    training_distance_deg: float = 5.0
    contact_n: float = 20.0  # vertical force (N) above which a foot carries load


@dataclass
class Flag:
    """One trust flag: ``ok`` is None when it could not be measured (``detail`` says why)."""

    name: str
    ok: bool | None
    value: str
    bar: str
    detail: str = ""


@dataclass
class TrainingDistance:
    """How far the trial's poses lie from the policy's training motions.

    Attributes:
        coordinates: the rotational coordinates compared.
        time: (n,) s, the trial's frames; distance: (n,) deg RMS to the nearest training pose.
        ranges: per coordinate, (training min, training max, trial min, trial max) in degrees.
        motions: the training motion files read; missing: those that could not be found.
    """

    coordinates: list[str]
    time: np.ndarray
    distance: np.ndarray
    ranges: dict[str, tuple[float, float, float, float]]
    motions: list[str]
    missing: list[str] = field(default_factory=list)

    @property
    def p95(self) -> float:
        return float(np.percentile(self.distance, 95))

    def outside(self) -> dict[str, float]:
        """Degrees by which the trial leaves each coordinate's training range (only those > 0)."""
        excess = {}
        for name, (lo, hi, tlo, thi) in self.ranges.items():
            beyond = max(lo - tlo, thi - hi, 0.0)
            if beyond > 0.0:
                excess[name] = beyond
        return excess


def _degrees(table: Table, rotational: list[str]) -> dict[str, np.ndarray]:
    """Rotational columns of ``table`` in degrees (a table without inDegrees is taken as degrees,
    as OpenSim's SIMM motion files are)."""
    scale = 1.0 if table.in_degrees in (True, None) else 180.0 / math.pi
    return {c: table.column(c) * scale for c in rotational if c in table.labels}


def training_distance(
    trial: Table, motions: list[Path], rotational: list[str], missing: list[str] | None = None
) -> TrainingDistance:
    """Distance of ``trial``'s poses from the training ``motions`` (IK files)."""
    found = [str(m) for m in motions]
    if not found:
        raise KintwinError("none of the policy's training motions was found")
    theirs = [_degrees(read_table(m), rotational) for m in found]
    ours = _degrees(trial, rotational)
    names = [c for c in rotational if c in ours and all(c in t for t in theirs)]
    if not names:
        raise KintwinError("the training motions share no coordinate with the trial")
    pose = np.column_stack([ours[c] for c in names])
    train = np.concatenate([np.column_stack([t[c] for c in names]) for t in theirs])
    if len(train) > MAX_TRAINING_FRAMES:
        train = train[:: math.ceil(len(train) / MAX_TRAINING_FRAMES)]
    nearest = np.empty(len(pose))
    for start in range(0, len(pose), 256):  # (256, m) blocks of squared distances
        block = pose[start : start + 256, None, :] - train[None, :, :]
        nearest[start : start + 256] = np.sqrt(np.min(np.mean(block**2, axis=2), axis=1))
    ranges = {
        c: (float(train[:, k].min()), float(train[:, k].max()), float(pose[:, k].min()),
            float(pose[:, k].max()))
        for k, c in enumerate(names)
    }  # fmt: skip
    return TrainingDistance(names, trial.time, nearest, ranges, found, list(missing or []))


def trust_flags(
    summary: dict,
    bars: TrustBars,
    slips: list | None = None,
    slip_note: str = "",
    distance: TrainingDistance | None = None,
    distance_note: str = "",
) -> list[Flag]:
    """The trial's flags, worst news first in the order a reader checks them."""
    flags = [_fall_flag(summary)]
    flags.append(_tracking_flag(summary, bars))
    flags.append(_residual_flag(summary, bars))
    if slips:
        worst = max(slips, key=lambda s: s.worst_cm)
        flags.append(
            Flag(
                "foot slip",
                worst.worst_cm <= bars.slip_cm,
                f"{worst.worst_cm:.1f} cm ({worst.prefix.rstrip('_')} foot)",
                f"≤ {bars.slip_cm:g} cm per stance",
                ", ".join(
                    f"{s.prefix.rstrip('_')}: worst {s.worst_cm:.1f} cm over "
                    f"{s.stances} stances, mean {s.mean_speed_cm_s:.1f} cm/s"
                    for s in slips
                ),
            )  # fmt: skip
        )
    else:
        flags.append(Flag("foot slip", None, "not measured", f"≤ {bars.slip_cm:g} cm", slip_note))
    if distance is not None:
        outside = distance.outside()
        detail = (
            "outside the training range: "
            + ", ".join(f"{c} by {v:.1f}°" for c, v in sorted(outside.items(), key=lambda x: -x[1]))
            if outside
            else "every coordinate within its training range"
        )
        flags.append(
            Flag(
                "distance from training motions",
                distance.p95 <= bars.training_distance_deg,
                f"{distance.p95:.1f}° (95th percentile)",
                f"≤ {bars.training_distance_deg:g}°",
                detail,
            )  # fmt: skip
        )
    else:
        flags.append(Flag("distance from training motions", None, "not measured",
                          f"≤ {bars.training_distance_deg:g}°", distance_note))  # fmt: skip
    return flags


def _fall_flag(summary: dict) -> Flag:
    fell = bool(summary["fell"])
    tracked = float(summary.get("fraction_tracked", 0.0 if fell else 1.0))
    end = summary.get("time_span_s", [0.0, 0.0])[1]
    value = f"fell at {end:.2f} s ({100 * tracked:.0f} % tracked)" if fell else "no fall"
    return Flag("fall", not fell, value, "no fall", "")


def tracking_rows(summary: dict, bars: TrustBars) -> list[tuple[str, float, str, float, bool]]:
    """(coordinate, RMSE, unit, bar, within) for every tracked coordinate."""
    rows = []
    for name, value in summary["tracking_rmse"].items():
        unit = summary.get("tracking_units", {}).get(name, "deg")
        bar = bars.tracking_cm if unit == "cm" else bars.tracking_deg
        rows.append((name, float(value), unit, bar, float(value) <= bar))
    return rows


def _tracking_flag(summary: dict, bars: TrustBars) -> Flag:
    rows = tracking_rows(summary, bars)
    missed = [f"{n} {v:.2f} {u}" for n, v, u, _, ok in rows if not ok]
    worst = max(rows, key=lambda r: r[1] / r[3])
    return Flag(
        "tracking",
        not missed,
        f"worst {worst[0]} {worst[1]:.2f} {worst[2]}",
        f"≤ {bars.tracking_deg:g}° / {bars.tracking_cm:g} cm per coordinate",
        ("over the bar: " + ", ".join(missed)) if missed else
        f"{summary.get('tracking_rms_deg', float('nan')):.2f}° RMS over the joints",
    )  # fmt: skip


def _residual_flag(summary: dict, bars: TrustBars) -> Flag:
    residuals = summary.get("residuals", {})
    if not residuals.get("used"):
        return Flag("root residuals", True, "none used", f"≤ {bars.residual_pct_bw:g} %BW",
                    "the root is unactuated: every force on the body came from the feet")  # fmt: skip
    value = float(residuals["rms_percent_bw"])
    return Flag("root residuals", value <= bars.residual_pct_bw, f"{value:.2f} %BW RMS",
                f"≤ {bars.residual_pct_bw:g} %BW", "")  # fmt: skip
