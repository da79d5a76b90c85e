"""Training on random bodies (TrackingConfig.scale_lengths): a new subject per reset, its
references, what the policy observes, resume, and a few PPO iterations on OpenCap's model."""

from __future__ import annotations

import dataclasses
import json

import mujoco
import numpy as np
import pytest

from converters.errors import KintwinError
from policies.body_randomization import body_feature_names, body_vs_training, with_body_reference
from policies.body_scaling import BodyScaling, scale_converted, segment_of, standing_height
from policies.config import TrackingConfig
from policies.env import TrackingEnv, VectorEnv
from policies.task import foot_clearance


@pytest.fixture(scope="module")
def opencap(subject4_walk):
    """(converted subject-4 model, the first second of walking1)."""
    converted, trajectory = subject4_walk
    keep = trajectory.time <= trajectory.time[0] + 1.0
    short = dataclasses.replace(
        trajectory, time=trajectory.time[keep], qpos=trajectory.qpos[keep],
        qvel=trajectory.qvel[keep], qacc=trajectory.qacc[keep],
        coordinates={k: v[keep] for k, v in trajectory.coordinates.items()},
    )  # fmt: skip
    return converted, short


def _config(converted, on: bool) -> TrackingConfig:
    lengths = (0.85, 1.15) if on else None
    config = TrackingConfig(belt_speed=0.0, scale_lengths=lengths, scale_every=1.0)
    return with_body_reference(converted, config) if on else config


def test_observations_grow_only_when_scaling_is_on(opencap):
    converted, trajectory = opencap
    off = VectorEnv(converted, [trajectory], _config(converted, False), num_envs=1)
    on = VectorEnv(converted, [trajectory], _config(converted, True), num_envs=1)
    extra = on.obs_names[len(off.obs_names) :]
    assert on.obs_names[: len(off.obs_names)] == off.obs_names
    assert extra[-1] == "body:mass" and {"body:femur", "body:tibia", "body:foot"} <= set(extra)
    assert off.envs[0].bodies is None
    # the reference body observes itself as all ones
    np.testing.assert_allclose(on.envs[0].body_obs, 1.0, atol=1e-12)


def test_each_reset_draws_a_subject_whose_references_fit_it(opencap):
    converted, trajectory = opencap
    envs = VectorEnv(converted, [trajectory], _config(converted, True), num_envs=1, seed=3)
    env = envs.envs[0]
    base_task, base_ref = envs.task, envs.references[0]
    obs = env.reset()
    assert env.task is not base_task and 45.0 <= env.task.total_mass <= 110.0
    names = envs.obs_names
    factors = {b: float(f[0]) for b, f in env.scaling.factors.items()}
    assert obs[names.index("body:femur")] == pytest.approx(factors["femur_r"], rel=1e-6)
    assert obs[names.index("body:mass")] == pytest.approx(
        env.task.total_mass / base_task.total_mass, rel=1e-6
    )
    # the pelvis path scales with the standing height; the feet stay on the floor
    scaled = scale_converted(converted, env.scaling)
    leg = standing_height(scaled.mj_model) / standing_height(converted.mj_model)
    ty = converted.mj_model.joint("pelvis_ty").qposadr[0]
    np.testing.assert_allclose(env.references[0].qpos[:, ty], leg * base_ref.qpos[:, ty])
    lowest = []
    for task, ref in ((base_task, base_ref), (env.task, env.references[0])):
        d = mujoco.MjData(task.model)
        heights = []
        for q in ref.qpos:
            d.qpos[: task.nq] = q
            mujoco.mj_kinematics(task.model, d)
            heights.append(foot_clearance(task, d).min())
        lowest.append(min(heights))
    assert abs(lowest[1] - lowest[0]) < 0.01  # m: within a centimetre of the subject's own


def test_resume_restores_the_subject(opencap):
    converted, trajectory = opencap
    config = _config(converted, True)
    a = VectorEnv(converted, [trajectory, trajectory], config, num_envs=1, seed=5)
    a.reset()
    # a subject's references are made when drawn: one of the two trials so far
    assert sum(r is not None for r in a.envs[0].references) == 1
    snapshot = a.snapshots()
    action = np.full((1, len(a.action_names)), 0.1)
    expected = a.step(action)[0]
    b = VectorEnv(converted, [trajectory, trajectory], config, num_envs=1, seed=99)
    b.restore(snapshot)
    np.testing.assert_array_equal(b.step(action)[0], expected)


