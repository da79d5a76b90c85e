"""Imitation ID: foot loads, the exported OpenSim files, ``kintwin id/run-tool --policy``, batch."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import opensim_smooth_derivatives

from kintwin_cli.main import cli

GAIT = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"
REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "policies/pretrained/gait10dof18musc_walk_torque"


# ------------------------------------------------------------------------------ foot loads


def test_centre_of_pressure_zeroes_the_horizontal_moment():
    from policies.foot_loads import centre_of_pressure

    rng = np.random.default_rng(3)
    for _ in range(20):
        point, force = rng.normal(size=3), rng.normal(size=3) + [0, 0, 800.0]
        point[2] = 0.01
        free = rng.normal()
        moment = np.cross(point, force) + [0.0, 0.0, free]  # about the world origin
        cop, torque = centre_of_pressure(force, moment, height=0.01)
        np.testing.assert_allclose(cop, point, atol=1e-12)
        assert torque == pytest.approx(free, abs=1e-9)
        residual = moment - np.cross(cop, force)
        np.testing.assert_allclose(residual[:2], 0.0, atol=1e-9)


def test_unloaded_foot_has_no_centre_of_pressure():
    from policies.foot_loads import centre_of_pressure

    cop, torque = centre_of_pressure(np.array([5.0, 0.0, 0.5]), np.ones(3), height=0.0)
    assert np.all(cop == 0.0) and torque == 0.0


def test_filtered_grf_is_zero_while_the_foot_is_off_the_floor():
    """The 6 Hz filter spreads a heel strike backwards in time; the export must not load a foot
    before it touches (that made heel strikes look 40 ms early). A bounce shorter than the
    filter's time constant keeps its filtered force (no toe-off and heel strike 10 ms apart)."""
    from policies.foot_loads import FootGroup
    from policies.imitation_id import _feet
    from policies.runner import Rollout

    n, strike, bounce = 200, 100, 150
    force = np.zeros((n, 2, 3))
    force[strike:, 0] = [50.0, 0.0, 800.0]  # right foot lands at row 100
    moment = np.zeros((n, 2, 3))
    moment[strike:, 0] = np.cross([0.3, 0.0, 0.0], force[strike, 0])  # acting at x = 0.3 m
    force[bounce, 0] = moment[bounce, 0] = 0.0  # one 10 ms bounce: below a 6 Hz filter's reach
    feet = [FootGroup("r", frozenset({1}), "calcn_r"), FootGroup("l", frozenset({2}), "calcn_l")]
    rollout = Rollout(
        time=np.arange(n) * 0.01, qpos=np.zeros((n, 1)), coordinates=np.zeros((n, 1)),
        reference=np.zeros((n, 1)), torques=np.zeros((n, 1)), foot_force=force,
        foot_moment=moment, coordinate_names=["q"], rotational=[True], action_names=["q"],
        feet=feet,
    )  # fmt: skip
    right, left = _feet(rollout, 6.0)
    assert np.all(right.force[:strike] == 0.0) and np.all(right.point[:strike] == 0.0)
    assert np.all(right.force[strike + 5 :, 2] > 600.0)
    assert right.point[strike + 5 :, 0] == pytest.approx(0.3)
    assert np.all(left.force == 0.0)


# ------------------------------------------------------------------------------- exporters


def _feet(n: int = 5):
    from converters.opensim_io.ground_reactions import FootLoads

    t = np.linspace(0.0, 0.04, n)
    right = FootLoads(
        "r_", "right", "calcn_r",
        force=np.column_stack([10 + t, -20 + t, 700 + t]),  # MuJoCo world: z up, y left
        point=np.column_stack([0.3 + t, 0.1 + 0 * t, 0 * t]),
        free_torque=2.0 + t,
    )  # fmt: skip
    left = FootLoads("l_", "left", "calcn_l", np.zeros((n, 3)), np.zeros((n, 3)), np.zeros(n))
    return t, [right, left]


