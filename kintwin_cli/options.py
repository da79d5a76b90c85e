"""Options and parameter types shared by the commands, defined once.

Each ``*_option`` returns a click decorator; the commands stack them:

    @click.command()
    @model_option()
    @coordinates_option()
    @output_option(help="The output .sto.")
    @json_option()
    @force_option()
    def my_command(model_path, coordinates, output, json_target, force): ...

Input paths use :class:`InputPath`, whose errors name the file first (``kintwin: error:
x.osim: no such file (option --model)``, one line, exit 2).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = [
    "InputPath",
    "InputPathError",
    "EXISTING_FILE",
    "EXISTING_DIR",
    "OUTPUT_FILE",
    "OUTPUT_DIR",
    "OUTPUT_PATH",
    "POSITIVE",
    "JSON_STDOUT",
    "force_option",
    "output_option",
    "model_option",
    "coordinates_option",
    "lowpass_option",
    "policy_option",
    "json_option",
    "json_to_stdout",
    "method_option",
    "resolve_method",
]

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
JSON_STDOUT = "-"  # --json without a FILE: the summary goes to stdout
_JSON_META_KEY = "kintwin.json_stdout"


class InputPathError(click.BadParameter):
    """A bad input path; the message starts with the path, the option comes last."""

    def format_message(self) -> str:
        if self.param is None:
            return self.message
        hint = self.param.get_error_hint(self.ctx).replace("'", "")
        return f"{self.message} ({self.param.param_type_name} {hint})"


class InputPath(click.ParamType):
    """An existing, readable file (``kind="file"``) or folder (``kind="dir"``), as a Path."""

    name = "path"

    def __init__(self, kind: str = "file") -> None:
        if kind not in ("file", "dir"):
            raise ValueError(f"kind must be 'file' or 'dir', not {kind!r}")
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = Path(value)
        noun = "file" if self.kind == "file" else "folder"
        if not path.exists():
            raise InputPathError(f"{value}: no such {noun}", ctx=ctx, param=param)
        if self.kind == "file" and path.is_dir():
            raise InputPathError(f"{value}: is a folder, expected a file", ctx=ctx, param=param)
        if self.kind == "dir" and not path.is_dir():
            raise InputPathError(f"{value}: is a file, expected a folder", ctx=ctx, param=param)
        if not os.access(path, os.R_OK):
            raise InputPathError(f"{value}: permission denied", ctx=ctx, param=param)
        return path


EXISTING_FILE = InputPath("file")
EXISTING_DIR = InputPath("dir")
OUTPUT_FILE = click.Path(dir_okay=False, path_type=Path)
OUTPUT_DIR = click.Path(file_okay=False, path_type=Path)
OUTPUT_PATH = click.Path(path_type=Path)
POSITIVE = click.FloatRange(min=0, min_open=True)


def force_option(help: str = "Overwrite existing outputs.") -> Decorator:  # noqa: A002
    """``--force``: the only way an existing output is overwritten."""
    return click.option("--force", is_flag=True, help=help)


def output_option(
    help: str,  # noqa: A002
    kind: str = "file",
    required: bool = True,
    name: str = "output",
) -> Decorator:
    """``-o/--output``: a file (``kind="file"``), a folder (``"dir"``) or either (``"any"``)."""
    types = {"file": OUTPUT_FILE, "dir": OUTPUT_DIR, "any": OUTPUT_PATH}
    return click.option("-o", "--output", name, required=required, type=types[kind], help=help)


def model_option(required: bool = True, help: str = "The .osim model.") -> Decorator:  # noqa: A002
    """``--model M.osim`` (the parameter is ``model_path``)."""
    return click.option("--model", "model_path", required=required, type=EXISTING_FILE, help=help)


def coordinates_option(
    required: bool = True,
    help: str = "IK coordinates .mot/.sto.",  # noqa: A002
) -> Decorator:
    """``--coordinates IK.mot``."""
    return click.option("--coordinates", required=required, type=EXISTING_FILE, help=help)


def lowpass_option(help: str) -> Decorator:  # noqa: A002
    """``--lowpass-hz HZ``: a low-pass cut-off in Hz (what is filtered differs per command)."""
    return click.option("--lowpass-hz", type=click.FloatRange(min=0), help=help)


def on_fall_option(help: str) -> Decorator:  # noqa: A002
    """``--on-fall stop|restart``, given to the command as ``restart_on_fall`` (bool)."""
    return click.option(
        "--on-fall", "restart_on_fall", type=click.Choice(["stop", "restart"]), default="stop",
        show_default=True, callback=lambda ctx, param, value: value == "restart", help=help,
    )  # fmt: skip


def fall_search_option() -> Decorator:
    """``--fall-search/--no-fall-search`` (policies.fall_search), on by default."""
    return click.option(
        "--fall-search/--no-fall-search", default=True, show_default=True,
        help="Imitation: where the model would fall, run again from up to 1.5 s earlier with "
        "actions drawn from the policy's own distribution and keep a draw that gets through "
        "(one continuous simulation, seeded); the summary's fall_search lists each search.",
    )  # fmt: skip


def policy_option(
    required: bool = False,
    help: str = "Policy directory (kintwin train) for imitation.",  # noqa: A002
) -> Decorator:
    """``--policy DIR``: a trained policy's folder."""
    return click.option("--policy", required=required, type=EXISTING_DIR, help=help)


