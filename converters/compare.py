"""Agreement between two OpenSim tables (ours vs a reference): errors per column and gait events.

Columns are matched by name (ID files name them ``<coordinate>_moment`` / ``<coordinate>_force``;
a name without that suffix also matches one with it). Errors are measured on the reference's
times inside the common time span, with our values linearly interpolated onto them. Ground
reaction force files (columns ``*force_vx/vy/vz``) also get gait events: heel strikes and toe-offs
where the vertical force (OpenSim's y is up) crosses a threshold.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from converters.errors import KintwinError
from converters.files import atomic_output
from converters.opensim_io.table import Table

__all__ = [
    "CompareConfig",
    "ColumnComparison",
    "EventError",
    "UNITS",
    "Comparison",
    "id_agreement",
    "named_columns",
    "match_columns",
    "common_span",
    "align",
    "in_span",
    "column_kind",
    "column_metrics",
    "normalised_rmse",
    "is_grf",
    "is_vertical_force",
    "gait_events",
    "event_errors",
    "compare_tables",
    "write_comparison_json",
    "write_comparison_csv",
    "CSV_FIELDS",
    "rename_prefixes",
    "coupled_columns",
]

GRAVITY = 9.81  # m/s², as in the usual %BW normalisations
TIME_TOLERANCE_S = 1e-6  # reference times this close outside our span still count as inside
EVENT_KINDS = ("heel_strike", "toe_off")
UNITS = {"moment": "N·m", "force": "N", "other": ""}  # by column kind
_SUFFIXES = ("_moment", "_force")
_GRF_FORCE = re.compile(r"force_v[xyz]$")
_VERTICAL = re.compile(r"force_vy$")


@dataclass(frozen=True)
class CompareConfig:
    """Options of one comparison.

    Attributes:
        mass_kg: subject mass (kg); adds RMSE per kg and in %BW. None: absolute errors only.
        height_m: subject height (m); with ``mass_kg`` adds moment RMSE in %BW·height.
        event_threshold_n: vertical ground force (N) above which a foot is in contact.
        gravity: gravitational acceleration (m/s²) for body weight.
        event_edge_s: events this close to either end of the common span are neither matched
            nor counted, because their partner may lie outside the data: a foot loaded at the
            start may cross the threshold just after it in one file and just before it in the
            other, and a reference event 30 ms before the end may be matched 15 ms after it.
            40 ms: the timing tolerance gait studies use.
        event_match_s: an event of ours with no reference event of the same kind this close is
            unmatched (listed, and counted as a count mismatch, not as a timing error): a foot
            that touches down just after the start in one file while the other has it loaded
            already would otherwise be paired with the next stride's event, a second away.
    """

    mass_kg: float | None = None
    height_m: float | None = None
    event_threshold_n: float = 20.0
    gravity: float = GRAVITY
    event_edge_s: float = 0.04
    event_match_s: float = 0.2

    def __post_init__(self) -> None:
        for name in ("mass_kg", "height_m"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise KintwinError(f"{name} must be positive, not {value}")
        if self.height_m is not None and self.mass_kg is None:
            raise KintwinError("a height needs a mass too (%BW·height uses both)")


@dataclass
class ColumnComparison:
    """Errors of one common column (ours minus reference), in the column's units.

    Attributes:
        name: the reference's column label.
        ours_label: our column label (differs when only one side has the _moment/_force suffix).
        kind: 'moment' (N·m), 'force' (N) or 'other' (units as in the file).
        n: reference samples compared.
        rmse: root mean square error.
        r: Pearson correlation; NaN when undefined (a constant column, or n < 2).
        peak_error: largest absolute error; ``peak_time`` (s) is where it occurs.
        rmse_per_kg: rmse / mass (N·m/kg or N/kg); None without a mass or for 'other'.
        rmse_pct_bw: forces: 100·rmse / (mass·g), in % body weight.
        rmse_pct_bwh: moments: 100·rmse / (mass·g·height), in % body weight × height.
    """

    name: str
    ours_label: str
    kind: str
    n: int
    rmse: float
    r: float
    peak_error: float
    peak_time: float
    rmse_per_kg: float | None = None
    rmse_pct_bw: float | None = None
    rmse_pct_bwh: float | None = None


@dataclass(frozen=True)
class EventError:
    """One of our gait events against its partner: a reference event of the same kind.

    Attributes:
        group: the vertical force column the event comes from (e.g. '1_ground_force_vy').
        kind: 'heel_strike' (force rises above the threshold) or 'toe_off' (falls below it).
        time: our event time (s).
        reference_time: the paired reference event (s); None if no free one is close enough.
        error_ms: (time - reference_time) in milliseconds; None if unmatched.
    """

    group: str
    kind: str
    time: float
    reference_time: float | None
    error_ms: float | None


@dataclass
class Comparison:
    """Everything ``compare_tables`` measured; ``as_dict`` gives the JSON-ready numbers."""

    ours: str
    reference: str
    span: tuple[float, float]
    config: CompareConfig
    columns: list[ColumnComparison]
    only_ours: list[str]
    only_reference: list[str]
    grf: bool = False
    events: list[EventError] = field(default_factory=list)
    event_counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    coupled: dict[str, list[str]] = field(default_factory=dict)

    @property
    def max_event_error_ms(self) -> float | None:
        """Largest absolute event timing error (ms); None without matched events."""
        errors = [abs(e.error_ms) for e in self.events if e.error_ms is not None]
        return max(errors) if errors else None

    def as_dict(self) -> dict:
        return _json_safe(
            {
                "ours": self.ours,
                "reference": self.reference,
                "span_s": list(self.span),
                "config": asdict(self.config),
                "columns": [asdict(c) for c in self.columns],
                "only_ours": self.only_ours,
                "only_reference": self.only_reference,
                "grf": self.grf,
                "events": [asdict(e) for e in self.events],
                "event_counts": self.event_counts,
                "max_event_error_ms": self.max_event_error_ms,
                "coupled": self.coupled,
            }
        )


def _json_safe(value: object) -> object:
    """NaN and infinities become None (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------- columns


def named_columns(table: Table) -> dict[str, np.ndarray]:
    """Columns by unique name: a repeated label's k-th occurrence (k >= 2) is named 'label#k'.

    Old SIMM-header GRF files repeat the ground-force labels for the second foot.
    """
    seen: dict[str, int] = {}
    columns = {}
    for i, label in enumerate(table.labels):
        seen[label] = seen.get(label, 0) + 1
        name = label if seen[label] == 1 else f"{label}#{seen[label]}"
        columns[name] = table.data[:, i]
    return columns


def _base(label: str) -> str:
    return label.split("#")[0]


def _stem(label: str) -> str:
    """The label without a trailing _moment/_force (kept on any '#k' duplicate marker)."""
    base, _, duplicate = label.partition("#")
    for suffix in _SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return f"{base}#{duplicate}" if duplicate else base


def match_columns(
    ours: list[str], reference: list[str]
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Pair columns by name, then by name when only one side has a _moment/_force suffix.

    Returns (pairs of (ours, reference) labels in reference order, ours only, reference only).
    """
    exact = set(ours) & set(reference)
    spare = {}
    for label in ours:
        if label not in exact:
            spare.setdefault(_stem(label), []).append(label)
    pairs = []
    for label in reference:
        if label in exact:
            pairs.append((label, label))
            continue
        candidates = spare.get(_stem(label), [])
        chosen = [c for c in candidates if c == _stem(c) or label == _stem(label)]
        if len(chosen) == 1:
            pairs.append((chosen[0], label))
            candidates.remove(chosen[0])
    paired_ours = {o for o, _ in pairs}
    paired_reference = {r for _, r in pairs}
    return (
        pairs,
        [x for x in ours if x not in paired_ours],
        [x for x in reference if x not in paired_reference],
    )


def coupled_columns(labels: list[str], couplers: list) -> dict[str, list[str]]:
    """The ``labels`` that are generalized forces of a coupled (dependent) coordinate, e.g.
    ``knee_angle_r_beta_force`` in OpenSim's ID of OpenCap's model (the patella follows the
    knee), with the independent coordinates it follows: kintwin's ID has no such column, the
    dependent's force being carried by its independent coordinates (the coupling Jacobian).
    ``couplers``: the model's ``CouplerConstraint`` list (``OsimModel.couplers``)."""
    followed = {c.dependent: list(c.independent) for c in couplers}
    return {label: followed[_stem(label)] for label in labels if _stem(label) in followed}


def column_kind(label: str) -> str:
    """'moment' (N·m), 'force' (N) or 'other', from an OpenSim column label."""
    base = _base(label)
    if base.endswith("_moment") or "torque" in base:
        return "moment"
    if base.endswith("_force") or _GRF_FORCE.search(base):
        return "force"
    return "other"


# ------------------------------------------------------------------------------------ time and errors


def common_span(ours_time: np.ndarray, reference_time: np.ndarray) -> tuple[float, float] | None:
    """The common time span (s) of two increasing time vectors; None if they do not overlap."""
    start = max(float(ours_time[0]), float(reference_time[0]))
    end = min(float(ours_time[-1]), float(reference_time[-1]))
    if end < start - TIME_TOLERANCE_S:
        return None
    return start, max(start, end)


def align(
    ours_time: np.ndarray,
    ours_values: np.ndarray,
    reference_time: np.ndarray,
    span: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Reference sample indices inside ``span`` and our (n,) values interpolated at their times."""
    index = np.flatnonzero(in_span(reference_time, span))
    return index, np.interp(reference_time[index], ours_time, ours_values)


def in_span(times: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    """Boolean mask of ``times`` inside ``span`` (within TIME_TOLERANCE_S)."""
    return (times >= span[0] - TIME_TOLERANCE_S) & (times <= span[1] + TIME_TOLERANCE_S)


def column_metrics(time: np.ndarray, ours: np.ndarray, reference: np.ndarray) -> dict:
    """n, rmse, Pearson r (NaN if undefined), peak absolute error and its time, for (n,) arrays."""
    error = ours - reference
    peak = int(np.argmax(np.abs(error)))
    r = math.nan
    if len(error) > 1 and np.ptp(ours) > 0 and np.ptp(reference) > 0:
        r = float(np.corrcoef(ours, reference)[0, 1])
    return {
        "n": len(error),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "r": r,
        "peak_error": float(abs(error[peak])),
        "peak_time": float(time[peak]),
    }


def normalised_rmse(rmse: float, kind: str, config: CompareConfig) -> dict:
    """rmse_per_kg, rmse_pct_bw (forces) and rmse_pct_bwh (moments) as ``config`` allows."""
    out: dict[str, float | None] = {"rmse_per_kg": None, "rmse_pct_bw": None, "rmse_pct_bwh": None}
    if config.mass_kg is None or kind == "other":
        return out
    weight = config.mass_kg * config.gravity
    out["rmse_per_kg"] = rmse / config.mass_kg
    if kind == "force":
        out["rmse_pct_bw"] = 100.0 * rmse / weight
    elif config.height_m is not None:
        out["rmse_pct_bwh"] = 100.0 * rmse / (weight * config.height_m)
    return out


# ------------------------------------------------------------------------------------ gait events


def is_grf(labels: list[str]) -> bool:
    """True when some label names a ground force component (``*force_vx/vy/vz``)."""
    return any(_GRF_FORCE.search(_base(label)) for label in labels)


def is_vertical_force(label: str) -> bool:
    """True for a vertical ground force label (``*force_vy``): one per plate or foot."""
    return bool(_VERTICAL.search(_base(label)))


def gait_events(time: np.ndarray, vertical: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """Heel strikes (rising crossings of ``threshold``) and toe-offs (falling ones), in s.

    Crossing times are linearly interpolated between the two samples around the crossing.
    """
    above = vertical > threshold
    i = np.flatnonzero(above[1:] != above[:-1])
    fraction = (threshold - vertical[i]) / (vertical[i + 1] - vertical[i])
    times = time[i] + fraction * (time[i + 1] - time[i])
    rising = above[i + 1]
    return {"heel_strike": times[rising], "toe_off": times[~rising]}


def event_errors(
    group: str,
    ours: dict[str, np.ndarray],
    reference: dict[str, np.ndarray],
    span: tuple[float, float],
    max_distance: float = np.inf,
) -> list[EventError]:
    """Each of our events inside ``span`` paired one-to-one with a reference event of the same
    kind, closest pairs first (unmatched when no free reference event lies within
    ``max_distance`` s: an extra event, such as a foot bouncing, is not paired with the event
    another of ours already matched)."""
    found = []
    for kind in EVENT_KINDS:
        mine = [float(t) for t in ours[kind] if in_span(t, span)]
        theirs = [float(t) for t in reference[kind]]
        pairs = sorted(
            (abs(t - r), i, j)
            for i, t in enumerate(mine)
            for j, r in enumerate(theirs)
            if abs(t - r) <= max_distance
        )
        partner: dict[int, float] = {}
        taken: set[int] = set()
        for _, i, j in pairs:
            if i not in partner and j not in taken:
                partner[i] = theirs[j]
                taken.add(j)
        for i, t in enumerate(mine):
            r = partner.get(i)
            error = None if r is None else 1000.0 * (t - r)
            found.append(EventError(group, kind, t, r, error))
    return sorted(found, key=lambda e: e.time)


# ----------------------------------------------------------------------------------------- tables


def rename_prefixes(table: Table, renames: list[tuple[str, str]]) -> Table:
    """``table`` with each label starting with an old prefix given the new one (first match).

    For files whose feet are named differently, e.g. ours ``r_ground_force_vy`` against a force
    plate file's ``ground_force_vy``: ``[("r_", ""), ("l_", "1_")]``.
    """
    labels = []
    for label in table.labels:
        for old, new in renames:
            if label.startswith(old):
                label = new + label[len(old) :]
                break
        labels.append(label)
    renamed = table.with_data(table.data)
    renamed.labels = labels
    return renamed


def compare_tables(
    ours: Table,
    reference: Table,
    config: CompareConfig,
    names: tuple[str, str] = ("ours", "reference"),
) -> Comparison:
    """Errors of every common column and, for GRF tables, gait event timing errors.

    ``names`` (usually the two file paths) appear in the result and in error messages.
    Raises KintwinError when the tables share no column or do not overlap in time.
    """
    ours_columns, reference_columns = named_columns(ours), named_columns(reference)
    pairs, only_ours, only_reference = match_columns(list(ours_columns), list(reference_columns))
    if not pairs:
        raise KintwinError(
            f"{names[0]} and {names[1]} have no column in common "
            f"({names[0]}: {_shown(list(ours_columns))}; {names[1]}: {_shown(list(reference_columns))})"
        )
    span = common_span(ours.time, reference.time)
    if span is None or not np.any(in_span(reference.time, span)):
        raise KintwinError(
            f"{names[0]} ({_range(ours.time)}) and {names[1]} ({_range(reference.time)}) "
            "do not overlap in time"
        )
    columns = [
        _compare_column(
            ours.time, ours_columns[o], reference.time, reference_columns[r], o, r, span, config
        )
        for o, r in pairs
    ]
    events, counts = [], {}
    edge = config.event_edge_s
    inner = (span[0] + edge, span[1] - edge)
    for ours_label, label in [(o, r) for o, r in pairs if is_vertical_force(r)]:
        mine = gait_events(ours.time, ours_columns[ours_label], config.event_threshold_n)
        theirs = gait_events(reference.time, reference_columns[label], config.event_threshold_n)
        events += event_errors(label, mine, theirs, inner, config.event_match_s)
        counts[label] = {
            k: {"ours": _count(mine[k], inner), "reference": _count(theirs[k], inner)}
            for k in EVENT_KINDS
        }
    grf = is_grf(list(reference_columns))
    return Comparison(
        names[0], names[1], span, config, columns, only_ours, only_reference, grf, events, counts
    )


def _compare_column(
    ours_time: np.ndarray,
    ours_values: np.ndarray,
    reference_time: np.ndarray,
    reference_values: np.ndarray,
    ours_label: str,
    label: str,
    span: tuple[float, float],
    config: CompareConfig,
) -> ColumnComparison:
    """Metrics of one column pair on the reference's times inside ``span``."""
    index, values = align(ours_time, ours_values, reference_time, span)
    metrics = column_metrics(reference_time[index], values, reference_values[index])
    kind = column_kind(label) if column_kind(label) != "other" else column_kind(ours_label)
    rmse = normalised_rmse(metrics["rmse"], kind, config)
    return ColumnComparison(label, ours_label, kind, **metrics, **rmse)


def _count(times: np.ndarray, span: tuple[float, float]) -> int:
    return int(np.sum(in_span(times, span)))


def _shown(labels: list[str], count: int = 8) -> str:
    return ", ".join(labels[:count]) + (", ..." if len(labels) > count else "")


def _range(time: np.ndarray) -> str:
    return f"{float(time[0]):g} to {float(time[-1]):g} s"


def write_comparison_json(comparison: Comparison, path: str | Path, force: bool = False) -> Path:
    """Write ``comparison.as_dict()`` as JSON (atomic; refuses an existing file without force)."""
    with atomic_output(path, force) as tmp:
        tmp.write_text(json.dumps(comparison.as_dict(), indent=1) + "\n", encoding="utf-8")
    return Path(path)


CSV_FIELDS = ("name", "ours_label", "kind", "unit", "n", "rmse", "r", "peak_error", "peak_time",
              "rmse_per_kg", "rmse_pct_bw", "rmse_pct_bwh")  # fmt: skip


def write_comparison_csv(comparison: Comparison, path: str | Path, force: bool = False) -> Path:
    """Write one row per common column (``CSV_FIELDS``; ``unit`` of ``rmse`` and ``peak_error``;
    an undefined r or normalisation is an empty cell). Atomic; refuses an existing file without
    force."""
    import csv

    with atomic_output(path, force) as tmp, open(tmp, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_FIELDS)
        for column in comparison.columns:
            row = {**asdict(column), "unit": UNITS[column.kind]}
            writer.writerow(["" if _json_safe(row[f]) is None else row[f] for f in CSV_FIELDS])
    return Path(path)


# ------------------------------------------------------------------------------------ ID benchmark


def id_agreement(ours: Table, reference: Table, edge: float = 0.05) -> dict:
    """Worst column against the ID bar max(0.5 N·m or N, 1 % of the column's peak).

    Reference columns are interpolated onto our times; the first and last ``edge`` seconds are
    left out (filter and spline end effects). ``ratio`` <= 1 means within the bar.
    """
    inner = (ours.time > ours.time[0] + edge) & (ours.time < ours.time[-1] - edge)
    worst = {"ratio": 0.0, "column": None, "max_error": 0.0, "tolerance": 0.0}
    for label in reference.labels:
        expected = np.interp(ours.time, reference.time, reference.column(label))
        tolerance = max(0.5, 0.01 * float(np.abs(expected).max()))
        error = float(np.abs(ours.column(label) - expected)[inner].max())
        if error / tolerance > worst["ratio"]:
            worst = {
                "ratio": error / tolerance,
                "column": label,
                "max_error": error,
                "tolerance": tolerance,
            }
    return {
        "columns": len(reference.labels),
        "frames": int(inner.sum()),
        "worst": worst,
        "within_bar": worst["ratio"] <= 1.0,
    }
