"""The muscle drive: the model's own MuJoCo muscles move the body, with small reported reserves.

``TrackingConfig.drive == "muscle"`` keeps the converter's muscle actuators (activation
dynamics, force-length-velocity curves fitted to OpenSim's muscles) and adds, per actuated
coordinate that muscles cross, one reserve motor limited to ``reserve_per_kg`` N·m per kg of
body mass and penalised in the reward. Coordinates that no muscle crosses (Gait10dof18musc's
lumbar) keep the torque slice's PD actuator; the card names them. The root stays unactuated.

Two action spaces (``muscle_action``):

* ``"joint"``: the policy gives PD targets exactly as the torque slice does (so a torque policy
  is a warm start as it is). Every ``muscle_map_steps`` physics steps the PD torque wanted on
  each muscle-driven coordinate is turned into activations by a bounded least-squares static
  optimisation on the simulated state (moment arms, force-length-velocity gains and passive
  forces from MuJoCo's muscle curves): min |R·(g∘a + b) − τ|² + λ|a|², 0 ≤ a ≤ 1. The
  excitation sent to MuJoCo's activation dynamics is the one that reaches those activations by
  the next update; the reserves carry what the muscles cannot (within their limit).
* ``"excitation"``: the policy gives the excitations (and reserve controls) directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

__all__ = [
    "MuscleDrive",
    "muscle_actuators",
    "muscle_crossed",
    "build_muscle_drive",
    "CouplingJacobian",
    "solve_activations",
    "excitation_for",
]


def muscle_actuators(model: mujoco.MjModel) -> np.ndarray:
    """Actuator ids of the model's muscles (MuJoCo muscle dynamics), in model order."""
    return np.flatnonzero(model.actuator_dyntype == mujoco.mjtDyn.mjDYN_MUSCLE)


class CouplingJacobian:
    """d qvel / d (independent coordinate speeds) from the model's joint equalities.

    Dependent joints (knee translations, moving muscle path points) follow their independent
    coordinate through MuJoCo's quartic joint equality y − y0 = Σ a_k (x − x0)^k; a joint
    fixed by an equality (no second joint) does not move. Chains resolve through the parent.
    """

    def __init__(self, model: mujoco.MjModel, coordinates: list[str]) -> None:
        self.nv = model.nv
        self.dofadr = model.jnt_dofadr.copy()
        self.columns = {model.joint(c).id: k for k, c in enumerate(coordinates)}
        self.coord_dof = np.array([model.jnt_dofadr[model.joint(c).id] for c in coordinates])
        self.coord_qpos = np.array([model.jnt_qposadr[model.joint(c).id] for c in coordinates])
        links = []  # (dependent joint, independent joint, its qpos, its qpos0, polynomial)
        for i in range(model.neq):
            if model.eq_type[i] != mujoco.mjtEq.mjEQ_JOINT:
                continue
            dep = int(model.eq_obj1id[i])
            ind = int(model.eq_obj2id[i])
            if ind < 0:  # fixed: its row stays zero
                continue
            adr = int(model.jnt_qposadr[ind])
            links.append((dep, ind, adr, float(model.qpos0[adr]), model.eq_data[i][:5].copy()))
        self.links = links
        self._prepare()

    def __call__(self, qpos: np.ndarray) -> np.ndarray:
        """(nv, n_coord) at ``qpos``."""
        jac = self._base.copy()
        if self._direct[0].size:
            dof, column, adr, x0, poly = self._direct
            x = qpos[adr] - x0
            jac[dof, column] = poly[:, 1] + x * (
                2 * poly[:, 2] + x * (3 * poly[:, 3] + x * 4 * poly[:, 4])
            )
        for dep, ind, adr, x0, poly in self._chained:  # dependents of dependents, in order
            x = qpos[adr] - x0
            slope = poly[1] + 2 * poly[2] * x + 3 * poly[3] * x**2 + 4 * poly[4] * x**3
            jac[self.dofadr[dep]] = slope * jac[self.dofadr[ind]]
        return jac

    def _prepare(self) -> None:
        """Split the links into those on an independent coordinate (vectorised) and chains."""
        self._base = np.zeros((self.nv, len(self.columns)))
        self._base[self.coord_dof, np.arange(len(self.columns))] = 1.0
        direct = [link for link in self.links if link[1] in self.columns]
        rest = [link for link in self.links if link[1] not in self.columns]
        ordered, known = [], {link[0] for link in direct}
        while rest:
            ready = [link for link in rest if link[1] in known]
            if not ready:  # on a joint that is neither a coordinate nor dependent: fixed
                break
            ordered += ready
            known |= {link[0] for link in ready}
            rest = [link for link in rest if link not in ready]
        self._chained = ordered
        self._direct = (
            np.array([self.dofadr[d] for d, *_ in direct], dtype=int),
            np.array([self.columns[i] for _, i, *_ in direct], dtype=int),
            np.array([a for _, _, a, _, _ in direct], dtype=int),
            np.array([x0 for *_, x0, _ in direct]),
            np.array([p for *_, p in direct]).reshape(len(direct), 5),
        )


