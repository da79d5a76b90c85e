"""`.osim` -> MuJoCo: every shared model converts, equals OpenSim kinematically and steps stably."""

from __future__ import annotations

import gc
import json
import tempfile
from pathlib import Path

import mujoco
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import shared_data_dir

from converters.errors import KintwinError
from converters.mjcf.builder import ConvertOptions
from converters.model_conversion import convert_osim, write_converted
from converters.opensim_reference.log import import_opensim
from converters.validate import BARS, sample_poses, validate_kinematics
from kintwin_cli.main import cli

MODELS = sorted(shared_data_dir().rglob("*.osim"))
GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"


def _id(path: Path) -> str:
    return str(path.relative_to(shared_data_dir()))


def test_every_acceptance_model_is_here():
    names = {p.name for p in MODELS}
    for expected in [
        "subject01.osim",
        "gait2392_millard2012muscle.osim",
        "Rajagopal2016.osim",
        "RajagopalLaiUhlrich2023.osim",
        "LaiUhlrich2022.osim",
        "arm26.osim",
        "LaiArnoldModified2017_contacts.osim",
        "Model_Pose2Sim_LSTM_scaled.osim",
        "Model_Pose2Sim_body25b_scaled.osim",
        "unscaled_generic.osim",
        "subject2_withMTP_weldRadius_scaled_FK.osim",
    ]:
        assert expected in names


@pytest.mark.parametrize("path", MODELS, ids=_id)
def test_kinematics_and_mass_equal_opensim(path: Path):
    converted = convert_osim(path, ConvertOptions(meshes=False, muscle_actuators=False), exact=True)
    coordinates = converted.osim.coordinates
    locked = {c.name: c.default_value for c in coordinates.values() if c.locked}
    ranges = {c.name: c.range for c in coordinates.values()}
    poses = {
        c: v
        for c, v in sample_poses(converted.kinematics, ranges, 40, seed=1).items()
        if c not in locked
    }
    report = validate_kinematics(path, converted.mj_model, converted.kinematics, poses, locked)
    assert report.failures(BARS) == [], report


@pytest.mark.parametrize("path", MODELS, ids=_id)
def test_written_mjcf_loads_and_steps_stably(path: Path, tmp_path: Path):
    converted = convert_osim(path)
    paths = write_converted(converted, tmp_path)
    model = mujoco.MjModel.from_xml_path(str(paths["mjcf"]))
    data = mujoco.MjData(model)
    assert np.allclose(data.qpos, model.qpos0)
    for _ in range(1000):
        before = data.time
        mujoco.mj_step(model, data)
        assert data.time > before, "MuJoCo reset the simulation: it became unstable"
    assert np.all(np.isfinite(data.qpos)) and np.all(np.isfinite(data.qvel))


def test_default_pose_satisfies_every_coupling(shared_data: Path):
    converted = convert_osim(
        shared_data / "opensim-models/Models/Rajagopal/Rajagopal2016.osim",
        ConvertOptions(meshes=False, muscle_actuators=False),
    )
    exact = converted.kinematics.qpos({}, converted.mj_model.nq)[0]
    np.testing.assert_allclose(converted.mj_model.qpos0, exact, atol=1e-12)
    data = mujoco.MjData(converted.mj_model)
    mujoco.mj_forward(converted.mj_model, data)
    equality_rows = data.efc_type == mujoco.mjtConstraint.mjCNSTR_EQUALITY
    assert np.abs(data.efc_pos[equality_rows]).max() < 1e-12


def test_map_names_joints_as_coordinates(shared_data: Path, tmp_path: Path):
    converted = convert_osim(shared_data / f"{GAIT10}/subject01.osim")
    paths = write_converted(converted, tmp_path)
    mapping = json.loads(paths["map"].read_text())
    model = mujoco.MjModel.from_xml_path(str(paths["mjcf"]))
    assert [c["name"] for c in mapping["coordinates"]][:3] == [
        "pelvis_tilt",
        "pelvis_tx",
        "pelvis_ty",
    ]
    for entry in mapping["coordinates"]:
        joint = model.joint(entry["joint"])
        assert entry["joint"] == entry["name"] and joint.qposadr[0] == entry["qpos"]
    dependent = {d["joint"]: d for d in mapping["dependent_joints"]}
    skeletal = {j for j, d in dependent.items() if d["opensim_joint"] in ("knee_r", "knee_l")}
    assert skeletal == {
        "knee_r_translation1",
        "knee_r_translation2",
        "knee_l_translation1",
        "knee_l_translation2",
    }
    muscles = {m["name"] for m in mapping["muscles"]}
    assert {d["opensim_joint"] for j, d in dependent.items() if j not in skeletal} <= muscles
    assert mapping["total_mass"] == pytest.approx(72.6)
    assert len(mapping["markers"]) == 39 and mapping["ground_in_mujoco_world"][2] == [0, 1, 0]


