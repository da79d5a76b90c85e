"""Model conversion: time per shared model, and the kinematic agreement with OpenSim.

For each model: conversion time of the skeleton (bodies, joints, contact, markers, meshes; bar
5 s) and of everything including fitted muscles (bar 30 s, in bench_muscles), and a validation
over 200 random poses against the opensim package.
"""

from __future__ import annotations

import time
from pathlib import Path

from converters.mjcf.builder import ConvertOptions
from converters.model_conversion import convert_osim
from converters.validate import BARS, sample_poses, validate_kinematics

BAR_SECONDS = 5.0


def _validate(path: Path, poses: int = 200) -> dict:
    converted = convert_osim(path, ConvertOptions(meshes=False), exact=True)
    coordinates = converted.osim.coordinates
    locked = {c.name: c.default_value for c in coordinates.values() if c.locked}
    ranges = {c.name: c.range for c in coordinates.values()}
    sampled = {
        c: v
        for c, v in sample_poses(converted.kinematics, ranges, poses).items()
        if c not in locked
    }
    report = validate_kinematics(path, converted.mj_model, converted.kinematics, sampled, locked)
    fits = converted.conversion.couplings_fit
    worst = max(fits, key=lambda f: f["max_error"]) if fits else None
    return {
        **report.as_dict(),
        "failures": report.failures(BARS),
        "coupling_polynomial_worst": None
        if worst is None
        else {"what": worst["what"], "max_error": worst["max_error"]},
    }


def run(data: Path) -> dict:
    models = {}
    for path in sorted(data.rglob("*.osim")):
        start = time.perf_counter()
        convert_osim(path, ConvertOptions(muscles=False))  # skeleton, contact, markers, meshes
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        convert_osim(path)  # everything, as `kintwin convert model` does (bar: bench_muscles)
        full = time.perf_counter() - start
        models[str(path.relative_to(data))] = {
            "convert_s": round(seconds, 3),
            "convert_with_muscles_s": round(full, 3),
            **_validate(path),
        }
    slowest = max(m["convert_s"] for m in models.values())
    return {
        "models": models,
        "bars": {**BARS, "convert_s": BAR_SECONDS},
        "summary": {
            "models": len(models),
            "slowest_convert_s": slowest,
            "all_within_bars": all(not m["failures"] for m in models.values())
            and slowest <= BAR_SECONDS,
        },
    }
