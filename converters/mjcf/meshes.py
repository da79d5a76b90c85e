"""OpenSim mesh files (.vtp, .obj, .stl) -> binary STL files that MuJoCo loads.

OpenSim bone meshes are VTK XML PolyData (``.vtp``) files. :func:`read_mesh` reads them (ASCII,
inline binary and appended data, raw or base64, uncompressed or zlib/lzma-compressed, UInt32 or
UInt64 headers, either byte order) and also Wavefront ``.obj`` and ``.stl`` files, into a
triangle :class:`Mesh`. :func:`write_stl` bakes OpenSim's ``scale_factors`` into the vertices, drops
degenerate triangles and writes a binary STL, or returns why MuJoCo could not use the mesh.
:func:`find_mesh` looks a ``mesh_file`` up the way OpenSim does.

MuJoCo places a mesh geom so that the file's vertex coordinates are expressed in the geom frame given
by the geom's ``pos``/``quat`` (it re-centres the vertices internally and compensates in
``geom_pos``/``geom_quat``), so the geom pose is simply the pose of the OpenSim frame the mesh is
attached to. Flat meshes need ``inertia="shell"`` on the ``<mesh>`` asset; see :data:`MESH_ASSET_ATTRIBUTES`.
"""

from __future__ import annotations

import base64
import binascii
import lzma
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lxml import etree

from converters.errors import FileFormatError

__all__ = [
    "MESH_ASSET_ATTRIBUTES",
    "MESH_SUFFIXES",
    "Mesh",
    "clean_mesh",
    "find_mesh",
    "is_flat",
    "mesh_problem",
    "read_mesh",
    "read_obj",
    "read_stl",
    "read_vtp",
    "scale_mesh",
    "write_stl",
]

MESH_SUFFIXES = (".vtp", ".obj", ".stl")
"""Mesh file suffixes OpenSim accepts in ``<mesh_file>`` (compared case-insensitively)."""

MESH_ASSET_ATTRIBUTES = {"inertia": "shell"}
"""Attributes for every ``<mesh>`` asset: ``shell`` inertia accepts flat (zero-volume) meshes, which
MuJoCo's default ``legacy`` and ``convex`` inertia reject; the mesh inertia only fixes MuJoCo's internal
frame of the mesh (which it compensates for), since body inertias come from the OpenSim model."""

MIN_TRIANGLE_AREA = 1e-14
"""Triangles with a smaller area (m^2, after scaling) are dropped; MuJoCo's mjMINVAL."""

_FLAT_TOLERANCE = 1e-9

_VTK_TYPES = {
    "Int8": "i1",
    "UInt8": "u1",
    "Int16": "i2",
    "UInt16": "u2",
    "Int32": "i4",
    "UInt32": "u4",
    "Int64": "i8",
    "UInt64": "u8",
    "Float32": "f4",
    "Float64": "f8",
}


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


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


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


