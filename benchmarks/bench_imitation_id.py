"""Imitation ID with the shipped policy on the Gait10dof18musc walk, against the answer key.

The policy was trained on the walk's kinematics only. Here `kintwin id --policy` runs as a process
from a cold start; its joint moments are compared with OpenSim's ID result and its simulated GRF
with the force plates (issue 5's bars), and OpenSim's own ID and SO are timed in the same run.
The training curve comes from the policy's ``log.csv``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from converters.compare import CompareConfig, compare_tables, rename_prefixes
from converters.opensim_io.table import read_table
from converters.opensim_reference.tools import run_inverse_dynamics, run_static_optimization

GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"
POLICY = Path(
    os.environ.get(
        "KINTWIN_BENCH_POLICY",
        Path(__file__).resolve().parents[1] / "policies/pretrained/gait10dof18musc_walk_torque",
    )
).resolve()
JOINTS = ["hip_flexion_r", "knee_angle_r", "ankle_angle_r", "hip_flexion_l", "knee_angle_l"]
JOINTS += ["ankle_angle_l"]
BARS = {
    "tracking_deg": 2.0,
    "pelvis_position_cm": 2.0,
    "moment_r": 0.85,
    "moment_rmse_nm_per_kg": 0.25,
    "grf_vertical_rmse_pct_bw": 10.0,
    "grf_ap_rmse_pct_bw": 5.0,
    "event_error_ms": 40.0,
    "residual_rms_pct_bw": 2.0,
    "id_wall_s": 10.0,
    "training_cpu_minutes": 60.0,
}


def _kintwin_id(p: Path, out: Path) -> float:
    """Wall seconds of `kintwin id --policy` as a fresh process."""
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable, "-m", "kintwin_cli", "id",
            "--model", str(p / "subject01.osim"),
            "--coordinates", str(p / "IK/subject01_walk_IK.mot"),
            "--policy", str(POLICY), "-o", str(out), "--force",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - start


def _moments(out: Path, p: Path, mass: float) -> dict:
    comparison = compare_tables(
        read_table(out / "subject01_walk_id.sto"),
        read_table(p / "ID/Results/subject01_walk_ID.sto"),
        CompareConfig(mass_kg=mass),
    )
    by_name = {c.name: c for c in comparison.columns}
    rows = {}
    for joint in [*JOINTS, "lumbar_extension"]:
        c = by_name[f"{joint}_moment"]
        rows[joint] = {"r": c.r, "rmse_nm_per_kg": c.rmse_per_kg, "peak_error_nm": c.peak_error}
    return rows


def _grf(out: Path, p: Path, mass: float) -> dict:
    ours = rename_prefixes(read_table(out / "subject01_walk_grf.mot"), [("r_", ""), ("l_", "1_")])
    comparison = compare_tables(
        ours, read_table(p / "ExperimentalData/subject01_walk_grf.mot"), CompareConfig(mass_kg=mass)
    )
    by_name = {c.name: c for c in comparison.columns}
    feet = {}
    for side, prefix in (("right", ""), ("left", "1_")):
        vertical, ap = by_name[f"{prefix}ground_force_vy"], by_name[f"{prefix}ground_force_vx"]
        feet[side] = {
            "vertical_rmse_pct_bw": vertical.rmse_pct_bw,
            "vertical_r": vertical.r,
            "ap_rmse_pct_bw": ap.rmse_pct_bw,
            "ap_r": ap.r,
        }
    events = [
        {"group": e.group, "kind": e.kind, "time": e.time, "error_ms": e.error_ms}
        for e in comparison.events
    ]
    counts = comparison.event_counts
    missing = sum(abs(n["ours"] - n["reference"]) for k in counts.values() for n in k.values())
    return {
        "feet": feet,
        "events": events,
        "missing_or_extra_events": missing,
        "max_event_error_ms": comparison.max_event_error_ms,
    }


def _training(policy: Path) -> dict:
    card = json.loads((policy / "card.json").read_text())
    curve = []
    with open(policy / "log.csv") as f:
        rows = list(csv.DictReader(f))
    step = max(1, len(rows) // 40)
    for row in rows[::step] + rows[-1:]:
        curve.append(
            {
                "minutes": round(float(row["wall_time"]) / 60.0, 2),
                "steps": int(row["global_step"]),
                "train_tracking_deg": round(float(row["tracking_error_deg"]), 3),
                "eval_score_deg": round(float(row["eval_score"]), 3),
            }
        )
    measured = "cpu_time_s" in card
    scored = [r for r in rows if r["eval_score"] not in ("", "nan")]
    shipped = card["metrics"].get("policy_checkpoint")  # older cards: the best evaluation
    if shipped is None and scored:
        shipped = min(scored, key=lambda r: float(r["eval_score"]))
    return {
        "wall_minutes": card["wall_time_s"] / 60.0,
        "steps": card["steps"],
        "torch_threads": card["ppo_config"]["torch_threads"],
        # CPU time of the trainer and its workers if the card has it, else wall time (one core)
        "cpu_minutes": (card["cpu_time_s"] if measured else card["wall_time_s"]) / 60.0,
        "cpu_minutes_source": "process CPU time (trainer + workers)"
        if measured
        else "wall time of one process",
        "shipped_checkpoint_at": None
        if shipped is None
        else {
            "iteration": int(shipped["iteration"]),
            "wall_minutes": float(shipped["wall_time"]) / 60.0,
            "cpu_minutes": float(shipped.get("cpu_time") or shipped["wall_time"]) / 60.0,
            "eval_tracking_deg": float(shipped["eval_score"]),
        },
        "curve": curve,
    }


def _opensim_timings(p: Path, work: Path) -> dict:
    start = time.perf_counter()
    run_inverse_dynamics(
        p / "subject01.osim", p / "IK/subject01_walk_IK.mot",
        p / "ExperimentalData/subject01_walk_grf.xml", 6.0, (0.0, 2.5), work / "os_id",
    )  # fmt: skip
    id_s = time.perf_counter() - start
    start = time.perf_counter()
    run_static_optimization(
        p / "subject01.osim", p / "IK/subject01_walk_IK.mot",
        p / "ExperimentalData/subject01_walk_grf.xml", 6.0, (0.0, 2.5), work / "os_so",
        p.parent / "gait10dof_Reserve_Actuators.xml",
    )  # fmt: skip
    return {"opensim_id_in_process_s": id_s, "opensim_so_in_process_s": time.perf_counter() - start}


def _bars(summary: dict, moments: dict, grf: dict, id_s: float, training: dict) -> dict:
    tracking = summary["tracking_rmse"]
    units = summary["tracking_units"]
    rotational = [tracking[c] for c in tracking if units[c] == "deg"]
    pelvis = [tracking[c] for c in ("pelvis_tx", "pelvis_ty") if c in tracking]
    feet = grf["feet"].values()
    events = [abs(e["error_ms"]) for e in grf["events"] if e["error_ms"] is not None]
    measured = {
        "tracking_deg": max(rotational),
        "pelvis_position_cm": max(pelvis),
        "moment_r": min(moments[j]["r"] for j in JOINTS),
        "moment_rmse_nm_per_kg": max(moments[j]["rmse_nm_per_kg"] for j in JOINTS),
        "grf_vertical_rmse_pct_bw": max(f["vertical_rmse_pct_bw"] for f in feet),
        "grf_ap_rmse_pct_bw": max(f["ap_rmse_pct_bw"] for f in feet),
        "event_error_ms": max(events) if events and not grf["missing_or_extra_events"] else None,
        "residual_rms_pct_bw": summary["residuals"]["rms_percent_bw"],
        "id_wall_s": id_s,
        "training_cpu_minutes": training["cpu_minutes"],
    }
    higher_is_better = {"moment_r"}
    met = {}
    for name, value in measured.items():
        if value is None or not np.isfinite(value):
            met[name] = False
        elif name in higher_is_better:
            met[name] = value >= BARS[name]
        else:
            met[name] = value <= BARS[name]
    met["no_fall"] = not summary["fell"]
    return {"measured": measured, "bars": BARS, "met": met}


def _repo_relative(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (a colleague's checkout)."""
    root = Path(__file__).resolve().parents[1]
    path = path.resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def run(data: Path) -> dict:
    p = data / GAIT10
    work = Path(tempfile.mkdtemp(prefix="kintwin_bench_imitation_"))
    id_s = _kintwin_id(p, work / "out")
    summary = json.loads((work / "out/subject01_walk_summary.json").read_text())
    mass = summary["body_mass_kg"]
    moments = _moments(work / "out", p, mass)
    grf = _grf(work / "out", p, mass)
    training = _training(POLICY)
    bars = _bars(summary, moments, grf, id_s, training)
    return {
        "policy": _repo_relative(POLICY),
        "tracking": {
            "rmse": summary["tracking_rmse"],
            "units": summary["tracking_units"],
            "rms_deg": summary["tracking_rms_deg"],
            "fell": summary["fell"],
            "belt_speed_m_per_s": summary["belt_speed_m_per_s"],
        },
        "moments_vs_opensim_id": moments,
        "grf_vs_force_plates": grf,
        "residuals": summary["residuals"],
        "timings": {"kintwin_id_process_s": id_s, **_opensim_timings(p, work)},
        "training": training,
        "bars": bars,
        "summary": {"all_met": all(bars["met"].values()), **bars["measured"]},
    }
