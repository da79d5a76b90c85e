"""The search for a way through a fall (policies.fall_search), with the shipped 3D policy on
OpenCap subject 4's walking2, where its mean action falls near the end: the run is one
continuous simulation, repeatable, within its step budget; ``kintwin id`` reports it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from converters.motion import coordinate_series, make_trajectory
from converters.opensim_io.table import read_table
from kintwin_cli.main import cli
from policies.env import TrackingEnv
from policies.fall_search import FallSearch
from policies.inference import action_std, actor_from_checkpoint, read_checkpoint
from policies.runner import _mean_action, run_policy

POLICY = Path(__file__).resolve().parents[1] / "policies" / "pretrained" / "laiuhlrich2022_torque"
SUBJECT = "opencap-subject4"


@pytest.fixture(scope="module")
def walking2(subject4_walk, shared_data: Path):
    """(env on walking2 as ``kintwin id`` builds it, mean actor, its normaliser, checkpoint)."""
    from policies.body_randomization import fit_config_to_body
    from policies.config import TrackingConfig
    from policies.root_fit import apply_root_fit, fit_root_path
    from policies.task import build_task_model

    converted, _ = subject4_walk
    checkpoint = read_checkpoint(POLICY)
    config = fit_config_to_body(
        converted.mj_model, TrackingConfig.from_saved(checkpoint["tracking_config"])
    )
    ik = shared_data / SUBJECT / "IK" / "walking2_ik.mot"
    series = coordinate_series(read_table(ik), converted.osim, ik)
    m = converted.mj_model
    trajectory = make_trajectory(series, converted.kinematics, m.nq, m.nv, config.lowpass_hz)
    task = build_task_model(converted, config)
    trajectory = apply_root_fit(task, trajectory, fit_root_path(task, trajectory))
    actor, norm = actor_from_checkpoint(checkpoint)
    return TrackingEnv(converted, trajectory, config, task=task), actor, norm, checkpoint


def test_a_restored_state_repeats_whatever_the_data_held_before(walking2, subject4_walk):
    """Two copies with different histories, restored to one snapshot, observe and move alike
    (restore recomputes what the observation reads from the state)."""
    env, actor, norm, _ = walking2
    obs = env.reset(reference=0, frame=0)
    for _ in range(30):
        obs = env.step(_mean_action(actor, norm, obs), reward=False)[0]
    snapshot = env.snapshot()
    other = TrackingEnv(
        subject4_walk[0], None, env.config, task=env.task, references=env.references
    )
    other.reset(reference=0, frame=100)  # another history
    paths = []
    for copy in (env, other, env):
        copy.restore(snapshot)
        obs, path = copy.observation(), []
        for _ in range(20):
            obs = copy.step(_mean_action(actor, norm, obs), reward=False)[0]
            path.append(copy.data.qpos.copy())
        paths.append(np.array(path))
    np.testing.assert_array_equal(paths[0], paths[1])
    np.testing.assert_array_equal(paths[0], paths[2])


def test_the_search_takes_walking2_through_in_one_continuous_run(walking2):
    env, actor, norm, checkpoint = walking2
    plain = run_policy(env, actor, norm, loads=False)
    search = FallSearch(action_std(checkpoint))
    found = run_policy(env, actor, norm, loads=False, search=search)
    if not plain.fell:  # a policy that does not fall here: the search never runs
        assert found.searches == []
        np.testing.assert_array_equal(found.coordinates, plain.coordinates)
        return
    assert found.searches and not found.fell
    dt = env.config.control_dt
    # one row per control period from the first frame to the reference's last: no row lost
    # or repeated where the way through was spliced in
    assert len(found.time) == len(env.ref.qpos) - 1
    np.testing.assert_allclose(np.diff(found.time), dt, atol=1e-9)
    # before the way through it is the plain run, row for row
    start = round((found.searches[0]["way_from_s"] - env.ref.time0) / dt)
    np.testing.assert_array_equal(found.coordinates[:start], plain.coordinates[:start])
    assert not np.array_equal(found.coordinates[start], plain.coordinates[start])
    again = run_policy(env, actor, norm, loads=False, search=search)
    np.testing.assert_array_equal(again.coordinates, found.coordinates)
    spent = sum(s["control_steps"] for s in found.searches)
    assert 0 < spent <= search.max_steps


def test_the_search_keeps_to_its_budget(walking2):
    env, actor, norm, checkpoint = walking2
    plain = run_policy(env, actor, norm, loads=False)
    search = FallSearch(action_std(checkpoint), max_steps=150)
    small = run_policy(env, actor, norm, loads=False, search=search)
    assert sum(s["control_steps"] for s in small.searches) <= 150
    none = run_policy(env, actor, norm, loads=False, search=FallSearch(action_std(checkpoint),
                                                                        max_steps=0))  # fmt: skip
    assert none.searches == []
    np.testing.assert_array_equal(none.coordinates, plain.coordinates)


def test_kintwin_id_reports_each_search_and_can_turn_it_off(shared_data: Path, tmp_path: Path):
    root = shared_data / SUBJECT
    args = ["id", "--model", str(root / "Models" / "optimized_scale_and_markers.osim"),
            "--coordinates", str(root / "IK" / "walking2_ik.mot"), "--policy", str(POLICY)]  # fmt: skip
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "on")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "on" / "walking2_summary.json").read_text())
    off = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "off"), "--no-fall-search"])
    assert off.exit_code == 0, off.output
    without = json.loads((tmp_path / "off" / "walking2_summary.json").read_text())
    assert without["fall_search"] is None
    searches = summary["fall_search"]
    if searches and not summary["fell"]:  # the last search is the one that got through
        assert searches[-1]["through"]
    for search in searches:
        assert f"mean action fell at {search['fall_s']:.2f} s" in result.output
        assert search["way_from_s"] is None or search["way_from_s"] < search["fall_s"]
    if without["fell"] and not summary["fell"]:
        assert summary["time_span_s"][1] > without["time_span_s"][1]
