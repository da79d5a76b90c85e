"""The package version, in the lowest layer so that every layer can record it.

``kintwin_cli`` shows it (``kintwin --version``), checkpoints and maps store it, and
``pyproject.toml`` reads it from here (``[tool.setuptools.dynamic]``).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
