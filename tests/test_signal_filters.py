"""The numpy Butterworth low-pass against ``scipy.signal`` (the reference it replaces)."""

from __future__ import annotations

import numpy as np
import pytest

from converters.signal_filters import butter_lowpass, filtfilt, lowpass

signal = pytest.importorskip("scipy.signal")

RNG = np.random.default_rng(20261202)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("wn", [0.004, 0.03, 0.12, 0.5, 0.9, 0.999])
def test_butter_matches_scipy(order: int, wn: float) -> None:
    b, a = butter_lowpass(order, wn)
    ref_b, ref_a = signal.butter(order, wn)
    np.testing.assert_allclose(b, ref_b, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a, ref_a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("order", [1, 2, 4])
@pytest.mark.parametrize("shape", [(17,), (250, 10), (301, 2, 3)])
def test_filtfilt_matches_scipy(order: int, shape: tuple[int, ...]) -> None:
    x = RNG.normal(size=shape).cumsum(axis=0) * 100.0 + 50.0  # a wandering, offset signal
    for wn in (0.02, 0.12, 0.7):
        b, a = signal.butter(order, wn)
        ours = filtfilt(b, a, x)
        reference = signal.filtfilt(b, a, x, axis=0)
        assert ours.shape == x.shape
        np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-10)


def test_lowpass_is_the_scipy_filter_at_6_hz() -> None:
    dt = 0.01
    x = np.sin(2 * np.pi * 1.3 * np.arange(300) * dt)[:, None] + RNG.normal(size=(300, 4)) * 0.1
    b, a = signal.butter(2, 6.0 / (0.5 / dt))
    np.testing.assert_allclose(lowpass(x, 6.0, dt), signal.filtfilt(b, a, x, axis=0), atol=1e-10)


def test_lowpass_passes_a_constant_and_keeps_short_or_unfiltered_input() -> None:
    constant = np.full((40, 2), 3.25)
    np.testing.assert_allclose(lowpass(constant, 6.0, 0.01), constant, rtol=1e-12)
    short = RNG.normal(size=(15, 2))
    assert lowpass(short, 6.0, 0.01) is short
    assert lowpass(constant, None, 0.01) is constant
    assert lowpass(constant, 0.0, 0.01) is constant
    assert lowpass(constant, 50.0, 0.01) is constant  # at the Nyquist frequency: off


def test_bad_filters_raise() -> None:
    with pytest.raises(ValueError, match="cut-off"):
        butter_lowpass(2, 1.0)
    with pytest.raises(ValueError, match="order"):
        butter_lowpass(0, 0.5)
    b, a = butter_lowpass(2, 0.1)
    with pytest.raises(ValueError, match="more than 9 samples"):
        filtfilt(b, a, np.zeros(9))
