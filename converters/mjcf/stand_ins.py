"""A plan's own sphere or cylinder for one wrap object, tuned to OpenSim's lengths and moment
arms (an ellipsoid always; others when a layout asks), and the target it is tuned to."""

from __future__ import annotations

import mujoco
import numpy as np

from converters.mjcf.wrap_geoms import (
    axis_to_z,
    ellipsoid_stand_in,
    new_wrap_geom,
    quadrant_of,
    quat_to_matrix,
    side_direction,
    side_site,
)
from converters.osim.model import Muscle, WrapObjectSpec
from converters.spatial import quat_from_matrix

__all__ = ["TUNING_EVALUATIONS", "ARM_STEP", "StandIn", "Target"]

TUNING_EVALUATIONS = 160  # objective evaluations per stand-in family
ARM_STEP = 1e-6  # coordinate nudge (rad or m) for moment arms by finite differences


_PROBE = """<mujoco><worldbody><site name="a"/><site name="b"/><site name="side"/>
<geom name="g" type="sphere" size="0.01" contype="0" conaffinity="0"/></worldbody>
<tendon><spatial name="t"><site site="a"/><geom geom="g" {side}/><site site="b"/></spatial>
</tendon></mujoco>"""


class StandIn:
    """A plan's own sphere or cylinder for one wrap object, tuned to OpenSim's path.

    MuJoCo wraps only spheres and (infinite) cylinders. For an ellipsoid the family (a sphere, or
    a cylinder along one of its axes other than the quadrant's) is open; a cylinder may tilt and
    shift, a sphere shift. Radius and pose are fitted to OpenSim's lengths and moment arms of the
    muscle at its fit poses (:func:`_fit_poses`: the reference poses, and either side of
    OpenSim's side switches, which a sphere smears over degrees where the line passes the centre
    along an ellipsoid's long axis): each family from its natural start (the ellipsoid's mean
    radius, the mean of the two radii across the axis; the surface itself) by Nelder-Mead on
    :meth:`Target.misfit`; the best is kept if it beats the untuned stand-in. The side site
    stays on the quadrant's side at twice the radius."""

    def __init__(self, tendon: str, muscle: str, spec: WrapObjectSpec, geom, side) -> None:
        self.tendon, self.muscle, self.spec, self.geom, self.side = tendon, muscle, spec, geom, side
        self.summary = ""

    @classmethod
    def add(
        cls, builder, muscle: Muscle, spec: WrapObjectSpec, tendon: str, sided: bool = True
    ) -> StandIn:
        if spec.type == "WrapEllipsoid":
            kind, size, radius, pose = ellipsoid_stand_in(builder, spec, warn=False)
            if quadrant_of(spec) is not None and side_direction(spec, pose, kind) is None:
                radius, pose = float(np.mean(spec.dimensions)), spec.pose.copy()
                kind, size = mujoco.mjtGeom.mjGEOM_SPHERE, [radius, 0, 0]
        elif spec.type == "WrapCylinder":
            kind, radius, pose = mujoco.mjtGeom.mjGEOM_CYLINDER, spec.radius, spec.pose.copy()
            size = [radius, spec.length / 2, 0]
        else:
            kind, radius, pose = mujoco.mjtGeom.mjGEOM_SPHERE, spec.radius, spec.pose.copy()
            size = [radius, 0, 0]
        name = f"{spec.name}_{tendon}"
        body = builder.bodies[spec.body]
        geom = new_wrap_geom(body, name, kind, size, pose)
        side = None
        if sided and quadrant_of(spec) is not None:
            side_name = side_site(body, spec, pose, radius, kind, name=f"{name}_side")
            side = builder.spec.site(side_name) if side_name else None
        return cls(tendon, muscle.name, spec, geom, side)

    def families(self) -> list[tuple[str, int | None, np.ndarray]]:
        """(kind 'sphere' | 'axis' (an ellipsoid's) | 'tilt' (a cylinder's own, tilted), axis,
        start parameters: radius and offsets in mm, tilts in centiradians)."""
        if self.spec.type == "WrapCylinder":
            return [("tilt", 2, np.array([self.spec.radius * 1000, 0, 0, 0, 0]))]
        if self.spec.type == "WrapSphere":
            return [("sphere", None, np.array([self.spec.radius * 1000, 0, 0, 0]))]
        a = np.asarray(self.spec.dimensions, dtype=float) * 1000
        out = [
            ("centred", None, np.array([a.mean()])),
            ("sphere", None, np.array([a.mean(), 0, 0, 0])),
        ]
        quadrant = quadrant_of(self.spec)
        for axis in range(3):
            if quadrant is not None and quadrant[0] == axis:
                continue  # MuJoCo could not tell the sides of a cylinder along the quadrant axis
            others = [k for k in range(3) if k != axis]
            out.append(("axis", axis, np.array([a[others].mean(), 0, 0])))
        return out

    def pose(self, family: str, axis: int | None, params: np.ndarray):
        """(radius m, centre in the body frame, rotation) of a family's parameters."""
        frame = self.spec.pose
        radius = max(float(params[0]), 0.05) / 1000
        offset, rotation = np.zeros(3), frame[:3, :3]
        if family == "sphere":
            offset[:] = params[1:4] / 1000
        elif family == "centred":
            pass
        elif family == "axis":
            offset[[k for k in range(3) if k != axis]] = params[1:3] / 1000
            rotation = frame[:3, :3] @ axis_to_z(axis)
        else:
            offset[:2] = params[1:3] / 1000
            ax, ay = params[3:5] / 100
            tilt_x = np.array(
                [[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]]
            )
            tilt_y = np.array(
                [[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]]
            )
            rotation = frame[:3, :3] @ tilt_x @ tilt_y
        return radius, frame[:3, 3] + frame[:3, :3] @ offset, rotation

    def tune(self, model, data, target: Target) -> None:
        from scipy.optimize import minimize

        t = model.tendon(self.tendon).id
        g = model.geom(self.geom.name).id
        wrap = next(
            j
            for j in range(model.tendon_adr[t], model.tendon_adr[t] + model.tendon_num[t])
            if model.wrap_type[j] != mujoco.mjtWrap.mjWRAP_SITE and model.wrap_objid[j] == g
        )
        sites = [model.wrap_objid[wrap - 1], model.wrap_objid[wrap + 1]]
        body = model.geom_bodyid[g]
        shape = target.qpos.shape[:2]
        ends = np.zeros((*shape, 2, 3))
        full = np.zeros(shape)
        for index in np.ndindex(shape):
            data.qpos[:] = target.qpos[index]
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
            mujoco.mj_tendon(model, data)
            full[index] = data.ten_length[t]
            rotation, origin = data.xmat[body].reshape(3, 3), data.xpos[body]
            ends[index] = (data.site_xpos[sites] - origin) @ rotation
        ends = ends.reshape(-1, 2, 3)
        probe = mujoco.MjModel.from_xml_string(
            _PROBE.format(side='sidesite="side"' if self.side is not None else "")
        )
        probe.site_sameframe[:] = 0  # positions change below: no shortcut through the body frame
        probe.geom_sameframe[:] = 0
        probe_data = mujoco.MjData(probe)
        direction = side_direction(self.spec, self.spec.pose, None)

        def segment(cylinder: bool, radius: float, centre, rotation) -> np.ndarray:
            probe.geom_type[0] = (
                mujoco.mjtGeom.mjGEOM_CYLINDER if cylinder else mujoco.mjtGeom.mjGEOM_SPHERE
            )
            probe.wrap_type[1] = (
                mujoco.mjtWrap.mjWRAP_CYLINDER if cylinder else mujoco.mjtWrap.mjWRAP_SPHERE
            )
            probe.geom_size[0] = [radius, radius, 0]
            probe.geom_pos[0] = centre
            probe.geom_quat[0] = quat_from_matrix(rotation)
            if direction is not None:
                probe.site_pos[2] = centre + 2 * radius * direction
            out = np.zeros(len(ends))
            for i, (p, q) in enumerate(ends):
                probe.site_pos[0], probe.site_pos[1] = p, q
                mujoco.mj_kinematics(probe, probe_data)
                mujoco.mj_tendon(probe, probe_data)
                out[i] = probe_data.ten_length[0]
            return out.reshape(shape)

        rest = full - segment(
            self.geom.type == mujoco.mjtGeom.mjGEOM_CYLINDER,
            float(self.geom.size[0]),
            np.array(self.geom.pos),
            quat_to_matrix(np.array(self.geom.quat)),
        )
        untuned = target.misfit(full)
        best = (untuned, None)
        for family, axis, start in self.families():

            def objective(params, family=family, axis=axis):
                return target.misfit(
                    rest
                    + segment(family not in ("sphere", "centred"), *self.pose(family, axis, params))
                )

            simplex = np.vstack([start, start + np.diag(np.full(len(start), 0.25 * start[0]))])
            result = minimize(
                objective,
                start,
                method="Nelder-Mead",
                options={"initial_simplex": simplex, "maxfev": TUNING_EVALUATIONS, "xatol": 0.01},
            )
            if result.fun < best[0]:
                best = (float(result.fun), (family, axis, result.x))
        what, lengths = "kept untuned", full
        if best[1] is not None:
            family, axis, params = best[1]
            radius, centre, rotation = self.pose(family, axis, params)
            self._apply(
                model,
                g,
                wrap,
                family not in ("sphere", "centred"),
                radius,
                centre,
                rotation,
                direction,
            )
            lengths = rest + segment(family not in ("sphere", "centred"), radius, centre, rotation)
            shift = self.spec.pose[:3, :3].T @ (centre - self.spec.pose[:3, 3]) * 1000
            what = (
                f"sphere of radius {radius * 1000:.1f} mm"
                if family in ("sphere", "centred")
                else f"cylinder of radius {radius * 1000:.1f} mm"
                + (f" along its {'xyz'[axis]} axis" if family == "axis" else "")
                + (
                    f" tilted {np.round(params[3:5] / 100, 3).tolist()} rad"
                    if family == "tilt"
                    else ""
                )
            ) + f", centre moved {np.round(shift, 1).tolist()} mm"
        self.summary = (
            f"wrap {self.spec.type} '{self.spec.name}' for '{self.muscle}' -> {what}; tuned to "
            f"OpenSim at {target.qpos.shape[1]} poses: {target.describe(lengths)} "
            f"(untuned: {target.describe(full)})"
        )

    def _apply(self, model, g, wrap, cylinder, radius, centre, rotation, direction) -> None:
        """Write the chosen stand-in into the spec and the compiled ``model`` (used next)."""
        kind = mujoco.mjtGeom.mjGEOM_CYLINDER if cylinder else mujoco.mjtGeom.mjGEOM_SPHERE
        half = self.spec.length / 2 if self.spec.type == "WrapCylinder" else radius
        size = [radius, float(max(half, radius)), 0] if cylinder else [radius, 0, 0]
        quat = quat_from_matrix(rotation)
        self.geom.type, self.geom.size, self.geom.pos, self.geom.quat = kind, size, centre, quat
        model.geom_type[g] = kind
        model.wrap_type[wrap] = (
            mujoco.mjtWrap.mjWRAP_CYLINDER if cylinder else mujoco.mjtWrap.mjWRAP_SPHERE
        )
        model.geom_size[g], model.geom_pos[g], model.geom_quat[g] = size, centre, quat
        model.geom_sameframe[g] = 0
        if self.side is not None and direction is not None:
            self.side.pos = centre + 2 * radius * direction
            site = model.site(self.side.name).id
            model.site_pos[site] = self.side.pos
            model.site_sameframe[site] = 0


