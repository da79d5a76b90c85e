"""OpenSim ``.osim`` models: summaries now; the intermediate model (bodies, joints, muscles, ...) later."""
