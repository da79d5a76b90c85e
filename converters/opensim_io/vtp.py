"""VTK XML PolyData (``.vtp``), the format of OpenSim's bone meshes: ASCII, inline binary and
appended data, raw or base64, uncompressed or zlib/lzma-compressed, UInt32 or UInt64 headers,
either byte order; polygons and triangle strips become triangles."""

from __future__ import annotations

import base64
import binascii
import lzma
import re
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from lxml import etree

from converters.errors import FileFormatError
from converters.opensim_io.mesh import Mesh, read_bytes

__all__ = ["read_vtp"]

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
            if np.any(np.abs(values) >= 2.0**63):
                raise self.fail(element, "integer DataArray holds a value beyond 64 bits")
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
    reader = _VtpReader(path, read_bytes(path))
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
