"""``kintwin batch``: every trial of a study through imitation ID and a report, in parallel."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kintwin_cli.output import note, verbosity, warn


@click.command("batch")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--policy",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Policy directory (kintwin train).",
)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="OUTDIR.")
@click.option("-j", "--jobs", default=1, show_default=True, help="Trials run at once.")
@click.option(
    "--ray",
    "ray_address",
    metavar="ADDRESS|auto|local",
    help="Run the trials as Ray tasks: on the cluster at ADDRESS or found by 'auto', or on a "
    "private local instance with --jobs CPUs ('local'). Needs kintwin-cli[ray].",
)
@click.option("--no-report", is_flag=True, help="Skip the per-trial HTML reports.")
@click.option("--frames", default=6, show_default=True, help="Frames in each report's strip.")
@click.option("--force", is_flag=True, help="Run finished trials again; use a non-batch OUTDIR.")
def batch(
    source: Path,
    policy: Path,
    output: Path,
    jobs: int,
    ray_address: str | None,
    no_report: bool,
    frames: int,
    force: bool,
) -> None:
    """Run every trial of SOURCE through kintwin id (and kintwin report).

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
    """
    from policies.batch import BatchOptions, load_trials, run_batch

    trials = load_trials(source)
    options = BatchOptions(policy=policy.resolve(), report=not no_report, frames=frames)
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
