"""Run a study's trials in parallel: a local process pool, or Ray tasks on a Ray cluster.

Trials are independent, so each is one task (``policies.batch.run.run_trial``) and the results
table is rewritten as each finishes. Locally, ``jobs`` worker processes (started fresh, not
forked, so no PyTorch or MuJoCo state is shared). With Ray, ``ray_address`` is ``"auto"`` or an
address (an existing cluster: every node must see the same paths, e.g. a shared file system, and
have KinTwin installed) or ``"local"`` (a private Ray instance with ``jobs`` CPUs, started for
the run and stopped after it). Each task asks Ray for one CPU.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from converters.errors import KintwinError
from converters.files import atomic_output
from policies.batch.run import BatchOptions, finished_row, run_trial
from policies.batch.trials import MARKER, Trial

__all__ = ["BatchResult", "run_batch", "write_results", "MARKER"]


@dataclass
class BatchResult:
    """Rows of every trial (in the study's order), and what this run did."""

    rows: list[dict]
    ran: int
    skipped: int
    failed: int
    wall_s: float
    engine: str


def _prepare(outdir: Path, options: BatchOptions, force: bool) -> None:
    """Refuse a non-empty folder that is not a batch's, or a batch of another policy."""
    marker = outdir / MARKER
    policy = str(Path(options.policy).resolve()) if options.policy else "none (--method contact)"
    if marker.is_file():
        earlier = json.loads(marker.read_text(encoding="utf-8")).get("policy")
        if earlier != policy and not force:
            raise KintwinError(
                f"{outdir}: an earlier batch ran policy {earlier}; --force to run {policy} there"
            )
    elif outdir.exists() and any(outdir.iterdir()) and not force:
        raise KintwinError(f"{outdir}: not empty and not a kintwin batch folder; --force to use it")
    outdir.mkdir(parents=True, exist_ok=True)
    with atomic_output(marker, force=True) as tmp:
        tmp.write_text(json.dumps({"policy": policy}, indent=1) + "\n", encoding="utf-8")


def run_batch(
    trials: list[Trial],
    outdir: str | Path,
    options: BatchOptions,
    jobs: int = 1,
    ray_address: str | None = None,
    force: bool = False,
    progress: Callable[[dict, int, int], None] | None = None,
) -> BatchResult:
    """Every trial not finished yet (all with ``force``); ``progress(row, done, total)`` after each.

    Returns when all have run; a trial's failure is in its row, never raised.
    """
    outdir = Path(outdir)
    if jobs < 1:
        raise KintwinError(f"--jobs must be at least 1, not {jobs}")
    _prepare(outdir, options, force)
    started = time.perf_counter()
    rows: dict[str, dict] = {}
    pending = []
    for trial in trials:
        earlier = None if force else finished_row(outdir, trial)
        if earlier is not None:
            rows[trial.name] = {**earlier, "status": "skipped (finished earlier)"}
        else:
            pending.append(trial)
    skipped = len(rows)
    order = [t.name for t in trials]

    def finished(row: dict) -> None:
        rows[row["trial"]] = row
        write_results(outdir, [rows[n] for n in order if n in rows])
        if progress is not None:
            progress(row, len(rows) - skipped, len(pending))

    if ray_address is None:
        engine = f"local process pool ({jobs} worker{'s' * (jobs > 1)})"
        _run_local(pending, outdir, options, jobs, finished)
    else:
        engine = _run_ray(pending, outdir, options, jobs, ray_address, finished)
    final = [rows[n] for n in order if n in rows]
    write_results(outdir, final)
    failed = sum(r["status"] == "failed" for r in final)
    return BatchResult(final, len(pending), skipped, failed, time.perf_counter() - started, engine)


def _failed(trial: Trial, error: BaseException) -> dict:
    return {"trial": trial.name, "status": "failed", "model": str(trial.model),
            "coordinates": str(trial.coordinates),
            "error": f"{type(error).__name__}: {error}".splitlines()[0]}  # fmt: skip


def _run_local(pending, outdir, options, jobs, finished) -> None:
    if not pending:
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(pending)), mp_context=context) as pool:
        futures = {pool.submit(run_trial, t, outdir, options): t for t in pending}
        for future in as_completed(futures):
            try:
                row = future.result()
            except Exception as error:  # a worker that died (crash, out of memory)
                row = _failed(futures[future], error)
            finished(row)


def _run_ray(pending, outdir, options, jobs, address, finished) -> str:
    try:
        import ray
    except ImportError:
        raise KintwinError("--ray needs Ray: pip install 'kintwin-cli[ray]'") from None
    if address == "local":
        ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
        engine = f"Ray, private local instance ({jobs} CPUs)"
    else:
        _reachable(address)
        try:
            ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise KintwinError(f"--ray {address}: no Ray cluster there ({error})") from None
        engine = f"Ray cluster at {address} ({int(ray.cluster_resources().get('CPU', 0))} CPUs)"
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(run_trial)
        refs = {task.remote(t, str(outdir), options): t for t in pending}
        waiting = list(refs)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            try:
                row = ray.get(done[0])
            except Exception as error:  # the task's worker died
                row = _failed(refs[done[0]], error)
            finished(row)
    finally:
        ray.shutdown()  # a private instance stops; a cluster is only disconnected from
    return engine


def _reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once when nothing listens at a HOST:PORT address (Ray would retry for minutes)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise KintwinError(f"--ray {address}: no Ray cluster there ({error})") from None


COLUMNS_FIRST = ["trial", "status", "error", "trusted", "flags_failed", "flags_unmeasured",
                 "fell", "restarts", "fraction_tracked", "tracking_rms_deg", "tracking_worst",
                 "residual_rms_pct_bw", "slip_worst_cm", "training_distance_p95_deg"]  # fmt: skip


def write_results(outdir: Path, rows: list[dict]) -> tuple[Path, Path]:
    """``results.csv`` and ``results.parquet``: one row per trial, flags and metrics first."""
    import pandas as pd

    columns = [c for c in COLUMNS_FIRST if any(c in r for r in rows)]
    columns += sorted({k for r in rows for k in r} - set(columns))
    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns).map(
        lambda v: None if isinstance(v, float) and math.isnan(v) else v
    )
    csv_path, parquet_path = outdir / "results.csv", outdir / "results.parquet"
    with atomic_output(csv_path, force=True) as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_output(parquet_path, force=True) as tmp:
        frame.convert_dtypes().to_parquet(tmp, index=False)
    return csv_path, parquet_path
