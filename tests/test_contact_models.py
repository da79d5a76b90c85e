"""Models with OpenSim contact (``::`` element names, Hunt-Crossley, elastic foundation) convert:
the MJCF loads, contact geometry sits where OpenSim puts it, and a sphere dropped on the floor
settles at the Hertz depth OpenSim itself settles at.

The models are built with the ``opensim`` package and saved with ``printToXML`` (OpenSim 4 writes
``<HuntCrossleyForce::ContactParametersSet>``), like OpenSim's walker and bouncing-block examples.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import mujoco
import numpy as np
import pytest

from converters.mjcf.builder import ConvertOptions
from converters.mjcf.contact_law import mixed_parameters
from converters.model_conversion import convert_osim
from converters.osim.model import ContactParameters
from converters.osim.parser import load_osim
from converters.spatial import OPENSIM_TO_MUJOCO

opensim = pytest.importorskip("opensim")

MASS, RADIUS, STIFFNESS, GRAVITY = 2.0, 0.05, 1e6, 9.80665


def _cube(folder: Path) -> None:
    lines = []
    for z in (-0.05, 0.05):
        for x, y in ((-0.05, -0.05), (0.05, -0.05), (0.05, 0.05), (-0.05, 0.05)):
            lines.append(f"v {x} {y} {z}")
    faces = [(1, 3, 2), (1, 4, 3), (5, 6, 7), (5, 7, 8), (1, 2, 6), (1, 6, 5)]
    faces += [(2, 3, 7), (2, 7, 6), (3, 4, 8), (3, 8, 7), (4, 1, 5), (4, 5, 8)]
    lines += [f"f {a} {b} {c}" for a, b, c in faces]
    (folder / "cube.obj").write_text("\n".join(lines) + "\n")


def _block_model(
    folder: Path, sphere_at=(0.0, 0.0, 0.0), dissipation=5.0, mesh=False, platform=False
) -> Path:
    """A free block (2 kg) with a 5 cm sphere (Hunt-Crossley) or a 10 cm cube mesh (elastic
    foundation) on a floor half space (on ground, or on a platform sliding along x), as OpenSim
    writes it."""
    _cube(folder)
    model = opensim.Model()
    model.setName("drop_mesh" if mesh else "drop_platform" if platform else "drop")
    model.setGravity(opensim.Vec3(0, -GRAVITY, 0))
    block = opensim.Body("block", MASS, opensim.Vec3(0), opensim.Inertia(0.01, 0.01, 0.01))
    model.addBody(block)
    zero = opensim.Vec3(0)
    model.addJoint(opensim.FreeJoint("free", model.getGround(), zero, zero, block, zero, zero))
    floor_frame = model.getGround()
    if platform:
        floor_frame = opensim.Body("platform", 10.0, zero, opensim.Inertia(1, 1, 1))
        model.addBody(floor_frame)
        model.addJoint(
            opensim.SliderJoint("slide", model.getGround(), zero, zero, floor_frame, zero, zero)
        )
    floor = opensim.ContactHalfSpace(zero, opensim.Vec3(0, 0, -math.pi / 2), floor_frame, "floor")
    model.addContactGeometry(floor)
    if mesh:
        here = os.getcwd()
        os.chdir(folder)  # OpenSim loads the mesh file from the working folder when built
        try:
            model.addContactGeometry(opensim.ContactMesh("cube.obj", zero, zero, block, "cube"))
        finally:
            os.chdir(here)
        force = opensim.ElasticFoundationForce()
        force.addGeometry("cube")
        force.setStiffness(1e7)
    else:
        where = opensim.Vec3(*sphere_at)
        model.addContactGeometry(opensim.ContactSphere(RADIUS, where, block, "ball"))
        force = opensim.HuntCrossleyForce()
        force.addGeometry("ball")
        force.setStiffness(STIFFNESS)
    force.setName("contact")
    force.addGeometry("floor")
    force.setDissipation(dissipation)
    force.setStaticFriction(0.9)
    force.setDynamicFriction(0.8)
    model.addForce(force)
    model.finalizeConnections()
    path = folder / f"{model.getName()}.osim"
    model.printToXML(str(path))
    return path


def _convert(path: Path):
    return convert_osim(path, ConvertOptions(meshes=False, muscle_actuators=False))


def _settle(converted, geometry: str, seconds: float = 2.0) -> float:
    """Depth (m) below the floor of the geometry's lowest point after a drop from 5 mm."""
    model, data = converted.mj_model, mujoco.MjData(converted.mj_model)
    mujoco.mj_kinematics(model, data)
    lowest = _lowest(model, data, geometry)
    vertical = next(
        j
        for j in range(model.njnt)
        if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_SLIDE and abs(data.xaxis[j][2]) > 0.9
    )
    data.qpos[model.jnt_qposadr[vertical]] += 0.005 - lowest
    for _ in range(int(seconds / model.opt.timestep)):
        mujoco.mj_step(model, data)
    mujoco.mj_kinematics(model, data)
    assert np.abs(data.qvel).max() < 1e-3, "still moving"
    return -_lowest(model, data, geometry)


