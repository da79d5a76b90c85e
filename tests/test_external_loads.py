"""ExternalLoads XML + GRF data: per-force and per-body series checked against the raw columns.

The raw columns are read here with a deliberately plain parser (split after ``endheader``), so the
checks do not go through the code under test.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from converters.errors import FileFormatError, KintwinError, MissingPathError, UnknownNameError
from converters.opensim_io.external_loads import load_external_loads, read_external_loads

GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference/ExperimentalData"
PREDICTSIM = "3dpredictsim-subject2"
TRIALS = ["gait_14", "gait_15", "gait_23", "gait_25", "gait_27", "gait_60", "gait_61"]


def raw_columns(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """time (n,) and {label: (n,)} of a .mot, parsed without the project's table reader."""
    lines = path.read_text().splitlines()
    end = next(i for i, line in enumerate(lines) if line.strip().lower() == "endheader")
    body = [line.split() for line in lines[end + 1 :] if line.strip()]
    labels, values = body[0], np.array(body[1:], dtype=float)
    assert len(set(labels)) == len(labels)
    return values[:, 0], {label: values[:, k] for k, label in enumerate(labels)}


def vector(columns: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    return np.column_stack([columns[prefix + axis] for axis in "xyz"])


def check_against_raw(loads, grf: Path, feet: dict[str, str], torque: str = "torque_") -> None:
    """``feet`` maps body -> column prefix ('1_ground_' -> 1_ground_force_vx, ...)."""
    time, raw = raw_columns(grf)
    np.testing.assert_array_equal(loads.time, time)
    by_body = loads.forces_by_body()
    assert sorted(by_body) == sorted(feet)
    for body, prefix in feet.items():
        f = vector(raw, prefix + "force_v")
        p = vector(raw, prefix + "force_p")
        t = vector(raw, prefix + torque)
        np.testing.assert_allclose(by_body[body].force, f, rtol=0, atol=1e-12)
        np.testing.assert_allclose(by_body[body].moment, np.cross(p, f) + t, rtol=1e-12, atol=1e-9)
    force_columns = [k for k in raw if re.search(r"force_v[xyz]$", k)]
    assert len(force_columns) == 3 * len(feet)
    for k, axis in enumerate("xyz"):
        total = sum(raw[c] for c in force_columns if c.endswith(axis))
        np.testing.assert_allclose(sum(b.force[:, k] for b in by_body.values()), total, atol=1e-9)


# ----------------------------------------------------------------- acceptance: Gait10dof18musc


def test_gait10dof18musc_resolves_to_per_body_series(shared_data: Path):
    xml = shared_data / GAIT10 / "subject01_walk_grf.xml"
    loads = load_external_loads(xml)
    assert loads.data_file == shared_data / GAIT10 / "subject01_walk_grf.mot"
    assert loads.bodies == ["calcn_r", "calcn_l"]
    right, left = loads.forces
    assert (right.name, right.body) == ("right", "calcn_r")
    assert right.columns[:3] == ("ground_force_vx", "ground_force_vy", "ground_force_vz")
    assert left.columns[-3:] == ("1_ground_torque_x", "1_ground_torque_y", "1_ground_torque_z")
    assert loads.forces_without_torque == []
    check_against_raw(loads, loads.data_file, {"calcn_r": "ground_", "calcn_l": "1_ground_"})


def test_gait10dof18musc_spec_fields(shared_data: Path):
    spec = read_external_loads(shared_data / GAIT10 / "subject01_walk_grf.xml")
    assert spec.name == "WalkingGRF"
    right = spec.forces[0]
    assert right.force_expressed_in_body == right.point_expressed_in_body == "ground"
    assert (right.force_identifier, right.point_identifier, right.torque_identifier) == (
        "ground_force_v",
        "ground_force_p",
        "ground_torque_",
    )
    assert right.data_source_name is None and right.is_disabled is False
    assert spec.datafile_text == "subject01_walk_grf.mot"
    assert spec.external_loads_model_kinematics_file is None
    assert spec.lowpass_cutoff_frequency_for_load_kinematics is None


def test_arrays_are_read_only(shared_data: Path):
    loads = load_external_loads(shared_data / GAIT10 / "subject01_walk_grf.xml")
    with pytest.raises(ValueError):
        loads.forces[0].force[0, 0] = 1.0


# --------------------------------------------------------------- acceptance: 3dpredictsim trials


@pytest.mark.parametrize("trial", TRIALS)
def test_predictsim_trial_resolves_with_grf_override(shared_data: Path, trial: str):
    xml = shared_data / PREDICTSIM / "ExternalLoads" / f"External_Loads_{trial}.xml"
    grf = shared_data / PREDICTSIM / "GRF" / f"GRF_{trial}.mot"
    loads = load_external_loads(xml, data_file=grf)
    assert loads.data_file == grf
    # In these files the '1_' columns are the RIGHT foot (the opposite of opensim-models').
    right, left = loads.forces
    assert (right.name, right.body, right.columns[0]) == ("Right", "calcn_r", "1_ground_force_vx")
    assert (left.name, left.body, left.columns[0]) == ("Left", "calcn_l", "ground_force_vx")
    check_against_raw(loads, grf, {"calcn_r": "1_ground_", "calcn_l": "ground_"})


@pytest.mark.parametrize("trial", TRIALS)
def test_predictsim_windows_datafile_raises_missing_path(shared_data: Path, trial: str):
    xml = shared_data / PREDICTSIM / "ExternalLoads" / f"External_Loads_{trial}.xml"
    with pytest.raises(MissingPathError) as info:
        load_external_loads(xml)
    message = str(info.value)
    assert info.value.field == "datafile"
    assert "<datafile>" in message and str(xml) in message
    assert f"GRF_{trial}.mot" in message and "--grf" in message and "\n" not in message


def test_generic_predictsim_loads_name_absent_data(shared_data: Path):
    xml = shared_data / PREDICTSIM / "ExternalLoads" / "ExternalLoads_overground_gait.xml"
    spec = read_external_loads(xml)
    assert spec.datafile_text.endswith(r"subject1\GRF\gait_overground.mot")
    assert spec.lowpass_cutoff_frequency_for_load_kinematics == 6.0
    assert str(spec.external_loads_model_kinematics_file).endswith(r"KS\gait_overground.mot")
    with pytest.raises(MissingPathError, match="gait_overground.mot"):
        load_external_loads(xml)


# ------------------------------------------------------------------------------ other datasets


def test_gait2392_version_20302_with_padded_values(shared_data: Path):
    xml = shared_data / "opensim-models/Pipelines/Gait2392_Simbody/subject01_walk1_grf.xml"
    spec = read_external_loads(xml)
    assert [(f.name, f.applied_to_body, f.force_identifier) for f in spec.forces] == [
        ("ExternalForce_1", "calcn_r", "ground_force_v"),
        ("ExternalForce_2", "calcn_l", "1_ground_force_v"),
    ]
    loads = load_external_loads(xml)
    check_against_raw(loads, loads.data_file, {"calcn_r": "ground_", "calcn_l": "1_ground_"})


@pytest.mark.parametrize(
    "motion, right, left",
    [("walk", "ground_force_r_", "ground_force_l_"), ("run", "R_ground_force_", "L_ground_force_")],
)
def test_rajagopal(shared_data: Path, motion: str, right: str, left: str):
    xml = shared_data / f"opensim-models/Pipelines/Rajagopal/ID/grf_{motion}.xml"
    loads = load_external_loads(xml)
    assert (
        loads.data_file
        == shared_data / f"opensim-models/Pipelines/Rajagopal/ExpData/grf_{motion}.mot"
    )
    assert [f.columns[0] for f in loads.forces] == [right + "vx", left + "vx"]
    torque = "ground_torque_r_" if motion == "walk" else "R_ground_torque_"
    assert loads.forces[0].columns[-1] == torque + "z"
    spec = loads.spec
    if motion == "walk":
        assert spec.external_loads_model_kinematics_file == (
            shared_data / "opensim-models/Pipelines/Rajagopal/IK/results_walk/ik_output_walk.mot"
        )
    else:
        assert spec.external_loads_model_kinematics_file is None
    assert spec.lowpass_cutoff_frequency_for_load_kinematics == (6.0 if motion == "walk" else 15.0)


@pytest.mark.parametrize("trial", ["walking1", "STS1"])
def test_opencap_every_plate_goes_to_talus_r(shared_data: Path, trial: str):
    # The data's own mapping: all plates on talus_r (plate 2 is under the left foot). Kept as is.
    loads = load_external_loads(
        shared_data / "opencap-subject4/ID" / f"{trial}_external_forces.xml"
    )
    assert loads.bodies == ["talus_r"]
    time, raw = raw_columns(loads.data_file)
    plates = range(1, len(loads.forces) + 1)
    force = sum(vector(raw, f"ground_force_{k}_v") for k in plates)
    moment = sum(
        np.cross(vector(raw, f"ground_force_{k}_p"), vector(raw, f"ground_force_{k}_v"))
        + vector(raw, f"ground_force_{k}_m")
        for k in plates
    )
    load = loads.forces_by_body()["talus_r"]
    np.testing.assert_allclose(load.force, force, atol=1e-12)
    np.testing.assert_allclose(load.moment, moment, atol=1e-9)


# -------------------------------------------------------------------------------- error paths


def _write_loads(
    tmp_path: Path, datafile: str, force: str = "", extra: str = "", version: str = "40000"
) -> Path:
    force = (
        force
        or """<ExternalForce name="right">
        <applied_to_body>calcn_r</applied_to_body>
        <force_identifier>ground_force_v</force_identifier>
        <point_identifier>ground_force_p</point_identifier>
        <torque_identifier>ground_torque_</torque_identifier>
      </ExternalForce>"""
    )
    xml = tmp_path / "loads.xml"
    xml.write_text(f"""<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="{version}">
  <ExternalLoads name="test">
    <objects>{force}{extra}</objects>
    <datafile>{datafile}</datafile>
  </ExternalLoads>
</OpenSimDocument>
""")
    return xml


def _write_grf(path: Path, labels: list[str], header: str = "grf\nversion=1\n") -> Path:
    rows = [[0.1 * i + j for j in range(len(labels))] for i in range(4)]
    body = "\n".join("\t".join(f"{x:g}" for x in [0.01 * i, *row]) for i, row in enumerate(rows))
    path.write_text(f"{header}endheader\ntime\t" + "\t".join(labels) + "\n" + body + "\n")
    return path


FORCE_AND_POINT = [f"ground_force_{q}{a}" for q in "vp" for a in "xyz"]


def test_missing_datafile_names_field_and_xml_and_override_works(tmp_path: Path):
    xml = _write_loads(tmp_path, "not_here.mot")
    with pytest.raises(MissingPathError) as info:
        load_external_loads(xml)
    assert "datafile" in str(info.value) and str(xml) in str(info.value)
    assert str(tmp_path / "not_here.mot") in str(info.value)
    grf = _write_grf(
        tmp_path / "elsewhere.mot",
        FORCE_AND_POINT + ["ground_torque_x", "ground_torque_y", "ground_torque_z"],
    )
    loads = load_external_loads(xml, data_file=grf)
    assert loads.data_file == grf and loads.forces[0].has_torque
    with pytest.raises(MissingPathError, match="datafile"):
        load_external_loads(xml, data_file=tmp_path / "also_missing.mot")


def test_datafile_resolves_relative_to_the_xml_folder(tmp_path: Path, monkeypatch):
    (tmp_path / "grf").mkdir()
    _write_grf(tmp_path / "grf" / "trial.mot", FORCE_AND_POINT)
    xml = _write_loads(tmp_path, "grf/trial.mot")
    monkeypatch.chdir("/")
    assert load_external_loads(xml).data_file == tmp_path / "grf" / "trial.mot"


def test_missing_torque_columns_are_zeros_and_recorded(tmp_path: Path):
    grf = _write_grf(tmp_path / "grf.mot", FORCE_AND_POINT)
    loads = load_external_loads(_write_loads(tmp_path, grf.name))
    force = loads.forces[0]
    assert force.has_torque is False and loads.forces_without_torque == ["right"]
    np.testing.assert_array_equal(force.torque, np.zeros((4, 3)))
    np.testing.assert_allclose(force.moment, np.cross(force.point, force.force))


def test_missing_column_names_file_identifier_and_force(tmp_path: Path):
    grf = _write_grf(tmp_path / "grf.mot", FORCE_AND_POINT[:5])  # no ground_force_pz
    with pytest.raises(UnknownNameError) as info:
        load_external_loads(_write_loads(tmp_path, grf.name))
    message = str(info.value)
    assert "\n" not in message
    for part in (str(grf), "ground_force_pz", "point_identifier 'ground_force_p'", "'right'"):
        assert part in message


def test_repeated_columns_of_a_simm_file_are_a_clear_error(tmp_path: Path):
    labels = FORCE_AND_POINT + FORCE_AND_POINT  # both feet under the same names
    header = "name grf\ndatacolumns 13\ndatarows 4\nrange 0 0.03\n"
    grf = _write_grf(tmp_path / "grf.mot", labels, header=header)
    with pytest.raises(KintwinError, match="'ground_force_vx'.*occurs 2 times"):
        load_external_loads(_write_loads(tmp_path, grf.name))


def test_garbage_xml_is_a_one_line_file_format_error(tmp_path: Path):
    bad = tmp_path / "loads.xml"
    bad.write_text("this is not < xml at all\n")
    with pytest.raises(FileFormatError) as info:
        read_external_loads(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(FileFormatError, match="no such file"):
        read_external_loads(tmp_path / "absent.xml")


def test_wrong_document_is_named(shared_data: Path):
    setup = (
        shared_data
        / "opensim-models/Pipelines/Gait10dof18musc/OutputReference/ID/walk_Setup_ID.xml"
    )
    with pytest.raises(FileFormatError, match="InverseDynamicsTool file, not an ExternalLoads"):
        read_external_loads(setup)
    grf = shared_data / GAIT10 / "subject01_walk_grf.mot"
    with pytest.raises(FileFormatError, match=re.escape(str(grf))):
        read_external_loads(grf)


def test_prescribed_force_is_not_supported(shared_data: Path):
    xml = shared_data / "opensim-models/Pipelines/Gait2392_Simbody/foot_floor_loads.xml"
    with pytest.raises(FileFormatError, match="PrescribedForce name='ExternalForce_1'"):
        read_external_loads(xml)


def test_force_not_in_ground_is_not_supported_yet(tmp_path: Path):
    grf = _write_grf(tmp_path / "grf.mot", FORCE_AND_POINT)
    force = """<ExternalForce name="right">
        <applied_to_body>calcn_r</applied_to_body>
        <point_expressed_in_body>calcn_r</point_expressed_in_body>
        <force_identifier>ground_force_v</force_identifier>
        <point_identifier>ground_force_p</point_identifier>
      </ExternalForce>"""
    with pytest.raises(
        KintwinError, match="its point expressed in body 'calcn_r'; only ground is supported"
    ):
        load_external_loads(_write_loads(tmp_path, grf.name, force=force))


def test_disabled_forces_are_left_out(tmp_path: Path):
    grf = _write_grf(tmp_path / "grf.mot", FORCE_AND_POINT)
    extra = """<ExternalForce name="off"><appliesForce>false</appliesForce>
        <applied_to_body>calcn_l</applied_to_body>
        <force_identifier>ground_force_v</force_identifier>
        <point_identifier>ground_force_p</point_identifier></ExternalForce>
      <ExternalForce name="off3"><isDisabled> true </isDisabled>
        <applied_to_body>calcn_l</applied_to_body>
        <force_identifier>ground_force_v</force_identifier>
        <point_identifier>ground_force_p</point_identifier></ExternalForce>"""
    loads = load_external_loads(_write_loads(tmp_path, grf.name, extra=extra))
    assert [f.is_disabled for f in loads.spec.forces] == [False, True, True]
    assert [f.name for f in loads.forces] == ["right"] and loads.bodies == ["calcn_r"]


def test_empty_datafile_asks_for_the_grf_file(tmp_path: Path):
    with pytest.raises(FileFormatError, match="<datafile> is empty.*--grf"):
        load_external_loads(_write_loads(tmp_path, ""))
