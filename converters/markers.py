"""Marker trajectories (.trc) in the converted model's frame: MuJoCo world, metres."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converters.files import atomic_output
from converters.opensim_io.trc import MarkerTable
from converters.osim.model import OsimModel
from converters.spatial import OPENSIM_TO_MUJOCO

__all__ = ["MarkerTrajectories", "markers_for_model", "save_markers"]


@dataclass
class MarkerTrajectories:
    """(n,) time and (n, m, 3) positions (MuJoCo world, m; NaN when missing) of matched markers."""

    time: np.ndarray
    names: list[str]
    positions: np.ndarray
    unmatched_in_file: list[str]
    unmatched_in_model: list[str]


def markers_for_model(table: MarkerTable, model: OsimModel) -> MarkerTrajectories:
    """The markers of ``table`` that are model markers, rotated into MuJoCo's frame, in metres."""
    metres = table.in_units("m")
    model_names = [m.name for m in model.markers]
    names = [n for n in metres.markers if n in model_names]
    columns = [metres.markers.index(n) for n in names]
    positions = metres.data[:, columns, :] @ OPENSIM_TO_MUJOCO.T
    return MarkerTrajectories(
        time=metres.time,
        names=names,
        positions=positions,
        unmatched_in_file=[n for n in metres.markers if n not in model_names],
        unmatched_in_model=[n for n in model_names if n not in metres.markers],
    )


def save_markers(path: str | Path, markers: MarkerTrajectories, force: bool = False) -> Path:
    with atomic_output(path, force) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                time=markers.time,
                names=np.array(markers.names),
                positions=markers.positions,
            )
    return Path(path)
