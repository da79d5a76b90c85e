"""Our trial's tables against the references a user gives (OpenSim ID, force plates, SO).

Errors come from ``converters.compare`` (the numbers ``kintwin compare`` prints). Force-plate
files name their plates freely (``ground_force_vy``, ``1_ground_force_vy``); each of our feet is
paired with the plate whose vertical force correlates best with its own, so no renaming is
needed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from converters.compare import CompareConfig, Comparison, compare_tables, rename_prefixes
from converters.opensim_io.table import Table

__all__ = ["PlatePairing", "grf_groups", "match_plates", "compare"]

VERTICAL = "ground_force_vy"


@dataclass
class PlatePairing:
    """Which reference plate (column prefix) stands for which of our feet, and how well.

    Attributes:
        pairs: our prefix -> the reference's prefix.
        correlation: our prefix -> Pearson r of the two vertical forces over the common span.
        renamed: the reference table with its plates renamed to our feet's prefixes.
    """

    pairs: dict[str, str]
    correlation: dict[str, float]
    renamed: Table
    unpaired: list[str] = field(default_factory=list)


def grf_groups(table: Table) -> list[str]:
    """The column prefixes of the force groups of a GRF table (``r_``, ``1_``, ``''``)."""
    return [label[: -len(VERTICAL)] for label in table.labels if label.endswith(VERTICAL)]


def _correlation(a_time, a, b_time, b) -> float:
    lo, hi = max(a_time[0], b_time[0]), min(a_time[-1], b_time[-1])
    inside = (b_time >= lo) & (b_time <= hi)
    if inside.sum() < 3:
        return float("nan")
    ours = np.interp(b_time[inside], a_time, a)
    theirs = b[inside]
    if np.std(ours) == 0 or np.std(theirs) == 0:
        return float("nan")
    return float(np.corrcoef(ours, theirs)[0, 1])


def match_plates(ours: Table, reference: Table) -> PlatePairing:
    """Pair our feet with the reference's plates by the best total vertical-force correlation."""
    mine, theirs = grf_groups(ours), grf_groups(reference)
    r = {
        (m, t): _correlation(
            ours.time, ours.column(m + VERTICAL), reference.time, reference.column(t + VERTICAL)
        )
        for m in mine
        for t in theirs
    }
    best, best_score = {}, -np.inf
    for chosen in itertools.permutations(theirs, min(len(mine), len(theirs))):
        score = sum(np.nan_to_num(r[(m, t)], nan=-1.0) for m, t in zip(mine, chosen, strict=False))
        if score > best_score:
            best, best_score = dict(zip(mine, chosen, strict=False)), score
    unpaired = [t for t in theirs if t not in best.values()]
    kept = [
        i for i, label in enumerate(reference.labels) if _plate_of(label, theirs) in best.values()
    ]
    reference = Table(
        time=reference.time,
        labels=[reference.labels[i] for i in kept],
        data=reference.data[:, kept],
        name=reference.name,
        in_degrees=reference.in_degrees,
    )
    # longest prefix first: the empty prefix would otherwise claim every column
    renames = sorted(((t, m) for m, t in best.items()), key=lambda x: -len(x[0]))
    renamed = rename_prefixes(reference, renames)
    return PlatePairing(
        pairs=best,
        correlation={m: r[(m, t)] for m, t in best.items()},
        renamed=renamed,
        unpaired=unpaired,
    )


def _plate_of(label: str, prefixes: list[str]) -> str | None:
    """The longest of ``prefixes`` that ``label`` belongs to (a GRF force, point or torque)."""
    for prefix in sorted(prefixes, key=len, reverse=True):
        rest = label[len(prefix) :]
        if label.startswith(prefix) and rest.startswith("ground_"):
            return prefix
    return None


def compare(
    ours: Table, reference: Table, mass_kg: float | None, names: tuple[str, str]
) -> Comparison:
    """``converters.compare.compare_tables`` with the body mass (per-kg and %BW errors)."""
    return compare_tables(ours, reference, CompareConfig(mass_kg=mass_kg), names)
