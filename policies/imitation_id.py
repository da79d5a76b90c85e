"""Imitation inverse dynamics: a trained policy tracks a trial; what the body did is the answer.

``run_imitation_id`` converts the model, checks that the policy was trained for it, optionally
fine-tunes the policy on the trial, rolls it out deterministically (a periodic trial from the
start of its padding, see ``policies.reference``, else from its first frame) and writes four
files beside each other, each covering the trial's own time span:

* ``<trial>_id.sto`` — generalized forces in OpenSim's ID layout (the actuated coordinates' mean
  actuator torque over each control period; root columns hold the residual forces used, zero
  when the policy has none);
* ``<trial>_grf.mot`` + ``<trial>_grf.xml`` — simulated ground reaction force, centre of
  pressure and free torque per foot in OpenSim's ground frame, with the ExternalLoads to apply
  them (the lab frame on a treadmill: the belt moves, the floor does not);
* ``<trial>_kinematics.mot`` — the simulated motion (all coordinates, degrees);
* ``<trial>_summary.json`` — tracking RMSE per coordinate, fall, residuals, settings, timings;
  the trial, model and policy by name and SHA-256 (not by where this machine keeps them).

Forces are low-pass filtered (zero-lag 2nd-order Butterworth, run forwards and backwards) at
``lowpass_hz``, by default the 6 Hz OpenSim's ID setups apply to coordinates.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from converters.errors import KintwinError
from converters.files import atomic_output, check_writable, file_sha256
from converters.kinematics_check import implausible_summary
from converters.signal_filters import lowpass

__all__ = [
    "ImitationOutputs", "output_paths", "run_imitation_id", "distrusted_spans",
]  # fmt: skip

DISTRUST_BEFORE_S = 0.5  # s before a restart: the fall began before the termination rule
DISTRUST_AFTER_S = 0.3  # s after a restart: settling, as a run's own start (cycle padding)


@dataclass(frozen=True)
class ImitationOutputs:
    """The files one imitation-ID run writes."""

    id_sto: Path
    grf_mot: Path
    grf_xml: Path
    kinematics_mot: Path
    summary_json: Path

    def all(self) -> list[Path]:
        return [self.id_sto, self.grf_mot, self.grf_xml, self.kinematics_mot, self.summary_json]

    @property
    def adapted_policy(self) -> Path:
        """Where ``--adapt-minutes`` puts the fine-tuned policy."""
        return self.summary_json.with_name(
            self.summary_json.name.replace("_summary.json", "_adapted_policy")
        )


def output_paths(outdir: Path, trial: str, id_file: Path | None = None) -> ImitationOutputs:
    """``<trial>_id.sto`` etc. in ``outdir``; ``id_file`` replaces the ID file's path."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise KintwinError(f"{outdir}: imitation ID writes several files; give a directory")
    return ImitationOutputs(
        id_sto=Path(id_file) if id_file is not None else outdir / f"{trial}_id.sto",
        grf_mot=outdir / f"{trial}_grf.mot",
        grf_xml=outdir / f"{trial}_grf.xml",
        kinematics_mot=outdir / f"{trial}_kinematics.mot",
        summary_json=outdir / f"{trial}_summary.json",
    )


