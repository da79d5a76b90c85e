"""OpenSim's logger, tamed: a level set and restored around each use, and no ``opensim.log``.

OpenSim 4.6 writes every message it logs to a file sink, ``opensim.log``, created in the current
folder at the first message; loading a model first changes into the model's folder, so the file
lands beside the user's model (or in whatever folder they run from). :func:`import_opensim`
removes that sink before anything can be logged; messages still reach the console at the level
:func:`opensim_log` sets.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

__all__ = ["import_opensim", "opensim_log", "LEVELS"]

LEVELS = ("off", "critical", "error", "warn", "info", "debug", "trace")


def import_opensim() -> ModuleType:
    """The ``opensim`` module, with its ``opensim.log`` file sink removed.

    Raises ImportError when the package is missing (callers that can do without OpenSim catch it).
    """
    import opensim

    opensim.Logger.removeFileSink()  # idempotent; cheap enough to repeat on every use
    return opensim


@contextmanager
def opensim_log(level: str = "error") -> Iterator[ModuleType]:
    """Within the block OpenSim logs at ``level`` (one of :data:`LEVELS`); the previous level is
    restored on the way out, also after an error. Yields the ``opensim`` module."""
    if level not in LEVELS:
        raise ValueError(f"OpenSim log level '{level}' is not one of {', '.join(LEVELS)}")
    opensim = import_opensim()
    previous = opensim.Logger.getLevelString()
    if previous.lower() != level:
        opensim.Logger.setLevelString(level)
    try:
        yield opensim
    finally:
        if previous.lower() != level:
            _restore(opensim, previous)


def _restore(opensim: ModuleType, level: str) -> None:
    """Set ``level`` back. OpenSim announces every change at info level on its console sink
    (standard output), so going back to info or finer would print "[info] Set log level to
    Info." each time: standard output is pointed at the null device for that one call."""
    if level.lower() not in ("info", "debug", "trace"):
        opensim.Logger.setLevelString(level)
        return
    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        opensim.Logger.setLevelString(level)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
