"""Shared fixtures: where the real OpenSim data lives (read-only, never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$KINTWIN_SHARED_DATA`` or ``<repo>/../shared/data``."""
    return Path(os.environ.get("KINTWIN_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "README.md").is_file():
        pytest.fail(f"shared data not found at {path}; set KINTWIN_SHARED_DATA")
    return path


def pytest_terminal_summary(terminalreporter) -> None:
    """The number of fuzz cases each reader was tried on (tests/test_fuzz_readers.py)."""
    import sys

    tallies = [
        getattr(module, "TALLY", None)
        for name, module in list(sys.modules.items())
        if name.endswith("test_fuzz_readers")
    ]
    tally = next((t for t in tallies if t), None)
    if tally:
        cases = ", ".join(f"{name} {count}" for name, count in sorted(tally.items()))
        terminalreporter.write_line(f"fuzz: {sum(tally.values())} cases ({cases})")
