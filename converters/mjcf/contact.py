"""Contact: the model's spheres, half spaces and meshes as MuJoCo geoms, OpenSim's contact forces
mapped onto them (:mod:`converters.mjcf.contact_law`), and, for models without contact, foot spheres
and a floor.

Every sphere collides with every half space; a mesh only with the half spaces an
elastic-foundation force pairs it with. A sphere or mesh that a contact force pairs with a half
space gets that law's ``solref``/``solimp``/``friction`` and ``priority`` 1, so MuJoCo uses its
parameters, not a mix with the half space's; such models use elliptic friction cones, for which
the law's static depth holds (with MuJoCo's default pyramidal cones a sphere settles about half
as deep). A mesh face on a plane touches at four hull points that share the load, so a mesh's
law is split over four contacts; on edges or corners it is stiffer than the elastic foundation.
"""

from __future__ import annotations

import math
from pathlib import Path

import mujoco
import numpy as np

from converters.mjcf.contact_law import (
    ContactLaw,
    foundation_law,
    hertz_law,
    hertz_modulus,
    mixed_parameters,
    mujoco_contact,
)
from converters.opensim_io.mesh_files import find_mesh, read_mesh
from converters.osim.model import (
    ContactForce,
    ContactHalfSpace,
    ContactMesh,
    ContactParameters,
    ContactSphere,
)
from converters.spatial import axis_angle, quat_from_matrix, transform

__all__ = ["add_contacts", "CONTACT_GROUP"]

CONTACT_GROUP = 3
_DEFAULT_FRICTION = (0.8, 0.005, 0.0001)
HALF_SPACE_BOX = (50.0, 1.0)  # m: half width and half depth of a half space on a moving body
MESH_CONTACT_POINTS = 4  # MuJoCo's plane-mesh collision touches a face at up to 4 hull points
_Shape = ContactSphere | ContactHalfSpace | ContactMesh


def add_contacts(builder) -> None:
    """Contact geometry of the model (a floor and foot spheres if it has none) and its laws."""
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
    meshes: dict[str, np.ndarray] = {}
    for geometry in geometries:
        if isinstance(geometry, ContactMesh):
            faces = _add_contact_mesh(builder, geometry)
            if faces is not None:
                meshes[geometry.name] = faces
        else:
            _add_contact_geom(builder, geometry)
    _apply_contact_laws(builder, {g.name: g for g in geometries}, meshes)
    if builder.result.contact_laws:
        # the depth mapping holds for elliptic cones; pyramidal ones settle about half as deep
        builder.spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC


def _add_contact_geom(builder, geometry: ContactSphere | ContactHalfSpace) -> None:
    body = builder.bodies[geometry.body]
    if isinstance(geometry, ContactSphere):
        geom = body.add_geom(name=geometry.name, type=mujoco.mjtGeom.mjGEOM_SPHERE)
        geom.size = [geometry.radius, 0, 0]
        geom.pos = geometry.pose[:3, 3]
        geom.contype, geom.conaffinity = 1, 0  # spheres touch the floor, not each other
        geom.rgba = [0.2, 0.6, 1.0, 0.6]
    elif geometry.body == builder.model.ground:
        geom = body.add_geom(name=geometry.name, type=mujoco.mjtGeom.mjGEOM_PLANE)
        geom.size = [0, 0, 1]
        geom.pos = geometry.pose[:3, 3]
        geom.quat = quat_from_matrix(_plane_frame(geometry.pose[:3, :3]))
    else:  # MuJoCo planes must be static: a large box whose top face is the boundary
        frame = _plane_frame(geometry.pose[:3, :3])
        geom = body.add_geom(name=geometry.name, type=mujoco.mjtGeom.mjGEOM_BOX)
        geom.size = [HALF_SPACE_BOX[0], HALF_SPACE_BOX[0], HALF_SPACE_BOX[1]]
        geom.pos = geometry.pose[:3, 3] - HALF_SPACE_BOX[1] * frame[:, 2]
        geom.quat = quat_from_matrix(frame)
        geom.density = 0
        geom.contype, geom.conaffinity = 0, 1
        geom.rgba = [0.5, 0.55, 0.6, 1.0]
    geom.friction = list(_DEFAULT_FRICTION)
    geom.group = CONTACT_GROUP


def _plane_frame(rotation: np.ndarray) -> np.ndarray:
    """OpenSim's half space is x > 0 of its frame (outward normal -x); a MuJoCo plane's outward
    normal is its +z, so the plane frame's z must be the half space's -x."""
    return rotation @ axis_angle([0, 1, 0], -np.pi / 2)


