"""Scale a converted model's body as OpenSim's ScaleTool scales a subject, and sample bodies.

OpenSim's ScaleTool (``Model::scale``) scales each body by per-axis length factors ``s``:
everything located in a body (its centre of mass, the frames its joints attach to, markers,
path points, geometry) moves with the body's own factors; the translation functions of a
joint's spatial transform that are not a degree of freedom (e.g. the knee's coupled
translations) are multiplied by ``|axis| . s`` of the *parent* body, whose frame they translate
in; coordinates themselves (``pelvis_tx = x``) are not scaled. Masses either keep their
distribution (all multiplied by ``total_mass / mass``) or first grow with the body's volume
``sx sy sz`` and are then normalised to the total. Inertias scale by the mass ratio and, for a
uniform factor, ``s^2``; per-axis factors follow OpenSim's cylinder rule (:func:`scaled_inertia`).

A MuJoCo body sits in its parent at ``X_pb = X_pF X_FM(q0) X_bM^-1`` (the converter's
construction), so its position takes the parent's factors for ``X_pF`` and the coupled joint
translations and the child's for the child frame ``X_bM``. Dependent translational joints
(slides tied to a coordinate by a polynomial joint equality) carry the parent factor in their
reference value, their polynomial and their range; the scaled model's kinematic map computes
their positions with the factor. MuJoCo muscles' length ranges follow the path length at the
default pose (OpenSim scales optimal fibre and tendon slack lengths by the same ratio).

Training on random bodies (:class:`BodySampler`) and telling the policy about its body
(:func:`segment_factors`) work on *segments*: a body's name without its side suffix, with the
foot (talus, calcaneus, toes), femur and patella, and forearm bones grouped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import mujoco
import numpy as np

from converters.errors import KintwinError
from converters.mjcf.kinematic_map import KinematicMap
from converters.model_conversion import ConvertedModel, make_exact
from converters.osim.functions import MultiplierFunction
from converters.spatial import axis_angle, invert, quat_from_matrix, transform

__all__ = [
    "BodyScaling",
    "BodySampler",
    "scale_converted",
    "segment_of",
    "segment_factors",
    "body_dimensions",
    "standing_height",
    "scaled_inertia",
    "SEGMENT_GROUPS",
]

SEGMENT_GROUPS = {"patella": "femur", "talus": "foot", "calcn": "foot", "toes": "foot",
                  "ulna": "forearm", "radius": "forearm"}  # fmt: skip


@dataclass(frozen=True)
class BodyScaling:
    """How to scale a model.

    Attributes:
        factors: body name -> per-axis length factors (3,) in the body frame; bodies not
            listed keep their size (factor 1).
        total_mass: kg after scaling; None keeps the model's (masses then change only with
            the volume when the distribution is not preserved).
        preserve_mass_distribution: every body's mass times the same ratio (OpenSim's
            ``preserve_mass_distribution``); else each first times its volume factor.
    """

    factors: dict[str, np.ndarray] = field(default_factory=dict)
    total_mass: float | None = None
    preserve_mass_distribution: bool = True

    def factor(self, body: str) -> np.ndarray:
        return np.asarray(self.factors.get(body, np.ones(3)), dtype=float).reshape(3)

    @classmethod
    def uniform(cls, factors: dict[str, float], total_mass: float | None = None) -> BodyScaling:
        """One factor per body for all three axes."""
        return cls({b: np.full(3, float(f)) for b, f in factors.items()}, total_mass)


def segment_of(body: str) -> str:
    """The segment a body belongs to: its name without ``_r``/``_l``, grouped (SEGMENT_GROUPS)."""
    base = body[:-2] if body[-2:].lower() in ("_r", "_l") else body
    return SEGMENT_GROUPS.get(base, base)


@dataclass(frozen=True)
class BodySampler:
    """Random subjects: a body-wide length factor in ``lengths`` times a per-segment factor
    within ``1 +- segment_spread`` (clipped to ``lengths``), left and right alike unless
    ``symmetric`` is False, and a total mass uniform in ``mass_kg``."""

    lengths: tuple[float, float] = (0.85, 1.15)
    mass_kg: tuple[float, float] = (45.0, 110.0)
    segment_spread: float = 0.05
    symmetric: bool = True

    def sample(self, rng: np.random.Generator, bodies: list[str]) -> BodyScaling:
        """A :class:`BodyScaling` of ``bodies`` (uniform factor per body)."""
        lo, hi = self.lengths
        overall = rng.uniform(lo, hi)
        drawn: dict[str, float] = {}
        factors = {}
        for body in bodies:
            key = segment_of(body) if self.symmetric else body
            if key not in drawn:
                spread = rng.uniform(-self.segment_spread, self.segment_spread)
                drawn[key] = float(np.clip(overall * (1.0 + spread), lo, hi))
            factors[body] = drawn[key]
        return BodyScaling.uniform(factors, float(rng.uniform(*self.mass_kg)))


# ------------------------------------------------------------------------------ scaling a model


def scale_converted(converted: ConvertedModel, scaling: BodyScaling) -> ConvertedModel:
    """A scaled copy of ``converted`` (its spec, kinematic map and compiled model; ``osim`` is
    the unscaled source, whose names and tree the copy shares). Raises KintwinError naming a
    body that ``scaling`` does not know or a factor that is not positive."""
    names = {b.name for b in converted.conversion.spec.bodies}
    unknown = sorted(set(scaling.factors) - names)
    if unknown:
        raise KintwinError(f"cannot scale unknown bodies {', '.join(unknown)}")
    bad = [b for b in scaling.factors if np.any(scaling.factor(b) <= 0)]
    if bad or (scaling.total_mass is not None and scaling.total_mass <= 0):
        raise KintwinError(f"scale factors and mass must be positive ({', '.join(bad) or 'mass'})")
    spec = converted.conversion.spec.copy()
    _scale_joint_frames(spec, converted, scaling)
    slide_factors = _scale_dependent_slides(spec, converted, scaling)
    _scale_contents(spec, scaling)
    before = {b.name: float(b.mass) for b in spec.bodies}
    masses = _scale_inertial(spec, scaling)
    overrides = _scaled_overrides(converted.conversion.inertia_overrides, before, masses, scaling)
    _scale_muscle_lengths(spec, converted)
    kinematics = _scaled_kinematics(converted.kinematics, slide_factors)
    conversion = dataclasses.replace(
        converted.conversion, spec=spec, kinematics=kinematics, inertia_overrides=overrides
    )
    try:
        model = spec.compile()
    except ValueError as error:
        raise KintwinError(f"MuJoCo rejected the scaled model: {error}") from None
    if not np.any(converted.mj_model.dof_armature):
        make_exact(model, overrides)
    new_map = dict(converted.map)
    new_map["total_mass"] = float(sum(masses.values()))
    return ConvertedModel(converted.osim, conversion, model, new_map, converted.mesh_dir)


def _translation_factor(axis: np.ndarray, parent: np.ndarray) -> float:
    """OpenSim's factor for a translation function along ``axis``: ``|axis| . s_parent``."""
    unit = np.abs(axis) / np.linalg.norm(axis)
    return float(unit @ parent)


