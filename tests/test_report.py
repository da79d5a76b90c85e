"""``kintwin report`` / ``kintwin id --report``: trust flags, plots against references, the page."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kintwin_cli.main import cli

GAIT = "opensim-models/Pipelines/Gait10dof18musc/OutputReference"
REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "policies/pretrained/gait10dof18musc_walk_torque"


@pytest.fixture(scope="module")
def id_run(shared_data: Path, tmp_path_factory) -> Path:
    """`kintwin id --report` with the shipped policy on the Gait10dof18musc walk."""
    out = tmp_path_factory.mktemp("report")
    p = shared_data / GAIT
    result = CliRunner().invoke(
        cli,
        [
            "id", "--model", str(p / "subject01.osim"),
            "--coordinates", str(p / "IK/subject01_walk_IK.mot"),
            "--policy", str(SHIPPED), "-o", str(out), "--report",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def _images(page: str) -> list[bytes]:
    sources = re.findall(r'src="([^"]*)"', page)
    assert all(s.startswith("data:image/png;base64,") for s in sources), sources
    return [base64.b64decode(s.split(",", 1)[1]) for s in sources]


def test_id_report_is_one_self_contained_page(id_run: Path):
    page = (id_run / "subject01_walk_report.html").read_text(encoding="utf-8")
    images = _images(page)
    assert len(images) >= 6 and all(i.startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert "<script" not in page and "stylesheet" not in page
    assert not re.search(r"(href|src)=\"(https?:|//)", page)  # nothing fetched from outside
    order = ["Can these numbers be trusted?", "Joint moments", "Ground reaction forces",
             "Muscle activations", "Gait events", "simulated body over the reference"]  # fmt: skip
    positions = [page.index(heading) for heading in order]
    assert positions == sorted(positions)
    flags = ["fall", "tracking", "root residuals", "foot slip", "distance from training motions"]
    for flag in flags:
        assert f"<td>{flag}</td>" in page
    assert "All trust flags are within their bars." in page  # the shipped policy on its walk
    assert re.search(r"Drawn with the (MuJoCo offscreen renderer|matplotlib stick figure)", page)


def test_report_against_opensim_and_force_plates(shared_data: Path, id_run: Path, tmp_path):
    """The legend's r and RMSE are kintwin compare's; the benchmark's bars hold."""
    from policies.report import ReportConfig, write_report

    p = shared_data / GAIT
    reference_id, plates = (
        p / "ID/Results/subject01_walk_ID.sto",
        p / "ExperimentalData/subject01_walk_grf.mot",
    )
    config = ReportConfig(
        reference_id=reference_id, reference_grf=plates, frames=3, renderer="skeleton",
        model=p / "subject01.osim", coordinates=p / "IK/subject01_walk_IK.mot",
    )  # fmt: skip
    report = write_report(id_run, tmp_path / "r.html", config)
    compared = tmp_path / "compare.json"
    result = CliRunner().invoke(
        cli, ["compare", str(id_run / "subject01_walk_id.sto"), str(reference_id),
              "--model", str(p / "subject01.osim"), "--json", str(compared)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    columns = {c["ours_label"]: c for c in json.loads(compared.read_text())["columns"]}
    hip = columns["hip_flexion_r_moment"]
    assert f"<td>hip_flexion_r_moment</td><td>{hip['r']:.3f}</td>" in report.html
    assert f"{hip['rmse_per_kg']:.3g} N·m/kg" in report.html
    m = report.metrics
    assert m["moment_r_min"] == pytest.approx(
        min(columns[c]["r"] for c in columns if c.endswith("_moment") and "pelvis" not in c)
    )
    assert m["grf_vertical_rmse_max_pct_bw"] < 10.0  # bench_imitation_id's bar
    assert m["event_error_max_ms"] < 40.0
    text = html.unescape(report.html)
    assert "our r foot ↔ plate ''" in text and "our l foot ↔ plate '1_'" in text
    assert report.renderer.startswith("matplotlib stick figure")


def test_feet_pair_with_plates_by_their_forces_not_their_names(shared_data: Path, id_run: Path):
    from converters.opensim_io.table import read_table
    from policies.report.references import match_plates

    ours = read_table(id_run / "subject01_walk_grf.mot")
    plates = read_table(shared_data / GAIT / "ExperimentalData/subject01_walk_grf.mot")
    assert match_plates(ours, plates).pairs == {"r_": "", "l_": "1_"}
    swapped = plates.with_data(plates.data)  # plate '' renamed 'B_', plate '1_' renamed 'A_'
    swapped.labels = ["A_" + lb[2:] if lb.startswith("1_") else "B_" + lb for lb in plates.labels]
    pairing = match_plates(ours, swapped)
    assert pairing.pairs == {"r_": "B_", "l_": "A_"}
    assert pairing.correlation["r_"] > 0.95 and pairing.correlation["l_"] > 0.95
    np.testing.assert_array_equal(
        pairing.renamed.column("l_ground_force_vy"), plates.column("1_ground_force_vy")
    )


def test_foot_slip_is_measured_against_the_belt(shared_data: Path, id_run: Path):
    """On the treadmill the stance feet ride the belt (little slip); measured against a floor
    that stands still, the same feet slide at the belt's speed for their whole stance."""
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.opensim_io.table import read_table
    from policies.report.poses import foot_slip

    summary = json.loads((id_run / "subject01_walk_summary.json").read_text())
    model = shared_data / GAIT / "subject01.osim"
    converted = convert_osim(model, ConvertOptions(meshes=False, muscles=False))
    kinematics = read_table(id_run / "subject01_walk_kinematics.mot")
    grf = read_table(id_run / "subject01_walk_grf.mot")
    belt = summary["belt_speed_m_per_s"]
    on_belt = foot_slip(converted, kinematics, grf, summary["feet"], belt)
    on_floor = foot_slip(converted, kinematics, grf, summary["feet"], 0.0)
    for moving, still in zip(on_belt, on_floor, strict=True):
        assert moving.stances >= 2 and moving.worst_cm < 5.0
        loaded = np.isfinite(still.speed)
        assert np.median(still.speed[loaded]) == pytest.approx(100 * abs(belt), rel=0.1)


def test_training_distance_finds_a_coordinate_moved_out_of_range(shared_data: Path):
    from converters.opensim_io.table import read_table
    from policies.report.inputs import locate_training_motions
    from policies.report.trust import training_distance

    ik = shared_data / GAIT / "IK/subject01_walk_IK.mot"
    motions, missing = locate_training_motions(SHIPPED, [ik.parent])
    assert motions == [ik] and missing == []  # found by the card's name and SHA-256
    trial = read_table(ik)
    rotational = ["hip_flexion_r", "knee_angle_r", "ankle_angle_r", "hip_flexion_l",
                  "knee_angle_l", "ankle_angle_l", "lumbar_extension", "pelvis_tilt"]  # fmt: skip
    same = training_distance(trial, motions, rotational)
    assert same.p95 == pytest.approx(0.0, abs=1e-9) and not same.outside()
    shifted = trial.with_data(trial.data.copy())
    shifted.data[:, trial.labels.index("knee_angle_r")] += 20.0
    far = training_distance(shifted, motions, rotational)
    assert far.outside() == pytest.approx({"knee_angle_r": 20.0})
    assert (
        0.0 < far.p95 <= 20.0 / np.sqrt(len(rotational)) + 1e-9
    )  # the unshifted frame is a candidate


def test_inputs_are_found_by_name_and_digest_or_left_out_with_the_reason(
    shared_data: Path, id_run: Path, tmp_path
):
    """A copy of the outputs far from the inputs still gives a report: what needs the model,
    motion or policy says why it is missing; given inputs are checked against the digests."""
    from converters.errors import KintwinError
    from policies.report import ReportConfig, build_report

    alone = tmp_path / "alone"
    shutil.copytree(id_run, alone)
    (alone / "subject01_walk_report.html").unlink()
    page = html.unescape(build_report(alone, ReportConfig(frames=2)).html)
    assert "the model subject01.osim was not found beside the outputs (give --model)" in page
    assert "No frames:" in page and "Joint moments" in page
    p = shared_data / GAIT
    report = build_report(alone, ReportConfig(frames=0, model=p / "subject01.osim",
                                              coordinates=p / "IK/subject01_walk_IK.mot"))  # fmt: skip
    assert report.metrics["trusted"]  # the shipped policy is found among the shipped ones
    with pytest.raises(KintwinError, match="not this trial's model"):
        build_report(alone, ReportConfig(frames=0, model=p / "gait10dof18musc.osim"))


def test_trust_flags_fail_on_a_fall_poor_tracking_and_residuals():
    from policies.report.trust import TrustBars, trust_flags

    summary = {
        "fell": True, "fraction_tracked": 0.4, "time_span_s": [0.0, 1.0],
        "tracking_rmse": {"knee_angle_r": 3.5, "pelvis_tx": 1.0},
        "tracking_units": {"knee_angle_r": "deg", "pelvis_tx": "cm"},
        "residuals": {"used": True, "rms_percent_bw": 4.0},
    }  # fmt: skip
    flags = {f.name: f for f in trust_flags(summary, TrustBars(), None, "no model")}
    assert flags["fall"].ok is False and "40 %" in flags["fall"].value
    assert flags["tracking"].ok is False and "knee_angle_r 3.50 deg" in flags["tracking"].detail
    assert flags["root residuals"].ok is False
    assert flags["foot slip"].ok is None and flags["foot slip"].detail == "no model"
    summary.update(fell=False, tracking_rmse={"knee_angle_r": 1.5, "pelvis_tx": 1.0})
    summary["residuals"]["rms_percent_bw"] = 1.0
    flags = {f.name: f for f in trust_flags(summary, TrustBars(), None, "no model")}
    assert flags["fall"].ok and flags["tracking"].ok and flags["root residuals"].ok


def test_report_errors_are_one_line_and_leave_nothing(id_run: Path, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["report", str(empty), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and not (tmp_path / "r.html").exists()
    assert result.output.strip().startswith("kintwin: error:") and "kintwin id" in result.output
    existing = tmp_path / "existing.html"
    existing.write_text("keep")
    result = CliRunner().invoke(cli, ["report", str(id_run), "-o", str(existing)])
    assert result.exit_code == 2 and existing.read_text() == "keep"
    two = tmp_path / "two"
    shutil.copytree(id_run, two)
    shutil.copy(two / "subject01_walk_summary.json", two / "other_summary.json")
    result = CliRunner().invoke(cli, ["report", str(two), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "other, subject01_walk" in result.output
    result = CliRunner().invoke(
        cli, ["report", str(two), "--trial", "nope", "-o", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 2 and "no trial 'nope'" in result.output


def test_classic_id_refuses_report(shared_data: Path, tmp_path):
    p = shared_data / GAIT
    result = CliRunner().invoke(
        cli, ["id", "--method", "classic", "--model", str(p / "subject01.osim"),
              "--coordinates", str(p / "IK/subject01_walk_IK.mot"), "--report",
              "-o", str(tmp_path / "x.sto")],
    )  # fmt: skip
    assert result.exit_code == 2 and "--report" in result.output


# ------------------------------------------------------------------------- a real browser

IMAGE_CHECK = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter((i) => !i.complete || i.naturalWidth === 0);
  for (const i of broken) console.error("broken image: " + i.alt);
  console.log("kintwin-images " + (images.length - broken.length) + "/" + images.length);
});
</script>"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no chromium on this machine (make browser installs Debian's package)")
    return found


def _browse(page: Path, shot: Path, tmp_path: Path, size: str = "1200,4200") -> list[str]:
    """Load ``page`` in headless Chromium, screenshot it; returns the console messages."""
    import subprocess

    run = subprocess.run(
        [_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", f"--user-data-dir={tmp_path / 'profile'}",
         f"--window-size={size}", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert shot.is_file(), run.stderr[-2000:]
    return re.findall(r":CONSOLE[^\]]*\] (.*)", run.stderr)


@pytest.mark.slow
def test_report_loads_in_chromium_without_console_errors(id_run: Path, tmp_path):
    """The page as written loads with no console message at all; a copy with a script that
    checks every image finds them all decoded; the screenshot shows the plots' red lines."""
    report = id_run / "subject01_walk_report.html"
    shot = tmp_path / "report.png"
    assert _browse(report, shot, tmp_path) == []
    checked = tmp_path / "checked.html"
    page = report.read_text(encoding="utf-8")
    checked.write_text(page.replace("</body>", IMAGE_CHECK + "</body>"), encoding="utf-8")
    messages = _browse(checked, tmp_path / "checked.png", tmp_path)
    count = len(re.findall(r"<img ", page))
    assert len(messages) == 1 and f"kintwin-images {count}/{count}" in messages[0], messages
    import matplotlib.image

    pixels = (matplotlib.image.imread(shot)[..., :3] * 255).round()
    red = np.all(np.abs(pixels - [214, 39, 40]) < 30, axis=-1)  # matplotlib's C3: our curves
    green = np.all(np.abs(pixels - [46, 125, 50]) < 30, axis=-1)  # bars within the bar
    assert red.sum() > 5000 and green.sum() > 2000, (red.sum(), green.sum())
    shutil.copy(shot, Path(tmp_path.parent) / "kintwin_report_screenshot.png")


def test_browser_check_catches_console_errors(tmp_path):
    """The check above is not blind: a page with a script error and a broken image is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><img alt="x" src="data:image/png;base64,AAAA">'
                   '<script>undefinedFunction();</script>' + IMAGE_CHECK + "</body></html>")  # fmt: skip
    messages = _browse(bad, tmp_path / "bad.png", tmp_path, "400,300")
    assert any("undefinedFunction" in m for m in messages)
    assert any("broken image: x" in m for m in messages)
    assert any("kintwin-images 0/1" in m for m in messages)


@pytest.mark.slow
def test_so_report_shows_the_activations(shared_data: Path, tmp_path):
    """kintwin so --report: the page plots every muscle's activation from the SO file."""
    from converters.opensim_io.table import read_table

    p = shared_data / GAIT
    out = tmp_path / "so"
    result = CliRunner().invoke(
        cli,
        ["so", "--model", str(p / "subject01.osim"),
         "--coordinates", str(p / "IK/subject01_walk_IK.mot"),
         "--policy", str(SHIPPED), "-o", str(out), "--report"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = (out / "subject01_walk_report.html").read_text(encoding="utf-8")
    section = page[page.index("Muscle activations") : page.index("Gait events")]
    assert 'alt="muscle activations"' in section and "no activations to show" not in section
    assert "18 muscles from subject01_walk_StaticOptimization_activation.sto" in section
    activation = read_table(out / "subject01_walk_StaticOptimization_activation.sto")
    muscles = [m for m in activation.labels if not m.endswith(("_reserve", "_residual"))]
    assert len(muscles) == 18  # Gait10dof18musc