def run_imitation_id(
    model: Path,
    coordinates: Path,
    policy_dir: Path,
    outputs: ImitationOutputs,
    lowpass_hz: float | None = 6.0,
    adapt_minutes: float | None = None,
    time_range: tuple[float, float] | None = None,
    force: bool = False,
    progress=None,
    on_rollout=None,
    fit_root: bool = True,
    restart_on_fall: bool = False,
    fall_search: bool = True,
    root_follow: str = "auto",
) -> dict:
    """Track the trial with the policy and write ``outputs``; returns the summary.
    ``on_rollout(env, rollout, rows)`` gets the whole run and its trial rows (e.g. for the
    muscles' activations). ``fit_root`` fits the trial's root path to the model's body and
    floor where they disagree (:mod:`policies.root_fit`). ``restart_on_fall`` starts the
    simulation again from the kinematics where it falls, so the files cover the whole trial;
    the summary's ``distrusted_spans_s`` names the spans around each fall. ``fall_search``
    first looks for a way through each fall among the policy's own stochastic actions
    (:mod:`policies.fall_search`); the summary's ``fall_search`` reports each search.
    ``root_follow`` (auto, on, off) lets the body walk its own horizontal path where the trial's
    stance feet slide (:mod:`policies.root_follow`); the summary's ``root_follow`` says so."""
    from converters.model_family import model_family
    from policies.body_randomization import body_vs_training, fit_config_to_body
    from policies.env import TrackingConfig, TrackingEnv
    from policies.fall_search import FallSearch
    from policies.inference import (
        action_std,
        actor_from_checkpoint,
        check_trained_for,
        checkpoint_path,
        read_checkpoint,
    )
    from policies.muscle import convert_for_drive
    from policies.reference import estimate_belt_speed
    from policies.root_fit import apply_root_fit, fit_root_path
    from policies.root_follow import RootFollower, should_follow
    from policies.runner import run_policy, trial_span
    from policies.task import build_task_model

    started = time.perf_counter()
    for path in outputs.all() + ([outputs.adapted_policy] if adapt_minutes else []):
        check_writable(path, force)  # before any work
    checkpoint = read_checkpoint(policy_dir)  # its drive says how to convert the model
    drive = checkpoint.get("tracking_config", {}).get("drive", "torque")
    converted = convert_for_drive(model, drive)  # a muscle policy drives the model's muscles
    family = model_family(converted.osim)
    sha = converted.map["source_sha256"]
    check_trained_for(checkpoint, checkpoint_path(policy_dir), sha, str(model), family)
    config = TrackingConfig.from_saved(checkpoint["tracking_config"])
    # the trial's own belt, whatever the training trials stood on (set below; --adapt-minutes
    # trains with it detected too)
    config = replace(config, belt_speed=None)
    trajectory, held, implausible, toes = _trajectory(converted, coordinates, config, time_range)
    body_config = fit_config_to_body(converted.mj_model, config)  # feet of this body's size
    floor_shift = None
    if config.floor_align:  # on the floor, as the policy's training motions were
        from policies.reference import align_floors

        ([trajectory], [floor_shift]) = align_floors(converted, [trajectory], body_config)
    task = build_task_model(converted, body_config)
    # the belt from the whole file (a short --time-range may not show it)
    whole = (
        trajectory if time_range is None else _trajectory(converted, coordinates, config, None)[0]
    )
    body_config = replace(body_config, belt_speed=estimate_belt_speed(task, whole))
    root_fit = fit_root_path(task, trajectory, body_config.belt_speed) if fit_root else None
    if root_fit is not None:
        trajectory = apply_root_fit(task, trajectory, root_fit)
    adapted = None
    if adapt_minutes:
        checkpoint, adapted = _adapt(
            converted, trajectory, coordinates, outputs, policy_dir, config, adapt_minutes, progress
        )
    env = TrackingEnv(converted, trajectory, body_config, task=task)
    follow = should_follow(root_follow, None if root_fit is None else root_fit.fitted_slip_m_per_s)
    if follow:
        env.follower = RootFollower.for_task(task)
    if checkpoint["obs_names"] != env.obs_names:
        raise KintwinError(f"{policy_dir}: the policy's observations do not match this model")
    actor, norm = actor_from_checkpoint(checkpoint)  # numpy: no torch import for inference
    search = FallSearch(action_std(checkpoint)) if fall_search else None
    rollout = run_policy(env, actor, norm, restart_on_fall=restart_on_fall, search=search)
    rows = rollout.rows_within(trial_span(env))
    trial = rollout.take(rows)
    summary = _summary(converted, env, trial, model, coordinates, policy_dir, lowpass_hz, held)
    # beside the summary: named relative to it, as the other outputs are
    summary["adapted_policy"] = None if adapted is None else adapted.name
    summary["root_fit"] = None if root_fit is None else root_fit.as_json()
    summary["root_follow"] = {
        "mode": root_follow,
        "on": follow,
        "time_constant_s": env.follower.time_constant_s if follow else None,
    }
    summary["body_vs_training"] = body_vs_training(task.model, task.total_mass, config)
    summary["floor_shift_m"] = floor_shift  # policies trained with floor_align only
    summary["toes_completed_deg"] = toes  # policies trained with complete_toes only
    summary["fall_search"] = None if search is None else rollout.searches
    summary["implausible_kinematics"] = implausible_summary(
        implausible, float(trajectory.time[0]), float(trajectory.time[-1])
    )
    seated = getattr(env.ref, "seat", None) is not None  # a seat's load is not recorded
    summary["vertical_grf_vs_motion"] = (
        None
        if seated
        else _vertical_grf_vs_motion(converted, trajectory, trial, env.task.total_mass, lowpass_hz)
    )
    _write_outputs(converted, env, rollout, rows, outputs, lowpass_hz, force)
    if on_rollout is not None:
        on_rollout(env, rollout, rows)
    summary["wall_time_s"] = time.perf_counter() - started
    with atomic_output(outputs.summary_json, force) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _trajectory(converted, coordinates: Path, config, time_range):
    """The trial as a MuJoCo trajectory (filtered like the training references), the model's
    independent coordinates the file lacks (held at their default values), the spans where
    the file's coordinates move implausibly fast (:mod:`converters.kinematics_check`) and the
    toes bent where the file holds them still (``config.complete_toes``, :mod:`policies.toes`:
    coordinate -> largest bend, degrees, found over the whole file)."""
    from converters.kinematics_check import implausible_spans
    from converters.motion import coordinate_series, frames_in_range, make_trajectory
    from converters.opensim_io.table import read_table
    from policies.toes import complete_toes

    table = read_table(coordinates)
    m = converted.mj_model
    given = coordinate_series(table, converted.osim, coordinates)
    held = [c for c in given.missing if c in converted.kinematics.independent_coordinates]
    series, toes = complete_toes(given, converted) if config.complete_toes else (given, {})
    if time_range is not None:
        keep = frames_in_range(table.time, time_range, coordinates, minimum=3)
        given, series = (
            replace(s, time=s.time[keep], values={c: v[keep] for c, v in s.values.items()})
            for s in (given, series)
        )
    trajectory = make_trajectory(series, converted.kinematics, m.nq, m.nv, config.lowpass_hz)
    return trajectory, held, implausible_spans(given, converted.osim), toes


