"""OpenSim wrap objects -> MuJoCo wrap geoms (spheres and cylinders) and the side sites that
stand for OpenSim's ``quadrant``; an ellipsoid's untuned stand-in."""

from __future__ import annotations

import mujoco
import numpy as np

from converters.osim.model import WrapObjectSpec
from converters.spatial import quat_from_matrix

__all__ = [
    "WRAP_GROUP",
    "ROUND_WRAPS",
    "add_wrap_geom",
    "new_wrap_geom",
    "ellipsoid_stand_in",
    "axis_to_z",
    "quadrant_of",
    "side_direction",
    "side_site",
    "quat_to_matrix",
]

WRAP_GROUP = 5
# OpenSim wraps a sphere or an ellipsoid only where the straight line crosses it (its quadrant
# then picks the side); a cylinder with a quadrant also where the line passes on the wrong side.
ROUND_WRAPS = ("WrapSphere", "WrapEllipsoid")


def add_wrap_geom(builder, spec: WrapObjectSpec) -> tuple[str, str | None] | None:
    """(geom name, side site name or None), or None for an unsupported surface."""
    body = builder.bodies[spec.body]
    pose = spec.pose.copy()
    if spec.type == "WrapCylinder":
        kind, size, radius = (
            mujoco.mjtGeom.mjGEOM_CYLINDER,
            [spec.radius, spec.length / 2, 0],
            spec.radius,
        )
    elif spec.type == "WrapSphere":
        kind, size, radius = mujoco.mjtGeom.mjGEOM_SPHERE, [spec.radius, 0, 0], spec.radius
    elif spec.type == "WrapEllipsoid":
        kind, size, radius, pose = ellipsoid_stand_in(builder, spec)
    else:
        builder.result.warnings.append(
            f"wrap object {spec.type} '{spec.name}' is not supported "
            "(MuJoCo wraps only spheres and cylinders); left out"
        )
        return None
    new_wrap_geom(body, spec.name, kind, size, pose)
    side = side_site(body, spec, pose, radius, kind)
    return spec.name, side


def new_wrap_geom(body, name: str, kind, size, pose: np.ndarray):
    geom = body.add_geom(name=name, type=kind)
    geom.size = size
    geom.pos = pose[:3, 3]
    geom.quat = quat_from_matrix(pose[:3, :3])
    geom.contype = geom.conaffinity = 0
    geom.group = WRAP_GROUP
    geom.rgba = [0.3, 0.8, 0.9, 0.3]
    return geom


def ellipsoid_stand_in(builder, spec: WrapObjectSpec, warn: bool = True):
    """The untuned stand-in: a cylinder along the long axis when the other two radii are equal,
    else a sphere of the mean radius. (kind, size, radius, pose)."""
    a = np.asarray(spec.dimensions, dtype=float)
    order = np.argsort(a)
    pose = spec.pose.copy()
    if np.isclose(a[order[0]], a[order[1]]):
        axis = order[2]  # the long axis becomes the cylinder's z
        pose[:3, :3] = pose[:3, :3] @ axis_to_z(axis)
        radius = float(a[order[0]])
        if warn:
            builder.result.warnings.append(
                f"wrap ellipsoid '{spec.name}' {a.tolist()} -> cylinder of "
                f"radius {radius:g} along its long axis"
            )
        return mujoco.mjtGeom.mjGEOM_CYLINDER, [radius, float(a[axis]), 0], radius, pose
    radius = float(np.mean(a))
    if warn:
        builder.result.warnings.append(
            f"wrap ellipsoid '{spec.name}' {a.tolist()} -> sphere of radius {radius:g}"
        )
    return mujoco.mjtGeom.mjGEOM_SPHERE, [radius, 0, 0], radius, pose


def axis_to_z(axis: int) -> np.ndarray:
    """Rotation whose z column is ``axis`` of the frame it multiplies (a cyclic permutation)."""
    return np.eye(3)[:, [(axis + 1) % 3, (axis + 2) % 3, axis]]


def quadrant_of(spec: WrapObjectSpec) -> tuple[int, float] | None:
    """(axis, sign) of OpenSim's ``quadrant`` ('+x', '-y', 'z'...), None for 'all'."""
    quadrant = spec.quadrant.strip().lower()
    if quadrant in ("", "all", "unassigned"):
        return None
    return "xyz".index(quadrant[-1]), (-1.0 if quadrant.startswith("-") else 1.0)


def side_direction(spec: WrapObjectSpec, pose: np.ndarray, kind) -> np.ndarray | None:
    """Unit direction (body frame) of the allowed side, or None when there is no usable side:
    'all', or a cylinder whose axis is the quadrant's (MuJoCo projects the side across it)."""
    quadrant = quadrant_of(spec)
    if quadrant is None:
        return None
    axis, sign = quadrant
    direction = sign * spec.pose[:3, axis]  # in the OpenSim wrap frame
    if kind == mujoco.mjtGeom.mjGEOM_CYLINDER and abs(direction @ pose[:3, 2]) > 0.99:
        return None
    return direction


def side_site(
    body, spec: WrapObjectSpec, pose: np.ndarray, radius: float, kind, name: str | None = None
) -> str | None:
    """A site outside the surface on OpenSim's ``quadrant`` side ('+x', '-y', ...).

    MuJoCo then wraps on that side, and also wraps when the straight segment passes the surface
    on the other side (OpenSim's forced wrap the long way round)."""
    direction = side_direction(spec, pose, kind)
    if direction is None:
        return None
    site = body.add_site(name=name or f"{spec.name}_side")
    site.pos = pose[:3, 3] + 2.0 * radius * direction
    site.size = [0.002, 0, 0]
    site.group = WRAP_GROUP
    return site.name


def quat_to_matrix(quat: np.ndarray) -> np.ndarray:
    matrix = np.zeros(9)
    mujoco.mju_quat2Mat(matrix, quat)
    return matrix.reshape(3, 3)
