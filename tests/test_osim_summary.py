"""``.osim`` summaries checked against the model XML itself (counted with lxml) and OpenSim's types."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from converters.errors import FileFormatError
from converters.osim.summary import (
    ModelSummary,
    coordinate_motion_types,
    format_summary,
    summarize_model,
)

GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference/subject01.osim"
ARM26 = "opensim-models/Models/Arm26/arm26.osim"
RAJAGOPAL = "opensim-models/Models/Rajagopal/RajagopalLaiUhlrich2023.osim"
CONTACTS = "opencap-processing/Moco/models/LaiArnoldModified2017_contacts.osim"


def _model_xml(path: Path) -> etree._Element:
    return etree.parse(str(path)).getroot().find("Model")


def _set_children(model: etree._Element, set_tag: str) -> list[etree._Element]:
    """The elements listed in ``<set_tag><objects>`` of the model (comments excluded)."""
    objects = model.find(f"{set_tag}/objects")
    return [] if objects is None else [e for e in objects if isinstance(e.tag, str)]


@pytest.fixture(scope="module")
def gait10(shared_data: Path) -> ModelSummary:
    return summarize_model(shared_data / GAIT10)


@pytest.fixture(scope="module")
def arm26(shared_data: Path) -> ModelSummary:
    return summarize_model(shared_data / ARM26)


def test_gait10dof18musc_matches_its_xml(gait10: ModelSummary, shared_data: Path) -> None:
    root = etree.parse(str(shared_data / GAIT10)).getroot()
    model = root.find("Model")
    assert gait10.name == model.get("name") == "walk_subject01"
    assert gait10.version == int(root.get("Version"))
    assert len(gait10.coordinates) == len(model.findall(".//Coordinate")) == 10
    assert len(gait10.muscle_names) == len(model.findall(".//Millard2012EquilibriumMuscle")) == 18
    assert gait10.muscles_by_type == {"Millard2012EquilibriumMuscle": 18}
    assert gait10.forces_by_type == {} and gait10.force_names == ()
    assert gait10.markers == tuple(m.get("name") for m in _set_children(model, "MarkerSet"))
    assert gait10.gravity == tuple(float(v) for v in model.findtext("gravity").split())
    masses = {b.get("name"): float(b.findtext("mass")) for b in _set_children(model, "BodySet")}
    assert {b.name: b.mass for b in gait10.bodies} == pytest.approx(masses)
    joints = Counter(j.tag for j in _set_children(model, "JointSet"))
    assert gait10.joints_by_type == dict(joints)
    assert sum(gait10.joints_by_type.values()) == len(gait10.joints)


def test_total_mass_is_sum_of_body_masses(gait10: ModelSummary, arm26: ModelSummary) -> None:
    for summary in (gait10, arm26):
        assert summary.total_mass == pytest.approx(math.fsum(b.mass for b in summary.bodies))
    assert gait10.total_mass > 50.0


def test_gait10dof18musc_coordinates(gait10: ModelSummary) -> None:
    by_name = {c.name: c for c in gait10.coordinates}
    assert by_name["pelvis_tx"].motion_type == "translational"
    assert by_name["pelvis_ty"].default_value == pytest.approx(1.015)
    assert by_name["knee_angle_r"].motion_type == "rotational"
    assert by_name["knee_angle_r"].range == pytest.approx((math.radians(-120), math.radians(10)))
    assert not any(c.locked for c in gait10.coordinates)


def test_gait10dof18musc_joints_connect_bodies(gait10: ModelSummary) -> None:
    by_name = {j.name: j for j in gait10.joints}
    assert (by_name["ground_pelvis"].parent, by_name["ground_pelvis"].child) == ("ground", "pelvis")
    assert (by_name["knee_r"].type, by_name["knee_r"].parent) == ("CustomJoint", "femur_r")
    bodies = {b.name for b in gait10.bodies} | {"ground"}
    assert all(j.parent in bodies and j.child in bodies for j in gait10.joints)


def test_arm26_has_six_thelen_muscles_and_two_coordinates(
    arm26: ModelSummary, shared_data: Path
) -> None:
    model = _model_xml(shared_data / ARM26)
    assert arm26.muscles_by_type == {"Thelen2003Muscle": 6}
    assert len(model.findall(".//Thelen2003Muscle")) == 6
    assert [c.name for c in arm26.coordinates] == ["r_shoulder_elev", "r_elbow_flex"]
    assert [c.motion_type for c in arm26.coordinates] == ["rotational", "rotational"]


def test_coupled_coordinates_and_constraints(shared_data: Path) -> None:
    summary = summarize_model(shared_data / RAJAGOPAL)
    model = _model_xml(shared_data / RAJAGOPAL)
    couplers = model.findall(".//CoordinateCouplerConstraint")
    assert summary.constraints_by_type == {"CoordinateCouplerConstraint": len(couplers)} != {}
    dependents = {c.findtext("dependent_coordinate_name").strip() for c in couplers}
    types = {c.name: c.motion_type for c in summary.coordinates}
    assert {types[name] for name in dependents} == {"coupled"}
    assert types["knee_angle_r"] == "rotational"
    assert len(summary.muscle_names) == len(model.findall(".//Millard2012EquilibriumMuscle"))


def test_contact_geometry_and_other_forces(shared_data: Path) -> None:
    summary = summarize_model(shared_data / CONTACTS)
    model = _model_xml(shared_data / CONTACTS)
    expected = Counter(e.tag for e in _set_children(model, "ContactGeometrySet"))
    assert summary.contact_geometry_by_type == dict(expected)
    assert summary.contact_geometry_by_type.get("ContactSphere", 0) > 0
    forces = Counter(e.tag for e in _set_children(model, "ForceSet"))
    del forces["Millard2012EquilibriumMuscle"]
    assert summary.forces_by_type == dict(forces)
    assert len(summary.force_names) == sum(forces.values())


def test_coordinate_motion_types(shared_data: Path) -> None:
    types = coordinate_motion_types(shared_data / GAIT10)
    assert len(types) == 10
    assert types["pelvis_tx"] == types["pelvis_ty"] == "translational"
    assert types["knee_angle_l"] == types["pelvis_tilt"] == "rotational"


def test_format_summary(gait10: ModelSummary) -> None:
    text = format_summary(gait10)
    assert text.splitlines()[0] == "model walk_subject01 (OpenSim document 40000)"
    assert "muscles       18: Millard2012EquilibriumMuscle 18" in text
    assert "coordinates   10: rotational 8, translational 2" in text
    assert all(c.name in text for c in gait10.coordinates)
    assert "[-120, 10] deg" in text and "[-5, 5] m" in text
    assert max(len(line) for line in text.splitlines()) <= 120


def test_importing_the_module_does_not_import_opensim() -> None:
    code = "import sys, converters.osim.summary; sys.exit('opensim' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file"),
        ("hello, not xml\n", "not an OpenSim model"),
        ("<Storage/>\n", "root is <Storage>"),
        ('<OpenSimDocument Version="40000"><Tool/></OpenSimDocument>', "no <Model>"),
        (
            '<OpenSimDocument Version="40000"><Model name="m"><BodySet><objects><Body name="b">'
            "<mass>-1</mass></Body></objects></BodySet></Model></OpenSimDocument>",
            "OpenSim cannot read it",
        ),
    ],
)
def test_summarize_raises_error_if_not_an_osim(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "bad.osim"
    if content is not None:
        path.write_text(content)
    with pytest.raises(FileFormatError, match=problem) as caught:
        summarize_model(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)
    with pytest.raises(FileFormatError):
        coordinate_motion_types(path)
