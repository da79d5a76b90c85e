"""``kintwin id --method contact`` (no force plates, no policy) on subjects it was never looked at
on, against OpenSim's own ID with the plates.

- 3dpredictsim subject 2: seven overground walks, a gait2392-family model with MTP joints,
  marker-based IK; OpenSim's ID results as the repository ships them (6 Hz).
- Gait10dof18musc: OpenSim's planar example walk and its reference ID.

- OpenCap subject 4 (walking1, walking4, squats1, STS1): static optimization (``kintwin so
  --method classic``) with the solved loads against the same with the plates assigned to the
  feet: the activations of ten lower-limb muscles (r, RMSE) on the frames the plates cover.

Moments are compared on the frames the plates cover (|pelvis_ty_force| ≤ 0.15 body weight in
OpenSim's ID); the vertical GRF (all feet together) against the plates on those frames. The bars
are issue 13's bar 1 (r ≥ 0.85, RMSE ≤ 0.3 N·m/kg, vertical GRF ≤ 10 %BW), as a yardstick.
(OpenCap subject 4 is measured in bench_opencap's ``contact_solve``.)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from converters.opensim_io.table import Table, read_table

ROOT = Path(__file__).resolve().parents[1]
PREDICTSIM = "3dpredictsim-subject2"
PREDICTSIM_MODEL = "Models/subject2_withMTP_weldRadius_scaled_FK.osim"
PREDICTSIM_TRIALS = ["14", "15", "23", "25", "27", "60", "61"]
GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"
FLEXION = [f"{c}_{s}" for c in ("hip_flexion", "knee_angle", "ankle_angle") for s in "rl"]
COVERED_BW = 0.15
GRAVITY = 9.80665
BARS = {"r": 0.85, "rmse_Nm_per_kg": 0.3, "vgrf_percent_bw": 10.0}
SUBJECT4 = "opencap-subject4"
SUBJECT4_MODEL = "Models/optimized_scale_and_markers.osim"
SO_TRIALS = ["walking1", "walking4", "squats1", "STS1"]
SO_MUSCLES = ["soleus_r", "gasmed_r", "tibant_r", "vasint_r", "recfem_r", "bflh_r", "glmax1_r",
              "soleus_l", "vasint_l", "glmax1_l"]  # fmt: skip


def run(data: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix="kintwin_bench_contact_"))
    trials = {}
    root = data / PREDICTSIM
    model = root / PREDICTSIM_MODEL
    for trial in PREDICTSIM_TRIALS:
        reference = read_table(root / "ID" / f"ID_gait_{trial}.sto")
        plates = read_table(root / "GRF" / f"GRF_gait_{trial}.mot")
        ik = root / "IK" / f"IK_gait_{trial}.mot"
        trials[f"3dpredictsim/gait_{trial}"] = _trial(model, ik, reference, plates, work)
    gait10 = data / GAIT10
    plates = read_table(gait10.parent / "ExperimentalData" / "subject01_walk_grf.mot")
    trials["gait10dof18musc/walk"] = _trial(
        gait10 / "subject01.osim",
        gait10 / "IK" / "subject01_walk_IK.mot",
        read_table(gait10 / "ID" / "Results" / "subject01_walk_ID.sto"),
        plates,
        work,
    )
    so = {t: _static_optimization(data / SUBJECT4, t, work) for t in SO_TRIALS}
    summary = _summary(trials)
    summary["so_activation_r_median"] = {
        t: float(np.median([m["r"] for m in r["muscles"].values()])) for t, r in so.items()
    }
    return {"bars": BARS, "trials": trials, "static_optimization": so, "summary": summary}


def _kintwin(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "kintwin_cli", *map(str, args)], check=True,
                   capture_output=True, cwd=ROOT)  # fmt: skip


def _static_optimization(root: Path, trial: str, work: Path) -> dict:
    """SO activations with the solved loads against SO with the plates, on covered frames."""
    from converters.opensim_reference.tools import run_inverse_dynamics
    from converters.osim.parser import load_osim

    model = root / SUBJECT4_MODEL
    ik = root / "IK" / f"{trial}_ik.mot"
    out = work / f"so_{trial}"
    started = time.perf_counter()
    _kintwin("id", "--method", "contact", "--model", model, "--coordinates", ik, "-o", out / "c")
    _kintwin("so", "--method", "classic", "--model", model, "--coordinates", ik,
             "--external-loads", out / "c" / f"{trial}_grf.xml", "-o", out / "so_solved")  # fmt: skip
    seconds = time.perf_counter() - started
    _kintwin("convert", "grf", root / "ID" / f"{trial}_grf.mot", "--model", model,
             "--coordinates", ik, "-o", out / "plates")  # fmt: skip
    _kintwin("so", "--method", "classic", "--model", model, "--coordinates", ik,
             "--external-loads", out / "plates_grf.xml", "-o", out / "so_plates")  # fmt: skip
    times = read_table(ik).time
    reference = read_table(run_inverse_dynamics(
        model, ik, out / "plates_grf.xml", 6.0, (times[0], times[-1]), out / "os"
    ))  # fmt: skip
    weight = sum(b.mass for b in load_osim(model).bodies.values()) * GRAVITY
    covered = np.abs(reference.column("pelvis_ty_force")) <= COVERED_BW * weight
    at = reference.time[covered]
    solved = read_table(next((out / "so_solved").glob("*_activation.sto")))
    plates = read_table(next((out / "so_plates").glob("*_activation.sto")))
    muscles = {}
    for name in SO_MUSCLES:
        mine = np.interp(at, solved.time, solved.column(name))
        theirs = np.interp(at, plates.time, plates.column(name))
        muscles[name] = {"r": float(np.corrcoef(mine, theirs)[0, 1]),
                         "rmse": float(np.sqrt(np.mean((mine - theirs) ** 2)))}  # fmt: skip
    return {"covered_frames": int(covered.sum()), "muscles": muscles,
            "contact_id_and_so_wall_s": seconds}  # fmt: skip


def _trial(model: Path, ik: Path, reference: Table, plates: Table, work: Path) -> dict:
    from converters.osim.parser import load_osim

    mass = sum(b.mass for b in load_osim(model).bodies.values())
    weight = mass * GRAVITY
    out = work / ik.stem
    span = [str(reference.time[0]), str(reference.time[-1])]
    args = [sys.executable, "-m", "kintwin_cli", "id", "--method", "contact", "--model",
            str(model), "--coordinates", str(ik), "--time-range", *span, "-o", str(out)]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    ours = read_table(next(out.glob("*_id.sto")))
    grf = read_table(next(out.glob("*_grf.mot")))
    covered = np.abs(reference.column("pelvis_ty_force")) <= COVERED_BW * weight
    at = reference.time[covered]
    moments = {}
    for name in FLEXION:
        theirs = reference.column(f"{name}_moment")[covered]
        mine = np.interp(at, ours.time, ours.column(f"{name}_moment"))
        moments[name] = {
            "r": float(np.corrcoef(mine, theirs)[0, 1]),
            "rmse_Nm_per_kg": float(np.sqrt(np.mean((mine - theirs) ** 2)) / mass),
        }
    error = np.interp(at, grf.time, _vertical(grf)) - np.interp(at, plates.time, _vertical(plates))
    return {
        "mass_kg": mass,
        "frames": int(reference.n_rows),
        "covered_frames": int(covered.sum()),
        "moments": moments,
        "vertical_grf_rmse_percent_bw": float(100.0 * np.sqrt(np.mean(error**2)) / weight),
        "wall_s": seconds,
    }


def _vertical(table: Table) -> np.ndarray:
    """(n,) N: every foot's vertical force together (``*ground_force_vy``, no ``seat_*``)."""
    columns = [k for k, name in enumerate(table.labels)
               if name.endswith("ground_force_vy") and not name.startswith("seat_")]  # fmt: skip
    return table.data[:, columns].sum(axis=1)


def _summary(trials: dict) -> dict:
    moments = [m for t in trials.values() for m in t["moments"].values()]
    return {
        "moments_meeting_r": f"{sum(m['r'] >= BARS['r'] for m in moments)}/{len(moments)}",
        "moments_meeting_rmse": (
            f"{sum(m['rmse_Nm_per_kg'] <= BARS['rmse_Nm_per_kg'] for m in moments)}/{len(moments)}"
        ),
        "r_range": [min(m["r"] for m in moments), max(m["r"] for m in moments)],
        "vertical_grf_rmse_percent_bw_max": max(
            t["vertical_grf_rmse_percent_bw"] for t in trials.values()
        ),
        "wall_s_max": max(t["wall_s"] for t in trials.values()),
    }
