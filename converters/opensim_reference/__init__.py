"""The one place that runs the ``opensim`` package: OpenSim as the reference the converter and
the classic pipeline are checked against.

* :mod:`.log` - OpenSim's log level set and restored around each use; no ``opensim.log`` file.
* :mod:`.model` - :class:`OpenSimModel`: an ``opensim.Model``, its ``State``, the pose setter.
* :mod:`.kinematics` - body frames, markers, masses and the mass matrix at the current pose.
* :mod:`.paths` - :class:`MusclePaths`: muscle-tendon lengths, moment arms, wrapped path points.
* :mod:`.muscles` - isometric equilibrium and force-velocity curves; :class:`OpenSimMuscles`,
  what the MJCF builder asks OpenSim (:mod:`converters.mjcf.reference`).
* :mod:`.tools` - OpenSim's InverseDynamicsTool and StaticOptimization, errors as KintwinError.

Importing this package does not import ``opensim``; each function does, when called.
"""

from converters.opensim_reference.log import import_opensim, opensim_log
from converters.opensim_reference.model import OpenSimModel
from converters.opensim_reference.muscles import OpenSimMuscles, isometric_equilibrium
from converters.opensim_reference.paths import MusclePaths
from converters.opensim_reference.tools import (
    OpenSimToolError,
    StaticOptimizationResult,
    run_inverse_dynamics,
    run_static_optimization,
)

__all__ = [
    "import_opensim",
    "opensim_log",
    "OpenSimModel",
    "MusclePaths",
    "OpenSimMuscles",
    "isometric_equilibrium",
    "OpenSimToolError",
    "StaticOptimizationResult",
    "run_inverse_dynamics",
    "run_static_optimization",
]
