"""Tracking environment, PPO, checkpoints and ``kintwin train`` on the Gait10dof18musc walk."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from converters.errors import KintwinError

REPO = Path(__file__).resolve().parents[1]

GAIT = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"


@pytest.fixture(scope="module")
def walk(shared_data: Path):
    """(converted model, trajectory) of the Gait10dof18musc walk, torque drive."""
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table

    converted = convert_osim(
        shared_data / GAIT / "subject01.osim", ConvertOptions(meshes=False, muscles=False)
    )
    ik = shared_data / GAIT / "IK" / "subject01_walk_IK.mot"
    series = coordinate_series(read_table(ik), converted.osim, ik)
    m = converted.mj_model
    return converted, make_trajectory(series, converted.kinematics, m.nq, m.nv, 6.0)


@pytest.fixture(scope="module")
def trained(walk, tmp_path_factory) -> Path:
    """A policy directory after 3 PPO iterations (small batches)."""
    from policies.ppo import PPOConfig
    from policies.train import train

    outdir = tmp_path_factory.mktemp("policy")
    cfg = PPOConfig(num_envs=4, num_steps=32, checkpoint_every=2, eval_every=2)
    train(walk[0], [walk[1]], ["walk"], outdir, cfg=cfg, max_steps=3 * 4 * 32)
    return outdir


def test_env_shapes_and_root_is_unactuated(walk):
    from policies.env import TrackingEnv

    env = TrackingEnv(walk[0], walk[1])
    obs = env.reset()
    assert obs.shape == (len(env.obs_names),)
    assert env.action_names == [
        "hip_flexion_r", "knee_angle_r", "ankle_angle_r",
        "hip_flexion_l", "knee_angle_l", "ankle_angle_l", "lumbar_extension",
    ]  # fmt: skip
    obs, reward, terminated, truncated, info = env.step(np.zeros(len(env.action_names)))
    assert obs.shape == (len(env.obs_names),) and np.isfinite(reward)
    assert env.task.frame_skip == 5  # 100 Hz control on a 2 ms step


def test_env_is_deterministic_with_a_seed(walk):
    from policies.env import TrackingEnv

    runs = []
    for _ in range(2):
        env = TrackingEnv(walk[0], walk[1], seed=7)
        obs = [env.reset()]
        rng = np.random.default_rng(0)
        for _ in range(20):
            step = env.step(rng.normal(size=len(env.action_names)))
            obs.append(env.reset() if step[2] or step[3] else step[0])
        runs.append(np.array(obs))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_walk_is_detected_as_a_treadmill(walk):
    from policies.env import TrackingEnv

    env = TrackingEnv(walk[0], walk[1])
    assert -1.3 < env.references[0].belt_speed < -0.9  # m/s, stance feet slide backwards


def test_reward_is_highest_on_the_reference(walk):
    from policies.env import TrackingEnv

    env = TrackingEnv(walk[0], walk[1])
    env.reset(frame=50)
    on_reference, _ = env._reward(np.zeros(len(env.action_names)))
    env.data.qpos[env.task.coord_qpos[env.task.actuated]] += 0.2
    import mujoco

    mujoco.mj_forward(env.task.model, env.data)
    off_reference, info = env._reward(np.zeros(len(env.action_names)))
    assert on_reference > off_reference
    assert info["tracking_error_deg"] == pytest.approx(np.degrees(0.2), rel=1e-6)


def test_training_writes_checkpoints_card_and_log(trained: Path):
    card = json.loads((trained / "card.json").read_text())
    assert card["steps"] == 3 * 4 * 32 and card["drive"] == "torque"
    assert card["model_sha256"] and "knee_angle_r" in card["coordinates"]
    for name in ("policy.pt", "last.pt", "log.csv", "log.jsonl"):
        assert (trained / name).is_file(), name
    header = (trained / "log.csv").read_text().splitlines()[0].split(",")
    assert {"approx_kl", "clipfrac", "explained_variance", "tracking_error_deg"} <= set(header)


def test_resume_continues_the_step_count(walk, trained: Path):
    from policies.train import train

    card = train(walk[0], [walk[1]], ["walk"], trained, max_steps=5 * 4 * 32, resume=True)
    assert card["steps"] == 5 * 4 * 32 and card["iterations"] == 5
    rows = (trained / "log.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("keep_within_deg", [0.0, 1e9])
def test_policy_pt_is_the_latest_evaluation_near_the_best(walk, tmp_path: Path, keep_within_deg):
    """With no tolerance policy.pt is the best evaluation; with an unbounded one, the last.
    The card names its iteration and score, and policy.pt holds that iteration's weights."""
    import torch

    from policies.ppo import PPOConfig
    from policies.train import train

    cfg = PPOConfig(num_envs=2, num_steps=16, eval_every=1, keep_within_deg=keep_within_deg)
    card = train(walk[0], [walk[1]], ["walk"], tmp_path, cfg=cfg, max_steps=4 * 2 * 16)
    with open(tmp_path / "log.csv") as f:
        scores = [float(r["eval_score"]) for r in csv.DictReader(f)]
    kept = card["metrics"]["policy_checkpoint"]
    expected = 4 if keep_within_deg else 1 + int(np.argmin(scores))
    assert kept["iteration"] == expected and kept["eval_score"] == scores[expected - 1]
    assert card["metrics"]["best_eval_score_deg"] == min(scores)
    policy = torch.load(tmp_path / "policy.pt", weights_only=False)
    assert policy["iteration"] == expected and policy["policy_eval"] == kept
    if keep_within_deg:  # the last iteration's weights, as last.pt has them
        last = torch.load(tmp_path / "last.pt", weights_only=False)
        for name, value in policy["agent"].items():
            assert torch.equal(value, last["agent"][name]), name


def test_checkpoint_evaluates_without_the_trainer(walk, trained: Path):
    from policies.checkpoint import agent_from_checkpoint, load_checkpoint
    from policies.env import TrackingEnv
    from policies.runner import run_policy

    ckpt = load_checkpoint(trained, walk[0].map["source_sha256"])
    agent, norm = agent_from_checkpoint(ckpt)
    env = TrackingEnv(walk[0], walk[1])
    assert ckpt["obs_names"] == env.obs_names and ckpt["action_names"] == env.action_names
    rollout = run_policy(env, agent, norm, start=0)
    assert rollout.torques.shape[1] == len(env.action_names)
    assert np.all(np.abs(rollout.torques) <= env.task.torque_limit + 1e-6)
    assert set(rollout.rmse()) == set(env.task.coordinates)


