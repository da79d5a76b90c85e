"""The inputs behind a trial's outputs: its model, IK motion, policy and the policy's training
motions, found again from the names and SHA-256 digests the summary and the card record.

A ``kintwin id`` summary names its inputs by file name and digest (not by path, so it means the
same on a colleague's machine). Given paths are checked against the digests; otherwise a file of
the recorded name and digest is looked for in a few likely folders. What cannot be found leaves
the parts of the report that need it out, with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from converters.errors import KintwinError
from converters.files import file_sha256

__all__ = ["Inputs", "locate_inputs", "locate_training_motions", "POLICY_FILE"]

POLICY_FILE = "policy.pt"
PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"


@dataclass
class Inputs:
    """Paths found (None where not) and, for each missing one, why."""

    model: Path | None = None
    coordinates: Path | None = None
    policy: Path | None = None
    missing: dict[str, str] = field(default_factory=dict)


def _digest(path: Path, is_policy: bool) -> str:
    return file_sha256(path / POLICY_FILE if is_policy and path.is_dir() else path)


def _locate(what: str, name: str | None, sha: str | None, given: Path | None, places: list[Path],
            is_policy: bool = False) -> tuple[Path | None, str]:  # fmt: skip
    """``given`` (its digest checked) or a file named ``name`` with digest ``sha`` in ``places``."""
    if given is not None:
        if sha and _digest(Path(given), is_policy) != sha:
            raise KintwinError(
                f"{given}: not this trial's {what} (its SHA-256 differs from the summary's)"
            )
        return Path(given), ""
    if not name:
        return None, f"the summary names no {what}"
    for place in places:
        candidate = place / name
        if candidate.exists() and (not sha or _digest(candidate, is_policy) == sha):
            return candidate, ""
    option = {"model": "--model", "motion": "--coordinates", "policy": "--policy"}[what]
    return None, f"the {what} {name} was not found beside the outputs (give {option})"


def locate_inputs(
    folder: Path,
    summary: dict,
    model: Path | None = None,
    coordinates: Path | None = None,
    policy: Path | None = None,
) -> Inputs:
    """The trial's inputs: given ones checked, others looked for beside the output folder (and
    the shipped policies)."""
    near = [folder, folder.parent, Path.cwd()]
    found = Inputs()
    for what, key, given, places, is_policy in (
        ("model", "model", model, near, False),
        ("motion", "trial", coordinates, near, False),
        ("policy", "policy", policy, [*near, PRETRAINED], True),
    ):
        path, why = _locate(what, summary.get(key), summary.get(f"{key}_sha256"), given, places,
                            is_policy)  # fmt: skip
        setattr(found, {"motion": "coordinates"}.get(what, what), path)
        if why:
            found.missing[what] = why
    return found


def locate_training_motions(policy: Path, places: list[Path]) -> tuple[list[Path], list[str]]:
    """The policy's training motions (card names and digests) found in ``places`` (recursively
    in the KinTwin example cache); returns (found paths, names not found)."""
    card_path = Path(policy) / "card.json"
    if not card_path.is_file():
        raise KintwinError(f"{policy}: no card.json (a policy from kintwin train has one)")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    names = [Path(m).name for m in card.get("training_motions", [])]
    digests = card.get("training_motions_sha256") or [None] * len(names)
    candidates = {}
    for place in places:
        for path in Path(place).glob("*"):
            candidates.setdefault(path.name, []).append(path)
    from converters.examples import cache_dir

    examples = cache_dir() / "examples"
    if examples.is_dir():
        for name in names:
            candidates.setdefault(name, []).extend(examples.rglob(name))
    found, missing = [], []
    for name, sha in zip(names, digests, strict=True):
        match = next(
            (
                p
                for p in candidates.get(name, [])
                if p.is_file() and (not sha or file_sha256(p) == sha)
            ),
            None,
        )
        (found.append(match) if match else missing.append(name))
    return found, missing
