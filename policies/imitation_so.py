"""Muscle activations without force plates: static optimization on the policy's own dynamics.

A torque-driven policy reproduces the trial in simulation (:func:`policies.imitation_id.
run_imitation_id`, which writes the ID, GRF, kinematics and summary files); the joint torques it
needed are then shared among the muscles by OpenSim's static optimization (rigid tendons,
force-length-velocity, sum of squared activations) along the simulated motion. The simulated feet
carried the body, so the root needs no residual: only the non-root coordinates are matched. No
force plate is used anywhere.

A muscle-driven policy drives the muscles itself; its simulated activations and muscle forces
(and its reserves, by name) are the answer and are written instead (:func:`muscle_policy_tables`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from converters.errors import KintwinError
from converters.files import check_writable
from converters.so_workflow import SOOutputs, write_so_result
from converters.static_optimization import SOResult, SOSettings

__all__ = ["run_imitation_so", "static_optimization_of_simulation", "policy_drive"]


def policy_drive(policy_dir: Path) -> str:
    """'torque' or 'muscle', from the policy's ``card.json`` (torque when it says nothing)."""
    card = Path(policy_dir) / "card.json"
    if not card.exists():
        return "torque"
    try:
        return str(json.loads(card.read_text()).get("drive", "torque"))
    except (OSError, ValueError) as error:
        raise KintwinError(f"{card}: not a readable policy card ({error})") from None


def root_coordinates(osim) -> list[str]:
    """Coordinates of the joints that attach bodies to the ground (the floating base)."""
    return [c for j in osim.joints if j.parent_body == osim.ground for c in j.coordinates]


def static_optimization_of_simulation(
    model: Path, kinematics_file: Path, id_file: Path, lowpass_hz: float | None = 6.0
) -> SOResult:
    """SO along a simulated motion, meeting its joint torques at the non-root coordinates."""
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import Trajectory, coordinate_series, smooth_derivatives
    from converters.opensim_io.table import read_table
    from converters.static_optimization import solve_so_problem

    converted = convert_osim(model, ConvertOptions(meshes=False, muscles=False), exact=True)
    kinematics = converted.kinematics
    m = converted.mj_model
    series = coordinate_series(read_table(kinematics_file), converted.osim, kinematics_file)
    independent = {
        c: v for c, v in series.values.items() if c in kinematics.independent_coordinates
    }
    q, qd, qdd = smooth_derivatives(series.time, independent, lowpass_hz)
    qvel, qacc = kinematics.derivatives(q, qd, qdd, m.nv)
    trajectory = Trajectory(series.time, kinematics.qpos(q, m.nq), qvel, qacc, q)
    torques = read_table(id_file)
    inside = (series.time >= torques.time[0] - 1e-9) & (series.time <= torques.time[-1] + 1e-9)
    frames = np.flatnonzero(inside)
    data = np.column_stack(
        [
            np.interp(series.time[frames], torques.time, torques.data[:, j])
            for j in range(len(torques.labels))
        ]
    )
    target = torques.with_data(data, time=series.time[frames])
    root = set(root_coordinates(converted.osim))
    constrained = [c for c in kinematics.independent_coordinates if c not in root]
    return solve_so_problem(
        model, converted, trajectory, frames, target, [], SOSettings(lowpass_hz=lowpass_hz),
        constrained,
    )  # fmt: skip


def muscle_policy_tables(env, rollout, rows, lowpass_hz: float | None):
    """The SO activation and force tables of a muscle-driven rollout's ``rows``: the muscles'
    simulated activations and tensions (N), then each reserve (control: its fraction of the
    limit; force N·m) and each coordinate no muscle crosses (``<coordinate>_torque``: fraction
    of the PD limit; N·m). Filtered at ``lowpass_hz`` over the whole run, as the ID file is."""
    from converters.static_optimization import so_tables
    from policies.imitation_id import lowpass
    from policies.runner import muscle_solution

    solution = muscle_solution(rollout)
    task, dt = env.task, rollout.control_dt
    drive = task.muscle
    torque_coords = [task.coordinates[task.actuated[i]] for i in drive.torque_driven]
    torque = rollout.torques[:, drive.torque_driven]
    forces = np.hstack([solution.forces, solution.reserve_torques, torque])
    controls = np.hstack(
        [
            solution.activations,
            solution.reserve_torques / drive.reserve_limit,
            torque / task.torque_limit,
        ]
    )
    forces = lowpass(forces, lowpass_hz, dt)[rows]
    controls = lowpass(controls, lowpass_hz, dt)[rows]
    n = len(solution.muscle_names)
    controls[:, :n] = np.clip(controls[:, :n], 0.0, 1.0)
    labels = [*solution.muscle_names, *solution.reserve_names]
    labels += [f"{c}_torque" for c in torque_coords]
    return so_tables(solution.time[rows], labels, controls, forces)


