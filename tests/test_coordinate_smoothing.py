"""OpenSim's coordinate smoothing in numpy against the ``opensim`` package, and its spline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import opensim_smooth_derivatives

from converters.coordinate_smoothing import lowpass_iir, pad, smooth_derivatives
from converters.errors import KintwinError
from converters.natural_spline import NaturalSpline
from converters.opensim_io.table import read_table

TRIALS = [
    "opensim-models/Pipelines/Gait10dof18musc/OutputReference/IK/subject01_walk_IK.mot",
    "opensim-models/Pipelines/Gait2392_Simbody/subject01_walk1_ik.mot",
    "3dpredictsim-subject2/IK/IK_gait_60.mot",
    "opencap-subject4/IK/walking1_ik.mot",
]
RNG = np.random.default_rng(20261202)


@pytest.mark.parametrize("trial", TRIALS)
@pytest.mark.parametrize("lowpass_hz", [6.0, None, 15.0])
def test_matches_opensim(shared_data: Path, trial: str, lowpass_hz: float | None):
    """Value, first and second derivative agree with OpenSim to 1e-11 of each one's largest
    magnitude (round-off: two spline solves and a recursive filter; seen: <= 1e-12)."""
    table = read_table(shared_data / trial)
    values = {label: table.column(label) for label in table.labels[:12]}
    ours = smooth_derivatives(table.time, values, lowpass_hz)
    reference = opensim_smooth_derivatives(table.time, values, lowpass_hz)
    for order in range(3):
        scale = max(np.abs(reference[order][c]).max() for c in values)
        for name in values:
            error = np.abs(ours[order][name] - reference[order][name]).max()
            assert error <= 1e-11 * scale, (name, order, error / scale)


def test_uneven_steps_resample_like_opensim():
    """Jittered sample times take OpenSim's resampling branch of lowpassIIR."""
    time = np.cumsum(np.full(80, 0.01) + RNG.uniform(-1e-4, 1e-4, 80))
    values = {
        "a": np.sin(7 * time) + 0.01 * RNG.normal(size=80),
        "b": np.cumsum(RNG.normal(size=80)),
    }
    ours = smooth_derivatives(time, values, 6.0)
    reference = opensim_smooth_derivatives(time, values, 6.0)
    for order in range(3):
        for name in values:
            scale = np.abs(reference[order][name]).max()
            np.testing.assert_allclose(
                ours[order][name], reference[order][name], atol=1e-11 * scale
            )


def test_pad_reflects_about_the_end_values():
    signal = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    np.testing.assert_array_equal(pad(signal, 2), [-2.0, 0.0, 1, 2, 4, 7, 11, 15.0, 18.0])
    assert pad(signal, 0) is signal


def test_lowpass_keeps_a_constant_and_nearly_a_padded_line():
    """Unit gain at zero frequency; after OpenSim's odd padding a line stays a line inside the
    trial to within the filter's start-up transient (1e-5 of its 3 m/s slope over a second)."""
    time = np.arange(100) * 0.01
    data = np.column_stack((np.full(100, 2.5), 3.0 * time - 1.0))
    _, filtered = lowpass_iir(pad(time, 50), pad(data, 50), 6.0)
    inside = filtered[50:150]
    np.testing.assert_allclose(inside[:, 0], 2.5, rtol=0, atol=1e-12)
    np.testing.assert_allclose(inside[:, 1], data[:, 1], rtol=0, atol=3e-5)


def test_too_few_frames_is_a_user_error():
    with pytest.raises(KintwinError, match="at least 6 frames"):
        smooth_derivatives(np.arange(4) * 0.01, {"q": np.zeros(4)}, None)


@pytest.mark.parametrize("half_order", [1, 2, 3, 4])
def test_natural_spline_interpolates_with_natural_ends(half_order: int):
    x = np.cumsum(RNG.uniform(0.5, 1.5, 30))
    y = RNG.normal(size=(30, 2)).cumsum(axis=0)
    spline = NaturalSpline(x, y, half_order)
    scale = np.abs(y).max()
    np.testing.assert_allclose(spline(x), y, atol=1e-12 * scale)
    for order in range(half_order, 2 * half_order - 1):  # the natural end conditions
        ends = spline(x[[0, -1]], order)
        interior = np.abs(spline(np.linspace(x[0], x[-1], 200), order)).max()
        assert np.abs(ends).max() <= 1e-9 * max(1.0, interior), order
    # the derivative is the slope: central differences at interior points
    h = 1e-6
    inner = x[5:-5] + 0.3
    slope = (spline(inner + h) - spline(inner - h)) / (2 * h)
    np.testing.assert_allclose(spline(inner, 1), slope, rtol=1e-5, atol=1e-6 * scale)


def test_natural_spline_matches_scipy():
    interpolate = pytest.importorskip("scipy.interpolate")
    x = np.cumsum(RNG.uniform(0.5, 1.5, 300))
    y = RNG.normal(size=300).cumsum()
    natural = [(3, 0.0), (4, 0.0)]
    reference = interpolate.make_interp_spline(x, y, k=5, bc_type=(natural, natural))
    xs = np.linspace(x[0], x[-1], 1001)
    for order in range(4):
        expected = reference(xs, nu=order)
        np.testing.assert_allclose(
            NaturalSpline(x, y)(xs, order), expected, atol=1e-12 * np.abs(expected).max()
        )


def test_natural_spline_refuses_bad_input():
    with pytest.raises(ValueError, match="needs 6 points"):
        NaturalSpline(np.arange(5.0), np.zeros(5))
    with pytest.raises(ValueError, match="increasing"):
        NaturalSpline(np.array([0.0, 1, 1, 2, 3, 4]), np.zeros(6))
