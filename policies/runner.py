"""Roll a policy over a whole reference trial, deterministically: torques, GRF and tracking error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from converters.errors import KintwinError
from policies.env import TrackingEnv
from policies.fall_search import Candidate, FallSearch, find_way_through
from policies.foot_loads import FootGroup, FootLoadRecorder
from policies.inference import MeanActor, ObservationNorm
from policies.parallel import fork_map

if TYPE_CHECKING:
    from policies.agent import Agent, RunningNorm

__all__ = [
    "Rollout", "MuscleSolution", "muscle_solution", "run_policy", "evaluate", "evaluate_runs",
    "evaluate_trial", "summarize_evaluation", "trial_span",
]  # fmt: skip


@dataclass
class Rollout:
    """What the simulation did along a trial (SI units, MuJoCo world frame: z up).

    Row k of the state arrays is the state after control step k; the force arrays are the means
    over that control period, so they belong half a period earlier (``force_time``).
    """

    time: np.ndarray  # (T,) s, trial time of each state row
    qpos: np.ndarray  # (T, nq) simulated positions of the converted model (belt excluded)
    coordinates: np.ndarray  # (T, n_coord) simulated independent coordinates, rad or m
    reference: np.ndarray  # (T, n_coord) reference coordinate values, rad or m
    # (T, n_act) mean actuator forces, N·m (or N); muscle drive: the mean generalized force
    # of muscles, reserves and PD actuators on each actuated coordinate
    torques: np.ndarray
    foot_force: np.ndarray  # (T, n_feet, 3) N, floor on foot
    foot_moment: np.ndarray  # (T, n_feet, 3) N·m, that force's moment about the world origin
    coordinate_names: list[str]
    rotational: list[bool]  # per coordinate: True for angles, False for translations
    action_names: list[str]
    feet: list[FootGroup] = field(default_factory=list)
    floor_height: float = 0.0  # m, world height of the floor surface
    control_dt: float = 0.01
    fell: bool = False
    restarts: list[float] = field(default_factory=list)  # s: falls restarted from the reference
    searches: list[dict] = field(default_factory=list)  # each fall searched (policies.fall_search)
    muscle_names: list[str] = field(default_factory=list)  # muscle drive, model order
    activations: np.ndarray | None = None  # (T, n_muscles) mean over each control period
    muscle_forces: np.ndarray | None = None  # (T, n_muscles) N, mean tension (fibre damping in)
    reserve_names: list[str] = field(default_factory=list)  # "<coordinate>_reserve"
    reserve_torques: np.ndarray | None = None  # (T, n_reserves) N·m, mean

    @property
    def force_time(self) -> np.ndarray:
        """(T,) s, the middle of each control period."""
        return self.time - 0.5 * self.control_dt

    def rows_within(self, span: tuple[float, float]) -> np.ndarray:
        """(T,) bool: the rows of a trial spanning ``span`` (s): the states after its first
        frame to its last, whose periods lie inside it (as a rollout from its first frame)."""
        return (self.time > span[0] + 1e-9) & (self.time <= span[1] + 1e-9)

    def take(self, rows: np.ndarray) -> Rollout:
        """The rollout restricted to ``rows`` (a bool mask or indices)."""
        per_row = (
            "time",
            "qpos",
            "coordinates",
            "reference",
            "torques",
            "foot_force",
            "foot_moment",
            "activations",
            "muscle_forces",
            "reserve_torques",
        )
        return replace(
            self,
            **{n: getattr(self, n)[rows] for n in per_row if getattr(self, n) is not None},
        )

    def rmse(self) -> dict[str, float]:
        """Per-coordinate tracking RMSE: degrees for rotational, centimetres for translational."""
        err = np.sqrt(np.mean((self.coordinates - self.reference) ** 2, axis=0))
        scale = np.where(self.rotational, np.degrees(1.0), 100.0)
        return dict(zip(self.coordinate_names, (err * scale).tolist(), strict=True))


@dataclass
class MuscleSolution:
    """What the muscles of a muscle-driven rollout did, per control period (``time``: the
    middle of each period, s): activations, tensions (N) in model muscle order, reserves (N·m)."""

    time: np.ndarray
    muscle_names: list[str]
    activations: np.ndarray
    forces: np.ndarray
    reserve_names: list[str]
    reserve_torques: np.ndarray


def muscle_solution(rollout: Rollout) -> MuscleSolution:
    """The muscles' activations and forces and the reserves of a muscle-drive rollout."""
    if rollout.activations is None:
        raise KintwinError("the policy does not drive the model by its muscles (--drive muscle)")
    return MuscleSolution(
        rollout.force_time, list(rollout.muscle_names), rollout.activations,
        rollout.muscle_forces, list(rollout.reserve_names), rollout.reserve_torques,
    )  # fmt: skip