def _scale_joint_frames(spec: mujoco.MjSpec, converted: ConvertedModel, scaling) -> None:
    """Body positions in their parents and joint anchors, from the OpenSim joint definitions."""
    defaults = converted.kinematics.defaults
    bodies = {b.name: b for b in spec.bodies}
    for joint in converted.osim.joints:
        s_p, s_c = scaling.factor(joint.parent_body), scaling.factor(joint.child_body)
        r_fm, p_fm = np.eye(3), np.zeros(3)
        for axis in joint.axes:
            x = defaults[axis.coordinates[0]] if axis.coordinates else 0.0
            value = float(axis.function.value(x))
            unit = axis.axis / np.linalg.norm(axis.axis)
            if axis.kind == "rotation":
                r_fm = r_fm @ axis_angle(axis.axis, value)
            elif axis.coordinates and axis.function.is_identity:
                p_fm = p_fm + value * unit  # a degree of freedom: not scaled
            else:
                p_fm = p_fm + value * _translation_factor(axis.axis, s_p) * unit
        parent_frame, child_frame = joint.parent_frame.copy(), joint.child_frame.copy()
        parent_frame[:3, 3] *= s_p
        child_frame[:3, 3] *= s_c
        x_pb = parent_frame @ transform(r_fm, p_fm) @ invert(child_frame)
        body = bodies[joint.child_body]
        body.pos = x_pb[:3, 3]
        for mj_joint in body.joints:
            mj_joint.pos = np.asarray(mj_joint.pos) * s_c
    placed = {j.child_body for j in converted.osim.joints} | {"world", converted.osim.ground}
    for name, body in bodies.items():  # bodies the converter adds (moving path points)
        if name not in placed:
            body.pos = np.asarray(body.pos) * scaling.factor(body.parent.name)


