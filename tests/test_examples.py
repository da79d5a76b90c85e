"""``kintwin examples``: download over HTTP (a local server), copy from a local checkout, cache, CLI."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from converters.errors import ChecksumError, KintwinError, OutputExistsError, UnknownNameError
from converters.examples import (
    DownloadError,
    Manifest,
    build_manifest,
    cache_dir,
    example_dir,
    fetch_example,
    find_example,
    load_manifest,
    osim_mesh_files,
    sha256_file,
)
from kintwin_cli.main import cli

NAME = "gait10dof18musc"


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_manifest(NAME)


@pytest.fixture(scope="module")
def models_dir(shared_data: Path) -> Path:
    path = shared_data / "opensim-models"
    if not path.is_dir():
        pytest.fail(f"{path} missing: the shared data has no opensim-models copy")
    return path


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the user's settings nor write to the real cache."""
    for name in ("KINTWIN_EXAMPLES_FROM", "KINTWIN_EXAMPLES_URL", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KINTWIN_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def served_tree(tmp_path: Path, manifest: Manifest, models_dir: Path) -> Path:
    """A folder laid out as ``<ref>/<path>``, as raw.githubusercontent.com serves the repository."""
    root = tmp_path / "served"
    for entry in manifest.files:
        target = root / manifest.ref / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(models_dir / entry.path, target)
    return root


@dataclass
class Server:
    url: str
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def server(served_tree: Path) -> Iterator[Server]:
    """A threaded HTTP server on 127.0.0.1 serving ``served_tree`` and recording request paths."""
    record = Server(url="")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            record.requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(served_tree))
    )
    record.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _assert_complete(root: Path, manifest: Manifest) -> None:
    for entry in manifest.files:
        assert sha256_file(root / entry.path) == entry.sha256, entry.path


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.tmp") if p.is_file()]


# --- manifest -----------------------------------------------------------------------------------


def test_manifest_matches_the_local_copy_of_opensim_models(
    manifest: Manifest, models_dir: Path
) -> None:
    rebuilt = build_manifest(
        models_dir, manifest.name, manifest.title, manifest.repo, manifest.ref, manifest.roles
    )
    assert [f["path"] for f in rebuilt["files"]] == [e.path for e in manifest.files]
    assert [(f["sha256"], f["size"]) for f in rebuilt["files"]] == [
        (e.sha256, e.size) for e in manifest.files
    ]


def test_manifest_lists_every_mesh_the_model_references(
    manifest: Manifest, models_dir: Path
) -> None:
    meshes = osim_mesh_files(models_dir / manifest.roles["model"])
    assert len(meshes) == 19
    assert {f"Geometry/{mesh}" for mesh in meshes} <= {e.path for e in manifest.files}
    assert manifest.repo == "opensim-org/opensim-models" and manifest.ref == "20a888b"


def test_unknown_example_raises_error_listing_names() -> None:
    with pytest.raises(UnknownNameError, match="gait10dof18musc"):
        load_manifest("nope")


# --- download -----------------------------------------------------------------------------------


def test_fetch_downloads_every_file_and_checks_hashes(
    server: Server, manifest: Manifest, tmp_path: Path
) -> None:
    events = []
    files = fetch_example(NAME, dest=tmp_path / "ex", base_url=server.url, on_file=events.append)
    _assert_complete(tmp_path / "ex", manifest)
    assert files.root == (tmp_path / "ex").resolve()
    assert files.model == files.root / manifest.roles["model"]
    assert files.model.name == "subject01.osim" and files.id_reference.suffix == ".sto"
    assert files.count("downloaded") == len(manifest.files) == len(server.requests)
    assert [e.index for e in events] == list(range(1, len(manifest.files) + 1))
    assert server.requests[0] == f"/{manifest.ref}/{manifest.files[0].path}"
    assert _leftovers(tmp_path / "ex") == []


def test_fetch_raises_error_if_a_download_is_corrupted(
    server: Server, served_tree: Path, manifest: Manifest, tmp_path: Path
) -> None:
    bad = manifest.roles["coordinates"]
    with open(served_tree / manifest.ref / bad, "ab") as stream:
        stream.write(b"0.0\n")
    with pytest.raises(ChecksumError, match="SHA-256"):
        fetch_example(NAME, dest=tmp_path / "ex", base_url=server.url)
    assert not (tmp_path / "ex" / bad).exists()
    assert (tmp_path / "ex" / manifest.roles["model"]).is_file()  # files before it are kept
    assert _leftovers(tmp_path / "ex") == []


def test_fetch_raises_one_line_error_if_http_404(
    server: Server, served_tree: Path, manifest: Manifest, tmp_path: Path
) -> None:
    missing = manifest.roles["id_reference"]
    (served_tree / manifest.ref / missing).unlink()
    with pytest.raises(DownloadError) as caught:
        fetch_example(NAME, dest=tmp_path / "ex", base_url=server.url)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{server.url}/{manifest.ref}/{missing}" in message
    assert "404" in message and "--from" in message
    assert not (tmp_path / "ex" / missing).exists()
    assert _leftovers(tmp_path / "ex") == []


def test_fetch_raises_one_line_error_if_no_server(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match=f"127.0.0.1:{port}") as caught:
        fetch_example(NAME, dest=tmp_path / "ex", base_url=f"http://127.0.0.1:{port}", timeout=5)
    assert "\n" not in str(caught.value)


