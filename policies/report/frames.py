"""A strip of frames of the simulated body over the reference pose.

MuJoCo's offscreen renderer draws the model's meshes where an OpenGL backend without a display
exists (EGL, else OSMesa; ``MUJOCO_GL`` if the user set one): the simulated body opaque, the
reference translucent blue. It runs in a child process (``policies.report.render``) because
MuJoCo fixes its backend when first imported. Where no backend works, a matplotlib stick figure
of the body origins in the sagittal plane stands in. ``Strip.method`` says which was used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from converters.opensim_io.table import Table
from policies.report.figures import png
from policies.report.poses import table_qpos

__all__ = ["Strip", "frame_times", "mujoco_frames", "skeleton_strip", "frame_strip"]

BACKENDS = ("egl", "osmesa")
RENDER_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Strip:
    """The strip as PNG bytes, how it was drawn, and why MuJoCo was not used (if it was not)."""

    png: bytes
    method: str
    note: str = ""


def frame_times(time: np.ndarray, count: int) -> list[float]:
    """``count`` times spread evenly over ``time``'s span, ends excluded."""
    edges = np.linspace(float(time[0]), float(time[-1]), count + 2)[1:-1]
    return [float(time[int(np.argmin(np.abs(time - t)))]) for t in edges]


def mujoco_frames(
    model: Path, simulated: Path, reference: Path, times: list[float], size=(240, 320)
) -> tuple[np.ndarray, str]:
    """(images, backend) from the first backend that renders; raises RuntimeError listing why
    each failed."""
    root = str(Path(__file__).resolve().parents[2])  # this project, for the child's imports
    chosen = os.environ.get("MUJOCO_GL")
    backends = [chosen] if chosen else list(BACKENDS)
    failures = []
    with tempfile.TemporaryDirectory(prefix="kintwin_render_") as work:
        request, out = Path(work) / "request.json", Path(work) / "frames.npz"
        request.write_text(
            json.dumps(
                {
                    "model": str(model),
                    "simulated": str(simulated),
                    "reference": str(reference),
                    "times": times,
                    "width": size[0],
                    "height": size[1],
                }
            ),
            encoding="utf-8",
        )
        for backend in backends:
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
            env = {**os.environ, "MUJOCO_GL": backend, "PYTHONPATH": path}
            env.pop("PYOPENGL_PLATFORM", None)
            try:
                run = subprocess.run(
                    [sys.executable, "-m", "policies.report.render", str(request), str(out)],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=RENDER_TIMEOUT_S,
                )
            except subprocess.TimeoutExpired:
                failures.append(f"{backend}: no frames within {RENDER_TIMEOUT_S:g} s")
                continue
            if run.returncode == 0 and out.is_file():
                with np.load(out) as data:
                    return data["images"], backend
            last = (run.stderr.strip().splitlines() or ["no message"])[-1]
            failures.append(f"{backend}: {last}")
    raise RuntimeError("; ".join(failures))


def _compose(images: list[np.ndarray], times: list[float]) -> bytes:
    from policies.report.figures import _pyplot

    plt = _pyplot()
    height, width = images[0].shape[:2]
    figure, axes = plt.subplots(
        1, len(images), figsize=(len(images) * width / 100, height / 100 + 0.3), squeeze=False
    )
    for axis, image, t in zip(axes[0], images, times, strict=True):
        axis.imshow(image)
        axis.set_title(f"t = {t:.2f} s", fontsize=8)
        axis.axis("off")
    figure.subplots_adjust(wspace=0.02, left=0.0, right=1.0, bottom=0.0)
    return png(figure, dpi=100)


def skeleton_strip(converted, simulated: Table, reference: Table, times: list[float]) -> bytes:
    """Stick figures (body origins joined parent to child, sagittal plane): simulation red,
    reference dashed blue, floor grey."""
    from policies.report.figures import _pyplot

    plt = _pyplot()
    m = converted.mj_model
    poses = []
    for table in (simulated, reference):
        q = table_qpos(converted, table)
        d = mujoco.MjData(m)
        rows = []
        for t in times:
            d.qpos[:] = q[int(np.argmin(np.abs(table.time - t)))]
            mujoco.mj_kinematics(m, d)
            rows.append(d.xpos.copy())
        poses.append(rows)
    bones = [(int(m.body_parentid[b]), b) for b in range(1, m.nbody) if m.body_parentid[b] > 0]
    figure, axes = plt.subplots(1, len(times), figsize=(2.0 * len(times), 3.0), squeeze=False)
    for k, (axis, t) in enumerate(zip(axes[0], times, strict=True)):
        centre = poses[0][k][int(m.jnt_bodyid[0])][0]
        for rows, style in ((poses[1], "b--"), (poses[0], "r-")):
            for parent, child in bones:
                x = [rows[k][parent][0], rows[k][child][0]]
                z = [rows[k][parent][2], rows[k][child][2]]
                axis.plot(x, z, style, linewidth=1.6)
        axis.axhline(0.0, color="0.6", linewidth=1)
        axis.set_xlim(centre - 0.8, centre + 0.8)
        axis.set_ylim(-0.05, 1.9)
        axis.set_aspect("equal")
        axis.set_title(f"t = {t:.2f} s", fontsize=8)
        axis.axis("off")
    return png(figure)


def frame_strip(
    converted,
    model: Path,
    simulated: Path,
    reference: Path,
    times: list[float],
    method: str = "auto",
) -> Strip:
    """The strip by ``method``: 'mujoco', 'skeleton', or 'auto' (MuJoCo, else the skeleton)."""
    from converters.opensim_io.table import read_table

    note = ""
    if method in ("auto", "mujoco"):
        try:
            images, backend = mujoco_frames(model, simulated, reference, times)
            return Strip(_compose(list(images), times), f"MuJoCo offscreen renderer ({backend})")
        except RuntimeError as error:
            if method == "mujoco":
                raise
            note = f"MuJoCo could not render here ({error})"
    sim_table, ref_table = read_table(simulated), read_table(reference)
    picture = skeleton_strip(converted, sim_table, ref_table, times)
    return Strip(picture, "matplotlib stick figure (body origins, sagittal plane)", note)
