"""``.osim`` -> MuJoCo, end to end: parse, build, compile, and write MJCF + map json (+ meshes)."""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from converters.errors import KintwinError
from converters.files import atomic_output, check_writable
from converters.mjcf.builder import Conversion, ConvertOptions, build_model
from converters.mjcf.map_json import build_map
from converters.mjcf.precision import full_precision_xml
from converters.opensim_reference.muscles import OpenSimMuscles
from converters.osim.cache import load_osim_cached
from converters.osim.model import OsimModel
from converters.spatial import matrix_from_quat

__all__ = [
    "ConvertedModel",
    "convert_osim",
    "write_converted",
    "output_paths",
    "restore_inertias",
    "make_exact",
]


@dataclass
class ConvertedModel:
    """An OpenSim model and its MuJoCo counterpart, compiled, with the coordinate map."""

    osim: OsimModel
    conversion: Conversion
    mj_model: mujoco.MjModel
    map: dict
    mesh_dir: Path | None = None

    @property
    def kinematics(self):
        return self.conversion.kinematics

    def balanced_model(self) -> mujoco.MjModel:
        """The model as the MJCF file holds it (compiled again if this one was made exact)."""
        if self.conversion.inertia_overrides or not np.any(self.mj_model.dof_armature):
            return self.conversion.spec.compile()
        return self.mj_model


def convert_osim(
    path: str | Path, options: ConvertOptions | None = None, exact: bool = False
) -> ConvertedModel:
    """Convert ``path``; raise KintwinError naming the element on anything unsupported.

    ``exact`` gives OpenSim's dynamics exactly, for inverse dynamics and validation: no joint
    armature, and inertias that violate the triangle inequality (which MuJoCo's compiler
    balances) put back. Forward simulation uses the default, stable model.

    The parsed model comes from the per-user cache when it holds this file
    (:mod:`converters.osim.cache`). Meshes are written as STL files into a temporary folder
    (``ConvertedModel.mesh_dir``) that :func:`write_converted` copies next to the MJCF; the
    folder is removed with the object.
    """
    options = options or ConvertOptions()
    osim = load_osim_cached(path)  # parsed once per model and converter version
    mesh_dir = Path(tempfile.mkdtemp(prefix="kintwin_meshes_")) if options.meshes else None
    try:
        opensim = OpenSimMuscles(osim.path) if osim.muscles and options.muscles else None
        conversion = build_model(osim, options, mesh_dir, opensim)
        mj_model = conversion.spec.compile()
    except ValueError as error:
        _remove(mesh_dir)
        raise KintwinError(f"{path}: MuJoCo rejected the converted model: {error}") from None
    except BaseException:
        _remove(mesh_dir)
        raise
    for slot in conversion.kinematics.slots:
        joint = mj_model.joint(slot.name)
        slot.qpos, slot.dof = int(joint.qposadr[0]), int(joint.dofadr[0])
    if exact:
        make_exact(mj_model, conversion.inertia_overrides)
    converted = ConvertedModel(
        osim, conversion, mj_model, build_map(osim, conversion, mj_model), mesh_dir
    )
    weakref.finalize(converted, _remove, mesh_dir)
    return converted


def _remove(folder: Path | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _relative_meshdir(xml: str, meshdir: str) -> str:
    """The MJCF text with ``<compiler meshdir>`` pointing at the folder beside it."""
    from lxml import etree

    root = etree.fromstring(xml.encode())
    compiler = root.find("compiler")
    if compiler is not None and compiler.get("meshdir"):
        compiler.set("meshdir", meshdir)
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def make_exact(mj_model: mujoco.MjModel, inertia_overrides: dict[str, list[float]]) -> None:
    """Turn a compiled converted model into OpenSim's exact dynamics (no armature, true inertias)."""
    mj_model.dof_armature[:] = 0.0
    restore_inertias(mj_model, inertia_overrides)


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
            raise KintwinError(
                f"cannot restore the inertia of body '{name}': its principal axes "
                "changed when MuJoCo balanced it"
            )
        body.inertia[:] = np.diag(principal)


def output_paths(converted: ConvertedModel, outdir: str | Path) -> dict[str, Path]:
    outdir = Path(outdir)
    stem = Path(converted.osim.path).stem
    paths = {"mjcf": outdir / f"{stem}.xml", "map": outdir / f"{stem}_map.json"}
    for mesh in converted.conversion.spec.meshes:
        if not mesh.file:
            continue  # contact meshes carry their vertices inline
        paths[f"mesh:{mesh.name}"] = outdir / f"{stem}_meshes" / mesh.file
    return paths


def write_converted(
    converted: ConvertedModel, outdir: str | Path, force: bool = False
) -> dict[str, Path]:
    """Write the MJCF and map json into ``outdir``; nothing is written if any exists without force."""
    paths = output_paths(converted, outdir)
    for path in paths.values():
        check_writable(path, force)
    spec = converted.conversion.spec  # every text made before the first file is written
    xml = full_precision_xml(spec, spec.to_xml(), converted.balanced_model())
    xml = _relative_meshdir(xml, f"{paths['mjcf'].stem}_meshes")
    for key, path in paths.items():
        if key.startswith("mesh:"):
            with atomic_output(path, force) as tmp:
                shutil.copyfile(converted.mesh_dir / path.name, tmp)
    with atomic_output(paths["mjcf"], force) as tmp:
        tmp.write_text(xml)
    with atomic_output(paths["map"], force) as tmp:
        tmp.write_text(json.dumps(converted.map, indent=1) + "\n")
    return paths