def _scale_dependent_slides(spec, converted: ConvertedModel, scaling) -> dict[str, float]:
    """Dependent translational joints: reference value, polynomial and range times the parent
    factor along their OpenSim axis. Returns joint name -> factor (only those != 1)."""
    joints = {j.name: j for j in converted.osim.joints}
    equalities = {e.name: e for e in spec.equalities}
    factors = {}
    for slot in converted.kinematics.slots:
        if slot.kind != "slide" or slot.function is None:
            continue  # a coordinate itself (a degree of freedom: OpenSim does not scale it)
        mj = spec.joint(slot.name)
        if slot.opensim_joint in joints:
            joint = joints[slot.opensim_joint]
            axis = next(a for a in joint.axes if a.name == slot.axis)
            k = _translation_factor(axis.axis, scaling.factor(joint.parent_body))
        else:  # a muscle's moving path point: its location in the body it moves in
            mover = mj.parent
            k = _translation_factor(_rotate(mover.quat, mj.axis), scaling.factor(mover.parent.name))
        if k == 1.0:
            continue
        factors[slot.name] = k
        mj.ref = mj.ref * k
        if mj.limited == mujoco.mjtLimited.mjLIMITED_TRUE:
            mj.range = np.asarray(mj.range) * k
        equality = equalities.get(f"couple_{slot.name}")
        if equality is not None:
            data = np.array(equality.data)
            data[1:5] *= k
            equality.data = data
    return factors


def _rotate(quat, vector) -> np.ndarray:
    r = np.zeros(9)
    mujoco.mju_quat2Mat(r, np.asarray(quat, dtype=float))
    return r.reshape(3, 3) @ np.asarray(vector, dtype=float)


def _local_factors(s: np.ndarray, quat) -> np.ndarray:
    """(3,) stretch of a geom's or site's own axes under ``diag(s)`` of its body."""
    r = np.zeros(9)
    mujoco.mju_quat2Mat(r, np.asarray(quat, dtype=float))
    return np.linalg.norm(np.diag(s) @ r.reshape(3, 3), axis=0)


def _scale_contents(spec: mujoco.MjSpec, scaling: BodyScaling) -> None:
    """Geoms (contact spheres, wrap surfaces, meshes) and sites move and grow with their body."""
    meshes = {m.name: m for m in spec.meshes}
    for body in spec.bodies:
        s = scaling.factor(body.name)
        if np.all(s == 1.0):
            continue
        mean = float(s.sum()) / 3.0
        for geom in body.geoms:
            if geom.type == mujoco.mjtGeom.mjGEOM_PLANE:
                continue
            geom.pos = np.asarray(geom.pos) * s
            local = _local_factors(s, geom.quat)
            geom.size = _scaled_size(geom.type, np.asarray(geom.size), local)
            if geom.type == mujoco.mjtGeom.mjGEOM_MESH and geom.meshname in meshes:
                meshes[geom.meshname].scale = np.asarray(meshes[geom.meshname].scale) * local
        for site in body.sites:
            site.pos = np.asarray(site.pos) * s
            site.size = np.asarray(site.size) * mean


def _scaled_size(kind, size: np.ndarray, local: np.ndarray) -> np.ndarray:
    g = mujoco.mjtGeom
    size = size.copy()
    if kind == g.mjGEOM_SPHERE:
        size[0] *= float(np.mean(local))
    elif kind in (g.mjGEOM_CYLINDER, g.mjGEOM_CAPSULE):
        size[0] *= float(np.mean(local[:2]))
        size[1] *= local[2]
    elif kind in (g.mjGEOM_BOX, g.mjGEOM_ELLIPSOID):
        size *= local
    return size


