"""Poses of the converted model along a coordinates table, and how far each foot slips.

Foot slip is the horizontal speed, relative to the floor surface (a treadmill's belt moves), of
the foot's material point under its centre of pressure while the foot carries load: zero for a
foot that rolls without sliding, whatever its heel-to-toe roll does to the centre of pressure.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from converters.motion import coordinate_series
from converters.opensim_io.table import Table

__all__ = ["FootSlip", "table_qpos", "foot_slip", "osim_to_mujoco"]


def osim_to_mujoco(points: np.ndarray) -> np.ndarray:
    """(..., 3) points from OpenSim's ground frame (y up) to MuJoCo's world (z up): +90° about x."""
    points = np.asarray(points, dtype=float)
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


def table_qpos(converted, table: Table, source: str = "") -> np.ndarray:
    """(n, nq) exact MuJoCo positions of every row of a coordinates table."""
    series = coordinate_series(table, converted.osim, source)
    independent = converted.kinematics.independent_coordinates
    values = {c: v for c, v in series.values.items() if c in independent}
    return converted.kinematics.qpos(values, converted.mj_model.nq)


@dataclass(frozen=True)
class FootSlip:
    """Slip of one foot over a trial.

    Attributes:
        prefix: the foot's column prefix in the GRF file (``r_``).
        body: the body the foot's load is applied to.
        stances: loaded intervals found (vertical force above the contact threshold).
        worst_cm: largest slip distance over one stance (cm).
        mean_speed_cm_s: mean slip speed while loaded (cm/s).
        time: (n,) s and speed: (n,) cm/s, slip speed per GRF row (NaN while unloaded).
    """

    prefix: str
    body: str
    stances: int
    worst_cm: float
    mean_speed_cm_s: float
    time: np.ndarray
    speed: np.ndarray


def foot_slip(
    converted,
    kinematics: Table,
    grf: Table,
    feet: list[dict],
    belt_speed: float,
    threshold_n: float = 20.0,
) -> list[FootSlip]:
    """Slip of every foot (``feet``: the summary's ``{"name", "body"}`` entries, in GRF order).

    Velocities come from consecutive kinematics rows (``mj_differentiatePos``, so any joint type
    works); GRF rows lie half a control period after a kinematics row (their period's middle),
    and each is paired with the velocity over the period that ends at the next kinematics row.
    """
    m = converted.mj_model
    d = mujoco.MjData(m)
    qpos = table_qpos(converted, kinematics, "kinematics")
    time = kinematics.time
    mid = 0.5 * (time[1:] + time[:-1])
    out = []
    for k, foot in enumerate(feet):
        prefix = f"{foot['name']}_" if foot["name"] in ("r", "l") else f"{k + 1}_"
        force_y = np.interp(mid, grf.time, grf.column(f"{prefix}ground_force_vy"))
        cop = np.column_stack(
            [np.interp(mid, grf.time, grf.column(f"{prefix}ground_force_p{a}")) for a in "xyz"]
        )
        cop = osim_to_mujoco(cop)
        body = m.body(foot["body"]).id
        speed = np.full(len(mid), np.nan)
        jacp, qvel = np.zeros((3, m.nv)), np.zeros(m.nv)
        for i in np.flatnonzero(force_y > threshold_n):
            dt = time[i + 1] - time[i]
            mujoco.mj_differentiatePos(m, qvel, dt, qpos[i], qpos[i + 1])
            d.qpos[:] = 0.5 * (qpos[i] + qpos[i + 1]) if m.nq == m.nv else qpos[i]
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            mujoco.mj_jac(m, d, jacp, None, cop[i], body)
            velocity = jacp @ qvel
            velocity[0] -= belt_speed  # the floor surface moves along +x at belt_speed
            speed[i] = 100.0 * float(np.hypot(velocity[0], velocity[1]))
        out.append(_summarise(prefix, foot["body"], mid, speed))
    return out


def _summarise(prefix: str, body: str, time: np.ndarray, speed: np.ndarray) -> FootSlip:
    loaded = np.isfinite(speed)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loaded.astype(int), [0]])))
    dt = np.diff(time, append=time[-1] + (time[-1] - time[-2] if len(time) > 1 else 0.01))
    spans = zip(edges[::2], edges[1::2], strict=True)
    distances = [float(np.sum(speed[a:b] * dt[a:b])) for a, b in spans]
    return FootSlip(
        prefix=prefix,
        body=body,
        stances=len(distances),
        worst_cm=max(distances, default=0.0),
        mean_speed_cm_s=float(np.mean(speed[loaded])) if loaded.any() else 0.0,
        time=time,
        speed=speed,
    )
