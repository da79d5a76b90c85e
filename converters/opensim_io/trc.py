"""Marker trajectories in the ``.trc`` format (``PathFileType 4``, X/Y/Z triples per marker).

Missing markers are blank cells (or rows cut short) in the file and NaN in memory.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from converters.errors import FileFormatError, UnknownNameError
from converters.files import atomic_output
from converters.opensim_io.table import _read_lines

__all__ = ["MarkerTable", "read_trc", "write_trc", "format_trc", "UNIT_SCALE"]

HEADER_KEYS = (
    "DataRate",
    "CameraRate",
    "NumFrames",
    "NumMarkers",
    "Units",
    "OrigDataRate",
    "OrigDataStartFrame",
    "OrigNumFrames",
)
UNIT_SCALE = {"mm": 1e-3, "cm": 1e-2, "m": 1.0}
_FIRST_LINE = re.compile(r"^PathFileType\s+(\S+)\s+(\S+)\s*(.*?)\s*$")


@dataclass
class MarkerTable:
    """Marker positions over time.

    Attributes:
        time: (n,) seconds, strictly increasing.
        frames: (n,) frame numbers as written in the file.
        markers: m marker names.
        data: (n, m, 3) positions in ``units``; NaN where a marker is missing.
        units: 'mm', 'cm' or 'm'.
        header: the eight header values as text, keyed as in HEADER_KEYS (and any extra keys).
        file_name: the name given on the first line.
    """

    time: np.ndarray
    frames: np.ndarray
    markers: list[str]
    data: np.ndarray
    units: str = "mm"
    header: dict[str, str] = field(default_factory=dict)
    file_name: str = ""

    def __post_init__(self) -> None:
        self.time = np.asarray(self.time, dtype=float)
        self.frames = np.asarray(self.frames, dtype=np.int64)
        self.data = np.asarray(self.data, dtype=float).reshape(len(self.time), len(self.markers), 3)

    @property
    def n_frames(self) -> int:
        return len(self.time)

    @property
    def data_rate(self) -> float | None:
        """DataRate from the header in Hz, else from the time column (None if neither)."""
        try:
            return float(self.header["DataRate"])
        except (KeyError, ValueError):
            return (
                None if self.n_frames < 2 else (self.n_frames - 1) / (self.time[-1] - self.time[0])
            )

    def marker(self, name: str) -> np.ndarray:
        """(n, 3) positions of one marker."""
        if name not in self.markers:
            raise UnknownNameError("marker", name, self.markers)
        return self.data[:, self.markers.index(name), :]

    def in_units(self, units: str) -> MarkerTable:
        """A copy with positions converted to ``units`` ('mm', 'cm' or 'm')."""
        if units not in UNIT_SCALE:
            raise UnknownNameError("unit", units, UNIT_SCALE)
        scale = UNIT_SCALE[self.units] / UNIT_SCALE[units]
        return replace(
            self, data=self.data * scale, units=units, header={**self.header, "Units": units}
        )


# ----------------------------------------------------------------------------------------- reading


def read_trc(path: str | Path) -> MarkerTable:
    """Read a ``.trc`` file; raise FileFormatError naming the line for anything malformed."""
    path = Path(path)
    lines = _read_lines(path)
    if len(lines) < 5:
        raise FileFormatError(path, f"only {len(lines)} lines: a .trc file has 5 header lines")
    first = _FIRST_LINE.match(lines[0].strip())
    if not first:
        raise FileFormatError(
            path, "first line does not start with 'PathFileType': not a .trc file", line=1
        )
    header = _parse_header_values(path, lines[1], lines[2])
    units = header.get("Units", "mm").strip()
    if units not in UNIT_SCALE:
        raise FileFormatError(path, f"unknown Units '{units}' (expected mm, cm or m)", line=3)
    markers = _parse_marker_names(path, lines[3], header)
    time, frames, data = _parse_rows(path, lines, len(markers))
    return MarkerTable(
        time=time,
        frames=frames,
        markers=markers,
        data=data,
        units=units,
        header=header,
        file_name=first.group(3),
    )


def _parse_header_values(path: Path, key_line: str, value_line: str) -> dict[str, str]:
    keys, values = key_line.split(), value_line.split()
    if "DataRate" not in keys:
        raise FileFormatError(
            path, "line 2 should name DataRate, CameraRate, NumFrames, ...", line=2
        )
    if len(keys) != len(values):
        raise FileFormatError(
            path, f"{len(keys)} header names but {len(values)} header values", line=3
        )
    return dict(zip(keys, values, strict=True))


def _parse_marker_names(path: Path, line: str, header: dict[str, str]) -> list[str]:
    fields = [f.strip() for f in (line.split("\t") if "\t" in line else line.split())]
    if len(fields) < 2 or fields[0].lower() != "frame#":
        raise FileFormatError(path, "line 4 should start with 'Frame#' and 'Time'", line=4)
    markers = [f for f in fields[2:] if f]
    stated = header.get("NumMarkers")
    if stated is not None and stated.isdigit() and int(stated) != len(markers):
        raise FileFormatError(
            path, f"header says NumMarkers={stated} but line 4 names {len(markers)} markers", line=4
        )
    if len(set(markers)) != len(markers):
        repeated = sorted({m for m in markers if markers.count(m) > 1})
        raise FileFormatError(path, f"duplicate marker names: {', '.join(repeated)}", line=4)
    return markers


def _parse_rows(
    path: Path, lines: list[str], n_markers: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    width = 2 + 3 * n_markers
    rows: list[list[float]] = []
    numbers: list[int] = []
    for index in range(5, len(lines)):
        line = lines[index].rstrip("\r\n")
        if not line.strip():
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        while len(fields) > width and not fields[-1].strip():
            fields.pop()
        if len(fields) > width:
            raise FileFormatError(
                path,
                f"row has {len(fields)} fields, more than the {width} of {n_markers} markers",
                line=index + 1,
            )
        rows.append(_parse_cells(path, fields, width, index + 1))
        numbers.append(index + 1)
    if not rows:
        raise FileFormatError(path, "no data rows after the header", line=len(lines))
    block = np.array(rows)
    time = block[:, 1]
    if np.any(~np.isfinite(block[:, :2])):
        k = int(np.flatnonzero(~np.all(np.isfinite(block[:, :2]), axis=1))[0])
        raise FileFormatError(path, "Frame# or Time is blank", line=numbers[k])
    if np.any(np.diff(time) <= 0):
        k = int(np.flatnonzero(np.diff(time) <= 0)[0]) + 1
        raise FileFormatError(
            path,
            f"Time does not increase ({float(time[k - 1])!r} then {float(time[k])!r})",
            line=numbers[k],
        )
    return time, block[:, 0].astype(np.int64), block[:, 2:].reshape(len(rows), n_markers, 3)


def _parse_cells(path: Path, fields: list[str], width: int, line: int) -> list[float]:
    values = [math.nan] * width
    for k, text in enumerate(fields):
        text = text.strip()
        if text:
            try:
                values[k] = float(text)
            except ValueError:
                raise FileFormatError(
                    path, f"non-numeric cell '{text[:20]}' in field {k + 1}", line=line
                ) from None
    return values


# ----------------------------------------------------------------------------------------- writing


def _cell(x: float) -> str:
    # OpenSim's TRC reader drops trailing blank cells and then rejects the row, so a missing
    # marker is written as NaN (which OpenSim, and this reader, read back as missing).
    return "NaN" if math.isnan(x) else repr(float(x))


def format_trc(table: MarkerTable) -> str:
    """The ``.trc`` text for ``table`` (missing markers written as NaN)."""
    header = {
        "DataRate": "100",
        "CameraRate": "100",
        "OrigDataRate": "100",
        "OrigDataStartFrame": "1",
        **table.header,
    }
    header.update(
        NumFrames=str(table.n_frames), NumMarkers=str(len(table.markers)), Units=table.units
    )
    header.setdefault("OrigNumFrames", str(table.n_frames))
    keys = list(HEADER_KEYS) + [k for k in header if k not in HEADER_KEYS]
    out = [
        f"PathFileType\t4\t(X/Y/Z)\t{table.file_name}".rstrip(),
        "\t".join(keys),
        "\t".join(header[k] for k in keys),
        "\t".join(["Frame#", "Time", *(f"{m}\t\t" for m in table.markers)]).rstrip("\t"),
        "\t\t" + "\t".join(f"{a}{i}" for i in range(1, len(table.markers) + 1) for a in "XYZ"),
        "",
    ]
    flat = table.data.reshape(table.n_frames, -1)
    for frame, t, row in zip(
        table.frames.tolist(), table.time.tolist(), flat.tolist(), strict=True
    ):
        out.append("\t".join([str(frame), repr(float(t)), *map(_cell, row)]))
    return "\n".join(out) + "\n"


def write_trc(table: MarkerTable, path: str | Path, force: bool = False) -> Path:
    """Write ``table`` as ``.trc``; atomic; refuses to overwrite unless ``force``."""
    with atomic_output(path, force) as tmp:
        tmp.write_text(format_trc(table), encoding="utf-8", newline="\n")
    return Path(path)