def _add_contact_mesh(builder, geometry: ContactMesh) -> np.ndarray | None:
    """A collision mesh (vertices inline, no file); its faces' normals and areas
    (:func:`_face_data`), or None if its file is missing."""
    found = find_mesh(
        geometry.mesh_file, Path(builder.model.path).parent, builder.options.geometry_dirs
    )
    if found is None:
        builder.result.missing_meshes.append(geometry.mesh_file)
        builder.result.warnings.append(
            f"contact mesh '{geometry.name}': {geometry.mesh_file} not found; no contact"
        )
        return None
    mesh = read_mesh(found)
    faces = mesh.faces
    asset = builder.spec.add_mesh(name=f"{geometry.name}_contact")
    asset.uservert = mesh.vertices.ravel().tolist()
    asset.userface = faces.ravel().tolist()
    geom = builder.bodies[geometry.body].add_geom(
        name=geometry.name, type=mujoco.mjtGeom.mjGEOM_MESH, meshname=asset.name
    )
    geom.pos = geometry.pose[:3, 3]
    geom.quat = quat_from_matrix(geometry.pose[:3, :3])
    geom.contype = geom.conaffinity = 0  # collides only where a force pairs it (below)
    geom.density = 0
    geom.group = CONTACT_GROUP
    geom.rgba = [0.2, 0.6, 1.0, 0.6]
    geom.friction = list(_DEFAULT_FRICTION)
    return _face_data(mesh.vertices, faces, geometry.pose)


