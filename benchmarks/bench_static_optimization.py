"""Static optimization vs OpenSim's own, and without force plates.

Classic (``kintwin so --method classic`` / ``kintwin run-tool``) against OpenSim 4.6's
StaticOptimization (AnalyzeTool) on the same inputs: Arm26 (opensim-core's IK with opensim-models'
arm26.osim, 6 Hz), the Gait10dof18musc walk (ExternalLoads, gait10dof_Reserve_Actuators.xml,
6 Hz) and Gait2392 (its walk IK, ExternalLoads and weak SO residual actuators, 0.5-2.0 s, 6 Hz).
Bar per muscle whose OpenSim peak activation is >= 0.05: r >= 0.95 and max |da| <= 0.05. Both
run as separate processes, interleaved (``REPEATS`` times per trial, best kept, after one untimed
run of each: bytecode compiled and files cached, as an installed package runs); bar: our wall
time <= 0.5x OpenSim's. Each process's CPU time (user + system) is reported too, with the load
average around the trial (the machine may be shared).

No force plates: ``kintwin so --policy policies/pretrained/gait10dof18musc_walk_torque`` on the
walk vs OpenSim's SO with force plates, over muscles whose OpenSim peak is >= 0.1 (activations
interpolated to OpenSim's frames): median r >= 0.8, named muscles r >= 0.6 each, mean |da| <= 0.1.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from converters.opensim_io.table import read_table

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "policies/pretrained/gait10dof18musc_walk_torque"
GAIT10 = "opensim-models/Pipelines/Gait10dof18musc"
GAIT2392 = "opensim-models/Pipelines/Gait2392_Simbody"
REPEATS = {"arm26": 5, "walk": 2, "g2392": 2}  # timed runs of each process per trial
NAMED = ["soleus", "gastroc", "vasti", "glut_max", "hamstrings", "iliopsoas", "tib_ant"]

_OPENSIM_SO = (
    "import sys, opensim; opensim.Logger.setLevelString('error'); "
    "sys.exit(0 if opensim.AnalyzeTool(sys.argv[1]).run() else 1)"
)


def _so_setup(
    path: Path, name: str, model: Path, coordinates: Path, loads: Path | None,
    reserves: Path | None, time_range: tuple[float, float], results: Path,
) -> Path:  # fmt: skip
    """An AnalyzeTool StaticOptimization setup (6 Hz, exponent 2), written by the opensim package."""
    import opensim

    tool = opensim.AnalyzeTool()
    tool.setName(name)
    tool.setModelFilename(str(model))
    if reserves is not None:
        files = opensim.ArrayStr()
        files.append(str(reserves))
        tool.setForceSetFiles(files)
        tool.setReplaceForceSet(False)
    tool.setCoordinatesFileName(str(coordinates))
    if loads is not None:
        tool.setExternalLoadsFileName(str(loads))
    tool.setLowpassCutoffFrequency(6.0)
    tool.setInitialTime(time_range[0])
    tool.setFinalTime(time_range[1])
    tool.setResultsDir(str(results))
    analysis = opensim.StaticOptimization()
    analysis.setStartTime(time_range[0])
    analysis.setEndTime(time_range[1])
    tool.getAnalysisSet().cloneAndAppend(analysis)
    tool.printToXML(str(path))
    return path


def _env() -> dict[str, str]:
    """The environment of the timed processes: bytecode may be written (an installed package's
    modules are compiled once; PYTHONDONTWRITEBYTECODE would recompile ours at every run)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one process (CPU: user + system, its children included)."""
    cpu, start = _cpu_children(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=_env())
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {done.stderr[-2000:]}")
    return wall, _cpu_children() - cpu


def _timed(command: list[str]) -> float:
    return _run(command)[0]


def _agreement(
    ours: Path, reference: Path, min_peak: float, model: Path, span: tuple | None = None
) -> dict:
    """Per muscle (OpenSim peak >= min_peak): r, RMSE, max |da| (ours interpolated to its
    times, which are the same frames for the classic runs)."""
    from converters.osim.parser import load_osim

    muscles = {m.name for m in load_osim(model).muscles}
    a, b = read_table(ours), read_table(reference)
    rows = {}
    for label in b.labels:
        theirs = b.column(label)
        if label not in muscles or label not in a.labels or theirs.max() < min_peak:
            continue
        mine = np.interp(b.time, a.time, a.column(label))
        rows[label] = {
            "opensim_peak": float(theirs.max()),
            "r": float(np.corrcoef(mine, theirs)[0, 1]),
            "rmse": float(np.sqrt(np.mean((mine - theirs) ** 2))),
            "max_abs_diff": float(np.max(np.abs(mine - theirs))),
            "mean_abs_diff": float(np.mean(np.abs(mine - theirs))),
        }
        if span is not None:  # OpenSim may analyse a frame just before the requested start
            inside = (b.time >= span[0] - 1e-9) & (b.time <= span[1] + 1e-9)
            d = np.abs(mine - theirs)[inside]
            rows[label]["max_abs_diff_inside_span"] = float(np.max(d))
            rows[label]["r_inside_span"] = float(np.corrcoef(mine[inside], theirs[inside])[0, 1])
    return rows


def _classic_trial(
    model: Path, ours_cmd: list[str], ours_file: Path, setup: Path, ref: Path, span=None,
    repeats: int = 2,
) -> dict:  # fmt: skip
    opensim_cmd = [sys.executable, "-c", _OPENSIM_SO, str(setup)]
    _run(ours_cmd), _run(opensim_cmd)  # untimed: bytecode and file caches, as installed
    load_before = os.getloadavg()
    kintwin, opensim_s = [], []
    for _ in range(repeats):
        kintwin.append(_run(ours_cmd))
        opensim_s.append(_run(opensim_cmd))
    load_after = os.getloadavg()
    muscles = _agreement(ours_file, ref, 0.05, model, span)
    ours_time, ref_time = read_table(ours_file).time, read_table(ref).time
    same_frames = len(ours_time) == len(ref_time) and np.allclose(ours_time, ref_time, atol=1e-9)
    met = all(m["r"] >= 0.95 and m["max_abs_diff"] <= 0.05 for m in muscles.values())
    wall = [min(w for w, _ in kintwin), min(w for w, _ in opensim_s)]
    cpu = [min(c for _, c in kintwin), min(c for _, c in opensim_s)]
    ratio = wall[0] / wall[1]
    return {
        "muscles": muscles,
        "frames": read_table(ours_file).n_rows,
        "same_frames_as_opensim": bool(same_frames),
        "repeats": repeats,
        "kintwin_process_s": wall[0],
        "opensim_process_s": wall[1],
        "time_ratio": ratio,
        "kintwin_process_cpu_s": cpu[0],
        "opensim_process_cpu_s": cpu[1],
        "cpu_time_ratio": cpu[0] / cpu[1],
        "runs_wall_cpu_s": {
            "kintwin": [[round(w, 3), round(c, 3)] for w, c in kintwin],
            "opensim": [[round(w, 3), round(c, 3)] for w, c in opensim_s],
        },
        "load_average_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "agreement_met": bool(met and muscles),
        "agreement_met_inside_span": bool(
            span is not None
            and muscles
            and all(
                m["r_inside_span"] >= 0.95 and m["max_abs_diff_inside_span"] <= 0.05
                for m in muscles.values()
            )
        ),
        "span": span,
        "time_met": ratio <= 0.5,
        "command": " ".join(str(c) for c in ours_cmd[2:]),
    }


def _kintwin(*args: object) -> list[str]:
    return [sys.executable, "-m", "kintwin_cli", *[str(a) for a in args]]


def _arm26(data: Path, work: Path) -> dict:
    model = data / "opensim-models/Models/Arm26/arm26.osim"
    ik = data / "opensim-core/Applications/Analyze/tests/resources/arm26_InverseKinematics.mot"
    work.mkdir(parents=True, exist_ok=True)
    setup = _so_setup(
        work / "arm26_so.xml", "arm26", model, ik, None, None, (0.0, 1.0), work / "os"
    )
    ours = _kintwin("so", "--method", "classic", "--model", model, "--coordinates", ik,
                    "--name", "arm26", "-o", work / "kt", "--force")  # fmt: skip
    return _classic_trial(
        model, ours, work / "kt/arm26_StaticOptimization_activation.sto", setup,
        work / "os/arm26_StaticOptimization_activation.sto", repeats=REPEATS["arm26"],
    )  # fmt: skip


def _walk(data: Path, work: Path) -> dict:
    p = data / GAIT10 / "OutputReference"
    model, ik = p / "subject01.osim", p / "IK/subject01_walk_IK.mot"
    loads, reserves = (
        p / "ExperimentalData/subject01_walk_grf.xml",
        data / GAIT10 / "gait10dof_Reserve_Actuators.xml",
    )
    work.mkdir(parents=True, exist_ok=True)
    setup = _so_setup(
        work / "walk_so.xml", "walk", model, ik, loads, reserves, (0.0, 2.5), work / "os"
    )
    ours = _kintwin("so", "--method", "classic", "--model", model, "--coordinates", ik,
                    "--external-loads", loads, "--reserves", reserves, "--name", "walk",
                    "-o", work / "kt", "--force")  # fmt: skip
    return _classic_trial(
        model, ours, work / "kt/walk_StaticOptimization_activation.sto", setup,
        work / "os/walk_StaticOptimization_activation.sto", repeats=REPEATS["walk"],
    )  # fmt: skip


def _gait2392(data: Path, work: Path) -> dict:
    """Gait2392's walk: the IK with its model, its ExternalLoads and the SO residual actuators
    of its SO setup, 6 Hz, 0.5-2.0 s. (The SO setup itself, with the RRA kinematics and the
    adjusted model, fails inside OpenSim 4.6: equilibrateMuscles on semimem_r at the first
    frame; its foot_floor_loads.xml is made of PrescribedForces OpenSim 4.6 cannot read.)"""
    p = data / GAIT2392
    work.mkdir(parents=True, exist_ok=True)
    model, ik = (
        p / "OutputReference/subject01_simbody.osim",
        p / "OutputReference/subject01_walk1_ik.mot",
    )
    loads, reserves = p / "subject01_walk1_grf.xml", p / "gait2392_SO_weak_Residual_Actuators.xml"
    setup = _so_setup(
        work / "g2392_so.xml", "g2392", model, ik, loads, reserves, (0.5, 2.0), work / "os"
    )
    ours = _kintwin("so", "--method", "classic", "--model", model, "--coordinates", ik,
                    "--external-loads", loads, "--reserves", reserves, "--time-range", 0.5, 2.0,
                    "--name", "g2392", "-o", work / "kt", "--force")  # fmt: skip
    return _classic_trial(
        model, ours, work / "kt/g2392_StaticOptimization_activation.sto", setup,
        work / "os/g2392_StaticOptimization_activation.sto", (0.5, 2.0), REPEATS["g2392"],
    )  # fmt: skip


def _guarded(trial, *args) -> dict:
    """A trial's result, or the error that stopped it (recorded, not hidden)."""
    try:
        return trial(*args)
    except Exception as error:  # noqa: BLE001 - the benchmark reports every failure
        return {"error": str(error)[-1500:], "agreement_met": False, "time_met": False,
                "muscles": {}, "time_ratio": float("nan")}  # fmt: skip


