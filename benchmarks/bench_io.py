"""File I/O speed: read and write every table and marker file in the shared data."""

from __future__ import annotations

import time
from pathlib import Path

from converters.errors import KintwinError
from converters.opensim_io.table import format_table, read_table
from converters.opensim_io.trc import format_trc, read_trc


def _time_files(files: list[Path], read, fmt) -> dict:
    n_values, read_s, write_s, failed = 0, 0.0, 0.0, []
    for path in files:
        start = time.perf_counter()
        try:
            table = read(path)
        except KintwinError:
            failed.append(path.name)
            continue
        read_s += time.perf_counter() - start
        start = time.perf_counter()
        fmt(table)
        write_s += time.perf_counter() - start
        n_values += table.data.size
    return {
        "files": len(files) - len(failed),
        "rejected": failed,
        "values": n_values,
        "read_s": round(read_s, 4),
        "format_s": round(write_s, 4),
        "read_values_per_s": round(n_values / read_s) if read_s else None,
    }


def run(data: Path) -> dict:
    tables = sorted([*data.rglob("*.sto"), *data.rglob("*.mot")])
    markers = sorted(data.rglob("*.trc"))
    result = {
        "tables": _time_files(tables, read_table, format_table),
        "trc": _time_files(markers, read_trc, format_trc),
    }
    result["summary"] = {
        "table_read_Mvalues_per_s": round(result["tables"]["read_values_per_s"] / 1e6, 2),
        "trc_read_Mvalues_per_s": round(result["trc"]["read_values_per_s"] / 1e6, 2),
    }
    return result