def test_grf_table_is_in_opensim_ground_frame():
    from converters.opensim_io.ground_reactions import grf_table

    t, feet = _feet()
    table = grf_table(t, feet)
    assert table.labels[:9] == [
        "r_ground_force_vx", "r_ground_force_vy", "r_ground_force_vz",
        "r_ground_force_px", "r_ground_force_py", "r_ground_force_pz",
        "r_ground_torque_x", "r_ground_torque_y", "r_ground_torque_z",
    ]  # fmt: skip
    # OpenSim y is MuJoCo z (up); OpenSim z is MuJoCo -y
    np.testing.assert_allclose(table.column("r_ground_force_vy"), 700 + t)
    np.testing.assert_allclose(table.column("r_ground_force_vz"), 20 - t)
    np.testing.assert_allclose(table.column("r_ground_force_pz"), -0.1)
    np.testing.assert_allclose(table.column("r_ground_torque_y"), 2.0 + t)
    np.testing.assert_allclose(table.column("r_ground_torque_x"), 0.0)


def test_exported_grf_reads_back_through_our_reader_and_opensim(tmp_path: Path):
    import opensim

    from converters.opensim_io.external_loads import load_external_loads
    from converters.opensim_io.ground_reactions import grf_table, write_external_loads
    from converters.opensim_io.table import write_table

    t, feet = _feet()
    write_table(grf_table(t, feet), tmp_path / "walk_grf.mot")
    write_external_loads(tmp_path / "walk_grf.xml", "walk_grf.mot", feet)
    loads = load_external_loads(tmp_path / "walk_grf.xml")
    right = next(f for f in loads.forces if f.body == "calcn_r")
    np.testing.assert_allclose(right.force[:, 1], 700 + t)
    np.testing.assert_allclose(right.point[:, 0], 0.3 + t)
    external = opensim.ExternalLoads(str(tmp_path / "walk_grf.xml"), True)
    assert external.getSize() == 2
    assert external.get(0).getAppliedToBodyName() == "calcn_r"
    assert external.get(0).getForceIdentifier() == "r_ground_force_v"
    storage = opensim.Storage(str(tmp_path / "walk_grf.mot"))
    assert storage.getSize() == len(t) and storage.getColumnLabels().getSize() == 19


# ------------------------------------------------------------------------- kintwin id --policy


