"""Model-based feedforward of the torque drive (policies.feedforward) on OpenCap's subject 4."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from converters.errors import KintwinError


def _zero_action_error(env, starts) -> float:
    """Mean pose RMS error (rad) of zero-action runs from ``starts`` until they end or fall."""
    errors = []
    for start in starts:
        env.reset(reference=0, frame=start)
        while True:
            _, _, terminated, truncated, info = env.step(np.zeros(len(env.action_names)))
            errors.append(info["pose_rms"])
            if terminated or truncated:
                break
    return float(np.mean(errors))


@pytest.fixture(scope="module")
def walk_envs(subject4_walk):
    from policies.config import TrackingConfig
    from policies.env import TrackingEnv

    converted, trajectory = subject4_walk
    config = TrackingConfig(belt_speed=0.0)
    plain = TrackingEnv(converted, trajectory, config, 0)
    fed = TrackingEnv(converted, trajectory, replace(config, feedforward=True), 0)
    return plain, fed


def test_feedforward_targets_give_the_contact_solve_moments(walk_envs):
    """On the reference state the actuators give PD + the contact solve's moment: the target
    shift is moment / kp, and the reference carries the solve's moments on its grid."""
    plain, fed = walk_envs
    frame = fed.ref.first + 40
    for env in (plain, fed):
        env.reset(reference=0, frame=frame)
    n = fed.n_act
    kp = fed.task.model.actuator_gainprm[:n, 0]
    shift = fed.data.ctrl[:n] - plain.data.ctrl[:n]
    assert np.allclose(shift * kp, fed.ref.feedforward[frame], atol=1e-9)
    assert plain.ref.feedforward is None
    # stance ankle plantarflexion of walking: tens of N·m, not zero or noise
    assert np.abs(fed.ref.feedforward[fed.ref.trial]).max() > 40.0


def test_feedforward_tracks_the_walk_closer_at_zero_action(walk_envs):
    """The model-based moments do most of the work: with zero actions the body follows the
    walk closer than the PD alone (a sign or scale error would make it worse)."""
    plain, fed = walk_envs
    starts = range(fed.ref.first, fed.ref.trial.stop - 20, 30)
    with_feedforward, without = _zero_action_error(fed, starts), _zero_action_error(plain, starts)
    assert with_feedforward < 0.8 * without


def test_random_bodies_scale_the_nominal_feedforward(subject4_walk):
    from policies.body_scaling import BodyScaling
    from policies.config import TrackingConfig
    from policies.env import VectorEnv

    converted, trajectory = subject4_walk
    config = TrackingConfig(belt_speed=0.0, feedforward=True, scale_lengths=(0.9, 1.1))
    envs = VectorEnv(converted, [trajectory], config, num_envs=1)
    bodies = envs.envs[0].bodies
    nominal_mass = envs.task.total_mass
    scaling = BodyScaling.uniform(dict.fromkeys(bodies.bodies, 1.1), nominal_mass * 1.2)
    task, references = bodies.build(scaling)
    ratio = task.total_mass / nominal_mass * 1.1
    assert np.allclose(references[0].feedforward, envs.references[0].feedforward * ratio)


def test_feedforward_refuses_the_muscle_drive(subject4_walk):
    from policies.feedforward import contact_feedforward

    converted, trajectory = subject4_walk

    class MuscleTask:
        muscle = object()

    with pytest.raises(KintwinError, match="--drive torque"):
        contact_feedforward(converted, trajectory, MuscleTask(), seat=False)
