"""A batch trial's outputs against its references, as ``kintwin compare`` measures them.

Written beside the trial's outputs, whether or not its report is: ``<trial>_compare_id.csv``
(one row per column common to our ``_id.sto`` and the reference ID) and ``.json`` (every number,
the columns found in one file only included, the model's coupled coordinates among them named); ``<trial>_compare_grf.csv``/``.json`` for the
ground forces against the force plates, each of our feet paired with the plate whose vertical
force follows it best (as in the report), force components only.
"""

from __future__ import annotations

from pathlib import Path

from converters.compare import (
    CompareConfig,
    compare_tables,
    coupled_columns,
    write_comparison_csv,
    write_comparison_json,
)
from converters.errors import KintwinError
from converters.opensim_io.table import read_table
from policies.batch.trials import Trial
from policies.imitation_id import ImitationOutputs

__all__ = ["compare_references", "compare_paths"]


def compare_paths(folder: Path, trial: str, what: str) -> tuple[Path, Path]:
    """``(<trial>_compare_<what>.csv, .json)`` in ``folder``; ``what`` is 'id' or 'grf'."""
    stem = f"{trial}_compare_{what}"  # not with_suffix: a trial's name may hold a dot
    return Path(folder) / f"{stem}.csv", Path(folder) / f"{stem}.json"


def compare_references(
    trial: Trial, outputs: ImitationOutputs, folder: Path, mass_kg: float | None
) -> dict:
    """Compare the trial's ID and GRF with its references (those it has) and write the files;
    returns the row's entries: columns compared, reference columns missing from ours, and an
    error (a comparison that could not be made, e.g. no common time) instead of raising."""
    row: dict = {}
    config = CompareConfig(mass_kg=mass_kg)
    if trial.reference_id is not None:
        row.update(_one("id", trial, outputs.id_sto, trial.reference_id, folder, config))
    if trial.reference_grf is not None:
        row.update(_one("grf", trial, outputs.grf_mot, trial.reference_grf, folder, config))
    return row


def _one(what: str, trial: Trial, ours_path: Path, reference_path: Path, folder: Path,
         config: CompareConfig) -> dict:  # fmt: skip
    csv_path, json_path = compare_paths(folder, trial.name, what)
    try:
        ours, reference = read_table(ours_path), read_table(reference_path)
        if what == "grf":
            from policies.report.references import match_plates

            reference = match_plates(ours, reference).renamed
        comparison = compare_tables(ours, reference, config, (str(ours_path), str(reference_path)))
        if what == "id":
            from converters.osim.cache import load_osim_cached

            couplers = load_osim_cached(trial.model).couplers
            comparison.coupled = coupled_columns(comparison.only_reference, couplers)
    except KintwinError as error:
        for stale in (csv_path, json_path):  # an earlier run's, of other outputs
            stale.unlink(missing_ok=True)
        return {f"compare_{what}_error": str(error)}
    if what == "grf":
        comparison.columns = [c for c in comparison.columns if "_force_v" in c.name]
    write_comparison_csv(comparison, csv_path, force=True)
    write_comparison_json(comparison, json_path, force=True)
    return {
        f"compare_{what}_columns": len(comparison.columns),
        f"compare_{what}_missing": ";".join(comparison.only_reference),
    }
