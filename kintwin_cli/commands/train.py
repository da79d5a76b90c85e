"""``kintwin train``: imitation-learn a policy that drives the converted model along IK motions."""

from __future__ import annotations

import os
from pathlib import Path

import click

from kintwin_cli.options import (
    EXISTING_FILE,
    POSITIVE,
    force_option,
    model_option,
    output_option,
)
from kintwin_cli.output import note, progress_lines


def _pairs(ctx: click.Context, param: click.Parameter, items: tuple[str, ...]) -> tuple:
    """``MOTION=FILE`` texts as (motion, file) paths."""
    pairs = []
    for item in items:
        motion, _, xml = item.partition("=")
        if not motion or not xml:
            raise click.BadParameter(f"'{item}': expected MOTION=FILE", ctx, param)
        pairs.append((Path(motion), Path(xml)))
    return tuple(pairs)


def _speeds(ctx: click.Context, param: click.Parameter, text: str | None) -> tuple:
    """``0.9,1.1`` as (0.9, 1.1); positive numbers only."""
    if not text:
        return ()
    try:
        speeds = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"'{text}': expected numbers separated by commas", ctx, param
        ) from None
    if not all(s > 0 for s in speeds):
        raise click.BadParameter(f"'{text}': {param.name} must be positive", ctx, param)
    return speeds


def _factors(ctx: click.Context, param: click.Parameter, text: str | None) -> tuple | None:
    """Like :func:`_speeds`, but None when the option is not given (a resumed run keeps its)."""
    return None if text is None else _speeds(ctx, param, text)


