"""Behaviour cloning of OpenSim ID torques into the actor (policies.warm_start), OpenCap walk."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch

from converters.opensim_io.external_loads import load_external_loads
from converters.opensim_io.table import read_table
from policies.agent import Agent, RunningNorm
from policies.warm_start import (
    BCConfig,
    behaviour_clone,
    cloning_targets,
    observations,
    trusted_frames,
)

SUBJECT = "opencap-subject4"


@pytest.fixture(scope="module")
def walk(shared_data, tmp_path_factory):
    """walking1 of OpenCap's subject 4: its plates assigned to the feet, OpenSim's ID with
    them, and a torque-drive environment whose reference carries the measured GRF."""
    pytest.importorskip("opensim")
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_reference.tools import run_inverse_dynamics
    from converters.plate_assignment import convert_plates_to_feet
    from policies.config import TrackingConfig
    from policies.env import TrackingEnv
    from policies.muscle import convert_for_drive
    from policies.reference import calibrate_contacts, make_reference

    root = shared_data / SUBJECT
    model = root / "Models" / "optimized_scale_and_markers.osim"
    motion = root / "IK" / "walking1_ik.mot"
    tmp = tmp_path_factory.mktemp("bc")
    _, (_, xml) = convert_plates_to_feet(root / "ID" / "walking1_grf.mot", model, motion, tmp / "w")
    id_sto = run_inverse_dynamics(model, motion, xml, 6.0, (0.01, 1.3), tmp / "id")
    converted = convert_for_drive(model, "torque")
    m = converted.mj_model
    series = coordinate_series(read_table(motion), converted.osim, motion)
    trajectory = make_trajectory(series, converted.kinematics, m.nq, m.nv, 6.0)
    config = calibrate_contacts(converted, [trajectory], TrackingConfig(belt_speed=0.0))
    env = TrackingEnv(converted, trajectory, config, 0)
    env.references = [make_reference(env.task, trajectory, config, load_external_loads(xml))]
    env.converted, env.series = converted, series  # for the mirrored copy
    return env, read_table(id_sto), str(id_sto)


def _step_torque(env, agent, norm, targets) -> np.ndarray:
    """(n, n_act) mean actuator torque over one control step from each reference state, the
    policy's mean action applied (the previous frame's cloned action as the filter's state)."""
    with torch.no_grad():
        actions = agent.actor_mean(torch.from_numpy(norm(observations(env, targets)))).numpy()
    out = []
    for k, previous, action in zip(targets.frames, targets.previous, actions, strict=True):
        env.reset(reference=targets.reference, frame=int(k))
        env.prev_action[:] = previous
        env.step(action)
        out.append(env.mean_force[: env.n_act].copy())
    return np.array(out)


def test_trusted_frames_need_the_plates(walk):
    """The plates carry walking1's body on most frames but not all (a foot leaves them);
    without measured GRF no frame is trusted."""
    env, _, _ = walk
    ref = env.references[0]
    trusted = trusted_frames(env.task, ref, env.config.control_dt)
    assert 0.5 < trusted.mean() < 0.98
    ref_without = type(ref)(**{**ref.__dict__, "grf": None})
    assert not trusted_frames(env.task, ref_without, env.config.control_dt).any()


