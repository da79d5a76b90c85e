"""One trial of a batch: imitation ID, then its report; never raises, returns the results row.

A trial's outputs go to ``<outdir>/trials/<name>/``, with its comparisons against the references
it has (``policies.batch.compare``); ``done.json`` there (the row, written last)
marks it finished, so a batch run again skips it. A failed trial gets a row with its error and
no ``done.json``: it is tried again next time.
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from converters.errors import KintwinError
from converters.files import atomic_output
from policies.batch.trials import Trial

__all__ = ["BatchOptions", "run_trial", "trial_dir", "finished_row", "DONE"]

DONE = "done.json"


@dataclass(frozen=True)
class BatchOptions:
    """Settings shared by every trial of a batch.

    Attributes:
        policy: the policy directory (kintwin train); None for the contact method.
        method: 'imitation' (the policy) or 'contact' (``kintwin id --method contact``: no
            policy, no report, no SO).
        lowpass_hz: force low-pass cut-off (Hz; None: off).
        report: write ``report.html`` for each trial.
        frames: frames in each report's strip.
        renderer: the reports' frame renderer ('auto', 'mujoco', 'skeleton').
        torch_threads: PyTorch threads per trial (1: the workers are the parallelism).
        training_dirs: folders holding the policy's training motions (for the reports).
        so: also static optimization (``kintwin so``): muscle activations from the torques.
        restart_on_fall: restart a fallen simulation from the kinematics (``--on-fall restart``).
        fall_search: first search the policy's own actions for a way through (``--fall-search``).
    """

    policy: Path | None
    lowpass_hz: float | None = 6.0
    report: bool = True
    frames: int = 6
    renderer: str = "auto"
    torch_threads: int = 1
    training_dirs: tuple[Path, ...] = ()
    so: bool = False
    restart_on_fall: bool = False
    fall_search: bool = True
    method: str = "imitation"


def trial_dir(outdir: Path, trial: Trial) -> Path:
    return Path(outdir) / "trials" / trial.name


def finished_row(outdir: Path, trial: Trial) -> dict | None:
    """The row of a trial finished by an earlier run (None if it has not finished)."""
    path = trial_dir(outdir, trial) / DONE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def run_trial(trial: Trial, outdir: str | Path, options: BatchOptions) -> dict:
    """Run ``trial`` into ``<outdir>/trials/<name>/``; the row says ``status`` ok or failed."""
    started = time.perf_counter()
    row = {"trial": trial.name, "status": "failed", "error": "", "model": str(trial.model),
           "coordinates": str(trial.coordinates), "worker": f"{os.uname().nodename}:{os.getpid()}"}  # fmt: skip
    folder = trial_dir(Path(outdir), trial)
    try:
        row.update(_run(trial, folder, options))
        row["status"] = "ok"
    except KintwinError as error:
        row["error"] = str(error)
    except Exception as error:  # any failure of one trial is recorded; the others go on
        where = traceback.extract_tb(error.__traceback__)[-1]
        row["error"] = (
            f"{type(error).__name__}: {error} ({Path(where.filename).name}:{where.lineno})"
        )
    row["wall_s"] = time.perf_counter() - started
    if row["status"] == "ok":
        with atomic_output(folder / DONE, force=True) as tmp:
            tmp.write_text(json.dumps(_json_safe(row), indent=1) + "\n", encoding="utf-8")
    return row


def _run(trial: Trial, folder: Path, options: BatchOptions) -> dict:
    if options.method == "contact":
        return _run_contact(trial, folder)
    import torch

    from policies.batch.compare import compare_references
    from policies.imitation_id import output_paths, run_imitation_id
    from policies.report import ReportConfig, write_report

    torch.set_num_threads(options.torch_threads)
    outputs = output_paths(folder, trial.name)
    if options.so:
        from converters.so_workflow import so_output_paths
        from policies.imitation_so import run_imitation_so

        summary = run_imitation_so(
            trial.model, trial.coordinates, options.policy, outputs,
            so_output_paths(folder, trial.name), options.lowpass_hz, force=True,
            restart_on_fall=options.restart_on_fall, fall_search=options.fall_search,
        )  # fmt: skip
    else:
        summary = run_imitation_id(
            trial.model, trial.coordinates, options.policy, outputs, options.lowpass_hz,
            force=True, restart_on_fall=options.restart_on_fall, fall_search=options.fall_search,
        )  # fmt: skip
    row = {
        "fell": summary["fell"],
        "fraction_tracked": summary.get("fraction_tracked"),
        "restarts": len(summary.get("restarts_s") or ()),
        "fall_searches": len(summary.get("fall_search") or ()),
        # spans where the trial's coordinates move implausibly fast (kinematics_check)
        "implausible_spans": len((summary.get("implausible_kinematics") or {}).get("spans", ())),
        "tracking_rms_deg": summary["tracking_rms_deg"],
        # segments (and mass) outside the bodies the policy trained on, ";"-joined
        "body_outside_training": ";".join(
            (summary.get("body_vs_training") or {}).get("outside", ())
        ),
        "id_wall_s": summary.get("wall_time_s"),
    }
    row.update(compare_references(trial, outputs, folder, summary.get("body_mass_kg")))
    if options.report:
        config = ReportConfig(
            trial=trial.name,
            reference_id=trial.reference_id,
            reference_grf=trial.reference_grf,
            reference_so=trial.reference_so,
            model=trial.model,
            coordinates=trial.coordinates,
            policy=options.policy,
            training_dirs=options.training_dirs,
            frames=options.frames,
            renderer=options.renderer,
        )
        report = write_report(folder, folder / "report.html", config, force=True)
        row.update({k: v for k, v in report.metrics.items() if k != "trial"})
        row["report"] = str(folder / "report.html")
    return row


def _run_contact(trial: Trial, folder: Path) -> dict:
    """``kintwin id --method contact`` on the trial, compared with its references."""
    from converters.workflows import ContactIDConfig, run_contact_id
    from policies.batch.compare import compare_references
    from policies.imitation_id import output_paths

    started = time.perf_counter()
    summary = run_contact_id(
        ContactIDConfig(trial.model, trial.coordinates, folder, force=True, trial=trial.name)
    )
    row = {
        "method": "contact",
        "peak_vertical_grf_percent_bw": summary["peak_vertical_grf_percent_bw"],
        "implausible_spans": len((summary["implausible_kinematics"] or {}).get("spans", ())),
        "unsupported_spans": len(summary["unsupported_spans"]),
        "id_wall_s": time.perf_counter() - started,
    }
    outputs = output_paths(folder, trial.name)  # the same <trial>_id.sto and _grf.mot
    row.update(compare_references(trial, outputs, folder, summary["body_mass_kg"]))
    return row


def _json_safe(row: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