@click.command()
@model_option()
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
    callback=_pairs,
    help="Force plates of a training motion (OpenSim ExternalLoads): adds a reward for "
    "simulated GRF near the measured, per foot. Repeatable.",
)
@click.option(
    "--bc-id",
    "bc_id",
    multiple=True,
    metavar="MOTION=ID.sto",
    callback=_pairs,
    help="OpenSim inverse dynamics of a training motion (with its plates assigned to the feet, "
    "see 'kintwin convert grf'; the motion needs --grf-for too): before PPO, the actor learns the "
    "actions whose PD torques are ID's at the frames the plates cover. Repeatable.",
)
@click.option(
    "--drive",
    type=click.Choice(["torque", "muscle"]),
    default="torque",
    show_default=True,
    help="torque: PD actuators; muscle: the model's muscles (activation dynamics) with small "
    "penalised reserve motors, reported in the card and log.",
)
@click.option(
    "--warm-start",
    "warm_start",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Start from this policy of the same model (e.g. a torque policy for --drive muscle): "
    "its weights and tracking settings.",
)
@click.option(
    "--learning-rate", type=POSITIVE,
    help="PPO learning rate [default: 3e-4], annealed to 5 % over this call's budget; a resumed "
    "run may change it.",
)  # fmt: skip
@click.option(
    "--critic-warmup",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="First iterations that train only the value function (useful with --warm-start).",
)
@click.option(
    "--eval-every", type=click.IntRange(min=1), default=None,
    help="Iterations between whole-trial evaluations (the ones policy.pt is chosen by) "
    "[default: 5]; a resumed run may change it.",
)  # fmt: skip
@click.option(
    "--eval-bodies", callback=_factors, metavar="F1,F2,...",
    help="Also evaluate on the model scaled uniformly by these length factors (mass by their "
    "cube), e.g. 0.9,1.1, so policy.pt is chosen by how it tracks other bodies too; needs "
    "random bodies (--set scale_lengths=LO,HI); a resumed run may change it.",
)  # fmt: skip
@click.option(
    "--eval-later-starts", callback=_factors, metavar="S1,S2,...",
    help="Also evaluate on the model from these many seconds after each trial's first frame "
    "(as kintwin id --time-range starts), e.g. 0.1, so policy.pt is not chosen by a run that "
    "got through one start by luck; a resumed run may change it.",
)  # fmt: skip
@click.option(
    "--mirror", is_flag=True,
    help="Also train on each motion mirrored left-right (needs a left-right symmetric model).",
)  # fmt: skip
@click.option(
    "--speeds", callback=_speeds, metavar="S1,S2,...",
    help="Also train on each motion (and mirror) played S times as fast, e.g. 0.9,1.1.",
)  # fmt: skip
@click.option(
    "--noisy", type=click.IntRange(min=0), default=0, show_default=True,
    help="Also train on this many copies of each motion (and mirror) with markerless-like "
    "errors: each joint angle off by a smooth random error under 2 Hz, of k° RMS in copy k.",
)  # fmt: skip
@click.option(
    "--eval-noisy/--no-eval-noisy", default=None,
    help="Also evaluate the noisy copies of the motions as given (--noisy), so policy.pt is "
    "chosen by how it copes with markerless-like errors too [default: no]; a resumed run may "
    "change it.",
)  # fmt: skip
@output_option("The policy directory (new or empty, unless --resume or --force).", "dir")
@click.option("--minutes", type=POSITIVE, help="Wall-time budget of this run, minutes.")
@click.option(
    "--steps", type=click.IntRange(min=1), help="Total environment steps (resumed ones included)."
)
@click.option("--resume", is_flag=True, help="Continue from OUTPUT/last.pt.")
@force_option("Replace the run already in OUTPUT (its policy, card, log, last.pt).")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--envs", "num_envs", type=click.IntRange(min=1), default=16, show_default=True,
    help="Simulated copies stepped in parallel.",
)  # fmt: skip
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
    "--seat", is_flag=True,
    help="A seat under the thighs of motions that start or end seated (sit-to-stand), found "
    "from the kinematics; other motions get none.",
)  # fmt: skip
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a tracking setting (policies/config.py TrackingConfig), e.g. --set "
    "w_contact=0.2. With --resume only reward terms (w_*, k_*), the muscle solve (muscle_effort, "
    "muscle_reachable, muscle_map_steps), failure_weight, first_frame_share, the termination "
    "limits and the ranges of random bodies (scale_lengths, scale_mass_kg, scale_every) change, "
    "from that iteration on; the card lists the change (setting_changes).",
)
def train(
    model_path: Path,
    motions: tuple[Path, ...],
    more_motions: tuple[Path, ...],
    grf_for: tuple[tuple[Path, Path], ...],
    bc_id: tuple[tuple[Path, Path], ...],
    drive: str,
    warm_start: Path | None,
    learning_rate: float | None,
    critic_warmup: int,
    eval_every: int | None,
    eval_bodies: tuple[float, ...] | None,
    eval_later_starts: tuple[float, ...] | None,
    mirror: bool,
    speeds: tuple[float, ...],
    noisy: int,
    eval_noisy: bool | None,
    output: Path,
    minutes: float | None,
    steps: int | None,
    resume: bool,
    force: bool,
    seed: int,
    num_envs: int,
    workers: int | None,
    treadmill: float | None,
    overground: bool,
    residual_root: bool,
    seat: bool,
    settings: tuple[str, ...],
) -> None:
    """Train a tracking policy (PPO) on the kinematics of MOTIONS.

    \b
    Examples:
      kintwin train --model subject01.osim --motions subject01_walk_IK.mot \\
          --drive torque -o walk_policy --minutes 30
      kintwin train --model subject01.osim --motions subject01_walk_IK.mot --drive muscle \\
          --warm-start walk_policy --critic-warmup 3 -o walk_muscle --minutes 60
      kintwin train --model subject01.osim --motions walk_IK.mot -o walk_policy --resume --minutes 10
      kintwin train --model M.osim --motions A.mot B.mot -o P --steps 2000000 --treadmill -1.04
    """
    from tqdm import tqdm

    from policies.config import parse_settings
    from policies.train import TrainingRun, train_policy

    changes = parse_settings(settings) if resume else {}
    tracking = {
        "belt_speed": 0.0 if overground else treadmill,
        "residual_root": residual_root,
        "drive": drive,
        "seat": seat,
        **parse_settings(settings),
    }
    run = TrainingRun(
        model_path, (*motions, *more_motions), output, steps, minutes, resume, force, grf_for,
        tracking, seed, num_envs, workers or os.cpu_count() or 1, warm_start, learning_rate,
        critic_warmup, mirror, speeds, bc_id, changes, eval_every, eval_bodies, noisy,
        eval_later_starts, eval_noisy,
    )  # fmt: skip
    bar = tqdm(total=steps, unit="step", unit_scale=True, dynamic_ncols=True, disable=None)
    lines = progress_lines(bar)  # with no terminal (a batch job's log) instead of the bar

    def progress(row: dict) -> None:
        bar.n = row["global_step"]
        bar.set_postfix(
            sps=f"{row['steps_per_s']:.0f}",
            reward=f"{row['reward']:.3f}",
            err=f"{row['tracking_error_deg']:.2f}°",
        )
        lines(row)

    try:
        card = train_policy(run, progress)
    finally:
        bar.close()
    best, kept = card["metrics"]["best_eval_score_deg"], card["metrics"]["policy_checkpoint"]
    if kept is None or best == float("inf"):  # a resumed run already at its budget
        known = f", best evaluation score {best:.2f}°" if best != float("inf") else ""
        note(f"wrote {output} ({card['steps']} steps{known}; no evaluation in this call)")
        return
    note(
        f"wrote {output} ({card['steps']} steps; policy.pt from step {kept['global_step']}, "
        f"evaluation score {kept['eval_score']:.2f}°, best {best:.2f}°; the score is the "
        "whole-trial tracking error plus 90° times the fraction of the trials not tracked)"
    )
