"""``kintwin batch``: every trial of a study through imitation ID and a report, in parallel."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kintwin_cli.options import (
    EXISTING_DIR,
    fall_search_option,
    force_option,
    json_option,
    on_fall_option,
    output_option,
    policy_option,
    refuse_imitation_options,
)
from kintwin_cli.output import JsonSummary, note, verbosity, warn


@click.command("batch")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@policy_option(False, "Policy directory (kintwin train); needed unless --method contact.")
@click.option(
    "--method",
    type=click.Choice(["imitation", "contact"]),
    default="imitation",
    show_default=True,
    help="imitation: the policy tracks each trial (kintwin id --policy). contact: no policy, "
    "ground reactions from the motion itself (kintwin id --method contact; no report, no --so).",
)
@output_option("OUTDIR: the trials' files, results.csv and results.parquet.", kind="dir")
@click.option("-j", "--jobs", default=1, show_default=True, help="Trials run at once.")
@click.option(
    "--ray",
    "ray_address",
    metavar="ADDRESS|auto|local",
    help="Run the trials as Ray tasks: on the cluster at ADDRESS or found by 'auto', or on a "
    "private local instance with --jobs CPUs ('local'). Needs kintwin-cli[ray].",
)
@click.option("--so", is_flag=True, help="Also static optimization (kintwin so): activations.")
@click.option("--no-report", is_flag=True, help="Skip the per-trial HTML reports.")
@on_fall_option(
    "As kintwin id --on-fall: stop at a fall, or restart from the kinematics and go on."
)
@fall_search_option()
@click.option("--frames", default=6, show_default=True, help="Frames in each report's strip.")
@click.option(
    "--training-motions",
    "training_dirs",
    multiple=True,
    type=EXISTING_DIR,
    help="A folder holding the policy's training motions, for the reports (repeatable).",
)
@json_option("a summary (counts, engine, one row per trial)")
@force_option("Run finished trials again; use a non-batch OUTDIR.")
def batch(
    source: Path,
    policy: Path | None,
    method: str,
    output: Path,
    jobs: int,
    ray_address: str | None,
    so: bool,
    no_report: bool,
    restart_on_fall: bool,
    fall_search: bool,
    frames: int,
    training_dirs: tuple[Path, ...],
    json_target: Path | str | None,
    force: bool,
) -> None:
    """Run every trial of SOURCE through kintwin id (or kintwin so) and kintwin report.

    SOURCE is a manifest .csv (header: model,coordinates and optionally name, reference_id,
    reference_grf, reference_so; paths relative to the manifest) or a folder of IK files with
    their scaled models (<trial>_ID.sto, <trial>_grf.mot beside an IK file are its references).
    Each trial's files go to OUTPUT/trials/<trial>/; OUTPUT/results.csv and results.parquet hold
    one row per trial: status, error, trust flags, tracking, and r/RMSE against the references.
    Run again to resume: finished trials are skipped, failed ones tried again. Exit code 1 if a
    trial failed.

    \b
    Examples:
      kintwin batch study.csv --policy policies/pretrained/gait10dof18musc_walk_torque -o out/ -j 4
      kintwin batch ik_folder/ --policy POLICY -o out/ --ray auto     # on a Ray cluster
      kintwin batch ik_folder/ --policy POLICY -o out/ --ray local -j 2
      kintwin batch study.csv --policy POLICY -o out/ --json | jq '.trials[].trusted'
      kintwin batch ik_folder/ --method contact -o out/ -j 2    # no policy, no force plates
    """
    from policies.batch import BatchOptions, load_trials, run_batch

    if method == "imitation" and policy is None:
        raise click.UsageError("--method imitation needs --policy POLICY_DIR (see kintwin train)")
    if method == "contact" and (policy is not None or so):
        raise click.UsageError("--method contact takes no --policy and no --so")
    refuse_imitation_options(method)
    summary = JsonSummary(json_target, force)
    trials = load_trials(source)
    options = BatchOptions(
        policy=policy.resolve() if policy else None, report=not no_report and method != "contact",
        frames=frames, training_dirs=tuple(d.resolve() for d in training_dirs), so=so,
        restart_on_fall=restart_on_fall, fall_search=fall_search, method=method,
    )  # fmt: skip
    note(f"{len(trials)} trials from {source}")
    bar = _progress_bar(len(trials))
    result = run_batch(trials, output, options, jobs, ray_address, force, bar)
    if bar is not None:
        bar.close()
    for row in result.rows:
        if row["status"] == "failed":
            warn(f"{row['trial']}: {row['error']}")
    note(
        f"{result.ran} run, {result.skipped} skipped (finished earlier), {result.failed} failed "
        f"in {result.wall_s:.0f} s on a {result.engine}; results in {output / 'results.csv'} "
        "and results.parquet"
    )
    summary.emit(
        {"ran": result.ran, "skipped": result.skipped, "failed": result.failed,
         "wall_s": result.wall_s, "engine": result.engine,
         "results_csv": str(output / "results.csv"),
         "results_parquet": str(output / "results.parquet"), "trials": result.rows}
    )  # fmt: skip
    if result.failed:
        sys.exit(1)


def _progress_bar(total: int):
    """A tqdm bar on stderr updated after each trial (None with -q)."""
    if verbosity() < 0:
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="trial", dynamic_ncols=True, file=sys.stderr)
    failures = [0]

    def update(row: dict, done: int, pending: int) -> None:
        bar.total = pending  # finished trials are skipped
        failures[0] += row["status"] == "failed"
        bar.update(1)
        bar.set_postfix(last=row["trial"], failed=failures[0], refresh=True)

    update.close = bar.close  # type: ignore[attr-defined]
    return update