def _adapt(converted, trajectory, coordinates, outputs, policy_dir, config, minutes, progress):
    """Fine-tune the policy on this trial for ``minutes``; returns its policy.pt and dir."""
    import shutil

    from converters.model_family import model_family
    from policies.checkpoint import load_checkpoint
    from policies.inference import read_checkpoint
    from policies.ppo import PPOConfig
    from policies.train import train

    sha, name = converted.map["source_sha256"], str(converted.osim.path)
    checkpoint = load_checkpoint(policy_dir, sha, name, model_family(converted.osim))  # tensors
    directory = outputs.adapted_policy  # checked writable before any work
    if directory.exists():
        shutil.rmtree(directory)
    cfg = PPOConfig(**{**checkpoint["ppo_config"], "learning_rate": 1e-4})
    train(
        converted, [trajectory], [str(coordinates)], directory, config, cfg,
        max_seconds=minutes * 60.0, on_iteration=progress, init=checkpoint,
        workers=os.cpu_count() or 1,
    )  # fmt: skip
    return read_checkpoint(directory, sha, name), directory


def _summary(converted, env, rollout, model, coordinates, policy_dir, lowpass_hz, held) -> dict:
    """The summary of ``rollout``, the trial's rows of the run; ``held``: coordinates the
    trial's file lacks (at their default values, left out of ``tracking_rms_deg``)."""
    from policies.inference import checkpoint_path, policy_name

    task = env.task
    rmse = rollout.rmse()
    names, rot_flags = rollout.coordinate_names, rollout.rotational
    rotational = [c for c, rot in zip(names, rot_flags, strict=True) if rot]
    non_root_rot = [task.coordinates[i] for i in task.rotational if task.coordinates[i] not in held]
    weight = task.body_weight
    residual = _residuals(env, rollout)
    residual_rms = float(np.sqrt(np.mean(residual**2))) if residual.size else 0.0
    trial_steps = env.ref.trial_steps
    spans = distrusted_spans(rollout)
    distrusted = np.zeros(len(rollout.time), dtype=bool)
    for a, b in spans:
        distrusted |= (rollout.time >= a) & (rollout.time <= b)
    return {
        "trial": Path(coordinates).name,
        "trial_sha256": file_sha256(coordinates),
        "model": Path(model).name,
        "model_sha256": converted.map["source_sha256"],
        "policy": policy_name(policy_dir),
        "policy_sha256": file_sha256(checkpoint_path(policy_dir)),
        "time_span_s": [float(rollout.time[0]), float(rollout.time[-1])],
        "control_dt_s": rollout.control_dt,
        "belt_speed_m_per_s": env.ref.belt_speed,
        "treadmill": env.ref.belt_speed != 0.0,
        # a fall counts where it touches the trial (not in the padding after it, say)
        "fell": bool(spans) or len(rollout.time) < trial_steps,
        "fraction_tracked": int((~distrusted).sum()) / max(1, trial_steps),
        "restarts_s": list(rollout.restarts),
        "distrusted_spans_s": spans,
        "padding_s": env.ref.first * rollout.control_dt,
        "tracking_rmse": {c: rmse[c] for c in rollout.coordinate_names},
        "tracking_units": {c: ("deg" if c in rotational else "cm") for c in rmse},
        "tracking_rms_deg": float(np.sqrt(np.mean([rmse[c] ** 2 for c in non_root_rot]))),
        "coordinates_held_at_default": held,
        "residuals": {
            "used": bool(env.config.residual_root),
            "rms_N_or_Nm": residual_rms,
            "rms_percent_bw": 100.0 * residual_rms / weight,
        },
        **_muscle_summary(env, rollout),
        "body_mass_kg": task.total_mass,
        "lowpass_hz": lowpass_hz,
        # the policy corrects the contact solve's moments of the trial (policies.feedforward)
        "feedforward": "contact solve" if env.config.feedforward else None,
        "feet": [{"name": f.name, "body": f.applied_to_body} for f in rollout.feet],
    }