def _no_force_plates(data: Path, work: Path, reference: Path) -> dict:
    p = data / GAIT10 / "OutputReference"
    command = _kintwin("so", "--model", p / "subject01.osim", "--coordinates",
                       p / "IK/subject01_walk_IK.mot", "--policy", POLICY,
                       "-o", work / "policy", "--force")  # fmt: skip
    wall = _timed(command)
    muscles = _agreement(
        work / "policy/subject01_walk_StaticOptimization_activation.sto", reference, 0.1,
        p / "subject01.osim",
    )  # fmt: skip
    rs = [m["r"] for m in muscles.values()]
    named = {k: v["r"] for k, v in muscles.items() if any(k.startswith(n) for n in NAMED)}
    mean_abs = float(np.mean([m["mean_abs_diff"] for m in muscles.values()]))
    met = {
        "median_r": float(np.median(rs)) >= 0.8,
        "named_r": all(r >= 0.6 for r in named.values()) and len(named) == 2 * len(NAMED),
        "mean_abs_diff": mean_abs <= 0.1,
    }
    return {
        "muscles": muscles,
        "median_r": float(np.median(rs)),
        "named_r": named,
        "named_missing_below_peak": [
            f"{n}_{s}" for n in NAMED for s in "rl" if f"{n}_{s}" not in named
        ],
        "mean_abs_diff": mean_abs,
        "kintwin_process_s": wall,
        "met": met,
        "command": " ".join(str(c) for c in command[2:]),
    }