def test_cloned_actor_gives_id_torques(walk):
    """After cloning, the actor's mean action reproduces the targets (the mean squared error
    falls 100-fold) and the PD torque it produces over a real simulated step follows OpenSim's
    ID torque (r >= 0.95 over the trusted frames), clearly closer than a fresh actor's."""
    env, table, source = walk
    targets = cloning_targets(env, 0, table, source, BCConfig())
    assert len(targets.frames) > 50
    assert np.abs(targets.actions).max() < 1.0  # ID's torques are within the PD's reach here
    torch.manual_seed(0)
    fresh = Agent(len(env.obs_names), len(env.action_names))
    norm = RunningNorm(len(env.obs_names))
    norm.update(observations(env, targets))
    fresh_torque = _step_torque(env, fresh, norm, targets)
    torch.manual_seed(0)
    agent = Agent(len(env.obs_names), len(env.action_names))
    norm = RunningNorm(len(env.obs_names))
    result = behaviour_clone(agent, norm, env, [targets], BCConfig())
    assert result["frames"] == len(targets.frames)
    assert result["loss_after"] < result["loss_before"] / 100
    torque = _step_torque(env, agent, norm, targets)
    r = np.corrcoef(torque.ravel(), targets.torque.ravel())[0, 1]
    assert r >= 0.95
    rms = np.sqrt(np.mean((torque - targets.torque) ** 2))
    fresh_rms = np.sqrt(np.mean((fresh_torque - targets.torque) ** 2))
    assert rms < 0.7 * fresh_rms
    # the analytic PD model of the targets is MuJoCo's: zero-action force at a reference state
    k = int(targets.frames[0])
    env.reset(reference=0, frame=k)
    mujoco.mj_forward(env.task.model, env.data)
    task = env.task
    q = env.data.qpos[task.coord_qpos[task.actuated]]
    qd = env.data.qvel[task.coord_dof[task.actuated]]
    kp = env.config.kp_per_kg * task.total_mass
    expected = kp * (env._pd_centre(k) - q) - env.config.kv_ratio * kp * qd
    np.testing.assert_allclose(env.data.actuator_force[: env.n_act], expected, atol=1e-6)


def test_residual_root_actions_are_cloned_to_zero(walk):
    """With residual motors on the root (residual_root) the actor has more actions than there
    are ID torques; cloning fits the torques and teaches the residuals to stay at zero."""
    from dataclasses import replace

    from policies.env import TrackingEnv

    env, table, source = walk
    config = replace(env.config, residual_root=True)
    residual_env = TrackingEnv(env.converted, None, config, 0, references=env.references)
    n_act, n_actions = residual_env.n_act, len(residual_env.action_names)
    assert n_actions == n_act + 6  # the pelvis's three rotations and three translations
    targets = cloning_targets(residual_env, 0, table, source, BCConfig(epochs=40))
    torch.manual_seed(0)
    agent = Agent(len(residual_env.obs_names), n_actions)
    norm = RunningNorm(len(residual_env.obs_names))
    result = behaviour_clone(agent, norm, residual_env, [targets], BCConfig(epochs=40))
    assert result["loss_after"] < result["loss_before"] / 20
    with torch.no_grad():
        obs = torch.from_numpy(norm(observations(residual_env, targets)))
        actions = agent.actor_mean(obs).numpy()
    assert np.abs(actions[:, n_act:]).max() < 0.1
    np.testing.assert_allclose(actions[:, :n_act], targets.actions, atol=0.3)


def test_mirrored_copy_clones_the_mirrored_torques(walk):
    """A mirrored walk's targets (ID table mirrored, frames trusted by the original's plates)
    are the original's with left and right exchanged and out-of-plane signs flipped."""
    from converters.motion import make_trajectory
    from policies.augment import mirror_plan, mirror_series
    from policies.reference import make_reference
    from policies.warm_start import mirror_id_table

    env, table, source = walk
    converted, task = env.converted, env.task
    plan = mirror_plan(converted)
    m = converted.mj_model
    mirrored = make_trajectory(
        mirror_series(env.series, plan), converted.kinematics, m.nq, m.nv, 6.0
    )
    env.references = env.references[:1] + [make_reference(task, mirrored, env.config)]
    original = cloning_targets(env, 0, table, source, BCConfig())
    copy = cloning_targets(env, 1, mirror_id_table(table, plan), source, BCConfig(), 0)
    np.testing.assert_array_equal(copy.frames, original.frames)
    names = [task.coordinates[i] for i in task.actuated]
    for j, name in enumerate(names):
        partner, sign = plan[name]
        np.testing.assert_allclose(
            copy.torque[:, j], sign * original.torque[:, names.index(partner)], atol=1e-9
        )
        np.testing.assert_allclose(
            copy.actions[:, j], sign * original.actions[:, names.index(partner)], atol=1e-6
        )
