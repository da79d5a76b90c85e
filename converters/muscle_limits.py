"""Where a muscle's MuJoCo path stops following OpenSim's.

Over poses sampled uniformly in the coordinate ranges, each muscle gets its 99th-percentile
length and moment-arm errors, and the regions of each spanned coordinate where the misses of a
per-sample bar gather. The coordinate's sampled range is cut into bins (at least
``MIN_PER_BIN`` samples each); a bin fails when at least ``MIN_OVER`` of its samples miss the
bar and they are more than 1 % of them (the p99 there is over the bar) and more than
``CONCENTRATION`` times the muscle's share of misses over all samples (so a coordinate along
which the misses are merely spread, the elbow's when they come from a raised shoulder, shows no
region); failing neighbours merge. Regions wider than ``LOCAL_SHARE`` of the range say nothing
about where and are left out. Samples the validator excluded (OpenSim's own path
discontinuous there) take no part.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["Region", "MuscleLimit", "stand_in_limits", "LOCAL_SHARE", "SAMPLE_BARS"]

SAMPLE_BARS = {"length_mm": 5.0, "moment_arm_mm": 10.0}  # the per-sample maxima
LOCAL_SHARE = 0.6  # a region wider than this share of the sampled range is not a "where"
FAIL_SHARE = 0.01  # a bin fails when more than this share of its samples is over the bar,
CONCENTRATION = 3.0  # more than this multiple of the share over all samples,
MIN_OVER = 3  # and at least this many of its samples
MIN_PER_BIN = 30  # samples per bin, at least (fewer bins for fewer poses)
MAX_BINS = 36


@dataclass
class Region:
    """Values of ``coordinate`` (``low``..``high``, deg or m) where a muscle's ``quantity``
    ("length", or "moment arm about <coordinate>") misses ``bar_mm`` in more than 1 % of the
    ``samples`` there (``over`` of them)."""

    coordinate: str
    low: float
    high: float
    unit: str
    quantity: str
    bar_mm: float
    samples: int
    over: int

    def describe(self) -> str:
        return (
            f"{self.quantity} error over {self.bar_mm:g} mm at {self.coordinate} "
            f"{self.low:.4g}..{self.high:.4g} {self.unit} ({self.over} of {self.samples} samples)"
        )


@dataclass
class MuscleLimit:
    """A muscle's p99 errors (mm) over the samples, and the regions where it misses the bars."""

    muscle: str
    samples: int
    length_p99_mm: float
    moment_arm_p99_mm: float
    worst_pair: str
    regions: list[Region] = field(default_factory=list)

    def holds(self, bars: dict[str, float] = SAMPLE_BARS) -> bool:
        return (
            self.length_p99_mm <= bars["length_mm"]
            and self.moment_arm_p99_mm <= bars["moment_arm_mm"]
        )

    def as_dict(self) -> dict:
        return asdict(self)


def stand_in_limits(
    values: dict[str, np.ndarray],
    units: dict[str, str],
    spans: dict[str, list[str]],
    length_error_mm: dict[str, np.ndarray],
    moment_arm_error_mm: dict[tuple[str, str], np.ndarray],
    bars: dict[str, float] = SAMPLE_BARS,
) -> list[MuscleLimit]:
    """Per muscle: p99 of |length error| and of |moment-arm error| (worst pair), and the local
    regions where either misses its bar.

    Args:
        values: coordinate -> (n,) sampled values in display units (deg or m, see ``units``).
        units: coordinate -> "deg" or "m".
        spans: muscle -> the coordinates it spans (regions are looked for along these).
        length_error_mm: muscle -> (n,) |error|, NaN where the sample is not judged.
        moment_arm_error_mm: (muscle, coordinate) -> (n,) |error|, NaN where not judged.
    """
    out = []
    for muscle, coordinates in spans.items():
        length = length_error_mm[muscle]
        arms = {c: e for (m, c), e in moment_arm_error_mm.items() if m == muscle}
        arm_p99 = {c: _p99(e) for c, e in arms.items()}
        worst = max(arm_p99, key=lambda c: arm_p99[c], default="")
        limit = MuscleLimit(
            muscle,
            int(np.sum(np.isfinite(length))),
            _p99(length),
            arm_p99.get(worst, 0.0),
            worst,
        )
        series = [("length", length, bars["length_mm"])] + [
            (f"moment arm about {c}", e, bars["moment_arm_mm"]) for c, e in arms.items()
        ]
        for quantity, errors, bar in series:
            for coordinate in coordinates:
                limit.regions += _regions(
                    values[coordinate], errors, bar, coordinate, units[coordinate], quantity
                )
        out.append(limit)
    return out


def _p99(errors: np.ndarray) -> float:
    finite = errors[np.isfinite(errors)]
    return float(np.percentile(finite, 99)) if finite.size else 0.0


def _regions(
    x: np.ndarray, errors: np.ndarray, bar: float, coordinate: str, unit: str, quantity: str
) -> list[Region]:
    """Merged failing bins of ``x`` (see the module's docstring); only local ones."""
    judged = np.isfinite(errors)
    x, errors = x[judged], errors[judged]
    if x.size == 0 or np.ptp(x) == 0:
        return []
    bins = int(np.clip(x.size // MIN_PER_BIN, 1, MAX_BINS))
    edges = np.linspace(x.min(), x.max(), bins + 1)
    index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    over = np.bincount(index, weights=errors > bar, minlength=bins).astype(int)
    share = max(FAIL_SHARE, CONCENTRATION * float(np.mean(errors > bar)))
    failing = (over >= MIN_OVER) & (over > share * count)
    found, k = [], 0
    while k < bins:
        if not failing[k]:
            k += 1
            continue
        j = k
        while j + 1 < bins and failing[j + 1]:
            j += 1
        if edges[j + 1] - edges[k] <= LOCAL_SHARE * (edges[-1] - edges[0]):
            region = Region(
                coordinate,
                float(edges[k]),
                float(edges[j + 1]),
                unit,
                quantity,
                bar,
                int(count[k : j + 1].sum()),
                int(over[k : j + 1].sum()),
            )
            found.append(region)
        k = j + 1
    return found
