"""Run every benchmark and write one JSON file per benchmark to the results folder.

Usage: ``python -m benchmarks.run --out benchmarks/results [--only NAME]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
from pathlib import Path

BENCHMARKS = [
    "benchmarks.bench_io",
    "benchmarks.bench_convert",
    "benchmarks.bench_classic_id",
    "benchmarks.bench_muscles",
    "benchmarks.bench_imitation_id",
]


def shared_data() -> Path:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return Path(os.environ.get("KINTWIN_SHARED_DATA", default)).resolve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--only", help="run only the benchmark module with this name")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in BENCHMARKS:
        if args.only and not name.endswith(args.only):
            continue
        module = importlib.import_module(name)
        started = time.time()
        result = module.run(shared_data())
        result["_meta"] = {
            "benchmark": name,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "wall_s": round(time.time() - started, 3),
            "machine": f"{platform.machine()} {os.cpu_count()} cores",
            "python": platform.python_version(),
        }
        target = args.out / f"{name.rsplit('.', 1)[-1]}.json"
        target.write_text(json.dumps(result, indent=2) + "\n")
        print(f"{target}: {json.dumps(result.get('summary', {}))}")


if __name__ == "__main__":
    main()
