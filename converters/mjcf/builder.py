"""Build a MuJoCo model (``mujoco.MjSpec``) from the intermediate OpenSim model.

Conventions (see DESIGN.md): bodies keep their OpenSim names; one hinge/slide per coordinate, named
as the coordinate; a transform axis that is not the identity of one coordinate becomes an extra
joint ``<joint>_<axis>`` tied to its coordinate by a polynomial joint equality; the default pose
(qpos0) is OpenSim's default pose with every coupling satisfied; OpenSim's ground (Y up) sits in
MuJoCo's world (Z up) rotated +90 degrees about X.

How a joint maps: OpenSim places the child frame M in the parent frame F by translations along
F's axes, then body-fixed rotations about M's origin. MuJoCo applies a body's joints in order,
each about an axis fixed in the body, from the configuration where every joint is at its ``ref``.
So the child body is posed at the default coordinates, slides come before hinges, and each axis is
expressed in the child body frame with the later rotations (at their default values) undone.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from converters.errors import KintwinError
from converters.mjcf.contact import add_contacts
from converters.mjcf.kinematic_map import Coupling, JointSlot, KinematicMap
from converters.mjcf.meshes import write_stl
from converters.mjcf.muscle_paths import add_muscle_paths
from converters.mjcf.reference import OpenSimQueries
from converters.opensim_io.mesh_files import find_mesh, read_mesh
from converters.osim.model import Joint, OsimModel
from converters.spatial import OPENSIM_TO_MUJOCO, axis_angle, invert, quat_from_matrix, transform

__all__ = ["ConvertOptions", "Conversion", "build_model", "POLY_DEGREE"]

POLY_DEGREE = 4  # MuJoCo's joint equality is a quartic polynomial
MUSCLE_TIMESTEP = 0.001  # s, the largest step for models with muscle actuators
MARKER_GROUP, MESH_GROUP = 4, 1


@dataclass(frozen=True)
class ConvertOptions:
    """Choices for one conversion.

    Attributes:
        auto_contact: add foot contact spheres when the model has no contact geometry.
        meshes: convert the bodies' display meshes (.vtp/.obj/.stl) to STL geoms.
        geometry_dirs: extra folders to look for mesh files in (after the model's own).
        armature: rotor inertia added to every joint (kg m^2, or kg for slides) so light bodies
            (talus, toes, patella) under contact simulate stably; removed for inverse dynamics
            and validation, which use the exact model.
        muscles: convert muscle paths (spatial tendons).
        muscle_actuators: add a MuJoCo muscle per path, fitted to OpenSim's muscle (needs the
            opensim package; about 0.5-3 s per model).
        timestep: simulation step in seconds.
        fit_samples: points per coordinate range for fitting coupling polynomials.
    """

    auto_contact: bool = True
    timestep: float = 0.002
    fit_samples: int = 401
    meshes: bool = True
    geometry_dirs: tuple[str, ...] = ()
    armature: float = 0.01
    muscles: bool = True
    muscle_actuators: bool = True


@dataclass
class Conversion:
    """The result: the spec to compile, how coordinates map to qpos, and notes for the map json."""

    spec: mujoco.MjSpec
    kinematics: KinematicMap
    couplings_fit: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    auto_contact: list[str] = field(default_factory=list)
    inertia_overrides: dict[str, list[float]] = field(default_factory=dict)
    missing_meshes: list[str] = field(default_factory=list)
    conditional_points: list[dict] = field(default_factory=list)
    muscle_fits: dict[str, dict] = field(default_factory=dict)
    contact_laws: list[dict] = field(default_factory=list)


def build_model(
    model: OsimModel,
    options: ConvertOptions | None = None,
    mesh_dir: Path | None = None,
    opensim: OpenSimQueries | None = None,
) -> Conversion:
    """Build the MjSpec and kinematic map of ``model``; STL meshes are written into ``mesh_dir``
    (no meshes when it is None). ``opensim`` answers for OpenSim about the same model (wrapped
    paths, muscle equilibria); without it wraps are placed by geometry alone and muscle
    actuators are not fitted (both with a warning)."""
    options = options or ConvertOptions()
    builder = _Builder(model, options, opensim)
    return builder.build(mesh_dir if options.meshes else None)


def _topological(model: OsimModel) -> list[Joint]:
    """Joints ordered so that every parent body is placed before its children."""
    by_parent: dict[str, list[Joint]] = {}
    for joint in model.joints:
        by_parent.setdefault(joint.parent_body, []).append(joint)
    ordered, queue = [], deque([model.ground])
    while queue:
        for joint in by_parent.get(queue.popleft(), []):
            ordered.append(joint)
            queue.append(joint.child_body)
    if len(ordered) != len(model.joints):
        stray = sorted({j.name for j in model.joints} - {j.name for j in ordered})
        raise KintwinError(f"joints not connected to ground: {', '.join(stray)}")
    return ordered


class _Builder:
    def __init__(
        self, model: OsimModel, options: ConvertOptions, opensim: OpenSimQueries | None = None
    ) -> None:
        self.model = model
        self.options = options
        self.opensim = opensim
        self.spec = mujoco.MjSpec()
        self.bodies: dict[str, mujoco.MjsBody] = {}
        self.slots: list[JointSlot] = []
        self.couplings = _couplings(model)
        self.defaults = self._default_values()
        self.result = Conversion(spec=self.spec, kinematics=KinematicMap([], []))

    def build(self, mesh_dir: Path | None = None) -> Conversion:
        self.mesh_dir = mesh_dir
        self._setup_spec()
        for joint in _topological(self.model):
            self._add_body(joint)
        self._add_markers()
        add_contacts(self)
        if self.options.muscles:
            add_muscle_paths(self)
        kinematics = KinematicMap(
            coordinates=list(self.model.coordinates),
            slots=self.slots,
            couplings=self.couplings,
            defaults=self.defaults,
        )
        kinematics.check_complete()
        self.result.kinematics = kinematics
        self._add_equalities(kinematics)
        return self.result

    # ----------------------------------------------------------------------------- defaults

    def _default_values(self) -> dict[str, float]:
        values = {c.name: c.default_value for c in self.model.coordinates.values()}
        for coupling in self.couplings:
            values[coupling.dependent] = float(
                coupling.function.value(values[coupling.independent])
            )
        return values

    def _axis_value(self, axis) -> float:
        if len(axis.coordinates) > 1:
            raise KintwinError(
                f"transform axis '{axis.name}' depends on {len(axis.coordinates)} "
                "coordinates; only functions of one coordinate are supported"
            )
        x = self.defaults[axis.coordinates[0]] if axis.coordinates else 0.0
        return float(axis.function.value(x))

    # --------------------------------------------------------------------------------- spec

    def _setup_spec(self) -> None:
        spec = self.spec
        spec.modelname = self.model.name
        spec.compiler.degree = False
        spec.compiler.autolimits = True
        spec.compiler.inertiafromgeom = mujoco.mjtInertiaFromGeom.mjINERTIAFROMGEOM_FALSE
        if self.mesh_dir is not None:
            spec.meshdir = str(self.mesh_dir)
        spec.option.timestep = self.options.timestep
        if self.model.muscles and self.options.muscles and self.options.muscle_actuators:
            # Passive muscle forces on light distal bodies (toes, talus) are stiff: 1 ms steps
            # keep the collapsed, passive model stable.
            spec.option.timestep = min(self.options.timestep, MUSCLE_TIMESTEP)
        spec.option.gravity = OPENSIM_TO_MUJOCO @ self.model.gravity
        spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
        ground = spec.worldbody.add_body(name=self.model.ground)
        ground.quat = quat_from_matrix(OPENSIM_TO_MUJOCO)
        self.bodies[self.model.ground] = ground

    def _add_body(self, joint: Joint) -> None:
        source = self.model.bodies[joint.child_body]
        values = [self._axis_value(a) for a in joint.axes]
        rotations = [
            (a, v) for a, v in zip(joint.axes, values, strict=True) if a.kind == "rotation"
        ]
        r_fm = np.eye(3)
        for axis, value in rotations:
            r_fm = r_fm @ axis_angle(axis.axis, value)
        p_fm = sum(
            (
                v * a.axis / np.linalg.norm(a.axis)
                for a, v in zip(joint.axes, values, strict=True)
                if a.kind == "translation"
            ),
            np.zeros(3),
        )
        x_pb = joint.parent_frame @ transform(r_fm, p_fm) @ invert(joint.child_frame)
        body = self.bodies[joint.parent_body].add_body(name=source.name)
        body.pos = x_pb[:3, 3]
        body.quat = quat_from_matrix(x_pb[:3, :3])
        self._set_inertia(body, source, moving=any(a.coordinates for a in joint.axes))
        self._add_meshes(body, source)
        self.bodies[source.name] = body
        r_bm, p_bm = joint.child_frame[:3, :3], joint.child_frame[:3, 3]
        primary = self._primary_axes(joint)
        for axis, value in zip(joint.axes, values, strict=True):
            if axis.kind == "translation" and axis.coordinates:
                direction = r_bm @ r_fm.T @ (axis.axis / np.linalg.norm(axis.axis))
                self._add_joint(body, joint, axis, value, direction, p_bm, primary)
        for k, (axis, value) in enumerate(rotations):
            if not axis.coordinates:
                continue
            later = np.eye(3)
            for other, other_value in rotations[k + 1 :]:
                later = later @ axis_angle(other.axis, other_value)
            direction = r_bm @ later.T @ (axis.axis / np.linalg.norm(axis.axis))
            self._add_joint(body, joint, axis, value, direction, p_bm, primary)

    def _primary_axes(self, joint: Joint) -> dict[str, object]:
        """For each independent coordinate of ``joint``: the axis that becomes its own joint.

        The first axis that is the coordinate itself (identity), else one that is +-coordinate
        plus a constant (the MuJoCo axis is flipped for -1). A coordinate that drives no axis
        linearly cannot have a joint of its own and is reported.
        """
        dependent = {c.dependent for c in self.couplings}
        chosen: dict[str, object] = {}
        for name in joint.coordinates:
            if name in dependent:
                continue
            candidates = [a for a in joint.axes if a.coordinates == [name]]
            best = next((a for a in candidates if a.function.is_identity), None)
            best = best or next((a for a in candidates if _unit_slope(a.function)), None)
            if best is None:
                raise KintwinError(
                    f"coordinate '{name}' of joint '{joint.name}' moves no transform axis as "
                    "+-coordinate + constant, so it cannot have a MuJoCo joint of its own"
                )
            chosen[name] = best
        return chosen

    def _set_inertia(self, body: mujoco.MjsBody, source, moving: bool) -> None:
        mass = source.mass
        if mass <= 0 and moving:
            mass = 1e-6
            self.result.warnings.append(
                f"body '{source.name}' has no mass; given 1 mg so MuJoCo can simulate it"
            )
        body.explicitinertial = True
        body.mass = mass
        body.ipos = source.com
        inertia = self._physical_inertia(source.name, source.inertia.copy())
        if moving and not np.any(inertia[:3] > 0):
            inertia[:3] = 1e-9
        if np.any(inertia[3:] != 0):
            body.fullinertia = inertia
        else:
            body.inertia = inertia[:3]

    def _add_meshes(self, body: mujoco.MjsBody, source) -> None:
        """Display meshes: STL files in ``mesh_dir``, non-colliding geoms at OpenSim's frames."""
        if self.mesh_dir is None:
            return
        model_dir = Path(self.model.path).parent
        for k, mesh in enumerate(source.meshes):
            found = find_mesh(mesh.mesh_file, model_dir, self.options.geometry_dirs)
            if found is None:
                self.result.missing_meshes.append(mesh.mesh_file)
                continue
            name = f"{source.name}_{Path(mesh.mesh_file.replace(chr(92), '/')).stem}_{k}"
            problem = write_stl(read_mesh(found), self.mesh_dir / f"{name}.stl", mesh.scale)
            if problem is not None:
                self.result.warnings.append(
                    f"mesh {found.name} of body '{source.name}' skipped: {problem}"
                )
                continue
            asset = self.spec.add_mesh(name=name, file=f"{name}.stl")
            asset.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL
            geom = body.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_MESH, meshname=name)
            geom.pos = mesh.pose[:3, 3]
            geom.quat = quat_from_matrix(mesh.pose[:3, :3])
            geom.contype = geom.conaffinity = 0
            geom.group = MESH_GROUP
            geom.density = 0
            geom.rgba = [0.89, 0.85, 0.79, 1.0]

    def _physical_inertia(self, name: str, inertia: np.ndarray) -> np.ndarray:
        """The inertia, its principal moments raised just enough to satisfy A + B >= C.

        OpenSim accepts non-physical inertias (e.g. the toes of LaiUhlrich2022); MuJoCo does not.
        """
        ixx, iyy, izz, ixy, ixz, iyz = inertia
        matrix = np.array([[ixx, ixy, ixz], [ixy, iyy, iyz], [ixz, iyz, izz]])
        moments, axes = np.linalg.eigh(matrix)
        if not np.any(moments > 0):
            return inertia
        fixed = np.sort(moments)  # ascending, as eigh returns them
        deficit = fixed[2] - fixed[0] - fixed[1]
        if deficit <= 0:
            return inertia
        fixed[:2] += deficit / 2 + 1e-12 * fixed[2]  # the smallest change giving A + B >= C
        matrix = axes @ np.diag(fixed) @ axes.T
        self.result.inertia_overrides[name] = inertia.tolist()
        self.result.warnings.append(
            f"body '{name}': principal inertia {moments.round(9).tolist()} violates the triangle "
            f"inequality, which MuJoCo's compiler refuses; the MJCF has {fixed.round(9).tolist()} "
            "kg m^2 (OpenSim's values are restored for inverse dynamics: map inertia_overrides)"
        )
        return np.array(
            [matrix[0, 0], matrix[1, 1], matrix[2, 2], matrix[0, 1], matrix[0, 2], matrix[1, 2]]
        )

    def _add_joint(
        self,
        body,
        joint: Joint,
        axis,
        value: float,
        direction: np.ndarray,
        anchor: np.ndarray,
        primary: dict[str, object],
    ) -> None:
        coordinate = self.model.coordinates[axis.coordinates[0]]
        own = primary.get(coordinate.name) is axis
        kind = "hinge" if axis.kind == "rotation" else "slide"
        name = coordinate.name if own else f"{joint.name}_{axis.name}"
        mj = body.add_joint(name=name)
        mj.type = mujoco.mjtJoint.mjJNT_HINGE if kind == "hinge" else mujoco.mjtJoint.mjJNT_SLIDE
        mj.pos = anchor
        mj.armature = self.options.armature
        if own:  # qpos is the coordinate itself: value = slope * q + constant, slope = +-1
            mj.axis = direction * _unit_slope(axis.function)
            mj.ref = self.defaults[coordinate.name]
        else:
            mj.axis = direction
            mj.ref = value
        if own and coordinate.clamped:
            mj.limited = mujoco.mjtLimited.mjLIMITED_TRUE
            mj.range = coordinate.range
        else:
            mj.limited = mujoco.mjtLimited.mjLIMITED_FALSE
        self.slots.append(
            JointSlot(
                name=name,
                kind=kind,
                coordinate=coordinate.name,
                function=None if own else axis.function,
                ref=float(mj.ref),
                opensim_joint=joint.name,
                axis=axis.name,
            )
        )

    # ---------------------------------------------------------------------------- equalities

    def _add_equalities(self, kinematics: KinematicMap) -> None:
        own = {s.coordinate: s for s in self.slots if s.function is None}
        roots = {c.dependent: self._root(c.dependent) for c in self.couplings}
        for slot in self.slots:
            root = roots.get(slot.coordinate, slot.coordinate)
            if slot.locked_in_simulation:
                self._lock(slot, kinematics)
            elif slot.function is not None or root != slot.coordinate:
                self._equality(slot, own[root], kinematics)
        for coordinate in self.model.coordinates.values():
            if coordinate.locked and coordinate.name in own:
                eq = self.spec.add_equality(name=f"lock_{coordinate.name}")
                self._stiffen(eq)
                eq.type = mujoco.mjtEq.mjEQ_JOINT
                eq.objtype = mujoco.mjtObj.mjOBJ_JOINT
                eq.name1 = own[coordinate.name].name
                data = np.array(eq.data)
                data[: 1 + POLY_DEGREE] = 0.0  # q = qpos0: a lock
                eq.data = data

    def _stiffen(self, eq) -> None:
        """Make a kinematic equality nearly rigid: MuJoCo's default (0.02 s time constant,
        impedance 0.9-0.95) lets a knee's coupled translations sag by centimetres under body
        weight. The time constant is the stable minimum, two time steps."""
        eq.solref = [2.0 * self.options.timestep, 1.0]
        eq.solimp = [0.99, 0.999, 0.001, 0.5, 2.0]

    def _lock(self, slot: JointSlot, kinematics: KinematicMap) -> None:
        """Hold ``slot`` at its default in simulation; report how far its true value strays."""
        coordinate = self.model.coordinates[slot.coordinate]
        lo, hi = _fit_range(coordinate)
        x = np.linspace(lo, hi, self.options.fit_samples)
        y = slot.function.value(kinematics.complete({coordinate.name: x})[slot.coordinate])
        eq = self.spec.add_equality(name=f"hold_{slot.name}")
        self._stiffen(eq)
        eq.type = mujoco.mjtEq.mjEQ_JOINT
        eq.objtype = mujoco.mjtObj.mjOBJ_JOINT
        eq.name1 = slot.name
        data = np.array(eq.data)
        data[: 1 + POLY_DEGREE] = 0.0
        eq.data = data
        self.result.couplings_fit.append(
            {
                "joint": slot.name,
                "follows": None,
                "what": f"{slot.opensim_joint}.{slot.axis} "
                f"({slot.coordinate}), held at its default in simulation",
                "range": [lo, hi],
                "polynomial": [0.0] * (POLY_DEGREE + 1),
                "max_error": float(np.abs(y - slot.ref).max()),
            }
        )

    def _root(self, name: str) -> str:
        """The independent coordinate that (through couplers) drives coordinate ``name``."""
        by_dependent = {c.dependent: c.independent for c in self.couplings}
        while name in by_dependent:
            name = by_dependent[name]
        return name

    def _equality(self, slot: JointSlot, independent: JointSlot, kinematics: KinematicMap) -> None:
        """``slot`` follows ``independent`` by a quartic fitted over the coordinate's range."""
        coordinate = self.model.coordinates[independent.coordinate]
        x0 = self.defaults[coordinate.name]
        lo, hi = _fit_range(coordinate)
        x = np.linspace(lo, hi, self.options.fit_samples)
        full = kinematics.complete({coordinate.name: x})
        y = (
            full[slot.coordinate]
            if slot.function is None
            else slot.function.value(full[slot.coordinate])
        )
        dx, dy = x - x0, y - slot.ref
        powers = np.column_stack([dx**k for k in range(1, POLY_DEGREE + 1)])
        coefficients = np.linalg.lstsq(powers, dy, rcond=None)[0]
        error = float(np.max(np.abs(powers @ coefficients - dy)))
        # The polynomial holds only over the fitted range: keep the driving joint inside it.
        driver = self.spec.joint(independent.name)
        driver.limited = mujoco.mjtLimited.mjLIMITED_TRUE
        driver.range = [lo, hi]
        eq = self.spec.add_equality(name=f"couple_{slot.name}")
        self._stiffen(eq)
        eq.type = mujoco.mjtEq.mjEQ_JOINT
        eq.objtype = mujoco.mjtObj.mjOBJ_JOINT
        eq.name1, eq.name2 = slot.name, independent.name
        data = np.array(eq.data)
        data[: 1 + POLY_DEGREE] = [0.0, *coefficients]
        eq.data = data
        self.result.couplings_fit.append(
            {
                "joint": slot.name,
                "follows": independent.name,
                "what": f"{slot.opensim_joint}.{slot.axis} ({slot.coordinate})",
                "range": [lo, hi],
                "polynomial": [0.0, *coefficients.tolist()],
                "max_error": error,
            }
        )

    # ------------------------------------------------------------------------- markers, contacts

    def _add_markers(self) -> None:
        for marker in self.model.markers:
            site = self.bodies[marker.body].add_site(name=marker.name)
            site.pos = marker.location
            site.size = [0.008, 0, 0]
            site.group = MARKER_GROUP
            site.rgba = [1.0, 0.2, 0.6, 1.0]


