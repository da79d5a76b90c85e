"""The parsed-model cache: a hit is the fresh parse, keys follow content, writes are atomic."""

from __future__ import annotations

import pickle
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

import converters.osim.parser as parser
from converters.errors import FileFormatError
from converters.osim.cache import CACHE_ENV, cache_dir, load_osim_cached

GAIT = "opensim-models/Pipelines/Gait10dof18musc/OutputReference/subject01.osim"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


@pytest.fixture
def parses(monkeypatch) -> list[Path]:
    """Records every real parse."""
    calls: list[Path] = []
    real = parser.load_osim

    def counting(path):
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(parser, "load_osim", counting)
    return calls


def _equal(a, b) -> bool:
    """Exact structural equality: dataclasses, containers, arrays (bitwise), scalars."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, dict):
        return list(a) == list(b) and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "__dict__"):
        return _equal(vars(a), vars(b))
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "osim").glob("*")) if (cache / "osim").exists() else []


def test_a_hit_is_the_fresh_parse(shared_data: Path, cache: Path, parses: list[Path]):
    path = shared_data / GAIT
    first = load_osim_cached(path)
    second = load_osim_cached(path)
    assert parses == [path] and len(_entries(cache)) == 1
    assert first is not second and _equal(first, second)
    assert _equal(second, parser.load_osim(path))
    assert not _equal(
        second, parser.load_osim(shared_data / GAIT.replace("subject01", "gait10dof18musc"))
    )


def test_a_hit_converts_to_the_same_mujoco_model(shared_data: Path, cache: Path):
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim

    options = ConvertOptions(meshes=False, muscles=False)
    fresh = convert_osim(shared_data / GAIT, options)  # a miss: parsed and stored
    cached = convert_osim(shared_data / GAIT, options)
    assert len(_entries(cache)) == 1
    for field in ("body_pos", "body_quat", "body_mass", "body_inertia", "jnt_axis", "geom_size"):
        assert np.array_equal(getattr(fresh.mj_model, field), getattr(cached.mj_model, field))
    assert fresh.map == cached.map


def test_the_key_is_the_content_and_the_path_is_the_callers(
    shared_data: Path, cache: Path, parses: list[Path], tmp_path: Path
):
    original = shared_data / GAIT
    copy = tmp_path / "copy.osim"
    shutil.copyfile(original, copy)
    load_osim_cached(original)
    assert load_osim_cached(copy).path == str(copy)  # same bytes: a hit
    assert len(parses) == 1
    copy.write_text(copy.read_text().replace("<mass>", "<mass> ", 1))  # same model, other bytes
    load_osim_cached(copy)
    assert len(parses) == 2 and len(_entries(cache)) == 2


def test_a_damaged_entry_is_parsed_again_and_replaced(
    shared_data: Path, cache: Path, parses: list[Path]
):
    load_osim_cached(shared_data / GAIT)
    (entry,) = _entries(cache)
    entry.write_bytes(entry.read_bytes()[:1000])
    model = load_osim_cached(shared_data / GAIT)
    assert len(parses) == 2 and model.name == "walk_subject01"
    load_osim_cached(shared_data / GAIT)
    assert len(parses) == 2  # the replaced entry reads


def test_off_and_unwritable_caches_still_parse(
    shared_data: Path, tmp_path: Path, monkeypatch, parses: list[Path]
):
    for setting in ("off", "0", "none"):
        monkeypatch.setenv(CACHE_ENV, setting)
        assert cache_dir() is None
        load_osim_cached(shared_data / GAIT)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker))
    assert load_osim_cached(shared_data / GAIT).name
    assert len(parses) == 4 and blocker.read_text() == "not a folder"


def test_a_bad_model_is_not_cached(tmp_path: Path, cache: Path):
    bad = tmp_path / "bad.osim"
    bad.write_text("<OpenSimDocument Version='40000'><Nothing/></OpenSimDocument>")
    with pytest.raises(FileFormatError, match="no <Model> element"):
        load_osim_cached(bad)
    assert _entries(cache) == []


def test_concurrent_writers_leave_one_whole_entry(
    shared_data: Path, cache: Path, parses: list[Path]
):
    start = threading.Barrier(6)
    results, errors = [], []

    def run():
        start.wait()
        try:
            results.append(load_osim_cached(shared_data / GAIT))
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 6
    (entry,) = _entries(cache)  # no temporary file left behind
    assert _equal(pickle.loads(entry.read_bytes()), results[0])
    before = len(parses)
    load_osim_cached(shared_data / GAIT)
    assert len(parses) == before