def run_policy(
    env: TrackingEnv,
    agent: Agent | MeanActor,
    norm: RunningNorm | ObservationNorm,
    reference: int = 0,
    start: int = 0,
    loads: bool = True,
    restart_on_fall: bool = False,
    search: FallSearch | None = None,
) -> Rollout:
    """Track reference ``reference`` from row ``start`` to its end (periodic padding included)
    with the mean action (of a torch ``Agent``, or a numpy ``MeanActor`` that needs no torch).

    Stops early if the model falls (the env's termination rule); ``fell`` says so. With a
    ``search`` it first looks for a way through each fall among the policy's own stochastic
    actions (:mod:`policies.fall_search`; ``searches`` reports each). With
    ``restart_on_fall`` a fall it cannot avoid starts the run again from the reference at the
    frame it fell at (as a run starts); ``restarts`` holds those times. Without ``loads`` the
    foot arrays are empty (faster, for evaluation during training).
    """
    obs = _warm_start(env, agent, norm, env.reset(reference=reference, frame=start))
    task = env.task
    recorder = FootLoadRecorder(task.foot_of_geom, len(task.foot_geoms))
    keys = ("qpos", "q", "ref", "tau", "wrench", "act", "tension", "reserve")
    rows: dict[str, list] = {k: [] for k in keys}
    fell, restarts, searches = False, [], []
    snapshots: dict[int, dict] = {}  # row -> the state before its step (for the search)
    spent = 0  # control steps the searches ran

    def mean_action(observation: np.ndarray) -> np.ndarray:
        return _mean_action(agent, norm, observation)

    def advance(action: np.ndarray) -> tuple[np.ndarray, bool, bool]:
        if search is not None:
            snapshots[len(rows["q"])] = env.snapshot()
        env.contact_recorder = recorder if loads else None
        try:
            out, _, terminated, truncated, _ = env.step(action, reward=False)
        finally:
            env.contact_recorder = None
        _record(env, rows, recorder.take(), loads)
        return out, terminated, truncated

    while True:
        obs, terminated, truncated = advance(mean_action(obs))
        while terminated and search is not None and spent < search.max_steps:
            fall_row = len(rows["q"]) - 1
            way, ran = find_way_through(
                env, mean_action, snapshots, fall_row, search, search.max_steps - spent
            )
            spent += ran
            searches.append(_search_report(env, start, fall_row, way, ran))
            if way is None:
                break
            # replay it exactly, recording it; a way that only fell later is searched on from
            # its own fall
            env.restore(snapshots[way.start])
            for values in rows.values():
                del values[way.start :]
            obs = env.observation()
            for extra in way.noise:
                obs, terminated, truncated = advance(mean_action(obs) + extra)
                if terminated or truncated:
                    break
        if terminated and restart_on_fall and env.t < len(env.ref.qpos) - 2:
            restarts.append(float(env.ref.time0 + env.t * env.config.control_dt))
            snapshots.clear()  # a later search must not reach back across the restart
            obs = _warm_start(env, agent, norm, env.reset(reference=reference, frame=env.t))
            continue
        if terminated or truncated:
            fell = bool(terminated)
            break
    n, dt = len(rows["q"]), env.config.control_dt
    n_feet = len(task.feet) if loads else 0
    wrenches = np.array(rows["wrench"]).reshape(n, n_feet, 6)
    return Rollout(
        time=env.ref.time0 + (start + 1 + np.arange(n)) * dt,
        qpos=np.array(rows["qpos"]),
        coordinates=np.array(rows["q"]),
        reference=np.array(rows["ref"]),
        torques=np.array(rows["tau"]),
        foot_force=wrenches[:, :, :3],
        foot_moment=wrenches[:, :, 3:],
        coordinate_names=list(task.coordinates),
        rotational=[
            task.model.jnt_type[task.model.joint(c).id] == mujoco.mjtJoint.mjJNT_HINGE
            for c in task.coordinates
        ],
        action_names=env.action_names,
        feet=list(task.feet) if loads else [],
        floor_height=task.floor_height,
        control_dt=dt,
        fell=fell or bool(restarts),
        restarts=restarts,
        searches=searches,
        **_muscle_fields(env, rows),
    )