def _read_bytes(path: Path) -> bytes:
    """Return the file's contents; an unreadable file is a FileFormatError."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileFormatError(path, f"cannot read mesh file: {exc.strerror or exc}") from exc


class _VtpReader:
    """Decode the DataArrays of one VTK XML PolyData file."""

    def __init__(self, path: Path, data: bytes) -> None:
        self.path = path
        head, self.appended, encoding = _split_appended(data)
        try:
            self.root = etree.fromstring(
                head, etree.XMLParser(huge_tree=True, resolve_entities=False)
            )
        except etree.XMLSyntaxError as exc:
            raise FileFormatError(path, f"not valid XML: {exc.msg}", exc.lineno) from exc
        if self.root.tag != "VTKFile" or self.root.get("type") != "PolyData":
            raise FileFormatError(path, 'not a VTK XML PolyData file (<VTKFile type="PolyData">)')
        order = self.root.get("byte_order", "LittleEndian")
        self.endian = {"LittleEndian": "<", "BigEndian": ">"}.get(order)
        if self.endian is None:
            raise FileFormatError(path, f"unknown byte_order '{order}'")
        self.header = self._header_dtype()
        self.compressor = self.root.get("compressor", "")
        self.raw_appended = encoding == "raw"
        if self.appended is not None and encoding not in ("raw", "base64"):
            raise FileFormatError(path, f"unsupported AppendedData encoding '{encoding}'")

    def _header_dtype(self) -> np.dtype:
        """Return the dtype of binary block headers (``header_type``, UInt32 by default)."""
        name = self.root.get("header_type", "UInt32")
        if name not in ("UInt32", "UInt64"):
            raise FileFormatError(self.path, f"unsupported header_type '{name}'")
        return np.dtype(self.endian + _VTK_TYPES[name])

    def fail(self, element: etree._Element | None, problem: str) -> FileFormatError:
        """Return a FileFormatError at ``element``'s line."""
        return FileFormatError(
            self.path, problem, element.sourceline if element is not None else None
        )

    def array(self, element: etree._Element, count: int | None = None) -> np.ndarray:
        """Decode one ``<DataArray>``, as a flat array; check its length when ``count`` is given."""
        name = element.get("type", "")
        if name not in _VTK_TYPES:
            raise self.fail(element, f"DataArray has unsupported type '{name}'")
        dtype = np.dtype(self.endian + _VTK_TYPES[name])
        fmt = element.get("format", "ascii")
        if fmt == "ascii":
            values = self._ascii(element, dtype)
        elif fmt == "binary":
            values = self._binary_text(element, "".join((element.text or "").split()), dtype)
        elif fmt == "appended":
            values = self._appended(element, dtype)
        else:
            raise self.fail(element, f"DataArray has unsupported format '{fmt}'")
        if count is not None and values.size != count:
            raise self.fail(element, f"DataArray has {values.size} values, expected {count}")
        return values

    def _ascii(self, element: etree._Element, dtype: np.dtype) -> np.ndarray:
        """Parse whitespace-separated numbers."""
        words = (element.text or "").split()
        try:
            values = np.array(words, dtype=np.float64)
        except ValueError as exc:
            raise self.fail(element, f"DataArray holds a non-number: {exc}") from exc
        if dtype.kind in "iu":
            if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
                raise self.fail(element, "integer DataArray holds a non-integer")
            return values.astype(np.int64)
        return values

    def _binary_text(self, element: etree._Element, text: str, dtype: np.dtype) -> np.ndarray:
        """Decode base64 binary data (inline, or appended with base64 encoding)."""
        try:
            if self.compressor:
                raw = self._compressed_b64(text)
            else:
                raw = self._uncompressed_b64(text)
            return self._cast(element, raw, dtype)
        except (binascii.Error, ValueError, zlib.error, lzma.LZMAError) as exc:
            raise self.fail(element, f"corrupt binary DataArray: {exc}") from exc

    def _header_values(self, text: str, count: int) -> np.ndarray:
        """Decode the first ``count`` header integers of base64 ``text``."""
        nbytes = self.header.itemsize * count
        raw = _b64decode(text[: _b64_chars(nbytes)])[:nbytes]
        if len(raw) != nbytes:
            raise ValueError("binary data ends inside its header")
        return np.frombuffer(raw, self.header)

    def _uncompressed_b64(self, text: str) -> bytes:
        """Decode ``[nbytes][data]``, header and data base64-encoded together or separately."""
        size = self.header.itemsize
        head_chars = _b64_chars(size)
        nbytes = int(self._header_values(text, 1)[0])
        if "=" in text[:head_chars]:  # header encoded on its own (padded), then the data
            body = _b64decode(text[head_chars : head_chars + _b64_chars(nbytes)])
        else:
            body = _b64decode(text[: _b64_chars(size + nbytes)])[size:]
        if len(body) < nbytes:
            raise ValueError(f"{len(body)} bytes of data, header says {nbytes}")
        return body[:nbytes]

    def _compressed_b64(self, text: str) -> bytes:
        """Decode ``[nblocks, blocksize, lastsize, sizes...]`` then the compressed blocks."""
        self._decompressor()  # an unsupported compressor is the error to report, not the data
        nblocks = int(self._header_values(text, 1)[0])
        header = self._header_values(text, 3 + nblocks)
        head_chars = _b64_chars(self.header.itemsize * (3 + nblocks))
        total = int(header[3:].astype(np.int64).sum())
        return self._inflate(header, _b64decode(text[head_chars : head_chars + _b64_chars(total)]))

    def _inflate(self, header: np.ndarray, blocks: bytes) -> bytes:
        """Decompress the blocks described by a compressed-data header."""
        sizes = header[3:].astype(np.int64)
        if len(blocks) < sizes.sum():
            raise ValueError(f"{len(blocks)} bytes of compressed data, header says {sizes.sum()}")
        decompress = self._decompressor()
        ends = np.cumsum(sizes)
        parts = [decompress(blocks[end - n : end]) for n, end in zip(sizes, ends, strict=True)]
        return b"".join(parts)

    def _decompressor(self) -> Callable[[bytes], bytes]:
        """Return the function that decompresses one block."""
        if self.compressor == "vtkZLibDataCompressor":
            return zlib.decompress
        if self.compressor == "vtkLZMADataCompressor":
            return lzma.decompress
        raise FileFormatError(
            self.path,
            f"unsupported compressor '{self.compressor}' (only vtkZLibDataCompressor and "
            "vtkLZMADataCompressor); re-save the file as ASCII or zlib-compressed",
        )

    def _appended(self, element: etree._Element, dtype: np.dtype) -> np.ndarray:
        """Decode a DataArray stored in ``<AppendedData>`` at its ``offset``."""
        if self.appended is None:
            raise self.fail(element, "DataArray is 'appended' but the file has no <AppendedData>")
        try:
            offset = int(element.get("offset", ""))
        except ValueError:
            offset = -1
        if offset < 0:
            raise self.fail(element, "appended DataArray has no valid offset")
        if not self.raw_appended:
            text = self.appended[offset:].decode("ascii", "replace")
            return self._binary_text(element, "".join(text.split()), dtype)
        try:
            return self._cast(element, self._raw_block(offset), dtype)
        except (ValueError, zlib.error, lzma.LZMAError) as exc:
            raise self.fail(element, f"corrupt appended DataArray: {exc}") from exc

    def _raw_block(self, offset: int) -> bytes:
        """Return the bytes of one raw appended array (header, then data or compressed blocks)."""
        blob, size = self.appended, self.header.itemsize
        if self.compressor:
            self._decompressor()
        first = np.frombuffer(blob[offset : offset + size], self.header)
        if first.size != 1:
            raise ValueError("offset past the end of the appended data")
        if not self.compressor:
            data = blob[offset + size : offset + size + int(first[0])]
            if len(data) != int(first[0]):
                raise ValueError("appended data ends early")
            return data
        count = 3 + int(first[0])
        header = np.frombuffer(blob[offset : offset + size * count], self.header)
        if header.size != count:
            raise ValueError("appended data ends early")
        start = offset + size * count
        return self._inflate(header, blob[start : start + int(header[3:].sum())])

    def _cast(self, element: etree._Element, raw: bytes, dtype: np.dtype) -> np.ndarray:
        """Interpret decoded bytes as ``dtype`` values, as float64 or int64."""
        if len(raw) % dtype.itemsize:
            raise self.fail(
                element, f"binary DataArray of {len(raw)} bytes is not a whole number of values"
            )
        values = np.frombuffer(raw, dtype)
        return values.astype(np.int64 if dtype.kind in "iu" else np.float64)


