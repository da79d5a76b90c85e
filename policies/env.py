"""Batched imitation environment: a converted model driven by PD targets around a reference motion.

Observations hold the state and differences to the reference at a few future frames (no clip
phase), so one policy can serve several trials. The task model is built in ``policies.task``, the
references in ``policies.reference``, the settings live in ``policies.config``.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from converters.errors import KintwinError
from converters.motion import Trajectory
from policies.body_randomization import (
    BodyRandomizer,
    body_feature_names,
    body_features,
    fit_config_to_body,
    scaling_from_dict,
    scaling_to_dict,
)
from policies.config import TrackingConfig
from policies.foot_loads import floor_wrenches
from policies.reference import (
    Reference,
    calibrate_contacts,
    estimate_belt_speed,
    make_reference,
    measured_grf,
)
from policies.rollout import SamplingPolicy, Segment, run_segment
from policies.task import (
    BELT_HALF_LENGTH,
    BELT_JOINT,
    TaskModel,
    build_task_model,
    foot_centres,
    foot_clearance,
)

__all__ = [
    "TrackingConfig",
    "TrackingEnv",
    "VectorEnv",
    "task_and_references",
    "build_task_model",
    "make_reference",
    "estimate_belt_speed",
    "calibrate_contacts",
    "measured_grf",
    "BELT_JOINT",
]


class TrackingEnv:
    """One copy of the task: ``reset`` at a random reference frame, ``step`` one control period.

    Actions (one per name in ``action_names``, nominally in [-1, 1]) are PD-target offsets from
    the next reference frame, ``action_scale`` rad (or m) per unit, then residual root actions.
    They pass a first-order low-pass filter (``action_filter_hz``) before they are applied; the
    filtered action is part of the observation.
    """

    def __init__(
        self,
        converted,
        trajectory: Trajectory | list[Trajectory] | None,
        config: TrackingConfig | None = None,
        seed: int = 0,
        task: TaskModel | None = None,
        references: list[Reference] | None = None,
    ) -> None:
        self.config = config or TrackingConfig()
        if task is None and self.config.body_reference is not None:
            self.config = fit_config_to_body(converted.mj_model, self.config)
        self.task = task or build_task_model(converted, self.config)
        if references is None:
            if trajectory is None:
                raise KintwinError("TrackingEnv needs a trajectory or references")
            trajectories = trajectory if isinstance(trajectory, list) else [trajectory]
            feedforwards = _feedforwards(converted, trajectories, self.task, self.config)
            references = [
                make_reference(self.task, t, self.config, feedforward=f)
                for t, f in zip(trajectories, feedforwards, strict=True)
            ]
        self.references = references
        self.data = mujoco.MjData(self.task.model)
        self._seed, self._rng = seed, None  # the generator is made on first use (rng)
        self.n_act = len(self.task.actuated)
        self.prev_action = np.zeros(len(self.task.action_names))  # filtered, as applied
        self.prev_torque = np.zeros(self.n_act)
        self.mean_force = np.zeros(self.task.model.nu)  # actuator forces over the last period
        self.contact_recorder = None  # called after every physics step when set (runner)
        self.muscles = None  # MuscleController of the muscle drive
        if self.task.muscle is not None:
            from policies.muscle import MuscleController

            self.muscles = MuscleController(self.task)
        self.ref, self.t = self.references[0], 0
        self.outcomes = np.zeros((len(self.references), 2))  # decayed (episodes, falls) per ref
        self.bodies = None  # a BodyRandomizer: a random subject on resets (scale_lengths)
        self.follower = None  # a RootFollower: the horizontal root path follows the body (runs)
        self.scaling = None  # the subject's BodyScaling when drawn by ``bodies``
        self.body_obs = body_features(self.task.model, self.task.total_mass, self.config)
        hinge = mujoco.mjtJoint.mjJNT_HINGE
        joint = self.task.model.joint
        self.root_rot = np.array(
            [i for i in self.task.root if joint(self.task.coordinates[i]).type[0] == hinge],
            dtype=int,
        )
        horizontal = set(self.task.horizontal.tolist())  # root translations not observed
        n_coord = len(self.task.coordinates)
        self._observed_q = np.array([i for i in range(n_coord) if i not in horizontal], dtype=int)

    @property
    def seed(self) -> int:
        """The seed of the copy's random generator (and of its action noise in training)."""
        return self._seed

    @property
    def rng(self) -> np.random.Generator:
        """The copy's random generator (seeded; made on first use: a rollout from a given frame
        needs none, and numpy.random takes a while to import)."""
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        return self._rng

    @rng.setter
    def rng(self, generator: np.random.Generator) -> None:
        """Draw from ``generator`` from now on (gymnasium's seeded generator, policies.gym)."""
        self._rng = generator

    @property
    def action_names(self) -> list[str]:
        return list(self.task.action_names)

    @property
    def obs_names(self) -> list[str]:
        coords, task = self.task.coordinates, self.task
        keep = [c for i, c in enumerate(coords) if i not in set(task.horizontal.tolist())]
        names = [f"q:{c}" for c in keep] + [f"qdot:{c}" for c in coords]
        names += ["root_height", "root_qw", "root_qx", "root_qy", "root_qz", "belt_speed"]
        for k in self.config.future_frames:
            names += [f"dq+{k}:{c}" for c in coords]
        names += [f"dqdot+1:{c}" for c in coords]
        names += [f"prev_action:{a}" for a in self.action_names]
        if self.muscles is not None:
            names += [f"activation:{m}" for m in self.task.muscle.names]
        return names + body_feature_names(self.config)

    def reset(self, reference: int | None = None, frame: int | None = None) -> np.ndarray:
        """Reference-state initialisation at ``frame`` (random if None); returns the observation."""
        if self.bodies is not None and self.rng.random() < 1.0 / self.config.scale_every:
            self.use_body(*self.bodies.sample(self.rng))
        if reference is None:
            reference = self._draw_reference()
        self.ref = self.references[reference]
        if frame is None:
            frame = self._draw_frame()
        self.t = frame
        d, task = self.data, self.task
        mujoco.mj_resetData(task.model, d)
        d.qpos[: task.nq] = self.ref.qpos[frame]
        d.qvel[: task.nv] = self.ref.qvel[frame]
        d.qvel[task.belt_dof] = self.ref.belt_speed
        if self.muscles is None:
            d.ctrl[: self.n_act] = self._pd_centre(frame) + self._feedforward_shift(frame)
        if self.config.seat:  # the reference's seat, or none (policies.seat)
            from policies.seat import place_seat

            place_seat(task.model, d, self.ref.seat)
        mujoco.mj_kinematics(task.model, d)
        self._touch_down()
        mujoco.mj_forward(task.model, d)
        if self.muscles is not None:
            self.muscles.reset(self)
            mujoco.mj_forward(task.model, d)
        self.prev_action[:] = 0.0
        self.prev_torque[:] = d.actuator_force[: self.n_act]
        if self.follower is not None:
            self.follower.reset()
        return self.observation()

    def _draw_frame(self) -> int:
        """A start frame: the reference's first row with ``first_frame_share``, where a whole
        run starts, else uniform (reference-state initialisation)."""
        share = self.config.first_frame_share
        if share and self.rng.random() < share:
            return 0
        return int(self.rng.integers(max(1, len(self.ref.qpos) - 2)))

    def _draw_reference(self) -> int:
        """A random reference: uniform, or with ``failure_weight`` weighted towards the ones
        this copy fell on (weight ``1 + failure_weight x`` fall rate, each rate starting at
        1/2 and following the last ~50 episodes on its reference)."""
        n = len(self.references)
        if not self.config.failure_weight or n == 1:
            return int(self.rng.integers(n))
        episodes, falls = self.outcomes.T
        weight = 1.0 + self.config.failure_weight * (falls + 0.5) / (episodes + 1.0)
        return int(self.rng.choice(n, p=weight / weight.sum()))

    def record_outcome(self, fell: bool) -> None:
        """Count an episode on the current reference that ended, by a fall or not."""
        index = next(i for i, r in enumerate(self.references) if r is self.ref)
        self.outcomes[index] = 0.98 * self.outcomes[index] + (1.0, float(fell))

    def use_body(self, scaling, task: TaskModel, references: list[Reference]) -> None:
        """Continue with another subject (from :class:`BodyRandomizer`); reset next."""
        self.scaling, self.task, self.references = scaling, task, references
        self.data = mujoco.MjData(task.model)
        self.body_obs = body_features(task.model, task.total_mass, self.config)
        if task.muscle is not None:  # the muscle drive's controller belongs to its model
            from policies.muscle import MuscleController

            self.muscles = MuscleController(task)

    def _touch_down(self) -> None:
        """Move the root vertically so the lowest stance foot just touches the floor.

        The reference pose can leave the stance foot a millimetre above the floor; the body then
        falls onto it and the ground reaction force starts from zero. Touching (``touch_down``
        deep) lets the contact carry the body from the first step.
        """
        task = self.task
        stance = None if self.ref.stance is None else self.ref.stance[self.t]
        if self.config.touch_down is None or task.root_height is None or stance is None:
            return
        if not np.any(stance):
            return
        gap = float(foot_clearance(task, self.data)[stance].min()) + self.config.touch_down
        index, sign = task.root_height
        self.data.qpos[index] -= sign * gap

    def _pd_centre(self, frame: int) -> np.ndarray:
        """PD control value that tracks the reference at ``frame`` with zero action.

        MuJoCo's position actuator gives kp (ctrl - q) - kv qdot; adding (kv/kp) qdot_ref to the
        target makes that kp (q_ref - q) + kv (qdot_ref - qdot), so the damping pulls towards the
        reference velocity instead of resisting all motion.
        """
        task, ref = self.task, self.ref
        frame = min(frame, len(ref.qpos) - 1)
        q = ref.qpos[frame][task.coord_qpos[task.actuated]]
        qdot = ref.qvel[frame][task.coord_dof[task.actuated]]
        return q + self.config.kv_ratio * qdot

    def _feedforward_shift(self, frame: int) -> np.ndarray | float:
        """PD target shift that adds the reference's model-based moment at ``frame``
        (``feedforward``; 0 without): a position actuator gives kp (ctrl - q) - kv qdot."""
        feedforward = self.ref.feedforward
        if feedforward is None:
            return 0.0
        kp = self.task.model.actuator_gainprm[: self.n_act, 0]
        return feedforward[min(frame, len(feedforward) - 1)] / kp

    def _reference_ahead(self, k: int) -> np.ndarray:
        """Reference coordinates ``k`` control steps ahead. Past the reference's last row (the end
        of a gait's padding) a periodic motion repeats its last cycle, shifted to join on; any
        other continues at the last frame's velocity. The policy then never sees the motion stop
        (and brake)."""
        ref, task = self.ref, self.task
        last = len(ref.qpos) - 1
        frame = min(self.t + k, last)
        q = ref.qpos[frame][task.coord_qpos]
        beyond = self.t + k - last
        if beyond > 0 and ref.period is not None and beyond <= ref.period:
            one_cycle_ago = ref.qpos[last + beyond - ref.period][task.coord_qpos]
            drift = ref.qpos[last][task.coord_qpos] - ref.qpos[last - ref.period][task.coord_qpos]
            q = one_cycle_ago + drift
        elif beyond > 0:
            q = q + beyond * self.config.control_dt * ref.qvel[last][task.coord_dof]
        return q if self.follower is None else q + self.follower.coordinate_offset

    def observation(self) -> np.ndarray:
        """The observation vector (see ``obs_names``)."""
        d, task, ref = self.data, self.task, self.ref
        q, qd = d.qpos[task.coord_qpos], d.qvel[task.coord_dof]
        last = len(ref.qpos) - 1
        parts = [q[self._observed_q], qd, [d.xpos[task.root_body][2]], d.xquat[task.root_body]]
        parts.append([ref.belt_speed])
        for k in self.config.future_frames:
            parts.append(self._reference_ahead(k) - q)
        parts.append(ref.qvel[min(self.t + 1, last)][task.coord_dof] - qd)
        parts.append(self.prev_action)
        if self.muscles is not None:
            parts.append(d.act[task.muscle.act_adr])
        parts.append(self.body_obs)
        return np.concatenate(parts).astype(np.float32)

    def step(
        self, action: np.ndarray, reward: bool = True
    ) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Advance one control period; returns (obs, reward, terminated, truncated, info).

        Without ``reward`` (a rollout that only needs the motion) the reward is 0 and only its
        terms that decide termination are computed.
        """
        task, d, cfg = self.task, self.data, self.config
        raw = np.clip(np.asarray(action, dtype=float), -1.0, 1.0)
        a = self.prev_action + cfg.action_alpha * (raw - self.prev_action)
        if self.muscles is None:
            centre = self._pd_centre(self.t + 1) + self._feedforward_shift(self.t + 1)
            d.ctrl[: self.n_act] = centre + cfg.action_scale * a[: self.n_act]
            d.ctrl[self.n_act :] = a[self.n_act :]
        self.mean_force[:] = 0.0
        for substep in range(task.frame_skip):
            if self.muscles is not None:
                self.muscles.control(self, a, substep)
            d.qvel[task.belt_dof] = self.ref.belt_speed
            mujoco.mj_step(task.model, d)
            self.mean_force += d.actuator_force / task.frame_skip
            if self.muscles is not None:
                self.muscles.accumulate(self)
            if self.contact_recorder is not None:
                self.contact_recorder(self)
        if abs(d.qpos[task.belt_qpos]) > 0.2 * BELT_HALF_LENGTH:  # uniform box: no jump in contact
            d.qpos[task.belt_qpos] -= np.trunc(d.qpos[task.belt_qpos])
        self.t = min(self.t + 1, len(self.ref.qpos) - 1)
        if self.follower is not None:
            self.follower.update(d, self.ref.root_pos[self.t], cfg.control_dt)
        value, info = self._reward(a) if reward else (0.0, self._errors())
        self.prev_action[:] = a
        self.prev_torque[:] = self.mean_force[: self.n_act]
        stable = bool(np.all(np.isfinite(d.qpos)))
        terminated = (
            not stable
            or info["root_error"] > cfg.max_root_error
            or info["pose_rms"] > cfg.max_pose_error
            or (cfg.max_root_angle is not None and info["root_angle"] > cfg.max_root_angle)
        )
        truncated = not terminated and self.t >= len(self.ref.qpos) - 1
        if (terminated or truncated) and self.config.failure_weight:
            self.record_outcome(terminated)
        obs = self.observation() if stable else np.zeros(len(self.obs_names), np.float32)
        return obs, (value if stable else 0.0), terminated, truncated, info

    def snapshot(self) -> dict:
        """Everything the next ``step`` depends on, to resume a run exactly: MuJoCo's
        integration state (warm start included), the reference and its frame, the filtered
        action, the last torque and the random generator."""
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        physics = np.empty(mujoco.mj_stateSize(self.task.model, spec))
        mujoco.mj_getState(self.task.model, self.data, physics, spec)
        reference = next(i for i, r in enumerate(self.references) if r is self.ref)
        snapshot = {
            "physics": physics,
            "reference": reference,
            "t": self.t,
            "prev_action": self.prev_action.copy(),
            "prev_torque": self.prev_torque.copy(),
            "rng": self.rng.bit_generator.state,
            "body": scaling_to_dict(self.scaling),
            "outcomes": self.outcomes.copy(),
        }
        if self.follower is not None:
            snapshot["root_offset"] = self.follower.world_offset.copy()
        if self.muscles is not None:  # the activation solve's warm start
            snapshot["muscle"] = self.muscles.state()
        return snapshot

    def restore(self, snapshot: dict) -> None:
        """Return to a :meth:`snapshot` (of a copy of the same task)."""
        scaling = scaling_from_dict(snapshot.get("body"))
        if scaling is not None and self.bodies is not None:
            self.use_body(scaling, *self.bodies.build(scaling))
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        mujoco.mj_setState(self.task.model, self.data, snapshot["physics"], spec)
        # positions, contacts and forces derived from that state (the observation reads them):
        # without this they would be whatever the data last held, and a restored run would not
        # repeat itself
        mujoco.mj_forward(self.task.model, self.data)
        self.ref, self.t = self.references[snapshot["reference"]], int(snapshot["t"])
        self.prev_action[:] = snapshot["prev_action"]
        self.prev_torque[:] = snapshot["prev_torque"]
        self.rng.bit_generator.state = snapshot["rng"]
        if "outcomes" in snapshot:
            self.outcomes[:] = snapshot["outcomes"]
        if self.muscles is not None and "muscle" in snapshot:
            self.muscles.set_state(snapshot["muscle"])
        if self.follower is not None:
            self.follower.world_offset[:] = snapshot.get("root_offset", 0.0)

    def _floor_wrenches(self) -> np.ndarray:
        """(n_feet, 6) the floor's wrench on each foot now (:func:`floor_wrenches`)."""
        task = self.task
        return floor_wrenches(task.model, self.data, task.foot_of_geom, len(task.foot_geoms))

    def _grf_term(self, wrenches: np.ndarray | None = None) -> float:
        """Measured-GRF agreement, only for a reference with force plates (else 0);
        ``wrenches``: :meth:`_floor_wrenches` if already computed this step."""
        if self.ref.grf is None:
            return 0.0
        task = self.task
        sim = (self._floor_wrenches() if wrenches is None else wrenches)[:, :3]
        error = np.sum((sim - self.ref.grf[self.t]) ** 2) / task.body_weight**2
        return self.config.w_grf * float(np.exp(-self.config.k_grf * error))

    def _load_share_term(self, wrenches: np.ndarray | None = None) -> float:
        """Agreement of the feet's shares of the vertical load with the reference's double
        support prior (``w_load_share`` where the prior is silent); ``wrenches`` as for
        :meth:`_grf_term`."""
        cfg, ref = self.config, self.ref
        prior = None if ref.load_share is None else ref.load_share[self.t]
        if prior is None or np.isnan(prior[0]) or not cfg.w_load_share:
            return cfg.w_load_share
        task = self.task
        wrenches = self._floor_wrenches() if wrenches is None else wrenches
        vertical = np.maximum(wrenches[:, 2], 0.0)
        total = float(vertical.sum())
        if total < 0.2 * task.body_weight:  # feet barely loaded: no share to speak of
            return 0.0
        error = (vertical[0] / total - prior[0]) ** 2
        return cfg.w_load_share * float(np.exp(-cfg.k_load_share * error))

    def _stance_foot_term(self) -> float:
        """Stance feet where the kinematics put them, in the world's horizontal plane: the
        ``ee`` term is relative to the pelvis and the root term saturates beyond a few
        centimetres, so without it feet may creep over the floor under sustained load (a squat,
        a sit-to-stand). Full weight when no foot is in stance (nothing to hold)."""
        cfg, ref, task = self.config, self.ref, self.task
        if not cfg.w_stance_foot or ref.foot_pos is None or ref.stance is None:
            return cfg.w_stance_foot
        stance = ref.stance[self.t]
        drift = foot_centres(task, self.data)[stance] - ref.foot_pos[self.t][stance]
        if self.follower is not None:
            drift = drift - self.follower.world_offset
        error = float(np.sum(drift[:, :2] ** 2))  # no foot in stance: 0, the whole weight
        return cfg.w_stance_foot * float(np.exp(-cfg.k_stance_foot * error))

    def _contact_match(self) -> float:
        """Fraction of feet whose floor contact agrees with the reference's stance (1 if none)."""
        stance = self.ref.stance
        if stance is None or not stance.shape[1]:
            return 1.0
        touching = _touching(self.task.model, self.data, self.task.foot_of_geom)
        return int(np.count_nonzero(touching == stance[self.t])) / len(touching)

    def _effort_terms(self, a: np.ndarray) -> dict[str, float]:
        """Penalties on effort: torques, their rate and root residuals (torque drive), or
        activations and reserves (muscle drive)."""
        cfg, task = self.config, self.task
        if self.muscles is not None:
            return self.muscles.penalties(self)
        torque = self.mean_force[: self.n_act] / task.torque_limit
        rate = torque - self.prev_torque / task.torque_limit
        residual = a[self.n_act :]
        return {
            "effort": -cfg.w_effort * float(torque @ torque) / len(torque),
            "torque_rate": -cfg.w_torque_rate * float(rate @ rate) / len(rate),
            "residual": -cfg.w_residual * float(residual @ residual),
        }

    def _reward(self, a: np.ndarray) -> tuple[float, dict]:
        """Exp-shaped tracking terms minus smoothness, effort and residual penalties (scalar
        arithmetic in Python floats: this runs every control step)."""
        task, d, cfg, ref, t = self.task, self.data, self.config, self.ref, self.t
        dq, root_pos_err = self._differences()
        dv = d.qvel[task.coord_dof] - ref.qvel[t][task.coord_dof]
        act = task.actuated
        info = self._errors(dq, root_pos_err)
        pose, vel, root_rot = dq[act], dv[act], dq[self.root_rot]
        root_sq = float(root_pos_err @ root_pos_err + root_rot @ root_rot)
        ee = (d.xpos[task.ee_bodies] - d.xpos[task.root_body] - ref.ee_rel[t]).ravel()
        step = a - self.prev_action
        wrenches = None if ref.grf is None else self._floor_wrenches()  # for grf and load share
        exp = math.exp
        terms = {
            "pose": cfg.w_pose * exp(-cfg.k_pose * float(pose @ pose)),
            "vel": cfg.w_vel * exp(-cfg.k_vel * float(vel @ vel)),
            "root": cfg.w_root * exp(-cfg.k_root * root_sq),
            "root_height": cfg.w_root_height * exp(-cfg.k_root_height * root_pos_err[2] ** 2),
            "root_angle": cfg.w_root_angle * exp(-cfg.k_root_angle * info["root_angle"] ** 2),
            "ee": cfg.w_ee * exp(-cfg.k_ee * float(ee @ ee)),
            "contact": cfg.w_contact * self._contact_match(),
            "stance_foot": self._stance_foot_term(),
            "grf": self._grf_term(wrenches),
            "load_share": self._load_share_term(wrenches),
            "smooth": -cfg.w_smooth * float(step @ step) / len(step),
            **self._effort_terms(a),
        }
        info["reward_terms"] = terms  # each weighted term (MyoSuite's reward dict)
        return float(sum(terms.values())), info

    def _errors(self, dq: np.ndarray | None = None, root_pos_err: np.ndarray | None = None) -> dict:
        """Tracking error (deg, rotational coordinates), root position error (m), root
        orientation error (rad, the angle of the rotation between the two) and RMS pose error
        of the actuated coordinates (rad or m), now."""
        task = self.task
        if dq is None or root_pos_err is None:
            dq, root_pos_err = self._differences()
        rotational, actuated = dq[task.rotational], dq[task.actuated]
        return {
            "tracking_error_deg": math.degrees(
                math.sqrt(float(rotational @ rotational) / len(rotational))
            ),
            "root_error": math.sqrt(float(root_pos_err @ root_pos_err)),
            "pose_rms": math.sqrt(float(actuated @ actuated) / len(actuated)),
            "root_angle": self._root_angle(),
        }

    def _differences(self) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates minus the reference's (rad or m) and the root body's position minus the
        reference's (world, m), now; the reference shifted by the root follower's offset."""
        task, d, ref, t = self.task, self.data, self.ref, self.t
        dq = d.qpos[task.coord_qpos] - ref.qpos[t][task.coord_qpos]
        root_pos_err = d.xpos[task.root_body] - ref.root_pos[t]
        if self.follower is not None:
            dq -= self.follower.coordinate_offset
            root_pos_err -= self.follower.world_offset
        return dq, root_pos_err

    def _root_angle(self) -> float:
        """Angle (rad) of the rotation from the reference's root orientation to the body's."""
        if self.ref.root_quat is None:
            return 0.0
        cosine = abs(float(self.data.xquat[self.task.root_body] @ self.ref.root_quat[self.t]))
        return 2.0 * float(np.arccos(min(cosine, 1.0)))


def _touching(model: mujoco.MjModel, data: mujoco.MjData, foot_of_geom: np.ndarray) -> np.ndarray:
    """(n_feet,) bool: the foot has a contact with the floor now.

    ``foot_of_geom`` maps each geom to its foot's index, -1 for others and -2 for the floor.
    """
    n_feet = int(foot_of_geom.max()) + 1
    touching = np.zeros(max(n_feet, 0), dtype=bool)
    if data.ncon:
        feet = foot_of_geom[data.contact.geom]  # (ncon, 2)
        f1, f2 = feet[:, 0], feet[:, 1]
        touching[f2[(f1 == -2) & (f2 >= 0)]] = True
        touching[f1[(f2 == -2) & (f1 >= 0)]] = True
    return touching


def task_and_references(
    converted, trajectories: list[Trajectory], config: TrackingConfig, loads: list | None = None
) -> tuple[TaskModel, list[Reference]]:
    """The task model and one reference per trajectory (with its force plates, if any)."""
    config = fit_config_to_body(converted.mj_model, config)  # foot radii for this body
    task = build_task_model(converted, config)
    loads = loads or [None] * len(trajectories)
    feedforwards = _feedforwards(converted, trajectories, task, config)
    references = [
        make_reference(task, t, config, g, f)
        for t, g, f in zip(trajectories, loads, feedforwards, strict=True)
    ]
    return task, references


def _feedforwards(converted, trajectories: list[Trajectory], task: TaskModel, config) -> list:
    """Each trajectory's model-based moments when ``config.feedforward`` (else None each)."""
    if not config.feedforward:
        return [None] * len(trajectories)
    from policies.feedforward import contact_feedforward

    return [contact_feedforward(converted, t, task, config.seat) for t in trajectories]


