"""Intermediate model -> MuJoCo MJCF (via mujoco.MjSpec), meshes and the mapping json."""
