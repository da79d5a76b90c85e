"""Shared fixtures: where the real OpenSim data lives (read-only, never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$KINTWIN_SHARED_DATA`` or ``<repo>/../shared/data``."""
    return Path(os.environ.get("KINTWIN_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "README.md").is_file():
        pytest.fail(f"shared data not found at {path}; set KINTWIN_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def subject4_walk(shared_data: Path):
    """(OpenCap subject 4's model converted without muscles or meshes, its walking1 as a
    trajectory at 6 Hz); tests copy or scale the model, never change it."""
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table

    root = shared_data / "opencap-subject4"
    model = root / "Models" / "optimized_scale_and_markers.osim"
    converted = convert_osim(model, ConvertOptions(meshes=False, muscles=False))
    ik = root / "IK" / "walking1_ik.mot"
    series = coordinate_series(read_table(ik), converted.osim, ik)
    m = converted.mj_model
    return converted, make_trajectory(series, converted.kinematics, m.nq, m.nv, 6.0)


def pytest_terminal_summary(terminalreporter) -> None:
    """The number of fuzz cases each reader was tried on (tests/test_fuzz_readers.py)."""
    import sys

    tallies = [
        getattr(module, "TALLY", None)
        for name, module in list(sys.modules.items())
        if name.endswith("test_fuzz_readers")
    ]
    tally = next((t for t in tallies if t), None)
    if tally:
        cases = ", ".join(f"{name} {count}" for name, count in sorted(tally.items()))
        terminalreporter.write_line(f"fuzz: {sum(tally.values())} cases ({cases})")


def opensim_smooth_derivatives(time, values, lowpass_hz=None, at=None):
    """(q, qdot, qddot) at ``time`` (or ``at``) by the ``opensim`` package itself (Storage pad +
    lowpassIIR, quintic GCVSplineSet): the reference for the library's numpy smoothing, and how
    the shipped policy's reference was smoothed when it was trained."""
    import opensim

    opensim.Logger.setLevelString("error")
    names = list(values)
    storage, labels = opensim.Storage(), opensim.ArrayStr()
    for label in ["time", *names]:
        labels.append(label)
    storage.setColumnLabels(labels)
    block = np.column_stack([values[n] for n in names])
    for t, row in zip(time, block, strict=True):
        storage.append(float(t), opensim.Vector(row.tolist()))
    if lowpass_hz is not None and lowpass_hz > 0:
        storage.pad(storage.getSize() // 2)
        storage.lowpassIIR(float(lowpass_hz))
    splines = opensim.GCVSplineSet(5, storage)
    out: tuple[dict, dict, dict] = ({}, {}, {})
    for k, name in enumerate(names):
        spline = splines.get(k)
        for order in range(3):
            derivative = opensim.StdVectorInt([0] * order)
            out[order][name] = np.array(
                [
                    spline.calcValue(opensim.Vector(1, float(t)))
                    if order == 0
                    else spline.calcDerivative(derivative, opensim.Vector(1, float(t)))
                    for t in (time if at is None else at)
                ]
            )
    return out
