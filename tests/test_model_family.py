"""Model families: a differently scaled subject belongs to its model's family, another model not."""

from __future__ import annotations

from pathlib import Path

from converters.model_family import family_differences, model_family
from converters.osim.parser import load_osim

OPENCAP = "opencap-subject4/Models"
GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference/subject01.osim"


def test_scaled_opencap_subject_is_of_the_generic_models_family(shared_data: Path):
    scaled = load_osim(shared_data / OPENCAP / "optimized_scale_and_markers.osim")
    generic = load_osim(shared_data / OPENCAP / "unscaled_generic.osim")
    assert scaled.bodies["femur_r"].mass != generic.bodies["femur_r"].mass  # really scaled
    assert family_differences(model_family(generic), model_family(scaled)) == []
    opencap = load_osim(
        shared_data / "opencap-processing/OpenSimPipeline/Models/LaiUhlrich2022.osim"
    )
    assert family_differences(model_family(opencap), model_family(scaled)) == []


def test_another_model_differs_by_name(shared_data: Path):
    opencap = model_family(load_osim(shared_data / OPENCAP / "optimized_scale_and_markers.osim"))
    planar = model_family(load_osim(shared_data / GAIT10))
    found = family_differences(opencap, planar)
    assert any(
        line.startswith("coordinates missing: ") and "hip_adduction_r" in line for line in found
    )
    assert any(line.startswith("bodies missing: ") and "humerus_r" in line for line in found)


def test_each_kind_of_difference_is_named():
    family = {
        "coordinates": [["hip", "rotational"], ["knee", "rotational"]],
        "parents": {"thigh": "pelvis", "shank": "thigh"},
        "joint_types": {"hip": "PinJoint", "knee": "CustomJoint"},
        "muscles": ["vasti", "soleus"],
    }
    other = {
        "coordinates": [["hip", "translational"], ["ankle", "rotational"]],
        "parents": {"thigh": "pelvis", "shank": "pelvis"},
        "joint_types": {"hip": "PinJoint", "knee": "PinJoint"},
        "muscles": ["soleus", "vasti"],
    }
    assert family_differences(family, other) == [
        "coordinates missing: knee",
        "coordinates not in the family: ankle",
        "coordinate 'hip' is translational, not rotational",
        "body 'shank' hangs on pelvis, not thigh",
        "joint 'knee' is a PinJoint, not CustomJoint",
        "muscles in another order",
    ]
    torque_only = {k: v for k, v in family.items() if k != "muscles"}
    assert family_differences(torque_only, {**family, "muscles": []}) == []
