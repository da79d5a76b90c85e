"""Where a stand-in stops holding: regions found from per-sample errors (synthetic errors with a
known answer), and Arm26 over its whole coordinate ranges against the issue's bars."""

from __future__ import annotations

import numpy as np
import pytest

from converters.muscle_limits import SAMPLE_BARS, stand_in_limits


def _limits(errors: np.ndarray, x: np.ndarray, y: np.ndarray):
    values, units = {"x": x, "y": y}, {"x": "deg", "y": "deg"}
    return stand_in_limits(
        values, units, {"m": ["x", "y"]}, {"m": errors}, {("m", "x"): np.zeros_like(errors)}
    )[0]


def test_region_is_where_the_errors_are():
    """Errors over the bar only for x >= 170 deg: the region is the top bin(s) of x, none of y
    (there every bin has some of those samples: not local)."""
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-90, 180, 2400), rng.uniform(0, 130, 2400)
    errors = np.where(x >= 170, 6.0, 0.5)
    limit = _limits(errors, x, y)
    assert [r.coordinate for r in limit.regions] == ["x"]
    region = limit.regions[0]
    assert region.quantity == "length" and region.bar_mm == SAMPLE_BARS["length_mm"]
    assert 160 <= region.low <= 170 and region.high == pytest.approx(x.max())
    assert region.over == np.sum(x >= 170)
    assert limit.length_p99_mm == pytest.approx(6.0) and not limit.holds()


def test_scattered_misses_below_one_percent_make_no_region():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 1, 3000), rng.uniform(0, 1, 3000)
    errors = np.full(3000, 0.1)
    errors[rng.choice(3000, 10, replace=False)] = 50.0  # 0.3 %, spread
    limit = _limits(errors, x, y)
    assert limit.regions == [] and limit.length_p99_mm == pytest.approx(0.1) and limit.holds()


def test_excluded_samples_take_no_part():
    x = np.linspace(0, 100, 600)
    errors = np.where(x > 90, np.nan, 0.2)  # over 90 deg: OpenSim discontinuous, not judged
    errors[x > 95] = np.nan
    limit = _limits(errors, x, x)
    assert limit.samples == np.sum(x <= 90) and limit.regions == []
