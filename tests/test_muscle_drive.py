"""The muscle drive (``kintwin train --drive muscle``) on a tiny elbow: one pin joint, a flexor
and an extensor (built with the opensim package), and its pieces against independent references
(MuJoCo's own muscle functions, scipy's bounded least squares, finite differences)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import mujoco
import numpy as np
import pytest
from click.testing import CliRunner


def _tiny_model(path: Path, muscles: bool = True) -> Path:
    """A forearm hanging from a pin joint (``elbow_flex``) on a base welded to the ground
    (fixed-base, as Arm26), with two straight muscles from the base."""
    import opensim

    opensim.Logger.setLevelString("error")
    model = opensim.Model()
    model.setName("tiny_elbow")
    base = opensim.Body("base", 1.0, opensim.Vec3(0), opensim.Inertia(0.01, 0.01, 0.01))
    arm = opensim.Body(
        "forearm", 1.5, opensim.Vec3(0, -0.15, 0), opensim.Inertia(0.012, 0.002, 0.012)
    )
    model.addBody(base)
    model.addBody(arm)
    model.addJoint(
        opensim.WeldJoint("mount", model.getGround(), opensim.Vec3(0, 1.0, 0), opensim.Vec3(0),
                          base, opensim.Vec3(0), opensim.Vec3(0))
    )  # fmt: skip
    joint = opensim.PinJoint(
        "elbow", base, opensim.Vec3(0), opensim.Vec3(0), arm, opensim.Vec3(0), opensim.Vec3(0)
    )
    coordinate = joint.updCoordinate()
    coordinate.setName("elbow_flex")
    coordinate.setRangeMin(-1.5)
    coordinate.setRangeMax(1.5)
    model.addJoint(joint)
    for name, side in (("flexor", 1.0), ("extensor", -1.0)) if muscles else ():
        muscle = opensim.Millard2012EquilibriumMuscle(name, 400.0, 0.12, 0.10, 0.0)
        muscle.addNewPathPoint(f"{name}_o", base, opensim.Vec3(0.04 * side, 0.2, 0))
        muscle.addNewPathPoint(f"{name}_i", arm, opensim.Vec3(0.03 * side, -0.05, 0))
        model.addForce(muscle)
    model.finalizeConnections()
    model.printToXML(str(path))
    return path


def _motion(path: Path) -> Path:
    """Two seconds of the elbow swinging ±23° at 0.5 Hz (degrees)."""
    time = np.arange(0.0, 2.0 + 1e-9, 0.01)
    angle = 23.0 * np.sin(np.pi * time)
    lines = ["tiny_motion", "version=1", f"nRows={len(time)}", "nColumns=2", "inDegrees=yes"]
    lines += ["endheader", "time\telbow_flex"]
    lines += [f"{t:.4f}\t{a:.6f}" for t, a in zip(time, angle, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def elbow(tmp_path_factory):
    """(model path, motion path, converted model, trajectory) of the tiny elbow."""
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table
    from policies.muscle import convert_for_drive

    folder = tmp_path_factory.mktemp("elbow")
    model, motion = _tiny_model(folder / "tiny.osim"), _motion(folder / "swing_IK.mot")
    converted = convert_for_drive(model, "muscle")
    m = converted.mj_model
    series = coordinate_series(read_table(motion), converted.osim, motion)
    return model, motion, converted, make_trajectory(series, converted.kinematics, m.nq, m.nv)


def _env(elbow, **settings):
    from policies.config import TrackingConfig
    from policies.env import TrackingEnv

    return TrackingEnv(elbow[2], elbow[3], TrackingConfig(drive="muscle", **settings), seed=3)


def test_muscle_curves_are_mujocos(elbow):
    from policies.muscle import muscle_curves

    env = _env(elbow)
    m, d, drive = env.task.model, env.data, env.task.muscle
    rng = np.random.default_rng(0)
    for _ in range(20):
        d.qpos[:] = rng.uniform(-1.4, 1.4, m.nq)
        d.qvel[:] = rng.normal(0.0, 4.0, m.nv)
        mujoco.mj_forward(m, d)
        gain, bias = muscle_curves(drive, d)
        for k, a in enumerate(drive.muscles):
            length, speed = d.actuator_length[a], d.actuator_velocity[a]
            lr, acc0 = m.actuator_lengthrange[a], m.actuator_acc0[a]
            expected_gain = -mujoco.mju_muscleGain(
                length, speed, lr, acc0, m.actuator_gainprm[a, :9]
            )
            passive = -mujoco.mju_muscleBias(length, lr, acc0, m.actuator_biasprm[a, :9])
            assert gain[k] == pytest.approx(expected_gain, rel=1e-12, abs=1e-9)
            damping = m.actuator_damping[a] * speed
            assert bias[k] == pytest.approx(passive + damping, rel=1e-12, abs=1e-9)


def test_activation_solver_is_the_bounded_least_squares_optimum():
    from scipy.optimize import lsq_linear

    from policies.muscle import solve_activations

    rng = np.random.default_rng(1)
    for _ in range(100):
        arms = rng.normal(0, 0.04, (4, 12)) * (rng.random((4, 12)) < 0.5)
        gain, bias, torque = (
            rng.uniform(200, 3000, 12),
            rng.uniform(0, 50, 12),
            rng.normal(0, 60, 4),
        )
        ours, _ = solve_activations(arms, gain, bias, torque, np.zeros(12), weight=1e-3)
        scaled = arms * gain
        s = np.abs(scaled).max()
        a = np.vstack([scaled / s, np.sqrt(1e-3) * np.eye(12)])
        b = np.concatenate([(torque - arms @ bias) / s, np.zeros(12)])
        reference = lsq_linear(a, b, bounds=(0.0, 1.0), tol=1e-12).x
        ours_cost = float(np.sum((a @ ours - b) ** 2))
        assert ours_cost <= float(np.sum((a @ reference - b) ** 2)) * (1 + 1e-6) + 1e-12
        assert np.all((ours >= 0.0) & (ours <= 1.0))


def test_reached_activation_follows_the_excitation_for_it(elbow):
    """MuJoCo's activation dynamics, driven by ``excitation_for``, land on the target."""
    from policies.muscle import excitation_for

    env = _env(elbow, muscle_timestep=0.0005)
    m, d, drive = env.task.model, env.data, env.task.muscle
    for start, target in ((0.05, 0.6), (0.8, 0.6)):  # reachable in 10 ms
        d.act[drive.act_adr] = start
        u = excitation_for(d.act[drive.act_adr].copy(), np.full(2, target), 0.01, drive)
        assert np.all((u > 0.0) & (u < 1.0))
        d.ctrl[drive.muscles] = u
        for _ in range(20):  # 10 ms
            mujoco.mj_step(m, d)
        assert d.act[drive.act_adr] == pytest.approx(np.full(2, target), abs=0.02)


