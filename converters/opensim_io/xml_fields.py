"""Small helpers for OpenSim XML documents: find the object element, read typed fields, resolve paths.

Shared by the setup and ExternalLoads readers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from converters.errors import FileFormatError

__all__ = [
    "ElementFields",
    "opensim_element",
    "parse_xml",
    "resolve_setup_path",
    "is_foreign_absolute",
]

_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
_TRUE_WORDS = {"true", "yes", "1"}
_FALSE_WORDS = {"false", "no", "0"}


def parse_xml(path: Path) -> etree._Element:
    """The root element of an XML file, comments dropped; one-line FileFormatError otherwise.

    OpenSim 4 writes the names of nested classes as element names, e.g.
    ``<HuntCrossleyForce::ContactParametersSet>``; ``::`` is not allowed in an XML name with
    namespaces, so strict parsers reject these files although OpenSim reads them. Such names are
    read as ``HuntCrossleyForce_ContactParametersSet`` (OpenSim 3's spelling; line numbers kept).
    """
    try:
        data = path.read_bytes()
    except OSError:
        raise FileFormatError(
            path, "no such file" if not path.exists() else "cannot be read"
        ) from None
    try:
        return _parse_bytes(data)
    except etree.XMLSyntaxError as err:
        if "QName" not in str(err.msg) or b"::" not in data:
            raise FileFormatError(
                path, f"not a readable XML file ({err.msg})", line=err.lineno
            ) from None
    try:
        return _parse_bytes(_NESTED_CLASS_TAG.sub(rb"\1\2_", data))
    except etree.XMLSyntaxError as err:
        raise FileFormatError(
            path, f"not a readable XML file ({err.msg})", line=err.lineno
        ) from None


_NESTED_CLASS_TAG = re.compile(rb"(</?)([A-Za-z_][\w.-]*)::(?=[A-Za-z_])")


def _parse_bytes(data: bytes) -> etree._Element:
    parser = etree.XMLParser(remove_comments=True, resolve_entities=False, no_network=True)
    return etree.fromstring(data, parser)


def opensim_element(path: Path, expected: Sequence[str], what: str) -> etree._Element:
    """The tool/object element of an OpenSim XML file (inside ``<OpenSimDocument>`` or at the root).

    Raises FileFormatError (one line, naming ``path``) if the file is missing, is not XML, or its
    element is not one of ``expected``; ``what`` describes the expected file for the message.
    """
    root = parse_xml(path)
    element = root
    if root.tag == "OpenSimDocument":
        children = [e for e in root if isinstance(e.tag, str)]
        if not children:
            raise FileFormatError(path, f"an empty OpenSimDocument; expected {what}")
        element = children[0]
    if element.tag not in expected:
        kind = (
            f"an OpenSim {element.tag} file"
            if root.tag == "OpenSimDocument"
            else f"a <{element.tag}> document"
        )
        raise FileFormatError(
            path, f"is {kind}, not {what} (<{'> or <'.join(expected)}>)", line=element.sourceline
        )
    return element


def is_foreign_absolute(text: str) -> bool:
    """Whether ``text`` is a Windows absolute path (``C:\\...``, ``\\\\server``) on a POSIX system."""
    return os.name != "nt" and bool(_WINDOWS_ABSOLUTE.match(text))


def resolve_setup_path(text: str, base: Path) -> Path:
    """A path named in an OpenSim XML file, relative to ``base`` (the file's folder) like OpenSim.

    A Windows absolute path on POSIX is returned as given (it cannot exist here); backslashes of a
    relative Windows path are read as separators.
    """
    if is_foreign_absolute(text):
        return Path(text)
    if os.name != "nt":
        text = text.replace("\\", "/")
    path = Path(text)
    if not path.is_absolute():
        path = base.absolute() / path
    return Path(os.path.normpath(path))


@dataclass(frozen=True)
class ElementFields:
    """Typed, error-reporting access to the child elements of one OpenSim object element.

    Values are stripped of surrounding whitespace; an empty element reads as None, an absent one
    as the given default. Bad values raise FileFormatError naming the file, line and field.
    """

    path: Path
    element: etree._Element

    @property
    def name(self) -> str:
        return (self.element.get("name") or "").strip()

    def text(self, tag: str, default: str | None = None) -> str | None:
        child = self.element.find(tag)
        if child is None:
            return default
        return (child.text or "").strip() or None

    def words(self, tag: str) -> tuple[str, ...]:
        return tuple((self.text(tag) or "").split())

    def _fail(self, tag: str, value: str, expected: str) -> FileFormatError:
        child = self.element.find(tag)
        line = child.sourceline if child is not None else None
        return FileFormatError(self.path, f"<{tag}> is '{value}', expected {expected}", line=line)

    def number(self, tag: str, default: float) -> float:
        text = self.text(tag)
        if text is None:
            return default
        try:
            return float(text)
        except ValueError:
            raise self._fail(tag, text, "a number") from None

    def numbers(self, tag: str, count: int, default: tuple[float, ...]) -> tuple[float, ...]:
        text = self.text(tag)
        if text is None:
            return default
        try:
            values = tuple(float(w) for w in text.split())
        except ValueError:
            raise self._fail(tag, text, f"{count} numbers") from None
        if len(values) != count:
            raise self._fail(tag, text, f"{count} numbers")
        return values

    def integer(self, tag: str, default: int) -> int:
        value = self.number(tag, default)
        if not float(value).is_integer():
            raise self._fail(tag, self.text(tag) or "", "an integer")
        return int(value)

    def flag(self, tag: str, default: bool) -> bool:
        text = self.text(tag)
        if text is None:
            return default
        if text.lower() in _TRUE_WORDS:
            return True
        if text.lower() in _FALSE_WORDS:
            return False
        raise self._fail(tag, text, "true or false")