def _lowest(model, data, geometry: str) -> float:
    g = model.geom(geometry).id
    if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE:
        return float(data.geom_xpos[g][2] - model.geom_size[g][0])
    mesh = model.geom_dataid[g]
    start, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
    local = model.mesh_vert[start : start + count]
    world = local @ data.geom_xmat[g].reshape(3, 3).T + data.geom_xpos[g]
    return float(world[:, 2].min())


def test_double_colon_elements_are_read(tmp_path: Path):
    path = _block_model(tmp_path)
    assert "<HuntCrossleyForce::ContactParametersSet" in path.read_text()
    model = load_osim(path)
    (force,) = model.contact_forces
    assert force.type == "HuntCrossleyForce"
    (params,) = force.parameters
    assert params.geometry == ["ball", "floor"]
    assert (params.stiffness, params.dissipation) == (STIFFNESS, 5.0)
    assert (params.static_friction, params.dynamic_friction) == (0.9, 0.8)
    assert not model.unsupported


def test_a_broken_double_colon_file_still_reports_its_real_error(tmp_path: Path):
    from converters.errors import FileFormatError

    path = _block_model(tmp_path)
    text = path.read_text()
    path.write_text(text.replace("</HuntCrossleyForce::ContactParametersSet>", "", 1))
    with pytest.raises(FileFormatError, match=r"drop\.osim:\d+: not a readable XML file"):
        load_osim(path)


