"""KinTwin CLI: OpenSim-compatible inverse dynamics and muscle activations by imitation in MuJoCo."""

from converters.version import __version__

__all__ = ["__version__"]
