"""``kintwin batch`` throughput: trials per minute for 1 and 2 workers, locally and through Ray.

Four trials (copies of the Gait10dof18musc walk's 2.5 s IK, so every trial costs the same) run
with the shipped policy through ``kintwin batch`` as a fresh process, each with its report, in
four configurations: the local process pool with 1 and 2 workers, and Ray tasks on a private
local Ray instance (``--ray local``) with 1 and 2 CPUs. Ray's start-up is inside the timing.

Scaling to N nodes, by simulation: trials are independent tasks, so a study's wall time is the
makespan of list scheduling its trials on N x c workers, plus the per-task overhead the Ray runs
show beyond the local ones and Ray's start-up. The simulation draws trial durations from the
ones measured here (per worker, 2 workers per node) for a 500-trial study.
"""

from __future__ import annotations

import heapq
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"
POLICY = Path(__file__).resolve().parents[1] / "policies/pretrained/gait10dof18musc_walk_torque"
TRIALS = int(os.environ.get("KINTWIN_BENCH_BATCH_TRIALS", "4"))
CONFIGS = [("local", 1), ("local", 2), ("ray", 1), ("ray", 2)]


def _study(data: Path, folder: Path) -> Path:
    p = data / GAIT10
    ik = p / "IK/subject01_walk_IK.mot"
    lines = ["name,model,coordinates,reference_id,reference_grf"]
    for k in range(TRIALS):
        lines.append(f"walk{k},{p / 'subject01.osim'},{ik},{p / 'ID/Results/subject01_walk_ID.sto'},"
                     f"{p / 'ExperimentalData/subject01_walk_grf.mot'}")  # fmt: skip
    manifest = folder / "study.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def _batch(manifest: Path, out: Path, engine: str, workers: int) -> dict:
    command = [sys.executable, "-m", "kintwin_cli", "-q", "batch", str(manifest),
               "--policy", str(POLICY), "-o", str(out), "-j", str(workers)]  # fmt: skip
    if engine == "ray":
        command += ["--ray", "local"]
    started = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {run.stderr[-2000:]}")
    import pandas as pd

    table = pd.read_csv(out / "results.csv")
    return {
        "engine": engine,
        "workers": workers,
        "trials": len(table),
        "failed": int((table["status"] == "failed").sum()),
        "wall_s": wall,
        "trials_per_minute": 60.0 * len(table) / wall,
        "trial_wall_s": table["wall_s"].tolist(),
        "trusted": int(table["trusted"].sum()),
    }


def _makespan(durations: np.ndarray, workers: int, overhead_s: float) -> float:
    """List scheduling: each trial goes to the first free worker."""
    free = [0.0] * workers
    for d in durations:
        heapq.heappush(free, heapq.heappop(free) + d + overhead_s)
    return max(free)


def _simulate(runs: list[dict], study: int = 500, per_node: int = 2) -> dict:
    local = next(r for r in runs if r["engine"] == "local" and r["workers"] == 1)
    ray_runs = [r for r in runs if r["engine"] == "ray"]
    trial = np.array(local["trial_wall_s"])
    # Ray's cost beyond the local pool, split into a start-up and a per-task part
    extra = [(r["wall_s"] - next(x["wall_s"] for x in runs if x["engine"] == "local"
                                 and x["workers"] == r["workers"])) for r in ray_runs]  # fmt: skip
    startup = max(0.0, min(extra))
    per_task = max(0.0, (max(extra) - startup) / TRIALS)
    rng = np.random.default_rng(0)
    durations = rng.choice(trial, study)
    table = {}
    for nodes in (1, 2, 4, 8, 16, 32):
        wall = startup + _makespan(durations, nodes * per_node, per_task)
        table[nodes] = {"wall_min": wall / 60.0, "trials_per_minute": 60.0 * study / wall}
    return {
        "study_trials": study,
        "workers_per_node": per_node,
        "trial_s_measured": trial.tolist(),
        "ray_startup_s": startup,
        "ray_per_task_s": per_task,
        "by_nodes": table,
    }


def run(data: Path) -> dict:
    runs = []
    with tempfile.TemporaryDirectory(prefix="kintwin_bench_batch_") as work:
        manifest = _study(data, Path(work))
        for engine, workers in CONFIGS:
            if engine == "ray":
                try:
                    import ray  # noqa: F401
                except ImportError:
                    runs.append(
                        {"engine": "ray", "workers": workers, "skipped": "ray not installed"}
                    )
                    continue
            runs.append(_batch(manifest, Path(work) / f"{engine}{workers}", engine, workers))
    measured = [r for r in runs if "skipped" not in r]
    summary = {f"{r['engine']}_{r['workers']}_trials_per_minute": round(r["trials_per_minute"], 2)
               for r in measured}  # fmt: skip
    return {
        "trials": TRIALS,
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": os.getloadavg()[0],
        "runs": runs,
        "scaling_simulation": _simulate(measured) if len(measured) == 4 else None,
        "summary": summary,
    }


if __name__ == "__main__":
    from benchmarks.run import shared_data

    print(json.dumps(run(shared_data()), indent=1))
