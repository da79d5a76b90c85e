"""Diagnostic (session 25): the markerless walks on the generic model scaled by 1 / the root fit's
pelvis-path scale, instead of the generic model with its pelvis path scaled."""
import json, subprocess, sys
from pathlib import Path
sys.path.insert(0, "/work/main")
from benchmarks.bench_opencap import _scaled_generic, GENERIC
D = Path("/work/shared/data"); W = Path("/work/run25/fitbody"); W.mkdir(exist_ok=True)
policy = sys.argv[1] if len(sys.argv) > 1 else "policies/pretrained/laiuhlrich2022_torque"
def run(model, ik, out):
    p = subprocess.run([".venv/bin/kintwin", "id", "--model", str(model), "--coordinates", str(ik),
        "--policy", policy, "-o", str(out), "--force", "--json"], capture_output=True, text=True, cwd="/work/main")
    return json.loads(p.stdout)
for w in (1, 2, 3):
    ik = D / f"gaitdynamics-video/subject2/walking{w}_video.mot"
    base = run(D / GENERIC, ik, W / f"g{w}")
    scale = 1.0 / base["root_fit"]["scale"]
    model = _scaled_generic(D, scale, W)
    fit = run(model, ik, W / f"s{w}")
    for name, s in (("generic", base), (f"x{scale:.3f}", fit)):
        print(w, name, s["fell"], round(s["fraction_tracked"], 2), round(s["tracking_rms_deg"], 2),
              {k: round(v, 3) if isinstance(v, float) else v for k, v in s["root_fit"].items()},
              s["vertical_grf_vs_motion"])