def _b64decode(text: str) -> bytes:
    """Decode base64, rejecting characters outside its alphabet."""
    return base64.b64decode(text, validate=True)


def _b64_chars(nbytes: int) -> int:
    """Number of base64 characters that encode ``nbytes`` bytes (with padding)."""
    return -(-nbytes // 3) * 4


def _split_appended(data: bytes) -> tuple[bytes, bytes | None, str]:
    """Split off ``<AppendedData>`` (which may hold raw bytes that are not XML).

    Return the XML without it, the bytes after its ``_`` marker (None if absent), and its encoding.
    """
    start = data.find(b"<AppendedData")
    if start < 0:
        return data, None, ""
    tag_end = data.find(b">", start)
    marker = data.find(b"_", tag_end) if tag_end >= 0 else -1
    stop = data.rfind(b"</AppendedData>")
    match = re.search(rb'encoding\s*=\s*"([^"]*)"', data[start : max(tag_end, start)])
    encoding = match.group(1).decode("ascii", "replace") if match else "raw"
    if marker < 0:
        return data[:start] + b"</VTKFile>", b"", encoding
    blob = data[marker + 1 : stop if stop > marker else len(data)]
    return data[:start] + b"</VTKFile>", blob, encoding


def read_vtp(path: str | Path) -> Mesh:
    """Read a VTK XML PolyData file: points, polygons (fan-triangulated), strips, point normals.

    Verts and Lines are ignored. Raises FileFormatError naming the file for anything unreadable.
    """
    path = Path(path)
    reader = _VtpReader(path, _read_bytes(path))
    pieces = reader.root.findall("PolyData/Piece")
    if not pieces:
        raise reader.fail(reader.root, "no <PolyData><Piece> element")
    vertices, faces, normals, base = [], [], [], 0
    for piece in pieces:
        points, tris, piece_normals = _read_piece(reader, piece)
        vertices.append(points)
        faces.append(tris + base)
        normals.append(piece_normals)
        base += len(points)
    all_normals = None if any(n is None for n in normals) else np.concatenate(normals)
    return Mesh(np.concatenate(vertices), np.concatenate(faces).astype(np.int32), all_normals)


def _count(reader: _VtpReader, piece: etree._Element, name: str) -> int:
    """Return the integer attribute ``name`` of a Piece (0 if absent)."""
    try:
        return int(piece.get(name, "0"))
    except ValueError as exc:
        raise reader.fail(piece, f"{name} is not an integer") from exc


def _read_piece(
    reader: _VtpReader, piece: etree._Element
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return one Piece's points (n, 3), triangles (m, 3) and point normals (or None)."""
    npoints = _count(reader, piece, "NumberOfPoints")
    element = piece.find("Points/DataArray")
    if element is None:
        if npoints:
            raise reader.fail(piece, "Piece has no <Points><DataArray>")
        points = np.zeros((0, 3))
    else:
        points = reader.array(element, 3 * npoints).reshape(-1, 3)
    if not np.all(np.isfinite(points)):
        raise reader.fail(element, "Points contain NaN or infinite values")
    tris = [np.zeros((0, 3), np.int64)]
    for kind, split in (("Polys", _fan_triangles), ("Strips", _strip_triangles)):
        cells = _read_cells(reader, piece, kind)
        if cells is not None:
            tris.append(split(*cells))
    faces = np.concatenate(tris)
    if faces.size and (faces.min() < 0 or faces.max() >= npoints):
        raise reader.fail(piece, f"cell connectivity refers to a point outside 0..{npoints - 1}")
    return points, faces, _read_normals(reader, piece, npoints)


def _read_cells(
    reader: _VtpReader, piece: etree._Element, kind: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """Return (connectivity, end offsets) of the ``Polys`` or ``Strips`` cells, or None."""
    ncells = _count(reader, piece, f"NumberOf{kind}")
    element = piece.find(kind)
    if element is None or ncells == 0:
        return None
    arrays = {a.get("Name"): a for a in element.findall("DataArray")}
    if "connectivity" not in arrays or "offsets" not in arrays:
        raise reader.fail(element, f"<{kind}> lacks the 'connectivity' or 'offsets' DataArray")
    connectivity = reader.array(arrays["connectivity"])
    offsets = reader.array(arrays["offsets"])
    if offsets.size == ncells + 1 and offsets[0] == 0:  # start-and-end offsets
        offsets = offsets[1:]
    if offsets.size != ncells:
        raise reader.fail(arrays["offsets"], f"{offsets.size} offsets for {ncells} {kind}")
    if ncells and (
        np.any(np.diff(offsets) < 0) or offsets[0] < 0 or offsets[-1] > connectivity.size
    ):
        raise reader.fail(
            arrays["offsets"], f"{kind} offsets are not increasing within connectivity"
        )
    return connectivity, offsets


def _cell_triangles(
    connectivity: np.ndarray, offsets: np.ndarray, corners: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Split variable-length cells into triangles; ``corners(j)`` gives 3 in-cell positions per j."""
    starts = np.concatenate([[0], offsets[:-1]]).astype(np.int64)
    ntri = np.maximum(offsets - starts - 2, 0)
    cell = np.repeat(np.arange(len(offsets)), ntri)
    j = np.arange(int(ntri.sum())) - np.repeat(np.cumsum(ntri) - ntri, ntri)
    return connectivity[starts[cell, None] + corners(j)].astype(np.int64).reshape(-1, 3)


def _fan_triangles(connectivity: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Triangulate polygons by a fan from their first vertex: (0, j+1, j+2)."""
    return _cell_triangles(connectivity, offsets, lambda j: np.stack([0 * j, j + 1, j + 2], 1))


def _strip_triangles(connectivity: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Triangulate strips, flipping every other triangle to keep a consistent orientation."""
    return _cell_triangles(
        connectivity,
        offsets,
        lambda j: np.stack([j + (j % 2), j + 1 - (j % 2), j + 2], 1),
    )


def _read_normals(reader: _VtpReader, piece: etree._Element, npoints: int) -> np.ndarray | None:
    """Return the point normals named by ``<PointData Normals=...>`` (or None)."""
    data = piece.find("PointData")
    name = data.get("Normals") if data is not None else None
    if not name:
        return None
    for element in data.findall("DataArray"):
        if element.get("Name") == name:
            return reader.array(element, 3 * npoints).reshape(-1, 3)
    return None


def read_obj(path: str | Path) -> Mesh:
    """Read the vertices and faces of a Wavefront ``.obj`` file (polygons fan-triangulated)."""
    path = Path(path)
    text = _read_bytes(path).decode("utf-8", "replace")
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
    vertex_array = _finite(path, np.array(vertices, dtype=np.float64).reshape(-1, 3))
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
    data = _read_bytes(path)
    if len(data) >= 84 and len(data) == 84 + 50 * struct.unpack_from("<I", data, 80)[0]:
        records = np.frombuffer(data, dtype=_STL_RECORD, offset=84)
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
    vertices, inverse = np.unique(_finite(path, corners), axis=0, return_inverse=True)
    return Mesh(vertices, inverse.reshape(-1, 3).astype(np.int32))


def _finite(path: Path, vertices: np.ndarray) -> np.ndarray:
    """Return ``vertices``; raise FileFormatError if any coordinate is NaN or infinite."""
    if not np.all(np.isfinite(vertices)):
        raise FileFormatError(path, "vertex coordinates contain NaN or infinite values")
    return vertices


_STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")])


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
    records = np.zeros(len(cleaned.faces), dtype=_STL_RECORD)
    corners = cleaned.vertices[cleaned.faces]
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    length = np.linalg.norm(normal, axis=1, keepdims=True)
    records["normal"] = normal / np.where(length == 0, 1.0, length)
    records["vertices"] = corners
    header = b"KinTwin CLI binary STL".ljust(80, b" ") + struct.pack("<I", len(records))
    Path(path).write_bytes(header + records.tobytes())
    return None


# --------------------------------------------------------------------------------------------
# Finding mesh files
# --------------------------------------------------------------------------------------------


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
