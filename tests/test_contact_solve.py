"""Ground reactions solved from the motion alone (``kintwin id --method contact``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from converters.contact_solve import ContactSolveConfig, solve_contacts
from converters.errors import KintwinError
from converters.motion import Trajectory
from kintwin_cli.main import cli

SUBJECT = Path("opencap-subject4")
MODEL = SUBJECT / "Models" / "optimized_scale_and_markers.osim"
GRAVITY = 9.80665


@pytest.fixture(scope="module")
def exact_subject4(shared_data: Path):
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim

    return convert_osim(
        shared_data / MODEL, ConvertOptions(meshes=False, muscles=False), exact=True
    )


def _standing(converted, shared_data: Path, frames: int = 5) -> Trajectory:
    """The static trial's mean pose held still: no velocity, no acceleration."""
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table

    ik = shared_data / SUBJECT / "IK" / "static1_ik.mot"
    series = coordinate_series(read_table(ik), converted.osim, ik)
    m = converted.mj_model
    still = make_trajectory(series, converted.kinematics, m.nq, m.nv, 6.0)
    mean = {c: np.full(frames, v.mean()) for c, v in still.coordinates.items()}
    qpos = converted.kinematics.qpos(mean, m.nq)
    zeros = np.zeros((frames, m.nv))
    return Trajectory(np.arange(frames) * 0.01, qpos, zeros, zeros.copy(), mean)


def test_standing_still_carries_the_body_weight_on_both_feet(exact_subject4, shared_data):
    solution = solve_contacts(exact_subject4, _standing(exact_subject4, shared_data))
    weight = float(exact_subject4.mj_model.body_subtreemass[0]) * GRAVITY
    vertical = [foot.force[:, 2] for foot in solution.feet]
    np.testing.assert_allclose(vertical[0] + vertical[1], weight, rtol=2e-3)
    # quiet standing: each foot carries a good share; no net horizontal force (each foot's
    # leans towards the centre of mass, so the two lateral ones cancel)
    assert all(np.all(v > 0.25 * weight) for v in vertical)
    horizontal = solution.feet[0].force[:, :2] + solution.feet[1].force[:, :2]
    assert np.abs(horizontal).max() < 0.01 * weight
    assert all(np.abs(foot.force[:, :2]).max() < 0.1 * weight for foot in solution.feet)
    # the whole-body equations are met: the pelvis needs (almost) no residual force
    assert np.abs(solution.root_residuals).max() < 0.01 * weight
    # standing still needs exactly the weight, and the loads give it
    assert np.abs(solution.vertical_shortfall).max() < 2e-3 * weight
    # each centre of pressure lies under its own foot (within 15 cm of the heel's origin)
    import mujoco

    model = exact_subject4.mj_model
    data = mujoco.MjData(model)
    data.qpos[:] = _standing(exact_subject4, shared_data).qpos[0]
    mujoco.mj_kinematics(model, data)
    for foot, body in zip(solution.feet, ("calcn_r", "calcn_l"), strict=True):
        heel = data.xpos[model.body(body).id]
        assert np.linalg.norm(foot.point[0, :2] - heel[:2]) < 0.15, body