def test_policy_for_another_model_is_refused(shared_data: Path, trained: Path):
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from policies.checkpoint import load_checkpoint

    arm = convert_osim(
        shared_data / "opensim-models/Models/Arm26/arm26.osim",
        ConvertOptions(meshes=False, muscles=False),
    )
    with pytest.raises(KintwinError, match="subject01.osim.*arm26.osim"):
        load_checkpoint(trained, arm.map["source_sha256"], arm.osim.path)


def test_cli_train_needs_a_budget(shared_data: Path, tmp_path: Path):
    from kintwin_cli.main import cli

    model = shared_data / GAIT / "subject01.osim"
    motion = shared_data / GAIT / "IK" / "subject01_walk_IK.mot"
    args = ["train", "--model", str(model), "--motions", str(motion), "-o", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "--minutes" in result.output


def test_cli_train_runs(shared_data: Path, tmp_path: Path, monkeypatch):
    import torch

    import kintwin_cli.output
    from kintwin_cli.main import cli

    model = shared_data / GAIT / "subject01.osim"
    motion = shared_data / GAIT / "IK" / "subject01_walk_IK.mot"
    args = ["train", "--model", str(model), "--motions", str(motion), "-o", str(tmp_path)]
    monkeypatch.setattr(kintwin_cli.output, "PROGRESS_LINE_S", 0.0)  # a line per iteration
    result = CliRunner().invoke(cli, [*args, "--steps", "256", "--envs", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "card.json").read_text())["steps"] == 256
    # no terminal here, so no progress bar: progress lines, from the log's rows
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    lines = [line for line in result.output.splitlines() if line.startswith("iteration ")]
    assert len(lines) == len(rows) == 2
    first = rows[0]
    assert lines[0].startswith(f"iteration 1: {first['global_step']} steps, ")
    assert lines[0].endswith(f"last evaluation score {float(first['eval_score']):.2f}°")
    kept = json.loads((tmp_path / "card.json").read_text())["metrics"]["policy_checkpoint"]
    assert f"policy.pt from step {kept['global_step']}, evaluation score " in result.output
    assert f"{kept['eval_score']:.2f}°" in result.output  # the score, not called an error
    # a run from before policy.pt was chosen this way, resumed at its budget: no new evaluation

    last = torch.load(tmp_path / "last.pt", weights_only=False)
    del last["policy_eval"]
    torch.save(last, tmp_path / "last.pt")
    before = json.loads((tmp_path / "card.json").read_text())["metrics"]
    again = CliRunner().invoke(cli, [*args, "--steps", "256", "--envs", "2", "--resume"])
    assert again.exit_code == 0, again.output
    assert "256 steps, best evaluation score" in again.output
    after = json.loads((tmp_path / "card.json").read_text())["metrics"]
    assert after == {**before, "policy_checkpoint": None}  # the last row's metrics stay
    # --force starts a new run: the old policy, card and log go, other files stay
    (tmp_path / "notes.txt").write_text("mine")
    forced = CliRunner().invoke(cli, [*args, "--steps", "128", "--envs", "2", "--force"])
    assert forced.exit_code == 0, forced.output
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["steps"] == 128 and card["iterations"] == 1
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 1
    assert len((tmp_path / "log.csv").read_text().splitlines()) == 2  # header + iteration 1
    assert torch.load(tmp_path / "last.pt", weights_only=False)["iteration"] == 1
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_fine_tunes_card_names_the_policy_it_began_from(
    trained: Path, shared_data: Path, tmp_path: Path
):
    """``--warm-start``: the card's ``warm_start`` names the policy it began from with that
    policy's steps and CPU time (its own count from zero), and a resumed fine-tune keeps it."""
    import torch

    from kintwin_cli.main import cli

    model = shared_data / GAIT / "subject01.osim"
    motion = shared_data / GAIT / "IK" / "subject01_walk_IK.mot"
    source = torch.load(trained / "policy.pt", weights_only=False)
    args = ["train", "--model", str(model), "--motions", str(motion), "-o", str(tmp_path),
            "--envs", "2", "--warm-start", str(trained)]  # fmt: skip
    result = CliRunner().invoke(cli, [*args, "--steps", "128"])
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["steps"] == 128
    assert card["warm_start"]["policy"] == trained.name
    assert card["warm_start"]["steps"] == source["global_step"] > 0
    assert card["warm_start"]["cpu_time_s"] == pytest.approx(source["cpu_time"])
    again = CliRunner().invoke(cli, [*args[:-2], "--steps", "256", "--resume"])
    assert again.exit_code == 0, again.output
    resumed = json.loads((tmp_path / "card.json").read_text())
    assert resumed["steps"] == 256 and resumed["warm_start"] == card["warm_start"]


def test_a_policy_is_named_by_its_folder_whether_given_as_folder_or_file(trained: Path):
    """The card of a fine-tune and kintwin id's summary name a policy by its folder, also
    when given its ``policy.pt`` (not "policy.pt")."""
    from policies.inference import policy_name

    assert policy_name(trained) == policy_name(trained / "policy.pt") == trained.name


def _strings(value) -> list[str]:
    """Every string in a json-like value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


def test_card_names_files_not_machine_paths(shared_data: Path, tmp_path: Path):
    """A colleague can find the card's model and motions anywhere: file name and SHA-256."""
    import hashlib

    from kintwin_cli.main import cli

    model = shared_data / GAIT / "subject01.osim"
    motion = shared_data / GAIT / "IK" / "subject01_walk_IK.mot"
    args = ["train", "--model", str(model), "--motions", str(motion), "-o", str(tmp_path / "p")]
    result = CliRunner().invoke(cli, [*args, "--steps", "32", "--envs", "2"])
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "p/card.json").read_text())
    assert card["model"] == "subject01.osim"
    assert card["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert card["training_motions"] == ["subject01_walk_IK.mot"]
    assert card["training_motions_sha256"] == [hashlib.sha256(motion.read_bytes()).hexdigest()]
    paths = [s for s in _strings(card) if "/" in s or "\\" in s]
    assert not paths, paths


def test_train_refuses_a_used_directory(walk, shared_data: Path, tmp_path: Path):
    """Without --resume or --force an output directory with anything in it is refused before
    any work, in one line; --resume needs last.pt."""
    from kintwin_cli.main import cli
    from policies.train import train

    model = shared_data / GAIT / "subject01.osim"
    motion = shared_data / GAIT / "IK" / "subject01_walk_IK.mot"
    (tmp_path / "card.json").write_text("{}")
    args = ["train", "--model", str(model), "--motions", str(motion), "--steps", "64"]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"kintwin: error: {tmp_path}: not empty; use --resume to continue the run there or "
        "--force to replace it"
    ]
    assert (tmp_path / "card.json").read_text() == "{}" and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(KintwinError, match="not empty"):
        train(walk[0], [walk[1]], ["walk"], tmp_path, max_steps=32)
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path), "--resume"])
    assert result.exit_code == 2 and "nothing to resume (no last.pt there)" in result.output