def json_option(what: str = "a summary") -> Decorator:
    """``--json [FILE]``: ``what`` as one JSON object on stdout (the human lines then go to
    stderr, see :func:`kintwin_cli.output.result`), or written to FILE (refused if it exists,
    unless ``--force``). The parameter is ``json_target``: None, ``JSON_STDOUT`` or a Path.

    Give ``--json`` after the arguments (or as ``--json -``): ``--json A B`` reads A as FILE.
    """
    return click.option(
        "--json",
        "json_target",
        is_flag=False,
        flag_value=JSON_STDOUT,
        default=None,
        metavar="[FILE]",
        callback=_remember_json_target,
        help=f"Print {what} as one JSON object on stdout (messages go to stderr), or write it "
        "to FILE.",
    )


def _remember_json_target(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    if value == JSON_STDOUT:
        ctx.meta[_JSON_META_KEY] = True
        return JSON_STDOUT
    return Path(value)


def json_to_stdout() -> bool:
    """True while a command runs with ``--json`` (no FILE): stdout is reserved for the JSON."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_JSON_META_KEY))


def method_option(what: str = "the trial", contact: bool = False) -> Decorator:
    """``--method imitation|classic`` of the ID commands (see :func:`resolve_method`), and
    ``contact`` where ``contact``."""
    extra = (
        " contact: no force plates, no policy: the ground reactions the motion needs, shared "
        "among contact points under the feet, then OpenSim's equations."
        if contact
        else ""
    )
    return click.option(
        "--method",
        type=click.Choice(["imitation", "classic", *(["contact"] if contact else [])]),
        help=f"imitation (default with --policy): a trained policy tracks {what} in simulation, "
        "no force plates. classic: measured ground reaction forces and OpenSim's equations."
        + extra,
    )


def resolve_method(method: str | None, policy: Path | None, adapt_minutes: float | None) -> str:
    """The ID method: ``method``, else imitation with a policy, classic without; raises a usage
    error when the options do not fit it."""
    method = method or ("imitation" if policy is not None else "classic")
    if method == "imitation" and policy is None:
        raise click.UsageError("--method imitation needs --policy POLICY_DIR (see kintwin train)")
    if method != "imitation" and (policy is not None or adapt_minutes is not None):
        raise click.UsageError("--policy and --adapt-minutes belong to --method imitation")
    return method


IMITATION_ONLY = (
    ("fit_root", "--fit-root/--no-fit-root"),
    ("root_follow", "--root-follow"),
    ("restart_on_fall", "--on-fall"),
    ("fall_search", "--fall-search/--no-fall-search"),
)


def refuse_imitation_options(method: str) -> None:
    """A usage error when an imitation-only option (:data:`IMITATION_ONLY`) was given on the
    command line with another method, which would silently ignore it."""
    if method == "imitation":
        return
    context = click.get_current_context()
    for name, flag in IMITATION_ONLY:
        if name in context.params and (
            context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
        ):
            raise click.UsageError(f"{flag} belongs to --method imitation, not {method}")
