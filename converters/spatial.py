"""Rigid transforms as 4x4 numpy arrays, rotations as 3x3, quaternions as (w, x, y, z).

OpenSim writes frame orientations as body-fixed X-Y-Z Euler angles (radians); MuJoCo is Z-up while
OpenSim is Y-up, so OpenSim's ground is rotated +90 degrees about X to sit in MuJoCo's world.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "axis_angle",
    "euler_xyz_body",
    "transform",
    "invert",
    "quat_from_matrix",
    "matrix_from_quat",
    "rotation_angle_between",
    "OPENSIM_TO_MUJOCO",
]


def axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """3x3 rotation by ``angle`` (rad) about unit-normalised ``axis`` (Rodrigues)."""
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a)
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def euler_xyz_body(angles: np.ndarray) -> np.ndarray:
    """3x3 rotation of body-fixed X, then Y, then Z rotations (OpenSim's ``orientation``)."""
    x, y, z = (float(v) for v in angles)
    return axis_angle([1, 0, 0], x) @ axis_angle([0, 1, 0], y) @ axis_angle([0, 0, 1], z)


def transform(
    rotation: np.ndarray | None = None, translation: np.ndarray | None = None
) -> np.ndarray:
    """4x4 homogeneous transform from a rotation and a translation (either may be omitted)."""
    out = np.eye(4)
    if rotation is not None:
        out[:3, :3] = rotation
    if translation is not None:
        out[:3, 3] = translation
    return out


def invert(x: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4x4 transform."""
    r, p = x[:3, :3], x[:3, 3]
    return transform(r.T, -r.T @ p)


def quat_from_matrix(r: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z), w >= 0, of a 3x3 rotation (Shepperd's method)."""
    m = np.asarray(r, dtype=float)
    trace = np.trace(m)
    candidates = [trace, m[0, 0], m[1, 1], m[2, 2]]
    k = int(np.argmax(candidates))
    if k == 0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    else:
        i, j, n = [(0, 1, 2), (1, 2, 0), (2, 0, 1)][k - 1]
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[n, n])
        q = [0.0] * 4
        q[0] = (m[n, j] - m[j, n]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (m[j, i] + m[i, j]) / s
        q[1 + n] = (m[n, i] + m[i, n]) / s
    q = np.array(q)
    q /= np.linalg.norm(q)
    return -q if q[0] < 0 else q


def matrix_from_quat(q: np.ndarray) -> np.ndarray:
    """3x3 rotation of a quaternion (w, x, y, z)."""
    w, x, y, z = np.asarray(q, dtype=float) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def rotation_angle_between(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (rad) of the rotation taking 3x3 ``a`` to ``b``."""
    c = (np.trace(a.T @ b) - 1.0) / 2.0
    # acos loses precision near 0; use the norm of the skew part instead.
    s = np.linalg.norm(a.T @ b - b.T @ a) / (2.0 * np.sqrt(2.0))
    return float(np.arctan2(s, np.clip(c, -1.0, 1.0)))


# OpenSim ground (Y up) expressed in MuJoCo's world (Z up): +90 degrees about X.
OPENSIM_TO_MUJOCO = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
