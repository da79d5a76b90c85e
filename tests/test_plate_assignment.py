"""Force plates -> loads per foot: a synthetic two-plate walk whose answer is known by construction.

The plates' centres of pressure are put on the feet of the converted Gait10dof18musc model, posed by
its real IK walk: plate A under the right heel while plate B is under the left forefoot, then both
under the right foot, then a centre of pressure far from both feet, then times beyond the IK. Every
expected number is computed here by hand from the plates, not by the code under test.
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest

from converters.errors import KintwinError, OutputExistsError
from converters.mjcf.builder import ConvertOptions
from converters.model_conversion import convert_osim
from converters.motion import coordinate_series
from converters.opensim_io.table import Table, read_table, write_table
from converters.plate_assignment import (
    assign_plates,
    convert_plates_to_feet,
    feet_grf_paths,
    find_plates,
    foot_points,
)
from converters.spatial import OPENSIM_TO_MUJOCO

GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"
LABELS = [f"plate{k}_{kind}{axis}" for k in (1, 2) for kind in ("v", "p", "m") for axis in "xyz"]


@pytest.fixture(scope="module")
def walk(shared_data: Path):
    model = shared_data / GAIT10 / "subject01.osim"
    ik = shared_data / GAIT10 / "IK" / "subject01_walk_IK.mot"
    converted = convert_osim(model, ConvertOptions(meshes=False, muscles=False))
    series = coordinate_series(read_table(ik), converted.osim, ik)
    return model, ik, converted, series


def sphere_positions(converted, series, geoms: np.ndarray) -> np.ndarray:
    """(n, k, 3) OpenSim-ground positions of ``geoms`` at the IK frames (Y up)."""
    model, data = converted.mj_model, mujoco.MjData(converted.mj_model)
    qpos = converted.kinematics.qpos(
        {
            c: v
            for c, v in series.values.items()
            if c in converted.kinematics.independent_coordinates
        },
        model.nq,
    )
    out = np.empty((len(qpos), len(geoms), 3))
    for k, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        out[k] = data.geom_xpos[geoms] @ OPENSIM_TO_MUJOCO  # MuJoCo world -> OpenSim ground
    return out


def synthetic_plates(converted, series) -> tuple[Table, dict]:
    """Two plates on the IK frames plus 5 frames past the IK's end; the expected outcome."""
    feet = foot_points(converted)
    right, left = (sphere_positions(converted, series, feet[s]) for s in ("r", "l"))
    n_ik = len(series.time)
    dt = series.time[1] - series.time[0]
    time = np.concatenate([series.time, series.time[-1] + dt * np.arange(1, 6)])
    n = len(time)
    data = np.zeros((n, len(LABELS)))
    col = {label: k for k, label in enumerate(LABELS)}

    def put(plate: int, rows: slice | np.ndarray, force, point, torque=(0.0, 0.0, 0.0)):
        for kind, value in (("v", force), ("p", point), ("m", torque)):
            for a, axis in enumerate("xyz"):
                data[rows, col[f"plate{plate}_{kind}{axis}"]] = np.asarray(value)[..., a]

    third = n_ik // 3
    phase1, phase2, phase3 = slice(0, third), slice(third, 2 * third), slice(2 * third, n_ik)
    heel = right[:, 0, :].copy()  # the right heel sphere centre, on the floor plane y = 0
    heel[:, 1] = 0.0
    fore = left[:, 2, :].copy()
    fore[:, 1] = 0.0
    # Phase 1: plate 1 under the right heel (with a free torque), plate 2 under the left forefoot.
    put(1, phase1, [30.0, 500.0, -10.0], heel[phase1], [0.0, 2.0, 0.0])
    put(2, phase1, [-20.0, 300.0, 5.0], fore[phase1])
    # Phase 2: both plates under the right foot, 4 cm apart along x (vertical forces only).
    put(1, phase2, [0.0, 400.0, 0.0], heel[phase2])
    put(2, phase2, [0.0, 200.0, 0.0], heel[phase2] + [0.04, 0.0, 0.0])
    # Phase 3: plate 1 loaded 2 m away from both feet; plate 2 unloaded (10 N, below 20 N).
    put(1, phase3, [0.0, 600.0, 0.0], heel[phase3] + [2.0, 0.0, 0.0])
    put(2, phase3, [0.0, 10.0, 0.0], fore[phase3])
    # Past the IK's last frame: plate 2 loaded under where the left forefoot last was.
    put(2, slice(n_ik, n), [0.0, 700.0, 0.0], fore[-1])
    table = Table(time=time, labels=list(LABELS), data=data, in_degrees=False)
    return table, {"phases": (phase1, phase2, phase3), "heel": heel, "fore": fore, "n_ik": n_ik}


def test_find_plates_reads_each_plates_triples():
    table = Table(time=np.zeros(1), labels=list(LABELS), data=np.zeros((1, len(LABELS))))
    plates = find_plates(table)
    assert [p.name for p in plates] == ["plate1", "plate2"]
    assert plates[0].torque == ("plate1_mx", "plate1_my", "plate1_mz")
    opensim_style = ["ground_force_vx", "ground_force_vy", "ground_force_vz"]
    opensim_style += ["ground_force_px", "ground_force_py", "ground_force_pz"]
    opensim_style += ["ground_torque_x", "ground_torque_y", "ground_torque_z"]
    plates = find_plates(Table(time=np.zeros(1), labels=opensim_style, data=np.zeros((1, 9))))
    assert plates[0].torque == ("ground_torque_x", "ground_torque_y", "ground_torque_z")


