"""Subject 4's six walks through kintwin id on the generic LaiUhlrich2022 scaled uniformly by
FACTOR (as bench_opencap's bar 3 does at 0.9 and 1.1), for one policy: the tall run's point 9.
Usage: KINTWIN_SHARED_DATA=... python runs/scaled_walks.py POLICY FACTOR OUT.json"""
import json, os, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.bench_opencap import _kintwin_id, _scaled_generic, _tracking

D = Path(os.environ.get("KINTWIN_SHARED_DATA", ROOT.parent / "shared" / "data"))
policy, factor, out = Path(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
split = json.loads((ROOT / "benchmarks" / "opencap_split.json").read_text())
work = Path(tempfile.mkdtemp())
model = _scaled_generic(D, factor, work)
results = {}
for trial in split["walks"]:
    ik = D / "opencap-subject4" / "IK" / f"{trial}_ik.mot"
    summary, seconds = _kintwin_id(model, ik, policy, work / trial)
    results[trial] = {**_tracking(summary), "wall_s": seconds}
    r = results[trial]
    print(trial, "fell" if r["fell"] else "tracked", round(r["fraction_tracked"], 2),
          round(r["mean_deg"], 2), "deg")
ok = all(not r["fell"] and r["mean_deg"] <= 3.0 for r in results.values())
out.write_text(json.dumps({"policy": str(policy), "factor": factor, "passes": ok,
                           "walks": results}, indent=1))
print("point 9:", "holds" if ok else "fails")
