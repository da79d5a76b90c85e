"""OpenSim's mesh files (``<mesh_file>``: ``.vtp``, ``.obj``, ``.stl``): found the way OpenSim
finds them and read into a triangle :class:`~converters.opensim_io.mesh.Mesh`."""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from converters.errors import FileFormatError
from converters.opensim_io.mesh import Mesh, finite_vertices, read_bytes
from converters.opensim_io.vtp import read_vtp

__all__ = [
    "MESH_SUFFIXES",
    "STL_RECORD",
    "Mesh",
    "find_mesh",
    "read_mesh",
    "read_obj",
    "read_stl",
    "read_vtp",
]

MESH_SUFFIXES = (".vtp", ".obj", ".stl")
"""Mesh file suffixes OpenSim accepts in ``<mesh_file>`` (compared case-insensitively)."""

STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")])
"""One binary STL facet record."""


def read_mesh(path: str | Path) -> Mesh:
    """Read a ``.vtp``, ``.obj`` or ``.stl`` file (suffix compared case-insensitively)."""
    path = Path(path)
    readers: dict[str, Callable[[Path], Mesh]] = {
        ".vtp": read_vtp,
        ".obj": read_obj,
        ".stl": read_stl,
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise FileFormatError(
            path, f"unsupported mesh format '{path.suffix}' (use .vtp, .obj or .stl)"
        )
    return reader(path)


def read_obj(path: str | Path) -> Mesh:
    """Read the vertices and faces of a Wavefront ``.obj`` file (polygons fan-triangulated)."""
    path = Path(path)
    text = read_bytes(path).decode("utf-8", "replace")
    vertices: list[list[float]] = []
    faces: list[list[int]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words or words[0] not in ("v", "f"):
            continue
        try:
            if words[0] == "v":
                vertices.append([float(w) for w in words[1:4]])
                if len(vertices[-1]) != 3:
                    raise ValueError("a vertex needs 3 coordinates")
            else:
                faces.extend(_obj_face(words[1:], len(vertices)))
        except (ValueError, IndexError) as exc:
            raise FileFormatError(
                path, f"bad '{words[0]}' line: {line.strip()[:60]}", number
            ) from exc
    vertex_array = finite_vertices(path, np.array(vertices, dtype=np.float64).reshape(-1, 3))
    face_array = np.array(faces, dtype=np.int64).reshape(-1, 3)
    if face_array.size and (face_array.min() < 0 or face_array.max() >= len(vertex_array)):
        raise FileFormatError(path, "a face refers to a vertex that does not exist")
    return Mesh(vertex_array, face_array.astype(np.int32))


def _obj_face(words: Sequence[str], nvertices: int) -> list[list[int]]:
    """Return the fan triangles of one OBJ face (``v``, ``v/vt``, ``v//vn``; negative = relative)."""
    index = [int(w.split("/")[0]) for w in words]
    index = [i - 1 if i > 0 else nvertices + i for i in index]
    if len(index) < 3:
        raise ValueError("a face needs 3 vertices")
    return [[index[0], index[k], index[k + 1]] for k in range(1, len(index) - 1)]


def read_stl(path: str | Path) -> Mesh:
    """Read a binary or ASCII STL file; identical vertex positions are merged."""
    path = Path(path)
    data = read_bytes(path)
    if len(data) >= 84 and len(data) == 84 + 50 * struct.unpack_from("<I", data, 80)[0]:
        records = np.frombuffer(data, dtype=STL_RECORD, offset=84)
        corners = records["vertices"].astype(np.float64).reshape(-1, 3)
    elif data.lstrip()[:5].lower() == b"solid":
        words = re.findall(rb"vertex\s+(\S+)\s+(\S+)\s+(\S+)", data)
        try:
            corners = np.array(words, dtype=np.float64).reshape(-1, 3)
        except ValueError as exc:
            raise FileFormatError(path, "ASCII STL holds a non-number vertex") from exc
        if len(corners) % 3:
            raise FileFormatError(path, "ASCII STL facets do not have 3 vertices each")
    else:
        raise FileFormatError(
            path, "neither a binary STL (size does not match its count) nor ASCII"
        )
    vertices, inverse = np.unique(finite_vertices(path, corners), axis=0, return_inverse=True)
    return Mesh(vertices, inverse.reshape(-1, 3).astype(np.int32))


def find_mesh(
    name: str, model_dir: str | Path, extra_dirs: Iterable[str | Path] = ()
) -> Path | None:
    """Find the file a ``<mesh_file>`` names, as OpenSim does; None if it is nowhere.

    Looks in the model's folder, its ``Geometry`` subfolder, each of ``extra_dirs`` and then a
    ``Geometry`` folder up to three levels above (the opensim-models layout); exact names first,
    then ignoring case.
    Backslashes count as separators; an absolute path that does not exist is retried by its name.
    """
    relative = Path(name.replace("\\", "/"))
    model_dir = Path(model_dir)
    bases = [model_dir, model_dir / "Geometry", *map(Path, extra_dirs)]
    # The opensim-models layout keeps one Geometry folder at the top (Models/X/, Pipelines/X/Y/).
    bases += [parent / "Geometry" for parent in list(model_dir.resolve().parents)[:3]]
    if relative.is_absolute():
        if relative.is_file():
            return relative
        relative = Path(relative.name)
    names = [relative] if relative.name == str(relative) else [relative, Path(relative.name)]
    for match in (_exact, _ignoring_case):
        for rel in names:
            for base in bases:
                found = match(base, rel)
                if found is not None:
                    return found
    return None


def _exact(base: Path, relative: Path) -> Path | None:
    """Return ``base / relative`` if it is a file."""
    candidate = base / relative
    return candidate if candidate.is_file() else None


def _ignoring_case(base: Path, relative: Path) -> Path | None:
    """Return the file ``base / relative``, matching each part of ``relative`` ignoring case."""
    current = base
    for part in relative.parts:
        if part in (".", ".."):
            current = current / part
            continue
        if not current.is_dir():
            return None
        matches = sorted(p for p in current.iterdir() if p.name.lower() == part.lower())
        if not matches:
            return None
        current = matches[0]
    return current if current.is_file() else None