def test_contact_geometry_sits_where_opensim_puts_it(tmp_path: Path):
    opensim.Logger.setLevelString("error")
    path = _block_model(tmp_path, sphere_at=(0.01, -0.02, 0.03))
    converted = _convert(path)
    model, data = converted.mj_model, mujoco.MjData(converted.mj_model)
    model_os = opensim.Model(str(path))
    state = model_os.initSystem()
    coordinates = model_os.getCoordinateSet()
    pose = [0.3, -0.4, 0.5, 0.1, 0.7, -0.2]  # free_coord_0..5: rotations, then translations
    for k, value in enumerate(pose):
        coordinates.get(f"free_coord_{k}").setValue(state, value)
        qpos = model.jnt_qposadr[model.joint(f"free_coord_{k}").id]
        data.qpos[qpos] = value
    model_os.realizePosition(state)
    mujoco.mj_kinematics(model, data)
    sphere = opensim.ContactSphere.safeDownCast(model_os.getContactGeometrySet().get("ball"))
    centre = sphere.getFrame().findStationLocationInGround(state, sphere.get_location())
    expected = OPENSIM_TO_MUJOCO @ np.array([centre.get(i) for i in range(3)])
    ball = model.geom("ball").id
    np.testing.assert_allclose(data.geom_xpos[ball], expected, atol=1e-12)
    assert model.geom_size[ball][0] == RADIUS
    assert model.geom_bodyid[ball] == model.body("block").id
    floor = model.geom("floor").id
    assert model.geom_type[floor] == mujoco.mjtGeom.mjGEOM_PLANE
    np.testing.assert_allclose(data.geom_xmat[floor].reshape(3, 3)[:, 2], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(data.geom_xpos[floor], 0, atol=1e-12)


def test_hunt_crossley_sphere_settles_at_the_hertz_depth(tmp_path: Path):
    """Static depth from Simbody's law, f = 4/3 E sqrt(R) d^1.5 with E = (k^(2/3)/2)^1.5 for one
    parameter set on both surfaces; OpenSim's own simulation agrees to 1e-7 m; MuJoCo within 1%
    (its elliptic-cone contact is a constant-impedance spring tuned to this depth)."""
    opensim.Logger.setLevelString("error")
    path = _block_model(tmp_path)
    modulus = (0.5 * STIFFNESS ** (2 / 3)) ** 1.5
    expected = (MASS * GRAVITY / (4 / 3 * modulus * math.sqrt(RADIUS))) ** (2 / 3)
    assert 0.0032 < expected < 0.0033  # 3.26 mm for 2 kg on k = 1e6

    model_os = opensim.Model(str(path))
    state = model_os.initSystem()
    model_os.getCoordinateSet().get("free_coord_4").setValue(state, RADIUS + 0.005)
    manager = opensim.Manager(model_os)
    manager.setIntegratorAccuracy(1e-6)
    manager.initialize(state)
    state = manager.integrate(1.0)
    opensim_depth = RADIUS - model_os.getCoordinateSet().get("free_coord_4").getValue(state)
    assert opensim_depth == pytest.approx(expected, abs=1e-7)

    converted = _convert(path)
    (law,) = converted.map["contact_laws"]
    assert law["geometry"] == "ball" and law["other"] == "floor" and law["law"] == "hertz"
    assert law["design_load"] == pytest.approx(MASS * GRAVITY)
    assert law["penetration"] == pytest.approx(expected, rel=1e-9)
    assert _settle(converted, "ball") == pytest.approx(expected, rel=0.01)


def test_half_space_on_a_moving_body_becomes_a_box_the_sphere_rests_on(tmp_path: Path):
    """MuJoCo planes must be static: a half space on a sliding platform is a large box whose top
    face is the boundary; the ball settles on it at the same Hertz depth (1%)."""
    converted = _convert(_block_model(tmp_path, platform=True))
    model = converted.mj_model
    floor = model.geom("floor").id
    assert model.geom_type[floor] == mujoco.mjtGeom.mjGEOM_BOX
    assert model.geom_bodyid[floor] == model.body("platform").id
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    top = (
        data.geom_xpos[floor]
        + model.geom_size[floor][2] * data.geom_xmat[floor].reshape(3, 3)[:, 2]
    )
    np.testing.assert_allclose(top, 0, atol=1e-12)
    modulus = STIFFNESS / 2**1.5
    expected = (MASS * GRAVITY / (4 / 3 * modulus * math.sqrt(RADIUS))) ** (2 / 3)
    assert _settle(converted, "ball") == pytest.approx(expected, rel=0.01)


def test_friction_and_damping_follow_the_opensim_parameters(tmp_path: Path):
    converted = _convert(_block_model(tmp_path, dissipation=1.0))
    (law,) = converted.map["contact_laws"]
    model = converted.mj_model
    ball = model.geom("ball").id
    assert model.geom_friction[ball][0] == pytest.approx(0.8)  # dynamic friction
    assert model.geom_priority[ball] > model.geom_priority[model.geom("floor").id]
    # linearised Hertz damping ratio: 1.5 c W / (2 sqrt(1.5 W/d * W/g)) = c/2 sqrt(1.5 g d)
    depth = law["penetration"]
    assert law["damping_ratio"] == pytest.approx(0.5 * math.sqrt(1.5 * GRAVITY * depth))
    # solref = -(K, B) A m with MuJoCo's inverse weight A of the contact (~1/m for a free block)
    scale = law["inverse_weight"] * MASS
    assert scale == pytest.approx(1.0, abs=0.02)
    stiffness, damping = -model.geom_solref[ball] / scale
    assert damping / (2 * math.sqrt(stiffness)) == pytest.approx(law["damping_ratio"])


def test_simbody_mixes_two_parameter_sets():
    """Simbody: k' = k^(2/3); E = (k1' k2'/(k1'+k2'))^1.5; friction by harmonic mean."""
    soft = ContactParameters([], 1e6, 1.0, 0.9, 0.8)
    hard = ContactParameters([], 8e6, 3.0, 0.6, 0.4)
    modulus, dissipation, static, dynamic = mixed_parameters(soft, hard)
    assert modulus == pytest.approx(
        (1e4 * 4e4 / 5e4) ** 1.5
    )  # (1e6)^(2/3) = 1e4, (8e6)^(2/3) = 4e4
    assert dissipation == pytest.approx(0.8 * 1.0 + 0.2 * 3.0)
    assert static == pytest.approx(2 * 0.9 * 0.6 / 1.5)
    assert dynamic == pytest.approx(2 * 0.8 * 0.4 / 1.2)
    same = mixed_parameters(soft, soft)[0]
    assert same == pytest.approx(1e6 / 2**1.5)


def test_elastic_foundation_mesh_converts_and_carries_the_block(tmp_path: Path):
    """Elastic foundation: f = k A d over the 0.01 m^2 face on the floor, so 2 kg sinks
    W / (k A) = 0.196 mm. MuJoCo touches the face at four hull points sharing the load (within 1%;
    dissipation 50 s/m so that it settles in 2 s)."""
    path = _block_model(tmp_path, mesh=True, dissipation=50.0)
    assert "<ElasticFoundationForce::ContactParametersSet" in path.read_text()
    converted = _convert(path)
    (law,) = converted.map["contact_laws"]
    expected = MASS * GRAVITY / (1e7 * 0.01)
    assert law["law"] == "elastic_foundation"
    assert law["penetration"] == pytest.approx(expected)
    model = converted.mj_model
    cube = model.geom("cube").id
    assert model.geom_type[cube] == mujoco.mjtGeom.mjGEOM_MESH
    assert model.geom_bodyid[cube] == model.body("block").id
    assert model.geom_friction[cube][0] == pytest.approx(0.8)
    depth = _settle(converted, "cube")
    assert depth == pytest.approx(expected, rel=0.01)


def test_converted_contact_model_is_written_and_reloads(tmp_path: Path):
    from converters.model_conversion import write_converted

    path = _block_model(tmp_path, mesh=True)
    paths = write_converted(_convert(path), tmp_path / "out")
    reloaded = mujoco.MjModel.from_xml_path(str(paths["mjcf"]))
    assert reloaded.geom("cube").type == mujoco.mjtGeom.mjGEOM_MESH
    assert reloaded.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC


def test_smooth_sphere_contacts_of_a_real_model_use_simbody_stiffness(shared_data: Path):
    """LaiArnoldModified2017_contacts: SmoothSphereHalfSpaceForce, E = (k^(2/3)/2)^1.5."""
    path = shared_data / "opencap-processing/Moco/models/LaiArnoldModified2017_contacts.osim"
    converted = convert_osim(path, ConvertOptions(meshes=False, muscles=False))
    laws = {law["geometry"]: law for law in converted.map["contact_laws"]}
    assert set(laws) == {f"s{k}_{side}" for k in range(1, 7) for side in "rl"}
    law = laws["s1_r"]
    radius = converted.mj_model.geom_size[converted.mj_model.geom("s1_r").id][0]
    modulus = (0.5 * 1e6 ** (2 / 3)) ** 1.5
    depth = (law["design_load"] / (4 / 3 * modulus * math.sqrt(radius))) ** (2 / 3)
    assert law["penetration"] == pytest.approx(depth)
    assert law["design_load"] == pytest.approx(converted.osim.total_mass * GRAVITY / 6)
