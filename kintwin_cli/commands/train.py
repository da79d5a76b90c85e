"""``kintwin train``: imitation-learn a policy that drives the converted model along IK motions."""

from __future__ import annotations

import os
from pathlib import Path

import click

from kintwin_cli.output import note

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.option("--model", required=True, type=EXISTING_FILE, help="The .osim model.")
@click.option(
    "--motions", required=True, multiple=True, type=EXISTING_FILE,
    help="IK coordinates (.mot/.sto); repeat the option or list several after it.",
)  # fmt: skip
@click.argument("more_motions", nargs=-1, type=EXISTING_FILE)
@click.option(
    "--grf-for",
    "grf_for",
    multiple=True,
    metavar="MOTION=LOADS.xml",
    help="Force plates of a training motion (OpenSim ExternalLoads): adds a reward for "
    "simulated GRF near the measured, per foot. Repeatable.",
)
@click.option("--drive", type=click.Choice(["torque"]), default="torque", show_default=True)
@click.option("-o", "--output", "outdir", required=True, type=click.Path(path_type=Path))
@click.option("--minutes", type=float, help="Wall-time budget of this run, minutes.")
@click.option("--steps", type=int, help="Total environment steps (resumed ones included).")
@click.option("--resume", is_flag=True, help="Continue from OUTPUT/last.pt.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--envs", "num_envs", type=int, default=16, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes stepping the simulations [default: one per CPU core]; results do not "
    "depend on it.",
)
@click.option("--treadmill", type=float, help="Belt speed, m/s along OpenSim +x (default: detect).")
@click.option("--overground", is_flag=True, help="Fixed ground: no treadmill detection.")
@click.option("--residual-root", is_flag=True, help="Penalised residual forces on the root.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a tracking setting (policies/config.py TrackingConfig), e.g. --set w_contact=0.2.",
)
def train(
    model: Path,
    motions: tuple[Path, ...],
    more_motions: tuple[Path, ...],
    grf_for: tuple[str, ...],
    drive: str,
    outdir: Path,
    minutes: float | None,
    steps: int | None,
    resume: bool,
    seed: int,
    num_envs: int,
    workers: int | None,
    treadmill: float | None,
    overground: bool,
    residual_root: bool,
    settings: tuple[str, ...],
) -> None:
    """Train a torque-driven tracking policy (PPO) on the kinematics of MOTIONS.

    \b
    Examples:
      kintwin train --model subject01.osim --motions subject01_walk_IK.mot \\
          --drive torque -o walk_policy --minutes 30
      kintwin train --model subject01.osim --motions walk_IK.mot -o walk_policy --resume --minutes 10
      kintwin train --model M.osim --motions A.mot B.mot -o P --steps 2000000 --treadmill -1.04
    """
    from tqdm import tqdm

    from converters.errors import KintwinError
    from converters.mjcf.builder import ConvertOptions
    from converters.model_conversion import convert_osim
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table
    from policies.env import TrackingConfig
    from policies.ppo import PPOConfig
    from policies.ppo import train as run_training

    if minutes is None and steps is None:
        raise KintwinError("give a budget: --minutes N or --steps N")
    converted = convert_osim(model, ConvertOptions(meshes=False, muscles=False))
    belt = 0.0 if overground else treadmill
    tracking = TrackingConfig.from_dict(
        {"belt_speed": belt, "residual_root": residual_root, **_parse_settings(settings)}
    )
    m = converted.mj_model
    paths = list(motions) + list(more_motions)
    trajectories = [
        make_trajectory(
            coordinate_series(read_table(p), converted.osim, p),
            converted.kinematics,
            m.nq,
            m.nv,
            tracking.lowpass_hz,
        )  # fmt: skip
        for p in paths
    ]
    loads = _training_loads(grf_for, paths)
    bar = tqdm(total=steps, unit="step", unit_scale=True, dynamic_ncols=True, disable=None)

    def progress(row: dict) -> None:
        bar.n = row["global_step"]
        bar.set_postfix(
            sps=f"{row['steps_per_s']:.0f}",
            reward=f"{row['reward']:.3f}",
            err=f"{row['tracking_error_deg']:.2f}°",
        )

    card = run_training(
        converted, trajectories, [str(p) for p in paths], outdir, tracking,
        PPOConfig(num_envs=num_envs, seed=seed), steps,
        None if minutes is None else minutes * 60, resume, progress,
        workers=workers or os.cpu_count() or 1, loads=loads,
    )  # fmt: skip
    bar.close()
    best, kept = card["metrics"]["best_eval_score_deg"], card["metrics"]["policy_checkpoint"]
    if kept is None:  # no evaluation in this call (a resumed run already at its budget)
        note(f"wrote {outdir} ({card['steps']} steps, best whole-trial tracking error {best:.2f}°)")
        return
    note(
        f"wrote {outdir} ({card['steps']} steps; policy.pt from step {kept['global_step']}, "
        f"whole-trial tracking error {kept['eval_score']:.2f}°, best {best:.2f}°)"
    )


def _parse_settings(settings: tuple[str, ...]) -> dict:
    """``NAME=VALUE`` pairs as TrackingConfig values (numbers, ``a,b`` pairs, true/false, none)."""
    from converters.errors import KintwinError
    from policies.env import TrackingConfig

    values = {}
    for item in settings:
        name, _, text = item.partition("=")
        if name not in TrackingConfig.__dataclass_fields__ or not text:
            known = ", ".join(TrackingConfig.__dataclass_fields__)
            raise KintwinError(f"--set '{item}': expected NAME=VALUE with NAME one of {known}")
        lowered = text.strip().lower()
        if lowered in ("none", "null"):
            values[name] = None
        elif lowered in ("true", "false"):
            values[name] = lowered == "true"
        else:
            try:
                numbers = [float(x) for x in text.split(",")]
            except ValueError:
                raise KintwinError(f"--set '{item}': '{text}' is not a number") from None
            values[name] = numbers[0] if len(numbers) == 1 else tuple(numbers)
    return values


def _training_loads(grf_for: tuple[str, ...], motions: list[Path]) -> list | None:
    """One ExternalLoads (or None) per motion from ``MOTION=LOADS.xml`` pairs."""
    from converters.errors import KintwinError
    from converters.opensim_io.external_loads import load_external_loads

    if not grf_for:
        return None
    by_motion = {}
    for item in grf_for:
        motion, _, xml = item.partition("=")
        if not xml:
            raise KintwinError(f"--grf-for '{item}': expected MOTION=LOADS.xml")
        matches = [p for p in motions if p.resolve() == Path(motion).resolve()]
        if not matches:
            raise KintwinError(f"--grf-for '{item}': {motion} is not one of the --motions")
        by_motion[matches[0]] = load_external_loads(xml)
    return [by_motion.get(p) for p in motions]