def muscle_crossed(converted, coordinates: list[str]) -> list[str]:
    """The ``coordinates`` that at least one muscle of ``converted`` spans (a moment arm at
    the default pose or at either end of the coordinate's range)."""
    m = converted.mj_model
    muscles = muscle_actuators(m)
    if not len(muscles):
        return []
    d = mujoco.MjData(m)
    jac = CouplingJacobian(m, coordinates)
    crossed = np.zeros(len(coordinates), dtype=bool)
    for fraction in (None, 0.1, 0.9):
        d.qpos[:] = m.qpos0
        for c in coordinates:
            j = m.joint(c)
            if fraction is not None and m.jnt_limited[j.id]:
                lo, hi = m.jnt_range[j.id]
                d.qpos[j.qposadr[0]] = lo + fraction * (hi - lo)
        _complete_dependents(m, d)
        mujoco.mj_forward(m, d)
        arms = moment_arms(m, d, muscles, jac(d.qpos))
        crossed |= np.any(np.abs(arms) > 1e-5, axis=1)
    return [c for c, x in zip(coordinates, crossed, strict=True) if x]


def _complete_dependents(m: mujoco.MjModel, d: mujoco.MjData) -> None:
    """Set dependent joints from their equalities (one pass per chain level)."""
    for _ in range(3):
        for i in range(m.neq):
            if m.eq_type[i] != mujoco.mjtEq.mjEQ_JOINT or m.eq_obj2id[i] < 0:
                continue
            dep, ind = m.joint(int(m.eq_obj1id[i])), m.joint(int(m.eq_obj2id[i]))
            x = d.qpos[ind.qposadr[0]] - m.qpos0[ind.qposadr[0]]
            poly = m.eq_data[i][:5]
            y = sum(poly[k] * x**k for k in range(5))
            d.qpos[dep.qposadr[0]] = m.qpos0[dep.qposadr[0]] + y


def moment_arms(
    model: mujoco.MjModel, data: mujoco.MjData, muscles: np.ndarray, jac: np.ndarray
) -> np.ndarray:
    """(n_coord, n_muscles) generalized force on each independent coordinate per newton of
    muscle tension (m, OpenSim's sign: positive tension = MuJoCo actuator force −1)."""
    dense = np.zeros((model.nu, model.nv))
    mujoco.mju_sparse2dense(
        dense, data.actuator_moment, data.moment_rownnz, data.moment_rowadr, data.moment_colind
    )
    return -(jac.T @ dense[muscles].T)


@dataclass
class MuscleDrive:
    """Index sets and limits of the muscle drive of one task model."""

    muscles: np.ndarray  # actuator ids, model order
    names: list[str]
    act_adr: np.ndarray  # index into data.act of each muscle's activation
    mapped: np.ndarray  # indices into task.actuated of muscle-driven coordinates
    torque_driven: np.ndarray  # indices into task.actuated of coordinates no muscle crosses
    reserves: np.ndarray  # actuator ids of the reserve motors (one per mapped coordinate)
    pd: np.ndarray  # actuator ids of the PD actuators of the torque-driven coordinates
    reserve_limit: float  # N·m
    tau_act: np.ndarray  # s, activation time constants
    tau_deact: np.ndarray  # s
    jacobian: CouplingJacobian
    coord_index: np.ndarray  # task coordinate index of each mapped coordinate
    gain_prm: np.ndarray  # (n_muscles, 9)
    bias_prm: np.ndarray  # (n_muscles, 9)
    lengthrange: np.ndarray  # (n_muscles, 2)
    acc0: np.ndarray
    damping: np.ndarray  # N·s/m, actuator (fibre) damping
    mapped_names: list[str]  # the muscle-driven coordinates

    @property
    def reserve_names(self) -> list[str]:
        return [f"{c}_reserve" for c in self.mapped_names]