class Target:
    """OpenSim's lengths (n,) and moment arms (n, c) of one muscle at the reference poses, and
    the qpos (1 + c, n, nq) of those poses and of each nudged by ``ARM_STEP`` in one of the c
    coordinates it spans (those where OpenSim's moment arm exceeds 1 mm somewhere)."""

    def __init__(self, lengths: np.ndarray, arms: np.ndarray, qpos: np.ndarray) -> None:
        self.lengths, self.arms, self.qpos = lengths, arms, qpos

    def errors(self, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """|length error| (mm, valid poses) and |moment-arm error| (mm, all pairs) of tendon
        ``lengths`` (1 + c, n) at the poses and nudged poses."""
        valid = np.isfinite(self.lengths)
        length = np.abs(lengths[0] - self.lengths)[valid] * 1000
        arms = -(lengths[1:] - lengths[0]) / ARM_STEP
        arm = np.abs(arms.T - self.arms)[valid] * 1000
        return length, arm.ravel()

    def misfit(self, lengths: np.ndarray) -> float:
        """How far from the bars, as a soft maximum (8-norm) of the errors over their bars:
        length median over 1 mm and maximum over 5 mm, moment-arm RMS over 2 mm and maximum
        over 10 mm."""
        length, arm = self.errors(lengths)
        ratios = [np.median(length) / 1.0, length.max() / 5.0]
        if arm.size:
            ratios += [np.sqrt(np.mean(arm**2)) / 2.0, arm.max() / 10.0]
        return float(np.sum(np.asarray(ratios) ** 8) ** (1 / 8))

    def describe(self, lengths: np.ndarray) -> str:
        length, arm = self.errors(lengths)
        text = f"length error median {np.median(length):.2f} mm, max {length.max():.2f} mm"
        return text + (f", moment arm max {arm.max():.2f} mm" if arm.size else "")