def test_recorded_moments_are_the_muscles_and_reserves(elbow):
    """The runner's net elbow moment equals each muscle's tension times its moment arm
    (−dL/dq by finite differences of the tendon length) plus the reserve."""
    from policies.ppo import Agent, RunningNorm
    from policies.runner import muscle_solution, run_policy

    env = _env(elbow)
    agent = Agent(len(env.obs_names), len(env.action_names))
    rollout = run_policy(env, agent, RunningNorm(len(env.obs_names)), start=20)
    solution = muscle_solution(rollout)
    assert solution.muscle_names == ["flexor", "extensor"]
    assert solution.reserve_names == ["elbow_flex_reserve"]
    assert np.all((solution.activations >= 0.0) & (solution.activations <= 1.0))
    assert not rollout.fell and rollout.rmse()["elbow_flex"] < 5.0
    # moment arms at the row's final pose; tensions and moments are period means, so compare
    # on the slowly changing middle rows with a tolerance of a few per cent of the peak
    m, d = env.task.model, mujoco.MjData(env.task.model)
    tendons = [m.actuator_trnid[a, 0] for a in env.task.muscle.muscles]
    predicted = []
    for qpos, tension, reserve in zip(
        rollout.qpos, solution.forces, solution.reserve_torques, strict=True
    ):
        lengths = []
        for h in (-1e-6, 1e-6):
            d.qpos[: len(qpos)] = qpos + h
            mujoco.mj_forward(m, d)
            lengths.append(d.ten_length[tendons].copy())
        arms = -(lengths[1] - lengths[0]) / 2e-6
        predicted.append(arms @ tension + reserve[0])
    predicted = np.array(predicted)
    recorded = rollout.torques[:, 0]
    peak = np.abs(recorded).max()
    assert peak > 0.3  # the muscles swing the forearm against gravity (about 0.7 N·m)
    assert np.abs(predicted - recorded)[5:-5].max() < 0.05 * peak