def _inertia_tensor(body) -> np.ndarray:
    """(3, 3) inertia about the centre of mass in the body frame, from a spec body."""
    full = np.asarray(body.fullinertia, dtype=float)
    if np.all(np.isfinite(full)):
        ixx, iyy, izz, ixy, ixz, iyz = full
        return np.array([[ixx, ixy, ixz], [ixy, iyy, iyz], [ixz, iyz, izz]])
    r = np.zeros(9)
    mujoco.mju_quat2Mat(r, np.asarray(body.iquat, dtype=float))
    r = r.reshape(3, 3)
    return r @ np.diag(np.asarray(body.inertia, dtype=float)) @ r.T


def scaled_inertia(inertia: np.ndarray, s: np.ndarray, mass: float) -> np.ndarray:
    """OpenSim's ``Body::scaleInertialProperties`` with the mass unchanged: (3, 3) inertia of a
    body of ``mass`` kg scaled by per-axis factors ``s``.

    Equal factors scale the tensor by ``s^2`` exactly. Otherwise the body is taken as a cylinder
    along the axis of its smallest diagonal moment (radius from that moment, length from
    another), the radius scaled by the geometric mean of the two other factors and the length
    by its own, and each product of inertia by the two factors of its axes.
    """
    if np.all(np.abs(s) == abs(s[0])):
        return inertia * s[0] ** 2
    if mass <= 0:
        return np.zeros((3, 3))
    diag = np.diag(inertia)
    if diag[0] <= diag[1]:
        axis = 0 if diag[0] <= diag[2] else 2
    else:
        axis = 1 if diag[1] <= diag[2] else 2
    radius_sq = max(2.0 * diag[axis] / mass, 0.0)
    other = 1 if axis == 0 else 0
    length_sq = max(12.0 * (diag[other] - 0.25 * mass * radius_sq) / mass, 0.0) * s[axis] ** 2
    across = [i for i in range(3) if i != axis]
    radius_sq *= s[across[0]] * s[across[1]]
    out = inertia * np.outer(s, s)
    out[axis, axis] = 0.5 * mass * radius_sq
    for i in across:
        out[i, i] = mass * (length_sq / 12.0 + 0.25 * radius_sq)
    return out


def _new_masses(spec: mujoco.MjSpec, scaling: BodyScaling) -> dict[str, float]:
    masses = {b.name: float(b.mass) for b in spec.bodies if b.name != "world"}
    if not scaling.preserve_mass_distribution:
        masses = {n: m * float(np.prod(scaling.factor(n))) for n, m in masses.items()}
    total = sum(masses.values())
    if scaling.total_mass is not None and total > 0:
        masses = {n: m * scaling.total_mass / total for n, m in masses.items()}
    return masses


def _scale_inertial(spec: mujoco.MjSpec, scaling: BodyScaling) -> dict[str, float]:
    """Masses, centres of mass and inertias; returns body name -> new mass (kg)."""
    masses = _new_masses(spec, scaling)
    for body in spec.bodies:
        if body.name == "world" or body.mass <= 0:
            continue
        s = scaling.factor(body.name)
        ratio = masses[body.name] / body.mass
        if np.allclose(s, 1.0) and ratio == 1.0:
            continue
        inertia = ratio * scaled_inertia(_inertia_tensor(body), s, float(body.mass))
        body.ipos = np.asarray(body.ipos) * s
        body.mass = masses[body.name]
        moments, axes = np.linalg.eigh(inertia)
        if np.linalg.det(axes) < 0:
            axes[:, 2] *= -1.0
        body.fullinertia = [np.nan] * 6
        body.inertia = moments
        body.iquat = quat_from_matrix(axes)
    return masses


