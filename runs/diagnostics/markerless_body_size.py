"""Diagnostic (session 25): each markerless gaitdynamics walk through kintwin id on the generic
LaiUhlrich2022 (its pelvis path fitted by the root fit's scale s) and on the generic model scaled
uniformly by 1/s (the body whose legs fit the walk, where the fit is near identity).
Usage: KINTWIN_SHARED_DATA=... python runs/diagnostics/markerless_body_size.py [POLICY] [WORKDIR]"""
import json, os, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from benchmarks.bench_opencap import GENERIC, _scaled_generic

D = Path(os.environ.get("KINTWIN_SHARED_DATA", ROOT.parent / "shared" / "data"))
policy = sys.argv[1] if len(sys.argv) > 1 else "policies/pretrained/laiuhlrich2022_torque"
W = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp())
W.mkdir(parents=True, exist_ok=True)


def run(model, ik, out):
    args = [sys.executable, "-m", "kintwin_cli", "id", "--model", str(model), "--coordinates",
            str(ik), "--policy", policy, "-o", str(out), "--force", "--json"]
    return json.loads(subprocess.run(args, capture_output=True, text=True, cwd=ROOT).stdout)


for w in (1, 2, 3):
    ik = D / f"gaitdynamics-video/subject2/walking{w}_video.mot"
    base = run(D / GENERIC, ik, W / f"g{w}")
    scale = 1.0 / base["root_fit"]["scale"]
    fit = run(_scaled_generic(D, scale, W), ik, W / f"s{w}")
    for name, s in (("generic", base), (f"x{scale:.3f}", fit)):
        print(w, name, "fell" if s["fell"] else "tracked", round(s["fraction_tracked"], 2),
              round(s["tracking_rms_deg"], 2), "root fit scale", round(s["root_fit"]["scale"], 3))
