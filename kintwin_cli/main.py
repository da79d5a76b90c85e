"""The ``kintwin`` root command: global options, sub-command registry, one-line errors."""

from __future__ import annotations

import importlib
import sys

import click

from kintwin_cli import __version__

# name -> (module, attribute); modules are imported only when the command runs, so --help is fast.
COMMANDS = {
    "convert": ("kintwin_cli.commands.convert", "convert"),
    "inspect": ("kintwin_cli.commands.inspect", "inspect"),
    "examples": ("kintwin_cli.commands.examples", "examples"),
    "validate": ("kintwin_cli.commands.validate", "validate"),
    "id": ("kintwin_cli.commands.inverse_dynamics", "inverse_dynamics"),
    "run-tool": ("kintwin_cli.commands.run_tool", "run_tool"),
    "train": ("kintwin_cli.commands.train", "train"),
    "compare": ("kintwin_cli.commands.compare", "compare"),
}

EXIT_USAGE = 2


class KintwinGroup(click.Group):
    """Lazy sub-commands, and every project error turned into one line on stderr with exit code 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def invoke(self, ctx: click.Context) -> object:
        from converters.errors import KintwinError

        try:
            return super().invoke(ctx)
        except (KintwinError, OSError) as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            message = str(error) if isinstance(error, KintwinError) else _os_message(error)
            click.echo(f"kintwin: error: {message}", err=True)
            sys.exit(EXIT_USAGE)


def _os_message(error: OSError) -> str:
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"


@click.group(cls=KintwinGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="kintwin")
@click.option("-v", "--verbose", count=True, help="More messages (repeat for more).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, debug: bool) -> None:
    """KinTwin CLI: OpenSim inverse dynamics and muscle activations by imitation, no force plates.

    \b
    Typical flow:
      kintwin examples fetch                   # OpenSim's Gait10dof18musc walk
      kintwin inspect subject01_walk_IK.mot    # what is in a file
      kintwin convert table IK.mot IK.csv      # between .sto, .mot and .csv
    """
    ctx.ensure_object(dict)
    ctx.obj.update(verbosity=-1 if quiet else verbose, debug=debug)
