"""OpenSim's kinematics and mass properties at the model's current pose, as numpy arrays (SI,
OpenSim's ground frame)."""

from __future__ import annotations

import numpy as np

from converters.opensim_reference.log import opensim_log
from converters.opensim_reference.model import OpenSimModel

__all__ = [
    "body_frames",
    "marker_positions",
    "body_masses",
    "mass_matrix",
    "speed_index",
    "n_matrix",
    "generalized_q",
]


def body_frames(model: OpenSimModel) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Body name -> (origin (3,), rotation (3, 3)) in ground."""
    out = {}
    bodies = model.model.getBodySet()
    for i in range(bodies.getSize()):
        body = bodies.get(i)
        x = body.getTransformInGround(model.state)
        position = np.array([x.p().get(j) for j in range(3)])
        rotation = np.array([[x.R().get(a, b) for b in range(3)] for a in range(3)])
        out[body.getName()] = (position, rotation)
    return out


def marker_positions(model: OpenSimModel) -> dict[str, np.ndarray]:
    """Marker name -> position (3,) in ground."""
    markers = model.model.getMarkerSet()
    out = {}
    for i in range(markers.getSize()):
        marker = markers.get(i)
        v = marker.getLocationInGround(model.state)
        out[marker.getName()] = np.array([v.get(j) for j in range(3)])
    return out


def body_masses(model: OpenSimModel) -> dict[str, float]:
    """Body name -> mass, kg."""
    bodies = model.model.getBodySet()
    return {bodies.get(i).getName(): bodies.get(i).getMass() for i in range(bodies.getSize())}


def mass_matrix(model: OpenSimModel) -> np.ndarray:
    """(nu, nu) mass matrix in OpenSim's generalized speeds u."""
    with opensim_log("error") as opensim:
        matrix = opensim.Matrix()
        model.model.getMatterSubsystem().calcM(model.state, matrix)
    return _to_numpy(matrix)


def speed_index(model: OpenSimModel) -> dict[str, int]:
    """Coordinate name -> index of its mobility in OpenSim's generalized speeds u (speeds are
    left at zero)."""
    state = model.state
    with opensim_log("error") as opensim:
        index = {}
        coordinates = model.model.getCoordinateSet()
        for i in range(coordinates.getSize()):
            state.setU(opensim.Vector(state.getNU(), 0.0))
            coordinates.get(i).setSpeedValue(state, 1.0)
            u = np.array([state.getU().get(j) for j in range(state.getNU())])
            index[coordinates.get(i).getName()] = int(np.argmax(np.abs(u)))
        state.setU(opensim.Vector(state.getNU(), 0.0))
    return index


def n_matrix(model: OpenSimModel) -> np.ndarray:
    """(nq, nu): OpenSim's qdot = N(q) u (identity except for ball and free joints, whose u are
    angular velocities while their coordinates are Euler angles)."""
    state = model.state
    with opensim_log("error") as opensim:
        matter = model.model.getMatterSubsystem()
        columns = []
        for j in range(state.getNU()):
            u = opensim.Vector(state.getNU(), 0.0)
            u.set(j, 1.0)
            qdot = opensim.Vector(state.getNQ(), 0.0)
            matter.multiplyByN(state, False, u, qdot)
            columns.append([qdot.get(i) for i in range(state.getNQ())])
    return np.array(columns).T


def generalized_q(model: OpenSimModel) -> np.ndarray:
    """(nq,) OpenSim's generalized coordinates q of the current state."""
    q = model.state.getQ()
    return np.array([q.get(j) for j in range(model.state.getNQ())])


def _to_numpy(matrix) -> np.ndarray:
    return np.array(
        [[matrix.get(i, j) for j in range(matrix.ncol())] for i in range(matrix.nrow())]
    )
