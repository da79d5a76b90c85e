"""Writing output files safely (never overwrite without force, never leave partial output), and
naming input files by content (SHA-256) in what we write."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from converters.errors import OutputExistsError

__all__ = ["atomic_output", "check_writable", "file_sha256", "user_cache_dir", "trial_name"]

CACHE_ENV = "KINTWIN_CACHE"


def trial_name(coordinates: str | Path) -> str:
    """The trial's name: the coordinates file's stem without a trailing ``_IK`` (any case)."""
    stem = Path(coordinates).stem
    return stem[:-3] if stem.lower().endswith("_ik") and len(stem) > 3 else stem


def check_writable(path: str | Path, force: bool) -> Path:
    """Return ``path`` as a Path; raise OutputExistsError if it exists and ``force`` is false."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(path)
    return path


@contextlib.contextmanager
def atomic_output(path: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    On any exception the temporary file is removed, so no partial output is left behind.
    """
    path = check_writable(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes: names an input wherever a colleague keeps it."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def user_cache_dir() -> Path:
    """KinTwin's per-user cache: ``$KINTWIN_CACHE``, else ``$XDG_CACHE_HOME/kintwin``, else
    ``~/.cache/kintwin`` (fetched examples, parsed models)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "kintwin"
