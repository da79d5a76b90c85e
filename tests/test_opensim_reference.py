"""The OpenSim reference layer: no ``opensim.log`` left behind, the log level restored, one pose
setter, path queries against finite differences, and OpenSim's own tools (against the standard
results opensim-core's test suite checks them with)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from converters.coordinate_smoothing import smooth_derivatives
from converters.errors import FileFormatError, KintwinError
from converters.opensim_io.table import read_table
from converters.opensim_reference.log import opensim_log
from converters.opensim_reference.model import OpenSimModel
from converters.opensim_reference.paths import MusclePaths
from converters.opensim_reference.tools import (
    OpenSimToolError,
    run_inverse_dynamics,
    run_static_optimization,
)

REPO = Path(__file__).resolve().parents[1]
ARM26 = "opensim-models/Models/Arm26/arm26.osim"
ANALYZE = "opensim-core/Applications/Analyze/tests/resources"


def _run_python(code: str, cwd: Path) -> None:
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_loading_a_model_leaves_no_opensim_log(shared_data: Path, tmp_path: Path):
    """OpenSim logs to ``opensim.log`` in the folder current at its first message (the model's
    folder while it loads one); through this layer it writes none, in either folder."""
    models, bare_models = tmp_path / "models", tmp_path / "bare_models"
    run, bare_run = tmp_path / "run", tmp_path / "bare_run"
    for folder in (models, bare_models, run, bare_run):
        folder.mkdir()
    shutil.copy(shared_data / ARM26, models / "arm26.osim")
    shutil.copy(shared_data / ARM26, bare_models / "arm26.osim")
    _run_python(  # the package alone: the file appears (what this layer must prevent)
        f"import opensim; opensim.Model({str(bare_models / 'arm26.osim')!r})", bare_run
    )
    assert list(tmp_path.rglob("opensim.log")), "OpenSim no longer writes opensim.log?"
    _run_python(
        "from converters.opensim_reference.model import OpenSimModel\n"
        "from converters.opensim_reference.paths import MusclePaths\n"
        f"m = OpenSimModel({str(models / 'arm26.osim')!r}, level='info')\n"
        "MusclePaths(m).lengths_and_moment_arms('BIClong', {'r_elbow_flex': [0.1, 1.0]})\n",
        run,
    )
    assert not (run / "opensim.log").exists() and not (models / "opensim.log").exists()


def test_log_level_is_restored_also_after_an_error():
    with opensim_log("warn") as opensim:
        assert opensim.Logger.getLevelString() == "Warn"
        with opensim_log("off"):
            assert opensim.Logger.getLevelString() == "Off"
        assert opensim.Logger.getLevelString() == "Warn"
        with pytest.raises(RuntimeError), opensim_log("critical"):
            raise RuntimeError("inside")
        assert opensim.Logger.getLevelString() == "Warn"


def test_opensim_log_raises_error_if_level_unknown():
    with pytest.raises(ValueError, match="not one of"), opensim_log("loud"):
        pass


def test_set_pose_keeps_or_resets_the_other_coordinates(shared_data: Path):
    model = OpenSimModel(shared_data / ARM26)
    model.set_pose({"r_shoulder_elev": 0.5})
    model.set_pose({"r_elbow_flex": 1.2})
    shoulder, elbow = model.coordinate("r_shoulder_elev"), model.coordinate("r_elbow_flex")
    assert shoulder.getValue(model.state) == 0.5 and elbow.getValue(model.state) == 1.2
    model.set_pose({"r_elbow_flex": 0.3}, assemble=True)  # the rest back to their defaults
    assert shoulder.getValue(model.state) == pytest.approx(shoulder.getDefaultValue(), abs=1e-12)
    assert elbow.getValue(model.state) == pytest.approx(0.3, abs=1e-12)


def test_moment_arms_are_minus_the_length_derivative(shared_data: Path):
    """r = -dL/dq (OpenSim's sign) by central differences, for BICshort (no wrap object: over
    wraps OpenSim's moment arm is not its length's derivative, see test_wraps)."""
    paths = MusclePaths(OpenSimModel(shared_data / ARM26))
    rng = np.random.default_rng(4)
    step = 1e-6
    for _ in range(5):
        pose = {"r_shoulder_elev": rng.uniform(-0.5, 2.5), "r_elbow_flex": rng.uniform(0.1, 2.2)}
        for muscle in ("BICshort",):
            for coordinate in pose:
                values = {c: np.array([v, v, v]) for c, v in pose.items()}
                values[coordinate] = values[coordinate] + np.array([0.0, step, -step])
                lengths, arms = paths.lengths_and_moment_arms(muscle, values, [coordinate])
                slope = (lengths[1] - lengths[2]) / (2 * step)
                assert arms[0, 0] == pytest.approx(-slope, abs=1e-6), (muscle, coordinate, pose)


def test_an_undefined_moment_arm_does_not_spoil_the_poses_after_it(shared_data: Path):
    """OpenSim 4.6 gives BIClong's shoulder moment arm as NaN at this pose (its wrapped path
    jumps by 1.7 mm within 0.01 deg there) and then NaN at every later pose of the same model,
    even after initSystem; MusclePaths reads the model again, so the next pose's moment arm is
    OpenSim's own (-dL/dq, the wrap being smooth there)."""
    paths = MusclePaths(OpenSimModel(shared_data / ARM26))
    paths.set_pose({"r_shoulder_elev": 0.5456961798030406, "r_elbow_flex": 1.1943396552998264})
    assert np.isnan(paths.moment_arm("BIClong", "r_shoulder_elev"))
    shoulder, elbow, step = 1.0671187186282325, 0.7528838879410205, 1e-6
    values = {
        "r_shoulder_elev": np.array([shoulder, shoulder + step, shoulder - step]),
        "r_elbow_flex": np.full(3, elbow),
    }
    lengths, arms = paths.lengths_and_moment_arms("BIClong", values, ["r_shoulder_elev"])
    assert np.isfinite(arms).all()
    assert arms[0, 0] == pytest.approx(-(lengths[1] - lengths[2]) / (2 * step), abs=1e-5)


