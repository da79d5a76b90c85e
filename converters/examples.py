"""Example data fetched on demand: OpenSim's Gait10dof18musc walk from the opensim-models repository.

An example is a manifest (``converters/data/<name>_manifest.json``): the repository, a pinned ref, and
every file (path relative to the repository root, SHA-256, size in bytes), plus the *roles* of the
key files (model, IK coordinates, GRF, ...). Files are fetched either over HTTP from
``{base_url}/{ref}/{path}`` or copied from a local checkout of the repository, verified against their
SHA-256, and stored under the example folder with their repository-relative paths, so that the
relative paths inside the setup XML files keep working.

Environment variables (explicit arguments win over them):

* ``KINTWIN_CACHE`` — the cache folder (else ``$XDG_CACHE_HOME/kintwin``, else ``~/.cache/kintwin``);
* ``KINTWIN_EXAMPLES_FROM`` — a local checkout of opensim-models to copy from instead of downloading;
* ``KINTWIN_EXAMPLES_URL`` — the download base URL (default :data:`DEFAULT_BASE_URL`).
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import os
import shutil
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from converters.errors import (
    ChecksumError,
    FileFormatError,
    KintwinError,
    OutputExistsError,
    UnknownNameError,
)
from converters.files import atomic_output, user_cache_dir

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_EXAMPLE",
    "DEFAULT_TIMEOUT",
    "ENV_CACHE",
    "ENV_FROM",
    "ENV_URL",
    "ROLES",
    "DownloadError",
    "ExampleFiles",
    "FetchEvent",
    "Manifest",
    "ManifestFile",
    "available_examples",
    "build_manifest",
    "cache_dir",
    "example_dir",
    "fetch_example",
    "find_example",
    "load_manifest",
    "osim_mesh_files",
    "sha256_file",
]

DEFAULT_BASE_URL = "https://raw.githubusercontent.com/opensim-org/opensim-models"
DEFAULT_EXAMPLE = "gait10dof18musc"
DEFAULT_TIMEOUT = 30.0
ENV_CACHE = "KINTWIN_CACHE"
ENV_FROM = "KINTWIN_EXAMPLES_FROM"
ENV_URL = "KINTWIN_EXAMPLES_URL"
ROLES = ("model", "coordinates", "markers", "grf", "external_loads", "id_setup", "id_reference")
"""Named files of an example: .osim model, IK .mot, markers .trc, GRF .mot, ExternalLoads .xml,
ID setup .xml, OpenSim's ID result .sto."""

_DATA_DIR = Path(__file__).with_name("data")
_MANIFEST_SUFFIX = "_manifest.json"
_URL_SCHEMES = ("http://", "https://", "file://")
_CHUNK = 1 << 16

Status = Literal["downloaded", "copied", "cached"]
_Writer = Callable[[str, BinaryIO], str]