def _scaled_overrides(overrides: dict, before: dict, after: dict, scaling: BodyScaling) -> dict:
    """OpenSim's own (non-physical) inertias, scaled like the balanced ones in the spec."""
    out = {}
    for name, (ixx, iyy, izz, ixy, ixz, iyz) in overrides.items():
        full = np.array([[ixx, ixy, ixz], [ixy, iyy, iyz], [ixz, iyz, izz]])
        ratio = after[name] / before[name]
        i = ratio * scaled_inertia(full, scaling.factor(name), before[name])
        out[name] = [i[0, 0], i[1, 1], i[2, 2], i[0, 1], i[0, 2], i[1, 2]]
    return out


def _scale_muscle_lengths(spec: mujoco.MjSpec, converted: ConvertedModel) -> None:
    """Muscle length ranges times the ratio of path lengths at the default pose."""
    muscles = [a for a in spec.actuators if a.gaintype == mujoco.mjtGain.mjGAIN_MUSCLE]
    if not muscles:
        return
    before = _tendon_lengths(converted.mj_model)
    after = _tendon_lengths(spec.compile())
    for actuator in muscles:
        if actuator.trntype != mujoco.mjtTrn.mjTRN_TENDON or actuator.target not in before:
            continue
        ratio = after[actuator.target] / before[actuator.target]
        actuator.lengthrange = np.asarray(actuator.lengthrange) * ratio


def _tendon_lengths(model: mujoco.MjModel) -> dict[str, float]:
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    return {model.tendon(i).name: float(data.ten_length[i]) for i in range(model.ntendon)}


def _scaled_kinematics(kinematics: KinematicMap, factors: dict[str, float]) -> KinematicMap:
    """The kinematic map with each scaled slide's function multiplied by its factor."""
    slots = [
        dataclasses.replace(
            s, function=MultiplierFunction(s.function, factors[s.name]), ref=s.ref * factors[s.name]
        )
        if s.name in factors
        else dataclasses.replace(s)
        for s in kinematics.slots
    ]
    return dataclasses.replace(kinematics, slots=slots)


# --------------------------------------------------------------------------- measuring a body


def body_dimensions(model: mujoco.MjModel) -> dict[str, float]:
    """Each body's size, m: the RMS distance from its origin of its centre of mass and of its
    joints' anchors (bodies with neither: 0). Both move with the body's own factors only, and
    markers and geometry are left out, so models of one family with other marker sets (or
    contact spheres fitted to them) measure alike."""
    points: dict[int, list[float]] = {b: [] for b in range(1, model.nbody)}
    for b in range(1, model.nbody):
        if model.body_mass[b] > 0:
            points[b].append(float(np.sum(model.body_ipos[b] ** 2)))
    for j in range(model.njnt):
        points[int(model.jnt_bodyid[j])].append(float(np.sum(model.jnt_pos[j] ** 2)))
    return {model.body(b).name: float(np.sqrt(np.mean(v))) if v else 0.0 for b, v in points.items()}


def segment_factors(
    model: mujoco.MjModel, reference: dict[str, float]
) -> tuple[list[str], np.ndarray]:
    """(segment names, factors): each segment's size relative to ``reference``
    (:func:`body_dimensions` of the family's model), the mean over its bodies; segments in
    sorted order. Bodies missing from ``model`` raise KintwinError."""
    dims = body_dimensions(model)
    missing = sorted(set(reference) - set(dims))
    if missing:
        raise KintwinError(f"the model has no bodies {', '.join(missing[:6])}")
    groups: dict[str, list[float]] = {}
    for body, size in reference.items():
        if size > 1e-9:
            groups.setdefault(segment_of(body), []).append(dims[body] / size)
    names = sorted(groups)
    return names, np.array([float(np.mean(groups[n])) for n in names])


def standing_height(model: mujoco.MjModel, root_body: str = "pelvis") -> float:
    """m: height of ``root_body``'s origin above the lowest contact sphere's bottom, default pose."""
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    spheres = [
        g for g in range(model.ngeom)
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE and model.geom_contype[g]
    ]  # fmt: skip
    if not spheres:
        raise KintwinError("the model has no contact spheres to stand on")
    bottom = min(data.geom_xpos[g, 2] - model.geom_size[g, 0] for g in spheres)
    return float(data.xpos[model.body(root_body).id, 2] - bottom)
