"""The floor's wrench on each foot against a direct sum over MuJoCo's contacts."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest

from policies.foot_loads import floor_wrenches

GAIT = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"


def reference_wrenches(model, data, foot_of_geom, n_feet) -> np.ndarray:
    """One contact at a time with numpy: the frame's transpose times the contact-frame force,
    and ``np.cross`` for its moment about the origin."""
    wrenches, local = np.zeros((n_feet, 6)), np.zeros(6)
    for i in range(data.ncon):
        contact = data.contact[i]
        f1, f2 = foot_of_geom[contact.geom1], foot_of_geom[contact.geom2]
        if f1 == -2 and f2 >= 0:
            foot, sign = f2, 1.0
        elif f2 == -2 and f1 >= 0:
            foot, sign = f1, -1.0
        else:
            continue
        mujoco.mj_contactForce(model, data, i, local)
        force = sign * (contact.frame.reshape(3, 3).T @ local[:3])
        wrenches[foot, :3] += force
        wrenches[foot, 3:] += np.cross(contact.pos, force)
    return wrenches


@pytest.fixture(scope="module")
def env(shared_data: Path):
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table
    from policies.env import TrackingEnv

    converted = convert_osim(
        shared_data / GAIT / "subject01.osim", ConvertOptions(meshes=False, muscles=False)
    )
    ik = shared_data / GAIT / "IK" / "subject01_walk_IK.mot"
    series = coordinate_series(read_table(ik), converted.osim, ik)
    m = converted.mj_model
    return TrackingEnv(converted, make_trajectory(series, converted.kinematics, m.nq, m.nv, 6.0))


def test_floor_wrenches_equal_the_contact_by_contact_sum(env):
    """Bitwise over the physics steps of a few stretches of walking (double and single stance,
    swing), with random actions; and the vertical loads carry about the body's weight."""
    rng = np.random.default_rng(7)
    task, checked, contacts = env.task, 0, 0
    for frame in (0, 20, 45, 70, 95):
        env.reset(frame=frame)
        for _ in range(6):
            for _ in range(task.frame_skip):
                env.data.qvel[task.belt_dof] = env.ref.belt_speed
                mujoco.mj_step(task.model, env.data)
                ours = floor_wrenches(task.model, env.data, task.foot_of_geom, len(task.feet))
                expected = reference_wrenches(
                    task.model, env.data, task.foot_of_geom, len(task.feet)
                )
                assert ours.shape == (len(task.feet), 6)
                assert np.array_equal(ours, expected)
                checked, contacts = checked + 1, contacts + env.data.ncon
            env.data.ctrl[:] += rng.normal(size=task.model.nu) * 0.05
    assert checked == 5 * 6 * task.frame_skip and contacts > checked  # feet were on the floor


def test_a_body_off_the_floor_has_no_load(env):
    env.reset(frame=0)
    index, sign = env.task.root_height
    env.data.qpos[index] += sign * 1.0  # lift the body a metre
    mujoco.mj_forward(env.task.model, env.data)
    wrenches = floor_wrenches(env.task.model, env.data, env.task.foot_of_geom, len(env.task.feet))
    assert np.array_equal(wrenches, np.zeros((len(env.task.feet), 6)))
