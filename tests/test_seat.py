"""The sit-to-stand seat (policies.seat) on OpenCap's subject 4."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from policies.seat import SEAT_BODY, thigh_geoms

SUBJECT = "opencap-subject4"
TRIALS = ("STS1", "STSAsym1", "walking1", "squats1")


@pytest.fixture(scope="module")
def trials(shared_data):
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table
    from policies.muscle import convert_for_drive

    root = shared_data / SUBJECT
    converted = convert_for_drive(root / "Models" / "optimized_scale_and_markers.osim", "torque")
    m = converted.mj_model
    out = {}
    for name in TRIALS:
        motion = root / "IK" / f"{name}_ik.mot"
        series = coordinate_series(read_table(motion), converted.osim, motion)
        out[name] = make_trajectory(series, converted.kinematics, m.nq, m.nv, 6.0)
    return converted, out


def _env(trials, seat: bool, **settings):
    from policies.config import TrackingConfig
    from policies.env import TrackingEnv

    converted, trajectories = trials
    config = TrackingConfig(belt_speed=0.0, seat=seat, **settings)
    return TrackingEnv(converted, [trajectories[n] for n in TRIALS], config, 0)


def _seat_contacts(env) -> list[float]:
    """Penetration distances (m) of the contacts between the thighs and the seat."""
    m, d = env.task.model, env.data
    seat = m.body(SEAT_BODY).id
    return [c.dist for c in d.contact[: d.ncon] if seat in m.geom_bodyid[[c.geom1, c.geom2]]]


def _root_drop(env, reference: int) -> float:
    """How far (m) the root sinks below its start over 0.3 s of zero actions."""
    env.reset(reference=reference, frame=env.references[reference].first)
    z0 = env.data.xpos[env.task.root_body][2]
    lowest = z0
    for _ in range(30):
        env.step(np.zeros(len(env.action_names)))
        lowest = min(lowest, env.data.xpos[env.task.root_body][2])
    return float(z0 - lowest)


def test_seat_under_the_thighs_for_sit_to_stand_only(trials):
    env = _env(trials, seat=True)
    seats = [ref.seat is not None for ref in env.references]
    assert seats == [True, True, False, False]  # sit-to-stand trials, not walking or squats
    m = env.task.model
    box = m.body(SEAT_BODY).geomadr[0]
    for k in (0, 1):
        env.reset(reference=k, frame=env.references[k].first)
        # resting on it: the thighs touch the seat, sunk no deeper than the feet into the floor
        contacts = _seat_contacts(env)
        assert contacts and min(contacts) > -0.003
        d = env.data
        top = d.geom_xpos[box][2] + m.geom_size[box][2]
        assert 0.35 < top - env.task.floor_height < 0.55  # a chair's height (about 0.45 m)
        # under the thighs: their lowest points lie inside the seat's footprint
        for g in thigh_geoms(m):
            axis = d.geom_xmat[g].reshape(3, 3)[:, 2] * m.geom_size[g][1]
            ends = [d.geom_xpos[g] - axis, d.geom_xpos[g] + axis]
            low = min(ends, key=lambda p: p[2])
            local = d.geom_xmat[box].reshape(3, 3).T @ (low - d.geom_xpos[box])
            assert np.all(np.abs(local[:2]) <= m.geom_size[box][:2])
    for k in (2, 3):  # walking, squatting: the seat is parked far below the floor
        env.reset(reference=k, frame=env.references[k].first + 5)
        assert env.data.xpos[m.body(SEAT_BODY).id][2] < -5.0
        assert not _seat_contacts(env)


def test_seat_carries_the_seated_body(trials):
    """With zero actions for 0.3 s the seated subject stays on the seat (sinks < 1 cm); without
    one the PD actuators alone let the body drop (> 5 cm)."""
    assert _root_drop(_env(trials, seat=True), 0) < 0.01
    env = _env(trials, seat=False)
    assert _root_drop(env, 0) > 0.05
    assert mujoco.mj_name2id(env.task.model, mujoco.mjtObj.mjOBJ_BODY, SEAT_BODY) == -1
    assert all(ref.seat is None for ref in env.references)


def test_seat_friction_is_the_configs_and_lets_a_pushed_body_slide(trials):
    """``seat_friction`` sets the seat's and the thighs' friction (a contact takes the larger):
    a seated body pushed forward by a fifth of its weight at the pelvis for 0.3 s, zero
    actions, slides further on a seat of friction 0.1 than on one of 1.0 (the default)."""
    slid = {}
    for friction in (1.0, 0.1):
        settings = {} if friction == 1.0 else {"seat_friction": friction}
        env = _env(trials, seat=True, **settings)
        m, d = env.task.model, env.data
        seat_geoms = [m.body(SEAT_BODY).geomadr[0], *thigh_geoms(m)]
        assert np.allclose(m.geom_friction[seat_geoms, 0], friction)
        env.reset(reference=0, frame=env.references[0].first)
        root = env.task.root_body
        x0 = d.xpos[root].copy()
        forward = d.xmat[root].reshape(3, 3)[:, 0] * [1.0, 1.0, 0.0]
        push = 0.2 * env.task.total_mass * 9.81 * forward / np.linalg.norm(forward)
        for _ in range(30):
            d.xfrc_applied[root, :3] = push
            env.step(np.zeros(len(env.action_names)))
        slid[friction] = float(np.linalg.norm((d.xpos[root] - x0)[:2]))
    assert slid[0.1] > slid[1.0] + 0.01


def test_a_resumed_run_may_change_the_seat_friction_and_chooses_policy_afresh():
    """Seat friction changes the physics, not what the policy observes: a resumed run may
    change it (not turn the seat on or off), and its earlier evaluations no longer compare."""
    from converters.errors import KintwinError
    from policies.config import TrackingConfig
    from policies.train import changed_settings, keeps_scores

    saved = TrackingConfig(seat=True)
    changes = changed_settings(saved, {"seat_friction": 0.5})
    assert changes == {"seat_friction": 0.5} and not keeps_scores(changes)
    with pytest.raises(KintwinError, match="--set seat: a resumed run keeps it"):
        changed_settings(saved, {"seat": False})
