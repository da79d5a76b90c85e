"""ID and SO setup readers: real setups, OpenSim's own reading of them, overrides and bad input."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from converters.errors import FileFormatError, MissingPathError, UnknownNameError
from converters.opensim_io.setups import read_id_setup, read_so_setup, resolve_setup_path

GAIT10_ID = "opensim-models/Pipelines/Gait10dof18musc/OutputReference/ID/walk_Setup_ID.xml"
GAIT2392 = "opensim-models/Pipelines/Gait2392_Simbody"
ARM26 = "opensim-core/Applications/Analyze/tests/resources"
PREDICTSIM = "3dpredictsim-subject2"
TRIALS = ["gait_14", "gait_15", "gait_23", "gait_25", "gait_27", "gait_60", "gait_61"]


@pytest.fixture(scope="module")
def opensim():
    module = pytest.importorskip("opensim")
    module.Logger.setLevelString("error")
    return module


# ------------------------------------------------------------------------------------ ID setups


def test_gait10dof18musc_id_setup(shared_data: Path):
    setup = read_id_setup(shared_data / GAIT10_ID)
    base = (shared_data / GAIT10_ID).parent
    assert setup.name == "walk_subject" and setup.tool == "InverseDynamicsTool"
    assert setup.model_file == base.parent / "subject01.osim"
    assert setup.coordinates_file == base.parent / "IK/subject01_walk_IK.mot"
    assert setup.external_loads_file == base.parent / "ExperimentalData/subject01_walk_grf.xml"
    assert setup.time_range == (0.0, 2.5)
    assert setup.lowpass_cutoff_frequency_for_coordinates == 6.0
    assert setup.forces_to_exclude == ("Muscles",)
    assert setup.results_directory == base / "Results"
    assert setup.output_gen_force_file == base / "Results/subject01_walk_ID.sto"
    assert setup.output_gen_force_file.exists()  # OpenSim's own result is stored there
    assert setup.joints_to_report_body_forces == () and setup.output_body_forces_file is None


def test_gait10dof18musc_id_setup_agrees_with_opensim(shared_data: Path, opensim):
    path = shared_data / GAIT10_ID
    ours = read_id_setup(path)
    tool = opensim.InverseDynamicsTool(str(path))
    base = path.parent
    assert ours.name == tool.getName()
    assert ours.model_file == resolve_setup_path(tool.getModelFileName(), base)
    assert ours.coordinates_file == resolve_setup_path(tool.getCoordinatesFileName(), base)
    assert ours.external_loads_file == resolve_setup_path(tool.getExternalLoadsFileName(), base)
    assert ours.lowpass_cutoff_frequency_for_coordinates == tool.getLowpassCutoffFrequency()
    assert ours.time_range == (tool.getStartTime(), tool.getEndTime())
    assert ours.results_directory == resolve_setup_path(tool.getResultsDir(), base)
    assert ours.output_gen_force_file.name == tool.getOutputGenForceFileName()
    assert tool.getPropertyByName("forces_to_exclude").toString() == "(Muscles)"


def _opensim_id_values(opensim, path: Path) -> tuple:
    tool = opensim.InverseDynamicsTool(str(path))
    cutoff = tool.getLowpassCutoffFrequency()
    body_forces = tool.getPropertyByName("output_body_forces_file").toString()
    return (
        (tool.getStartTime(), tool.getEndTime()),
        cutoff if cutoff > 0 else None,
        tool.getOutputGenForceFileName(),
        body_forces or None,
    )


@pytest.mark.parametrize(
    "relative, overrides",
    [
        (
            f"{GAIT2392}/subject01_Setup_InverseDynamics.xml",
            {
                "model_file": "opensim-models/Models/Gait2392_Simbody/subject01_simbody_adjusted.osim"
            },
        ),
        (
            "opencap-subject4/ID/walking1_id_setup.xml",
            {"model_file": "opencap-subject4/Models/optimized_scale_and_markers.osim"},
        ),
        (
            "opensim-models/Pipelines/Rajagopal/ID/id_setup_walk.xml",
            {
                "model_file": "opensim-models/Models/Rajagopal/Rajagopal2016.osim",
                "coordinates_file": "opensim-models/Pipelines/Rajagopal/ExpData/grf_walk.mot",
            },
        ),
        (
            f"{PREDICTSIM}/ID/SetupID_gait_14.xml",
            {
                "model_file": f"{PREDICTSIM}/Models/subject2_withMTP_weldRadius_scaled_FK.osim",
                "coordinates_file": f"{PREDICTSIM}/IK/IK_gait_14.mot",
                "external_loads_file": f"{PREDICTSIM}/ExternalLoads/External_Loads_gait_14.xml",
            },
        ),
    ],
)
def test_id_setups_agree_with_opensim(shared_data: Path, opensim, relative: str, overrides: dict):
    path = shared_data / relative
    setup = read_id_setup(path, {k: shared_data / v for k, v in overrides.items()})
    time_range, cutoff, gen_force, body_forces = _opensim_id_values(opensim, path)
    assert setup.time_range == time_range
    assert setup.lowpass_cutoff_frequency_for_coordinates == cutoff
    assert setup.output_gen_force_file.name == gen_force
    assert (setup.output_body_forces_file and setup.output_body_forces_file.name) == body_forces
    assert setup.model_file == shared_data / overrides["model_file"]


def test_padded_values_and_defaults_of_a_2392_setup(shared_data: Path):
    model = shared_data / "opensim-models/Models/Gait2392_Simbody/subject01_simbody_adjusted.osim"
    path = shared_data / GAIT2392 / "subject01_Setup_InverseDynamics.xml"
    setup = read_id_setup(path, {"model_file": model})
    assert setup.coordinates_file == path.parent / "subject01_walk1_ik.mot"
    assert setup.external_loads_file == path.parent / "subject01_walk1_grf.xml"
    assert setup.time_range == (0.4, 1.6) and setup.forces_to_exclude == ("muscles",)
    assert setup.results_directory == path.parent / "ResultsInverseDynamics"
    # absent <output_body_forces_file>: OpenSim's default name
    assert setup.output_body_forces_file == setup.results_directory / "body_forces_at_joints.sto"


def test_opencap_setup_without_time_range_or_filter(shared_data: Path):
    path = shared_data / "opencap-subject4/ID/walking1_id_setup.xml"
    with pytest.raises(MissingPathError, match="Models/optimized_scale_and_markers.osim"):
        read_id_setup(path)
    model = shared_data / "opencap-subject4/Models/optimized_scale_and_markers.osim"
    setup = read_id_setup(path, {"model_file": model})
    assert setup.time_range == (-math.inf, math.inf)
    assert setup.lowpass_cutoff_frequency_for_coordinates is None
    assert setup.coordinates_file == shared_data / "opencap-subject4/IK/walking1_ik.mot"
    assert setup.external_loads_file == path.parent / "walking1_external_forces.xml"
    assert setup.results_directory == path.parent


def test_rajagopal_setup_lists_words_and_no_filter(shared_data: Path):
    path = shared_data / "opensim-models/Pipelines/Rajagopal/ID/id_setup_walk.xml"
    with pytest.raises(MissingPathError, match="<model_file>"):
        read_id_setup(path)
    overrides = {"model_file": shared_data / "opensim-models/Models/Rajagopal/Rajagopal2016.osim"}
    with pytest.raises(MissingPathError, match="<coordinates_file>.*rra_walk_2_Kinematics_q.sto"):
        read_id_setup(path, overrides)
    overrides["coordinates_file"] = path  # any existing file
    setup = read_id_setup(path, overrides)
    assert setup.forces_to_exclude == ("muscles", "actuators")
    assert setup.lowpass_cutoff_frequency_for_coordinates is None  # -1 in the file
    assert setup.output_body_forces_file is None  # present but empty
    assert setup.results_directory == path.parent / "results_walk"


def test_analyze_tool_with_inverse_dynamics_analysis(shared_data: Path):
    setup = read_id_setup(shared_data / ARM26 / "arm26_Setup_InverseDynamics.xml")
    assert setup.tool == "AnalyzeTool" and setup.name == "arm26"
    assert setup.model_file == shared_data / ARM26 / "arm26.osim"
    assert setup.external_loads_file is None and setup.time_range == (0.0, 1.0)
    assert setup.forces_to_exclude == ("Actuators",)
    assert setup.output_gen_force_file == shared_data / ARM26 / "Results/arm26_InverseDynamics.sto"
    assert (shared_data / ARM26 / "std_arm26_InverseDynamics.sto").exists()


@pytest.mark.parametrize("trial", TRIALS)
def test_predictsim_windows_paths_raise_then_work_with_overrides(shared_data: Path, trial: str):
    path = shared_data / PREDICTSIM / "ID" / f"SetupID_{trial}.xml"
    with pytest.raises(MissingPathError) as info:
        read_id_setup(path)
    message = str(info.value)
    assert info.value.field == "model_file" and str(path) in message
    assert r"C:\Users" in message and "--model" in message and "\n" not in message
    overrides = {"model_file": shared_data / PREDICTSIM / "Models/subject2_withMTP_scaled.osim"}
    with pytest.raises(MissingPathError, match=rf"<coordinates_file>.*IK_{trial}\.mot.*--coord"):
        read_id_setup(path, overrides)
    overrides["coordinates_file"] = shared_data / PREDICTSIM / "IK" / f"IK_{trial}.mot"
    with pytest.raises(MissingPathError, match="<external_loads_file>.*--external-loads"):
        read_id_setup(path, overrides)
    loads = shared_data / PREDICTSIM / "ExternalLoads" / f"External_Loads_{trial}.xml"
    setup = read_id_setup(path, {**overrides, "external_loads_file": loads})
    assert setup.external_loads_file == loads
    assert setup.lowpass_cutoff_frequency_for_coordinates == 6.0
    # the Windows results folder cannot exist here: outputs go beside the setup
    assert setup.output_gen_force_file == path.parent / f"ID_{trial}.sto"
    assert (
        read_id_setup(path, {**overrides, "external_loads_file": None}).external_loads_file is None
    )


def test_override_that_does_not_exist_and_unknown_field(shared_data: Path, tmp_path: Path):
    path = shared_data / GAIT10_ID
    with pytest.raises(MissingPathError, match="<coordinates_file>.*given as an override"):
        read_id_setup(path, {"coordinates_file": tmp_path / "nope.mot"})
    with pytest.raises(UnknownNameError, match="'modelfile'.*model_file"):
        read_id_setup(path, {"modelfile": tmp_path})
    out = read_id_setup(path, {"results_directory": tmp_path / "out"})
    assert out.output_gen_force_file == tmp_path / "out/subject01_walk_ID.sto"


# ------------------------------------------------------------------------------------ SO setups


def test_arm26_so_setup(shared_data: Path):
    setup = read_so_setup(shared_data / ARM26 / "arm26_Setup_StaticOptimization.xml")
    assert setup.name == "arm26" and setup.model_file == shared_data / ARM26 / "arm26.osim"
    assert setup.coordinates_file == shared_data / ARM26 / "arm26_InverseKinematics.mot"
    assert setup.states_file is None and setup.external_loads_file is None  # empty fields
    assert (setup.initial_time, setup.final_time) == (0.25, 0.75)
    assert setup.lowpass_cutoff_frequency_for_coordinates == 6.0
    assert setup.force_set_files == () and setup.replace_force_set is False
    so = setup.static_optimization
    assert (so.on, so.step_interval, so.activation_exponent) == (True, 1, 2.0)
    assert so.use_model_force_set and so.use_muscle_physiology
    assert (so.optimizer_convergence_criterion, so.optimizer_max_iterations) == (1e-4, 100)
    results = shared_data / ARM26 / "Results"
    assert setup.activation_file == results / "arm26_StaticOptimization_activation.sto"
    assert setup.force_file == results / "arm26_StaticOptimization_force.sto"
    for out in (
        setup.activation_file,
        setup.force_file,
    ):  # OpenSim's references carry a std_ prefix
        assert (shared_data / ARM26 / f"std_{out.name}").exists()


@pytest.mark.parametrize(
    "relative, overrides",
    [
        (f"{ARM26}/arm26_Setup_StaticOptimization.xml", {}),
        (
            f"{GAIT2392}/setup_static_optimization.xml",
            {
                "model_file": "opensim-models/Models/Gait2392_Simbody/subject01_simbody_adjusted.osim"
            },
        ),
    ],
)
def test_so_setups_agree_with_opensim(shared_data: Path, opensim, relative: str, overrides: dict):
    path = shared_data / relative
    ours = read_so_setup(path, {k: shared_data / v for k, v in overrides.items()})
    tool = opensim.AnalyzeTool(str(path), False)
    base = path.parent
    assert (ours.initial_time, ours.final_time) == (tool.getInitialTime(), tool.getFinalTime())
    assert ours.coordinates_file == resolve_setup_path(tool.getCoordinatesFileName(), base)
    assert ours.results_directory == resolve_setup_path(tool.getResultsDir(), base)
    cutoff = tool.getLowpassCutoffFrequency()
    assert ours.lowpass_cutoff_frequency_for_coordinates == (cutoff if cutoff > 0 else None)
    analysis = tool.getAnalysisSet().get("StaticOptimization")
    so = ours.static_optimization
    for name in (
        "step_interval",
        "activation_exponent",
        "optimizer_convergence_criterion",
        "optimizer_max_iterations",
        "start_time",
        "end_time",
    ):
        assert float(analysis.getPropertyByName(name).toString()) == getattr(so, name), name
    for name in ("on", "use_model_force_set", "use_muscle_physiology", "in_degrees"):
        assert analysis.getPropertyByName(name).toString() == str(getattr(so, name)).lower(), name


def test_gait2392_so_setup(shared_data: Path):
    path = shared_data / GAIT2392 / "setup_static_optimization.xml"
    with pytest.raises(MissingPathError, match="subject01_simbody_adjusted.osim.*--model"):
        read_so_setup(path)
    model = shared_data / "opensim-models/Models/Gait2392_Simbody/subject01_simbody_adjusted.osim"
    setup = read_so_setup(path, {"model_file": model})
    assert setup.force_set_files == (path.parent / "gait2392_SO_weak_Residual_Actuators.xml",)
    assert setup.external_loads_file == path.parent / "foot_floor_loads.xml"
    assert setup.coordinates_file == path.parent / "subject01_walk1_RRA_Kinematics_q.sto"
    assert setup.static_optimization.step_interval == 10
    assert setup.lowpass_cutoff_frequency_for_coordinates is None
    assert setup.activation_file == (
        path.parent / "ResultsStaticOptimization/subject01_StaticOptimization_activation.sto"
    )
    with_reserves = read_so_setup(path, {"model_file": model, "force_set_files": [model, model]})
    assert with_reserves.force_set_files == (model, model)


def test_opensim_core_subject01_so_setup_needs_overrides(shared_data: Path):
    path = shared_data / ARM26 / "subject01_Setup_StaticOptimization.xml"
    with pytest.raises(MissingPathError, match="<model_file>"):
        read_so_setup(path)
    gait2392 = shared_data / "opensim-models/Models/Gait2392_Simbody"
    overrides = {
        "model_file": gait2392 / "subject01.osim",
        "coordinates_file": shared_data / GAIT2392 / "subject01_walk1_ik.mot",
    }
    with pytest.raises(MissingPathError, match="<external_loads_file>.*externalForces.xml"):
        read_so_setup(path, overrides)
    overrides["external_loads_file"] = shared_data / GAIT2392 / "subject01_walk1_grf.xml"
    setup = read_so_setup(path, overrides)
    assert (setup.initial_time, setup.final_time) == (0.41, 0.45)
    assert setup.activation_file.name == "subject01_walk1_StaticOptimization_activation.sto"
    assert setup.results_directory == path.parent / "Results_subject01_StaticOptimization"


def test_analyze_setup_without_static_optimization(shared_data: Path):
    with pytest.raises(
        FileFormatError, match="no StaticOptimization analysis.*Kinematics, Actuation"
    ):
        read_so_setup(shared_data / GAIT2392 / "subject01_Setup_Analyze.xml")


# --------------------------------------------------------------------------------- wrong input


def test_wrong_root_element_says_what_it_is(shared_data: Path):
    grf = shared_data / "opensim-models/Pipelines/Gait10dof18musc/OutputReference/ExperimentalData"
    with pytest.raises(
        FileFormatError, match="OpenSim ExternalLoads file, not an inverse dynamics"
    ):
        read_id_setup(grf / "subject01_walk_grf.xml")
    with pytest.raises(
        FileFormatError, match="InverseDynamicsTool file, not a static optimization"
    ):
        read_so_setup(shared_data / GAIT10_ID)


def test_garbage_file_is_one_line_error(tmp_path: Path):
    bad = tmp_path / "setup.xml"
    bad.write_bytes(b"\x00\x01 binary junk")
    with pytest.raises(FileFormatError) as info:
        read_id_setup(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def _id_setup(tmp_path: Path, body: str) -> Path:
    (tmp_path / "model.osim").write_text("<OpenSimDocument/>")
    (tmp_path / "ik.mot").write_text("x")
    path = tmp_path / "setup.xml"
    path.write_text(f"""<OpenSimDocument Version="40000"><InverseDynamicsTool name="t">
      <model_file> model.osim </model_file><coordinates_file>ik.mot</coordinates_file>
      {body}</InverseDynamicsTool></OpenSimDocument>""")
    return path


@pytest.mark.parametrize(
    "body, field",
    [
        ("<time_range> 0 abc</time_range>", "time_range"),
        ("<time_range> 1 </time_range>", "time_range"),
        (
            "<lowpass_cutoff_frequency_for_coordinates>six</lowpass_cutoff_frequency_for_coordinates>",
            "lowpass_cutoff_frequency_for_coordinates",
        ),
    ],
)
def test_invalid_numbers_name_the_field(tmp_path: Path, body: str, field: str):
    path = _id_setup(tmp_path, body)
    with pytest.raises(FileFormatError, match=f"<{field}> is .*expected") as info:
        read_id_setup(path)
    assert str(path) in str(info.value)


def test_invalid_so_settings_name_the_field(shared_data: Path, tmp_path: Path):
    text = (shared_data / ARM26 / "arm26_Setup_StaticOptimization.xml").read_text()
    for old, new, field in [
        (
            "<step_interval> 1 </step_interval>",
            "<step_interval>1.5</step_interval>",
            "step_interval",
        ),
        ("<use_muscle_physiology> true", "<use_muscle_physiology> maybe", "use_muscle_physiology"),
    ]:
        path = tmp_path / "so.xml"
        path.write_text(text.replace(old, new).replace("arm26", str(shared_data / ARM26 / "arm26")))
        with pytest.raises(FileFormatError, match=f"<{field}> is '.*', expected"):
            read_so_setup(path)


def test_empty_required_field_and_whitespace(tmp_path: Path):
    path = _id_setup(tmp_path, "<external_loads_file>  </external_loads_file>")
    setup = read_id_setup(path)
    assert setup.model_file == tmp_path / "model.osim" and setup.external_loads_file is None
    path.write_text(path.read_text().replace(" model.osim ", "  "))
    with pytest.raises(FileFormatError, match="<model_file> is empty or absent.*--model"):
        read_id_setup(path)


def test_relative_backslash_paths_resolve_against_the_setup_folder(tmp_path: Path):
    (tmp_path / "IK").mkdir()
    (tmp_path / "IK" / "walk.mot").write_text("x")
    path = _id_setup(tmp_path, "")
    path.write_text(path.read_text().replace(">ik.mot<", r">.\IK\walk.mot<"))
    assert read_id_setup(path).coordinates_file == tmp_path / "IK" / "walk.mot"
