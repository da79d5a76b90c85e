"""Mirrored and speed-changed training motions (policies.augment) on OpenCap's LaiUhlrich2022."""

from __future__ import annotations

import numpy as np
import pytest

from converters.errors import KintwinError
from converters.mjcf.builder import ConvertOptions
from converters.model_conversion import convert_osim
from converters.motion import coordinate_series, make_trajectory
from converters.opensim_io.table import read_table
from policies.augment import (
    _LOCAL_MIRROR,
    MIRROR_MUJOCO,
    _body_pairs,
    _poses,
    mirror_plan,
    mirror_series,
    partner_name,
    time_scaled_series,
)

SUBJECT = "opencap-subject4"


@pytest.fixture(scope="module")
def subject(shared_data):
    model = shared_data / SUBJECT / "Models" / "optimized_scale_and_markers.osim"
    converted = convert_osim(
        model, ConvertOptions(meshes=False, muscles=False, muscle_actuators=False)
    )
    motion = shared_data / SUBJECT / "IK" / "walking1_ik.mot"
    return converted, coordinate_series(read_table(motion), converted.osim, motion)


def test_partner_names():
    assert partner_name("hip_flexion_r") == "hip_flexion_l"
    assert partner_name("knee_angle_l_beta") == "knee_angle_r_beta"
    assert partner_name("calcn_r") == "calcn_l"
    assert partner_name("pelvis_list") == "pelvis_list"
    assert partner_name("lumbar_rotation") == "lumbar_rotation"


def test_plan_negates_exactly_the_out_of_plane_coordinates(subject):
    """Reflection z -> -z flips rotations about x and y of the central chain and the lateral
    translation; the legs' and arms' left axes are the right ones mirrored (swap only)."""
    converted, _ = subject
    plan = mirror_plan(converted)
    negated = {c for c, (_, sign) in plan.items() if sign < 0}
    assert negated == {
        "pelvis_list", "pelvis_rotation", "pelvis_tz", "lumbar_bending", "lumbar_rotation",
    }  # fmt: skip
    assert plan["hip_adduction_r"] == ("hip_adduction_l", 1.0)
    assert plan["hip_rotation_l"] == ("hip_rotation_r", 1.0)
    assert plan["arm_add_r"] == ("arm_add_l", 1.0)
    assert plan["pelvis_tilt"] == ("pelvis_tilt", 1.0)


def test_mirrored_walk_is_the_reflection_by_forward_kinematics(subject):
    """Every body of the mirrored walk is where the original's partner body is, reflected in the
    sagittal plane, position and orientation, to 1e-9."""
    converted, series = subject
    mirrored = mirror_series(series, mirror_plan(converted))
    pairs = _body_pairs(converted.mj_model)
    worst = 0.0
    for k in range(0, len(series.time), 7):
        pos, rot = _poses(converted, {c: v[k] for c, v in series.values.items()})
        pos2, rot2 = _poses(converted, {c: v[k] for c, v in mirrored.values.items()})
        want_pos = pos @ MIRROR_MUJOCO.T
        want_rot = MIRROR_MUJOCO @ rot @ _LOCAL_MIRROR
        worst = max(worst, np.abs(pos2[pairs] - want_pos)[1:].max())
        worst = max(worst, np.abs(rot2[pairs] - want_rot)[1:].max())
    assert worst < 1e-9
    # not trivially so: the walk is asymmetric at any instant
    assert np.abs(mirrored.values["hip_flexion_r"] - series.values["hip_flexion_r"]).max() > 0.3
    twice = mirror_series(mirrored, mirror_plan(converted))
    for c, v in twice.values.items():
        np.testing.assert_array_equal(v, series.values[c])


def test_time_scaled_copy_is_faster(subject):
    converted, series = subject
    fast = time_scaled_series(series, 1.25)
    duration = series.time[-1] - series.time[0]
    assert fast.time[0] == series.time[0]
    assert fast.time[-1] - fast.time[0] == pytest.approx(duration / 1.25)
    m = converted.mj_model
    fast_traj = make_trajectory(fast, converted.kinematics, m.nq, m.nv, None)
    slow_traj = make_trajectory(series, converted.kinematics, m.nq, m.nv, None)
    mid = len(series.time) // 2
    np.testing.assert_allclose(fast_traj.qvel[mid], 1.25 * slow_traj.qvel[mid], atol=1e-6)
    with pytest.raises(KintwinError, match="positive"):
        time_scaled_series(series, 0.0)


def test_training_copies_are_labelled(subject):
    from policies.train import augmented_motions

    converted, series = subject
    labels, copies, loads = augmented_motions(
        converted, ["w.mot"], [series], ["plates"], True, (0.9, 1.1)
    )
    assert labels == [
        "w.mot", "w.mot#mirrored", "w.mot#speed=0.9", "w.mot#mirrored#speed=0.9",
        "w.mot#speed=1.1", "w.mot#mirrored#speed=1.1",
    ]  # fmt: skip
    assert loads == ["plates", None, None, None, None, None]  # plates belong to the original
    assert copies[3].time[-1] - copies[3].time[0] == pytest.approx(
        (series.time[-1] - series.time[0]) / 0.9
    )
