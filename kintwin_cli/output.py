"""Messages to the user, honouring -v/-q (results go to stdout, notes to stderr)."""

from __future__ import annotations

import click


def verbosity() -> int:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    return (root.obj or {}).get("verbosity", 0) if root else 0


def note(message: str, level: int = 0) -> None:
    """A progress or status note on stderr, shown when verbosity >= level."""
    if verbosity() >= level:
        click.echo(message, err=True)


def warn(message: str) -> None:
    """A warning on stderr (shown unless -q)."""
    if verbosity() >= 0:
        click.echo(f"kintwin: warning: {message}", err=True)