def test_residual_root_forces_are_optional_actions(walk):
    from policies.env import TrackingConfig, TrackingEnv

    env = TrackingEnv(walk[0], walk[1], TrackingConfig(residual_root=True))
    assert env.action_names[-3:] == [
        "pelvis_tilt_residual",
        "pelvis_tx_residual",
        "pelvis_ty_residual",
    ]
    env.reset(frame=10)
    action = np.zeros(len(env.action_names))
    _, quiet, *_ = env.step(action)
    env.reset(frame=10)
    action[-3:] = 1.0
    _, pushed, *_ = env.step(action)
    assert pushed < quiet  # residuals are penalised


def test_overground_trial_has_no_belt_and_a_3d_root(shared_data: Path):
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table
    from policies.env import TrackingEnv

    base = shared_data / "3dpredictsim-subject2"
    converted = convert_osim(
        base / "Models/subject2_withMTP_scaled.osim", ConvertOptions(meshes=False, muscles=False)
    )
    ik = base / "IK/IK_gait_14.mot"
    m = converted.mj_model
    trajectory = make_trajectory(
        coordinate_series(read_table(ik), converted.osim, ik), converted.kinematics, m.nq, m.nv
    )
    env = TrackingEnv(converted, trajectory)
    assert env.references[0].belt_speed == 0.0
    root = [env.task.coordinates[i] for i in env.task.root]
    assert sorted(root) == sorted(
        ["pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz"]
    )
    assert not set(root) & set(env.action_names)


def test_coupled_knee_does_not_sag_under_body_weight(walk):
    """The knee's coupled translations are equality constraints; MuJoCo's default softness let
    them sag 5 cm in 0.1 s of stance (the pelvis then sank although every joint tracked)."""
    import mujoco

    from policies.env import TrackingEnv

    env = TrackingEnv(walk[0], walk[1])
    env.reset(frame=env.ref.first + 20)  # trial frame 20
    for _ in range(12):
        env.step(np.zeros(len(env.action_names)))
    d, task = env.data, env.task
    equality = d.efc_type == mujoco.mjtConstraint.mjCNSTR_EQUALITY
    assert np.abs(d.efc_pos[equality]).max() < 2e-3  # m
    reference = mujoco.MjData(task.model)
    reference.qpos[: task.nq] = env.ref.qpos[env.t]
    mujoco.mj_kinematics(task.model, reference)
    sag = reference.xpos[task.root_body][2] - d.xpos[task.root_body][2]
    assert abs(sag) < 0.01  # m


def test_contact_calibration_keeps_the_reference_out_of_the_floor(walk):
    import mujoco

    from policies.env import TrackingConfig, build_task_model, calibrate_contacts

    config = calibrate_contacts(walk[0], [walk[1]], TrackingConfig())
    assert TrackingConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    before = build_task_model(walk[0], TrackingConfig())
    task = build_task_model(walk[0], config)
    m, d = task.model, mujoco.MjData(task.model)
    deepest, shrunk = 0.0, 0
    for geoms in task.foot_geoms:
        for g in geoms:
            shrunk += m.geom_size[g][0] < before.model.geom_size[g][0] - 1e-12
    for q in walk[1].qpos:
        d.qpos[: task.nq] = q
        mujoco.mj_kinematics(m, d)
        for geoms in task.foot_geoms:
            bottoms = d.geom_xpos[geoms, 2] - m.geom_size[geoms, 0]
            deepest = max(deepest, task.floor_height - bottoms.min())
    assert deepest <= config.contact_penetration + 1e-9
    assert 0 < shrunk < sum(len(g) for g in task.foot_geoms)  # the toes, not the heels


def test_contact_growth_brings_every_sphere_to_the_calibrated_depth(walk):
    """With contact_grow, each foot sphere's lowest point over the motion sits exactly
    contact_penetration below the floor unless its growth is capped."""
    from dataclasses import replace

    import mujoco

    from policies.env import TrackingConfig, build_task_model, calibrate_contacts

    grow = 0.004
    plain = calibrate_contacts(walk[0], [walk[1]], replace(TrackingConfig(), contact_grow=0.0))
    config = calibrate_contacts(walk[0], [walk[1]], replace(TrackingConfig(), contact_grow=grow))
    task = build_task_model(walk[0], config)
    m, d = task.model, mujoco.MjData(task.model)
    spheres = np.concatenate(task.foot_geoms)
    lowest = np.full(len(spheres), np.inf)
    for q in walk[1].qpos:
        d.qpos[: task.nq] = q
        mujoco.mj_kinematics(m, d)
        lowest = np.minimum(lowest, d.geom_xpos[spheres, 2] - m.geom_size[spheres, 0])
    depth = task.floor_height - lowest
    grown = np.array(config.contact_radii)[:, 1].astype(float) - np.array(plain.contact_radii)[
        :, 1
    ].astype(float)
    assert np.all((grown >= -1e-12) & (grown <= grow + 1e-12))
    assert np.any(grown > 1e-4)  # the walk's heels and metatarsals hover above the floor
    capped = grown >= grow - 1e-12
    assert depth[~capped] == pytest.approx(config.contact_penetration, abs=1e-9)
    assert np.all(depth[capped] < config.contact_penetration)