@pytest.fixture(scope="module")
def shipped_run(shared_data: Path, tmp_path_factory) -> tuple[Path, dict]:
    """`kintwin id --policy` with the shipped policy on the Gait10dof18musc walk."""
    out = tmp_path_factory.mktemp("imitation")
    p = shared_data / GAIT
    result = CliRunner().invoke(
        cli,
        [
            "id", "--model", str(p / "subject01.osim"),
            "--coordinates", str(p / "IK/subject01_walk_IK.mot"),
            "--policy", str(SHIPPED), "-o", str(out), "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "subject01_walk_summary.json").read_text())
    printed = json.loads(result.stdout)  # --json: the same summary on stdout, with the outputs
    assert printed["method"] == "imitation"
    assert printed["outputs"]["id_sto"] == str(out / "subject01_walk_id.sto")
    assert {k: v for k, v in printed.items() if k not in ("method", "outputs")} == summary
    return out, summary


def test_shipped_policy_tracks_the_walk(shipped_run):
    """The benchmark's tracking bars: the whole trial, every coordinate within 2 deg / 2 cm."""
    _, summary = shipped_run
    assert not summary["fell"] and summary["fraction_tracked"] == pytest.approx(1.0)
    limits = {"deg": 2.0, "cm": 2.0}
    for name, value in summary["tracking_rmse"].items():
        assert value <= limits[summary["tracking_units"][name]], name


def test_shipped_policy_reproduces_its_card_evaluation(shared_data: Path, monkeypatch):
    """The shipped policy.pt, evaluated as training evaluated it (the same deterministic
    whole-trial tracking of the walk, the seed - 1 evaluation copy, the saved settings and
    torch threads, the reference smoothed by the opensim package as it was then), scores
    what its card recorded: the converter, task, reference and runner still simulate the run
    it was trained in. Falls and the share tracked must be equal; the tracking error within
    1e-6 relative, since the same simulation on another CPU differs in the last digits (seen:
    2e-8, from vectorised float code); any change to the simulation moves it far more."""
    import torch

    import converters.motion
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table
    from policies.checkpoint import agent_from_checkpoint, load_checkpoint
    from policies.config import TrackingConfig
    from policies.env import TrackingEnv, task_and_references
    from policies.runner import evaluate

    card = json.loads((SHIPPED / "card.json").read_text())
    kept = card["metrics"]["policy_checkpoint"]
    p = shared_data / GAIT
    converted = convert_osim(p / "subject01.osim", ConvertOptions(meshes=False, muscles=False))
    ckpt = load_checkpoint(SHIPPED, converted.map["source_sha256"])
    assert ckpt["iteration"] == kept["iteration"] and ckpt["policy_eval"] == kept
    tracking = TrackingConfig.from_saved(ckpt["tracking_config"])
    ik = p / "IK/subject01_walk_IK.mot"
    m = converted.mj_model
    monkeypatch.setattr(converters.motion, "smooth_derivatives", opensim_smooth_derivatives)
    walk = make_trajectory(
        coordinate_series(read_table(ik), converted.osim, ik), converted.kinematics, m.nq, m.nv,
        tracking.lowpass_hz,
    )  # fmt: skip
    task, references = task_and_references(converted, [walk], tracking)
    env = TrackingEnv(None, None, tracking, ckpt["ppo_config"]["seed"] - 1, task, references)
    agent, norm = agent_from_checkpoint(ckpt)
    threads = torch.get_num_threads()
    torch.set_num_threads(ckpt["ppo_config"]["torch_threads"])
    try:
        result = evaluate(env, agent, norm)
    finally:
        torch.set_num_threads(threads)
    untracked = 1.0 - result["eval_fraction_tracked"]
    score = result["eval_tracking_error_deg"] + 90.0 * untracked
    assert score == pytest.approx(kept["eval_score"], rel=1e-6, abs=0.0)
    if kept["iteration"] == card["iterations"]:  # the card's last evaluation is this one
        metrics = card["metrics"]
        assert result["eval_falls"] == metrics["eval_falls"]
        assert result["eval_fraction_tracked"] == metrics["eval_fraction_tracked"]
        assert result["eval_tracking_error_deg"] == pytest.approx(
            metrics["eval_tracking_error_deg"], rel=1e-6, abs=0.0
        )


def test_summary_names_files_not_machine_paths(shared_data: Path, shipped_run):
    """Trial, model and policy by name and SHA-256: a colleague can check them anywhere."""
    _, summary = shipped_run
    p = shared_data / GAIT

    def sha(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert summary["trial"] == "subject01_walk_IK.mot"
    assert summary["trial_sha256"] == sha(p / "IK/subject01_walk_IK.mot")
    assert summary["model"] == "subject01.osim"
    assert summary["model_sha256"] == sha(p / "subject01.osim")
    assert summary["policy"] == SHIPPED.name
    assert summary["policy_sha256"] == sha(SHIPPED / "policy.pt")
    text = json.dumps(summary)
    assert str(shared_data) not in text and str(REPO) not in text and '"/' not in text


def test_imitation_outputs_are_opensim_files(shared_data: Path, shipped_run):
    from converters.opensim_io.table import read_table

    out, summary = shipped_run
    reference = read_table(shared_data / GAIT / "ID/Results/subject01_walk_ID.sto")
    ours = read_table(out / "subject01_walk_id.sto")
    assert ours.name == "Inverse Dynamics Generalized Forces"
    assert ours.labels == reference.labels
    assert np.all(ours.data[:, :3] == 0.0)  # no residual actuators: pelvis columns are zero
    kinematics = read_table(out / "subject01_walk_kinematics.mot")
    assert kinematics.in_degrees and "knee_angle_r" in kinematics.labels
    grf = read_table(out / "subject01_walk_grf.mot")
    assert grf.labels[0] == "r_ground_force_vx" and np.all(np.isfinite(grf.data))
    # The run starts in the walk's padding; the files cover the trial: states after its first
    # frame (0 s) to its last (2.5 s), forces at the middle of each 10 ms period between.
    assert summary["padding_s"] == pytest.approx(0.3)
    np.testing.assert_allclose(kinematics.time, 0.01 * np.arange(1, 251), atol=1e-9)
    np.testing.assert_allclose(ours.time, 0.01 * np.arange(1, 251) - 0.005, atol=1e-9)
    np.testing.assert_allclose(grf.time, ours.time, atol=1e-12)
    weight = summary["body_mass_kg"] * 9.80665
    total = grf.column("r_ground_force_vy") + grf.column("l_ground_force_vy")
    assert 0.8 * weight < total.mean() < 1.2 * weight  # the floor carries the body on average


def test_opensim_id_of_our_motion_and_grf_gives_our_moments(shared_data: Path, shipped_run):
    """The exported files are one consistent set: OpenSim's ID tool, given our kinematics and our
    GRF, finds our joint moments (differences: filtering, contact averaging, armature)."""
    from converters.opensim_io.table import read_table
    from converters.opensim_reference.tools import run_inverse_dynamics

    out, _ = shipped_run
    kinematics = read_table(out / "subject01_walk_kinematics.mot")
    path = run_inverse_dynamics(
        shared_data / GAIT / "subject01.osim", out / "subject01_walk_kinematics.mot",
        out / "subject01_walk_grf.xml", 6.0, (kinematics.time[0], kinematics.time[-1]),
        out / "opensim",
    )  # fmt: skip
    theirs, ours = read_table(path), read_table(out / "subject01_walk_id.sto")
    inner = (ours.time > ours.time[0] + 0.1) & (ours.time < ours.time[-1] - 0.1)
    for joint in ("hip_flexion_r", "knee_angle_r", "ankle_angle_r", "lumbar_extension"):
        label = f"{joint}_moment"
        a = np.interp(ours.time[inner], theirs.time, theirs.column(label))
        b = ours.column(label)[inner]
        assert np.corrcoef(a, b)[0, 1] > 0.95, joint


def test_policy_for_another_model_is_refused_before_any_output(shared_data: Path, tmp_path):
    arm = shared_data / "opensim-models/Models/Arm26/arm26.osim"
    ik = shared_data / GAIT / "IK/subject01_walk_IK.mot"
    result = CliRunner().invoke(
        cli,
        ["id", "--model", str(arm), "--coordinates", str(ik), "--policy", str(SHIPPED),
         "-o", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "trained for model" in result.output and "arm26.osim" in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_existing_outputs_need_force(shared_data: Path, shipped_run):
    out, _ = shipped_run
    p = shared_data / GAIT
    before = (out / "subject01_walk_id.sto").read_bytes()
    result = CliRunner().invoke(
        cli,
        ["id", "--model", str(p / "subject01.osim"),
         "--coordinates", str(p / "IK/subject01_walk_IK.mot"),
         "--policy", str(SHIPPED), "-o", str(out)],
    )  # fmt: skip
    assert result.exit_code == 2 and "--force" in result.output
    assert (out / "subject01_walk_id.sto").read_bytes() == before


def test_imitation_needs_a_policy(shared_data: Path, tmp_path):
    p = shared_data / GAIT
    result = CliRunner().invoke(
        cli,
        ["id", "--method", "imitation", "--model", str(p / "subject01.osim"),
         "--coordinates", str(p / "IK/subject01_walk_IK.mot"), "-o", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 2 and "--policy" in result.output


def test_run_tool_with_policy_writes_the_setups_output(shared_data: Path, tmp_path):
    from converters.opensim_io.table import read_table

    setup = shared_data / GAIT / "ID/walk_Setup_ID.xml"
    result = CliRunner().invoke(
        cli, ["run-tool", str(setup), "--policy", str(SHIPPED), "--results-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    table = read_table(tmp_path / "subject01_walk_ID.sto")  # the name the setup gives
    assert table.time[0] >= 0.0 and table.time[-1] <= 2.5
    assert (tmp_path / "subject01_walk_grf.xml").is_file()


# ------------------------------------------------------------------------------ batch Makefile


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_batch_makefile_runs_two_trials_and_compares(shared_data: Path, tmp_path):

    from converters.opensim_io.table import read_table, write_table

    p = shared_data / GAIT
    trials, reference = tmp_path / "trials", tmp_path / "reference"
    trials.mkdir()
    reference.mkdir()
    ik = read_table(p / "IK/subject01_walk_IK.mot")
    write_table(ik, trials / "walkA_IK.mot")
    first = ik.time <= 1.5
    write_table(ik.with_data(ik.data[first], time=ik.time[first]), trials / "walkB.mot")
    shutil.copy(p / "ID/Results/subject01_walk_ID.sto", reference / "walkA_ID.sto")
    kintwin = Path(sys.executable).with_name("kintwin")
    result = subprocess.run(
        [
            "make", "-f", str(REPO / "examples/batch/Makefile"), "-j2",
            f"KINTWIN={kintwin}", f"MODEL={p / 'subject01.osim'}", f"TRIALS={trials}",
            f"REFERENCE={reference}", f"OUT={tmp_path / 'out'}", f"POLICY={SHIPPED}",
        ],
        capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    out = tmp_path / "out"
    for name in ("walkA", "walkB"):
        assert (out / f"{name}_id.sto").is_file() and (out / f"{name}_grf.xml").is_file()
    assert (out / "walkA_compare.json").is_file() and (out / "walkA_compare.png").is_file()
    assert not (out / "walkB_compare.json").exists()  # no reference for walkB
    assert read_table(out / "walkB_id.sto").time[-1] <= 1.5


def test_adapt_minutes_fine_tunes_a_copy_of_the_policy(shared_data: Path, tmp_path):

    from converters.opensim_io.table import read_table, write_table

    p = shared_data / GAIT
    ik = read_table(p / "IK/subject01_walk_IK.mot")
    part = ik.time <= 1.0
    trial = tmp_path / "short_IK.mot"
    write_table(ik.with_data(ik.data[part], time=ik.time[part]), trial)
    before = (SHIPPED / "policy.pt").read_bytes()
    result = CliRunner().invoke(
        cli,
        ["id", "--model", str(p / "subject01.osim"), "--coordinates", str(trial),
         "--policy", str(SHIPPED), "--adapt-minutes", "0.05", "-o", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    adapted = tmp_path / "out/short_adapted_policy"
    card = json.loads((adapted / "card.json").read_text())
    assert card["steps"] > 0 and card["training_motions"] == [trial.name]
    assert card["training_motions_sha256"] == [hashlib.sha256(trial.read_bytes()).hexdigest()]
    summary = json.loads((tmp_path / "out/short_summary.json").read_text())
    assert summary["adapted_policy"] == adapted.name  # beside the summary
    assert (SHIPPED / "policy.pt").read_bytes() == before  # the shipped policy is untouched


def test_a_fall_is_reported_and_the_tracked_part_written(shared_data: Path, tmp_path):
    """An untrained policy falls: the files cover the tracked part, the summary and a warning
    say so; with ``--on-fall restart`` they cover the whole trial and name the spans to distrust."""
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table
    from policies.env import TrackingConfig
    from policies.ppo import PPOConfig
    from policies.train import train

    p = shared_data / GAIT
    converted = convert_osim(p / "subject01.osim", ConvertOptions(meshes=False, muscles=False))
    ik = p / "IK/subject01_walk_IK.mot"
    m = converted.mj_model
    walk = make_trajectory(
        coordinate_series(read_table(ik), converted.osim, ik), converted.kinematics, m.nq, m.nv, 6.0
    )
    weak = TrackingConfig(torque_per_kg=0.3)  # too weak to hold the body up
    cfg = PPOConfig(num_envs=2, num_steps=16, checkpoint_every=1, eval_every=1)
    train(converted, [walk], [str(ik)], tmp_path / "policy", weak, cfg, max_steps=32)
    result = CliRunner().invoke(
        cli,
        ["id", "--model", str(p / "subject01.osim"), "--coordinates", str(ik),
         "--policy", str(tmp_path / "policy"), "-o", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "fell at" in result.output
    summary = json.loads((tmp_path / "out/subject01_walk_summary.json").read_text())
    assert summary["fell"] and summary["fraction_tracked"] < 0.5
    table = read_table(tmp_path / "out/subject01_walk_id.sto")
    assert table.time[-1] <= summary["time_span_s"][1]
    assert summary["restarts_s"] == [] and summary["distrusted_spans_s"] == []
    # --on-fall restart: the files cover the whole trial; each fall is named, and its span
    # (0.5 s before to 0.3 s after) is left out of the fraction tracked
    result = CliRunner().invoke(
        cli,
        ["id", "--model", str(p / "subject01.osim"), "--coordinates", str(ik),
         "--policy", str(tmp_path / "policy"), "--on-fall", "restart", "-o", str(tmp_path / "re")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "was restarted from the kinematics" in result.output
    again = json.loads((tmp_path / "re/subject01_walk_summary.json").read_text())
    ik_time = read_table(ik).time
    assert again["fell"] and again["time_span_s"][1] == pytest.approx(ik_time[-1], abs=0.011)
    assert read_table(tmp_path / "re/subject01_walk_id.sto").time[-1] == pytest.approx(
        ik_time[-1], abs=0.011
    )
    spans = again["distrusted_spans_s"]
    assert len(again["restarts_s"]) >= 2 and spans
    for (a, b), (c, _) in zip(spans, spans[1:], strict=False):
        assert a < b < c  # merged where they overlap
    trusted = 1.0 - sum(b - a + 0.01 for a, b in spans) / (ik_time[-1] - ik_time[0])
    assert again["fraction_tracked"] == pytest.approx(trusted, abs=0.02)


def test_a_coordinate_the_trial_lacks_is_held_and_stated(shared_data: Path, tmp_path):
    """A markerless file without a coordinate (here the walk without lumbar_extension): the
    body holds it at its default value; the summary and a note name it, and the summary's
    tracking RMS leaves it out."""
    from dataclasses import replace

    from converters.opensim_io.table import read_table, write_table

    p = shared_data / GAIT
    walk = read_table(p / "IK/subject01_walk_IK.mot")
    keep = [k for k, label in enumerate(walk.labels) if label != "lumbar_extension"]
    trimmed = tmp_path / "walk_no_lumbar.mot"
    write_table(
        replace(walk, data=walk.data[:, keep], labels=[walk.labels[k] for k in keep]), trimmed
    )
    result = CliRunner().invoke(
        cli,
        ["id", "--model", str(p / "subject01.osim"), "--coordinates", str(trimmed),
         "--policy", str(SHIPPED), "-o", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "held at their default values: lumbar_extension" in result.output
    summary = json.loads((tmp_path / "out/walk_no_lumbar_summary.json").read_text())
    assert summary["coordinates_held_at_default"] == ["lumbar_extension"]
    others = [c for c, u in summary["tracking_units"].items() if u == "deg"]
    others = [c for c in others if c not in ("pelvis_tilt", "lumbar_extension")]
    expected = np.sqrt(np.mean([summary["tracking_rmse"][c] ** 2 for c in others]))
    assert summary["tracking_rms_deg"] == pytest.approx(expected)


def test_distrusted_spans_touch_the_trial_only_and_merge():
    """A restart in the padding well before or after the trial leaves no span (the trial did not
    fall); nearby ones are clipped to the trial; overlapping ones merge."""
    from types import SimpleNamespace

    from policies.imitation_id import distrusted_spans

    trial = SimpleNamespace(time=np.arange(1.0, 3.0001, 0.01), restarts=[])
    assert distrusted_spans(trial) == []
    trial.restarts = [0.6, 3.6]  # 0.4 s before the first row, 0.6 s after the last
    assert distrusted_spans(trial) == []
    trial.restarts = [0.8, 1.5, 1.9, 3.2]  # clipped at the start; 0.8-1.9 merge; clipped at the end
    assert np.allclose(distrusted_spans(trial), [[1.0, 2.2], [2.7, 3.0]])


def test_vertical_grf_against_the_motion_is_zero_for_feet_that_push_as_it_needs(subject4_walk):
    """The summary's plate-free check: simulated feet pushing exactly mass x (COM acceleration
    + g) of the kinematics score about 0 %BW; feet pushing 10 % of the weight more score 10."""
    from types import SimpleNamespace

    from converters.contact_solve import vertical_force_needed
    from policies.imitation_id import _vertical_grf_vs_motion

    converted, walk = subject4_walk
    model = converted.mj_model
    mass = float(model.body_subtreemass[0])
    dt = float(walk.time[1] - walk.time[0])
    needed = vertical_force_needed(model, walk, 6.0)
    for extra, expected in ((0.0, 0.0), (0.1, 10.0)):
        feet = np.zeros((len(walk.time), 2, 3))
        feet[:, 0, 2] = needed + extra * mass * 9.80665
        rollout = SimpleNamespace(time=walk.time, force_time=walk.time, foot_force=feet,
                                  control_dt=dt)  # fmt: skip
        check = _vertical_grf_vs_motion(converted, walk, rollout, mass, None)
        assert check["frames"] == len(walk.time)
        assert check["rmse_percent_bw"] == pytest.approx(expected, abs=1e-6)


def test_feet_far_from_the_motions_need_are_warned_of(capsys):
    """kintwin id warns when the simulated feet's vertical force is over 10 %BW RMS from what
    the motion needs, and names the contact solve; within it, or with no check, it is silent."""
    from pathlib import Path

    from kintwin_cli.imitation import warn_vertical_grf

    trial = Path("walking1_ik.mot")
    for rmse, warned in ((34.0, True), (9.9, False), (None, False)):
        check = None if rmse is None else {"rmse_percent_bw": rmse, "frames": 100}
        warn_vertical_grf({"vertical_grf_vs_motion": check}, trial)
        err = capsys.readouterr().err
        assert ("34 %BW" in err and "--method contact" in err) if warned else err == ""
