"""Imitation learning on converted models (environment, trainer, runner, shipped policies)."""