def build_muscle_drive(model: mujoco.MjModel, coordinates: list[str], actuated: list[str],
                       crossed: list[str], reserve_limit: float) -> MuscleDrive:  # fmt: skip
    """The muscle drive of a compiled task model whose reserves are named
    ``<coordinate>_reserve`` and PD actuators named as their coordinate."""
    muscles = muscle_actuators(model)
    mapped = [i for i, c in enumerate(actuated) if c in crossed]
    torque = [i for i, c in enumerate(actuated) if c not in crossed]
    mapped_names = [actuated[i] for i in mapped]
    drive = MuscleDrive(
        muscles=muscles,
        names=[model.actuator(int(a)).name for a in muscles],
        act_adr=np.array([model.actuator_actadr[a] for a in muscles], dtype=int),
        mapped=np.array(mapped, dtype=int),
        torque_driven=np.array(torque, dtype=int),
        reserves=np.array([model.actuator(f"{c}_reserve").id for c in mapped_names], dtype=int),
        pd=np.array([model.actuator(actuated[i]).id for i in torque], dtype=int),
        reserve_limit=reserve_limit,
        tau_act=model.actuator_dynprm[muscles, 0].copy(),
        tau_deact=model.actuator_dynprm[muscles, 1].copy(),
        jacobian=CouplingJacobian(model, coordinates),
        coord_index=np.array([coordinates.index(c) for c in mapped_names], dtype=int),
        gain_prm=model.actuator_gainprm[muscles, :9].copy(),
        bias_prm=model.actuator_biasprm[muscles, :9].copy(),
        lengthrange=model.actuator_lengthrange[muscles].copy(),
        acc0=model.actuator_acc0[muscles].copy(),
        damping=model.actuator_damping[muscles].copy(),
        mapped_names=mapped_names,
    )
    return drive


