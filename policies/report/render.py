"""Offscreen MuJoCo frames of the simulated body over the reference, in a process of its own.

MuJoCo picks its OpenGL backend (``MUJOCO_GL``: egl, osmesa) when it is first imported, so the
report renders in a child process started with the backend chosen (``frames.mujoco_frames``):
``python -m policies.report.render REQUEST.json OUT.npz``. The request names the model, the
simulated kinematics, the reference coordinates, the times, and the image size; the output holds
``images`` (n, height, width, 3) uint8.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

__all__ = ["render_frames"]

GHOST_RGBA = (0.2, 0.5, 1.0, 0.35)  # the reference pose, drawn translucent over the simulation
BODY_RGBA = (0.85, 0.35, 0.25, 1.0)  # the simulated body


def render_frames(
    model: Path, simulated: Path, reference: Path, times: list[float], width: int, height: int
) -> np.ndarray:
    """(n, height, width, 3) images: the simulated pose at each time, the reference's ghosted."""
    import mujoco

    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.opensim_io.table import read_table
    from policies.report.poses import table_qpos

    converted = convert_osim(model, ConvertOptions(muscles=False))
    m = converted.mj_model
    sim_table, ref_table = read_table(simulated), read_table(reference)
    sim_q = table_qpos(converted, sim_table, str(simulated))
    ref_q = table_qpos(converted, ref_table, str(reference))
    sim_d, ref_d = mujoco.MjData(m), mujoco.MjData(m)
    floor = [i for i in range(m.ngeom) if m.geom_bodyid[i] == 0]
    m.geom_rgba[[i for i in range(m.ngeom) if i not in floor]] = BODY_RGBA
    m.geom_rgba[floor] = (0.55, 0.55, 0.5, 1.0)
    m.vis.headlight.ambient[:] = 0.45
    m.vis.headlight.diffuse[:] = 0.6
    root = int(m.jnt_bodyid[0])  # the body of the first joint: the root segment (pelvis)
    images = []
    with mujoco.Renderer(m, height, width) as renderer:
        camera = mujoco.MjvCamera()
        camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        camera.distance, camera.azimuth, camera.elevation = 2.8, 90.0, -8.0
        option, perturb = mujoco.MjvOption(), mujoco.MjvPerturb()
        for t in times:
            sim_d.qpos[:] = sim_q[int(np.argmin(np.abs(sim_table.time - t)))]
            ref_d.qpos[:] = ref_q[int(np.argmin(np.abs(ref_table.time - t)))]
            mujoco.mj_kinematics(m, sim_d)
            mujoco.mj_kinematics(m, ref_d)
            camera.lookat[:] = [sim_d.xpos[root][0], sim_d.xpos[root][1], 0.8]
            renderer.update_scene(sim_d, camera, option)
            scene = renderer.scene
            first = scene.ngeom
            mujoco.mjv_addGeoms(m, ref_d, option, perturb, mujoco.mjtCatBit.mjCAT_DYNAMIC, scene)
            for k in range(first, scene.ngeom):
                scene.geoms[k].rgba[:] = GHOST_RGBA
            images.append(renderer.render().copy())
    return np.stack(images)


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    images = render_frames(
        Path(request["model"]),
        Path(request["simulated"]),
        Path(request["reference"]),
        request["times"],
        request["width"],
        request["height"],
    )
    with open(argv[1], "wb") as handle:
        np.savez(handle, images=images)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
