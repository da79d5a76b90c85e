"""A study of 3D OpenCap trials: ``kintwin batch`` and the batch Makefile on a folder of
subject 4's trials (LaiUhlrich2022 family: 33 coordinates, knee couplers, arms), with OpenSim's
own ID as each trial's reference; ``kintwin compare`` on 3D ID files with known answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kintwin_cli.main import cli

OPENCAP = "opencap-subject4"
MODEL = "Models/optimized_scale_and_markers.osim"
REPO = Path(__file__).resolve().parents[1]
# two short trials: the start of a walk, and a squat's descent (knee 21° -> 82°)
TRIALS = {"walking1": (0.0, 0.5), "squats1": (0.5, 1.0)}
TRANSLATIONS = {"pelvis_tx", "pelvis_ty", "pelvis_tz"}
COUPLED = ["knee_angle_r_beta_force", "knee_angle_l_beta_force"]  # OpenSim's ID names them
NAMED = ["pelvis_tx_force", "pelvis_ty_force", "pelvis_tz_force", "knee_angle_r_moment",
         "knee_angle_l_moment", "lumbar_extension_moment", "lumbar_bending_moment",
         "arm_flex_r_moment", "arm_flex_l_moment", "elbow_flex_r_moment", "pro_sup_l_moment",
         "mtp_angle_r_moment", "subtalar_angle_l_moment"]  # fmt: skip


def _cli(*args) -> object:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def _opensim_id(model: Path, ik: Path, loads: Path, span: tuple[float, float], out: Path,
                work: Path) -> Path:  # fmt: skip
    """OpenSim's InverseDynamicsTool on the trial, plates assigned to feet, 6 Hz as OpenCap's."""
    from converters.opensim_reference.tools import run_inverse_dynamics

    run_inverse_dynamics(model, ik, loads, 6.0, span, work).rename(out)
    return out


@pytest.fixture(scope="module")
def study(shared_data: Path, tmp_path_factory) -> dict:
    """``study/``: each trial's IK (cut to 0.5 s), its plates assigned to the feet
    (``kintwin convert grf``: ``<trial>_grf.mot`` + ``.xml``) and OpenSim's ID of it
    (``<trial>_ID.sto``), the model beside them; ``policy/``: a tiny policy trained on both
    trials (a few PPO iterations: it tracks badly and may fall)."""
    from converters.opensim_io.table import read_table, write_table

    data = shared_data / OPENCAP
    root = tmp_path_factory.mktemp("opencap")
    folder = root / "study"
    folder.mkdir()
    model = folder / "subject4.osim"
    model.symlink_to(data / MODEL)
    for trial, (t0, t1) in TRIALS.items():
        ik = read_table(data / f"IK/{trial}_ik.mot")
        keep = (ik.time >= t0 - 1e-9) & (ik.time <= t1 + 1e-9)
        write_table(ik.with_data(ik.data[keep], time=ik.time[keep]), folder / f"{trial}_ik.mot")
        _cli("convert", "grf", data / f"ID/{trial}_grf.mot", "--model", model,
             "--coordinates", folder / f"{trial}_ik.mot", "-o", folder / trial)  # fmt: skip
        _opensim_id(model, folder / f"{trial}_ik.mot", folder / f"{trial}_grf.xml", (t0, t1),
                    folder / f"{trial}_ID.sto", root / f"opensim_{trial}")  # fmt: skip
    policy = root / "policy"
    _cli("train", "--model", model, "--motions", *[folder / f"{t}_ik.mot" for t in TRIALS],
         "--steps", 64, "--envs", 2, "--workers", 1, "--overground", "-o", policy)  # fmt: skip
    return {"folder": folder, "model": model, "policy": policy, "root": root}


@pytest.fixture(scope="module")
def batch(study: dict) -> tuple[Path, object]:
    out = study["root"] / "out"
    result = CliRunner().invoke(
        cli, ["batch", str(study["folder"]), "--policy", str(study["policy"]), "-o", str(out),
              "-j", "1", "--frames", "1"],
    )  # fmt: skip
    return out, result


def _opensim_labels(path: Path) -> list[str]:
    import opensim

    opensim.Logger.setLevelString("error")
    storage = opensim.Storage(str(path))  # kept alive while its labels are read
    labels = storage.getColumnLabels()
    return [labels.get(i) for i in range(labels.getSize())]


def test_batch_writes_what_opensim_reads_for_every_3d_trial(study: dict, batch):
    """Each trial: the ID with one generalized force per independent coordinate (the names
    OpenSim's ID gives them, its coupled patella coordinates aside: kintwin adds their force
    into the knee's), the per-foot GRF with its ExternalLoads, the summary; OpenSim reads them."""
    import opensim
    import pandas as pd

    from converters.opensim_io.table import read_table

    out, result = batch
    assert result.exit_code == 0, result.output
    assert "2 run, 0 skipped" in result.output
    table = pd.read_csv(out / "results.csv").set_index("trial")
    assert sorted(table.index) == sorted(TRIALS) and set(table["status"]) == {"ok"}
    for trial, (t0, t1) in TRIALS.items():
        folder = out / "trials" / trial
        theirs = _opensim_labels(study["folder"] / f"{trial}_ID.sto")
        ours = _opensim_labels(folder / f"{trial}_id.sto")  # OpenSim's own reader
        assert ours[0] == "time" and len(ours) == len(set(ours)) == 34
        assert set(ours) == set(theirs) - set(COUPLED) and set(COUPLED) <= set(theirs)
        assert set(NAMED) <= set(ours)
        coordinates = read_table(study["folder"] / f"{trial}_ik.mot").labels
        expected = [f"{c}_force" if c in TRANSLATIONS else f"{c}_moment" for c in coordinates]
        assert ours[1:] == expected  # the model's order, translations as forces
        id_table = read_table(folder / f"{trial}_id.sto")
        assert np.isfinite(id_table.data).all()
        summary = json.loads((folder / f"{trial}_summary.json").read_text())
        row = table.loc[trial]
        assert bool(row["fell"]) == summary["fell"]  # what happened is recorded
        assert row["fraction_tracked"] == pytest.approx(summary["fraction_tracked"])
        tracked_to = t0 + summary["fraction_tracked"] * (t1 - t0)
        assert t0 - 0.011 <= id_table.time[0] and id_table.time[-1] <= tracked_to + 0.011
        if not summary["fell"]:  # the whole trial, to within a control step at each end
            assert id_table.time[0] <= t0 + 0.011 and id_table.time[-1] >= t1 - 0.011
        grf = _opensim_labels(folder / f"{trial}_grf.mot")
        for side in ("r", "l"):
            assert {f"{side}_ground_force_v{a}" for a in "xyz"} <= set(grf)
        loads = opensim.ExternalLoads(str(folder / f"{trial}_grf.xml"), True)
        bodies = {loads.get(i).getAppliedToBodyName() for i in range(loads.getSize())}
        assert bodies == {"calcn_r", "calcn_l"}
        assert (folder / "report.html").is_file()


def test_batch_compares_each_trial_with_its_reference_column_by_column(study: dict, batch):
    """``<trial>_compare_id.csv``: one row per column common to ours and OpenSim's ID (every
    generalized force, the two patella couplers listed as missing in the JSON); the GRF against
    the plates, feet paired with them, force components only."""
    import pandas as pd

    from converters.opensim_io.table import read_table

    out, result = batch
    assert result.exit_code == 0, result.output
    results = pd.read_csv(out / "results.csv").set_index("trial")
    for trial in TRIALS:
        folder = out / "trials" / trial
        ours = read_table(folder / f"{trial}_id.sto").labels
        theirs = read_table(study["folder"] / f"{trial}_ID.sto").labels
        rows = pd.read_csv(folder / f"{trial}_compare_id.csv")
        assert list(rows["name"]) == [c for c in theirs if c in ours]  # the reference's order
        assert len(rows) == 33 and (rows["name"] == rows["ours_label"]).all()
        assert (rows["n"] > 40).all() and np.isfinite(rows["rmse"]).all()
        kinds = dict(zip(rows["name"], rows["kind"], strict=True))
        assert kinds["pelvis_ty_force"] == "force" and kinds["knee_angle_l_moment"] == "moment"
        moved = rows[~rows["name"].str.startswith("pelvis_")]  # ours has no residual: zeros
        assert moved["r"].between(-1, 1).all() and rows["rmse_per_kg"].notna().all()
        report = json.loads((folder / f"{trial}_compare_id.json").read_text())
        assert report["only_reference"] == COUPLED and report["only_ours"] == []
        assert report["coupled"] == {c: [c.replace("_beta_force", "")] for c in COUPLED}
        assert results.loc[trial, "compare_id_columns"] == 33
        assert results.loc[trial, "compare_id_missing"] == ";".join(COUPLED)
        grf = pd.read_csv(folder / f"{trial}_compare_grf.csv")
        assert set(grf["kind"]) == {"force"} and grf["name"].str.contains("_force_v").all()
        assert {n[-2:] for n in grf["name"]} == {"vx", "vy", "vz"}


def test_batch_with_the_contact_method_needs_no_policy(study: dict):
    """``kintwin batch --method contact``: every trial's ID and GRF from the motion alone,
    compared with OpenSim's ID and the plates; the walk's ankles follow OpenSim's (r > 0.8 on
    its half second, with the plates under the feet); a policy or --so with it is refused."""
    import pandas as pd

    out = study["root"] / "out_contact"
    result = CliRunner().invoke(
        cli, ["batch", str(study["folder"]), "--method", "contact", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    results = pd.read_csv(out / "results.csv").set_index("trial")
    assert set(results.index) == set(TRIALS) and (results["status"] == "ok").all()
    assert (results["method"] == "contact").all() and (results["compare_id_columns"] == 33).all()
    assert (results["implausible_spans"] == 0).all() and (results["unsupported_spans"] == 0).all()
    for trial in TRIALS:
        assert (out / "trials" / trial / f"{trial}_grf.xml").is_file()
        assert not (out / "trials" / trial / "report.html").exists()
    rows = pd.read_csv(out / "trials" / "walking1" / "walking1_compare_id.csv").set_index("name")
    assert rows.loc["ankle_angle_r_moment", "r"] > 0.8
    for extra in (["--policy", str(study["policy"])], ["--so"]):
        refused = CliRunner().invoke(cli, ["batch", str(study["folder"]), "--method", "contact",
                                           "-o", str(study["root"] / "x"), *extra])  # fmt: skip
        assert refused.exit_code != 0 and "--method contact" in refused.output


def test_a_second_batch_run_skips_the_finished_trials(study: dict, batch):
    out, _ = batch
    done = {t: (out / "trials" / t / "done.json").stat().st_mtime_ns for t in TRIALS}
    result = CliRunner().invoke(
        cli, ["batch", str(study["folder"]), "--policy", str(study["policy"]), "-o", str(out),
              "--no-report", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0 and "0 run, 2 skipped" in result.output, result.output
    summary = json.loads(result.stdout)
    assert [t["status"] for t in summary["trials"]] == ["skipped (finished earlier)"] * 2
    assert {t: (out / "trials" / t / "done.json").stat().st_mtime_ns for t in TRIALS} == done


def test_a_fall_is_recorded_and_the_tracked_part_written_and_compared(study: dict):
    """A policy too weak to hold the body up (0.3 N·m/kg, a few iterations) falls in the walk:
    the trial still succeeds, its row says it fell and how much was tracked, the ID covers that
    part only and is compared there (without reports too)."""
    import pandas as pd

    from converters.opensim_io.table import read_table

    weak, out = study["root"] / "weak_policy", study["root"] / "weak_out"
    _cli("train", "--model", study["model"], "--motions", study["folder"] / "walking1_ik.mot",
         "--steps", 32, "--envs", 2, "--workers", 1, "--overground", "--set",
         "torque_per_kg=0.3", "-o", weak)  # fmt: skip
    result = CliRunner().invoke(
        cli, ["batch", str(study["folder"]), "--policy", str(weak), "-o", str(out), "--no-report"]
    )
    assert result.exit_code == 0, result.output
    row = pd.read_csv(out / "results.csv").set_index("trial").loc["walking1"]
    assert row["status"] == "ok" and bool(row["fell"]) and 0 < row["fraction_tracked"] < 1
    assert row["fall_searches"] >= 1  # searched for a way through first, in vain
    assert row["implausible_spans"] == 0  # walking1's IK moves as a body can
    t0, t1 = TRIALS["walking1"]
    fallen = t0 + row["fraction_tracked"] * (t1 - t0)
    ours = read_table(out / "trials/walking1/walking1_id.sto")
    assert np.isfinite(ours.data).all() and ours.time[-1] <= fallen + 0.011
    rows = pd.read_csv(out / "trials/walking1/walking1_compare_id.csv")
    assert len(rows) == 33 and rows["peak_time"].max() <= fallen + 0.011
    full = int((t1 - t0) / 0.01) + 1  # the reference's samples over the whole trial
    assert (rows["n"] < full).all() and (rows["n"] >= 0.8 * row["fraction_tracked"] * full).all()
    assert not (out / "trials/walking1/report.html").exists()
    # --on-fall restart: the row counts the restarts and the ID covers the whole trial
    again = study["root"] / "weak_restart"
    result = CliRunner().invoke(
        cli, ["batch", str(study["folder"]), "--policy", str(weak), "-o", str(again),
              "--no-report", "--on-fall", "restart", "--no-fall-search"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    row = pd.read_csv(again / "results.csv").set_index("trial").loc["walking1"]
    assert row["status"] == "ok" and bool(row["fell"]) and row["restarts"] >= 1
    assert row["fall_searches"] == 0
    assert read_table(again / "trials/walking1/walking1_id.sto").time[-1] == pytest.approx(
        t1, abs=0.011
    )


def test_makefile_runs_the_opencap_folder_and_compares(study: dict, batch, tmp_path):
    """The batch Makefile on the same folder (OpenCap's ``_ik.mot`` names; the ``_grf.mot``
    plates beside them are not trials): the same ID as ``kintwin batch``, a comparison per
    trial, and nothing left to do on a second ``make``."""
    import pandas as pd

    from converters.opensim_io.table import read_table

    out = tmp_path / "out"
    kintwin = Path(sys.executable).with_name("kintwin")
    command = [
        "make", "-f", str(REPO / "examples/batch/Makefile"), "-j2", f"KINTWIN={kintwin}",
        f"MODEL={study['model']}", f"TRIALS={study['folder']}", f"REFERENCE={study['folder']}",
        f"OUT={out}", f"POLICY={study['policy']}", "CONVERT_FLAGS=--no-muscles --no-meshes",
    ]  # fmt: skip
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    batch_out, _ = batch
    for trial in TRIALS:
        for suffix in ("_id.sto", "_grf.mot", "_grf.xml", "_summary.json", "_compare.png"):
            assert (out / f"{trial}{suffix}").is_file(), trial + suffix
        ours = read_table(out / f"{trial}_id.sto")
        theirs = read_table(batch_out / "trials" / trial / f"{trial}_id.sto")
        assert ours.labels == theirs.labels
        np.testing.assert_allclose(ours.data, theirs.data, rtol=1e-6, atol=1e-6)
        rows = pd.read_csv(out / f"{trial}_compare.csv")
        assert len(rows) == 33 and rows["rmse_per_kg"].notna().all()  # mass from the model
        report = json.loads((out / f"{trial}_compare.json").read_text())
        assert report["only_reference"] == COUPLED and set(report["coupled"]) == set(COUPLED)
        assert report["config"]["mass_kg"] == pytest.approx(62.6, abs=0.1)
    assert subprocess.run([*command, "-q"], env=env).returncode == 0  # up to date
    # METHOD=contact: no policy; the same files as kintwin id --method contact
    contact = tmp_path / "contact"
    command = [c for c in command if not c.startswith(("OUT=", "POLICY="))]
    command += [f"OUT={contact}", "METHOD=contact"]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    for trial in TRIALS:
        assert (contact / f"{trial}_grf.xml").is_file() and (
            contact / f"{trial}_compare.csv"
        ).is_file()
        assert not (contact / f"{trial}_summary.json").exists()  # the policy's summary


def test_compare_matches_every_3d_column_by_name_with_known_errors(study: dict, tmp_path):
    """OpenSim's ID of the walk against itself changed in known ways: the knee's left moment
    ×1.1 (RMSE 0.1·RMS, r 1), pelvis_ty_force +10 N (RMSE 10 N, 100·10/(m·g) %BW), the
    couplers dropped and the columns put in kintwin's (model) order; every other column exact."""
    from converters.opensim_io.table import Table, read_table, write_table

    reference_path = study["folder"] / "walking1_ID.sto"
    reference = read_table(reference_path)
    order = sorted((c for c in reference.labels if c not in COUPLED), key=len)  # any other order
    data = np.column_stack([reference.column(c) for c in order])
    knee, pelvis = order.index("knee_angle_l_moment"), order.index("pelvis_ty_force")
    data[:, knee] *= 1.1
    data[:, pelvis] += 10.0
    ours = write_table(Table(time=reference.time, labels=order, data=data), tmp_path / "o.sto")
    mass = 62.6
    plot, csv = tmp_path / "walk.png", tmp_path / "walk.csv"
    result = _cli("compare", ours, reference_path, "--mass", mass, "--json", "--plot", plot,
                  "--csv", csv)  # fmt: skip
    report = json.loads(result.stdout)
    columns = {c["name"]: c for c in report["columns"]}
    assert list(columns) == [c for c in reference.labels if c not in COUPLED]
    assert report["only_reference"] == COUPLED and report["only_ours"] == []
    assert report["coupled"] == {}  # no --model: nothing says these are couplers
    assert all(
        c["name"] == c["ours_label"] and c["n"] == len(reference.time) for c in columns.values()
    )
    knee_ref = reference.column("knee_angle_l_moment")
    assert columns["knee_angle_l_moment"]["rmse"] == pytest.approx(
        0.1 * np.sqrt(np.mean(knee_ref**2)), rel=1e-6
    )
    assert columns["knee_angle_l_moment"]["peak_error"] == pytest.approx(
        0.1 * np.abs(knee_ref).max(), rel=1e-6
    )
    assert columns["knee_angle_l_moment"]["r"] == pytest.approx(1.0, abs=1e-9)
    assert columns["pelvis_ty_force"]["rmse"] == pytest.approx(10.0, rel=1e-6)
    assert columns["pelvis_ty_force"]["rmse_pct_bw"] == pytest.approx(
        100 * 10.0 / (mass * 9.81), rel=1e-6
    )
    assert columns["pelvis_ty_force"]["kind"] == "force"
    for name, column in columns.items():
        if name not in ("knee_angle_l_moment", "pelvis_ty_force"):
            assert column["rmse"] < 1e-6 and column["peak_error"] < 1e-6, name  # file rounding
            assert column["kind"] == ("force" if name[:-6] in TRANSLATIONS else "moment")
            if np.ptp(reference.column(name)) > 1e-6:
                assert column["r"] == pytest.approx(1.0, abs=1e-9), name
    import pandas as pd

    rows = pd.read_csv(csv)
    assert list(rows["name"]) == list(columns)
    assert rows.set_index("name").loc["pelvis_ty_force", "unit"] == "N"
    from PIL import Image

    with Image.open(plot) as image:  # one subplot per column: 33 in 9 rows of 4 (4 x 2.8 in)
        assert image.size == (4 * 4 * 90, round((2.8 * 9 + 0.5) * 90))


def test_classic_id_agrees_with_opensim_on_the_3d_walk_through_compare(study: dict, tmp_path):
    """``kintwin id --method classic`` against OpenSim's ID of the same walk, read by
    ``kintwin compare``: the same equations on the same filtered kinematics and plates, so every
    common column within the project's ID bar (max(0.5 N·m or N, 1 % of the column's peak),
    benchmarks/bench_classic_id.py), r > 0.999; only the couplers missing, and named as such."""
    folder = study["folder"]
    ours = tmp_path / "walking1_classic.sto"
    _cli("id", "--method", "classic", "--model", study["model"], "--coordinates",
         folder / "walking1_ik.mot", "--external-loads", folder / "walking1_grf.xml",
         "--lowpass-hz", 6, "-o", ours)  # fmt: skip
    result = _cli("compare", ours, folder / "walking1_ID.sto", "--model", study["model"], "--json")
    report = json.loads(result.stdout)
    from converters.opensim_io.table import read_table

    reference = read_table(folder / "walking1_ID.sto")
    assert len(report["columns"]) == 33 and report["only_reference"] == COUPLED
    assert report["config"]["mass_kg"] == pytest.approx(62.6, abs=0.1)
    for side in "rl":  # the model says why OpenSim has two columns more
        assert report["coupled"][f"knee_angle_{side}_beta_force"] == [f"knee_angle_{side}"]
        assert (f"knee_angle_{side}_beta_force  missing in ours (a coordinate coupled to "
                f"knee_angle_{side}") in result.output  # fmt: skip
    for column in report["columns"]:
        bar = max(0.5, 0.01 * np.abs(reference.column(column["name"])).max())
        assert column["peak_error"] <= bar, column
        if np.ptp(reference.column(column["name"])) > 1.0:
            assert column["r"] > 0.999, column


def test_a_comparison_that_cannot_be_made_is_recorded_not_raised(tmp_path):
    """A reference ID of another time span: the trial's row holds the reason, no compare file
    is left (an earlier run's included), and a dotted trial name keeps its whole name."""
    from converters.opensim_io.table import Table, write_table
    from policies.batch.compare import compare_paths, compare_references
    from policies.batch.trials import Trial
    from policies.imitation_id import output_paths

    outputs = output_paths(tmp_path, "s1.walk")
    time = np.linspace(0.0, 1.0, 11)
    write_table(Table(time=time, labels=["knee_angle_r_moment"], data=time[:, None]),
                outputs.id_sto)  # fmt: skip
    reference = write_table(
        Table(time=time + 10.0, labels=["knee_angle_r_moment"], data=time[:, None]),
        tmp_path / "ref_ID.sto",
    )
    csv_path, json_path = compare_paths(tmp_path, "s1.walk", "id")
    assert csv_path.name == "s1.walk_compare_id.csv"
    csv_path.write_text("stale")
    trial = Trial("s1.walk", tmp_path / "m.osim", tmp_path / "ik.mot", reference_id=reference)
    row = compare_references(trial, outputs, tmp_path, 70.0)
    assert "do not overlap in time" in row["compare_id_error"]
    assert not csv_path.exists() and not json_path.exists()
