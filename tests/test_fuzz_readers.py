"""Property-based fuzzing of every reader, starting from real files in ``../shared/data``.

Each example mutates a real file (truncation, byte flips, inserted/deleted bytes, re-encoding as
UTF-16 or latin-1, numbers replaced by huge/NaN/inf/empty values, rows or fields dropped or
duplicated so counts no longer match) and reads it. The property: the reader returns a consistent
result or raises :class:`KintwinError` with one line naming the file — never another exception;
through the CLI, ``kintwin inspect FILE`` exits 0, or 2 with one line ``kintwin: error: ...``.

Examples are derandomized (the same cases on every run, for CI); the number tried per reader is
printed in pytest's summary ("fuzz: ..."). ``KINTWIN_FUZZ_EXAMPLES`` changes the count per reader
(default 50); ``KINTWIN_FUZZ_LONG=1`` enables the ``slow`` test, 10x as many per reader.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from converters.errors import KintwinError

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # no silent NaN arithmetic
EXAMPLES = int(os.environ.get("KINTWIN_FUZZ_EXAMPLES", "50"))
TALLY: dict[str, int] = {}  # reader -> examples run (reported by conftest's terminal summary)

SEEDS = {
    "mot": "opensim-models/Pipelines/Gait10dof18musc/OutputReference/IK/subject01_walk_IK.mot",
    "sto": "opensim-models/Pipelines/Gait10dof18musc/OutputReference/ID/Results/subject01_walk_ID.sto",
    "trc": "opensim-models/Pipelines/Gait10dof18musc/OutputReference/ExperimentalData/subject01_walk.trc",
    "grf_xml": "opensim-models/Pipelines/Gait10dof18musc/OutputReference/ExperimentalData/subject01_walk_grf.xml",
    "grf_mot": "opensim-models/Pipelines/Gait10dof18musc/OutputReference/ExperimentalData/subject01_walk_grf.mot",
    "id_setup": "opensim-models/Pipelines/Gait10dof18musc/OutputReference/ID/walk_Setup_ID.xml",
    "so_setup": "opensim-core/Applications/Analyze/tests/resources/arm26_Setup_StaticOptimization.xml",
    "osim": "opensim-models/Models/Arm26/arm26.osim",
    "vtp": "opensim-models/Models/Rajagopal/Geometry/r_fibula.vtp",
}
GENERATED = ("csv", "vtp_zlib", "vtp_raw", "vtp_lzma")  # seeds made from real or VTK-written files
_SEED_CACHE: dict[str, bytes] = {}


def _seed(key: str, shared_data: Path) -> bytes:
    """The bytes of a seed: a file of the shared data, or one of :data:`GENERATED`: the IK table
    written as CSV by the project, and VTK-written binary .vtp files (zlib-compressed inline
    base64, appended raw, appended base64 lzma) from test_meshes."""
    if key not in _SEED_CACHE:
        if key == "csv":
            from converters.opensim_io.table import format_table, read_table

            text = format_table(read_table(shared_data / SEEDS["mot"]), csv=True)
            _SEED_CACHE[key] = text.encode()
        elif key.startswith("vtp_"):
            import base64
            import zlib

            import test_meshes as m

            chunks = {
                "vtp_zlib": m.CUBE_BINARY_ZLIB_UINT64,
                "vtp_raw": m.SPHERE_STRIPS_APPENDED_RAW,
                "vtp_lzma": m.SPHERE_STRIPS_APPENDED_BASE64_LZMA,
            }[key]
            _SEED_CACHE[key] = zlib.decompress(base64.b64decode("".join(chunks)))
        else:
            _SEED_CACHE[key] = (shared_data / SEEDS[key]).read_bytes()
    return _SEED_CACHE[key]


def _suffix(key: str) -> str:
    return ".csv" if key == "csv" else ".vtp" if key.startswith("vtp") else Path(SEEDS[key]).suffix


ODD_NUMBERS = [
    b"nan", b"NaN", b"inf", b"-inf", b"1e308", b"1e400", b"-1e400", b"1e-400", b"-0",
    b"", b"9" * 400, b"0x1p3", b"1,5", b"--1", b".", b"e5",
]  # fmt: skip
_NUMBER = re.compile(rb"-?\d+\.?\d*(?:[eE][-+]?\d+)?")


# ------------------------------------------------------------------------------ mutations


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """``data`` after one to three random mutations."""
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(_MUTATIONS))
        data = kind(draw, data)
    return data


def _truncate(draw, data: bytes) -> bytes:
    return data[: draw(st.integers(0, len(data)))]


def _flip(draw, data: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(out) - 1))
        out[i] = draw(st.integers(0, 255))
    return bytes(out)


def _splice(draw, data: bytes) -> bytes:
    i = draw(st.integers(0, len(data)))
    cut = draw(st.integers(0, 64))
    return data[:i] + draw(st.binary(max_size=16)) + data[i + cut :]


def _encode(draw, data: bytes) -> bytes:
    text = data.decode("utf-8", errors="replace")
    if draw(st.booleans()):
        i = draw(st.integers(0, len(text)))
        text = text[:i] + "é°µ" + text[i:]
    encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "latin-1", "utf-8-sig"]))
    return text.encode(encoding, errors="replace")


def _odd_number(draw, data: bytes) -> bytes:
    matches = list(_NUMBER.finditer(data))
    if not matches:
        return data
    for _ in range(draw(st.integers(1, 4))):
        m = matches[draw(st.integers(0, len(matches) - 1))]
        value = draw(st.sampled_from(ODD_NUMBERS))
        data = data[: m.start()] + value + data[m.end() :]
        matches = list(_NUMBER.finditer(data))
        if not matches:
            break
    return data


def _lines(draw, data: bytes) -> bytes:
    """Drop, duplicate or shorten a line: row, column and header counts stop matching."""
    lines = data.split(b"\n")
    i = draw(st.integers(0, len(lines) - 1))
    action = draw(st.sampled_from(["drop", "duplicate", "drop_field", "add_field"]))
    if action == "drop":
        del lines[i]
    elif action == "duplicate":
        lines.insert(i, lines[i])
    else:
        fields = re.split(rb"([\t ,]+)", lines[i])
        if action == "drop_field" and len(fields) > 1:
            j = draw(st.integers(0, len(fields) - 1))
            del fields[j]
        else:
            fields.append(b"\t1.5")
        lines[i] = b"".join(fields)
    return b"\n".join(lines)


_MUTATIONS = [_truncate, _flip, _splice, _encode, _odd_number, _lines, _lines, _odd_number]


# --------------------------------------------------------------------------------- checks


def _check_error(error: KintwinError, path: Path) -> None:
    message = str(error)
    assert "\n" not in message.strip(), f"multi-line error: {message!r}"
    assert path.name in message, f"error does not name {path.name}: {message!r}"


def _read(read: Callable[[Path], object], path: Path, data: bytes) -> object | None:
    """Write ``data`` to ``path`` and read it; None if the reader refused it properly."""
    path.write_bytes(data)
    try:
        return read(path)
    except KintwinError as error:
        _check_error(error, path)
        return None


def _fuzz(name: str, seed_key: str, read: Callable[[Path], object], check=None, examples=None):
    """A hypothesis test reading mutated copies of a seed file."""
    count = examples or EXAMPLES

    @settings(
        max_examples=count,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def run(shared_data: Path, tmp_path_factory, data) -> None:
        TALLY[name] = TALLY.get(name, 0) + 1
        seed = _seed(seed_key, shared_data)
        folder = _folder(tmp_path_factory, shared_data)
        path = folder / f"fuzzed{_suffix(seed_key)}"
        result = _read(read, path, data.draw(mutated(seed)))
        if result is not None and check is not None:
            check(result)

    run.__name__ = run.__qualname__ = f"fuzz_{name.replace(' ', '_')}"
    return run


_FOLDERS: dict[str, Path] = {}


def _folder(tmp_path_factory, shared_data: Path) -> Path:
    """One folder per session holding the files setups and ExternalLoads name beside them."""
    if "fuzz" not in _FOLDERS:
        folder = tmp_path_factory.mktemp("fuzz")
        shutil.copyfile(shared_data / SEEDS["grf_mot"], folder / "subject01_walk_grf.mot")
        _FOLDERS["fuzz"] = folder
    return _FOLDERS["fuzz"]


def _table_is_consistent(table) -> None:
    assert table.data.shape == (len(table.time), len(table.labels))


def _markers_are_consistent(markers) -> None:
    assert markers.data.shape[0] == len(markers.time)
    assert markers.data.shape[1] == len(markers.markers)


def _mesh_is_consistent(mesh) -> None:
    assert mesh.faces.ndim == 2 and mesh.faces.shape[1] == 3
    if len(mesh.faces):
        assert 0 <= mesh.faces.min() and mesh.faces.max() < len(mesh.vertices)


def _read_table(path: Path):
    from converters.opensim_io.table import read_table

    return read_table(path)


def _read_trc(path: Path):
    from converters.opensim_io.trc import read_trc

    return read_trc(path)


def _read_loads(path: Path):
    from converters.opensim_io.external_loads import load_external_loads

    return load_external_loads(path)


def _read_id_setup(path: Path):
    from converters.opensim_io.setups import read_id_setup

    return read_id_setup(path, check_paths=False)


def _read_so_setup(path: Path):
    from converters.opensim_io.setups import read_so_setup

    return read_so_setup(path, check_paths=False)


def _read_osim(path: Path):
    from converters.osim.parser import load_osim

    return load_osim(path)


def _read_vtp(path: Path):
    from converters.opensim_io.vtp import read_vtp

    return read_vtp(path)


test_fuzz_mot_table = _fuzz("mot", "mot", _read_table, _table_is_consistent)
test_fuzz_sto_table = _fuzz("sto", "sto", _read_table, _table_is_consistent)
test_fuzz_trc = _fuzz("trc", "trc", _read_trc, _markers_are_consistent)
test_fuzz_external_loads = _fuzz("external_loads", "grf_xml", _read_loads)
test_fuzz_id_setup = _fuzz("id_setup", "id_setup", _read_id_setup)
test_fuzz_so_setup = _fuzz("so_setup", "so_setup", _read_so_setup)
test_fuzz_osim = _fuzz("osim", "osim", _read_osim)
test_fuzz_vtp = _fuzz("vtp", "vtp", _read_vtp, _mesh_is_consistent)


test_fuzz_csv_table = _fuzz("csv", "csv", _read_table, _table_is_consistent)
test_fuzz_vtp_zlib = _fuzz("vtp zlib", "vtp_zlib", _read_vtp, _mesh_is_consistent)
test_fuzz_vtp_appended_raw = _fuzz("vtp raw", "vtp_raw", _read_vtp, _mesh_is_consistent)
test_fuzz_vtp_appended_lzma = _fuzz("vtp lzma", "vtp_lzma", _read_vtp, _mesh_is_consistent)


# ------------------------------------------------------------------------------------ CLI

CLI_SEEDS = ["mot", "sto", "csv", "trc", "grf_xml", "id_setup", "so_setup", "osim"]


def _fuzz_cli(key: str):
    """``kintwin inspect`` on fuzzed copies of one seed: exit 0, or 2 with one line naming it."""

    @settings(
        max_examples=max(5, EXAMPLES // 5),
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def run(shared_data: Path, tmp_path_factory, data) -> None:
        from kintwin_cli.main import cli

        TALLY[f"cli {key}"] = TALLY.get(f"cli {key}", 0) + 1
        seed = _seed(key, shared_data)
        path = _folder(tmp_path_factory, shared_data) / f"cli{_suffix(key)}"
        path.write_bytes(data.draw(mutated(seed)))
        result = CliRunner().invoke(cli, ["inspect", str(path)])
        assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
        if result.exit_code == 2:
            lines = result.output.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("kintwin: error: "), result.output
            assert path.name in lines[0]

    run.__name__ = run.__qualname__ = f"fuzz_cli_{key}"
    return run


@pytest.mark.parametrize("key", CLI_SEEDS)
def test_fuzz_cli_inspect(key: str, shared_data: Path, tmp_path_factory) -> None:
    _fuzz_cli(key)(shared_data, tmp_path_factory)


def test_fuzz_regressions(tmp_path: Path, shared_data: Path) -> None:
    """Cases the fuzzing found (each crashed with a traceback before its fix)."""
    from converters.errors import FileFormatError

    osim = (shared_data / SEEDS["osim"]).read_bytes()
    first_location = re.search(rb"<location>([^<]*)</location>", osim).group(0)
    cases = {
        "two_numbers.osim": osim.replace(first_location, b"<location>0.1 0.2</location>", 1),
        "bad_mass.osim": osim.replace(b"<mass>", b"<mass>x", 1),
        "nan_location.osim": osim.replace(first_location, b"<location>0.1 nan 0.2</location>", 1),
        "nul.xml": b"<\x00?xml version='1.0'?>",
    }
    vtp = (shared_data / SEEDS["vtp"]).read_bytes()
    connectivity = re.search(rb'Name="connectivity"[^>]*>\s*(\d+)', vtp)
    cases["huge_index.vtp"] = vtp[: connectivity.start(1)] + b"1e308" + vtp[connectivity.end(1) :]
    readers = {".osim": _read_osim, ".xml": _read_loads, ".vtp": _read_vtp}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        reader = readers[path.suffix]
        with pytest.raises(FileFormatError) as error:
            reader(path)
        _check_error(error.value, path)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("KINTWIN_FUZZ_LONG"), reason="set KINTWIN_FUZZ_LONG=1 for the long run"
)
def test_fuzz_readers_long(shared_data: Path, tmp_path_factory) -> None:
    """Ten times the examples per reader (a longer, still derandomized run; ~4,000 cases, a few
    minutes): ``KINTWIN_FUZZ_LONG=1 pytest -m slow tests/test_fuzz_readers.py``."""
    readers = [
        ("mot", _read_table, _table_is_consistent),
        ("trc", _read_trc, _markers_are_consistent),
        ("grf_xml", _read_loads, None),
        ("id_setup", _read_id_setup, None),
        ("osim", _read_osim, None),
        ("vtp", _read_vtp, _mesh_is_consistent),
        ("vtp_zlib", _read_vtp, _mesh_is_consistent),
        ("vtp_raw", _read_vtp, _mesh_is_consistent),
    ]
    for key, read, check in readers:
        _fuzz(f"long {key}", key, read, check, examples=10 * EXAMPLES)(
            shared_data, tmp_path_factory
        )


def test_mutations_change_the_files(shared_data: Path) -> None:
    """The strategy really mutates: most draws differ from the seed (else the fuzz tests nothing)."""
    seed = (shared_data / SEEDS["mot"]).read_bytes()
    changed = []

    @settings(max_examples=50, derandomize=True, database=None, deadline=None)
    @given(data=st.data())
    def draw(data) -> None:
        changed.append(data.draw(mutated(seed)) != seed)

    draw()
    assert np.mean(changed) > 0.8
