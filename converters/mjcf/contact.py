"""Contact: the model's spheres and half spaces, OpenSim contact forces mapped to MuJoCo's soft
contact, and, for models without contact, foot spheres and a floor."""

from __future__ import annotations

import mujoco
import numpy as np

from converters.osim.model import ContactHalfSpace, ContactSphere
from converters.spatial import axis_angle, quat_from_matrix, transform

__all__ = ["add_contacts", "CONTACT_GROUP"]

CONTACT_GROUP = 3


def add_contacts(builder) -> None:
    """Contact spheres and half spaces of the model; a floor and foot spheres if it has none."""
    geometries = list(builder.model.contact_geometry)
    if not any(isinstance(g, ContactSphere) for g in geometries) and builder.options.auto_contact:
        geometries += _foot_spheres(builder)
    if not any(isinstance(g, ContactHalfSpace) for g in geometries):
        # OpenSim's ground plane y = 0 with the solid below: the half space x > 0 of a frame
        # rotated -90 degrees about z (as in LaiArnoldModified2017_contacts.osim).
        floor = "floor" if "floor" not in builder.model.bodies else "kintwin_floor"
        geometries.append(
            ContactHalfSpace(
                floor, builder.model.ground, transform(axis_angle([0, 0, 1], -np.pi / 2))
            )
        )
        builder.result.auto_contact.append(floor)
    for geometry in geometries:
        _add_contact_geom(builder, geometry)
    _match_contact_forces(builder, [g for g in geometries if isinstance(g, ContactSphere)])


def _add_contact_geom(builder, geometry: ContactSphere | ContactHalfSpace) -> None:
    body = builder.bodies[geometry.body]
    if isinstance(geometry, ContactSphere):
        geom = body.add_geom(name=geometry.name, type=mujoco.mjtGeom.mjGEOM_SPHERE)
        geom.size = [geometry.radius, 0, 0]
        geom.pos = geometry.pose[:3, 3]
        geom.contype, geom.conaffinity = 1, 0  # spheres touch the floor, not each other
        geom.rgba = [0.2, 0.6, 1.0, 0.6]
    else:
        geom = body.add_geom(name=geometry.name, type=mujoco.mjtGeom.mjGEOM_PLANE)
        geom.size = [0, 0, 1]
        # OpenSim's half space is x > 0 of its frame (outward normal -x); a MuJoCo plane's
        # outward normal is its +z, so the plane frame's z must be the half space's -x.
        normal_frame = geometry.pose[:3, :3] @ axis_angle([0, 1, 0], -np.pi / 2)
        geom.pos = geometry.pose[:3, 3]
        geom.quat = quat_from_matrix(normal_frame)
        geom.contype, geom.conaffinity = 0, 1
        geom.rgba = [0.5, 0.55, 0.6, 1.0]
    geom.friction = [0.8, 0.005, 0.0001]
    geom.group = CONTACT_GROUP


def _match_contact_forces(builder, spheres: list[ContactSphere]) -> None:
    """Give each sphere its OpenSim contact force's friction and an equivalent stiffness.

    Hunt-Crossley/Hertz contact, f = 4/3 E sqrt(R) d^1.5 (1 + 1.5 c v), is linearised where one
    sphere carries an equal share m of body weight: k = df/dd, b = 1.5 c f. MuJoCo's solref
    then gets the spring's time constant 1/sqrt(k/m) and damping ratio b / (2 sqrt(k m)).
    An approximation, stated in the map's warnings.
    """
    forces = {f["geometry"][0]: f for f in builder.model.contact_forces if f["geometry"]}
    gravity = float(np.linalg.norm(builder.model.gravity))
    share = builder.model.total_mass * gravity / max(1, len(spheres) / 2)  # half in stance
    mass = share / gravity
    matched = 0
    for sphere in spheres:
        force = forces.get(sphere.name)
        if force is None or force["stiffness"] <= 0:
            continue
        factor = 0.5 if force["type"] == "SmoothSphereHalfSpaceForce" else 1.0
        modulus = factor * force["stiffness"]
        depth = (share / (4.0 / 3.0 * modulus * np.sqrt(sphere.radius))) ** (2.0 / 3.0)
        stiffness, damping = 1.5 * share / depth, 1.5 * force["dissipation"] * share
        geom = builder.spec.geom(sphere.name)
        geom.solref = [
            max(np.sqrt(mass / stiffness), 2 * builder.options.timestep),
            damping / (2 * np.sqrt(stiffness * mass)),
        ]
        geom.friction = [max(force["dynamic_friction"], 1e-3), 0.005, 0.0001]
        matched += 1
    if matched:
        builder.result.warnings.append(
            f"{matched} contact spheres: Hunt-Crossley contact linearised at an equal share of "
            "body weight (MuJoCo solref time constant and damping ratio); friction from their "
            "contact forces"
        )


def _foot_spheres(builder) -> list[ContactSphere]:
    """Six spheres per foot (heel, metatarsal heads, toes) placed like the contact model of
    LaiArnoldModified2017, scaled by the foot's length (calcaneus origin to MTP joint)."""
    spheres = []
    for side, mirror in (("r", 1.0), ("l", -1.0)):
        mtp = next(
            (
                j
                for j in builder.model.joints
                if j.parent_body == f"calcn_{side}" and j.child_body == f"toes_{side}"
            ),
            None,
        )
        if mtp is None:
            continue
        length = float(np.linalg.norm(mtp.parent_frame[:3, 3]))
        for k, (body, x, y, z) in enumerate(_FOOT_SPHERES, start=1):
            position = np.array([x, y, mirror * z]) * length
            name = f"kintwin_contact{k}_{side}"
            spheres.append(
                ContactSphere(
                    name,
                    f"{body}_{side}",
                    transform(None, position),
                    _FOOT_SPHERE_RADIUS * length,
                )
            )
            builder.result.auto_contact.append(name)
    if not spheres:
        builder.result.warnings.append("no calcn_r/calcn_l with toes bodies: no foot contact added")
    return spheres


# Sphere centres in the calcaneus/toes frames as fractions of foot length (calcn -> MTP joint),
# from LaiArnoldModified2017_contacts.osim (right side; z is mirrored for the left foot).
_FOOT_SPHERES = [
    ("calcn", 0.0117, -0.0556, -0.0233),
    ("calcn", 0.9077, -0.0556, -0.1757),
    ("calcn", 0.8138, -0.0556, 0.3157),
    ("calcn", 0.4052, -0.0556, 0.1612),
    ("toes", 0.3669, -0.0556, -0.1145),
    ("toes", 0.2751, -0.0556, 0.3785),
]
_FOOT_SPHERE_RADIUS = 0.1779
