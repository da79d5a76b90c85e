"""``kintwin batch``: trials from a manifest or a folder, local pool and Ray, resumable results."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kintwin_cli.main import cli

GAIT = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"
REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "policies/pretrained/gait10dof18musc_walk_torque"


@pytest.fixture(scope="module")
def study(shared_data: Path, tmp_path_factory) -> Path:
    """A manifest: the walk's first 1.5 s with OpenSim's ID and the force plates as references,
    and a trial whose IK has no column of the model (it must fail, alone)."""
    from converters.opensim_io.table import read_table, write_table

    p = shared_data / GAIT
    folder = tmp_path_factory.mktemp("study")
    ik = read_table(p / "IK/subject01_walk_IK.mot")
    first = ik.time <= 1.5
    walk = ik.with_data(ik.data[first], time=ik.time[first])
    write_table(walk, folder / "walkA_IK.mot")
    broken = walk.with_data(walk.data)
    broken.labels = [f"x_{label}" for label in walk.labels]
    write_table(broken, folder / "broken_IK.mot")
    shutil.copy(p / "IK/subject01_walk_IK.mot", folder)  # the policy's training motion (reports)
    (folder / "study.csv").write_text(
        "name,model,coordinates,reference_id,reference_grf\n"
        f"walkA,{p / 'subject01.osim'},walkA_IK.mot,{p / 'ID/Results/subject01_walk_ID.sto'},"
        f"{p / 'ExperimentalData/subject01_walk_grf.mot'}\n"
        f"broken,{p / 'subject01.osim'},broken_IK.mot,,\n"
    )
    return folder


def _batch(*args: str):
    return CliRunner().invoke(cli, ["batch", *args, "--policy", str(SHIPPED)])


@pytest.fixture(scope="module")
def local_run(study: Path) -> tuple[Path, object]:
    out = study / "local"
    return out, _batch(str(study / "study.csv"), "-o", str(out), "-j", "2", "--frames", "2")


def test_a_failed_trial_is_recorded_and_the_others_finish(local_run):
    import pandas as pd

    out, result = local_run
    assert result.exit_code == 1, result.output  # one trial failed
    table = pd.read_csv(out / "results.csv")
    assert list(table["trial"]) == ["walkA", "broken"]  # the manifest's order
    walk, broken = table.iloc[0], table.iloc[1]
    assert walk["status"] == "ok" and not walk["fell"] and bool(walk["trusted"])
    assert "no column is a coordinate" in broken["error"] and broken["status"] == "failed"
    assert 0.5 < walk["moment_r_min"] <= 1.0 and walk["grf_vertical_rmse_max_pct_bw"] > 0
    parquet = pd.read_parquet(out / "results.parquet")
    assert list(parquet["trial"]) == ["walkA", "broken"]
    assert parquet["tracking_rms_deg"].iloc[0] == pytest.approx(walk["tracking_rms_deg"])
    trial = out / "trials/walkA"
    for name in ("walkA_id.sto", "walkA_grf.mot", "report.html", "done.json"):
        assert (trial / name).is_file(), name
    assert not (out / "trials/broken/done.json").exists()
    assert "broken:" in result.output and "1 failed" in result.output


def test_a_second_run_skips_finished_trials_and_retries_failed_ones(study: Path, local_run):
    import pandas as pd

    out, _ = local_run
    done = out / "trials/walkA/done.json"
    stamp = done.stat().st_mtime_ns
    result = _batch(str(study / "study.csv"), "-o", str(out), "--no-report", "--json")
    assert result.exit_code == 1 and "1 run, 1 skipped" in result.output
    assert done.stat().st_mtime_ns == stamp
    summary = json.loads(result.stdout)  # the JSON alone on stdout, the messages on stderr
    assert (summary["ran"], summary["skipped"], summary["failed"]) == (1, 1, 1)
    assert [t["status"] for t in summary["trials"]] == ["skipped (finished earlier)", "failed"]
    table = pd.read_csv(out / "results.csv")
    assert table["status"].tolist() == ["skipped (finished earlier)", "failed"]
    assert table["moment_r_min"].iloc[0] > 0.5  # the finished trial's row is kept


def test_ray_local_gives_the_same_trial_as_the_local_pool(study: Path, local_run):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'kintwin-cli[ray]')")
    out, _ = local_run
    manifest = study / "walk_only.csv"
    manifest.write_text("\n".join((study / "study.csv").read_text().splitlines()[:2]) + "\n")
    ray_out = study / "ray"
    result = _batch(str(manifest), "-o", str(ray_out), "--ray", "local", "-j", "1", "--no-report")
    assert result.exit_code == 0, result.output
    assert "Ray, private local instance" in result.output
    ours = (ray_out / "trials/walkA/walkA_id.sto").read_bytes()
    assert ours == (out / "trials/walkA/walkA_id.sto").read_bytes()  # deterministic rollout


def test_ray_needs_a_cluster_at_the_address(study: Path, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'kintwin-cli[ray]')")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    result = CliRunner(env=env).invoke(
        cli, ["batch", str(study / "study.csv"), "--policy", str(SHIPPED),
              "-o", str(tmp_path / "o"), "--ray", "127.0.0.1:1"],
    )  # fmt: skip
    assert result.exit_code == 2 and "kintwin: error: --ray 127.0.0.1:1" in result.output


def test_folder_of_subjects_finds_models_and_references(tmp_path):
    from policies.batch import find_trials

    for subject in ("s1", "s2"):
        (tmp_path / subject).mkdir()
        (tmp_path / subject / f"{subject}.osim").write_text("<OpenSimDocument/>")
        for trial in ("walk", "run"):
            (tmp_path / subject / f"{subject}_{trial}_IK.mot").write_text("x")
        (tmp_path / subject / f"{subject}_walk_grf.mot").write_text("x")
        (tmp_path / subject / f"{subject}_walk_ID.sto").write_text("x")
    trials = {t.name: t for t in find_trials(tmp_path)}
    assert sorted(trials) == ["s1_run", "s1_walk", "s2_run", "s2_walk"]
    assert trials["s2_run"].model == tmp_path / "s2/s2.osim"
    assert trials["s1_walk"].reference_grf == tmp_path / "s1/s1_walk_grf.mot"
    assert trials["s1_walk"].reference_id == tmp_path / "s1/s1_walk_ID.sto"
    assert trials["s1_run"].reference_grf is None


def test_a_batch_output_folder_inside_the_study_holds_no_trials(tmp_path):
    """``kintwin batch study/ -o study/out``: a second run does not take the first one's
    ``_kinematics.mot`` outputs for trials."""
    from policies.batch import find_trials

    (tmp_path / "s1.osim").write_text("<OpenSimDocument/>")
    (tmp_path / "walk_IK.mot").write_text("x")
    trial = tmp_path / "out/trials/walk"
    trial.mkdir(parents=True)
    (tmp_path / "out/batch.json").write_text("{}")
    (trial / "walk_kinematics.mot").write_text("x")
    assert [t.name for t in find_trials(tmp_path)] == ["walk"]
    (tmp_path / "out/batch.json").unlink()  # not a batch's folder: its files are trials
    assert [t.name for t in find_trials(tmp_path)] == ["walk_kinematics", "walk"]


def test_folder_models_shared_from_above_and_names_must_be_unique(tmp_path):
    from converters.errors import KintwinError
    from policies.batch import find_trials

    (tmp_path / "model.osim").write_text("<OpenSimDocument/>")
    for day in ("day1", "day2"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "walk_IK.mot").write_text("x")
    with pytest.raises(KintwinError, match="two trials named 'walk'"):
        find_trials(tmp_path)
    (tmp_path / "day2/walk_IK.mot").rename(tmp_path / "day2/walk2_IK.mot")
    assert {t.model for t in find_trials(tmp_path)} == {tmp_path / "model.osim"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("model,coordinates,speed\n", "unknown column 'speed'; columns are: name, model"),
        ("model\n", "no 'coordinates' column"),
        ("model,coordinates\nm.osim,ik.mot\n", ":2: model"),
        ("model,coordinates\nm.osim\n", ":2: 1 cells, the header has 2"),
    ],
)
def test_bad_manifest_is_one_line_and_runs_nothing(tmp_path, text, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    result = _batch(str(manifest), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2 and message in result.output, result.output
    assert result.output.count("\n") == 1 and not (tmp_path / "out").exists()


def test_a_folder_that_is_not_a_batch_is_not_used(study: Path, tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    result = _batch(str(study / "study.csv"), "-o", str(tmp_path))
    assert result.exit_code == 2 and "not a kintwin batch folder" in result.output