def test_auto_contact_and_its_switch(shared_data: Path):
    path = shared_data / f"{GAIT10}/subject01.osim"
    with_contact = convert_osim(path, ConvertOptions(meshes=False, muscle_actuators=False)).mj_model
    spheres = [
        with_contact.geom(g).name
        for g in range(with_contact.ngeom)
        if with_contact.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE
    ]
    assert len(spheres) == 12 and all(s.startswith("kintwin_contact") for s in spheres)
    without = convert_osim(path, ConvertOptions(meshes=False, auto_contact=False)).mj_model
    assert not any(without.geom_type == mujoco.mjtGeom.mjGEOM_SPHERE)
    own = convert_osim(
        shared_data / "opencap-processing/Moco/models/LaiArnoldModified2017_contacts.osim",
        ConvertOptions(meshes=False, muscle_actuators=False),
    )
    names = {own.mj_model.geom(g).name for g in range(own.mj_model.ngeom)}
    assert {"s1_r", "s6_l", "floor"} <= names and not own.conversion.auto_contact


def test_contact_spheres_touch_the_floor_where_opensim_puts_them(shared_data: Path):
    opensim = import_opensim()
    path = shared_data / "opencap-processing/Moco/models/LaiArnoldModified2017_contacts.osim"
    converted = convert_osim(path, ConvertOptions(meshes=False, muscle_actuators=False))
    model, data = converted.mj_model, mujoco.MjData(converted.mj_model)
    mujoco.mj_kinematics(model, data)
    osim = opensim.Model(str(path))
    state = osim.initSystem()
    sphere = opensim.ContactSphere.safeDownCast(osim.getContactGeometrySet().get("s1_r"))
    where = sphere.getFrame().findStationLocationInGround(state, sphere.get_location())
    expected = np.array([where.get(0), where.get(1), where.get(2)])
    from converters.spatial import OPENSIM_TO_MUJOCO

    np.testing.assert_allclose(
        data.geom_xpos[model.geom("s1_r").id], OPENSIM_TO_MUJOCO @ expected, atol=1e-12
    )


def test_meshes_are_written_beside_the_mjcf(shared_data: Path, tmp_path: Path):
    paths = write_converted(
        convert_osim(shared_data / "opensim-models/Models/Arm26/arm26.osim"), tmp_path
    )
    meshes = sorted((tmp_path / "arm26_meshes").glob("*.stl"))
    assert len(meshes) == 36
    assert mujoco.MjModel.from_xml_path(str(paths["mjcf"])).nmesh == 36


def test_old_format_model_is_upgraded(shared_data: Path):
    old = shared_data / "opensim-core/Applications/Analyze/tests/resources/arm26.osim"
    assert 'Version="30000"' in old.read_text()[:200]
    converted = convert_osim(old, ConvertOptions(meshes=False, muscle_actuators=False))
    assert converted.osim.version == 30000
    assert list(converted.osim.coordinates) == ["r_shoulder_elev", "r_elbow_flex"]