def test_find_plates_raises_error_if_no_plate_columns():
    table = Table(time=np.zeros(1), labels=["a", "b"], data=np.zeros((1, 2)))
    with pytest.raises(KintwinError, match="no force plate columns"):
        find_plates(table, "x.mot")


def test_two_plate_walk_goes_to_the_feet_standing_on_them(walk):
    _, _, converted, series = walk
    table, truth = synthetic_plates(converted, series)
    result = assign_plates(table, find_plates(table), converted, series)
    phase1, phase2, phase3 = truth["phases"]
    right, left = result.feet
    assert (right.prefix, left.prefix) == ("r_", "l_")
    assert (right.body, left.body) == ("calcn_r", "calcn_l")
    os_force = {f.prefix: f.force @ OPENSIM_TO_MUJOCO for f in result.feet}  # back to Y up
    os_point = {f.prefix: f.point @ OPENSIM_TO_MUJOCO for f in result.feet}
    # Phase 1: one plate per foot; the point is the plate's, the free torque the plate's.
    np.testing.assert_allclose(
        os_force["r_"][phase1], np.tile([30.0, 500.0, -10.0], (phase1.stop, 1))
    )
    np.testing.assert_allclose(
        os_force["l_"][phase1], np.tile([-20.0, 300.0, 5.0], (phase1.stop, 1))
    )
    np.testing.assert_allclose(os_point["r_"][phase1], truth["heel"][phase1], atol=1e-12)
    np.testing.assert_allclose(os_point["l_"][phase1], truth["fore"][phase1], atol=1e-12)
    np.testing.assert_allclose(right.free_torque[phase1], 2.0, atol=1e-12)
    # Phase 2: both under the right foot: 600 N at the force-weighted mean point (x + 4 cm / 3).
    np.testing.assert_allclose(os_force["r_"][phase2][:, 1], 600.0)
    np.testing.assert_allclose(os_force["l_"][phase2], 0.0)
    expected = truth["heel"][phase2] + [0.04 * 200.0 / 600.0, 0.0, 0.0]
    np.testing.assert_allclose(os_point["r_"][phase2], expected, atol=1e-12)
    np.testing.assert_allclose(right.free_torque[phase2], 0.0, atol=1e-9)
    # Phase 3 and past the IK: nothing assigned, both stretches reported with their reason.
    np.testing.assert_allclose(os_force["r_"][phase3], 0.0)
    np.testing.assert_allclose(os_force["l_"][truth["n_ik"] :], 0.0)
    assert (result.plate_foot[phase3, 0] == -2).all()
    assert (result.plate_foot[phase3, 1] == -1).all()  # 10 N is below the 20 N threshold
    reasons = {(name, reason.split(" ")[0]) for name, _, _, reason in result.left_out}
    assert reasons == {("plate1", "no"), ("plate2", "no")}
    far = [r for r in result.left_out if r[0] == "plate1"]
    assert far[0][1] == pytest.approx(series.time[phase3.start])
    assert far[0][2] == pytest.approx(series.time[-1])
    assert "25 cm" in far[0][3]
    past = [r for r in result.left_out if r[0] == "plate2"]
    assert past[0][3] == "no kinematics" and past[0][1] > series.time[-1]


def test_files_are_read_by_opensim_and_not_overwritten(walk, tmp_path: Path):
    import opensim

    model, ik, converted, series = walk
    table, _ = synthetic_plates(converted, series)
    plates_file = write_table(table, tmp_path / "plates.mot")
    _, (mot, xml) = convert_plates_to_feet(plates_file, model, ik, tmp_path / "trial")
    assert (mot, xml) == feet_grf_paths(tmp_path / "trial")
    loads = opensim.ExternalLoads(str(xml), True)
    assert [loads.get(i).get_applied_to_body() for i in range(loads.getSize())] == [
        "calcn_r",
        "calcn_l",
    ]
    storage = opensim.Storage(str(mot))
    assert storage.getSize() == len(table.time)
    before = mot.read_bytes()
    with pytest.raises(OutputExistsError):
        convert_plates_to_feet(plates_file, model, ik, tmp_path / "trial")
    assert mot.read_bytes() == before


def test_convert_grf_command_writes_feet_and_refuses_a_table_without_plates(walk, tmp_path: Path):
    from click.testing import CliRunner

    from kintwin_cli.main import cli

    model, ik, converted, series = walk
    table, _ = synthetic_plates(converted, series)
    plates_file = write_table(table, tmp_path / "plates.mot")
    args = ["convert", "grf", str(plates_file), "--model", str(model), "--coordinates", str(ik)]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "walk")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "walk_grf.mot").is_file() and (tmp_path / "walk_grf.xml").is_file()
    assert "plate1: load not assigned" in result.output
    no_plates = write_table(
        Table(time=np.arange(3.0), labels=["a"], data=np.zeros((3, 1))), tmp_path / "x.mot"
    )
    args[2] = str(no_plates)
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "no force plate columns" in result.output
    assert not list(tmp_path.glob("none*"))