def run(data: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix="kintwin_bench_so_"))
    trials = {
        "arm26": _guarded(_arm26, data, work / "arm26"),
        "gait10dof18musc_walk": _guarded(_walk, data, work / "walk"),
        "gait2392": _guarded(_gait2392, data, work / "gait2392"),
    }
    policy = _no_force_plates(data, work, work / "walk/os/walk_StaticOptimization_activation.sto")
    return {
        "classic": trials,
        "no_force_plates_torque_policy": policy,
        "summary": {
            "classic_agreement_met": all(t["agreement_met"] for t in trials.values()),
            "classic_time_met": all(t["time_met"] for t in trials.values()),
            "time_ratios": {k: round(t["time_ratio"], 3) for k, t in trials.items()},
            "cpu_time_ratios": {
                k: round(t.get("cpu_time_ratio", float("nan")), 3) for k, t in trials.items()
            },
            "worst_max_abs_diff": max(
                (m["max_abs_diff"] for t in trials.values() for m in t["muscles"].values()),
                default=None,
            ),
            "worst_r": min(
                (m["r"] for t in trials.values() for m in t["muscles"].values()), default=None
            ),
            "policy_median_r": policy["median_r"],
            "policy_min_named_r": min(policy["named_r"].values()) if policy["named_r"] else None,
            "policy_mean_abs_diff": policy["mean_abs_diff"],
            "policy_met": all(policy["met"].values()),
        },
    }