def _record(env: TrackingEnv, rows: dict, wrench: np.ndarray, loads: bool) -> None:
    """Append the control period just stepped to ``rows``."""
    task = env.task
    rows["qpos"].append(env.data.qpos[: task.nq].copy())
    rows["q"].append(env.data.qpos[task.coord_qpos].copy())
    rows["ref"].append(env.ref.qpos[env.t][task.coord_qpos])
    if env.muscles is None:
        rows["tau"].append(env.mean_force.copy())
    else:
        _muscle_rows(env, rows)
    rows["wrench"].append(wrench if loads else wrench[:0])


def _search_report(
    env: TrackingEnv, start: int, fall_row: int, found: Candidate | None, ran: int
) -> dict:
    """One search's entry in ``Rollout.searches``: the trial times (s) of the fall, of the
    state the way taken starts from and of where it ends (None: no way past the fall), whether
    it got through (else it only fell later) and the control steps the search ran.
    Row r of a run from frame ``start`` is the state after frame ``start + 1 + r``."""
    dt, time0 = env.config.control_dt, env.ref.time0 + start * env.config.control_dt
    return {
        "fall_s": round(float(time0 + (fall_row + 1) * dt), 6),
        "way_from_s": None if found is None else round(float(time0 + found.start * dt), 6),
        "way_to_s": None if found is None else round(float(time0 + (found.reached + 1) * dt), 6),
        "through": found is not None and found.through,
        "control_steps": ran,
    }


def _muscle_rows(env: TrackingEnv, rows: dict) -> None:
    """Append one control period of the muscle drive to ``rows``."""
    task, drive = env.task, env.task.muscle
    rows["tau"].append(env.muscles.coordinate_forces(env)[task.actuated])
    rows["act"].append(env.muscles.mean_activation.copy())
    rows["tension"].append(env.muscles.mean_tension.copy())
    rows["reserve"].append(env.mean_force[drive.reserves] * drive.reserve_limit)


def _muscle_fields(env: TrackingEnv, rows: dict) -> dict:
    """The Rollout fields of the muscle drive (none for the torque drive)."""
    drive = env.task.muscle
    if drive is None:
        return {}
    n = len(rows["act"])
    return {
        "muscle_names": list(drive.names),
        "activations": np.array(rows["act"]).reshape(n, len(drive.muscles)),
        "muscle_forces": np.array(rows["tension"]).reshape(n, len(drive.muscles)),
        "reserve_names": drive.reserve_names,
        "reserve_torques": np.array(rows["reserve"]).reshape(n, len(drive.reserves)),
    }


def _mean_action(
    agent: Agent | MeanActor, norm: RunningNorm | ObservationNorm, obs: np.ndarray
) -> np.ndarray:
    """The policy's deterministic (mean) action for one observation."""
    if isinstance(agent, MeanActor):
        return agent(norm(obs[None]))[0]
    import torch

    with torch.no_grad():
        return agent.actor_mean(torch.from_numpy(norm(obs[None])))[0].numpy()


def _warm_start(
    env: TrackingEnv,
    agent: Agent | MeanActor,
    norm: RunningNorm | ObservationNorm,
    obs: np.ndarray,
) -> np.ndarray:
    """Start the action filter at the policy's own action for the first state (a fixed point of
    a few iterations), as if it had been tracking already, instead of at zero."""
    for _ in range(5):
        env.prev_action[:] = np.clip(_mean_action(agent, norm, obs), -1.0, 1.0)
        obs = env.observation()
    return obs


