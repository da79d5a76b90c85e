"""``kintwin examples``: fetch OpenSim's example data into a cache, or show where it is."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from kintwin_cli.output import verbosity

DEFAULT_EXAMPLE = "gait10dof18musc"
EXIT_NOT_FETCHED = 1
_ROLE_LABELS = {
    "model": "model",
    "coordinates": "IK coordinates",
    "markers": "markers",
    "grf": "GRF",
    "external_loads": "external loads",
    "id_setup": "ID setup",
    "id_reference": "ID reference",
}

_dest_option = click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Example folder to use instead of <cache>/examples/NAME "
    "(cache: $KINTWIN_CACHE, else $XDG_CACHE_HOME/kintwin, else ~/.cache/kintwin).",
)


@click.group("examples")
def examples() -> None:
    """Example data: OpenSim's Gait10dof18musc walk (model, IK, markers, GRF, ID result).

    \b
    Examples:
      kintwin examples fetch                        # download into the cache
      kintwin examples fetch --from ~/opensim-models   # copy from a local checkout
      kintwin examples path                         # where the example is
    """


@examples.command("fetch")
@click.argument("name", default=DEFAULT_EXAMPLE)
@click.option(
    "--from",
    "source_dir",
    type=click.Path(path_type=Path),
    default=None,
    metavar="DIR",
    help="Copy from this local checkout of opensim-models instead of downloading "
    "[env: KINTWIN_EXAMPLES_FROM].",
)
@click.option(
    "--url",
    "base_url",
    default=None,
    metavar="URL",
    help="Download base; files are read from URL/REF/PATH "
    "[env: KINTWIN_EXAMPLES_URL; default: raw.githubusercontent.com].",
)
@_dest_option
@click.option("--force", is_flag=True, help="Fetch again even the files already present.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Network timeout per request, in seconds.",
)
def fetch(
    name: str,
    source_dir: Path | None,
    base_url: str | None,
    dest: Path | None,
    force: bool,
    timeout: float,
) -> None:
    """Fetch example NAME (default: gait10dof18musc), pinned and SHA-256-checked.

    Files keep their paths in the opensim-models repository, so the relative paths in the
    setup files work. Files already present with the right hash are not fetched again.

    \b
    Examples:
      kintwin examples fetch
      kintwin examples fetch --from ../shared/data/opensim-models
      kintwin examples fetch --dest ./data/gait10dof --force
    """
    from converters.examples import fetch_example, load_manifest

    manifest = load_manifest(name)
    run = functools.partial(
        fetch_example,
        name,
        dest=dest,
        source_dir=source_dir,
        base_url=base_url,
        force=force,
        timeout=timeout,
    )
    if verbosity() < 0:
        run()
        return
    label = f"fetching {name}"
    with click.progressbar(length=len(manifest.files), label=label, file=sys.stderr) as bar:
        files = run(on_file=lambda event: bar.update(1))
    fresh = len(files.statuses) - files.count("cached")
    click.echo(
        f"{manifest.title}\n{manifest.repo} @{manifest.ref}: {len(files.statuses)} files "
        f"({fresh} fetched, {files.count('cached')} cached) in {files.root}"
    )
    for role, role_label in _ROLE_LABELS.items():
        click.echo(f"  {role_label:<15} {getattr(files, role)}")


@examples.command("path")
@click.argument("name", default=DEFAULT_EXAMPLE)
@_dest_option
def path(name: str, dest: Path | None) -> None:
    """Print the folder of example NAME; exit code 1 if it has not been fetched.

    \b
    Examples:
      kintwin examples path
      cd "$(kintwin examples path)/Pipelines/Gait10dof18musc/OutputReference"
    """
    from converters.examples import example_dir, find_example

    files = find_example(name, dest)
    if files is None:
        click.echo(
            f"kintwin: example '{name}' is not fetched yet (looked in "
            f"{example_dir(name, dest)}); run 'kintwin examples fetch'",
            err=True,
        )
        raise SystemExit(EXIT_NOT_FETCHED)
    click.echo(str(files.root))