def _face_data(vertices: np.ndarray, faces: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """(m, 4) per face: unit outward normal in the body frame and area (m^2)."""
    corners = vertices[faces] @ pose[:3, :3].T
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    normal = cross / np.maximum(2 * area, 1e-300)[:, None]
    return np.column_stack([normal, area])


def _pairs(force: ContactForce, shapes: dict[str, _Shape]):
    """(moving geometry, half space, its parameters, the half space's) for each pair a force
    makes: a sphere or mesh and a half space named by the force (in any of its parameter sets)."""
    named = {g: p for p in force.parameters for g in p.geometry if g in shapes}
    for name, params in named.items():
        if isinstance(shapes[name], ContactHalfSpace):
            continue
        for other, other_params in named.items():
            if isinstance(shapes[other], ContactHalfSpace):
                yield shapes[name], shapes[other], params, other_params


def _apply_contact_laws(builder, shapes: dict[str, _Shape], meshes: dict[str, np.ndarray]) -> None:
    """Give each (sphere or mesh, half space) pair of a contact force its MuJoCo contact law."""
    model = builder.model
    gravity = float(np.linalg.norm(model.gravity)) or 9.80665
    pairs = [(f, *pair) for f in model.contact_forces for pair in _pairs(f, shapes)]
    trees = _trees(model)
    counts: dict[str, int] = {}
    for _, shape, *_ in pairs:
        root = trees[shape.body][0]
        counts[root] = counts.get(root, 0) + 1
    world = (*_default_pose(builder), meshes) if pairs else None
    done: set[str] = set()
    for force, shape, half_space, params, half_params in pairs:
        root, tree_mass = trees[shape.body]
        if root is None or shape.name in done:
            builder.result.warnings.append(
                f"contact {shape.name}-{half_space.name} of {force.name}: "
                + (
                    "has a contact law already (one per geometry)"
                    if root is not None
                    else "on a fixed body"
                )
            )
            continue
        load = tree_mass * gravity / max(1.0, counts[root] / 2)
        law = _law(force, shape, half_space, params, half_params, load, gravity, builder, world)
        if law is None:
            continue
        done.add(shape.name)
        geom = builder.spec.geom(shape.name)
        geom.solref, geom.solimp, geom.friction = law.solref, law.solimp, law.friction
        geom.priority = 1
        if isinstance(shape, ContactMesh):
            geom.contype, builder.spec.geom(half_space.name).conaffinity = 2, 3
        builder.result.contact_laws.append(law.to_dict())
        if law.limited_by_timestep:
            builder.result.warnings.append(
                f"contact {shape.name}: stiffer in OpenSim than a {builder.options.timestep} s "
                "step can follow; softened"
            )


def _law(
    force: ContactForce,
    shape: ContactSphere | ContactMesh,
    half_space: ContactHalfSpace,
    params: ContactParameters,
    half_params: ContactParameters,
    load: float,
    gravity: float,
    builder,
    world: tuple,
) -> ContactLaw | None:
    """The :class:`ContactLaw` of one pair, or None (with a warning) if it has no force."""
    where = f"contact {shape.name}-{half_space.name} of {force.type} '{force.name}'"
    if force.type == "ElasticFoundationForce":
        if not isinstance(shape, ContactMesh) or world is None or shape.name not in world[2]:
            builder.result.warnings.append(f"{where}: elastic foundation needs a mesh; no force")
            return None
        area = _facing_area(world, shape, half_space)
        if area <= 0 or params.stiffness <= 0:
            builder.result.warnings.append(f"{where}: no mesh face faces the half space; no force")
            return None
        depth, stiffness, ratio = foundation_law(
            params.stiffness, area, load, params.dissipation, gravity
        )
        statics, dynamic, law = (
            params.static_friction,
            params.dynamic_friction,
            "elastic_foundation",
        )
    elif isinstance(shape, ContactSphere):
        if force.type == "SmoothSphereHalfSpaceForce":
            modulus, dissipation = hertz_modulus(params.stiffness), params.dissipation
            statics, dynamic = params.static_friction, params.dynamic_friction
        else:
            modulus, dissipation, statics, dynamic = mixed_parameters(params, half_params)
        if modulus <= 0:
            builder.result.warnings.append(f"{where}: zero stiffness; no force")
            return None
        depth, stiffness, ratio = hertz_law(modulus, shape.radius, load, dissipation, gravity)
        law = "hertz"
    else:
        builder.result.warnings.append(f"{where}: Hunt-Crossley acts on spheres only; no force")
        return None
    points = MESH_CONTACT_POINTS if isinstance(shape, ContactMesh) else 1
    model, _, _ = world
    inverse_weight = float(
        model.body_invweight0[model.body(shape.body).id, 0]
        + model.body_invweight0[model.body(half_space.body).id, 0]
    )
    solref, solimp, limited = mujoco_contact(
        depth, ratio, gravity, builder.options.timestep, points, inverse_weight * load / gravity
    )
    return ContactLaw(
        geometry=shape.name,
        other=half_space.name,
        force=force.name,
        law=law,
        design_load=load,
        penetration=depth,
        stiffness=stiffness,
        damping_ratio=ratio,
        static_friction=statics,
        dynamic_friction=dynamic,
        solref=solref,
        solimp=solimp,
        friction=(max(dynamic, 1e-3), *_DEFAULT_FRICTION[1:]),
        inverse_weight=inverse_weight,
        limited_by_timestep=limited,
    )


def _trees(model) -> dict[str, tuple[str | None, float]]:
    """body -> (its tree's root body, the tree's mass kg); root None for bodies fixed to ground."""
    parent = {j.child_body: j for j in model.joints}
    roots: dict[str, tuple[str | None, bool]] = {}
    for body in model.bodies:
        moving, b = False, body
        while b in parent and parent[b].parent_body != model.ground:
            moving = moving or bool(parent[b].coordinates)
            b = parent[b].parent_body
        moving = moving or (b in parent and bool(parent[b].coordinates))
        roots[body] = (b, moving)
    mass: dict[str, float] = {}
    for body, (root, _) in roots.items():
        mass[root] = mass.get(root, 0.0) + model.bodies[body].mass
    trees = {b: (r if moving else None, mass[r]) for b, (r, moving) in roots.items()}
    trees[model.ground] = (None, 0.0)
    return trees


def _default_pose(builder):
    """Model and data at the default pose (body rotations, ``body_invweight0``), from a compile
    of the spec built so far."""
    model = builder.spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    return model, data


def _facing_area(world, shape: ContactMesh, half_space: ContactHalfSpace) -> float:
    """Area (m^2) of the mesh faces whose outward normal is within 30 degrees of pointing into the
    half space at the default pose: the patch an elastic foundation carries a load on."""
    model, data, meshes = world
    faces = meshes[shape.name]
    rotation = data.xmat[model.body(shape.body).id].reshape(3, 3)
    plane = model.geom(half_space.name).id
    inward = -data.geom_xmat[plane].reshape(3, 3)[:, 2]  # plane or box: z is the outward normal
    facing = (faces[:, :3] @ rotation.T) @ inward > math.cos(math.radians(30))
    return float(faces[facing, 3].sum())


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
