"""Body scaling as OpenSim's ScaleTool scales: checked against a true ScaleTool pair (OpenCap
subject 4: ``unscaled_but_with_optimized_markers.osim`` scaled by ``rescaling_setup.xml`` gives
``optimized_scale_and_markers.osim``; OpenSim 4.6's ``Model::scale`` with that ScaleSet
reproduces the scaled file's body positions and masses to the last digit)."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest
from lxml import etree

from converters.errors import KintwinError
from converters.mjcf.builder import ConvertOptions
from converters.model_conversion import convert_osim, make_exact
from policies.body_scaling import (
    BodySampler,
    BodyScaling,
    body_dimensions,
    scale_converted,
    segment_factors,
    standing_height,
)

MODELS = "opencap-subject4/Models"
OPTIONS = ConvertOptions(meshes=False, muscles=False)


@pytest.fixture(scope="module")
def generic(shared_data: Path):
    return convert_osim(shared_data / MODELS / "unscaled_but_with_optimized_markers.osim", OPTIONS)


def _scale_set(path: Path) -> tuple[dict[str, np.ndarray], float]:
    root = etree.parse(str(path))
    factors = {
        s.findtext("segment").strip(): np.array(s.findtext("scales").split(), dtype=float)
        for s in root.iter("Scale")
    }
    return factors, float(root.findtext(".//mass"))


def _inertias(model: mujoco.MjModel) -> np.ndarray:
    out = []
    for b in range(model.nbody):
        r = np.zeros(9)
        mujoco.mju_quat2Mat(r, model.body_iquat[b])
        r = r.reshape(3, 3)
        out.append(r @ np.diag(model.body_inertia[b]) @ r.T)
    return np.array(out)


def _contact_spheres(model: mujoco.MjModel) -> np.ndarray:
    return np.flatnonzero((model.geom_type == mujoco.mjtGeom.mjGEOM_SPHERE) & model.geom_contype)


def test_scaling_agrees_with_opensims_scale_tool(generic, shared_data: Path):
    factors, mass = _scale_set(shared_data / MODELS / "rescaling_setup.xml")
    assert {round(float(f[0]), 3) for f in factors.values()} != {1.0}  # really non-uniform
    ours = scale_converted(generic, BodyScaling(factors, mass, preserve_mass_distribution=False))
    theirs = convert_osim(shared_data / MODELS / "optimized_scale_and_markers.osim", OPTIONS)
    mine, ref = ours.mj_model, theirs.mj_model
    make_exact(mine, ours.conversion.inertia_overrides)
    make_exact(ref, theirs.conversion.inertia_overrides)
    assert [mine.body(b).name for b in range(mine.nbody)] == [
        ref.body(b).name for b in range(ref.nbody)
    ]
    np.testing.assert_allclose(mine.body_pos, ref.body_pos, atol=1e-12)  # joints' frames
    np.testing.assert_allclose(mine.body_ipos, ref.body_ipos, atol=1e-12)
    np.testing.assert_allclose(mine.body_mass, ref.body_mass, rtol=1e-12)
    np.testing.assert_allclose(_inertias(mine), _inertias(ref), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(mine.site_pos, ref.site_pos, atol=1e-12)  # markers
    np.testing.assert_allclose(mine.eq_data, ref.eq_data, atol=1e-12)  # knee translations
    np.testing.assert_allclose(mine.qpos0, ref.qpos0, atol=1e-12)
    np.testing.assert_allclose(mine.jnt_pos, ref.jnt_pos, atol=1e-12)
    # foot spheres are the converter's own (fitted to each model's feet), not OpenSim's: the
    # scaled generic ones stay within millimetres of those fitted to the scaled model
    spheres = _contact_spheres(ref)
    assert np.abs(mine.geom_pos[spheres] - ref.geom_pos[spheres]).max() < 0.003
    assert np.abs(mine.geom_size[spheres, 0] - ref.geom_size[spheres, 0]).max() < 0.001


def test_identity_scaling_reproduces_the_model_exactly(generic):
    ones = BodyScaling.uniform({b.name: 1.0 for b in generic.conversion.spec.bodies})
    same = scale_converted(generic, ones).mj_model
    model = generic.mj_model
    for field in ("body_pos", "body_quat", "body_ipos", "jnt_pos", "geom_pos", "geom_size",
                  "site_pos", "eq_data", "qpos0", "body_mass"):  # fmt: skip
        np.testing.assert_allclose(getattr(same, field), getattr(model, field), atol=1e-15)
    np.testing.assert_allclose(_inertias(same), _inertias(model), rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("factor", [0.87, 1.12])
def test_uniform_scaling_scales_the_standing_body(generic, factor):
    names = [b.name for b in generic.conversion.spec.bodies if b.name not in ("world", "ground")]
    scaled = scale_converted(generic, BodyScaling.uniform(dict.fromkeys(names, factor), 80.0))
    model = scaled.mj_model
    assert standing_height(model) == pytest.approx(factor * standing_height(generic.mj_model))
    assert model.body_mass.sum() == pytest.approx(80.0)
    # mass distribution kept, inertia x mass ratio x factor^2
    ratio = 80.0 / generic.mj_model.body_mass.sum()
    np.testing.assert_allclose(model.body_mass, ratio * generic.mj_model.body_mass, rtol=1e-12)
    np.testing.assert_allclose(
        _inertias(model), ratio * factor**2 * _inertias(generic.mj_model), rtol=1e-9, atol=1e-15
    )
    # the default pose with the pelvis height scaled about the floor: every foot sphere's
    # gap to the floor scales with the body (the knee's coupled translations included)
    stand = _standing_pelvis_height(generic.mj_model)
    gaps = [_sphere_gaps(generic.mj_model, stand), _sphere_gaps(model, factor * stand)]
    np.testing.assert_allclose(gaps[1], factor * gaps[0], atol=1e-9)
    assert np.abs(gaps[0]).min() < 1e-9


def _sphere_gaps(model: mujoco.MjModel, pelvis_height: float) -> np.ndarray:
    """Heights of the contact spheres' bottoms above the floor at the default pose with the
    pelvis at ``pelvis_height`` (OpenSim ``pelvis_ty``, m)."""
    d = mujoco.MjData(model)
    d.qpos[model.joint("pelvis_ty").qposadr[0]] = pelvis_height
    mujoco.mj_kinematics(model, d)
    spheres = _contact_spheres(model)
    return d.geom_xpos[spheres, 2] - model.geom_size[spheres, 0]


def _standing_pelvis_height(model: mujoco.MjModel) -> float:
    """``pelvis_ty`` that puts the lowest sphere of the default pose on the floor."""
    height = float(model.qpos0[model.joint("pelvis_ty").qposadr[0]])
    return height - float(_sphere_gaps(model, height).min())


def test_sampled_bodies_are_valid_and_measurable(generic):
    names = [b.name for b in generic.conversion.spec.bodies if b.name not in ("world", "ground")]
    sampler = BodySampler()
    reference = body_dimensions(generic.mj_model)
    first = sampler.sample(np.random.default_rng(7), names)
    assert sampler.sample(np.random.default_rng(7), names).factors.keys() == first.factors.keys()
    for seed in range(4):
        scaling = sampler.sample(np.random.default_rng(seed), names)
        f = {b: float(v[0]) for b, v in scaling.factors.items()}
        assert all(0.85 <= v <= 1.15 for v in f.values())
        assert f["femur_r"] == f["femur_l"] and f["calcn_r"] == f["toes_l"]
        assert 45.0 <= scaling.total_mass <= 110.0
        model = scale_converted(generic, scaling).mj_model
        assert model.body_mass.sum() == pytest.approx(scaling.total_mass)
        assert np.all(model.body_mass[2:] > 0) and np.all(model.body_inertia[2:] > 0)
        moments = np.sort(model.body_inertia[2:], axis=1)
        assert np.all(moments[:, 0] + moments[:, 1] >= moments[:, 2] * (1 - 1e-9))
        spheres = _contact_spheres(model)
        feet = {model.body(int(model.geom_bodyid[g])).name for g in spheres}
        assert feet <= {"calcn_r", "calcn_l", "toes_r", "toes_l"}
        # standing at the scaled height: each foot's lowest sphere on the floor within 1 cm
        leg = standing_height(model) / standing_height(generic.mj_model)
        bottoms = _sphere_gaps(model, leg * _standing_pelvis_height(generic.mj_model))
        for side in ("_r", "_l"):
            on_side = [
                k for k, g in enumerate(spheres)
                if model.body(int(model.geom_bodyid[g])).name.endswith(side)
            ]  # fmt: skip
            assert abs(bottoms[on_side].min()) < 0.01
        segments, measured = segment_factors(model, reference)
        by_segment = dict(zip(segments, measured, strict=True))
        assert by_segment["femur"] == pytest.approx(f["femur_r"], rel=1e-9)
        assert by_segment["foot"] == pytest.approx(f["calcn_r"], rel=1e-9)


def test_scaling_an_unknown_body_raises_error(generic):
    with pytest.raises(KintwinError, match="femur_x"):
        scale_converted(generic, BodyScaling.uniform({"femur_x": 1.1}))
    with pytest.raises(KintwinError, match="positive"):
        scale_converted(generic, BodyScaling.uniform({"femur_r": -1.0}))


def test_per_segment_scaling_agrees_with_opensims_model_scale(shared_data: Path, tmp_path: Path):
    """The sampler's kind of subject (one factor per segment, mass distribution kept) against
    OpenSim 4.6's own ``Model::scale`` of the generic LaiUhlrich2022."""
    opensim = pytest.importorskip("opensim")
    generic_path = shared_data / "opencap-processing/OpenSimPipeline/Models/LaiUhlrich2022.osim"
    factors = {"pelvis": 1.05, "femur_r": 1.12, "femur_l": 1.12, "tibia_r": 0.9, "tibia_l": 0.9,
               "calcn_r": 1.08, "calcn_l": 1.08, "toes_r": 1.08, "toes_l": 1.08, "torso": 0.95,
               "humerus_r": 1.1, "humerus_l": 1.1}  # fmt: skip
    opensim.Logger.setLevelString("error")
    model = opensim.Model(str(generic_path))
    state = model.initSystem()
    scales = opensim.ScaleSet()
    for body, f in factors.items():
        scale = opensim.Scale()
        scale.setSegmentName(body)
        scale.setScaleFactors(opensim.Vec3(f, f, f))
        scale.setApply(True)
        scales.cloneAndAppend(scale)
    model.scale(state, scales, True, 80.0)
    model.printToXML(str(tmp_path / "scaled.osim"))
    generic = convert_osim(generic_path, OPTIONS)
    ours = scale_converted(generic, BodyScaling.uniform(factors, 80.0))
    theirs = convert_osim(tmp_path / "scaled.osim", OPTIONS)
    mine, ref = ours.mj_model, theirs.mj_model
    make_exact(mine, ours.conversion.inertia_overrides)
    make_exact(ref, theirs.conversion.inertia_overrides)
    np.testing.assert_allclose(mine.body_pos, ref.body_pos, atol=1e-12)
    np.testing.assert_allclose(mine.body_ipos, ref.body_ipos, atol=1e-12)
    np.testing.assert_allclose(mine.body_mass, ref.body_mass, rtol=1e-12)
    np.testing.assert_allclose(_inertias(mine), _inertias(ref), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(mine.site_pos, ref.site_pos, atol=1e-12)
    np.testing.assert_allclose(mine.eq_data, ref.eq_data, atol=1e-12)


GAIT10 = "opensim-models/Pipelines/Gait10dof18musc/OutputReference/subject01.osim"


def test_muscle_paths_scale_as_opensims(shared_data: Path, tmp_path: Path):
    """Path points, moving points and wrap surfaces of Gait10dof18musc scaled per segment: every
    muscle-tendon length equals OpenSim's scaled model's at three poses, except the rectus
    femoris, whose knee-crossing point the converter fits from both bodies (held in simulation,
    scaled with one body only: within 2 %)."""
    opensim = pytest.importorskip("opensim")
    factors = {"pelvis": 1.05, "femur_r": 1.1, "femur_l": 1.1, "tibia_r": 0.92, "tibia_l": 0.92,
               "calcn_r": 1.0, "torso": 0.95}  # fmt: skip
    opensim.Logger.setLevelString("error")
    model = opensim.Model(str(shared_data / GAIT10))
    state = model.initSystem()
    scales = opensim.ScaleSet()
    for body, f in factors.items():
        scale = opensim.Scale()
        scale.setSegmentName(body)
        scale.setScaleFactors(opensim.Vec3(f, f, f))
        scale.setApply(True)
        scales.cloneAndAppend(scale)
    model.scale(state, scales, True, 80.0)
    model.printToXML(str(tmp_path / "scaled.osim"))
    options = ConvertOptions(meshes=False, muscle_actuators=False)
    mine = scale_converted(
        convert_osim(shared_data / GAIT10, options), BodyScaling.uniform(factors)
    )
    ref = convert_osim(tmp_path / "scaled.osim", options).mj_model
    rng = np.random.default_rng(0)
    for pose in range(3):
        lengths = []
        values = rng.uniform(-0.8, 0.2, 4) if pose else np.zeros(4)
        for m in (mine.mj_model, ref):
            d = mujoco.MjData(m)
            for name, v in zip(("hip_flexion_r", "knee_angle_r", "ankle_angle_r", "knee_angle_l"),
                               values, strict=True):  # fmt: skip
                d.qpos[m.joint(name).qposadr[0]] = v
            mujoco.mj_forward(m, d)
            lengths.append(d.ten_length.copy())
        error = np.abs(lengths[0] - lengths[1]) / lengths[1]
        rect_fem = np.array(["rect_fem" in ref.tendon(i).name for i in range(ref.ntendon)])
        assert error[~rect_fem].max() < 1e-9
        assert error[rect_fem].max() < 0.02
    # moving path points (rectus femoris and vasti P3, functions of the knee angle) exactly
    movers = [ref.joint(j).name for j in range(ref.njnt) if "-P3_" in ref.joint(j).name]
    assert len(movers) == 18  # 3 muscles x 2 sides x 3 axes
    for name in movers:
        mj, theirs = mine.mj_model.joint(name), ref.joint(name)
        assert mine.mj_model.qpos0[mj.qposadr[0]] == pytest.approx(ref.qpos0[theirs.qposadr[0]])
        np.testing.assert_allclose(
            mine.mj_model.body_pos[mj.bodyid[0]], ref.body_pos[theirs.bodyid[0]], atol=1e-12
        )


def test_muscle_length_ranges_follow_the_path(shared_data: Path):
    converted = convert_osim(shared_data / GAIT10, ConvertOptions(meshes=False))
    names = [b.name for b in converted.conversion.spec.bodies if b.name not in ("world", "ground")]
    scaled = scale_converted(converted, BodyScaling.uniform(dict.fromkeys(names, 1.1)))
    muscles = converted.mj_model.actuator_gaintype == mujoco.mjtGain.mjGAIN_MUSCLE
    assert muscles.sum() == 18
    np.testing.assert_allclose(
        scaled.mj_model.actuator_lengthrange[muscles],
        1.1 * converted.mj_model.actuator_lengthrange[muscles],
        rtol=1e-9,
    )
