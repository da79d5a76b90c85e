"""Classic inverse dynamics: agreement with OpenSim's stored/computed ID, and speed vs OpenSim.

Bar: every column within max(0.5 N·m or N, 1 % of its peak) at every frame except the first and
last 0.05 s. Timings: `kintwin id` as a process from a cold start, and OpenSim's
InverseDynamicsTool in the same run (in-process, and as a process).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from converters.compare import id_agreement
from converters.opensim_io.table import read_table
from converters.opensim_reference.tools import run_inverse_dynamics

GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"


def _compare(ours: Path, reference: Path) -> dict:
    return id_agreement(read_table(ours), read_table(reference))


def _kintwin(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kintwin_cli", *args], check=True, capture_output=True)
    return time.perf_counter() - start


def run(data: Path) -> dict:
    out = Path(tempfile.mkdtemp(prefix="kintwin_bench_id_"))
    p = data / GAIT10
    results: dict = {}
    seconds = _kintwin(
        "id",
        "--model",
        str(p / "subject01.osim"),
        "--coordinates",
        str(p / "IK/subject01_walk_IK.mot"),
        "--external-loads",
        str(p / "ExperimentalData/subject01_walk_grf.xml"),
        "--lowpass-hz",
        "6",
        "-o",
        str(out / "gait10.sto"),
    )
    start = time.perf_counter()
    run_inverse_dynamics(
        p / "subject01.osim",
        p / "IK/subject01_walk_IK.mot",
        p / "ExperimentalData/subject01_walk_grf.xml",
        6.0,
        (0.0, 2.5),
        out / "os",
    )
    opensim_seconds = time.perf_counter() - start
    results["gait10dof18musc_walk"] = {
        **_compare(out / "gait10.sto", p / "ID/Results/subject01_walk_ID.sto"),
        "kintwin_process_s": round(seconds, 3),
        "opensim_in_process_s": round(opensim_seconds, 3),
    }
    d = data / "3dpredictsim-subject2"
    for trial in ["14", "15", "23", "25", "27", "60", "61"]:
        _kintwin(
            "run-tool",
            str(d / f"ID/SetupID_gait_{trial}.xml"),
            "--model",
            str(d / "Models/subject2_withMTP_weldRadius_scaled_FK.osim"),
            "--coordinates",
            str(d / f"IK/IK_gait_{trial}.mot"),
            "--external-loads",
            str(d / f"ExternalLoads/External_Loads_gait_{trial}.xml"),
            "--grf",
            str(d / f"GRF/GRF_gait_{trial}.mot"),
            "--results-dir",
            str(out / trial),
        )
        results[f"3dpredictsim_gait_{trial}"] = _compare(
            out / trial / f"ID_gait_{trial}.sto", d / f"ID/ID_gait_{trial}.sto"
        )
    g = data / "opensim-models/Pipelines/Gait2392_Simbody"
    reference = run_inverse_dynamics(
        g / "OutputReference/subject01_simbody.osim",
        g / "subject01_walk1_ik.mot",
        g / "subject01_walk1_grf.xml",
        6.0,
        (0.4, 1.6),
        out / "gait2392_os",
    )
    _kintwin(
        "run-tool",
        str(g / "subject01_Setup_InverseDynamics.xml"),
        "--model",
        str(g / "OutputReference/subject01_simbody.osim"),
        "--results-dir",
        str(out / "g2392"),
    )
    results["gait2392_walk_vs_opensim_now"] = _compare(
        next((out / "g2392").glob("*.sto")), reference
    )
    return {
        "trials": results,
        "summary": {
            "all_within_bar": all(r["within_bar"] for r in results.values()),
            "worst_ratio": max(r["worst"]["ratio"] for r in results.values()),
            "kintwin_id_process_s": results["gait10dof18musc_walk"]["kintwin_process_s"],
            "opensim_id_in_process_s": results["gait10dof18musc_walk"]["opensim_in_process_s"],
        },
    }