def test_cli_trains_a_few_iterations_and_resumes(elbow, tmp_path: Path):
    from kintwin_cli.main import cli

    model, motion = elbow[0], elbow[1]
    out = tmp_path / "policy"
    args = ["train", "--model", str(model), "--motions", str(motion), "--drive", "muscle"]
    args += ["-o", str(out), "--envs", "2", "--workers", "1"]
    result = CliRunner().invoke(cli, [*args, "--steps", "256"])
    assert result.exit_code == 0, result.output
    card = json.loads((out / "card.json").read_text())
    assert card["drive"] == "muscle" and card["muscles"] == ["flexor", "extensor"]
    assert card["reserves"] == ["elbow_flex_reserve"] and card["reserve_limit_Nm"] > 0
    assert card["torque_driven_coordinates"] == []
    assert card["metrics"]["eval_reserve_rms_Nm"] >= 0.0
    header = (out / "log.csv").read_text().splitlines()[0].split(",")
    assert "eval_reserve_rms_Nm" in header and "eval_reserve_peak_Nm" in header
    resumed = CliRunner().invoke(cli, [*args, "--steps", "384", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "card.json").read_text())["steps"] == 384
    torque = CliRunner().invoke(cli, [*args[:5], "-o", str(out), "--steps", "512", "--resume"])
    assert torque.exit_code == 2 and "drives the model by muscle" in torque.output
    # a resumed run may change its reward and muscle solve, and the card says from when
    last = (out / "last.pt").read_bytes()
    fixed = CliRunner().invoke(cli, [*args, "--steps", "512", "--resume", "--set", "kp_per_kg=9"])
    assert fixed.exit_code == 2 and "--set kp_per_kg: a resumed run keeps it" in fixed.output
    assert (out / "last.pt").read_bytes() == last
    changes = ["--set", "muscle_effort=0.05", "--set", "w_activation=0.1"]  # the latter as saved
    changes += ["--eval-every", "2", "--eval-later-starts", "0.05"]
    changed = CliRunner().invoke(cli, [*args, "--steps", "512", "--resume", *changes])
    assert changed.exit_code == 0, changed.output
    card = json.loads((out / "card.json").read_text())
    assert card["setting_changes"] == [
        {"iteration": 3, "global_step": 384,
         "settings": {"muscle_effort": 0.05, "eval_every": 2, "eval_later_starts": [0.05]}}
    ]  # fmt: skip
    assert card["ppo_config"]["eval_every"] == 2
    assert card["ppo_config"]["eval_later_starts"] == [0.05]
    assert card["tracking_config"]["muscle_effort"] == 0.05 and card["steps"] == 512
    assert card["metrics"]["policy_checkpoint"]["global_step"] > 384  # chosen afresh
    # a lower learning rate: on the card, but the scores since 384 still compare
    lower = CliRunner().invoke(
        cli, [*args, "--steps", "640", "--resume", "--learning-rate", "1e-4"]
    )
    assert lower.exit_code == 0, lower.output
    card = json.loads((out / "card.json").read_text())
    assert card["setting_changes"][-1] == {
        "iteration": 4, "global_step": 512, "settings": {"learning_rate": 1e-4}
    }  # fmt: skip
    assert card["ppo_config"]["learning_rate"] == 1e-4
    with open(out / "log.csv") as f:
        scores = [float(r["eval_score"]) for r in csv.DictReader(f) if int(r["global_step"]) > 384]
    assert card["metrics"]["best_eval_score_deg"] == pytest.approx(min(scores))
    # kintwin so with the muscle policy: its own activations and forces, in OpenSim's layout
    import opensim

    so_dir = tmp_path / "so"
    so = CliRunner().invoke(
        cli,
        ["so", "--model", str(model), "--coordinates", str(motion), "--policy", str(out),
         "-o", str(so_dir)],
    )  # fmt: skip
    assert so.exit_code == 0, so.output
    [activation] = so_dir.glob("*_StaticOptimization_activation.sto")
    storage = opensim.Storage(str(activation))
    column_labels = storage.getColumnLabels()
    labels = [column_labels.get(i) for i in range(column_labels.getSize())]
    assert labels == ["time", "flexor", "extensor", "elbow_flex_reserve"]
    table = opensim.TimeSeriesTable(str(activation))
    flexor = table.getDependentColumn("flexor").to_numpy()
    assert np.all((flexor >= 0.0) & (flexor <= 1.0)) and flexor.max() > 0.0


