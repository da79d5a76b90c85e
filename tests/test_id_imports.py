"""``kintwin id`` with a policy stays light: no torch, scipy or opensim import at run time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GAIT = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"
PROBE = """
import json, runpy, sys
sys.argv = ["kintwin", *sys.argv[1:]]
try:
    runpy.run_module("kintwin_cli", run_name="__main__")
except SystemExit as exit:
    assert not exit.code, exit.code
heavy = {"torch", "scipy", "opensim", "tqdm", "pandas", "matplotlib"}
print(json.dumps(sorted(heavy & {m.split(".")[0] for m in sys.modules})))
"""


def test_imitation_id_imports_no_heavy_package(shared_data: Path, tmp_path: Path):
    """The second run (the parsed model cached by the first) imports none of them; the first
    may import scipy, for the model's splines."""
    p = shared_data / GAIT
    env = {**os.environ, "KINTWIN_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    command = [
        sys.executable, "-c", PROBE, "id", "--model", str(p / "subject01.osim"),
        "--coordinates", str(p / "IK/subject01_walk_IK.mot"),
        "--policy", str(REPO / "policies/pretrained/gait10dof18musc_walk_torque"),
        "-o", str(tmp_path / "out"), "--force",
    ]  # fmt: skip
    runs = []
    for _ in range(2):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert set(runs[0]) <= {"scipy"}, runs[0]
    assert runs[1] == [], runs[1]
    assert (tmp_path / "out/subject01_walk_id.sto").is_file()