def test_reference_ahead_continues_past_the_end(walk):
    """Past the end a periodic walk repeats its last stride; other motions keep their velocity."""
    from dataclasses import replace

    from policies.env import TrackingEnv

    env = TrackingEnv(walk[0], walk[1])
    ref, task, dt = env.ref, env.task, env.config.control_dt
    assert ref.period * dt == pytest.approx(1.234, abs=0.02)  # the stride between heel strikes
    last = len(ref.qpos) - 1
    env.reset(frame=last - 2)
    coords = task.coord_qpos
    np.testing.assert_array_equal(env._reference_ahead(1), ref.qpos[last - 1][coords])
    drift = ref.qpos[last][coords] - ref.qpos[last - ref.period][coords]
    expected = ref.qpos[last + 8 - ref.period][coords] + drift
    np.testing.assert_allclose(env._reference_ahead(10), expected)
    env.ref = replace(ref, period=None)
    expected = ref.qpos[last][coords] + 8 * dt * ref.qvel[last][task.coord_dof]
    np.testing.assert_allclose(env._reference_ahead(10), expected)


def test_periodic_padding_continues_a_drifting_cycle_exactly():
    """A periodic signal plus a steady drift is padded with exactly its own continuation; a
    non-drifting entry (a quaternion component) is copied from the cycle unchanged."""
    from policies.reference import pad_periodic

    period, pad, dt = 50, 20, 0.01
    rows = np.arange(-pad, 173 + pad)
    wave = np.sin(2 * np.pi * rows / period)
    truth = np.column_stack([wave + 0.3 * rows * dt, np.cos(2 * np.pi * rows / period)])
    padded = pad_periodic(truth[pad:-pad], period, pad, np.array([True, False]))
    np.testing.assert_allclose(padded, truth, atol=1e-12)
    with_drift_everywhere = pad_periodic(truth[pad:-pad], period, pad, np.array([True, True]))
    np.testing.assert_allclose(with_drift_everywhere, truth, atol=1e-12)  # cos has no drift
    assert pad_periodic(truth, period, 0, np.array([True, True])) is truth


def test_walk_reference_is_padded_with_its_own_stride(walk):
    """The walk's rows are the unpadded reference between 0.3 s of its first and last stride."""
    from dataclasses import replace

    from policies.env import TrackingEnv
    from policies.runner import trial_span

    env = TrackingEnv(walk[0], walk[1])
    plain = TrackingEnv(
        walk[0], walk[1], replace(env.config, cycle_padding_s=0.0), task=env.task
    ).ref
    ref, dt = env.ref, env.config.control_dt
    assert ref.first == 30 and ref.n_trial == len(plain.qpos) == 251
    assert len(ref.qpos) == 251 + 60 and ref.period == plain.period
    for name in ("qpos", "qvel", "root_pos", "ee_rel", "stance"):
        np.testing.assert_array_equal(getattr(ref, name)[ref.trial], getattr(plain, name))
    assert ref.time0 + ref.first * dt == pytest.approx(plain.time0)
    assert trial_span(env) == pytest.approx((walk[1].time[0], walk[1].time[0] + 2.5))
    coords = env.task.coord_qpos[env.task.rotational]  # joint angles: one stride earlier
    np.testing.assert_allclose(
        ref.qpos[:30, coords],
        plain.qpos[ref.period - 30 : ref.period, coords]
        - (plain.qpos[ref.period, coords] - plain.qpos[0, coords]),
    )
    jump = np.abs(np.diff(ref.qpos[:, coords], axis=0)).max(axis=0)
    inside = np.abs(np.diff(plain.qpos[:, coords], axis=0)).max(axis=0)
    assert np.all(jump <= 1.5 * inside)  # the strides join on without a step


def test_worker_processes_step_exactly_like_one_process(walk):
    from policies.env import VectorEnv
    from policies.parallel import ProcessVectorEnv

    single = VectorEnv(walk[0], [walk[1]], num_envs=5, seed=3)
    spread = ProcessVectorEnv(walk[0], [walk[1]], num_envs=5, seed=3, workers=2)
    try:
        assert spread.obs_names == single.obs_names
        np.testing.assert_array_equal(spread.reset(), single.reset())
        rng = np.random.default_rng(0)
        for _ in range(30):  # long enough for copies to fall and be reset
            actions = rng.uniform(-1, 1, (5, len(single.action_names)))
            for a, b in zip(spread.step(actions), single.step(actions), strict=True):
                np.testing.assert_array_equal(a, b)
        assert spread.rng_states() == single.rng_states()
        assert spread.worker_cpu_seconds() > 0.0
    finally:
        spread.close()


def test_a_rollout_does_not_depend_on_how_the_copies_are_shared(walk):
    """Workers sample their copies' actions themselves (policies.rollout): five copies in one
    process and over two workers gather the same segment, bit for bit; the numpy actor is
    torch's; each copy's noise has the policy's spread and follows the iteration."""
    import torch

    from policies.agent import Agent, RunningNorm
    from policies.env import VectorEnv
    from policies.parallel import ProcessVectorEnv
    from policies.ppo import sampling_policy

    single = VectorEnv(walk[0], [walk[1]], num_envs=5, seed=3)
    spread = ProcessVectorEnv(walk[0], [walk[1]], num_envs=5, seed=3, workers=2)
    try:
        start = single.reset()
        np.testing.assert_array_equal(spread.reset(), start)
        torch.manual_seed(0)
        agent, norm = (
            Agent(len(single.obs_names), len(single.action_names)),
            RunningNorm(len(single.obs_names)),
        )
        norm.update(start)
        policy = sampling_policy(agent, norm, seed=1, iteration=7)
        segments = [envs.rollout(policy, start, 40) for envs in (single, spread)]  # falls too
        assert segments[0].terminated.any() or segments[0].truncated.any()
        for name in segments[0].__dataclass_fields__:
            np.testing.assert_array_equal(getattr(segments[0], name), getattr(segments[1], name))
        obs = policy.norm(segments[0].raw_obs[0])
        with torch.no_grad():
            expected = agent.actor_mean(torch.from_numpy(obs)).numpy()
        np.testing.assert_allclose(policy.mean_action(obs), expected, atol=1e-5)
        means = np.stack([policy.mean_action(policy.norm(o)) for o in segments[0].raw_obs])
        noise = (segments[0].actions - means) / np.exp(policy.log_std)
        assert abs(noise.std() - 1.0) < 0.05 and abs(noise.mean()) < 0.05
        again = single.rollout(sampling_policy(agent, norm, seed=1, iteration=8), start, 1)
        assert not np.array_equal(again.actions[0], segments[0].actions[0])
    finally:
        spread.close()