class VectorEnv:
    """``num_envs`` copies of :class:`TrackingEnv` sharing one model, stepped in one process.

    Finished copies are reset at once; the observation they ended with is ``final_obs``.
    """

    def __init__(
        self,
        converted,
        trajectories: list[Trajectory],
        config: TrackingConfig | None = None,
        num_envs: int = 8,
        seed: int = 0,
        loads: list | None = None,
    ) -> None:
        self.config = config or TrackingConfig()
        self.task, self.references = task_and_references(
            converted, trajectories, self.config, loads
        )
        self.envs = [
            TrackingEnv(None, None, self.config, seed + i, self.task, self.references)
            for i in range(num_envs)
        ]
        self.num_envs = num_envs
        if self.config.scale_lengths is not None:
            floor = self.task.floor_height
            bodies = BodyRandomizer(converted, trajectories, self.config, loads, floor)
            bodies.nominal = self.references  # their feedforward, scaled for each subject
            for env in self.envs:
                env.bodies = bodies

    @property
    def obs_names(self) -> list[str]:
        return self.envs[0].obs_names

    @property
    def action_names(self) -> list[str]:
        return self.envs[0].action_names

    def reset(self) -> np.ndarray:
        """(num_envs, n_obs) observations after reference-state initialisation."""
        return np.stack([env.reset() for env in self.envs])

    def rng_states(self) -> list[dict]:
        """The random generator state of every copy (for checkpoints)."""
        return [env.rng.bit_generator.state for env in self.envs]

    def set_rng_states(self, states: list[dict]) -> None:
        for env, state in zip(self.envs, states, strict=False):
            env.rng.bit_generator.state = state

    def snapshots(self) -> list[dict]:
        """Every copy's :meth:`TrackingEnv.snapshot`."""
        return [env.snapshot() for env in self.envs]

    def restore(self, snapshots: list[dict]) -> None:
        for env, snapshot in zip(self.envs, snapshots, strict=True):
            env.restore(snapshot)

    def worker_cpu_seconds(self) -> float:
        """CPU time of worker processes: none, the copies step in this process."""
        return 0.0

    def close(self) -> None:
        """Nothing to release (the process version has workers)."""

    def rollout(self, policy: SamplingPolicy, raw_obs: np.ndarray, steps: int) -> Segment:
        """``steps`` steps of every copy from ``raw_obs``, actions drawn from ``policy``
        (:func:`policies.rollout.run_segment`; each copy's noise follows its seed)."""
        return run_segment(self, policy, raw_obs, steps, [env.seed for env in self.envs])

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Step every copy: (obs, reward, terminated, truncated, final_obs, tracking_error_deg)."""
        out = [env.step(a) for env, a in zip(self.envs, actions, strict=True)]
        obs = np.stack([o[0] for o in out])
        final_obs = obs.copy()
        for i, (_, _, term, trunc, _) in enumerate(out):
            if term or trunc:
                obs[i] = self.envs[i].reset()
        reward = np.array([o[1] for o in out], dtype=np.float32)
        terminated = np.array([o[2] for o in out])
        truncated = np.array([o[3] for o in out])
        error = np.array([o[4]["tracking_error_deg"] for o in out])
        return obs, reward, terminated, truncated, final_obs, error
