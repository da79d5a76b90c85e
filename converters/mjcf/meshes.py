"""OpenSim meshes (read by :mod:`converters.opensim_io.mesh_files`) -> binary STL files that MuJoCo
loads. :func:`write_stl` bakes OpenSim's ``scale_factors`` into the vertices, drops degenerate
triangles and writes a binary STL, or returns why MuJoCo could not use the mesh.

MuJoCo places a mesh geom so that the file's vertex coordinates are expressed in the geom frame given
by the geom's ``pos``/``quat`` (it re-centres the vertices internally and compensates in
``geom_pos``/``geom_quat``), so the geom pose is simply the pose of the OpenSim frame the mesh is
attached to. Flat meshes need ``inertia="shell"`` on the ``<mesh>`` asset; see :data:`MESH_ASSET_ATTRIBUTES`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from converters.opensim_io.mesh import Mesh
from converters.opensim_io.mesh_files import STL_RECORD

__all__ = [
    "MESH_ASSET_ATTRIBUTES",
    "MIN_TRIANGLE_AREA",
    "clean_mesh",
    "is_flat",
    "mesh_problem",
    "scale_mesh",
    "write_stl",
]

MESH_ASSET_ATTRIBUTES = {"inertia": "shell"}
"""Attributes for every ``<mesh>`` asset: ``shell`` inertia accepts flat (zero-volume) meshes, which
MuJoCo's default ``legacy`` and ``convex`` inertia reject; the mesh inertia only fixes MuJoCo's internal
frame of the mesh (which it compensates for), since body inertias come from the OpenSim model."""

MIN_TRIANGLE_AREA = 1e-14
"""Triangles with a smaller area (m^2, after scaling) are dropped; MuJoCo's mjMINVAL."""

_FLAT_TOLERANCE = 1e-9


# --------------------------------------------------------------------------------------------
# Cleaning, checking and writing
# --------------------------------------------------------------------------------------------


def scale_mesh(mesh: Mesh, scale: Iterable[float] = (1.0, 1.0, 1.0)) -> Mesh:
    """Return the mesh scaled per axis; a mirroring scale reverses the faces to keep them outward."""
    factors = np.asarray(list(scale), dtype=np.float64).reshape(3)
    faces = mesh.faces[:, ::-1] if np.prod(factors) < 0 else mesh.faces
    normals = None
    if mesh.normals is not None:
        normals = mesh.normals / np.where(factors == 0, 1.0, factors)
        length = np.linalg.norm(normals, axis=1, keepdims=True)
        normals = normals / np.where(length == 0, 1.0, length)
    return Mesh(mesh.vertices * factors, np.ascontiguousarray(faces), normals)


def clean_mesh(mesh: Mesh) -> Mesh:
    """Merge vertices that are equal in float32 (as STL stores them), drop degenerate triangles
    (repeated vertices or area below :data:`MIN_TRIANGLE_AREA`) and unreferenced vertices."""
    single = np.ascontiguousarray(mesh.vertices.astype(np.float32) + np.float32(0.0))  # -0 -> +0
    rows = single.view(np.dtype((np.void, single.itemsize * 3))).ravel()
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    faces = first[inverse.reshape(-1)][mesh.faces]
    distinct = (
        (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    )
    faces = faces[distinct]
    corners = single.astype(np.float64)[faces]
    area = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    faces = faces[area >= MIN_TRIANGLE_AREA]
    used, new_faces = np.unique(faces, return_inverse=True)
    normals = mesh.normals[used] if mesh.normals is not None else None
    return Mesh(mesh.vertices[used], new_faces.reshape(-1, 3).astype(np.int32), normals)


def mesh_problem(mesh: Mesh) -> str | None:
    """Return why MuJoCo cannot load this (cleaned) mesh, or None if it can.

    MuJoCo needs triangles and at least 4 distinct vertices; a flat mesh additionally needs
    ``inertia="shell"`` (:data:`MESH_ASSET_ATTRIBUTES`), which is not reported here.
    """
    if len(mesh.faces) == 0:
        return "no triangles with a non-zero area (the file may hold only points or lines)"
    used = len(np.unique(mesh.faces))
    if used < 4:
        return f"only {used} distinct vertices; MuJoCo needs at least 4"
    return None


def is_flat(mesh: Mesh) -> bool:
    """Return True if all vertices lie (nearly) in one plane: MuJoCo then needs shell inertia."""
    if len(mesh.vertices) < 4:
        return True
    points = mesh.vertices - mesh.vertices.mean(axis=0)
    singular = np.linalg.svd(points, compute_uv=False)
    return bool(singular[-1] <= _FLAT_TOLERANCE * max(singular[0], 1e-300))


def write_stl(mesh: Mesh, path: str | Path, scale: Iterable[float] = (1.0, 1.0, 1.0)) -> str | None:
    """Scale, clean and write ``mesh`` as a binary STL file.

    Returns None when the file was written, or a one-line reason why MuJoCo could not use the mesh
    (then nothing is written and the caller should skip the geom with a warning).
    """
    cleaned = clean_mesh(scale_mesh(mesh, scale))
    problem = mesh_problem(cleaned)
    if problem is not None:
        return problem
    records = np.zeros(len(cleaned.faces), dtype=STL_RECORD)
    corners = cleaned.vertices[cleaned.faces]
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    length = np.linalg.norm(normal, axis=1, keepdims=True)
    records["normal"] = normal / np.where(length == 0, 1.0, length)
    records["vertices"] = corners
    header = b"KinTwin CLI binary STL".ljust(80, b" ") + struct.pack("<I", len(records))
    Path(path).write_bytes(header + records.tobytes())
    return None
