"""OpenSim ``.sto``/``.mot`` tables (and plain ``.csv``): one typed table, one reader, one writer.

Three header dialects are read, all of which OpenSim itself writes:

* ``storage`` — legacy Storage: first line the name, then ``version=1``, ``nRows=``, ``nColumns=``,
  ``inDegrees=``, free comment lines;
* ``timeseries`` — TimeSeriesTable/STOFileAdapter: ``version=3``, ``OpenSimVersion=``, ``DataType=``,
  other ``key=value`` metadata;
* ``simm`` — the older SIMM motion header: ``name …``, ``datacolumns``, ``datarows``, ``range``.

Any of them ends at ``endheader``; columns are tab or space separated; CRLF endings, trailing
whitespace and blank lines are tolerated. Counts in the header (``nRows``/``datarows``) are not
trusted: OpenSim itself writes files where they disagree with the data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from converters.errors import FileFormatError, KintwinError, UnknownNameError
from converters.files import atomic_output

__all__ = ["Table", "read_table", "write_table", "format_table", "DIALECTS", "TABLE_SUFFIXES"]

DIALECTS = ("storage", "timeseries", "simm")
TABLE_SUFFIXES = (".sto", ".mot", ".csv")

_KEY_VALUE = re.compile(r"^([A-Za-z_][\w.]*)\s*=\s*(.*)$")
_SIMM_KEYS = ("name", "datacolumns", "datarows", "range", "otherdata")
_COUNT_KEYS = {"nrows", "ncolumns"}
_TIMESERIES_KEYS = {"opensimversion", "datatype"}
_TRUE_WORDS = {"yes", "true"}
_FALSE_WORDS = {"no", "false"}


@dataclass
class Table:
    """A time series as OpenSim stores it.

    Attributes:
        time: (n,) strictly increasing times in seconds.
        labels: names of the m data columns (the time column excluded).
        data: (n, m) values, float64; units as the file states (``in_degrees`` for rotations).
        name: the header's name line ('' when absent).
        in_degrees: the header's ``inDegrees`` flag; None when the header has none.
        metadata: other ``key=value`` header entries, in file order.
        comments: free header lines, in file order.
        dialect: 'storage' or 'timeseries' (the header style to write back).
        time_label: the label of the time column (normally ``time``).
    """

    time: np.ndarray
    labels: list[str]
    data: np.ndarray
    name: str = ""
    in_degrees: bool | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    dialect: str = "storage"
    time_label: str = "time"

    def __post_init__(self) -> None:
        self.time = np.asarray(self.time, dtype=float)
        self.data = np.asarray(self.data, dtype=float).reshape(len(self.time), len(self.labels))

    @property
    def n_rows(self) -> int:
        return len(self.time)

    @property
    def rate(self) -> float | None:
        """Mean sampling rate in Hz (None for a single row)."""
        if self.n_rows < 2:
            return None
        return (self.n_rows - 1) / float(self.time[-1] - self.time[0])

    def column(self, label: str) -> np.ndarray:
        """The (n,) values of one column, by name (an error if the name is missing or repeated)."""
        matches = [i for i, x in enumerate(self.labels) if x == label]
        if not matches:
            raise UnknownNameError("column", label, self.labels)
        if len(matches) > 1:
            raise KintwinError(
                f"column '{label}' occurs {len(matches)} times; select it by position"
            )
        return self.data[:, matches[0]]

    def with_data(self, data: np.ndarray, **changes: object) -> Table:
        """A copy with other values (same shape) and optionally other header fields."""
        return replace(
            self,
            data=np.array(data, dtype=float),
            labels=list(self.labels),
            metadata=dict(self.metadata),
            comments=list(self.comments),
            **changes,
        )


# ----------------------------------------------------------------------------------------- reading


def read_table(path: str | Path) -> Table:
    """Read a ``.sto``/``.mot`` (any dialect) or ``.csv`` table; raise FileFormatError if malformed."""
    path = Path(path)
    lines = _read_lines(path)
    if path.suffix.lower() == ".csv":
        return _parse_body(path, lines, 0, sep=",")
    end = next((i for i, line in enumerate(lines) if line.strip().lower() == "endheader"), None)
    if end is None:
        raise FileFormatError(path, "no 'endheader' line: not an OpenSim .sto/.mot table")
    simm = _is_simm_header(lines[:end])
    table = _parse_body(path, lines, end + 1, sep=None, allow_duplicates=simm)
    return _apply_header(path, lines[:end], table, simm)


def _is_simm_header(header: list[str]) -> bool:
    """True for the SIMM motion header (``datacolumns``/``datarows``/``range``, no ``version=``)."""
    words = {line.split()[0].lower() for line in header if line.strip()}
    return bool(words & {"datacolumns", "datarows", "range"}) and not any(
        line.strip().lower().startswith("version=") for line in header
    )


def _read_lines(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileFormatError(path, "no such file") from None
    except IsADirectoryError:
        raise FileFormatError(path, "is a directory, not a file") from None
    if not raw.strip():
        raise FileFormatError(path, "file is empty")
    if b"\x00" in raw[:4096]:
        raise FileFormatError(path, "binary file, not a text table")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if text.lstrip("\ufeff \t\r\n").startswith("<"):
        raise FileFormatError(path, f"is an XML document ({_xml_kind(text)}), not a table")
    return text.splitlines()


def _xml_kind(text: str) -> str:
    """Name the first meaningful element of an XML document, e.g. 'OpenSim MarkerSet'."""
    text = re.sub(r"<!--.*?-->", "", text[:20000], flags=re.S)
    tags = [t for t in re.findall(r"<([A-Za-z_][\w.-]*)", text) if t != "xml"]
    if tags and tags[0] == "OpenSimDocument":
        return f"OpenSim {tags[1]}" if len(tags) > 1 else "an empty OpenSimDocument"
    return f"<{tags[0]}>" if tags else "no elements"


def _split(line: str, sep: str | None) -> list[str]:
    """Fields of one line: tab-separated when the line has a tab, else whitespace-separated."""
    if sep is None:
        sep = "\t" if "\t" in line else None
    if sep is None:
        return line.split()
    fields = [f.strip() for f in line.split(sep)]
    while fields and fields[-1] == "":
        fields.pop()
    return fields


def _parse_body(
    path: Path, lines: list[str], start: int, sep: str | None, allow_duplicates: bool = False
) -> Table:
    """Parse the column labels and data rows that follow the header (``start`` is 0-based).

    Repeated labels are an error, except in SIMM-header files (``allow_duplicates``): SIMM matched
    columns by position and wrote both feet's ground-force columns under the same names.
    """
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines):
        raise FileFormatError(path, "no column labels after the header", line=i)
    labels = _split(lines[i], sep)
    _check_labels(path, labels, i + 1, allow_duplicates)
    rows, row_lines = [], []
    for j in range(i + 1, len(lines)):
        if lines[j].strip():
            rows.append(_parse_row(path, _split(lines[j], sep), labels, j + 1))
            row_lines.append(j + 1)
    if not rows:
        raise FileFormatError(path, "no data rows after the column labels", line=i + 1)
    values = np.array(rows, dtype=float)
    _check_time(path, values[:, 0], row_lines, labels[0])
    return Table(time=values[:, 0], labels=labels[1:], data=values[:, 1:], time_label=labels[0])


def _check_labels(path: Path, labels: list[str], line: int, allow_duplicates: bool) -> None:
    if len(labels) < 1:
        raise FileFormatError(path, "empty column-label line", line=line)
    if "" in labels:
        raise FileFormatError(
            path, f"empty column label at column {labels.index('') + 1}", line=line
        )
    seen: set[str] = set()
    duplicates = [x for x in labels if x in seen or seen.add(x)]
    if duplicates and not allow_duplicates:
        names = ", ".join(sorted(set(duplicates)))
        raise FileFormatError(path, f"duplicate column names: {names}", line=line)
    try:
        float(labels[0])
    except ValueError:
        return
    raise FileFormatError(
        path, f"expected column labels, found numbers ('{labels[0]}', ...)", line=line
    )


def _parse_row(path: Path, fields: list[str], labels: list[str], line: int) -> list[float]:
    if len(fields) != len(labels):
        raise FileFormatError(
            path,
            f"row has {len(fields)} fields but there are {len(labels)} column labels",
            line=line,
        )
    try:
        return [float(f) for f in fields]
    except ValueError:
        pass
    for f, label in zip(fields, labels, strict=True):
        try:
            float(f)
        except ValueError:
            what = "empty cell" if f == "" else f"non-numeric cell '{f[:20]}'"
            raise FileFormatError(path, f"{what} in column '{label}'", line=line) from None
    raise AssertionError("unreachable")


def _check_time(path: Path, time: np.ndarray, row_lines: list[int], label: str) -> None:
    if not np.all(np.isfinite(time)):
        k = int(np.flatnonzero(~np.isfinite(time))[0])
        raise FileFormatError(path, f"{label} is not a finite number", line=row_lines[k])
    steps = np.diff(time)
    if np.any(steps <= 0):
        k = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise FileFormatError(
            path,
            f"{label} does not increase ({float(time[k - 1])!r} then {float(time[k])!r})",
            line=row_lines[k],
        )


def _apply_header(path: Path, header: list[str], table: Table, simm: bool) -> Table:
    """Fill name, inDegrees flag, metadata, comments and dialect from the header lines."""
    keys_seen: set[str] = set()
    for number, raw in enumerate(header, start=1):
        line = raw.strip()
        if not line:
            continue
        match = _KEY_VALUE.match(line)
        first, _, rest = line.partition(" ")
        if match:
            _apply_key_value(path, table, match.group(1), match.group(2).strip(), number)
            keys_seen.add(match.group(1).lower())
        elif first.lower() in _SIMM_KEYS:
            if first.lower() == "name" and not table.name:
                table.name = rest.strip()
        elif number == _first_nonblank(header) and not table.name:
            table.name = line
        else:
            table.comments.append(line)
    if keys_seen & _TIMESERIES_KEYS or table.metadata.get("version", "1") not in ("1", "1.0"):
        table.dialect = "timeseries"
    elif simm:
        table.dialect = "simm"
    table.metadata.pop("version", None)
    return table


def _first_nonblank(lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines, start=1) if line.strip())


def _apply_key_value(path: Path, table: Table, key: str, value: str, line: int) -> None:
    lower = key.lower()
    if lower == "indegrees":
        if value.lower() in _TRUE_WORDS:
            table.in_degrees = True
        elif value.lower() in _FALSE_WORDS:
            table.in_degrees = False
        else:
            raise FileFormatError(
                path, f"unknown inDegrees value '{value}' (expected yes or no)", line=line
            )
    elif lower not in _COUNT_KEYS:
        table.metadata[key] = value


# ----------------------------------------------------------------------------------------- writing


_SPECIAL = {"nan": "NaN", "inf": "Inf", "-inf": "-Inf"}  # as OpenSim writes them


def _number(x: float) -> str:
    """Shortest text that reads back as exactly the same float."""
    text = repr(float(x))
    return _SPECIAL.get(text, text)


def format_table(table: Table, dialect: str | None = None, csv: bool = False) -> str:
    """The file text for ``table`` (header in ``dialect``, default the table's own)."""
    sep = "," if csv else "\t"
    columns = [table.time_label, *table.labels]
    out: list[str] = []
    if not csv:
        out = _format_header(table, dialect or table.dialect)
    out.append(sep.join(columns))
    block = np.column_stack([table.time, table.data])
    out.extend(sep.join(_number(x) for x in row) for row in block.tolist())
    return "\n".join(out) + "\n"


def _format_header(table: Table, dialect: str) -> list[str]:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect '{dialect}'; dialects are: {', '.join(DIALECTS)}")
    lines = [table.name] if table.name else []
    degrees = (
        [] if table.in_degrees is None else [f"inDegrees={'yes' if table.in_degrees else 'no'}"]
    )
    counts = [f"nRows={table.n_rows}", f"nColumns={len(table.labels) + 1}"]
    if dialect == "simm":
        span = f"{_number(table.time[0])} {_number(table.time[-1])}"
        lines = [
            f"name {table.name or 'table'}",
            f"datacolumns {len(table.labels) + 1}",
            f"datarows {table.n_rows}",
            f"range {span}",
            *degrees,
        ]
        lines += [f"{k}={v}" for k, v in table.metadata.items()]
    elif dialect == "storage":
        if not lines:
            lines = ["table"]
        lines += ["version=1", *counts, *degrees]
        lines += [f"{k}={v}" for k, v in table.metadata.items()]
    else:
        meta = dict(table.metadata)
        meta.setdefault("DataType", "double")
        meta.setdefault("OpenSimVersion", "4.6")
        lines += ["version=3", *(f"{k}={v}" for k, v in meta.items()), *counts, *degrees]
    return lines + list(table.comments) + ["endheader"]


def write_table(
    table: Table, path: str | Path, dialect: str | None = None, force: bool = False
) -> Path:
    """Write ``table`` by extension (.sto/.mot OpenSim text, .csv plain); atomic; no silent overwrite."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise FileFormatError(
            path, f"unknown table extension '{suffix}'; use one of {', '.join(TABLE_SUFFIXES)}"
        )
    text = format_table(table, dialect, csv=suffix == ".csv")
    with atomic_output(path, force) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return path