def test_conversion_leaves_no_temporary_folders(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Batch pipelines convert thousands of times: meshes and upgraded copies must not pile up."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old = shared_data / "opensim-core/Applications/Analyze/tests/resources/arm26.osim"
    convert_osim(old, ConvertOptions(meshes=False, muscle_actuators=False))
    converted = convert_osim(shared_data / "opensim-models/Models/Arm26/arm26.osim")
    assert converted.mesh_dir is not None and any(converted.mesh_dir.glob("*.stl"))
    del converted
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def _edited_arm26(shared_data: Path, tmp_path: Path, old: str, new: str) -> Path:
    text = (shared_data / "opensim-models/Models/Arm26/arm26.osim").read_text()
    assert old in text
    target = tmp_path / "edited.osim"
    target.write_text(text.replace(old, new, 1))
    return target


def test_unsupported_force_is_listed_with_its_place(shared_data: Path, tmp_path: Path):
    path = _edited_arm26(
        shared_data,
        tmp_path,
        '<ForceSet name="forceset">\n\t\t\t<objects>',
        '<ForceSet name="forceset">\n\t\t\t<objects><ExpressionBasedCoordinateForce '
        'name="spring"><coordinate>r_elbow_flex</coordinate><expression>-10*q'
        "</expression></ExpressionBasedCoordinateForce>",
    )
    converted = convert_osim(path, ConvertOptions(meshes=False, muscle_actuators=False))
    assert any(
        u.startswith("ExpressionBasedCoordinateForce 'spring' at edited.osim:")
        for u in converted.map["unsupported"]
    )


def test_unknown_joint_type_is_an_error_naming_it(shared_data: Path, tmp_path: Path):
    path = _edited_arm26(
        shared_data, tmp_path, '<WeldJoint name="offset">', '<EllipsoidJoint name="offset">'
    )
    path.write_text(path.read_text().replace("</WeldJoint>", "</EllipsoidJoint>", 1))
    with pytest.raises(
        KintwinError, match=r"edited.osim:\d+: joint type EllipsoidJoint \('offset'\)"
    ):
        convert_osim(path, ConvertOptions(meshes=False, muscle_actuators=False))


def test_cli_convert_model_refuses_to_overwrite(shared_data: Path, tmp_path: Path):
    model = str(shared_data / f"{GAIT10}/subject01.osim")
    first = CliRunner().invoke(cli, ["convert", "model", model, "-o", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "subject01.xml").is_file() and (tmp_path / "subject01_map.json").is_file()
    again = CliRunner().invoke(cli, ["convert", "model", model, "-o", str(tmp_path)])
    assert again.exit_code == 2 and "exists already; use --force" in again.output
    assert (
        CliRunner()
        .invoke(cli, ["convert", "model", model, "-o", str(tmp_path), "--force"])
        .exit_code
        == 0
    )


def _two_link_model(joint_type: str, path: Path) -> Path:
    """A ground-body-body chain joined by ``joint_type``, with offset and rotated joint frames,
    an off-diagonal inertia and markers: built and saved by the opensim package itself."""
    opensim = import_opensim()
    model = opensim.Model()
    model.setName(joint_type)
    parent = model.getGround()
    for i in range(2):
        body = opensim.Body(
            f"b{i}",
            1.5 + i,
            opensim.Vec3(0.1, -0.2, 0.05),
            opensim.Inertia(0.1, 0.2, 0.15, 0.01, -0.02, 0.005),
        )
        model.addBody(body)
        joint = getattr(opensim, joint_type)(
            f"j{i}",
            parent,
            opensim.Vec3(0.05, 0.3, -0.1),
            opensim.Vec3(0.2, -0.4, 0.3),
            body,
            opensim.Vec3(-0.02, 0.1, 0.04),
            opensim.Vec3(-0.3, 0.1, 0.5),
        )
        model.addJoint(joint)
        model.addMarker(opensim.Marker(f"m{i}", body, opensim.Vec3(0.1, 0.2, 0.3)))
        parent = body
    model.finalizeConnections()
    model.printToXML(str(path))
    return path


@pytest.mark.parametrize(
    "joint_type",
    [
        "PinJoint",
        "SliderJoint",
        "UniversalJoint",
        "GimbalJoint",
        "BallJoint",
        "FreeJoint",
        "PlanarJoint",
        "WeldJoint",
    ],
)
def test_every_joint_type_equals_opensim(joint_type: str, tmp_path: Path):
    path = _two_link_model(joint_type, tmp_path / f"{joint_type}.osim")
    converted = convert_osim(path, ConvertOptions(meshes=False, auto_contact=False), exact=True)
    ranges = {c.name: c.range for c in converted.osim.coordinates.values()}
    poses = sample_poses(converted.kinematics, ranges, 30, seed=2)
    report = validate_kinematics(path, converted.mj_model, converted.kinematics, poses, {})
    assert report.failures(BARS) == [], report