def muscle_curves(drive: MuscleDrive, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
    """(gain, bias) per muscle in newtons of tension: tension = gain·activation + bias, from
    MuJoCo's muscle curves (``mju_muscleGain``, ``mju_muscleBias``, vectorised) at the current
    actuator lengths and velocities; the bias includes the actuators' damping (which MuJoCo
    applies as a passive force)."""
    length = data.actuator_length[drive.muscles]
    velocity = data.actuator_velocity[drive.muscles]
    passive = _muscle_bias(drive, length) + drive.damping * velocity  # + fibre damping
    return _muscle_gain(drive, length, velocity), passive


def _optimal_lengths(prm: np.ndarray, lengthrange: np.ndarray) -> np.ndarray:
    tiny = mujoco.mjMINVAL
    return (lengthrange[:, 1] - lengthrange[:, 0]) / np.maximum(tiny, prm[:, 1] - prm[:, 0])


def _peak_force(prm: np.ndarray, acc0: np.ndarray) -> np.ndarray:
    return np.where(prm[:, 2] < 0, prm[:, 3] / np.maximum(mujoco.mjMINVAL, acc0), prm[:, 2])


def _muscle_gain(drive: MuscleDrive, length: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """Active force per unit activation, N (MuJoCo's ``mju_muscleGain`` with its sign flipped)."""
    prm, tiny = drive.gain_prm, mujoco.mjMINVAL
    width = _optimal_lengths(prm, drive.lengthrange)
    x = prm[:, 0] + (length - drive.lengthrange[:, 0]) / np.maximum(tiny, width)
    v = velocity / np.maximum(tiny, width * prm[:, 6])
    lmin, lmax, fvmax = prm[:, 4], prm[:, 5], prm[:, 8]
    a, b = 0.5 * (lmin + 1.0), 0.5 * (1.0 + lmax)
    rising = 0.5 * ((x - lmin) / np.maximum(tiny, a - lmin)) ** 2
    top_left = 1.0 - 0.5 * ((1.0 - x) / np.maximum(tiny, 1.0 - a)) ** 2
    top_right = 1.0 - 0.5 * ((x - 1.0) / np.maximum(tiny, b - 1.0)) ** 2
    falling = 0.5 * ((lmax - x) / np.maximum(tiny, lmax - b)) ** 2
    fl = np.where(
        x <= a, rising, np.where(x <= 1.0, top_left, np.where(x <= b, top_right, falling))
    )
    fl = np.where((x < lmin) | (x > lmax), 0.0, fl)
    y = fvmax - 1.0
    eccentric = fvmax - (y - v) ** 2 / np.maximum(tiny, y)
    fv = np.where(v <= 0.0, (v + 1.0) ** 2, np.where(v <= y, eccentric, fvmax))
    fv = np.where(v <= -1.0, 0.0, fv)
    return _peak_force(prm, drive.acc0) * fl * fv


def _muscle_bias(drive: MuscleDrive, length: np.ndarray) -> np.ndarray:
    """Passive force, N (MuJoCo's ``mju_muscleBias`` with its sign flipped)."""
    prm, tiny = drive.bias_prm, mujoco.mjMINVAL
    width = _optimal_lengths(prm, drive.lengthrange)
    x = prm[:, 0] + (length - drive.lengthrange[:, 0]) / np.maximum(tiny, width)
    b = 0.5 * (1.0 + prm[:, 5])
    scale = np.maximum(tiny, b - 1.0)
    passive = np.where(
        x <= 1.0, 0.0, np.where(x <= b, 0.5 * ((x - 1.0) / scale) ** 2, 0.5 + (x - b) / scale)
    )
    return _peak_force(prm, drive.acc0) * prm[:, 7] * passive


def solve_activations(
    arms: np.ndarray,
    gain: np.ndarray,
    bias: np.ndarray,
    torque: np.ndarray,
    start: np.ndarray,
    weight: float = 1e-3,
    iterations: int = 30,
    fixed: np.ndarray | None = None,
    lower: np.ndarray | float = 0.0,
    upper: np.ndarray | float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Activations in [lower, upper] (default [0, 1]) minimising |arms·(gain∘a + bias) − torque|² + weight·s²|a|²
    (s: the largest moment one activation gives), by an active-set method from ``start``
    (Newton steps on the free activations, cut short at the first bound they reach).
    Returns the activations and the set held at a bound, to pass as ``fixed`` (with the
    activations as ``start``) to the next, similar problem. ``arms``
    (n_coord, n_muscles) m; ``gain``, ``bias`` N; ``torque`` N·m."""
    a_mat = arms * gain
    scale = float(np.max(np.abs(a_mat))) or 1.0
    a_mat = a_mat / scale
    target = (torque - arms @ bias) / scale
    hessian = a_mat.T @ a_mat + weight * np.eye(len(gain))
    linear = a_mat.T @ target
    lower = np.broadcast_to(np.asarray(lower, dtype=float), gain.shape)
    upper = np.broadcast_to(np.asarray(upper, dtype=float), gain.shape)
    x = np.minimum(np.maximum(start, lower), upper)
    if fixed is None:
        gradient = hessian @ x - linear
        fixed = ((x <= lower) & (gradient >= 0.0)) | ((x >= upper) & (gradient <= 0.0))
    else:
        fixed = fixed & ((x <= lower) | (x >= upper))
    for _ in range(iterations):
        free = ~fixed
        if free.any():
            rows = hessian[free]
            rhs = linear[free] - rows[:, fixed] @ x[fixed]
            step = np.linalg.solve(rows[:, free], rhs) - x[free]
            with np.errstate(divide="ignore", invalid="ignore"):
                room = np.where(
                    step > 0,
                    (upper[free] - x[free]) / step,
                    np.where(step < 0, (lower[free] - x[free]) / step, np.inf),
                )
            blocking = int(np.argmin(room))
            if room[blocking] < 1.0:  # cut the step at the first bound; that one is fixed
                x[free] = np.minimum(
                    np.maximum(x[free] + room[blocking] * step, lower[free]), upper[free]
                )
                index = np.flatnonzero(free)[blocking]
                x[index] = upper[index] if step[blocking] > 0 else lower[index]
                fixed[index] = True
                continue
            x[free] += step
        # the free activations are optimal: release the fixed one whose gradient pulls inwards
        gradient = hessian @ x - linear
        pull = np.where(fixed, np.where(x <= lower, -gradient, gradient), 0.0)
        worst = int(np.argmax(pull))
        if pull[worst] <= 1e-12:
            break
        fixed[worst] = False
    return x, fixed


def reachable(activation: np.ndarray, horizon: float, drive: MuscleDrive):
    """(lowest, highest) activations MuJoCo's activation dynamics can reach from
    ``activation`` in ``horizon`` seconds (excitation 0 or 1 throughout), to the same
    approximation as :func:`excitation_for`."""
    low_scale = 0.5 + 0.75 * activation  # midway to 0
    high_scale = 0.5 + 0.75 * (activation + 1.0)  # midway to 1
    lowest = activation * np.exp(-horizon * low_scale / drive.tau_deact)
    highest = 1.0 - (1.0 - activation) * np.exp(-horizon / (drive.tau_act * high_scale))
    return lowest, highest


def excitation_for(
    activation: np.ndarray, target: np.ndarray, horizon: float, drive: MuscleDrive
) -> np.ndarray:
    """Excitation that brings MuJoCo's first-order muscle activation from ``activation`` to
    ``target`` in ``horizon`` seconds (clipped to [0, 1]): rising with the activation time
    constant τ_act·(0.5 + 1.5a), falling with τ_deact/(0.5 + 1.5a), taken at the activation
    midway between the two (exact for the exponential approach, close for MuJoCo's)."""
    rising = target > activation
    scale = 0.5 + 1.5 * 0.5 * (activation + target)  # the time constant midway
    tau = np.where(rising, drive.tau_act * scale, drive.tau_deact / scale)
    decay = np.exp(-horizon / tau)
    return np.clip((target - activation * decay) / (1.0 - decay), 0.0, 1.0)


class MuscleController:
    """Per-environment state of the muscle drive: turns actions into excitations, reserve and
    PD controls, and accumulates the period's means the runner and the reward read."""

    def __init__(self, task) -> None:
        self.task = task
        self.drive: MuscleDrive = task.muscle
        n = len(self.drive.muscles)
        self.solution = np.zeros(n)  # last activations solved for (joint action)
        self.at_bound = None  # which of them the solver held at a bound
        self.targets = np.zeros(len(task.actuated))
        self.mean_activation = np.zeros(n)
        self.mean_tension = np.zeros(n)  # N: active, passive and fibre damping forces
        self.mean_qfrc = np.zeros(task.model.nv)  # actuators' generalized forces, period mean

    def reset(self, env) -> None:
        """Start the muscles at the activations that hold the reference at zero action."""
        d, drive = env.data, self.drive
        self.solution, self.at_bound = np.zeros(len(drive.muscles)), None
        if env.config.muscle_action == "joint":
            self.targets = env._pd_centre(env.t)
            wanted = self._wanted_torque(env)
            self.solution = self._solve(env, wanted, 40)
            d.act[drive.act_adr] = self.solution
            d.ctrl[drive.muscles] = self.solution
            self._set_reserves(env, wanted)
        d.ctrl[drive.pd] = env._pd_centre(env.t)[drive.torque_driven]

    def state(self) -> dict:
        """What the next activation solve starts from (for a snapshot)."""
        at_bound = None if self.at_bound is None else self.at_bound.copy()
        return {"solution": self.solution.copy(), "at_bound": at_bound}

    def set_state(self, state: dict) -> None:
        self.solution = np.array(state["solution"], dtype=float)
        self.at_bound = None if state["at_bound"] is None else np.array(state["at_bound"])

    def control(self, env, action: np.ndarray, substep: int) -> None:
        """Set the controls before physics step ``substep`` of the period."""
        d, drive, cfg = env.data, self.drive, env.config
        if substep == 0:
            self.mean_activation[:] = 0.0
            self.mean_tension[:] = 0.0
            self.mean_qfrc[:] = 0.0
        if cfg.muscle_action == "excitation":
            if substep == 0:
                n, r = len(drive.muscles), len(drive.reserves)
                d.ctrl[drive.muscles] = 0.5 * (action[:n] + 1.0)
                d.ctrl[drive.reserves] = action[n : n + r]
                centre = env._pd_centre(env.t + 1)[drive.torque_driven]
                d.ctrl[drive.pd] = centre + cfg.action_scale * action[n + r :]
            return
        every = cfg.muscle_map_steps or env.task.frame_skip
        if substep == 0:
            self.targets = env._pd_centre(env.t + 1) + cfg.action_scale * action[: env.n_act]
            d.ctrl[drive.pd] = self.targets[drive.torque_driven]
        if substep % every:
            return
        wanted = self._wanted_torque(env)
        horizon = every * env.task.model.opt.timestep
        self.solution = self._solve(env, wanted, 30, horizon)
        d.ctrl[drive.muscles] = excitation_for(d.act[drive.act_adr], self.solution, horizon, drive)
        self._set_reserves(env, wanted)

    def accumulate(self, env) -> None:
        """Fold the state after a physics step into the period's means."""
        share = 1.0 / env.task.frame_skip
        self.mean_activation += share * env.data.act[self.drive.act_adr]
        d, m, muscles = env.data, env.task.model, self.drive.muscles
        damping = self.drive.damping * d.actuator_velocity[muscles]
        self.mean_tension += share * (damping - d.actuator_force[muscles])
        # MuJoCo applies the muscles' fibre damping as a passive force: qfrc_damper less the
        # joints' own damping (the converter gives tendons none)
        fibre = d.qfrc_damper + m.dof_damping * d.qvel
        self.mean_qfrc += share * (d.qfrc_actuator + fibre)

    def _wanted_torque(self, env) -> np.ndarray:
        """PD torque towards the targets on the muscle-driven coordinates, N·m."""
        d, task, drive, cfg = env.data, env.task, self.drive, env.config
        index = task.actuated[drive.mapped]
        q, qd = d.qpos[task.coord_qpos[index]], d.qvel[task.coord_dof[index]]
        kp = cfg.kp_per_kg * task.total_mass
        return kp * (self.targets[drive.mapped] - q) - cfg.kv_ratio * kp * qd

    def _solve(self, env, wanted: np.ndarray, iterations: int, horizon=None) -> np.ndarray:
        """Activations for the ``wanted`` torques; with a ``horizon`` (s), only those the
        activation dynamics can reach by then."""
        drive, d, cfg = self.drive, env.data, env.config
        self._arms = moment_arms(env.task.model, d, drive.muscles, drive.jacobian(d.qpos))
        self._arms = self._arms[drive.coord_index]
        self._gain, self._bias = muscle_curves(drive, d)
        lower, upper = 0.0, 1.0
        if horizon is not None and cfg.muscle_reachable:
            lower, upper = reachable(d.act[drive.act_adr], horizon, drive)
        solution, self.at_bound = solve_activations(
            self._arms, self._gain, self._bias, wanted, self.solution, cfg.muscle_effort,
            iterations, self.at_bound, lower, upper,
        )  # fmt: skip
        return solution

    def _set_reserves(self, env, wanted: np.ndarray) -> None:
        """Reserves carry what the solved activations leave of the wanted torque (clipped)."""
        drive = self.drive
        given = self._arms @ (self._gain * self.solution + self._bias)
        env.data.ctrl[drive.reserves] = np.clip((wanted - given) / drive.reserve_limit, -1, 1)

    def penalties(self, env) -> dict[str, float]:
        """Reward terms: activation effort and reserve use (negative)."""
        cfg, drive = env.config, self.drive
        reserve = env.mean_force[drive.reserves]  # motor force = control: fraction of limit
        return {
            "activation": -cfg.w_activation * float(np.mean(self.mean_activation**2)),
            "reserve": -cfg.w_reserve * float(np.mean(reserve**2)) if len(reserve) else 0.0,
        }

    def coordinate_forces(self, env) -> np.ndarray:
        """(n_coord,) the period's mean generalized force of all actuators (muscles with their
        fibre damping, reserves, PD) on each independent coordinate, N·m or N, through the
        couplings."""
        return self.drive.jacobian(env.data.qpos).T @ self.mean_qfrc


def warm_start(checkpoint: dict, obs_names: list[str], action_names: list[str]) -> dict:
    """``checkpoint`` (e.g. a torque policy of the same model) as the starting weights of a
    policy with ``obs_names`` and ``action_names`` (for ``train(init=...)``).

    Inputs and outputs are matched by name: a joint-action muscle policy has the torque
    policy's actions (PD targets), so it starts as the torque policy with the torques turned
    into activations by the drive's static optimisation; new inputs (activations) start with
    zero weights and a unit normaliser, new outputs at zero.
    """
    from converters.errors import KintwinError

    old_obs, old_act = list(checkpoint["obs_names"]), list(checkpoint["action_names"])
    missing = [n for n in old_obs if n not in obs_names]
    if missing or not set(old_act) & set(action_names):
        raise KintwinError(
            "warm start: the policy's observations or actions do not match this task "
            f"({len(missing)} observations missing)"
        )
    obs_map = [(obs_names.index(n), k) for k, n in enumerate(old_obs)]
    act_map = [(action_names.index(n), k) for k, n in enumerate(old_act) if n in action_names]
    state = {}
    for key, value in checkpoint["agent"].items():
        value = value.clone()
        if key in ("actor_mean.0.weight", "critic.0.weight"):
            new = value.new_zeros((value.shape[0], len(obs_names)))
            for i, k in obs_map:
                new[:, i] = value[:, k]
            value = new
        elif key in ("actor_mean.4.weight", "actor_mean.4.bias", "actor_logstd"):
            axis = 1 if key == "actor_logstd" else 0
            shape = list(value.shape)
            shape[axis] = len(action_names)
            new = value.new_zeros(shape)
            if key == "actor_logstd":
                new[:] = value.mean()
            for i, k in act_map:
                new.select(axis, i).copy_(value.select(axis, k))
            value = new
        state[key] = value
    norm = checkpoint["obs_norm"]
    mean, var = np.zeros(len(obs_names)), np.ones(len(obs_names))
    for i, k in obs_map:
        mean[i], var[i] = norm["mean"][k], norm["var"][k]
    return {"agent": state, "obs_norm": {"mean": mean.tolist(), "var": var.tolist(),
                                         "count": norm["count"]}}  # fmt: skip


def simulation_model(converted):
    """``converted`` without the joints that joint equalities hold fixed (muscle path points
    whose frame is constant in this model): those bodies are welded where the equality holds
    them, so the motion is the same and each physics step is several times cheaper (the
    Gait10dof18musc walk: 50 -> 26 degrees of freedom). Returns ``converted`` unchanged when
    there are none."""
    import copy
    from dataclasses import replace

    m0 = converted.mj_model
    fixed = set()
    for i in range(m0.neq):
        if (
            m0.eq_type[i] == mujoco.mjtEq.mjEQ_JOINT
            and m0.eq_obj2id[i] < 0
            and not np.any(m0.eq_data[i][:5])
        ):
            fixed.add(m0.joint(int(m0.eq_obj1id[i])).name)
    if not fixed:
        return converted
    spec = converted.conversion.spec.copy()
    for equality in list(spec.equalities):
        if equality.type == mujoco.mjtEq.mjEQ_JOINT and equality.name1 in fixed:
            if not equality.name2:
                spec.delete(equality)
    for name in fixed:
        spec.delete(spec.joint(name))
    model = spec.compile()
    slots = []
    for slot in converted.kinematics.slots:
        if slot.name in fixed:
            continue
        joint = model.joint(slot.name)
        slots.append(replace(slot, qpos=int(joint.qposadr[0]), dof=int(joint.dofadr[0])))
    kinematics = copy.copy(converted.kinematics)
    kinematics.slots = slots
    conversion = replace(converted.conversion, spec=spec, kinematics=kinematics)
    return replace(converted, conversion=conversion, mj_model=model, map=dict(converted.map))


def convert_for_drive(path, drive: str):
    """The converted model a ``drive`` simulates: without muscles for the torque drive; with
    the fitted muscle actuators and without fixed path-point joints for the muscle drive."""
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim

    if drive == "muscle":
        return simulation_model(convert_osim(path, ConvertOptions(meshes=False)))
    return convert_osim(path, ConvertOptions(meshes=False, muscles=False))
