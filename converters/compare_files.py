"""``kintwin compare`` as one operation: two table files in, a :class:`Comparison` out (+ plot)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from converters.compare import CompareConfig, Comparison
from converters.errors import KintwinError
from converters.files import check_writable

__all__ = ["CompareFiles", "compare_files"]


@dataclass(frozen=True)
class CompareFiles:
    """Compare the table ``ours`` with ``reference`` (``.sto``/``.mot``/``.csv``).

    Attributes:
        ours: our table; its columns are interpolated onto the reference's times.
        reference: the reference table.
        mass_kg: subject mass (kg) for RMSE per kg and in %BW; or take it from ``model``.
        model: ``.osim`` model whose total body mass is the subject mass (not with ``mass_kg``);
            its coordinate couplers name the reference's columns of coupled coordinates.
        height_m: subject height (m), with a mass: moment RMSE in %BW·height.
        event_threshold_n: vertical ground force (N) that marks contact, for gait events.
        renames: (old, new) label prefixes applied to ``ours`` first, e.g. (("r_", ""),).
        plot: PNG to write (one subplot per column); None: no plot.
        force: overwrite an existing ``plot`` or ``csv``.
        csv: CSV to write, one row per common column; None: none.
    """

    ours: Path
    reference: Path
    mass_kg: float | None = None
    model: Path | None = None
    height_m: float | None = None
    event_threshold_n: float = 20.0
    renames: tuple[tuple[str, str], ...] = ()
    plot: Path | None = None
    force: bool = False
    csv: Path | None = None


def compare_files(config: CompareFiles) -> Comparison:
    """Read both tables, compare them (see :func:`converters.compare.compare_tables`) and write
    the plot and the CSV if asked; their paths are checked before any work."""
    from converters.compare import (
        compare_tables,
        coupled_columns,
        rename_prefixes,
        write_comparison_csv,
    )
    from converters.opensim_io.table import read_table

    for output in (config.plot, config.csv):
        if output is not None:
            check_writable(output, config.force)
    mass, couplers = config.mass_kg, []
    if config.model is not None:
        if mass is not None:
            raise KintwinError("give a mass or a model to take it from, not both")
        from converters.osim.parser import load_osim

        osim = load_osim(config.model)
        mass, couplers = osim.total_mass, osim.couplers
    settings = CompareConfig(
        mass_kg=mass, height_m=config.height_m, event_threshold_n=config.event_threshold_n
    )
    ours, reference = read_table(config.ours), read_table(config.reference)
    if config.renames:
        ours = rename_prefixes(ours, list(config.renames))
    names = (str(config.ours), str(config.reference))
    comparison = compare_tables(ours, reference, settings, names)
    comparison.coupled = coupled_columns(comparison.only_reference, couplers)
    if config.csv is not None:
        write_comparison_csv(comparison, config.csv, config.force)
    if config.plot is not None:
        from converters.compare_plot import plot_comparison

        plot_comparison(ours, reference, comparison, config.plot, config.force)
    return comparison