def _vertical_grf_vs_motion(converted, trajectory, rollout, mass, lowpass_hz) -> dict | None:
    """The simulated feet's vertical force against what the trial's kinematics need, mass x
    (COM acceleration + g) with the COM's height filtered at 6 Hz: a check without plates (on
    OpenCap subject 4, plates and that need agree within about 5 %BW where the plates cover
    the feet). RMSE over the trial's simulated frames, % body weight; None if too short (and,
    from the caller, for a trial on a seat, whose load the run does not record)."""
    from converters.contact_solve import GRAVITY, vertical_force_needed

    time = trajectory.time
    if len(time) < 16 or len(rollout.time) < 2:
        return None
    needed = vertical_force_needed(converted.mj_model, trajectory, 6.0)
    simulated = lowpass(rollout.foot_force[:, :, 2].sum(axis=1), lowpass_hz, rollout.control_dt)
    inside = (time >= rollout.force_time[0]) & (time <= rollout.force_time[-1])
    error = np.interp(time[inside], rollout.force_time, simulated) - needed[inside]
    return {
        "rmse_percent_bw": float(100.0 * np.sqrt(np.mean(error**2)) / (mass * GRAVITY)),
        "frames": int(inside.sum()),
    }


def distrusted_spans(rollout) -> list[list[float]]:
    """[start, end] (s) around each restart after a fall, within the rollout's time: from
    :data:`DISTRUST_BEFORE_S` before it (the fall began before the rule caught it) to
    :data:`DISTRUST_AFTER_S` after (the body settles again); overlapping spans merged."""
    if not len(rollout.time):
        return []
    first, last = float(rollout.time[0]), float(rollout.time[-1])
    spans: list[list[float]] = []
    for t in rollout.restarts:
        a, b = max(first, t - DISTRUST_BEFORE_S), min(last, t + DISTRUST_AFTER_S)
        if a > b:
            continue
        if spans and a <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    return spans


def _muscle_summary(env, rollout) -> dict:
    """Muscle drive: what drove each coordinate, and the reserves (never hidden): per reserve
    its RMS and peak (N·m) and its RMS as a share of the coordinate's peak net moment."""
    if rollout.reserve_torques is None:
        return {"drive": "torque"}
    task = env.task
    reserves = {}
    for k, name in enumerate(rollout.reserve_names):
        torque = rollout.reserve_torques[:, k]
        column = list(task.actuated).index(task.coordinates.index(name[: -len("_reserve")]))
        peak_moment = float(np.abs(rollout.torques[:, column]).max()) if len(torque) else 0.0
        rms = float(np.sqrt(np.mean(torque**2))) if len(torque) else 0.0
        reserves[name] = {
            "rms_Nm": rms,
            "peak_Nm": float(np.abs(torque).max()) if len(torque) else 0.0,
            "rms_percent_of_peak_moment": 100.0 * rms / peak_moment if peak_moment else 0.0,
        }
    drive = task.muscle
    return {
        "drive": "muscle",
        "muscles": list(rollout.muscle_names),
        "torque_driven_coordinates": [
            task.coordinates[task.actuated[i]] for i in drive.torque_driven
        ],
        "reserve_limit_Nm": drive.reserve_limit,
        "reserves": reserves,
    }


def _residuals(env, rollout) -> np.ndarray:
    """(T, n_root) generalized forces of the residual actuators (empty without them)."""
    if not env.config.residual_root:
        return np.zeros((len(rollout.time), 0))
    n_act = len(env.task.actuated)
    gear = env.task.model.actuator_gear[n_act:, 0]
    return rollout.torques[:, n_act:] * gear