def test_fork_map_matches_a_loop_and_raises_a_copys_error():
    import os

    from converters.errors import KintwinError
    from policies.parallel import fork_map

    live = {"offset": 10}  # state the forked copies share as it is at the call

    def work(x: int) -> tuple[int, int]:
        if x == 7:
            raise KintwinError("item 7 is bad")
        sum(range(1_000_000))  # CPU time for the copies to report
        return x + live["offset"], os.getpid()

    items = [x for x in range(12) if x != 7]
    children_cpu = os.times().children_user + os.times().children_system
    for processes in (1, 2, 3):
        results = fork_map(work, items, processes)
        assert [r[0] for r in results] == [x + 10 for x in items]  # in the items' order
        assert len({r[1] for r in results}) == processes  # this process and its copies
    assert os.times().children_user + os.times().children_system > children_cpu
    with pytest.raises(KintwinError, match="item 7 is bad"):
        fork_map(work, list(range(9)), 3)  # 7 is a copy's (7 % 3 == 1)


def test_fork_map_names_a_copys_file_error_and_a_copy_that_died():
    """A FileFormatError (whose constructor takes a path and a problem, not a message) comes
    back as itself; a copy that ends without a word is named with its exit code, not left
    as an EOFError."""
    import os

    from converters.errors import FileFormatError
    from policies.parallel import fork_map

    def bad_file(x: int) -> int:
        if x == 1:
            raise FileFormatError("trial.mot", "NaN in column knee_angle_r", line=12)
        return x

    with pytest.raises(FileFormatError, match="trial.mot:12: NaN in column knee_angle_r"):
        fork_map(bad_file, [0, 1], 2)

    def dies(x: int) -> int:
        if x == 1:
            os._exit(3)
        return x

    with pytest.raises(RuntimeError, match=r"ended without a result \(exit code 3\)"):
        fork_map(dies, [0, 1], 2)


def test_training_with_two_workers_matches_one(walk, tmp_path: Path):
    from policies.ppo import PPOConfig
    from policies.train import train

    # two evaluation runs (from the first frame and from 0.1 s): two workers share them out
    cfg = PPOConfig(
        num_envs=4, num_steps=16, eval_every=2, checkpoint_every=2, eval_later_starts=(0.1,)
    )
    cards = [
        train(walk[0], [walk[1]], ["walk"], tmp_path / str(w), cfg=cfg, max_steps=128, workers=w)
        for w in (1, 2)
    ]
    untimed = [
        {**c["metrics"], "policy_checkpoint": {
            k: v for k, v in c["metrics"]["policy_checkpoint"].items() if "time" not in k
        }}
        for c in cards
    ]  # fmt: skip
    assert untimed[0] == untimed[1]
    keys = ("reward", "tracking_error_deg", "approx_kl", "eval_score")
    logs = [list(csv.DictReader(open(tmp_path / str(w) / "log.csv"))) for w in (1, 2)]
    assert [[r[k] for k in keys] for r in logs[0]] == [[r[k] for k in keys] for r in logs[1]]


def test_reset_touches_the_stance_foot_down(walk):
    from policies.env import TrackingEnv

    env = TrackingEnv(walk[0], walk[1])
    task, d, m = env.task, env.data, env.task.model
    for frame in (0, 40, 120):
        env.reset(frame=frame)
        stance = env.ref.stance[frame]
        assert stance.any()
        lowest = min(
            (d.geom_xpos[g, 2] - m.geom_size[g, 0]).min()
            for g, on in zip(task.foot_geoms, stance, strict=True)
            if on
        )
        assert lowest == pytest.approx(task.floor_height - env.config.touch_down, abs=1e-9)


def test_measured_grf_is_split_by_foot_in_the_mujoco_frame(walk, shared_data: Path):
    from converters.opensim_io.external_loads import load_external_loads
    from policies.env import TrackingConfig, build_task_model, measured_grf

    loads = load_external_loads(shared_data / GAIT / "ExperimentalData/subject01_walk_grf.xml")
    task = build_task_model(walk[0], TrackingConfig())
    grid = np.array([0.1, 0.5, 1.0])
    grf = measured_grf(task, loads, grid)
    plates = {f.body: f.force for f in loads.forces}
    for k, body in enumerate(("calcn_r", "calcn_l")):  # feet are ordered right, left
        vertical = np.interp(grid, loads.time, plates[body][:, 1])  # OpenSim y is up
        lateral = np.interp(grid, loads.time, plates[body][:, 2])  # OpenSim z is MuJoCo -y
        np.testing.assert_allclose(grf[:, k, 2], vertical)
        np.testing.assert_allclose(grf[:, k, 1], -lateral)


def test_train_with_force_plates_for_a_motion(shared_data: Path, tmp_path: Path):
    from kintwin_cli.main import cli

    p = shared_data / GAIT
    ik, xml = p / "IK/subject01_walk_IK.mot", p / "ExperimentalData/subject01_walk_grf.xml"
    args = ["train", "--model", str(p / "subject01.osim"), "--motions", str(ik),
            "--steps", "64", "--envs", "2", "--workers", "1", "-o", str(tmp_path / "pol")]  # fmt: skip
    result = CliRunner().invoke(cli, [*args, "--grf-for", f"{ik}={xml}"])
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "pol/card.json").read_text())
    assert card["force_plates_used"] == [True]
    other = tmp_path / "other_IK.mot"
    other.write_bytes(ik.read_bytes())
    result = CliRunner().invoke(cli, [*args[:-2], "-o", str(tmp_path / "x"),
                                      "--grf-for", f"{other}={xml}"])  # fmt: skip
    assert result.exit_code == 2 and "is not one of the --motions" in result.output


def test_overground_trial_gets_a_still_floor(shared_data: Path):
    """3dpredictsim's gait trials walk over fixed force plates: no belt."""
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table
    from policies.env import TrackingEnv

    d = shared_data / "3dpredictsim-subject2"
    converted = convert_osim(
        d / "Models/subject2_withMTP_weldRadius_scaled_FK.osim",
        ConvertOptions(meshes=False, muscles=False),
    )
    ik = d / "IK/IK_gait_14.mot"
    m = converted.mj_model
    trajectory = make_trajectory(
        coordinate_series(read_table(ik), converted.osim, ik), converted.kinematics, m.nq, m.nv, 6.0
    )
    env = TrackingEnv(converted, trajectory)
    assert env.ref.belt_speed == 0.0 and len(env.task.foot_geoms) == 2
    env.reset(frame=0)
    for _ in range(10):
        *_, terminated, _, info = env.step(np.zeros(len(env.action_names)))
        assert not terminated and np.isfinite(info["tracking_error_deg"])


