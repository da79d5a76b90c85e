"""Training throughput of the 3D torque policy: environment steps per second on one and on two
workers (issue 13: training must use both cores).

The setting is the shipped 3D run's: OpenCap subject 4's seven training trials
(``benchmarks/opencap_split.json``) on its model, the shipped policy's tracking settings (seat,
random bodies) and weights, 32 copies and 64 steps per iteration. Each timed iteration is what
``kintwin train`` does between evaluations: gather the rollout (:func:`policies.ppo.collect_rollout`)
and update the networks (:func:`policies.ppo.ppo_update`); the periodic whole-trial evaluation
and checkpoints are left out. One warm-up iteration, then ``ITERATIONS`` timed ones per worker
count. The load average is recorded: the machine may be shared.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies/pretrained/laiuhlrich2022_torque"
SUBJECT = "opencap-subject4"
ITERATIONS = 6
NUM_ENVS, NUM_STEPS = 32, 64


def _trajectories(data: Path, converted, lowpass_hz: float | None) -> list:
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table

    split = json.loads((ROOT / "benchmarks/opencap_split.json").read_text())
    trials = [t for t in split["trials"] if t not in split["held_out"]]
    m = converted.mj_model
    out = []
    for trial in trials:
        ik = data / SUBJECT / "IK" / f"{trial}_ik.mot"
        series = coordinate_series(read_table(ik), converted.osim, ik)
        out.append(make_trajectory(series, converted.kinematics, m.nq, m.nv, lowpass_hz))
    return out


def _rate(converted, trajectories, config, checkpoint, workers: int) -> dict:
    """Steps per second of ITERATIONS iterations (collect + update) on ``workers`` workers."""
    import torch

    from policies.checkpoint import agent_from_checkpoint
    from policies.parallel import make_vector_env
    from policies.ppo import PPOConfig, collect_rollout, compute_gae, ppo_update

    torch.set_num_threads(1)
    envs = make_vector_env(converted, trajectories, config, NUM_ENVS, 1, workers)
    agent, norm = agent_from_checkpoint(checkpoint)
    cfg = PPOConfig(num_envs=NUM_ENVS, num_steps=NUM_STEPS)
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-5)
    generator = torch.Generator().manual_seed(0)
    collect = update = 0.0
    try:
        raw = envs.reset()
        for iteration in range(ITERATIONS + 1):
            t0 = time.perf_counter()
            exp, raw = collect_rollout(envs, agent, norm, raw, cfg, iteration)
            t1 = time.perf_counter()
            with torch.no_grad():
                next_value = agent.value(exp.next_obs)
            advantages, returns = compute_gae(
                exp.rewards, exp.values, exp.dones, next_value, exp.next_done, 0.99, 0.95
            )
            ppo_update(agent, optimizer, exp, advantages, returns, cfg, generator, False)
            if iteration:  # the first warms up
                collect, update = collect + t1 - t0, update + time.perf_counter() - t1
    finally:
        envs.close()
    steps = ITERATIONS * NUM_ENVS * NUM_STEPS
    return {
        "steps_per_s": steps / (collect + update),
        "collect_s_per_iteration": collect / ITERATIONS,
        "update_s_per_iteration": update / ITERATIONS,
    }


def run(data: Path) -> dict:
    import torch

    from policies.config import TrackingConfig
    from policies.muscle import convert_for_drive

    checkpoint = torch.load(POLICY / "policy.pt", weights_only=False)
    config = TrackingConfig.from_saved(checkpoint["tracking_config"])
    model = data / SUBJECT / "Models" / "optimized_scale_and_markers.osim"
    converted = convert_for_drive(model, "torque")
    trajectories = _trajectories(data, converted, config.lowpass_hz)
    load_before = os.getloadavg()[0]
    rates = {str(w): _rate(converted, trajectories, config, checkpoint, w) for w in (1, 2)}
    return {
        "setting": {
            "trials": len(trajectories),
            "copies": NUM_ENVS,
            "steps_per_iteration": NUM_ENVS * NUM_STEPS,
            "timed_iterations": ITERATIONS,
            "policy": POLICY.name,
        },
        "workers": rates,
        "load_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "summary": {
            "steps_per_s_1_worker": round(rates["1"]["steps_per_s"]),
            "steps_per_s_2_workers": round(rates["2"]["steps_per_s"]),
            "speedup_2_workers": round(rates["2"]["steps_per_s"] / rates["1"]["steps_per_s"], 2),
        },
    }