def _unit_slope(function) -> float | None:
    """+1 or -1 for a LinearFunction ``+-x + c``, else None."""
    if function.is_identity:
        return 1.0
    if function.is_linear and function.n_args == 1:
        slope = float(function.derivative(0.0, 1))
        if abs(slope) == 1.0:
            return slope
    return None


def _couplings(model: OsimModel) -> list[Coupling]:
    """Coupler constraints ordered so that a coupling's input is computed before it is used."""
    pending = []
    for coupler in model.couplers:
        if len(coupler.independent) != 1:
            raise KintwinError(
                f"coupler '{coupler.name}' depends on {len(coupler.independent)} "
                "coordinates; only one is supported"
            )
        pending.append(Coupling(coupler.dependent, coupler.independent[0], coupler.function))
    ordered: list[Coupling] = []
    while pending:
        ready = [c for c in pending if c.independent not in {p.dependent for p in pending}]
        if not ready:
            raise KintwinError(
                "coupler constraints form a cycle: " + ", ".join(c.dependent for c in pending)
            )
        ordered += ready
        pending = [c for c in pending if c not in ready]
    return ordered


def _fit_range(coordinate) -> tuple[float, float]:
    """The range over which a coupling must hold: the coordinate's range, bounded to sane values."""
    lo, hi = coordinate.range
    bound = np.pi if coordinate.motion_type != "translational" else 1.0
    return max(lo, -bound), min(hi, bound)