def test_a_few_ppo_iterations_with_random_bodies_and_use_on_a_scaled_subject(opencap, tmp_path):
    from policies.checkpoint import load_checkpoint
    from policies.ppo import PPOConfig
    from policies.train import train

    converted, trajectory = opencap
    config = TrackingConfig(belt_speed=0.0, scale_lengths=(0.85, 1.15), scale_every=2.0)
    cfg = PPOConfig(num_envs=2, num_steps=16, eval_every=2, checkpoint_every=2)
    train(converted, [trajectory], ["walk"], tmp_path, config, cfg, max_steps=3 * 2 * 16)
    rows = (tmp_path / "log.csv").read_text().splitlines()[1:]
    assert len(rows) == 3
    ckpt = load_checkpoint(tmp_path / "policy.pt", converted.map["source_sha256"])
    saved = TrackingConfig.from_saved(ckpt["tracking_config"])
    assert saved.scale_lengths == (0.85, 1.15) and saved.body_reference is not None
    assert ckpt["obs_names"][-len(body_feature_names(saved)) :] == body_feature_names(saved)
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["tracking_config"]["scale_lengths"] == [0.85, 1.15]
    assert card["steps"] == 3 * 2 * 16
    # kintwin id's path on another subject: the policy's observations, that subject's factors
    names = [b.name for b in converted.conversion.spec.bodies if b.name not in ("world", "ground")]
    subject = scale_converted(converted, BodyScaling.uniform(dict.fromkeys(names, 1.1), 70.0))
    m = subject.mj_model
    env = TrackingEnv(subject, trajectory, saved)
    assert env.obs_names == ckpt["obs_names"]
    femur = env.obs_names.index("body:femur")
    assert env.reset(frame=0)[femur] == pytest.approx(1.1, rel=1e-6)
    assert m.body_mass.sum() == pytest.approx(70.0)
    name, radius = saved.contact_radii[0]  # calibrated on the reference body: grown with the foot
    assert env.task.model.geom(name).size[0] == pytest.approx(1.1 * radius, rel=1e-9)


def test_evaluation_on_other_bodies_scores_each_body(opencap, tmp_path):
    """``eval_bodies``: the evaluation runs on the model and on each scaled body; the log's
    evaluation is their mean (falls summed), and the scaled copies track a rescaled root path."""
    from policies.body_randomization import uniform_bodies
    from policies.ppo import PPOConfig
    from policies.runner import evaluate
    from policies.train import _open_session

    converted, trajectory = opencap
    config = TrackingConfig(belt_speed=0.0, scale_lengths=(0.85, 1.15))
    cfg = PPOConfig(num_envs=2, num_steps=16, eval_bodies=(0.9, 1.1))
    session = _open_session(converted, [trajectory], ["walk"], tmp_path, config, cfg, False)
    small, large = session.body_envs
    femur = small.obs_names.index("body:femur")
    assert small.reset(frame=0)[femur] == pytest.approx(0.9, rel=1e-6)
    assert large.reset(frame=0)[femur] == pytest.approx(1.1, rel=1e-6)
    assert large.task.total_mass == pytest.approx(session.eval_env.task.total_mass * 1.331)
    base_height = session.eval_env.references[0].qpos[:, 1]  # pelvis_ty: the root rises with legs
    assert np.all(large.references[0].qpos[:, 1] > base_height)
    each = [evaluate(e, session.agent, session.norm) for e in (session.eval_env, small, large)]
    result = session.evaluate()
    assert result["eval_falls"] == sum(r["eval_falls"] for r in each)
    expected = np.mean([r["eval_tracking_error_deg"] for r in each])
    assert result["eval_tracking_error_deg"] == pytest.approx(expected)
    session.processes = 2  # the three runs shared out over two processes: the same numbers
    assert session.evaluate() == result
    with pytest.raises(KintwinError, match="eval-bodies needs training on random bodies"):
        uniform_bodies(
            converted, [trajectory], TrackingConfig(), (0.9,), session.eval_env.task, None
        )