def _muscle_policy_activations(
    model, coordinates, policy_dir, outputs, so_outputs, lowpass_hz, time_range, force,
    on_rollout=None, restart_on_fall=False, fall_search=True,
) -> dict:  # fmt: skip
    """A muscle-driven policy's own activations and muscle forces (and its reserves), from
    the rollout that also writes the imitation ID files (passed on to ``on_rollout``)."""
    from policies.imitation_id import run_imitation_id

    tables = {}

    def keep(env, rollout, rows) -> None:
        tables["so"] = muscle_policy_tables(env, rollout, rows, lowpass_hz)
        if on_rollout is not None:
            on_rollout(env, rollout, rows)

    summary = run_imitation_id(
        model, coordinates, policy_dir, outputs, lowpass_hz, None, time_range, force,
        on_rollout=keep, restart_on_fall=restart_on_fall, fall_search=fall_search,
    )  # fmt: skip
    from converters.opensim_io.table import write_table

    try:
        activation, forces = tables["so"]
        write_table(activation, so_outputs.activation, force=force)
        write_table(forces, so_outputs.force, force=force)
    except BaseException:
        for path in [*outputs.all(), so_outputs.activation]:  # nothing partial
            path.unlink(missing_ok=True)
        raise
    summary["static_optimization"] = {
        "source": "the muscle-driven simulation's own activations (no optimisation)",
        "frames": int(activation.data.shape[0]),
    }
    return summary


def run_imitation_so(
    model: Path,
    coordinates: Path,
    policy_dir: Path,
    outputs,
    so_outputs: SOOutputs,
    lowpass_hz: float | None = 6.0,
    time_range: tuple[float, float] | None = None,
    force: bool = False,
    on_rollout=None,
    restart_on_fall: bool = False,
    fall_search: bool = True,
) -> dict:
    """Imitation ID of the trial (its four files), then the two SO files; returns the summary.
    ``on_rollout(env, rollout, rows)`` gets the simulation; ``restart_on_fall`` and
    ``fall_search`` handle a fall as for ``run_imitation_id``."""
    from converters.osim.parser import load_osim
    from policies.imitation_id import run_imitation_id

    for path in [*outputs.all(), so_outputs.activation, so_outputs.force]:
        check_writable(path, force)  # before any work
    if not load_osim(model).muscles:
        raise KintwinError(f"{model}: the model has no muscles; static optimization needs them")
    if policy_drive(policy_dir) == "muscle":
        return _muscle_policy_activations(
            model, coordinates, policy_dir, outputs, so_outputs, lowpass_hz, time_range, force,
            on_rollout, restart_on_fall, fall_search,
        )  # fmt: skip
    summary = run_imitation_id(
        model, coordinates, policy_dir, outputs, lowpass_hz, None, time_range, force,
        on_rollout=on_rollout, restart_on_fall=restart_on_fall, fall_search=fall_search,
    )  # fmt: skip
    try:
        result = static_optimization_of_simulation(
            model, outputs.kinematics_mot, outputs.id_sto, lowpass_hz
        )
        write_so_result(result, so_outputs, force)
    except BaseException:
        for path in outputs.all():  # nothing partial: the ID files go with the failed SO
            path.unlink(missing_ok=True)
        raise
    summary["static_optimization"] = {
        "frames": int(result.activation.n_rows),
        "max_constraint_violation": float(result.solution.violation.max()),
        "unmatched_coordinates": result.solution.unmatched,
    }
    return summary
