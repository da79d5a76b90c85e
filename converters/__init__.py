"""OpenSim <-> MuJoCo conversion and OpenSim file formats. No learning, no printing, no globals."""
