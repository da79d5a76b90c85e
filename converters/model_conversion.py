"""``.osim`` -> MuJoCo, end to end: parse, build, compile, and write MJCF + map json (+ meshes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from converters.errors import KintwinError
from converters.files import atomic_output, check_writable
from converters.mjcf.builder import Conversion, ConvertOptions, build_model
from converters.mjcf.map_json import build_map
from converters.osim.model import OsimModel
from converters.osim.parser import load_osim
from converters.spatial import matrix_from_quat

__all__ = ["ConvertedModel", "convert_osim", "write_converted", "output_paths", "restore_inertias"]


@dataclass
class ConvertedModel:
    """An OpenSim model and its MuJoCo counterpart, compiled, with the coordinate map."""

    osim: OsimModel
    conversion: Conversion
    mj_model: mujoco.MjModel
    map: dict

    @property
    def kinematics(self):
        return self.conversion.kinematics


def convert_osim(path: str | Path, options: ConvertOptions = ConvertOptions()) -> ConvertedModel:
    """Convert ``path`` in memory; raise KintwinError naming the element on anything unsupported."""
    osim = load_osim(path)
    conversion = build_model(osim, options)
    try:
        mj_model = conversion.spec.compile()
    except ValueError as error:
        raise KintwinError(f"{path}: MuJoCo rejected the converted model: {error}") from None
    for slot in conversion.kinematics.slots:
        joint = mj_model.joint(slot.name)
        slot.qpos, slot.dof = int(joint.qposadr[0]), int(joint.dofadr[0])
    restore_inertias(mj_model, conversion.inertia_overrides)
    return ConvertedModel(osim, conversion, mj_model, build_map(osim, conversion, mj_model))


def restore_inertias(mj_model: mujoco.MjModel, overrides: dict[str, list[float]]) -> None:
    """Put back inertias MuJoCo's compiler refused (non-physical, A + B < C) into a compiled model.

    The compiled principal axes are those of the balanced inertia, which shares its eigenvectors
    with the original; the original is expressed in them (MuJoCo's runtime does not re-check).
    """
    for name, (ixx, iyy, izz, ixy, ixz, iyz) in overrides.items():
        body = mj_model.body(name)
        full = np.array([[ixx, ixy, ixz], [ixy, iyy, iyz], [ixz, iyz, izz]])
        axes = matrix_from_quat(body.iquat)
        principal = axes.T @ full @ axes
        off_diagonal = np.abs(principal - np.diag(np.diag(principal))).max()
        if off_diagonal > 1e-12 * np.abs(principal).max():
            raise KintwinError(f"cannot restore the inertia of body '{name}': its principal axes "
                               "changed when MuJoCo balanced it")
        body.inertia[:] = np.diag(principal)


def output_paths(converted: ConvertedModel, outdir: str | Path) -> dict[str, Path]:
    outdir = Path(outdir)
    stem = Path(converted.osim.path).stem
    return {"mjcf": outdir / f"{stem}.xml", "map": outdir / f"{stem}_map.json"}


def write_converted(converted: ConvertedModel, outdir: str | Path, force: bool = False) -> dict[str, Path]:
    """Write the MJCF and map json into ``outdir``; nothing is written if any exists without force."""
    paths = output_paths(converted, outdir)
    for path in paths.values():
        check_writable(path, force)
    xml = converted.conversion.spec.to_xml()
    with atomic_output(paths["mjcf"], force) as tmp:
        tmp.write_text(xml)
    with atomic_output(paths["map"], force) as tmp:
        tmp.write_text(json.dumps(converted.map, indent=1) + "\n")
    return paths
