"""One exception hierarchy for the whole project.

Every error the user can cause (bad file, missing path, unknown name) derives from
:class:`KintwinError`; the command line turns it into one line and exit code 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "KintwinError",
    "FileFormatError",
    "MissingPathError",
    "OutputExistsError",
    "UnknownNameError",
    "ChecksumError",
    "UnsupportedElement",
]


class KintwinError(Exception):
    """Base class of every error meant to reach the user as a one-line message.

    Line breaks inside the message (e.g. from a parser's own message) are folded into spaces.
    """

    def __str__(self) -> str:
        return " ".join(line.strip() for line in super().__str__().splitlines() if line.strip())

    def __reduce__(self):
        """Pickle as class, message and attributes: the subclasses' constructors take other
        arguments than the message, which pickle's default would pass them (an error raised in
        a forked evaluation copy travels back pickled)."""
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type, args: tuple, state: dict) -> KintwinError:
    """A :class:`KintwinError` of class ``cls`` with ``args`` and attributes ``state``."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class FileFormatError(KintwinError):
    """A file that cannot be read: names the file, the line (1-based) when known, and the problem."""

    def __init__(self, path: str | Path, problem: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.problem = problem
        self.line = line
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {problem}")


class MissingPathError(KintwinError):
    """A path named by a setup file (or an option) that does not exist."""

    def __init__(
        self, path: str | Path, field: str, source: str | Path | None = None, hint: str = ""
    ) -> None:
        self.path = Path(path)
        self.field = field
        origin = f"{source}: " if source is not None else ""
        extra = f" ({hint})" if hint else ""
        super().__init__(f"{origin}<{field}> names '{path}', which does not exist{extra}")


class OutputExistsError(KintwinError):
    """Refusal to overwrite an existing output file without --force."""

    def __init__(
        self, path: str | Path, problem: str = "exists already; use --force to overwrite it"
    ) -> None:
        self.path = Path(path)
        super().__init__(f"{path}: {problem}")


class UnknownNameError(KintwinError):
    """A name (column, body, coordinate, ...) that is not among the valid ones."""

    def __init__(self, kind: str, name: str, valid: Iterable[str], where: str = "") -> None:
        valid = list(valid)
        shown = ", ".join(valid[:30]) + (", ..." if len(valid) > 30 else "")
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}no {kind} '{name}'; {kind}s are: {shown}")


class ChecksumError(KintwinError):
    """A downloaded or copied file whose SHA-256 is not the pinned one."""

    def __init__(self, path: str | Path, expected: str, actual: str) -> None:
        super().__init__(f"{path}: SHA-256 is {actual[:16]}…, expected {expected[:16]}…")


class UnsupportedElement(KintwinError):
    """An OpenSim element this project cannot convert: names its tag, its name and where it is."""

    def __init__(self, tag: str, name: str, where: str) -> None:
        self.tag = tag
        self.name = name
        self.where = where
        label = f"<{tag} name='{name}'>" if name else f"<{tag}>"
        super().__init__(f"{label} at {where} is not supported")