def test_double_support_hands_the_load_from_trailing_to_leading_foot():
    """Prior shares: the trailing foot (the one that lifts off) goes from all of the load the
    frame before double support to none the frame after, linearly; the shares sum to one;
    NaN outside double support and where no trailing foot is known; None unless two feet."""
    from converters.load_share import double_support_share

    right, left, both = [True, False], [False, True], [True, True]
    stance = np.array([right, right, both, both, both, left, left, both, both])
    share = double_support_share(stance)
    np.testing.assert_allclose(share[2:5, 0], [3 / 4, 2 / 4, 1 / 4])  # right trails
    np.testing.assert_allclose(share[2:5].sum(axis=1), 1.0)
    assert np.isnan(share[[0, 1, 5, 6]]).all()
    np.testing.assert_allclose(share[7:, 1], [2 / 3, 1 / 3])  # ends with the motion: left
    starts_in_it = double_support_share(np.array([both, both, left]))  # known from the lift-off
    np.testing.assert_allclose(starts_in_it[:2, 0], [2 / 3, 1 / 3])
    assert np.isnan(double_support_share(np.array([both, both]))).all()  # no foot known
    assert double_support_share(np.ones((4, 1), dtype=bool)) is None


def test_load_share_reward_peaks_at_the_simulated_share(walk):
    """The term is its full weight where the simulated right foot's share of the vertical
    load equals the prior and falls off as exp(-k error²); outside double support it is the
    full weight whatever the feet do."""
    from dataclasses import replace

    import mujoco

    from policies.env import TrackingEnv
    from policies.foot_loads import floor_wrenches

    env = TrackingEnv(walk[0], walk[1])
    cfg, task, ref = env.config, env.task, env.ref
    zero = np.zeros(len(env.action_names))
    for frame in np.flatnonzero(~np.isnan(ref.load_share[:, 0])):  # a state with both feet down
        env.reset(frame=int(frame))
        env.step(zero)
        vertical = floor_wrenches(task.model, env.data, task.foot_of_geom, 2)[:, 2]
        if vertical.min() > 10.0 and not np.isnan(ref.load_share[env.t, 0]):
            break
    assert vertical.min() > 10.0  # both feet touch the floor
    frame = env.t
    m, d, normal = task.model, env.data, {"r": 0.0, "l": 0.0}  # the floor is flat: normal = z
    for i in range(d.ncon):
        force = np.zeros(6)
        mujoco.mj_contactForce(m, d, i, force)
        bodies = [m.body(m.geom_bodyid[g]).name for g in (d.contact[i].geom1, d.contact[i].geom2)]
        side = [b[-1] for b in bodies if b.endswith(("_r", "_l"))]
        normal[side[0]] += force[0]
    share = normal["r"] / (normal["r"] + normal["l"])  # feet are ordered right, left
    prior = ref.load_share.copy()
    for offset in (0.0, 0.1, -0.2):
        prior[frame] = [share + offset, 1 - share - offset]
        env.ref = replace(ref, load_share=prior)
        expected = cfg.w_load_share * np.exp(-cfg.k_load_share * offset**2)
        assert env._load_share_term() == pytest.approx(expected, rel=1e-9)
    prior[frame] = np.nan
    env.ref = replace(ref, load_share=prior)
    assert env._load_share_term() == cfg.w_load_share


def test_heel_spheres_slide_at_the_heel_friction(walk):
    """Contacts of each foot's rearmost sphere get ``heel_friction``, the others keep the
    converted friction; a config without the field (an older policy) changes nothing."""
    from dataclasses import replace

    from policies.config import TrackingConfig
    from policies.env import TrackingEnv

    env = TrackingEnv(walk[0], walk[1])
    m, d, task = env.task.model, env.data, env.task
    heels = {f"kintwin_contact1_{side}" for side in "rl"}  # the spheres at the calcaneus
    seen = set()
    for frame in range(20, 280, 10):  # heel and forefoot contacts on both feet
        env.reset(frame=frame)
        env.step(np.zeros(len(env.action_names)))
        for i in range(d.ncon):
            names = {m.geom(g).name for g in (d.contact[i].geom1, d.contact[i].geom2)}
            heel = bool(names & heels)
            expected = env.config.heel_friction if heel else 0.8
            assert d.contact[i].friction[0] == pytest.approx(expected), names
            seen.add(heel)
    assert seen == {True, False}
    assert TrackingConfig.from_saved({}).heel_friction is None  # a policy from before it
    assert TrackingConfig.from_dict({}).heel_friction == 0.3  # a new run (kintwin train)
    plain = TrackingEnv(walk[0], walk[1], replace(env.config, heel_friction=None)).task.model
    assert np.all(plain.geom_friction[np.concatenate(task.foot_geoms), 0] == 0.8)


def test_policy_accepts_a_scaled_model_of_its_family_and_names_what_differs(
    shared_data: Path, trained: Path, tmp_path: Path
):
    import re

    from converters.model_family import model_family
    from converters.osim.parser import load_osim
    from policies.checkpoint import load_checkpoint

    source = (shared_data / GAIT / "subject01.osim").read_text()
    heavier = re.sub(
        r"<mass>([0-9.eE+-]+)</mass>", lambda m: f"<mass>{float(m[1]) * 1.1!r}</mass>", source
    )
    assert heavier != source
    scaled = tmp_path / "subject01_heavier.osim"
    scaled.write_text(heavier)
    osim = load_osim(scaled)
    ckpt = load_checkpoint(trained, "another sha", str(scaled), model_family(osim))
    assert ckpt["model_family"] == model_family(load_osim(shared_data / GAIT / "subject01.osim"))
    renamed = tmp_path / "subject01_renamed.osim"
    renamed.write_text(source.replace("knee_angle_r", "knee_flexion_r"))
    with pytest.raises(KintwinError, match=r"is not of it: coordinates missing: knee_angle_r"):
        load_checkpoint(trained, "another sha", str(renamed), model_family(load_osim(renamed)))


