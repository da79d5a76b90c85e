"""Readers and writers for the files OpenSim users have: tables, markers, external loads, setups."""

from converters.opensim_io.table import Table, read_table, write_table

__all__ = ["Table", "read_table", "write_table"]
