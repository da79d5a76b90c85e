"""The files of one trial in a ``kintwin id`` / ``kintwin so`` output folder, and the references.

``kintwin id`` writes ``<trial>_id.sto``, ``<trial>_grf.mot``, ``<trial>_kinematics.mot`` and
``<trial>_summary.json``; ``kintwin so`` adds ``<trial>_StaticOptimization_activation.sto``
(OpenSim's SO naming). A folder holding several trials needs the trial's name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from converters.errors import FileFormatError, KintwinError, UnknownNameError

__all__ = ["TrialFiles", "find_trial", "trial_names"]

SUMMARY_SUFFIX = "_summary.json"
ACTIVATION_SUFFIX = "_StaticOptimization_activation.sto"


@dataclass(frozen=True)
class TrialFiles:
    """Paths of one trial's outputs (None where the folder lacks that file) and its summary."""

    name: str
    folder: Path
    summary: dict
    id_sto: Path | None
    grf_mot: Path | None
    kinematics_mot: Path | None
    activation_sto: Path | None


def _only(folder: Path, pattern: str) -> Path | None:
    """The one file matching ``pattern`` in ``folder`` (kintwin so --name NAME), else None."""
    matches = sorted(folder.glob(pattern))
    return matches[0] if len(matches) == 1 else None


def trial_names(folder: Path) -> list[str]:
    """Names of the trials in ``folder`` (one per ``<trial>_summary.json``), sorted."""
    return sorted(p.name[: -len(SUMMARY_SUFFIX)] for p in Path(folder).glob(f"*{SUMMARY_SUFFIX}"))


def find_trial(folder: str | Path, trial: str | None = None) -> TrialFiles:
    """The outputs of ``trial`` in ``folder`` (the only trial when None).

    Raises KintwinError when the folder holds no summary, several without ``trial``, or when
    the summary is not a ``kintwin id`` summary.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise KintwinError(f"{folder}: not a folder (give the output folder of kintwin id)")
    names = trial_names(folder)
    if not names:
        raise KintwinError(
            f"{folder}: no <trial>{SUMMARY_SUFFIX}; is it a kintwin id output folder?"
        )
    if trial is None:
        if len(names) > 1:
            raise KintwinError(
                f"{folder}: {len(names)} trials; name one with --trial ({', '.join(names)})"
            )
        trial = names[0]
    elif trial not in names:
        raise UnknownNameError("trial", trial, names, str(folder))
    path = folder / f"{trial}{SUMMARY_SUFFIX}"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise FileFormatError(path, f"not JSON ({error})") from None
    missing = [k for k in ("tracking_rmse", "fell") if k not in summary]
    if missing:
        raise FileFormatError(path, f"not a kintwin id summary: no {', '.join(missing)}")

    def optional(suffix: str) -> Path | None:
        candidate = folder / f"{trial}{suffix}"
        return candidate if candidate.is_file() else None

    return TrialFiles(
        name=trial,
        folder=folder,
        summary=summary,
        id_sto=optional("_id.sto"),
        grf_mot=optional("_grf.mot"),
        kinematics_mot=optional("_kinematics.mot"),
        activation_sto=optional(ACTIVATION_SUFFIX) or _only(folder, f"*{ACTIVATION_SUFFIX}"),
    )
