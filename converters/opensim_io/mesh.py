"""A triangle mesh as OpenSim's mesh files hold it, and what every mesh reader shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converters.errors import FileFormatError

__all__ = ["Mesh", "read_bytes", "finite_vertices"]


@dataclass(frozen=True, eq=False)
class Mesh:
    """A triangle mesh: ``vertices`` (n, 3) float64, ``faces`` (m, 3) int32, optional ``normals``."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray | None = None

    def bounds(self) -> np.ndarray:
        """Return the (2, 3) axis-aligned bounding box [min, max] of the referenced vertices."""
        used = self.vertices[np.unique(self.faces)] if len(self.faces) else self.vertices
        if len(used) == 0:
            return np.zeros((2, 3))
        return np.stack([used.min(axis=0), used.max(axis=0)])


def read_bytes(path: Path) -> bytes:
    """Return the file's contents; an unreadable file is a FileFormatError."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileFormatError(path, f"cannot read mesh file: {exc.strerror or exc}") from exc


def finite_vertices(path: Path, vertices: np.ndarray) -> np.ndarray:
    """Return ``vertices``; raise FileFormatError if any coordinate is NaN or infinite."""
    if not np.all(np.isfinite(vertices)):
        raise FileFormatError(path, "vertex coordinates contain NaN or infinite values")
    return vertices
