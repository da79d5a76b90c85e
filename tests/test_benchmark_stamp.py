"""Benchmark results record the commit they ran at and whether the work tree differed from it."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from benchmarks.run import BENCHMARKS, ROOT, git_state, main


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    return subprocess.run([*command, *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / ".gitignore").write_text("*.log\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "first")
    return tmp_path


def test_clean_tree_gives_its_commit(repo: Path):
    state = git_state(repo)
    assert state == {
        "commit": _git(repo, "rev-parse", "HEAD").strip(),
        "dirty": False,
        "dirty_paths": [],
    }
    assert len(state["commit"]) == 40


@pytest.mark.parametrize(
    "change, dirty",
    [
        (lambda r: (r / "code.py").write_text("x = 2\n"), True),  # tracked file edited
        (lambda r: (r / "new.py").write_text(""), True),  # untracked code
        (lambda r: (r / "run.log").write_text(""), False),  # ignored
        (lambda r: (r / "benchmarks/results").mkdir(parents=True)
         or (r / "benchmarks/results/b.json").write_text("{}"), False),  # the run's own output
    ],
    ids=["edited", "untracked", "ignored", "results"],
)  # fmt: skip
def test_dirty_flag(repo: Path, change, dirty: bool):
    change(repo)
    state = git_state(repo)
    assert state["dirty"] is dirty
    assert bool(state["dirty_paths"]) is dirty


def test_outside_a_repository_all_unknown(tmp_path: Path):
    assert git_state(tmp_path / "missing") == {"commit": None, "dirty": None, "dirty_paths": None}


def test_each_result_file_is_stamped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bench = types.ModuleType("bench_fake")
    bench.run = lambda data: {"summary": {"value": 1}}
    monkeypatch.setitem(sys.modules, "bench_fake", bench)
    main(["--out", str(tmp_path)], benchmarks=["bench_fake"])
    result = json.loads((tmp_path / "bench_fake.json").read_text())
    assert result["summary"] == {"value": 1}
    meta = result["_meta"]
    assert meta["git"]["commit"] == _git(ROOT, "rev-parse", "HEAD").strip()
    assert isinstance(meta["git"]["dirty"], bool)
    assert (
        meta["benchmark"] == "bench_fake"
        and meta["date"][:2] == "20"
        and "cores" in meta["machine"]
    )


@pytest.mark.parametrize("module", BENCHMARKS)
def test_every_benchmark_imports_and_has_run(module: str):
    """A benchmark whose import broke (a library name moved) fails here, not in `make bench`."""
    import importlib

    assert callable(importlib.import_module(module).run)