def _id_table(converted, env, rollout, lowpass_hz, rows=slice(None)):
    """OpenSim ID table of ``rows`` of the run (filtered over all of it): actuated coordinates
    from the actuators, root ones from residuals."""
    from converters.inverse_dynamics import ID_TABLE_NAME, id_labels
    from converters.opensim_io.table import Table

    task = env.task
    coords = task.coordinates
    values = np.zeros((len(rollout.time), len(coords)))
    n_act = len(task.actuated)
    values[:, task.actuated] = rollout.torques[:, :n_act]
    if env.config.residual_root:
        values[:, task.root] = _residuals(env, rollout)
    labels = id_labels(converted)
    order = [coords.index(c) for c in converted.kinematics.independent_coordinates]
    values = lowpass(values[:, order], lowpass_hz, rollout.control_dt)[rows]
    return Table(
        time=rollout.force_time[rows],
        labels=labels,
        data=values,
        name=ID_TABLE_NAME,
        in_degrees=False,
        dialect="storage",
    )


def _feet(rollout, lowpass_hz, rows=slice(None)) -> list:
    """Each foot's loads in ``rows`` of the run: the mean contact wrench filtered (over all of
    it), then its centre of pressure and free torque (filtering the force alone would leave it
    acting at a stale or zero point)."""
    from converters.opensim_io.ground_reactions import FootLoads
    from policies.foot_loads import MIN_VERTICAL_FORCE, centre_of_pressure

    names = {"r": "right", "l": "left"}
    feet = []
    for k, group in enumerate(rollout.feet):
        prefix = f"{group.name}_" if group.name in names else f"{k + 1}_"
        force = lowpass(rollout.foot_force[:, k], lowpass_hz, rollout.control_dt)[rows]
        moment = lowpass(rollout.foot_moment[:, k], lowpass_hz, rollout.control_dt)[rows]
        points, torques = np.zeros_like(force), np.zeros(len(force))
        for i in range(len(force)):
            points[i], torques[i] = centre_of_pressure(force[i], moment[i], rollout.floor_height)
        # No force where the foot is off the floor: the filter's spread would otherwise load
        # the foot before heel strike and after toe off (and ring in swing).
        touching = _bridge_gaps(rollout.foot_force[:, k, 2] > 0.0, lowpass_hz, rollout.control_dt)
        touching = touching[rows]
        airborne = ~touching | (force[:, 2] < MIN_VERTICAL_FORCE)
        force[airborne], points[airborne], torques[airborne] = 0.0, 0.0, 0.0
        feet.append(
            FootLoads(
                prefix,
                names.get(group.name, group.name),
                group.applied_to_body,
                force,
                points,
                torques,
            )  # fmt: skip
        )
    return feet


def _bridge_gaps(touching: np.ndarray, lowpass_hz: float | None, dt: float) -> np.ndarray:
    """``touching`` (per control period) with gaps inside a contact that are no longer than the
    filter's time constant 1/(2π·cut-off) filled: a bounce that short is below what the filtered
    forces resolve, so the filtered force is kept there (none bridged without a filter)."""
    if not lowpass_hz:
        return touching
    longest = int(1.0 / (2.0 * np.pi * lowpass_hz) / dt + 1e-9)
    filled = touching.copy()
    contact = np.flatnonzero(touching)
    for before, after in zip(contact[:-1], contact[1:], strict=True):
        if 1 < after - before <= longest + 1:
            filled[before + 1 : after] = True
    return filled


def _write_outputs(converted, env, rollout, rows, outputs: ImitationOutputs, lowpass_hz, force):
    """Write the ID, GRF (+ XML) and kinematics files of ``rows`` of the run (each atomically)."""
    from converters.motion import coordinates_from_qpos, coordinates_table
    from converters.opensim_io.ground_reactions import grf_table, write_external_loads
    from converters.opensim_io.table import write_table

    feet = _feet(rollout, lowpass_hz, rows)
    joints = [""] * rollout.qpos.shape[1]
    for slot in converted.kinematics.slots:
        joints[slot.qpos] = slot.name
    values = coordinates_from_qpos(rollout.qpos[rows], joints, converted.kinematics)
    kinematics = coordinates_table(rollout.time[rows], values, converted.osim, in_degrees=True)
    tables = [
        (_id_table(converted, env, rollout, lowpass_hz, rows), outputs.id_sto),
        (grf_table(rollout.force_time[rows], feet), outputs.grf_mot),
        (kinematics, outputs.kinematics_mot),
    ]
    for table, path in tables:
        write_table(table, path, force=force)
    write_external_loads(outputs.grf_xml, outputs.grf_mot.name, feet, force)
