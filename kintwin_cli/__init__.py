"""KinTwin CLI: OpenSim-compatible inverse dynamics and muscle activations by imitation in MuJoCo."""

__version__ = "0.1.0"