def test_muscle_less_model_is_refused(tmp_path: Path):
    from kintwin_cli.main import cli

    model = _tiny_model(tmp_path / "bare.osim", muscles=False)
    motion = _motion(tmp_path / "swing_IK.mot")
    out = tmp_path / "policy"
    result = CliRunner().invoke(
        cli,
        ["train", "--model", str(model), "--motions", str(motion), "--drive", "muscle",
         "-o", str(out), "--steps", "64"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.output.startswith("kintwin: error: ") and "no muscles" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


def test_warm_start_keeps_a_torque_policys_actions(elbow):
    """A joint-action muscle policy warm-started from a torque policy gives the same actions
    (PD targets) for the same state: the activations it also observes start unweighted."""
    import torch

    from policies.config import TrackingConfig
    from policies.env import TrackingEnv
    from policies.muscle import warm_start
    from policies.ppo import Agent, RunningNorm

    torque_env = TrackingEnv(elbow[2], elbow[3], TrackingConfig(), seed=3)
    muscle_env = _env(elbow)
    torch.manual_seed(0)
    agent = Agent(len(torque_env.obs_names), len(torque_env.action_names))
    norm = RunningNorm(len(torque_env.obs_names))
    norm.update(np.random.default_rng(0).normal(size=(50, len(torque_env.obs_names))))
    checkpoint = {
        "agent": agent.state_dict(), "obs_norm": norm.state_dict(),
        "obs_names": torque_env.obs_names, "action_names": torque_env.action_names,
    }  # fmt: skip
    init = warm_start(checkpoint, muscle_env.obs_names, muscle_env.action_names)
    started = Agent(len(muscle_env.obs_names), len(muscle_env.action_names))
    started.load_state_dict(init["agent"])
    started_norm = RunningNorm(len(muscle_env.obs_names))
    started_norm.load_state_dict(init["obs_norm"])
    obs = muscle_env.reset(frame=30)
    shared = obs[: len(torque_env.obs_names)]
    assert muscle_env.obs_names[: len(torque_env.obs_names)] == torque_env.obs_names
    with torch.no_grad():
        before = agent.actor_mean(torch.from_numpy(norm(shared[None])))
        after = started.actor_mean(torch.from_numpy(started_norm(obs[None])))
    assert torch.allclose(before, after, atol=1e-6)