def test_unknown_names_raise_errors_listing_the_valid_ones(shared_data: Path):
    model = OpenSimModel(shared_data / ARM26)
    with pytest.raises(KintwinError, match="r_elbow_flex"):
        model.coordinate("elbow")
    with pytest.raises(KintwinError, match="BIClong"):
        MusclePaths(model).length("BIC")


def test_model_raises_error_if_file_is_not_a_model(tmp_path: Path):
    path = tmp_path / "broken.osim"
    path.write_text("<OpenSimDocument Version='40000'><Model name='m'><BodySet>")
    with pytest.raises(FileFormatError, match="broken.osim"):
        OpenSimModel(path)


def test_static_optimization_forces_balance_inverse_dynamics(shared_data: Path, tmp_path: Path):
    """Arm26 through OpenSim's StaticOptimization: at every frame the muscle forces times
    OpenSim's moment arms give the joint moments of OpenSim's ID (SO's equality constraint),
    within 1e-3 N m (0.05 % of the 2 N m peaks); activations within [0.01, 1] (Thelen's floor).
    (opensim-core's std_arm26 SO results were made with a minimum activation of 0, which
    OpenSim 4.6 rejects, so they are not a reference any more.)"""
    base, model = shared_data / ANALYZE, shared_data / ARM26
    motion = base / "arm26_InverseKinematics.mot"
    result = run_static_optimization(model, motion, None, 6.0, (0.25, 0.75), tmp_path / "so")
    assert result.activation_path.exists() and result.force_path.exists()
    muscles = ["TRIlong", "TRIlat", "TRImed", "BIClong", "BICshort", "BRA"]
    assert result.activation.labels == muscles == result.force.labels
    assert result.activation.time[0] == pytest.approx(0.25, abs=1e-5)
    assert np.all(result.activation.data >= 0.01 - 1e-9) and np.all(result.activation.data <= 1)
    moments = read_table(run_inverse_dynamics(model, motion, None, 6.0, (0.25, 0.75), tmp_path))
    table = read_table(motion)
    coordinates = ["r_shoulder_elev", "r_elbow_flex"]
    angles = {c: np.radians(table.data[:, table.labels.index(c)]) for c in coordinates}
    smooth = smooth_derivatives(table.time, angles, 6.0)[0]
    paths = MusclePaths(OpenSimModel(model))
    force = result.force
    for k, t in enumerate(force.time):
        paths.set_pose({c: float(np.interp(t, table.time, smooth[c])) for c in coordinates})
        for c in coordinates:
            tau = sum(force.data[k, j] * paths.moment_arm(m, c) for j, m in enumerate(muscles))
            column = moments.data[:, moments.labels.index(f"{c}_moment")]
            assert tau == pytest.approx(np.interp(t, moments.time, column), abs=1e-3), (t, c)


def test_inverse_dynamics_matches_opensims_standard(shared_data: Path, tmp_path: Path):
    """Arm26 through OpenSim's InverseDynamicsTool; opensim-core's testID bar: 0.01 N m (RMS per
    column) from its standard result."""
    base = shared_data / ANALYZE
    path = run_inverse_dynamics(
        shared_data / ARM26, base / "arm26_InverseKinematics.mot", None, 6.0, (0.0, 1.0), tmp_path
    )
    ours, standard = read_table(path), read_table(base / "std_arm26_InverseDynamics.sto")
    for label in standard.labels:
        expected = np.interp(
            ours.time, standard.time, standard.data[:, standard.labels.index(label)]
        )
        got = ours.data[:, ours.labels.index(label)]
        assert np.sqrt(np.mean((got - expected) ** 2)) <= 1e-2, label


def test_tools_raise_error_if_coordinates_missing(shared_data: Path, tmp_path: Path):
    with pytest.raises(OpenSimToolError, match="InverseDynamicsTool"):
        run_inverse_dynamics(shared_data / ARM26, tmp_path / "no.mot", None, None, (0, 1), tmp_path)
    with pytest.raises(OpenSimToolError, match="StaticOptimization"):
        run_static_optimization(
            shared_data / ARM26, tmp_path / "no.mot", None, None, (0, 1), tmp_path / "so"
        )
