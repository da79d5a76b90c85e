"""Messages to the user, honouring -v/-q, and the ``--json`` summary.

Results go to stdout (:func:`result`), notes and warnings to stderr. With ``--json`` (no FILE)
stdout carries one JSON object only, and :func:`result` writes to stderr instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import click

from kintwin_cli.options import JSON_STDOUT, json_to_stdout

__all__ = [
    "verbosity", "note", "warn", "result", "JsonSummary", "json_safe", "progress_lines",
]  # fmt: skip


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


PROGRESS_LINE_S = 60.0  # s between progress lines when stderr is not a terminal


def progress_lines(bar) -> Callable[[dict], None]:
    """A training log row's progress line every ``PROGRESS_LINE_S`` when the tqdm ``bar`` is off
    (stderr is no terminal: a batch job's or nohup's log, where the bar shows nothing)."""
    last = [time.monotonic()]

    def emit(row: dict) -> None:
        if bar.disable and time.monotonic() - last[0] >= PROGRESS_LINE_S:
            last[0] = time.monotonic()
            note(_progress_line(row))

    return emit


def _progress_line(row: dict) -> str:
    """Steps, speed, time, training tracking and the last evaluation (when there is one)."""
    line = (
        f"iteration {row['iteration']}: {row['global_step']} steps, "
        f"{row['steps_per_s']:.0f} steps/s, {row['wall_time'] / 60:.1f} min, "
        f"training tracking error {row['tracking_error_deg']:.2f}°"
    )
    score = row.get("eval_score", math.nan)
    return line if math.isnan(score) else f"{line}, last evaluation score {score:.2f}°"


def result(text: str) -> None:
    """A command's human-readable result: stdout, or stderr when stdout carries the JSON."""
    click.echo(text, err=json_to_stdout())


class JsonSummary:
    """Where ``--json`` sends a command's summary; create it before any work.

    A FILE target is checked at once (an existing file needs ``force``), so a long run is not
    wasted on an output it may not write; :meth:`emit` writes it atomically.
    """

    def __init__(self, target: Path | str | None, force: bool = False) -> None:
        from converters.files import check_writable

        self.target = target
        self.force = force
        if target is not None and target != JSON_STDOUT:
            self.target = check_writable(target, force)

    def emit(self, summary: dict) -> None:
        """Print ``summary`` on stdout or write it to the FILE (nothing without ``--json``)."""
        if self.target is None:
            return
        import json

        text = json.dumps(json_safe(summary), indent=1, allow_nan=False)
        if self.target == JSON_STDOUT:
            click.echo(text)
            return
        from converters.files import atomic_output

        with atomic_output(self.target, self.force) as tmp:
            tmp.write_text(text + "\n", encoding="utf-8")
        note(f"wrote {self.target}", level=1)


def json_safe(value: Any) -> Any:
    """``value`` with NaN/inf as None, paths as strings, numpy values and dataclasses as plain
    JSON types (JSON has no NaN)."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy arrays and scalars
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
