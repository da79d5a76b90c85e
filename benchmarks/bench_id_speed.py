"""`kintwin id` against OpenSim's inverse dynamics, each as a process, on the Gait10dof18musc walk.

Issue 14's bar: `kintwin id --policy` takes at most 1.5 times as long as a Python process that
imports ``opensim`` and runs its InverseDynamicsTool on the same trial (the walk's ID setup:
6 Hz coordinate filter, its ExternalLoads, muscles excluded, 0-2.5 s). Both run side by side in
one benchmark run, alternating which goes first, ``KINTWIN_BENCH_REPS`` times (default 5); the
ratio is that of the median wall times. ``kintwin id`` runs with the parsed model already in its
cache (``$KINTWIN_CACHE``, filled by a first run, as in a pipeline); the cold-cache time (a fresh
cache folder each time) is reported too. Both processes get the same environment, with Python's
bytecode cache on (an installed package has its ``.pyc`` files). CPU times (user + system of the
child) and the load average are recorded: the machine may be shared.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"
ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies/pretrained/gait10dof18musc_walk_torque"
BAR = 1.5
REPS = int(os.environ.get("KINTWIN_BENCH_REPS", "5"))
COLD_REPS = 2

# The OpenSim side: nothing but the opensim package and its InverseDynamicsTool, configured as
# the walk's setup (ID/walk_Setup_ID.xml) configures it, writing into the current folder.
OPENSIM_ID = """
import sys
import opensim
model, coordinates, loads = sys.argv[1:4]
opensim.Logger.setLevelString("error")
osim = opensim.Model(model)
osim.initSystem()
tool = opensim.InverseDynamicsTool()
tool.setModel(osim)
tool.setCoordinatesFileName(coordinates)
tool.setExternalLoadsFileName(loads)
tool.setLowpassCutoffFrequency(6.0)
tool.setStartTime(0.0)
tool.setEndTime(2.5)
excluded = opensim.ArrayStr()
excluded.append("Muscles")
tool.setExcludedForces(excluded)
tool.setResultsDir(".")
tool.setOutputGenForceFileName("opensim_id.sto")
if not tool.run():
    sys.exit("InverseDynamicsTool failed")
"""


def _environment(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["KINTWIN_CACHE"] = str(cache)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _timed(command: list[str], env: dict[str, str], cwd: Path) -> dict:
    """Wall and CPU seconds (user + system) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(f"{command[:4]} failed: {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "load_1min": os.getloadavg()[0]}


def _kintwin(p: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "kintwin_cli", "id",
        "--model", str(p / "subject01.osim"),
        "--coordinates", str(p / "IK/subject01_walk_IK.mot"),
        "--policy", str(POLICY), "-o", str(out), "--force",
    ]  # fmt: skip


def _opensim(p: Path) -> list[str]:
    return [
        sys.executable, "-c", OPENSIM_ID, str(p / "subject01.osim"),
        str(p / "IK/subject01_walk_IK.mot"), str(p / "ExperimentalData/subject01_walk_grf.xml"),
    ]  # fmt: skip


def _medians(runs: list[dict]) -> dict:
    return {
        "median_wall_s": statistics.median(r["wall_s"] for r in runs),
        "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "min_wall_s": min(r["wall_s"] for r in runs),
        "runs": runs,
    }


def run(data: Path) -> dict:
    p = data / GAIT10
    work = Path(tempfile.mkdtemp(prefix="kintwin_bench_id_speed_"))
    cache = work / "cache"
    out = work / "kintwin"
    load_before = os.getloadavg()
    cold = []
    for k in range(COLD_REPS):  # a fresh cache folder each time: the model is parsed
        cold.append(_timed(_kintwin(p, out), _environment(work / f"cold{k}"), work))
    _timed(_kintwin(p, out), _environment(cache), work)  # fills the cache, as a pipeline's first
    kintwin, opensim = [], []
    for k in range(REPS):
        order = [("kintwin", _kintwin(p, out)), ("opensim", _opensim(p))]
        for name, command in order if k % 2 == 0 else order[::-1]:
            result = _timed(command, _environment(cache), work)
            (kintwin if name == "kintwin" else opensim).append(result)
    summary_json = json.loads((out / "subject01_walk_summary.json").read_text())
    ours, theirs = _medians(kintwin), _medians(opensim)
    ratio = ours["median_wall_s"] / theirs["median_wall_s"]
    loads = [r["load_1min"] for r in kintwin + opensim]
    return {
        "trial": f"{GAIT10}/IK/subject01_walk_IK.mot",
        "policy": POLICY.name,
        "repetitions": REPS,
        "kintwin_id_warm_cache": ours,
        "kintwin_id_cold_cache": _medians(cold),
        "kintwin_id_in_process_s": summary_json["wall_time_s"],
        "opensim_id": theirs,
        "machine_load": {
            "load_avg_before": list(load_before),
            "load_1min_during_min": min(loads),
            "load_1min_during_max": max(loads),
            "cpus": os.cpu_count(),
        },
        "environment": "same for both: bytecode cache on, KINTWIN_CACHE in a temporary folder",
        "summary": {
            "kintwin_id_s": ours["median_wall_s"],
            "kintwin_id_cold_cache_s": statistics.median(r["wall_s"] for r in cold),
            "opensim_id_s": theirs["median_wall_s"],
            "ratio": ratio,
            "cpu_ratio": ours["median_cpu_s"] / theirs["median_cpu_s"],
            "bar": BAR,
            "met": ratio <= BAR,
            "load_1min_during": [min(loads), max(loads)],
        },
    }
