"""The ``<name>_map.json`` written beside the MJCF: what each MuJoCo element is in OpenSim terms."""

from __future__ import annotations

import hashlib
from pathlib import Path

import mujoco

from converters.mjcf.builder import Conversion
from converters.osim.model import OsimModel
from converters.spatial import OPENSIM_TO_MUJOCO
from converters.version import __version__

__all__ = ["build_map", "MAP_VERSION"]

MAP_VERSION = 1


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_map(model: OsimModel, conversion: Conversion, mj_model: mujoco.MjModel) -> dict:
    """A json-ready description: coordinates, dependent joints, bodies, markers, contacts, mass."""
    kinematics = conversion.kinematics
    coupled = {c.dependent: c for c in kinematics.couplings}
    own = {s.coordinate: s for s in kinematics.slots if s.function is None}
    fits = {f["joint"]: f for f in conversion.couplings_fit}
    coordinates = []
    for name in kinematics.coordinates:
        c, slot = model.coordinates[name], own.get(name)
        entry = {
            "name": name,
            "joint": slot.name if slot else None,
            "qpos": slot.qpos if slot else None,
            "dof": slot.dof if slot else None,
            "type": c.motion_type,
            "default": kinematics.defaults[name],
            "range": list(c.range),
            "clamped": c.clamped,
            "locked": c.locked,
            "opensim_joint": c.joint,
        }
        if name in coupled:
            entry["coupled_to"] = {
                "coordinate": coupled[name].independent,
                "function": repr(coupled[name].function),
                "fit": fits.get(slot.name) if slot else None,
            }
        coordinates.append(entry)
    dependent = [
        {
            "joint": s.name,
            "qpos": s.qpos,
            "dof": s.dof,
            "kind": s.kind,
            "follows": s.coordinate,
            "opensim_joint": s.opensim_joint,
            "axis": s.axis,
            "function": repr(s.function),
            "fit": fits.get(s.name),
        }
        for s in kinematics.slots
        if s.function is not None
    ]
    return {
        "map_version": MAP_VERSION,
        "kintwin_version": __version__,
        "model": model.name,
        "source": str(Path(model.path).resolve()),
        "source_sha256": _sha256(model.path),
        "opensim_document_version": model.version,
        "ground_in_mujoco_world": OPENSIM_TO_MUJOCO.tolist(),
        "nq": int(mj_model.nq),
        "nv": int(mj_model.nv),
        "coordinates": coordinates,
        "dependent_joints": dependent,
        "bodies": [{"name": b.name, "mass": b.mass} for b in model.bodies.values()],
        "markers": [{"name": m.name, "body": m.body} for m in model.markers],
        "contacts": [
            {"name": g.name, "body": g.body, "type": type(g).__name__}
            for g in model.contact_geometry
        ],
        "contact_laws": conversion.contact_laws,
        "auto_contact": conversion.auto_contact,
        "total_mass": model.total_mass,
        "unsupported": [str(u) for u in model.unsupported],
        "muscles": [
            {
                "name": m.name,
                "type": m.type,
                "actuator": m.name in conversion.muscle_fits,
                "fit": conversion.muscle_fits.get(m.name),
            }
            for m in model.muscles
        ],
        "conditional_points": conversion.conditional_points,
        "warnings": conversion.warnings,
        "inertia_overrides": conversion.inertia_overrides,
        "armature": float(mj_model.dof_armature.max()) if mj_model.nv else 0.0,
        "missing_meshes": conversion.missing_meshes,
        "worst_coupling_error": max(
            (f["max_error"] for f in conversion.couplings_fit if f["follows"] is not None),
            default=0.0,
        ),  # polynomial equalities only; points held in simulation are listed with their stray
    }