class DownloadError(KintwinError):
    """A file that could not be downloaded (network failure, HTTP error)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(
            f"cannot download {url}: {reason}; without internet, use --from DIR "
            f"(or ${ENV_FROM}) with a local copy of opensim-models"
        )


@dataclass(frozen=True)
class ManifestFile:
    """One file of an example: ``path`` relative to the repository root, SHA-256 (hex), size (bytes)."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """What an example is made of, pinned to one commit (``ref``) of ``repo`` (``owner/name``)."""

    name: str
    title: str
    repo: str
    ref: str
    roles: Mapping[str, str]
    files: tuple[ManifestFile, ...]

    @property
    def total_size(self) -> int:
        """Sum of the file sizes, in bytes."""
        return sum(entry.size for entry in self.files)


@dataclass(frozen=True)
class ExampleFiles:
    """Where a fetched example lives, and its key files (absolute paths under ``root``).

    ``statuses`` maps each repository-relative path to 'downloaded', 'copied' or 'cached' (empty
    when the example was only located, not fetched).
    """

    name: str
    root: Path
    model: Path
    coordinates: Path
    markers: Path
    grf: Path
    external_loads: Path
    id_setup: Path
    id_reference: Path
    statuses: Mapping[str, Status]

    def count(self, status: Status) -> int:
        """How many files have ``status``."""
        return sum(1 for value in self.statuses.values() if value == status)


@dataclass(frozen=True)
class FetchEvent:
    """Progress report for one file (``index`` is 1-based, out of ``total``)."""

    path: str
    target: Path
    status: Status
    size: int
    index: int
    total: int


def available_examples() -> list[str]:
    """Names of the examples that have a manifest, sorted."""
    return sorted(p.name[: -len(_MANIFEST_SUFFIX)] for p in _DATA_DIR.glob(f"*{_MANIFEST_SUFFIX}"))


def load_manifest(name: str = DEFAULT_EXAMPLE) -> Manifest:
    """Read the stored manifest of example ``name``; UnknownNameError lists the valid names."""
    path = _DATA_DIR / f"{name}{_MANIFEST_SUFFIX}"
    if not path.is_file():
        raise UnknownNameError("example", name, available_examples())
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        files = tuple(ManifestFile(f["path"], f["sha256"], int(f["size"])) for f in raw["files"])
        manifest = Manifest(
            raw["name"], raw["title"], raw["repo"], raw["ref"], dict(raw["roles"]), files
        )
    except (ValueError, KeyError, TypeError) as error:
        raise FileFormatError(path, f"not a valid example manifest ({error})") from None
    known = {entry.path for entry in files}
    broken = [role for role in ROLES if manifest.roles.get(role) not in known]
    if broken:
        raise FileFormatError(path, f"roles without a listed file: {', '.join(broken)}")
    return manifest


def cache_dir() -> Path:
    """``$KINTWIN_CACHE``, else ``$XDG_CACHE_HOME/kintwin``, else ``~/.cache/kintwin``."""
    return user_cache_dir()


def example_dir(name: str = DEFAULT_EXAMPLE, dest: str | Path | None = None) -> Path:
    """The folder of example ``name``: ``dest`` if given, else ``<cache>/examples/<name>``."""
    if name not in available_examples():
        raise UnknownNameError("example", name, available_examples())
    return Path(dest).expanduser() if dest is not None else cache_dir() / "examples" / name


def find_example(
    name: str = DEFAULT_EXAMPLE, dest: str | Path | None = None
) -> ExampleFiles | None:
    """The example's files if every one of them is present (hashes are not checked), else None."""
    manifest = load_manifest(name)
    root = example_dir(name, dest)
    if not all((root / entry.path).is_file() for entry in manifest.files):
        return None
    return _example_files(manifest, root, {})


