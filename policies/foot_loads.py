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
    Called after every physics step, so written for the few contacts of a foot on the floor:
    Python floats (IEEE double, as numpy's element-wise arithmetic), contacts in MuJoCo's order.
    """
    wrenches = [[0.0] * 6 for _ in range(n_feet)]
    if data.ncon:
        contact = data.contact
        local = np.zeros(6)
        frames, points = contact.frame.tolist(), contact.pos.tolist()
        for i, (g1, g2) in enumerate(contact.geom.tolist()):
            f1, f2 = int(foot_of_geom[g1]), int(foot_of_geom[g2])
            if f1 == -2 and f2 >= 0:
                foot, sign = f2, 1.0  # the contact force acts on geom2, from geom1
            elif f2 == -2 and f1 >= 0:
                foot, sign = f1, -1.0
            else:
                continue
            mujoco.mj_contactForce(model, data, i, local)
            n, t1, t2 = local[:3].tolist()  # in the contact frame, whose rows are its axes
            a = frames[i]
            fx = sign * (a[0] * n + a[3] * t1 + a[6] * t2)
            fy = sign * (a[1] * n + a[4] * t1 + a[7] * t2)
            fz = sign * (a[2] * n + a[5] * t1 + a[8] * t2)
            px, py, pz = points[i]
            w = wrenches[foot]
            w[0] += fx
            w[1] += fy
            w[2] += fz
            w[3] += py * fz - pz * fy  # the force's moment about the world origin, p x f
            w[4] += pz * fx - px * fz
            w[5] += px * fy - py * fx
    return np.array(wrenches).reshape(n_feet, 6)


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
