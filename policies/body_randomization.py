"""Training on random bodies: a new scaled subject for a copy of the task, its references, and
what the policy observes about its body.

With ``TrackingConfig.scale_lengths`` set, each copy of the task draws a subject (a
:class:`~policies.body_scaling.BodySampler` over the config's length and mass ranges) on a
reset (every one, or with probability ``1 / scale_every``) and tracks the training motions
with it: the knee's coupled translations follow the scaled femur, the root translations (the
pelvis path) scale with the subject's standing height about the floor, the measured GRF with
its mass. The policy observes each segment's length factor and the mass relative to the
family's reference body (``body_reference``, stored in the policy's config), measured from the
model itself, so a subject's own scaled ``.osim`` at ``kintwin id`` gives the same numbers its
ScaleTool factors would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import mujoco
import numpy as np

from converters.errors import KintwinError
from converters.model_conversion import ConvertedModel
from converters.motion import Trajectory
from policies.body_scaling import (
    BodySampler,
    BodyScaling,
    body_dimensions,
    scale_converted,
    segment_factors,
    segment_of,
    standing_height,
)
from policies.config import TrackingConfig
from policies.reference import Reference, make_reference
from policies.task import TaskModel, build_task_model

__all__ = [
    "BodyRandomizer",
    "with_body_reference",
    "body_feature_names",
    "body_features",
    "body_vs_training",
    "fit_config_to_body",
    "rescale_trajectory",
    "SubjectReferences",
    "uniform_bodies",
]

MASS_KEY = "mass"  # the total mass entry of ``body_reference``, kg


def with_body_reference(converted: ConvertedModel, config: TrackingConfig) -> TrackingConfig:
    """``config`` with ``body_reference`` (total mass and :func:`body_dimensions` of the
    converted model's bodies) filled in, unless it has one."""
    if config.body_reference is not None:
        return config
    dims = body_dimensions(converted.mj_model)
    mass = float(converted.map.get("total_mass") or np.sum(converted.mj_model.body_mass))
    pairs = ((MASS_KEY, mass), *((b, d) for b, d in dims.items() if d > 1e-9))
    return dataclasses.replace(config, body_reference=pairs)


def _reference_parts(config: TrackingConfig) -> tuple[float, dict[str, float]]:
    pairs = dict(config.body_reference or ())
    return float(pairs.pop(MASS_KEY)), pairs


def body_feature_names(config: TrackingConfig) -> list[str]:
    """Observation names of the body: ``body:<segment>`` (sorted) then ``body:mass``; none
    unless ``scale_lengths`` is on."""
    if config.scale_lengths is None or config.body_reference is None:
        return []
    _, dims = _reference_parts(config)
    segments = sorted({segment_of(b) for b in dims})
    return [f"body:{s}" for s in segments] + ["body:mass"]


def body_features(model: mujoco.MjModel, mass: float, config: TrackingConfig) -> np.ndarray:
    """Segment length factors and mass (``mass`` kg) relative to the config's reference body
    (see :func:`body_feature_names`); empty unless ``scale_lengths`` is on."""
    if not body_feature_names(config):
        return np.zeros(0)
    ref_mass, dims = _reference_parts(config)
    _, factors = segment_factors(model, dims)
    return np.append(factors, mass / ref_mass)


RANGE_TOLERANCE = 0.01  # a segment factor this far past the trained range still counts as in it


def body_vs_training(model: mujoco.MjModel, mass: float, config: TrackingConfig) -> dict | None:
    """How ``model`` (``mass`` kg) compares with the bodies the policy trained on: its segment
    length factors and mass against the config's ``scale_lengths`` and ``scale_mass_kg``, and
    which lie outside them (the policy extrapolates there); None unless it trained on random
    bodies."""
    if not body_feature_names(config):
        return None
    _, dims = _reference_parts(config)
    names, factors = segment_factors(model, dims)
    lo, hi = config.scale_lengths
    m_lo, m_hi = config.scale_mass_kg
    outside = [
        n for n, f in zip(names, factors.tolist(), strict=True)
        if not lo - RANGE_TOLERANCE <= f <= hi + RANGE_TOLERANCE
    ]  # fmt: skip
    if not m_lo <= mass <= m_hi:
        outside.append(MASS_KEY)
    return {
        "segment_factors": {n: round(float(f), 3) for n, f in zip(names, factors, strict=True)},
        "mass_kg": round(float(mass), 2),
        "trained_lengths": [lo, hi],
        "trained_mass_kg": [m_lo, m_hi],
        "outside": outside,
    }


def fit_config_to_body(model: mujoco.MjModel, config: TrackingConfig) -> TrackingConfig:
    """``config`` whose calibrated foot-sphere radii (absolute, for the reference body) are
    scaled by the foot's length factor in ``model`` (unchanged without a body reference)."""
    if config.contact_radii is None or config.body_reference is None:
        return config
    _, dims = _reference_parts(config)
    names, factors = segment_factors(model, dims)
    by_segment = dict(zip(names, factors.tolist(), strict=True))
    radii = []
    for name, radius in config.contact_radii:
        body = model.body(int(model.geom_bodyid[model.geom(name).id])).name
        radii.append((name, radius * by_segment.get(segment_of(body), 1.0)))
    return dataclasses.replace(config, contact_radii=tuple(radii))


def rescale_trajectory(
    trajectory: Trajectory, base: ConvertedModel, scaled: ConvertedModel, floor: float = 0.0
) -> Trajectory:
    """``trajectory`` (of ``base``) for the ``scaled`` copy: dependent translations times their
    factors, root translations times the ratio of standing heights (the vertical one about the
    ``floor`` height, m)."""
    qpos, qvel, qacc = (trajectory.qpos.copy(), trajectory.qvel.copy(), trajectory.qacc.copy())
    for slot in base.kinematics.slots:
        if slot.kind != "slide" or slot.function is None:
            continue
        k = _slide_factor(base, scaled, slot.name)
        qpos[:, slot.qpos] *= k
        qvel[:, slot.dof] *= k
        qacc[:, slot.dof] *= k
    leg = standing_height(scaled.mj_model) / standing_height(base.mj_model)
    model = base.mj_model
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    ground = model.body(base.osim.ground).id
    for j in range(model.njnt):
        if model.jnt_type[j] != mujoco.mjtJoint.mjJNT_SLIDE:
            continue
        if model.body_parentid[model.jnt_bodyid[j]] != ground:
            continue
        a, v = model.jnt_qposadr[j], model.jnt_dofadr[j]
        vertical = abs(data.xaxis[j][2]) > 0.5
        centre = floor * np.sign(data.xaxis[j][2]) if vertical else 0.0
        qpos[:, a] = centre + leg * (qpos[:, a] - centre)
        qvel[:, v] *= leg
        qacc[:, v] *= leg
    return dataclasses.replace(trajectory, qpos=qpos, qvel=qvel, qacc=qacc)


def _slide_factor(base: ConvertedModel, scaled: ConvertedModel, joint: str) -> float:
    """How much longer the dependent slide ``joint`` moves in ``scaled``: the ratio of its
    coupling polynomials' largest coefficients (or of its reference values, if held)."""
    m0, m1 = base.mj_model, scaled.mj_model
    e = mujoco.mj_name2id(m0, mujoco.mjtObj.mjOBJ_EQUALITY, f"couple_{joint}")
    if e >= 0:
        i = int(np.argmax(np.abs(m0.eq_data[e, 1:5])))
        if m0.eq_data[e, 1 + i] != 0:
            return float(m1.eq_data[e, 1 + i] / m0.eq_data[e, 1 + i])
    j0, j1 = m0.joint(joint), m1.joint(joint)
    q0, q1 = m0.qpos0[j0.qposadr[0]], m1.qpos0[j1.qposadr[0]]
    return float(q1 / q0) if q0 else 1.0


class BodyRandomizer:
    """Random subjects for one copy of the task: the scaled task model and references."""

    def __init__(
        self,
        converted: ConvertedModel,
        trajectories: list[Trajectory],
        config: TrackingConfig,
        loads: list | None = None,
        floor: float = 0.0,
    ) -> None:
        self.converted, self.trajectories, self.config = converted, trajectories, config
        self.loads = loads or [None] * len(trajectories)
        self.floor = floor
        self.nominal: list[Reference] | None = None  # references of the unscaled body (feedforward)
        lo, hi = config.scale_lengths
        self.sampler = BodySampler((lo, hi), tuple(config.scale_mass_kg))
        self.bodies = [
            b.name
            for b in converted.conversion.spec.bodies
            if b.name not in ("world", converted.osim.ground)
        ]

    def sample(self, rng: np.random.Generator) -> tuple[BodyScaling, TaskModel, SubjectReferences]:
        """A new subject: its scaling, task model and references."""
        scaling = self.sampler.sample(rng, self.bodies)
        return (scaling, *self.build(scaling))

    def build(self, scaling: BodyScaling) -> tuple[TaskModel, SubjectReferences]:
        """The task model and references of the subject ``scaling`` makes."""
        scaled = scale_converted(self.converted, scaling)
        config = fit_config_to_body(scaled.mj_model, self.config)
        task = build_task_model(scaled, config)
        lengths = [scaling.factor(b) for b in self.bodies]
        length_ratio = float(np.mean(lengths)) if lengths else 1.0
        return task, SubjectReferences(self, scaled, task, config, length_ratio)


class SubjectReferences(Sequence):
    """The references of one subject, each made when first used (a reset draws one trial; a
    subject lives a few episodes, so most trials are never made for it). Iterating yields the
    ones made so far and None for the others (what a snapshot's reference lookup needs)."""

    def __init__(
        self, source: BodyRandomizer, scaled, task: TaskModel, config, length_ratio: float = 1.0
    ) -> None:
        self.source, self.scaled, self.task, self.config = source, scaled, task, config
        self.length_ratio = length_ratio  # mean length factor (scales the feedforward)
        self.made: dict[int, Reference] = {}

    def __len__(self) -> int:
        return len(self.source.trajectories)

    def __getitem__(self, index: int) -> Reference:
        index = range(len(self))[index]
        if index not in self.made:
            self.made[index] = self._make(index)
        return self.made[index]

    def __iter__(self):
        return (self.made.get(i) for i in range(len(self)))

    def _make(self, index: int) -> Reference:
        source = self.source
        trajectory = source.trajectories[index]
        moved = rescale_trajectory(trajectory, source.converted, self.scaled, source.floor)
        reference = make_reference(self.task, moved, self.config, source.loads[index])
        mass_ratio = self.task.total_mass / float(source.converted.map.get("total_mass"))
        if reference.grf is not None:
            reference.grf = reference.grf * mass_ratio
        if self.config.feedforward:
            reference.feedforward = self._feedforward(index, mass_ratio)
        return reference

    def _feedforward(self, index: int, mass_ratio: float) -> np.ndarray:
        """The nominal body's model-based moments of trial ``index``, scaled to this subject
        (a contact solve per subject and trial would cost seconds per reset)."""
        from policies.feedforward import scaled_feedforward

        nominal = None if self.source.nominal is None else self.source.nominal[index].feedforward
        if nominal is None:
            raise KintwinError("feedforward on random bodies needs the nominal body's references")
        return scaled_feedforward(nominal, mass_ratio, self.length_ratio)


def uniform_bodies(
    converted: ConvertedModel,
    trajectories: list[Trajectory],
    tracking: TrackingConfig,
    factors: Sequence[float],
    task: TaskModel,
    loads: list | None,
    nominal: list | None = None,
) -> list[tuple[TaskModel, SubjectReferences]]:
    """Per factor (``--eval-bodies``): the model scaled uniformly by it (mass by its cube) and
    the motions' references as random bodies track them (root path scaled; ``nominal``: the
    unscaled body's references, whose feedforward is scaled)."""
    if not factors:
        return []
    if tracking.scale_lengths is None:
        raise KintwinError("--eval-bodies needs training on random bodies (--set scale_lengths)")
    bodies = BodyRandomizer(converted, trajectories, tracking, loads, task.floor_height)
    bodies.nominal = nominal
    mass = task.total_mass
    return [
        bodies.build(BodyScaling.uniform(dict.fromkeys(bodies.bodies, f), mass * f**3))
        for f in factors
    ]


def scaling_to_dict(scaling: BodyScaling | None) -> dict | None:
    """A snapshot-ready form of ``scaling`` (None stays None)."""
    if scaling is None:
        return None
    factors = {b: np.asarray(f).tolist() for b, f in scaling.factors.items()}
    return {"factors": factors, "total_mass": scaling.total_mass}


def scaling_from_dict(values: dict | None) -> BodyScaling | None:
    if values is None:
        return None
    factors = {b: np.asarray(f, dtype=float) for b, f in values["factors"].items()}
    return BodyScaling(factors, values["total_mass"])
