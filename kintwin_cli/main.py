"""The ``kintwin`` root command: global options, sub-command registry, one-line errors."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

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
    "so": ("kintwin_cli.commands.static_optimization", "static_optimization"),
    "report": ("kintwin_cli.commands.report", "report"),
    "batch": ("kintwin_cli.commands.batch", "batch"),
}

EXIT_USAGE = 2


class OneLineError(click.ClickException):
    """A usage error shown as one line, ``kintwin: error: <message>``, with exit code 2."""

    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"kintwin: error: {self.message}", file=file, err=True)


class KintwinGroup(click.Group):
    """Lazy sub-commands, and every error turned into one line on stderr with exit code 2.

    Project errors (:class:`KintwinError`) and OS errors are caught where the sub-command runs
    (``--debug`` lets them through with their traceback); click's own usage errors (a missing
    file, an unknown option, a missing argument, a bad choice) are rewritten into the same one
    line, whether they come from the root's options or a sub-command's.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.ClickException as error:
            raise _one_line(error) from None

    def invoke(self, ctx: click.Context) -> object:
        from converters.errors import KintwinError

        try:
            return super().invoke(ctx)
        except click.ClickException as error:
            raise _one_line(error) from None
        except (KintwinError, OSError) as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            message = str(error) if isinstance(error, KintwinError) else _os_message(error)
            click.echo(f"kintwin: error: {_single_line(message)}", err=True)
            sys.exit(EXIT_USAGE)


def _one_line(error: click.ClickException) -> click.ClickException:
    """``error`` as a :class:`OneLineError` (the bare ``kintwin`` help screen is left alone)."""
    from kintwin_cli.options import InputPathError

    if isinstance(error, OneLineError | click.exceptions.NoArgsIsHelpError):
        return error
    message = _single_line(error.format_message()).rstrip(".")
    message = message[:1].lower() + message[1:] if message[1:2].islower() else message
    ctx = getattr(error, "ctx", None)
    if isinstance(error, click.UsageError) and not isinstance(error, InputPathError) and ctx:
        message += f" (see '{ctx.command_path} --help')"
    return OneLineError(message)


def _single_line(message: str) -> str:
    return "; ".join(line.strip() for line in message.strip().splitlines() if line.strip())


def _os_message(error: OSError) -> str:
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"


@click.group("kintwin", cls=KintwinGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    # No command renders: mujoco then skips loading OpenGL on import (~0.1 s of every run).
    os.environ.setdefault("MUJOCO_GL", "disable")
