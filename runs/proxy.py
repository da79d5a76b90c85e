"""The robustness proxy of runs/*/DECISION.txt: subject 4's held-out walking4, walkingTS3 and
squatsAsym1, each with two noisy copies (2 deg RMS under 2 Hz, seeds 9001 and 9002, never used
in training), run through `kintwin id` (defaults) with a policy.

Usage (from the repository root): PYTHONPATH=. python runs/proxy.py POLICY_DIR OUT_DIR
(shared data from $KINTWIN_SHARED_DATA, default ../shared/data). Writes OUT_DIR/proxy.json."""
import json
import os
import sys
from pathlib import Path

from benchmarks.bench_opencap import _kintwin_id, _tracking
from converters.motion import coordinate_series, coordinates_table
from converters.opensim_io.table import read_table, write_table
from policies.augment import noisy_series
from policies.muscle import convert_for_drive

S = Path(os.environ.get("KINTWIN_SHARED_DATA", "../shared/data")) / "opencap-subject4"
M = S / "Models/optimized_scale_and_markers.osim"
policy, out = Path(sys.argv[1]), Path(sys.argv[2])
mots = out / "noisy_trials"
mots.mkdir(parents=True, exist_ok=True)
converted = convert_for_drive(str(M), "torque")
keys = ("fell", "fraction_tracked", "mean_deg", "worst_deg", "pelvis_cm", "root_follow",
        "residuals_percent_bw")
results = {}
for trial in ["walking4", "walkingTS3", "squatsAsym1"]:
    series = coordinate_series(read_table(S / f"IK/{trial}_ik.mot"), converted.osim)
    for seed in (9001, 9002):
        mot = mots / f"{trial}_noisy{seed}.mot"
        noisy = noisy_series(series, converted, seed, deg=2.0)
        write_table(coordinates_table(noisy.time, noisy.values, converted.osim, True), mot, force=True)
        summary, seconds = _kintwin_id(M, mot, policy, out / f"{trial}_{seed}")
        tracking = _tracking(summary)
        results[f"{trial}_{seed}"] = {k: tracking[k] for k in keys} | {"seconds": seconds}
        print(trial, seed, results[f"{trial}_{seed}"], flush=True)
(out / "proxy.json").write_text(json.dumps(results, indent=1))
score = sum(r["fraction_tracked"] for r in results.values())
print(f"score {score:.3f}, falls {sum(r['fell'] for r in results.values())}")
