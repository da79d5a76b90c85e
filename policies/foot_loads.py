"""Ground reaction loads per foot from MuJoCo contacts: force, centre of pressure, free torque.

Contacts between the floor (the belt body) and the model are grouped by leg: the branch of the
tree that starts at a child of the root body (``femur_r`` → everything below it). Each group's
wrench is accumulated over physics steps (about the world origin, which makes it additive) and
turned into OpenSim's ExternalForce convention at the end: force, a point on the floor plane
(the centre of pressure) and the free torque about it, which is vertical.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from converters.opensim_io.ground_reactions import MIN_VERTICAL_FORCE, centre_of_pressure

__all__ = [
    "FootGroup",
    "foot_groups",
    "branch_roots",
    "FootLoadRecorder",
    "floor_wrenches",
    "centre_of_pressure",
    "MIN_VERTICAL_FORCE",
]


@dataclass(frozen=True)
class FootGroup:
    """The contact bodies of one leg and the body its loads are applied to in OpenSim."""

    name: str  # 'r', 'l' or the branch's body name
    bodies: frozenset[int]  # MuJoCo body ids whose contacts count for this foot
    applied_to_body: str  # the body carrying the most contact geoms (heel segment on ties)


def branch_roots(model: mujoco.MjModel, root_body: int) -> dict[int, int]:
    """For every body below ``root_body``: the child of ``root_body`` its branch starts at."""
    branch = {}
    for b in range(1, model.nbody):
        chain = [b]
        while chain[-1] not in (0, root_body):
            chain.append(int(model.body_parentid[chain[-1]]))
        if chain[-1] == root_body and len(chain) >= 2:
            branch[b] = chain[-2]
    return branch


def foot_groups(model: mujoco.MjModel, root_body: int, floor_body: int) -> list[FootGroup]:
    """One group per leg that has contact geoms able to touch the floor body's geoms."""
    branch = branch_roots(model, root_body)
    counts: dict[int, dict[int, int]] = {}
    for g in range(model.ngeom):
        body = int(model.geom_bodyid[g])
        if body == floor_body or body not in branch or not model.geom_contype[g]:
            continue
        counts.setdefault(branch[body], {}).setdefault(body, 0)
        counts[branch[body]][body] += 1
    groups = []
    for start, bodies in counts.items():
        # most geoms first; on ties the body nearer the root (the heel before the toes)
        carrier = min(bodies, key=lambda b: (-bodies[b], _depth(model, b)))
        name = model.body(start).name
        side = name[-2:] if name[-2:] in ("_r", "_l") else ""
        groups.append(FootGroup(side[1:] or name, frozenset(bodies), model.body(carrier).name))
    return sorted(groups, key=lambda g: ({"r": 0, "l": 1}.get(g.name, 2), g.name))


def _depth(model: mujoco.MjModel, body: int) -> int:
    depth = 0
    while body:
        body, depth = int(model.body_parentid[body]), depth + 1
    return depth


def floor_wrenches(
    model: mujoco.MjModel, data: mujoco.MjData, foot_of_geom: np.ndarray, n_feet: int
) -> np.ndarray:
    """(n_feet, 6) the floor's force on each foot now and its moment about the world origin.

    ``foot_of_geom`` maps each geom to its foot's index, -1 for others and -2 for the floor.
    Contacts are added in MuJoCo's order (the arithmetic of a loop over them, vectorised).
    """
    wrenches = np.zeros((n_feet, 6))
    if not data.ncon:
        return wrenches
    contact = data.contact
    f1, f2 = foot_of_geom[contact.geom1], foot_of_geom[contact.geom2]
    on_geom2 = (f1 == -2) & (f2 >= 0)  # the contact force acts on geom2, from geom1
    rows = np.flatnonzero(on_geom2 | ((f2 == -2) & (f1 >= 0)))
    if not rows.size:
        return wrenches
    local = np.empty((rows.size, 6))
    for k, i in enumerate(rows.tolist()):
        mujoco.mj_contactForce(model, data, i, local[k])
    axes = contact.frame[rows].reshape(-1, 3, 3)  # rows: the contact frame's axes in world
    sign = np.where(on_geom2[rows], 1.0, -1.0)[:, None]
    force = sign * (
        axes[:, 0] * local[:, 0:1] + axes[:, 1] * local[:, 1:2] + axes[:, 2] * local[:, 2:3]
    )
    p = contact.pos[rows]
    moment = np.empty_like(force)
    moment[:, 0] = p[:, 1] * force[:, 2] - p[:, 2] * force[:, 1]
    moment[:, 1] = p[:, 2] * force[:, 0] - p[:, 0] * force[:, 2]
    moment[:, 2] = p[:, 0] * force[:, 1] - p[:, 1] * force[:, 0]
    feet = np.where(on_geom2[rows], f2[rows], f1[rows])
    np.add.at(wrenches, feet, np.concatenate((force, moment), axis=1))
    return wrenches


class FootLoadRecorder:
    """Accumulates the floor's wrench on each foot over physics steps; ``take`` averages them."""

    def __init__(self, foot_of_geom: np.ndarray, n_feet: int):
        self.foot_of_geom = foot_of_geom
        self._sum = np.zeros((n_feet, 6))
        self._count = 0

    def __call__(self, env) -> None:
        """Add the current contacts of ``env`` (a TrackingEnv after a physics step)."""
        m, d = env.task.model, env.data
        self._sum += floor_wrenches(m, d, self.foot_of_geom, len(self._sum))
        self._count += 1

    def take(self) -> np.ndarray:
        """(n_feet, 6) mean wrench per foot since the last take: force, then its moment about
        the world origin (additive, so it can be averaged and filtered before the centre of
        pressure is found)."""
        mean = self._sum / max(1, self._count)
        self._sum[:], self._count = 0.0, 0
        return mean