def test_evaluation_from_later_starts(opencap, tmp_path, monkeypatch):
    """``eval_later_starts``: the evaluation also tracks each trial on the model from that long
    after its first frame to its end (as ``kintwin id --time-range`` starts); its fraction
    tracked counts the frames from there, and the log's evaluation averages it in."""
    import policies.runner as runner
    from policies.ppo import PPOConfig
    from policies.train import _open_session

    converted, trajectory = opencap
    cfg = PPOConfig(num_envs=2, num_steps=16, eval_later_starts=(0.1,))
    session = _open_session(
        converted, [trajectory], ["walk"], tmp_path, TrackingConfig(belt_speed=0.0), cfg, False
    )
    rolls, run_policy = [], runner.run_policy

    def recorded(*args, **kwargs):
        rolls.append(run_policy(*args, **kwargs))
        return rolls[-1]

    monkeypatch.setattr(runner, "run_policy", recorded)
    env, dt = session.eval_env, session.eval_env.config.control_dt
    each = [runner.evaluate(env, session.agent, session.norm, None, s) for s in (0.0, 0.1)]
    first, later = rolls
    start, _ = runner.trial_span(env)
    assert first.time[0] == pytest.approx(start + dt)
    assert later.time[0] == pytest.approx(start + 0.1 + dt)
    steps = env.references[0].trial_steps - 10
    assert each[1]["eval_fraction_tracked"] == pytest.approx(min(len(later.time), steps) / steps)
    assert each[1]["eval_falls"] == int(len(later.time) < steps)
    result = session.evaluate()
    assert result["eval_falls"] == sum(r["eval_falls"] for r in each)
    with pytest.raises(KintwinError, match="evaluation from 1.5 s: motion 0 lasts 1.00 s"):
        runner.evaluate(env, session.agent, session.norm, None, 1.5)
    for key in ("eval_tracking_error_deg", "eval_fraction_tracked"):
        assert result[key] == pytest.approx(np.mean([r[key] for r in each]))


def test_eval_bodies_without_random_bodies_is_refused_before_any_work(shared_data, tmp_path):
    from click.testing import CliRunner

    from kintwin_cli.main import cli

    p = shared_data / "opensim-models/Pipelines/Gait10dof18musc/OutputReference"
    out = tmp_path / "policy"
    result = CliRunner().invoke(
        cli,
        ["train", "--model", str(p / "subject01.osim"), "--motions",
         str(p / "IK/subject01_walk_IK.mot"), "--eval-bodies", "0.9,1.1", "--steps", "100",
         "-o", str(out)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--eval-bodies needs training on random bodies" in result.output
    assert not out.exists()


def test_a_resumed_run_may_widen_its_bodies_but_not_turn_them_on_or_off():
    """The random-body ranges change which bodies a run meets, not what its policy observes:
    a resumed run on random bodies may widen them; turning them on or off is refused."""
    from policies.train import changed_settings

    on = TrackingConfig(scale_lengths=(0.88, 1.12), scale_mass_kg=(45.0, 100.0))
    wider = {"scale_lengths": (0.82, 1.18), "scale_mass_kg": (42.0, 115.0)}
    assert changed_settings(on, wider) == {k: list(v) for k, v in wider.items()}
    for saved, change in ((TrackingConfig(), {"scale_lengths": (0.9, 1.1)}),
                          (on, {"scale_lengths": None})):  # fmt: skip
        with pytest.raises(KintwinError, match="--set scale_lengths: a resumed run keeps it"):
            changed_settings(saved, change)


def test_body_vs_training_names_what_lies_outside_the_trained_bodies(opencap):
    converted, _ = opencap
    config = _config(converted, True)  # lengths 0.85-1.15, 45-110 kg
    model = converted.mj_model
    home = body_vs_training(model, 62.6, config)
    assert home["outside"] == [] and set(home["segment_factors"].values()) == {1.0}
    bodies = [b.name for b in converted.conversion.spec.bodies if b.name != "world"]
    femur = {b: (1.25 if segment_of(b) == "femur" else 1.0) for b in bodies}
    tall = scale_converted(converted, BodyScaling.uniform(femur))
    far = body_vs_training(tall.mj_model, 130.0, config)
    assert far["outside"] == ["femur", "mass"]
    assert far["segment_factors"]["femur"] == pytest.approx(1.25, abs=0.01)
    assert body_vs_training(model, 62.6, _config(converted, False)) is None