def trial_span(env: TrackingEnv, reference: int = 0) -> tuple[float, float]:
    """Trial time (s) of the first and last frame of reference ``reference`` (padding excluded)."""
    ref, dt = env.references[reference], env.config.control_dt
    rows = ref.trial
    return ref.time0 + rows.start * dt, ref.time0 + (rows.stop - 1) * dt


def evaluate(
    env: TrackingEnv,
    agent: Agent,
    norm: RunningNorm,
    references: Sequence[int] | None = None,
    start_s: float = 0.0,
) -> dict:
    """Deterministic tracking metrics over the trials of ``references`` (default: every
    reference), each tracked from the start of its padding (the trial's first frame when it
    has none), or with ``start_s`` > 0 from that long after the trial's first frame (to its
    end, as ``kintwin id --time-range`` starts; a trial that ends before it is an error)."""
    return evaluate_runs([(env, start_s)], agent, norm, references)[0]


def evaluate_runs(
    runs: Sequence[tuple[TrackingEnv, float]],
    agent: Agent,
    norm: RunningNorm,
    references: Sequence[int] | None = None,
    processes: int = 1,
) -> list[dict]:
    """:func:`evaluate` of each (env, start_s) of ``runs``, their trials shared out over
    ``processes`` processes (:func:`~policies.parallel.fork_map`); the same numbers as one."""
    trials = range(len(runs[0][0].references)) if references is None else references
    done = fork_map(
        lambda job: evaluate_trial(job[0][0], agent, norm, job[1], job[0][1]),
        [(run, i) for run in runs for i in trials],
        processes,
    )
    n = len(trials)
    return [
        summarize_evaluation(done[k * n : (k + 1) * n], muscles=env.muscles is not None)
        for k, (env, _) in enumerate(runs)
    ]


def evaluate_trial(
    env: TrackingEnv, agent: Agent, norm: RunningNorm, reference: int, start_s: float = 0.0
) -> dict:
    """One trial of :func:`evaluate`: its RMS error (deg), whether it fell, the fraction of its
    control steps tracked and its reserve torques (muscle drive; else None)."""
    ref = env.references[reference]
    skip = int(round(start_s / env.config.control_dt))
    if skip and skip >= ref.trial_steps:
        length = ref.trial_steps * env.config.control_dt
        raise KintwinError(
            f"evaluation from {start_s:g} s: motion {reference} lasts {length:.2f} s"
        )
    start = ref.trial.start + skip if skip else 0
    roll = run_policy(env, agent, norm, reference=reference, start=start, loads=False)
    roll = roll.take(roll.rows_within(trial_span(env, reference)))
    rot = env.task.rotational
    err = roll.coordinates[:, rot] - roll.reference[:, rot]
    steps = ref.trial_steps - skip
    return {
        # a fall in the padding before the trial leaves no rows: count it as the worst error
        "error_deg": float(np.degrees(np.sqrt(np.mean(err**2)))) if len(err) else 180.0,
        "fell": len(roll.time) < steps,
        "covered": len(roll.time) / max(1, steps),
        "reserves": roll.reserve_torques,
    }


def summarize_evaluation(trials: list[dict], muscles: bool) -> dict:
    """:func:`evaluate`'s metrics from its trials' :func:`evaluate_trial` results: mean error
    and tracked fraction, falls counted, reserves' RMS and peak (muscle drive)."""
    result = {
        "eval_tracking_error_deg": float(np.mean([t["error_deg"] for t in trials])),
        "eval_falls": sum(int(t["fell"]) for t in trials),
        "eval_fraction_tracked": float(np.mean([t["covered"] for t in trials])),
    }
    if muscles:  # reserves are reported, never hidden
        reserves = [t["reserves"] for t in trials if t["reserves"] is not None]
        used = np.concatenate(reserves) if reserves else np.zeros((0, 1))
        result["eval_reserve_rms_Nm"] = float(np.sqrt(np.mean(used**2))) if used.size else 0.0
        result["eval_reserve_peak_Nm"] = float(np.abs(used).max()) if used.size else 0.0
    return result