def fetch_example(
    name: str = DEFAULT_EXAMPLE,
    dest: str | Path | None = None,
    source_dir: str | Path | None = None,
    base_url: str | None = None,
    force: bool = False,
    on_file: Callable[[FetchEvent], None] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ExampleFiles:
    """Fetch example ``name`` into ``dest`` (default: the cache) and return where its files are.

    Files come from ``source_dir`` (a local checkout of the repository) if given, else from
    ``base_url`` (``{base_url}/{ref}/{path}``), else from ``$KINTWIN_EXAMPLES_FROM``, else from
    ``$KINTWIN_EXAMPLES_URL`` or :data:`DEFAULT_BASE_URL`. Files already present with the pinned
    SHA-256 are kept ('cached') unless ``force``; a file present with other content (edited, or
    damaged) is refused with OutputExistsError before anything is fetched, unless ``force``. Each file is written to a temporary file, verified
    and then moved into place, so a failure (DownloadError, ChecksumError, a file missing from
    ``source_dir``) never leaves a partial or wrong file. ``timeout`` is in seconds, per request.
    """
    manifest = load_manifest(name)
    root = example_dir(name, dest)
    present = {e.path for e in manifest.files if not force and _matches(root / e.path, e)}
    if not force:
        _refuse_changed_files(root, [e for e in manifest.files if e.path not in present])
    writer, fresh = _writer(manifest, source_dir, base_url, timeout)
    statuses: dict[str, Status] = {}
    for index, entry in enumerate(manifest.files, start=1):
        target = root / entry.path
        if entry.path in present:
            statuses[entry.path] = "cached"
        else:
            _fetch_file(entry, target, writer)
            statuses[entry.path] = fresh
        if on_file is not None:
            on_file(
                FetchEvent(
                    entry.path, target, statuses[entry.path], entry.size, index, len(manifest.files)
                )
            )
    return _example_files(manifest, root, statuses)


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(functools.partial(stream.read, _CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def osim_mesh_files(osim_path: str | Path) -> list[str]:
    """The distinct ``<mesh_file>`` names an ``.osim`` model references, in document order."""
    try:
        tree = ET.parse(osim_path)
    except ET.ParseError as error:
        raise FileFormatError(
            osim_path, f"not valid XML: {error}", line=error.position[0]
        ) from None
    names = (element.text.strip() for element in tree.iter("mesh_file") if element.text)
    return list(dict.fromkeys(name for name in names if name))


def build_manifest(
    source_dir: str | Path,
    name: str,
    title: str,
    repo: str,
    ref: str,
    roles: Mapping[str, str],
    extra: Iterable[str] = (),
    geometry_dir: str = "Geometry",
) -> dict:
    """Manifest (as JSON-ready dict) of the files in a local checkout ``source_dir`` of ``repo``.

    Lists the role files (in :data:`ROLES` order), ``extra`` paths, then ``<geometry_dir>/<mesh>``
    for every mesh the role 'model' references. Used to (re)write ``converters/data/*.json``.
    """
    source_dir = Path(source_dir)
    meshes = [f"{geometry_dir}/{mesh}" for mesh in osim_mesh_files(source_dir / roles["model"])]
    paths = list(dict.fromkeys([*(roles[role] for role in ROLES), *extra, *meshes]))
    files = []
    for path in paths:
        source = _local_file(source_dir, path)
        files.append({"path": path, "sha256": sha256_file(source), "size": source.stat().st_size})
    return {
        "name": name,
        "title": title,
        "repo": repo,
        "ref": ref,
        "roles": {role: roles[role] for role in ROLES},
        "files": files,
    }


def _writer(
    manifest: Manifest, source_dir: str | Path | None, base_url: str | None, timeout: float
) -> tuple[_Writer, Status]:
    """The function that writes one repository file to a stream, and the status it stands for."""
    if source_dir is None and base_url is None and os.environ.get(ENV_FROM):
        source_dir = os.environ[ENV_FROM]
    if source_dir is not None:
        root = Path(source_dir).expanduser()
        if not root.is_dir():
            raise KintwinError(
                f"{root}: not a directory; --from (or ${ENV_FROM}) must name "
                f"a local copy of {manifest.repo}"
            )
        return functools.partial(_copy_local, root), "copied"
    base = (base_url or os.environ.get(ENV_URL) or DEFAULT_BASE_URL).rstrip("/")
    if not base.startswith(_URL_SCHEMES):
        raise KintwinError(f"{base}: not an http(s):// or file:// URL")
    return functools.partial(_download, f"{base}/{manifest.ref}", timeout), "downloaded"


def _fetch_file(entry: ManifestFile, target: Path, writer: _Writer) -> None:
    """Write ``entry`` to ``target`` through a verified temporary file; remove a stale target."""
    if target.is_file() and not _matches(target, entry):
        target.unlink()
    with atomic_output(target, force=True) as tmp:
        with tmp.open("wb") as out:
            origin = writer(entry.path, out)
        actual = sha256_file(tmp)
        if actual != entry.sha256:
            raise ChecksumError(origin, entry.sha256, actual)


def _download(base: str, timeout: float, path: str, out: BinaryIO) -> str:
    """Copy ``{base}/{path}`` into ``out``; return the URL. Network failures -> DownloadError."""
    url = f"{base}/{urllib.request.pathname2url(path).lstrip('/')}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            shutil.copyfileobj(response, out, _CHUNK)
    except urllib.error.HTTPError as error:
        raise DownloadError(url, f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise DownloadError(url, str(error.reason)) from None
    except (http.client.HTTPException, ConnectionError, TimeoutError) as error:
        raise DownloadError(url, str(error) or type(error).__name__) from None
    return url


def _copy_local(root: Path, path: str, out: BinaryIO) -> str:
    """Copy ``root/path`` into ``out``; return the source path as text."""
    source = _local_file(root, path)
    with source.open("rb") as stream:
        shutil.copyfileobj(stream, out, _CHUNK)
    return str(source)


def _local_file(root: Path, path: str) -> Path:
    """``root/path``, or a KintwinError naming the missing file."""
    source = root / path
    if not source.is_file():
        raise KintwinError(f"{source}: missing from the local copy of opensim-models at {root}")
    return source


def _refuse_changed_files(root: Path, missing: list[ManifestFile]) -> None:
    """Raise OutputExistsError if a file to fetch exists with other content (a local edit is
    never replaced without ``force``)."""
    changed = [root / e.path for e in missing if (root / e.path).exists()]
    if changed:
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        raise OutputExistsError(
            changed[0], f"differs from the pinned file{more}; use --force to fetch it again"
        )


def _matches(path: Path, entry: ManifestFile) -> bool:
    """True if ``path`` is a file with the size and SHA-256 of ``entry``."""
    return (
        path.is_file() and path.stat().st_size == entry.size and sha256_file(path) == entry.sha256
    )


def _example_files(manifest: Manifest, root: Path, statuses: dict[str, Status]) -> ExampleFiles:
    """Absolute role paths of ``manifest`` under ``root``."""
    paths = {role: (root / manifest.roles[role]).resolve() for role in ROLES}
    return ExampleFiles(name=manifest.name, root=root.resolve(), statuses=statuses, **paths)
