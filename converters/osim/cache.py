"""A per-user cache of parsed ``.osim`` models, so a pipeline parses each model once.

Parsing is the slow part of a conversion (XML, spline coefficients, and for OpenSim 3 files an
upgrade through the ``opensim`` package); building and compiling the MuJoCo model from the parsed
:class:`~converters.osim.model.OsimModel` takes a few milliseconds. :func:`load_osim_cached`
keeps the parsed model as a pickle named by the SHA-256 of the file's bytes, the package version,
the converter's source code (every ``converters/**/*.py``: a changed converter never reads an old
entry) and the Python and numpy versions. A hit gives exactly the object a fresh parse gives (floats round-trip
exactly through pickle), with ``path`` set to the path asked for.

Entries live in ``osim/`` under the user cache (``$KINTWIN_CACHE``, else
``$XDG_CACHE_HOME/kintwin``, else ``~/.cache/kintwin``, beside fetched examples);
``KINTWIN_CACHE=off`` (or ``0``, ``none``) turns this cache off. Entries are written to a
temporary file and renamed into place, so concurrent runs never read a partial entry (the last
writer wins; both wrote the same bytes). An unreadable entry is parsed again and replaced; a
folder that cannot be written only means no caching. Entries are never evicted (tens of kB each).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from converters.errors import KintwinError
from converters.files import CACHE_ENV, user_cache_dir
from converters.osim.model import OsimModel
from converters.version import __version__

__all__ = ["CACHE_ENV", "cache_dir", "cache_key", "load_osim_cached"]

_OFF = {"0", "off", "none", "false", "no"}
_FORMAT = "osim-1"  # bump if what is stored changes meaning


def cache_dir() -> Path | None:
    """The cache folder (:func:`converters.files.user_cache_dir`), or None when
    ``$KINTWIN_CACHE`` is ``off`` (or ``0``, ``none``, ``false``, ``no``)."""
    if os.environ.get(CACHE_ENV, "").strip().lower() in _OFF:
        return None
    return user_cache_dir()


@lru_cache(maxsize=1)
def _converter_digest() -> str:
    """SHA-256 of the converter's source files (relative names and bytes, in sorted order)."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode() + b"\0")
        digest.update(source.read_bytes() + b"\0")
    return digest.hexdigest()


def cache_key(content: bytes) -> str:
    """The entry name for an ``.osim`` file with ``content``."""
    digest = hashlib.sha256()
    for part in (_FORMAT, __version__, _converter_digest(), sys.version, np.__version__):
        digest.update(part.encode() + b"\0")
    digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def load_osim_cached(path: str | Path) -> OsimModel:
    """:func:`~converters.osim.parser.load_osim` of ``path``, from the cache when it holds it."""
    path = Path(path)
    folder = cache_dir()
    if folder is None:
        return _parse(path)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise KintwinError(f"{path}: cannot read the model ({error.strerror})") from None
    entry = folder / "osim" / f"{cache_key(content)}.pkl"
    model = _read_entry(entry)
    if model is None:
        model = _parse(path)
        _write_entry(entry, model)
    model.path = str(path)
    return model


def _parse(path: Path) -> OsimModel:
    from converters.osim.parser import load_osim

    return load_osim(path)


def _read_entry(entry: Path) -> OsimModel | None:
    """The cached model, or None if there is none or it cannot be read."""
    try:
        with open(entry, "rb") as handle:
            model = pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a damaged or foreign entry is re-parsed and replaced
        return None
    return model if isinstance(model, OsimModel) else None


def _write_entry(entry: Path, model: OsimModel) -> None:
    """Store ``model`` atomically; a cache that cannot be written is skipped."""
    from converters.files import atomic_output

    try:
        with atomic_output(entry, force=True) as tmp:
            tmp.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        pass
