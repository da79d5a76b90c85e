"""Model-based feedforward for the torque drive: the joint moments of the reference motion with
ground reactions solved from the motion alone (:mod:`converters.contact_solve`).

With ``TrackingConfig.feedforward`` each PD actuator's target is moved by ``moment / kp``, so at
zero action and on the reference the actuator gives the model-based moment and the policy's
action is a correction for balance and tracking. The moments are computed for the model the
environment drives: at ``kintwin id`` the trial's own body; a random training body takes its
nominal body's moments scaled by mass and length (:func:`scaled_feedforward`).
"""

from __future__ import annotations

import numpy as np

from converters.errors import KintwinError
from converters.motion import Trajectory

__all__ = ["contact_feedforward", "scaled_feedforward"]


def contact_feedforward(converted, trajectory: Trajectory, task, seat: bool) -> np.ndarray:
    """(T, n_actuated) N·m (or N): the contact solve's generalized forces of ``trajectory`` on
    the task's actuated coordinates, at the trajectory's times; ``seat`` as the task's (a
    trial that sits rests on a seat under the thighs, not on its feet)."""
    from converters.contact_solve import ContactSolveConfig, solve_contacts

    if task.muscle is not None:
        raise KintwinError("feedforward needs --drive torque (the muscle drive has no PD torque)")
    # without the solve's load-share prior (the task's reward has its own, w_load_share): the
    # feedforward policies were trained so, and a policy must get the feedforward it learnt on
    config = ContactSolveConfig(seat=seat, load_share=False)
    solution = solve_contacts(converted, trajectory, config, id_table=False)
    return solution.generalized_forces[:, task.coord_dof[task.actuated]]


def scaled_feedforward(nominal: np.ndarray, mass_ratio: float, length_ratio: float) -> np.ndarray:
    """The nominal body's moments for a body ``mass_ratio`` as heavy and ``length_ratio`` as
    long, scaled as weight times lever arm. Inertial moments of the same motion would scale with
    mass × length² instead; the policy corrects the difference, and ``kintwin id`` solves the
    trial on its own body."""
    return nominal * (mass_ratio * length_ratio)
