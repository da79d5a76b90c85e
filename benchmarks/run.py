"""Run every benchmark and write one JSON file per benchmark to the results folder.

Usage: ``python -m benchmarks.run --out benchmarks/results [--only NAME]``.

Each file gets ``_meta``: the benchmark, date, wall time, machine, Python and ``git`` — the commit
the run started at and whether the work tree differed from it (``dirty``, with the paths), so a
result older than the code it describes shows as such.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path

BENCHMARKS = [
    "benchmarks.bench_io",
    "benchmarks.bench_convert",
    "benchmarks.bench_classic_id",
    "benchmarks.bench_muscles",
    "benchmarks.bench_muscle_ranges",
    "benchmarks.bench_imitation_id",
    "benchmarks.bench_id_speed",
    "benchmarks.bench_static_optimization",
    "benchmarks.bench_batch",
    "benchmarks.bench_opencap",
    "benchmarks.bench_contact_solve",
    "benchmarks.bench_muscle_imitation",
    "benchmarks.bench_train_speed",
]
ROOT = Path(__file__).resolve().parents[1]
RESULTS = "benchmarks/results"  # changes here do not make a run dirty: the run writes them


def shared_data() -> Path:
    default = ROOT.parent / "shared" / "data"
    return Path(os.environ.get("KINTWIN_SHARED_DATA", default)).resolve()


def git_state(root: Path = ROOT) -> dict:
    """``{"commit": sha, "dirty": bool, "dirty_paths": [...]}`` of the work tree at ``root``.

    Dirty means a tracked file differs from the commit or an untracked, not ignored file exists,
    outside ``benchmarks/results/``. Outside a git work tree (or without git) all are None.
    """

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        ).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        status = git("status", "--porcelain", "--", ".", f":(exclude){RESULTS}")
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None, "dirty_paths": None}
    paths = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": commit, "dirty": bool(paths), "dirty_paths": paths[:20]}


def stamp(result: dict, benchmark: str, started: float, git: dict) -> dict:
    """``result`` with its ``_meta`` (``started``: ``time.time()`` when the benchmark began)."""
    result["_meta"] = {
        "benchmark": benchmark,
        "git": git,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "wall_s": round(time.time() - started, 3),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.node()}",
        "python": platform.python_version(),
    }
    return result


def main(argv: list[str] | None = None, benchmarks: list[str] = BENCHMARKS) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(RESULTS))
    parser.add_argument("--only", help="run only the benchmark module with this name")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    git = git_state()  # once, before any result is written
    state = "dirty" if git["dirty"] else "clean"
    print(f"benchmarks at {git['commit'] or 'unknown commit'} ({state})")
    for name in benchmarks:
        if args.only and not name.endswith(args.only):
            continue
        module = importlib.import_module(name)
        started = time.time()
        result = stamp(module.run(shared_data()), name, started, git)
        target = args.out / f"{name.rsplit('.', 1)[-1]}.json"
        target.write_text(json.dumps(result, indent=2) + "\n")
        print(f"{target}: {json.dumps(result.get('summary', {}))}")


if __name__ == "__main__":
    main()