# ------------------------------------------------------------------------------ kill and resume

_KILLED_RUN = """
import os, signal, sys
from pathlib import Path

from converters.mjcf.builder import ConvertOptions
from converters.model_conversion import convert_osim
from converters.motion import coordinate_series, make_trajectory
from converters.opensim_io.table import read_table
import policies.train
from policies.ppo import PPOConfig

model, ik, outdir, where, at, workers = sys.argv[1:]
at = int(at)
converted = convert_osim(model, ConvertOptions(meshes=False, muscles=False))
m = converted.mj_model
series = coordinate_series(read_table(ik), converted.osim, ik)
walk = make_trajectory(series, converted.kinematics, m.nq, m.nv, 6.0)
calls = []
update = policies.train.ppo_update


def ppo_update(*args):  # SIGKILL in the middle of iteration `at` (its rollout done)
    calls.append(1)
    if where == "update" and len(calls) == at:
        os.kill(os.getpid(), signal.SIGKILL)
    return update(*args)


def logged(row):  # SIGKILL after iteration `at` is logged
    if where == "logged" and row["iteration"] == at:
        os.kill(os.getpid(), signal.SIGKILL)


policies.train.ppo_update = ppo_update
cfg = PPOConfig(**{CFG})
policies.train.train(converted, [walk], ["walk"], outdir, cfg=cfg, max_steps={STEPS},
                     on_iteration=logged, workers=int(workers))
"""

_RESUME_CFG = {"num_envs": 2, "num_steps": 16, "checkpoint_every": 2, "eval_every": 2}
_ITERATIONS = 6  # of 32 steps
_TIMES = {"wall_time", "cpu_time", "steps_per_s"}


@pytest.fixture(scope="module")
def uninterrupted(walk, tmp_path_factory) -> Path:
    """The whole run in one go: the result a killed and resumed run must reach."""
    from policies.ppo import PPOConfig
    from policies.train import train

    outdir = tmp_path_factory.mktemp("uninterrupted")
    train(
        walk[0],
        [walk[1]],
        ["walk"],
        outdir,
        cfg=PPOConfig(**_RESUME_CFG),
        max_steps=_ITERATIONS * 32,
    )
    return outdir


def _untimed_log(outdir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (outdir / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in _TIMES} for row in rows]


def _processes_naming(text: Path, wait_s: float = 5.0) -> list[int]:
    """Pids of live processes whose command line names ``text``, after up to ``wait_s`` for
    them to go (an idle worker notices its trainer's death within a second)."""
    import os
    import time

    proc = Path("/proc")
    if not proc.is_dir():
        return []
    deadline = time.monotonic() + wait_s
    while True:
        pids = []
        for entry in proc.iterdir():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
                stat = (entry / "stat").read_text()
            except (OSError, ValueError):
                continue
            alive = stat.rpartition(")")[2].split()[0] != "Z"
            if entry.name.isdigit() and str(text) in cmdline and alive:
                pids.append(int(entry.name))
        pids = [pid for pid in pids if pid != os.getpid()]
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.2)


