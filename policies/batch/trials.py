"""The trials of a study: from a CSV manifest or from a folder of IK files and scaled models.

Manifest: a header row with at least ``model,coordinates`` and optionally ``name``,
``reference_id``, ``reference_grf``, ``reference_so``; one trial per row; relative paths are
relative to the manifest's folder; blank optional cells mean none.

Folder: every ``.mot``/``.sto`` of the folder and its subfolders that is not a reference
(``*_grf.mot``, ``*_ID.sto``, ``*_StaticOptimization_*.sto``) is a trial's IK; its model is the
``.osim`` beside it (the one whose name starts the trial's name when there are several), else the
nearest one above it. ``<trial>_ID.sto``, ``<trial>_grf.mot`` and
``<trial>_StaticOptimization_activation.sto`` beside an IK file are its references. A batch's
own output folder (it holds ``batch.json``) inside the folder is not searched: its
``_kinematics.mot`` files are not trials.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

from converters.errors import FileFormatError, KintwinError
from converters.files import trial_name

__all__ = ["Trial", "read_manifest", "find_trials", "load_trials", "MANIFEST_COLUMNS", "MARKER"]

MARKER = "batch.json"  # in a batch's output folder: the policy it ran

MANIFEST_COLUMNS = ("name", "model", "coordinates", "reference_id", "reference_grf", "reference_so")
REFERENCE_SUFFIXES = {
    "reference_id": "_ID.sto",
    "reference_grf": "_grf.mot",
    "reference_so": "_StaticOptimization_activation.sto",
}


@dataclass(frozen=True)
class Trial:
    """One trial: its name (unique in the study), model, IK coordinates and references."""

    name: str
    model: Path
    coordinates: Path
    reference_id: Path | None = None
    reference_grf: Path | None = None
    reference_so: Path | None = None

    def as_dict(self) -> dict:
        return {k: (None if v is None else str(v)) for k, v in asdict(self).items()}

    @staticmethod
    def from_dict(row: dict) -> Trial:
        paths = {k: (Path(v) if v else None) for k, v in row.items() if k != "name"}
        return Trial(name=row["name"], **paths)


def read_manifest(path: str | Path) -> list[Trial]:
    """The trials of a CSV manifest; every named file must exist (checked before any work)."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise FileFormatError(path, "empty manifest; the header must hold model,coordinates")
    header = [h.strip() for h in rows[0]]
    unknown = [h for h in header if h not in MANIFEST_COLUMNS]
    if unknown:
        raise FileFormatError(path, f"unknown column '{unknown[0]}'; columns are: "
                              f"{', '.join(MANIFEST_COLUMNS)}", 1)  # fmt: skip
    for needed in ("model", "coordinates"):
        if needed not in header:
            raise FileFormatError(path, f"no '{needed}' column in the header", 1)
    trials = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise FileFormatError(path, f"{len(row)} cells, the header has {len(header)}", line)
        cells = dict(zip(header, (c.strip() for c in row), strict=True))
        files = {}
        for key in MANIFEST_COLUMNS[1:]:
            if cells.get(key):
                file = Path(cells[key])
                file = file if file.is_absolute() else path.parent / file
                if not file.is_file():
                    raise FileFormatError(path, f"{key} {file}: no such file", line)
                files[key] = file
            elif key in ("model", "coordinates"):
                raise FileFormatError(path, f"empty {key} cell", line)
        name = cells.get("name") or trial_name(files["coordinates"])
        trials.append(Trial(name=name, **files))
    return _unique(trials, path)


def _is_reference(path: Path) -> bool:
    stem = path.stem.lower()
    return stem.endswith(("_grf", "_id")) or "_staticoptimization_" in stem


def _model_for(ik: Path, root: Path) -> Path | None:
    """The .osim beside ``ik`` whose stem starts its name (longest first), or the only one; else
    the nearest folder above (up to ``root``) with exactly one."""
    folder = ik.parent
    while True:
        models = sorted(folder.glob("*.osim"))
        prefixed = [m for m in models if ik.stem.lower().startswith(m.stem.lower())]
        if prefixed:
            return max(prefixed, key=lambda m: len(m.stem))
        if len(models) == 1:
            return models[0]
        if folder == root or root not in folder.parents:
            return None
        folder = folder.parent


def find_trials(folder: str | Path) -> list[Trial]:
    """The trials of a folder of IK files with their scaled models (see the module docstring)."""
    root = Path(folder)
    found = sorted(p for suffix in ("*.mot", "*.sto") for p in root.rglob(suffix))
    outputs = [m.parent for m in root.rglob(MARKER)]
    trials = []
    for ik in found:
        if _is_reference(ik) or any(o in ik.parents for o in outputs):
            continue
        model = _model_for(ik, root)
        if model is None:
            raise KintwinError(f"{ik}: no .osim model beside it or above it in {root}")
        name = trial_name(ik)
        references = {}
        for key, suffix in REFERENCE_SUFFIXES.items():
            candidate = ik.parent / f"{name}{suffix}"
            if candidate.is_file():
                references[key] = candidate
        trials.append(Trial(name=name, model=model, coordinates=ik, **references))
    if not trials:
        raise KintwinError(f"{root}: no IK .mot/.sto file (trials) in it or below it")
    return _unique(trials, root)


def _unique(trials: list[Trial], source: Path) -> list[Trial]:
    seen: dict[str, Trial] = {}
    for trial in trials:
        if trial.name in seen:
            raise KintwinError(
                f"{source}: two trials named '{trial.name}' ({seen[trial.name].coordinates} and "
                f"{trial.coordinates}); give each a name (manifest column 'name')"
            )
        seen[trial.name] = trial
    return trials


def load_trials(source: str | Path) -> list[Trial]:
    """Trials from a manifest ``.csv`` or a folder."""
    source = Path(source)
    if source.is_dir():
        return find_trials(source)
    if source.suffix.lower() == ".csv":
        return read_manifest(source)
    raise KintwinError(f"{source}: give a manifest .csv or a folder of trials")
