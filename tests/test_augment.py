"""Mirrored, speed-changed and noisy training motions (policies.augment) on OpenCap's
LaiUhlrich2022."""

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
    NOISE_DEG,
    NOISE_HZ,
    NOISE_SINES,
    _body_pairs,
    _poses,
    mirror_plan,
    mirror_series,
    noisy_series,
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


def test_mirror_of_a_motion_without_arms_lacks_them_too(subject):
    """A markerless capture without arm coordinates mirrors: the legs swap, the arms stay
    missing (held at their defaults), and one arm side alone comes back on the other side."""
    from dataclasses import replace

    converted, series = subject
    arms = {c for c in series.values if c.startswith(("arm_", "elbow_", "pro_sup"))}
    assert len(arms) == 10
    armless = replace(
        series,
        values={c: v for c, v in series.values.items() if c not in arms},
        missing=sorted(arms | set(series.missing)),
    )
    mirrored = mirror_series(armless, mirror_plan(converted))
    assert set(mirrored.missing) == arms | set(series.missing)  # (+ the dependent knee_beta)
    assert not arms & set(mirrored.values)
    np.testing.assert_array_equal(mirrored.values["knee_angle_l"], series.values["knee_angle_r"])
    one_side = replace(series, values={c: v for c, v in series.values.items() if c != "arm_flex_r"})
    mirrored = mirror_series(one_side, mirror_plan(converted))
    assert set(mirrored.missing) - set(series.missing) == {"arm_flex_l"}
    np.testing.assert_array_equal(mirrored.values["arm_flex_r"], series.values["arm_flex_l"])


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


def test_noisy_copy_has_smooth_errors_of_the_stated_size(subject):
    """Each independent rotational coordinate is off by NOISE_DEG RMS, slowly (its error's speed
    bounded by a 2 Hz sinusoid's of that size, x the sines' count), the same for a seed and
    another for another; translations untouched; a clamped coordinate inside its range."""
    converted, series = subject
    noisy = noisy_series(series, converted, (1, 1, 0))
    coordinates = converted.osim.coordinates
    rotational = [c for c in converted.kinematics.independent_coordinates
                  if coordinates[c].motion_type == "rotational" and c in series.values]  # fmt: skip
    assert "knee_angle_r_beta" not in noisy.values  # the coupler recomputes it
    limit = NOISE_SINES * 2 * np.pi * NOISE_HZ * np.deg2rad(NOISE_DEG) * np.sqrt(2.0)
    for c in rotational:
        error = noisy.values[c] - series.values[c]
        clipped = coordinates[c].clamped and np.any(
            np.isclose(noisy.values[c], coordinates[c].range[0])
            | np.isclose(noisy.values[c], coordinates[c].range[1])
        )
        if not clipped:
            assert np.degrees(np.sqrt(np.mean(error**2))) == pytest.approx(NOISE_DEG, rel=1e-6), c
        assert np.abs(np.gradient(error, series.time)).max() < limit, c
        if coordinates[c].clamped:
            low, high = coordinates[c].range
            assert np.all((noisy.values[c] >= min(low, series.values[c].min()) - 1e-12)
                          & (noisy.values[c] <= max(high, series.values[c].max()) + 1e-12)), c  # fmt: skip
    np.testing.assert_array_equal(noisy.values["pelvis_tx"], series.values["pelvis_tx"])
    again = noisy_series(series, converted, (1, 1, 0))
    other = noisy_series(series, converted, (1, 2, 0))
    np.testing.assert_array_equal(again.values["hip_flexion_r"], noisy.values["hip_flexion_r"])
    assert not np.allclose(other.values["hip_flexion_r"], noisy.values["hip_flexion_r"])
    with pytest.raises(KintwinError, match="noise"):
        noisy_series(series, converted, 1, deg=0.0)


def test_noisy_copies_keep_their_originals_plates(subject):
    from policies.train import augmented_motions

    converted, series = subject
    labels, copies, loads = augmented_motions(
        converted, ["w.mot"], [series], ["plates"], True, (1.1,), noisy=1
    )
    assert labels == [
        "w.mot", "w.mot#mirrored", "w.mot#speed=1.1", "w.mot#mirrored#speed=1.1",
        "w.mot#noisy=1", "w.mot#mirrored#noisy=1",
    ]  # fmt: skip
    assert loads == ["plates", None, None, None, "plates", None]
    np.testing.assert_array_equal(copies[4].time, series.time)
    assert not np.allclose(copies[4].values["knee_angle_r"], series.values["knee_angle_r"])


def test_later_noisy_copies_carry_larger_errors(subject):
    """Copy k of ``--noisy`` errs by k x NOISE_DEG RMS (unclamped coordinates), each its own."""
    from policies.augment import NOISE_DEG, noisy_copies

    converted, series = subject
    (one, first), (two, second) = noisy_copies("w.mot", series, converted, 2, (1, 0))
    assert (one, two) == ("w.mot#noisy=1", "w.mot#noisy=2")
    np.testing.assert_array_equal(
        first.values["hip_flexion_r"],
        noisy_series(series, converted, (1, 1, 0)).values["hip_flexion_r"],
    )  # copy 1 is the one --noisy 1 always gave
    for copy, k in ((first, 1), (second, 2)):
        error = np.rad2deg(copy.values["hip_flexion_r"] - series.values["hip_flexion_r"])
        assert np.sqrt(np.mean(error**2)) == pytest.approx(k * NOISE_DEG, rel=1e-9)


def test_evaluated_motions_are_the_originals_and_with_noisy_their_noisy_copies():
    from policies.augment import evaluated_motions

    labels = [
        "a.mot", "b.mot", "a.mot#mirrored", "a.mot#speed=1.1", "a.mot#noisy=1",
        "a.mot#mirrored#noisy=1", "b.mot#noisy=2",
    ]  # fmt: skip
    assert evaluated_motions(labels, noisy=False) == [0, 1]
    assert evaluated_motions(labels, noisy=True) == [0, 1, 4, 6]
    assert evaluated_motions(["a.mot", "b.mot"], noisy=True) is None  # all of them