def test_a_foot_in_the_air_carries_nothing(exact_subject4, subject4_walk):
    """In walking1's swing phases a foot whose every contact point is higher than the zero-
    strength height gets no load (the bounds hold per point and per foot)."""
    import mujoco

    _, walk = subject4_walk  # same coordinates; the exact model has no armature
    m = exact_subject4.mj_model
    solution = solve_contacts(exact_subject4, walk)
    data = mujoco.MjData(m)

    lifted = 0
    for i, q in enumerate(walk.qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(m, data)
        for foot, side in zip(solution.feet, "rl", strict=True):
            geoms = [g for g in range(m.ngeom) if (m.geom(g).name or "").endswith(f"_{side}")
                     and m.geom(g).name.startswith("kintwin_contact")]  # fmt: skip
            lowest = (data.geom_xpos[geoms, 2] - m.geom_size[geoms, 0]).min()
            if lowest - solution.floor_height > ContactSolveConfig().zero_height:
                lifted += 1
                assert foot.force[i, 2] == pytest.approx(0.0, abs=1e-6)
    assert lifted >= 5  # the test saw swing phases (walking1: 6 frames)


def test_walk_matches_opensim_id_with_the_force_plates(shared_data, tmp_path):
    """walking1 against OpenSim's ID with its plates assigned to the feet, on frames the plates
    cover (|pelvis_ty_force| <= 0.15 BW): vertical GRF within 10 %BW RMS (measured 5.1) and
    ankle moments r >= 0.9 (measured 0.94 and 0.98)."""
    from converters.opensim_io.table import read_table
    from converters.opensim_reference.tools import run_inverse_dynamics
    from converters.plate_assignment import convert_plates_to_feet

    root = shared_data / SUBJECT
    model, ik = shared_data / MODEL, root / "IK" / "walking1_ik.mot"
    _, (feet_mot, feet_xml) = convert_plates_to_feet(
        root / "ID" / "walking1_grf.mot", model, ik, tmp_path / "plates", force=True
    )
    times = read_table(ik).time
    theirs = read_table(
        run_inverse_dynamics(model, ik, feet_xml, 6.0, (times[0], times[-1]), tmp_path / "os")
    )
    out = tmp_path / "contact"
    result = CliRunner().invoke(cli, ["id", "--method", "contact", "--model", str(model),
                                      "--coordinates", str(ik), "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    ours, grf = read_table(out / "walking1_id.sto"), read_table(out / "walking1_grf.mot")
    plates = read_table(feet_mot)
    from converters.osim.parser import load_osim

    mass = sum(b.mass for b in load_osim(model).bodies.values())
    weight = mass * GRAVITY
    covered = np.abs(theirs.column("pelvis_ty_force")) <= 0.15 * weight
    at = theirs.time[covered]

    def vertical(table):
        return sum(table.column(c) for c in table.labels if c.endswith("ground_force_vy"))

    error = np.interp(at, grf.time, vertical(grf)) - np.interp(at, plates.time, vertical(plates))
    assert 100.0 * np.sqrt(np.mean(error**2)) / weight < 10.0
    for name in ("ankle_angle_r_moment", "ankle_angle_l_moment"):
        mine = np.interp(at, ours.time, ours.column(name))
        assert np.corrcoef(mine, theirs.column(name)[covered])[0, 1] >= 0.9, name


def test_contact_method_refuses_a_policy_and_plates(shared_data, tmp_path):
    model, ik = shared_data / MODEL, shared_data / SUBJECT / "IK" / "walking1_ik.mot"
    base = ["id", "--method", "contact", "--model", str(model), "--coordinates", str(ik)]
    result = CliRunner().invoke(cli, [*base, "--policy", str(tmp_path), "-o", str(tmp_path / "a")])
    assert result.exit_code != 0 and "--method imitation" in result.output
    loads = shared_data / SUBJECT / "ID" / "walking1_external_forces.xml"
    result = CliRunner().invoke(cli, [*base, "--external-loads", str(loads), "-o", str(tmp_path)])
    assert result.exit_code != 0 and "--method classic" in result.output
    result = CliRunner().invoke(cli, ["id", "--model", str(model), "--coordinates", str(ik),
                                      "--seat", "-o", str(tmp_path / "b.sto")])  # fmt: skip
    assert result.exit_code != 0 and "--seat belongs to --method contact" in result.output
    policy = Path(__file__).resolve().parents[1] / "policies/pretrained/laiuhlrich2022_torque"
    result = CliRunner().invoke(cli, ["id", "--model", str(model), "--coordinates", str(ik),
                                      "--policy", str(policy), "--seat", "-o", str(tmp_path / "c")])  # fmt: skip
    assert result.exit_code != 0 and "--seat belongs to --method contact" in result.output
    assert not (tmp_path / "c").exists()
    assert not list(tmp_path.glob("*.sto"))


@pytest.mark.parametrize(
    ("command", "flag"),
    [("id", "--no-fit-root"), ("id", "--fall-search"), ("so", "--no-fall-search"),
     ("id", "--on-fall=restart")],
)  # fmt: skip
def test_imitation_options_are_refused_with_other_methods(shared_data, tmp_path, command, flag):
    """An imitation-only option given with the contact or classic method is refused rather
    than silently ignored."""
    model, ik = shared_data / MODEL, shared_data / SUBJECT / "IK" / "walking1_ik.mot"
    for method in ("contact", "classic"):
        if command == "so" and method == "contact":
            continue
        args = [command, "--method", method, "--model", str(model), "--coordinates", str(ik)]
        result = CliRunner().invoke(cli, [*args, flag, "-o", str(tmp_path / method)])
        assert result.exit_code != 0, result.output
        assert f"belongs to --method imitation, not {method}" in result.output
        assert not list(tmp_path.iterdir())


def test_existing_outputs_are_not_overwritten_without_force(shared_data, tmp_path):
    model, ik = shared_data / MODEL, shared_data / SUBJECT / "IK" / "walking1_ik.mot"
    (tmp_path / "walking1_grf.mot").write_text("mine\n")
    args = ["id", "--method", "contact", "--model", str(model), "--coordinates", str(ik),
            "--time-range", "0.2", "0.4", "-o", str(tmp_path)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0 and "walking1_grf.mot" in result.output
    assert (tmp_path / "walking1_grf.mot").read_text() == "mine\n"
    assert not (tmp_path / "walking1_id.sto").exists()
    result = CliRunner().invoke(cli, [*args, "--force"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "walking1_id.sto").is_file() and (tmp_path / "walking1_grf.xml").is_file()


def test_sit_to_stand_sits_on_a_seat_and_a_walk_has_none(shared_data, tmp_path):
    """With --seat, STS1 (which starts seated) gets a seat under the thighs (applied to them in
    the ExternalLoads) carrying most of the weight at the start and nothing while the pelvis is
    up; walking1 gets no seat columns; without --seat neither does STS1."""
    from converters.opensim_io.external_loads import read_external_loads
    from converters.opensim_io.table import read_table

    model = shared_data / MODEL
    runs = {}
    for trial, seat in (("STS1", ["--seat"]), ("walking1", ["--seat"]), ("STS1", [])):
        ik = shared_data / SUBJECT / "IK" / f"{trial}_ik.mot"
        out = tmp_path / f"{trial}{len(seat)}"
        result = CliRunner().invoke(cli, ["id", "--method", "contact", "--model", str(model),
                                          "--coordinates", str(ik), "-o", str(out), *seat])  # fmt: skip
        assert result.exit_code == 0, result.output
        runs[trial, bool(seat)] = (
            read_table(out / f"{trial}_grf.mot"),
            out / f"{trial}_grf.xml",
            ik,
        )
    for walk_or_unseated in (runs["walking1", True][0], runs["STS1", False][0]):
        assert not [c for c in walk_or_unseated.labels if c.startswith("seat_")]
    grf, xml, ik = runs["STS1", True]
    bodies = {f.name: f.applied_to_body for f in read_external_loads(xml).forces}
    assert bodies["seat_r"] == "femur_r" and bodies["seat_l"] == "femur_l"
    seat = grf.column("seat_r_ground_force_vy") + grf.column("seat_l_ground_force_vy")
    weight = 62.6 * GRAVITY
    assert seat[0] > 0.5 * weight
    coordinates = read_table(ik)
    pelvis = np.interp(grf.time, coordinates.time, coordinates.column("pelvis_ty"))
    standing = pelvis > 0.9 * pelvis.max()
    assert standing.sum() > 100 and np.all(seat[standing] == 0.0)


def test_opensim_id_with_the_solved_loads_gives_the_same_moments(shared_data, tmp_path):
    """OpenSim's own InverseDynamicsTool, given the GRF .mot/.xml the solve writes, reproduces
    its joint moments (within 3 N·m; OpenSim splines the loads) and needs almost no pelvis
    force: the files say what the solve used, and OpenSim reads them as written."""
    from converters.opensim_io.table import read_table
    from converters.opensim_reference.tools import run_inverse_dynamics

    model = shared_data / MODEL
    ik = shared_data / SUBJECT / "IK" / "walking1_ik.mot"
    out = tmp_path / "contact"
    result = CliRunner().invoke(cli, ["id", "--method", "contact", "--model", str(model),
                                      "--coordinates", str(ik), "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    ours = read_table(out / "walking1_id.sto")
    span = (float(ours.time[0]), float(ours.time[-1]))
    theirs = read_table(
        run_inverse_dynamics(model, ik, out / "walking1_grf.xml", 6.0, span, tmp_path / "os")
    )
    inner = slice(5, -5)  # OpenSim's load splines and filter padding differ at the ends
    for joint in ("hip_flexion", "knee_angle", "ankle_angle"):
        for side in "rl":
            name = f"{joint}_{side}_moment"
            mine = ours.column(name)[inner]
            reference = np.interp(ours.time, theirs.time, theirs.column(name))[inner]
            assert np.abs(mine - reference).max() < 3.0, name
    pelvis = np.interp(ours.time, theirs.time, theirs.column("pelvis_ty_force"))[inner]
    assert np.abs(pelvis).max() < 0.02 * 62.6 * GRAVITY


def test_a_body_lifted_off_its_floor_is_flagged_as_unsupported(shared_data, tmp_path):
    """walking1 with the whole body 15 cm up for 0.3 s: no foot is near the floor there, yet
    the motion needs its weight from it; kintwin id warns and the summary lists the span (the
    real walk has none)."""
    import json

    from converters.opensim_io.table import read_table, write_table

    table = read_table(shared_data / SUBJECT / "IK" / "walking1_ik.mot")
    data = table.data.copy()
    data[40:70, table.labels.index("pelvis_ty")] += 0.15
    trial = tmp_path / "walking1_lifted.mot"
    write_table(table.with_data(data), trial)
    out = tmp_path / "out"
    args = ["id", "--method", "contact", "--model", str(shared_data / MODEL), "--coordinates",
            str(trial), "-o", str(out), "--json"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "no foot is near the floor" in result.output
    spans = json.loads(result.stdout)["unsupported_spans"]
    assert spans and all(s["peak_shortfall_percent_bw"] > 10.0 for s in spans)
    lifted = (table.time[40], table.time[69])
    assert any(s["from_s"] < lifted[1] and s["to_s"] > lifted[0] for s in spans)
    real = [*args[:6], str(shared_data / SUBJECT / "IK" / "walking1_ik.mot"), "-o",
            str(tmp_path / "real"), "--json"]  # fmt: skip
    result = CliRunner().invoke(cli, real)
    assert result.exit_code == 0 and json.loads(result.stdout)["unsupported_spans"] == []


@pytest.mark.parametrize("method", ["contact", "classic"])
def test_a_time_range_outside_the_trial_names_the_file(shared_data, tmp_path, method):
    model, ik = shared_data / MODEL, shared_data / SUBJECT / "IK" / "walking1_ik.mot"
    args = ["id", "--method", method, "--model", str(model), "--coordinates", str(ik)]
    output = tmp_path / ("out" if method == "contact" else "out.sto")
    result = CliRunner().invoke(cli, [*args, "--time-range", "100", "101", "-o", str(output)])
    assert result.exit_code != 0
    assert f"{ik}: no frames inside the time range 100-101 s" in result.output
    assert not output.exists()


def test_the_smooth_transition_prior_shares_double_support_and_helps_the_knees(shared_data):
    """On another subject's walk (3dpredictsim subject 2, gait 23): with the load-share prior
    the feet's vertical shares in each double support move towards the smooth transition, and
    the knee moments agree better with OpenSim's ID with plates (r on covered frames)."""
    import mujoco

    from converters.contact_solve import _double_support_share, _foot_groups
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table

    root = shared_data / "3dpredictsim-subject2"
    model = root / "Models" / "subject2_withMTP_weldRadius_scaled_FK.osim"
    converted = convert_osim(model, ConvertOptions(meshes=False, muscles=False), exact=True)
    ik = root / "IK" / "IK_gait_23.mot"
    m = converted.mj_model
    series = coordinate_series(read_table(ik), converted.osim, ik)
    trajectory = make_trajectory(series, converted.kinematics, m.nq, m.nv, 6.0)
    feet, _ = _foot_groups(m, mujoco.MjData(m), trajectory, ContactSolveConfig())
    prior = _double_support_share(feet, trajectory.time)[:, 0]
    steps = ~np.isnan(prior)
    assert 20 <= steps.sum() < len(prior) // 2  # four short double supports, not the whole walk
    reference = read_table(root / "ID" / "ID_gait_23.sto")
    weight = float(m.body_subtreemass[0]) * 9.80665
    covered = np.abs(reference.column("pelvis_ty_force")) <= 0.15 * weight
    errors, knees = [], []
    for load_share in (False, True):
        solution = solve_contacts(converted, trajectory, ContactSolveConfig(load_share=load_share))
        vertical = np.column_stack([f.force[:, 2] for f in solution.feet])
        share = vertical[:, 0] / np.maximum(vertical.sum(axis=1), 1e-9)
        errors.append(np.sqrt(np.mean((share[steps] - prior[steps]) ** 2)))
        table = solution.id_table
        knees.append([
            np.corrcoef(
                np.interp(reference.time[covered], table.time, table.column(f"knee_angle_{s}_moment")),
                reference.column(f"knee_angle_{s}_moment")[covered],
            )[0, 1]
            for s in "rl"
        ])  # fmt: skip
    assert errors[1] < 0.9 * errors[0]
    assert np.mean(knees[1]) > np.mean(knees[0]) + 0.01


def test_a_treadmill_belt_is_found_and_its_stance_feet_carry_the_body(shared_data):
    """OpenSim's Gait10dof18musc walk is on a treadmill: its stance feet slide backwards with
    the belt (about 1.2 m/s), which is found and taken out of the points' speeds, so the
    standing foot keeps full strength and the knee moments follow OpenSim's ID with the plates
    (r 0.76/0.89 measured; 0.48/0.49 when the belt's speed weakened the standing foot)."""
    import mujoco

    from converters.contact_solve import _foot_groups
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table

    root = shared_data / "opensim-models" / "Pipelines" / "Gait10dof18musc" / "OutputReference"
    converted = convert_osim(
        root / "subject01.osim", ConvertOptions(meshes=False, muscles=False), exact=True
    )
    ik = root / "IK" / "subject01_walk_IK.mot"
    m = converted.mj_model
    series = coordinate_series(read_table(ik), converted.osim, ik)
    trajectory = make_trajectory(series, converted.kinematics, m.nq, m.nv, 6.0)
    config = ContactSolveConfig()
    solution = solve_contacts(converted, trajectory, config)
    reference = read_table(root / "ID" / "Results" / "subject01_walk_ID.sto")
    knees = [
        np.corrcoef(
            np.interp(reference.time, solution.id_table.time,
                      solution.id_table.column(f"knee_angle_{s}_moment")),
            reference.column(f"knee_angle_{s}_moment"),
        )[0, 1]
        for s in "rl"
    ]  # fmt: skip
    assert min(knees) > 0.7, knees
    feet, _ = _foot_groups(m, mujoco.MjData(m), trajectory, config)
    strength = np.concatenate([f.strength for f in feet], axis=1)
    assert np.mean(strength.max(axis=1) > 0.9) > 0.95  # a foot stands at full strength


def test_a_belt_is_a_standing_foot_sliding_while_the_root_stays():
    """One rule for the contact solve and the imitation (``converters.treadmill``): a standing
    foot sliding back at 1.2 m/s under a still root rides a belt; one that creeps at 0.1 m/s
    does not; nor does one that slides 0.4 m/s while the root walks on at 1.2 m/s (a
    markerless overground walk's foot skate: walking2_video read as a 0.31 m/s belt to the
    contact solve before the root had to stay)."""
    from converters.treadmill import belt_speed

    time = np.arange(100) * 0.01
    still = np.zeros(100)
    assert belt_speed(np.full(60, -1.2), still, time) == pytest.approx(-1.2)
    assert belt_speed(np.full(60, -0.1), still, time) == 0.0
    assert belt_speed(np.full(60, 0.4), 1.2 * time, time) == 0.0
    assert belt_speed(np.full(60, 0.4), still, time) == pytest.approx(0.4)
    assert belt_speed(np.full(2, -1.2), still[:2], time[:2]) == 0.0  # too short to tell
    assert belt_speed(np.zeros(0), still, time) == 0.0  # never standing


def test_a_foot_deep_in_the_floor_for_two_frames_is_not_the_standing_foot():
    """The imitation's stance frames (``converters.treadmill.standing``): within 1 cm of the
    lowest point; where two frames lie 20 cm deep (a failed markerless pose), within 1 cm of
    the 5th percentile instead, and those two frames are not standing (they were, as the only
    frames below the floor, when it was 1 cm under the percentile)."""
    from converters.treadmill import standing

    rng = np.random.default_rng(0)
    heights = np.where(np.arange(100) % 2 == 0, rng.uniform(0.0, 0.004, 100), 0.05)
    clean = standing(heights)
    assert clean.sum() == 50 and not clean[1::2].any()
    heights[[10, 11]] = -0.2
    deep = standing(heights)
    assert not deep[[10, 11]].any()
    assert deep.sum() == 49 and not deep[1::2].any()


def test_grf_table_and_foot_loads_from_table_round_trip():
    """OpenSim's ground frame and back: forces, centres of pressure and free torques equal."""
    from converters.opensim_io.ground_reactions import (
        FootLoads,
        foot_loads_from_table,
        grf_table,
    )

    rng = np.random.default_rng(0)
    time = np.linspace(0.0, 1.0, 11)
    feet = [FootLoads(p, n, "calcn_" + p[0], rng.normal(size=(11, 3)), rng.normal(size=(11, 3)),
                      rng.normal(size=11)) for p, n in (("r_", "right"), ("l_", "left"))]  # fmt: skip
    back = foot_loads_from_table(grf_table(time, feet), time)
    for a, b in zip(feet, back, strict=True):
        np.testing.assert_allclose(b.force, a.force, atol=1e-12)
        np.testing.assert_allclose(b.point, a.point, atol=1e-12)
        np.testing.assert_allclose(b.free_torque, a.free_torque, atol=1e-12)
    with pytest.raises(KintwinError, match="l_ground_force_vx"):
        foot_loads_from_table(grf_table(time, feet[:1]), time)


def _shifted(foot, metres: float):
    """The foot's loads with its centre of pressure moved ``metres`` forwards (world x)."""
    from converters.opensim_io.ground_reactions import FootLoads

    point = foot.point.copy()
    point[:, 0] += metres * (foot.force[:, 2] > 1.0)
    return FootLoads(foot.prefix, foot.name, foot.body, foot.force, point, foot.free_torque)


def test_measured_loads_are_kept_when_consistent_and_made_residual_free(
    exact_subject4, subject4_walk
):
    """Measured loads are made residual-free with their forces kept: loads that already are
    come back as they are; the same loads with both centres of pressure 5 cm forwards (a pelvis
    moment residual) come back residual-free with the same forces, and in single support the
    foot's centre of pressure back where it was (in double support two feet may share the
    correction)."""
    _, walk = subject4_walk
    weight = float(exact_subject4.mj_model.body_subtreemass[0]) * GRAVITY
    solved = solve_contacts(exact_subject4, walk, id_table=False)
    # its loads leave small residuals where its priors pull (none is left), and a few frames
    # where no point is near the floor (what is left there stays)
    consistent = solve_contacts(exact_subject4, walk, id_table=False, measured=solved.feet)

    def residual(solution):
        return np.abs(solution.root_residuals).max(axis=1)

    assert np.all(residual(consistent) <= residual(solved) + 0.002 * weight)
    assert np.median(residual(consistent)) < 1e-3 < np.median(residual(solved))
    again = solve_contacts(exact_subject4, walk, id_table=False, measured=consistent.feet)
    with pytest.raises(KintwinError, match="right and left foot's at 131 frames"):
        solve_contacts(exact_subject4, walk, id_table=False, measured=solved.feet[:1])
    shifted = [_shifted(foot, 0.05) for foot in consistent.feet]
    fixed = solve_contacts(exact_subject4, walk, id_table=False, measured=shifted)
    single = np.array([f.force[:, 2] > 1.0 for f in consistent.feet]).sum(axis=0) == 1
    assert single.sum() >= 20
    for solution in (again, fixed):
        assert np.all(residual(solution) <= residual(consistent) + 0.002 * weight)
        for ours, theirs in zip(solution.feet, consistent.feet, strict=True):
            assert np.abs(ours.force - theirs.force).max() < 0.01 * weight
            loaded = single & (theirs.force[:, 2] > 1.0)
            assert np.abs(ours.point - theirs.point)[loaded, :2].max() < 0.01
    for ours, theirs in zip(again.feet, consistent.feet, strict=True):
        loaded = theirs.force[:, 2] > 0.1 * weight
        assert np.abs(ours.point - theirs.point)[loaded, :2].max() < 0.01