def test_second_fetch_reports_cached_and_downloads_nothing(
    server: Server, manifest: Manifest, tmp_path: Path
) -> None:
    dest = tmp_path / "ex"
    fetch_example(NAME, dest=dest, base_url=server.url)
    first = len(server.requests)
    files = fetch_example(NAME, dest=dest, base_url=server.url)
    assert len(server.requests) == first
    assert files.count("cached") == len(manifest.files)
    edited = dest / manifest.roles["grf"]
    edited.write_text("edited")  # a changed file is never replaced without force
    with pytest.raises(OutputExistsError, match="differs from the pinned file; use --force"):
        fetch_example(NAME, dest=dest, base_url=server.url)
    assert len(server.requests) == first and edited.read_text() == "edited"
    files = fetch_example(NAME, dest=dest, base_url=server.url, force=True)
    assert files.count("downloaded") == len(manifest.files)
    _assert_complete(dest, manifest)


def test_url_from_environment_and_default_cache(
    server: Server, manifest: Manifest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KINTWIN_EXAMPLES_URL", server.url)
    files = fetch_example()
    assert files.root == (tmp_path / "cache" / "examples" / NAME).resolve()
    assert len(server.requests) == len(manifest.files)


# --- local copy ---------------------------------------------------------------------------------


def test_fetch_from_local_copy(models_dir: Path, manifest: Manifest, tmp_path: Path) -> None:
    files = fetch_example(NAME, dest=tmp_path / "ex", source_dir=models_dir)
    _assert_complete(tmp_path / "ex", manifest)
    assert files.count("copied") == len(manifest.files)
    assert find_example(NAME, tmp_path / "ex") is not None


def test_fetch_from_environment_copy(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KINTWIN_EXAMPLES_FROM", str(models_dir))
    monkeypatch.setenv("KINTWIN_EXAMPLES_URL", "http://127.0.0.1:9/unused")
    files = fetch_example()
    assert files.count("copied") > 0
    assert files.root == (tmp_path / "cache" / "examples" / NAME).resolve()


def test_fetch_raises_error_naming_file_missing_from_local_copy(
    served_tree: Path, manifest: Manifest, tmp_path: Path
) -> None:
    checkout = served_tree / manifest.ref
    missing = manifest.roles["external_loads"]
    (checkout / missing).unlink()
    with pytest.raises(KintwinError, match="subject01_walk_grf.xml: missing"):
        fetch_example(NAME, dest=tmp_path / "ex", source_dir=checkout)
    assert not (tmp_path / "ex" / missing).exists()


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("KINTWIN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "kintwin"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "kintwin"
    assert example_dir(NAME, tmp_path / "d") == tmp_path / "d"


# --- command line -------------------------------------------------------------------------------


def test_cli_fetch_then_path(models_dir: Path, manifest: Manifest, tmp_path: Path) -> None:
    runner = CliRunner()
    dest = tmp_path / "ex"
    result = runner.invoke(cli, ["examples", "path", "--dest", str(dest)])
    assert result.exit_code == 1 and "not fetched" in result.output
    result = runner.invoke(
        cli, ["examples", "fetch", "--from", str(models_dir), "--dest", str(dest)]
    )
    assert result.exit_code == 0, result.output
    assert str(dest.resolve() / manifest.roles["model"]) in result.stdout
    assert f"{len(manifest.files)} fetched" in result.stdout
    result = runner.invoke(
        cli, ["examples", "fetch", "--from", str(models_dir), "--dest", str(dest)]
    )
    assert f"{len(manifest.files)} cached" in result.stdout
    result = runner.invoke(cli, ["examples", "path", "--dest", str(dest)])
    assert result.exit_code == 0 and result.stdout.strip() == str(dest.resolve())
    model = dest / manifest.roles["model"]
    model.write_text(model.read_text().replace("</Model>", "<!-- mine --></Model>"))
    fetch = ["examples", "fetch", "--from", str(models_dir), "--dest", str(dest)]
    result = runner.invoke(cli, fetch)
    errors = [line for line in result.stderr.splitlines() if line.startswith("kintwin:")]
    assert result.exit_code == 2 and errors == [
        f"kintwin: error: {model}: differs from the pinned file; use --force to fetch it again"
    ]
    assert "<!-- mine -->" in model.read_text()
    assert runner.invoke(cli, [*fetch, "--force"]).exit_code == 0
    assert "<!-- mine -->" not in model.read_text()


def test_cli_fetch_quiet_prints_nothing(models_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["-q", "examples", "fetch", "--from", str(models_dir), "--dest", str(tmp_path / "ex")]
    )
    assert result.exit_code == 0 and result.stdout == ""


def test_cli_fetch_bad_from_dir_is_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["examples", "fetch", "--from", str(tmp_path / "nope"), "--dest", str(tmp_path / "ex")]
    )
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("kintwin:")]
    assert len(lines) == 1 and str(tmp_path / "nope") in lines[0]
    assert not (tmp_path / "ex").exists()


def test_cli_help_shows_examples() -> None:
    result = CliRunner().invoke(cli, ["examples", "fetch", "--help"])
    assert result.exit_code == 0 and "--from" in result.output and "Examples:" in result.output