@pytest.mark.parametrize(("where", "at", "workers"), [("update", 5, 1), ("logged", 3, 2)])
def test_a_killed_run_resumes_to_the_uninterrupted_result(
    walk, uninterrupted: Path, shared_data: Path, tmp_path: Path, where, at, workers
):
    """SIGKILL mid-iteration (or just after a row is logged, between checkpoints), then
    ``resume``: at most ``checkpoint_every`` iterations are lost, and the run ends with the
    same weights, normaliser, optimizer, log and card as one that was never interrupted."""
    import os
    import subprocess
    import sys

    import torch

    from policies.train import train

    script = _KILLED_RUN.replace("{CFG}", repr(_RESUME_CFG)).replace(
        "{STEPS}", str(_ITERATIONS * 32)
    )
    p = shared_data / GAIT
    outdir = tmp_path / "run"
    with open(tmp_path / "stderr.txt", "w") as stderr:  # not a pipe: workers may inherit it
        killed = subprocess.run(
            [sys.executable, "-c", script, str(p / "subject01.osim"),
             str(p / "IK/subject01_walk_IK.mot"), str(outdir), where, str(at), str(workers)],
            stdout=subprocess.DEVNULL, stderr=stderr, timeout=300,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
    assert killed.returncode == -9, (tmp_path / "stderr.txt").read_text()[-2000:]
    leftover = _processes_naming(outdir)
    for pid in leftover:
        os.kill(pid, 9)
    assert leftover == []  # the killed trainer's workers are gone too
    done = at - 1 if where == "update" else at  # iterations finished before the kill
    saved = torch.load(outdir / "last.pt", weights_only=False)["iteration"]
    assert done - _RESUME_CFG["checkpoint_every"] < saved <= done

    card = train(walk[0], [walk[1]], ["walk"], outdir, max_steps=_ITERATIONS * 32, resume=True)
    assert card["iterations"] == _ITERATIONS
    assert _untimed_log(outdir) == _untimed_log(uninterrupted)
    assert b"\r" not in (outdir / "log.csv").read_bytes()  # rows before and after: one ending
    for name in ("last.pt", "policy.pt"):
        ours = torch.load(outdir / name, weights_only=False)
        theirs = torch.load(uninterrupted / name, weights_only=False)
        for key, value in theirs["agent"].items():
            assert torch.equal(ours["agent"][key], value), (name, key)
        assert ours["obs_norm"] == theirs["obs_norm"], name
        assert ours["iteration"] == theirs["iteration"], name
    ours, theirs = (torch.load(d / "last.pt", weights_only=False) for d in (outdir, uninterrupted))
    for a, b in zip(
        ours["optimizer"]["state"].values(), theirs["optimizer"]["state"].values(), strict=True
    ):
        assert all(torch.equal(a[k], b[k]) for k in b)
    reference = json.loads((uninterrupted / "card.json").read_text())
    untimed = [
        {k: v for k, v in c["metrics"].items() if k != "policy_checkpoint"}
        for c in (card, reference)
    ]
    assert untimed[0] == untimed[1]


def test_evaluation_tracks_the_motions_as_given_not_their_copies(walk, tmp_path, monkeypatch):
    """policy.pt is chosen on the motions as given: a mirrored or speed-changed copy (a label
    with '#') is trained on but not evaluated (it would multiply the evaluation's cost)."""
    from policies import runner
    from policies.ppo import PPOConfig
    from policies.train import train

    evaluated = []
    run_policy = runner.run_policy

    def recording(env, agent, norm, reference=0, start=0, loads=True):
        evaluated.append(reference)
        return run_policy(env, agent, norm, reference, start, loads)

    monkeypatch.setattr(runner, "run_policy", recording)
    cfg = PPOConfig(num_envs=2, num_steps=16, eval_every=1)
    labels = ["walk.mot", "walk.mot#speed=1.1"]
    train(walk[0], [walk[1], walk[1]], labels, tmp_path / "p", cfg=cfg, max_steps=32)
    assert evaluated == [0]


def test_root_height_term_rewards_the_pelvis_height_alone(walk):
    """``w_root_height``: w exp(-k dz²) of the root's vertical error only (0 by default)."""
    from policies.env import TrackingConfig, TrackingEnv

    off = TrackingEnv(walk[0], walk[1], seed=3)
    off.reset(frame=5)
    assert off.step(np.zeros(len(off.action_names)))[4]["reward_terms"]["root_height"] == 0.0
    env = TrackingEnv(walk[0], walk[1], TrackingConfig(w_root_height=0.3, k_root_height=800.0))
    env.reset(frame=5)
    height = env.task.root_height[0]
    env.data.qpos[height] += 0.03  # lifted 3 cm: every later frame starts from there
    terms = env.step(np.zeros(len(env.action_names)))[4]["reward_terms"]
    dz = env.data.xpos[env.task.root_body][2] - env.ref.root_pos[env.t][2]
    assert abs(dz) > 0.01
    assert terms["root_height"] == pytest.approx(0.3 * np.exp(-800.0 * dz**2))


def test_root_angle_term_still_pays_to_correct_a_10_degree_pelvis_drift(walk):
    """``w_root_angle``: w exp(-k θ²) of the root's rotation angle from the reference (0 by
    default), wide enough that a 10° drift, where the root term is spent, still earns half."""
    from policies.env import TrackingConfig, TrackingEnv

    off = TrackingEnv(walk[0], walk[1], seed=3)
    off.reset(frame=5)
    assert off.step(np.zeros(len(off.action_names)))[4]["reward_terms"]["root_angle"] == 0.0
    cfg = TrackingConfig(w_root_angle=0.2, k_root_angle=20.0)
    env = TrackingEnv(walk[0], walk[1], cfg)
    env.reset(frame=5)
    tilt = env.task.coord_qpos[env.root_rot[0]]
    env.data.qpos[tilt] += np.radians(10.0)  # the pelvis tilted 10° off the reference
    _, _, _, _, info = env.step(np.zeros(len(env.action_names)))
    theta = info["root_angle"]
    assert np.degrees(theta) == pytest.approx(10.0, abs=1.5)
    terms = info["reward_terms"]
    assert terms["root_angle"] == pytest.approx(0.2 * np.exp(-20.0 * theta**2))
    assert terms["root_angle"] > 0.5 * 0.2 and terms["root"] < 0.05 * cfg.w_root


def test_a_resumed_run_refuses_other_motions(walk, tmp_path):
    """Resuming with motions other than the run began with (more, or another in a place) is
    refused with the difference named, before anything changes (a run of 1 motion restored
    into 2 would otherwise fail deep inside, or train on the wrong reference)."""
    from converters.errors import KintwinError
    from policies.ppo import PPOConfig
    from policies.train import train

    cfg = PPOConfig(num_envs=2, num_steps=16, checkpoint_every=1, eval_every=1)
    train(walk[0], [walk[1]], ["walk"], tmp_path, cfg=cfg, max_steps=32)
    last = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(KintwinError, match=r"began with \(1 motions, now 2\)"):
        train(walk[0], [walk[1]] * 2, ["walk", "again"], tmp_path, max_steps=64, resume=True)
    with pytest.raises(KintwinError, match="motion 1 was walk, now other"):
        train(walk[0], [walk[1]], ["other"], tmp_path, max_steps=64, resume=True)
    assert (tmp_path / "last.pt").read_bytes() == last
    card = train(walk[0], [walk[1]], ["walk"], tmp_path, max_steps=64, resume=True)
    assert card["steps"] == 64


def test_eval_noisy_adds_the_noisy_copies_to_the_evaluation(
    shared_data: Path, tmp_path: Path, monkeypatch
):
    """--eval-noisy (here on resume) evaluates the motion and its noisy copies (not its other
    copies), and a resumed run that turns it on chooses policy.pt afresh."""
    import policies.runner
    from kintwin_cli.main import cli

    evaluated = []
    real = policies.runner.evaluate_runs

    def spy(runs, agent, norm, references=None, processes=1):
        evaluated.append(references)
        return real(runs, agent, norm, references, processes)

    monkeypatch.setattr(policies.runner, "evaluate_runs", spy)
    model = shared_data / GAIT / "subject01.osim"
    motion = shared_data / GAIT / "IK" / "subject01_walk_IK.mot"
    args = ["train", "--model", str(model), "--motions", str(motion), "-o", str(tmp_path),
            "--envs", "2", "--workers", "1", "--noisy", "2", "--speeds", "1.1", "--eval-every", "1"]  # fmt: skip
    result = CliRunner().invoke(cli, [*args, "--steps", "128"])
    assert result.exit_code == 0, result.output
    # motions: walk, walk#speed=1.1, walk#noisy=1, walk#noisy=2
    assert evaluated == [[0]]
    resumed = CliRunner().invoke(cli, [*args, "--steps", "256", "--resume", "--eval-noisy"])
    assert resumed.exit_code == 0, resumed.output
    assert evaluated == [[0], [0, 2, 3]]
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["ppo_config"]["eval_noisy"] is True
    assert card["setting_changes"][-1]["settings"] == {"eval_noisy": True}
    assert card["metrics"]["policy_checkpoint"]["global_step"] == 256  # chosen afresh
    # turned off again with the budget spent: nothing evaluated, and no "best inf°" said
    spent = CliRunner().invoke(cli, [*args, "--steps", "256", "--resume", "--no-eval-noisy"])
    assert spent.exit_code == 0, spent.output
    assert "no evaluation in this call" in spent.output and "inf" not in spent.output
