"""The training run: PPO iterations, log, checkpoints, card and resume, into one policy directory.

``train`` runs on a converted model and trajectories already in memory (tests, fine-tuning);
``train_policy`` is ``kintwin train``: it reads the files of a :class:`TrainingRun`, then calls
``train``. A run writes ``log.csv``/``log.jsonl`` (one row per iteration), ``policy.pt`` (the
policy to use), ``last.pt`` (everything needed to continue: weights, normaliser, optimizer,
random generators and every simulated copy's state) and ``card.json``.

A run killed at any moment resumes from its last ``last.pt`` (``resume=True``), losing at most
``checkpoint_every`` iterations, and then computes exactly what the uninterrupted run computes:
the log is cut back to the checkpoint's iteration, and the copies continue from the states they
had, not from fresh resets.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from converters.errors import KintwinError
from converters.files import file_sha256
from converters.model_family import model_family
from policies.agent import Agent, RunningNorm
from policies.augment import COPY  # derived motions' labels: <file>#mirrored, ...
from policies.checkpoint import (
    CARD_FILE,
    LAST_FILE,
    POLICY_FILE,
    drive_card,
    load_checkpoint,
    package_versions,
    read_card,
    save_checkpoint,
    write_card,
)
from policies.config import TrackingConfig
from policies.inference import policy_name
from policies.ppo import PPOConfig, collect_rollout, compute_gae, ppo_update

__all__ = [
    "TrainingRun", "train_policy", "train", "prepare_output", "RUN_FILES", "CHANGEABLE_ON_RESUME",
    "changed_settings",
]  # fmt: skip

LOG_FILES = ("log.jsonl", "log.csv")
RUN_FILES = (POLICY_FILE, LAST_FILE, CARD_FILE, *LOG_FILES)  # what a run writes


@dataclass(frozen=True)
class TrainingRun:
    """``kintwin train``: what to learn from, for how long, into which directory."""

    model: Path  # the .osim model
    motions: tuple[Path, ...]  # IK coordinates (.mot/.sto) to imitate
    outdir: Path  # the policy directory
    max_steps: int | None = None  # environment steps in total, resumed ones included
    max_minutes: float | None = None  # wall time of this call, min
    resume: bool = False  # continue from outdir/last.pt (its settings win)
    force: bool = False  # outdir holds a previous run: replace it
    force_plates: tuple[tuple[Path, Path], ...] = ()  # (motion, ExternalLoads .xml) pairs
    tracking: dict = field(default_factory=dict)  # TrackingConfig fields to override
    seed: int = 1
    num_envs: int = 16  # simulated copies
    workers: int = 1  # processes stepping the copies (results do not depend on it)
    warm_start: Path | None = None  # a policy of the same model to start from (its settings too)
    learning_rate: float | None = None  # PPO's, if not the default
    critic_warmup: int = 0  # first iterations that train only the value function
    mirror: bool = False  # add each motion mirrored left-right (policies.augment)
    speeds: tuple[float, ...] = ()  # add each motion (and mirror) played this many times as fast
    bc_id: tuple[tuple[Path, Path], ...] = ()  # (motion, OpenSim ID .sto): behaviour cloning
    changes: dict = field(default_factory=dict)  # with resume: settings changed from here on
    eval_every: int | None = None  # iterations between evaluations (None: default or as resumed)
    eval_bodies: tuple[float, ...] | None = None  # length factors of extra evaluation bodies
    noisy: int = 0  # add this many copies of each motion (and mirror) with markerless-like errors
    eval_later_starts: tuple[float, ...] | None = None  # s: also evaluate from these starts
    eval_noisy: bool | None = None  # also evaluate the motions' noisy copies (None: as resumed)


def train_policy(run: TrainingRun, on_iteration: Callable[[dict], None] | None = None) -> dict:
    """Read the model, motions and force plates of ``run``, train, return the final card.

    Refuses (before any work) a run without a budget, a non-empty output directory unless
    resuming or forced, and force plates for a motion that is not trained on.
    """
    from converters.motion import coordinate_series, make_trajectory
    from converters.opensim_io.table import read_table
    from policies.muscle import convert_for_drive
    from policies.toes import complete_toes

    if run.max_steps is None and run.max_minutes is None:
        raise KintwinError("give a budget: --minutes N or --steps N")
    random_bodies = run.resume or run.warm_start or run.tracking.get("scale_lengths")
    if run.eval_bodies and not random_bodies:  # (a resumed or warm run has its own settings)
        raise KintwinError("--eval-bodies needs training on random bodies (--set scale_lengths)")
    prepare_output(run.outdir, run.resume, run.force)
    loads = _training_loads(run.force_plates, list(run.motions))
    converted = convert_for_drive(run.model, run.tracking.get("drive", "torque"))
    init, base = None, {}
    ppo = {"num_envs": run.num_envs, "seed": run.seed, "critic_warmup": run.critic_warmup}
    changes = dict(run.changes)
    for key in PPO_CHANGEABLE:  # a new run's settings, or a resumed run's changes
        value = getattr(run, key)
        if value is not None:
            (changes if run.resume else ppo)[key] = (
                tuple(value) if isinstance(value, list) else value
            )
    if run.warm_start is not None:  # its weights, network size and tracking settings (feet)
        init = load_checkpoint(
            run.warm_start, converted.map["source_sha256"], converted.osim.path,
            model_family(converted.osim),
        )  # fmt: skip
        init["source"] = policy_name(run.warm_start)  # the card names it (as it names files)
        base = TrackingConfig.from_saved(init["tracking_config"]).to_dict()
        ppo["hidden"] = init["ppo_config"]["hidden"]
    tracking = TrackingConfig.from_dict({**base, **run.tracking})
    m = converted.mj_model
    series = [coordinate_series(read_table(p), converted.osim, p) for p in run.motions]
    saved = run.resume and TrackingConfig.from_saved(read_card(run.outdir)["tracking_config"])
    if (saved or tracking).complete_toes:  # the references as the run's own setting makes them
        series = [complete_toes(s, converted)[0] for s in series]
    labels, series, loads = augmented_motions(
        converted, [str(p) for p in run.motions], series, loads, run.mirror, run.speeds,
        run.noisy, run.seed,
    )  # fmt: skip
    trajectories = [
        make_trajectory(s, converted.kinematics, m.nq, m.nv, tracking.lowpass_hz) for s in series
    ]
    bc = _cloning_tables(run.bc_id, labels, loads, run.resume)
    if run.mirror and bc:  # the mirrored copies clone the mirrored torques
        from policies.augment import mirror_plan
        from policies.warm_start import mirror_id_table

        plan = mirror_plan(converted)
        bc += [
            (labels.index(f"{labels[i]}{COPY}mirrored"), mirror_id_table(table, plan), src, i)
            for i, table, src, _ in list(bc)
        ]
    seconds = None if run.max_minutes is None else run.max_minutes * 60.0
    return train(
        converted, trajectories, labels, run.outdir, tracking,
        PPOConfig(**ppo), run.max_steps, seconds, run.resume, on_iteration, init=init,
        workers=run.workers, loads=loads, force=run.force, bc=bc, changes=changes,
    )  # fmt: skip


def augmented_motions(
    converted,
    labels: list[str],
    series: list,
    loads: list | None,
    mirror: bool,
    speeds: tuple[float, ...],
    noisy: int = 0,
    seed: int = 1,
) -> tuple[list[str], list, list | None]:
    """The motions with their mirrored (``mirror``), speed-changed (``speeds``) and ``noisy``
    copies: labels (``<file>#mirrored``, ``<file>#speed=1.1``, ``<file>#noisy=1``), coordinate
    series and loads. A mirrored or speed-changed copy has no force plates (they were measured
    for the original); a noisy copy keeps its original's (the feet stand where they did, give
    or take the noise). Noisy copies are of the motions and their mirrors, at their own speed;
    copy k's errors are k x 1° RMS, following ``seed``."""
    from policies.augment import mirror_plan, mirror_series, noisy_copies, time_scaled_series

    out = list(zip(labels, series, loads or [None] * len(series), strict=True))
    if mirror:
        plan = mirror_plan(converted)
        out += [(f"{name}{COPY}mirrored", mirror_series(s, plan), None) for name, s, _ in out]
    unsped = list(out)
    out += [
        (f"{name}{COPY}speed={speed:g}", time_scaled_series(s, speed), None)
        for speed in speeds
        for name, s, _ in unsped
    ]
    out += [
        (label, copy, load)
        for i, (name, s, load) in enumerate(unsped)
        for label, copy in noisy_copies(name, s, converted, noisy, (seed, i))
    ]
    names, motions, motion_loads = ([o[k] for o in out] for k in range(3))
    return names, motions, (None if loads is None else motion_loads)


def _cloning_tables(
    pairs: tuple[tuple[Path, Path], ...], labels: list[str], loads: list | None, resume: bool
) -> list[tuple[int, object, str, int | None]]:
    """(trajectory index, ID table, file, None) for each ``--bc-id MOTION=ID.sto``; the motion
    must be trained on with its force plates (they say which frames ID can be trusted at)."""
    from converters.opensim_io.table import read_table

    if pairs and resume:
        raise KintwinError("--bc-id starts a run; a resumed run continues from its last.pt")
    out = []
    for motion, table in pairs:
        index = next(
            (i for i, name in enumerate(labels) if Path(name).resolve() == Path(motion).resolve()),
            None,
        )
        if index is None:
            raise KintwinError(f"--bc-id '{motion}={table}': {motion} is not one of the --motions")
        if loads is None or loads[index] is None:
            raise KintwinError(
                f"--bc-id '{motion}={table}': give its force plates too (--grf-for {motion}=...)"
            )
        out.append((index, read_table(table), str(table), None))
    return out


def _training_loads(pairs: tuple[tuple[Path, Path], ...], motions: list[Path]) -> list | None:
    """One ExternalLoads (or None) per motion from (motion, ExternalLoads .xml) pairs."""
    from converters.opensim_io.external_loads import load_external_loads

    if not pairs:
        return None
    by_motion = {}
    for motion, xml in pairs:
        matches = [p for p in motions if Path(p).resolve() == Path(motion).resolve()]
        if not matches:
            raise KintwinError(f"--grf-for '{motion}={xml}': {motion} is not one of the --motions")
        by_motion[matches[0]] = load_external_loads(xml)
    return [by_motion.get(p) for p in motions]


def prepare_output(outdir: str | Path, resume: bool, force: bool) -> None:
    """Check (and with ``force`` clear) the policy directory before a run.

    Resuming needs ``last.pt`` there. Otherwise the directory must be missing or empty; with
    ``force`` the previous run's files (:data:`RUN_FILES`) are removed so the new run starts
    clean instead of appending to the old log. Raises KintwinError.
    """
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise KintwinError(f"{outdir}: not a directory")
    if resume:
        if not (outdir / LAST_FILE).is_file():
            raise KintwinError(f"{outdir}: nothing to resume (no {LAST_FILE} there)")
        return
    if not outdir.is_dir() or not any(outdir.iterdir()):
        return
    if not force:
        raise KintwinError(
            f"{outdir}: not empty; use --resume to continue the run there or --force to replace it"
        )
    for name in RUN_FILES:
        for path in (outdir / name, outdir / f"{name}.tmp"):
            path.unlink(missing_ok=True)


def train(
    converted,
    trajectories: list,
    motions: list[str],
    outdir: str | Path,
    tracking: TrackingConfig | None = None,
    cfg: PPOConfig | None = None,
    max_steps: int | None = None,
    max_seconds: float | None = None,
    resume: bool = False,
    on_iteration: Callable[[dict], None] | None = None,
    init: dict | None = None,
    workers: int = 1,
    loads: list | None = None,
    force: bool = False,
    bc: list | None = None,
    changes: dict | None = None,
) -> dict:
    """Train a tracking policy into ``outdir``; returns the final card.

    ``motions`` names the trajectories on the card (their files' names and SHA-256 when they
    are paths). Stops after ``max_steps`` environment steps in total (resumed ones included)
    or ``max_seconds`` of wall time in this call. ``on_iteration(row)`` gets each log row.
    ``init`` (a loaded checkpoint) starts a new run from its weights, for fine-tuning.
    ``workers`` processes step the copies (the results do not depend on how many).
    ``loads`` (one ExternalLoads or None per trajectory) adds measured-GRF reward terms.
    ``policy.pt`` is the latest policy whose deterministic whole-trial tracking came within
    ``keep_within_deg`` of the best so far: among policies that track about equally well, the
    one trained longest on the other reward terms (load share, smoothness, effort), yet never
    one caught in a dip. ``last.pt`` resumes. See :func:`prepare_output` for ``force``.
    ``bc`` (trajectory index, OpenSim ID table, its file, the index whose plates say which
    frames to trust or None) first clones ID's torques into the
    actor (:mod:`policies.warm_start`); the result is on the card (``behaviour_cloning``).
    ``changes`` (resume only) alters settings of :data:`CHANGEABLE_ON_RESUME` (and
    :data:`PPO_CHANGEABLE`) from this iteration on; the card lists every such change
    (``setting_changes``) and ``policy.pt`` is chosen afresh under the new settings (unless
    they only change the reward or :data:`KEEP_SCORES`, see :func:`keeps_scores`).
    """
    if changes and not resume:
        raise KintwinError("setting changes apply to a resumed run (--resume)")
    prepare_output(outdir, resume, force)
    threads = torch.get_num_threads()  # the run sets its own; the caller's come back after
    try:
        s = _open_session(
            converted,
            trajectories,
            motions,
            outdir,
            tracking,
            cfg,
            resume,
            init,
            workers,
            loads,
            bc,
            changes,
        )
        try:
            return _run(s, max_steps, max_seconds, on_iteration)
        finally:
            s.envs.close()
    finally:
        torch.set_num_threads(threads)


# ------------------------------------------------------------------------------ the session


@dataclass
class _Session:
    """The live objects of one training run."""

    converted: object
    motions: list[dict]  # {"file": name, "sha256": digest or None} per trajectory
    outdir: Path
    tracking: TrackingConfig
    cfg: PPOConfig
    envs: object  # VectorEnv or ProcessVectorEnv
    eval_env: object  # TrackingEnv
    agent: Agent
    norm: RunningNorm
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    state: dict
    raw_obs: np.ndarray | None = None  # the copies' current observations, unnormalised
    evaluated: list[int] | None = None  # references evaluated (None: all): the motions as given
    body_envs: list = field(default_factory=list)  # TrackingEnv per extra evaluation body
    root_fits: dict = field(default_factory=dict)  # policies.reference.applied_fits
    processes: int = 1  # processes sharing an evaluation (the stepping workers' count)

    def meta(self) -> dict:
        """Everything a checkpoint holds besides weights and normaliser."""
        return {
            "model_sha256": self.converted.map["source_sha256"],
            "model_name": Path(self.converted.osim.path).name,
            "model_family": model_family(self.converted.osim),
            "obs_names": self.envs.obs_names,
            "action_names": self.envs.action_names,
            "coordinates": self.envs.task.coordinates,
            "tracking_config": self.tracking.to_dict(),
            "ppo_config": self.cfg.to_dict(),
            "drive": self.tracking.drive,
            **self.state,
        }

    def save_last(self) -> None:
        """``last.pt``: the checkpoint plus optimizer, random generators and the copies'
        states and observations, for ``--resume``."""
        extra = {
            "optimizer": self.optimizer.state_dict(),
            "torch_generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "env_states": self.envs.snapshots(),
            "raw_obs": self.raw_obs,
            "eval_rng": self.eval_env.rng.bit_generator.state,
        }
        save_checkpoint(self.outdir / LAST_FILE, self.agent, self.norm, {**self.meta(), **extra})

    def resume(self) -> None:
        """Load ``last.pt`` into the live objects and counters; cut the log back to it."""
        conv = self.converted
        ckpt = load_checkpoint(
            self.outdir / LAST_FILE,
            conv.map["source_sha256"],
            conv.osim.path,
            model_family(conv.osim),
        )
        self.agent.load_state_dict(ckpt["agent"])
        self.norm.load_state_dict(ckpt["obs_norm"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.generator.set_state(ckpt["torch_generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        if "env_states" in ckpt:
            self.envs.restore(ckpt["env_states"])
            self.raw_obs = ckpt["raw_obs"]
        else:  # a last.pt from before the copies' states were saved: fresh resets
            self.envs.set_rng_states(ckpt["env_rng"])
        self.eval_env.rng.bit_generator.state = ckpt["eval_rng"]
        self.state = {k: ckpt.get(k, self.state[k]) for k in self.state}
        _truncate_log(self.outdir, self.state["iteration"])

    def evaluate(self) -> dict:
        """Deterministic whole-trial tracking of the motions as given (with ``eval_noisy`` their
        noisy copies too; other copies are trained on, not evaluated), on the model, the bodies of
        ``eval_bodies``, and on the model from each of ``eval_later_starts`` (mean error and
        tracked fraction, falls summed); ``eval_score`` (deg) adds 90° x untracked fraction."""
        from policies.runner import evaluate_runs

        runs = [(env, 0.0) for env in (self.eval_env, *self.body_envs)]
        runs += [(self.eval_env, s) for s in self.cfg.eval_later_starts]
        # over the stepping workers' cores, idle meanwhile
        results = evaluate_runs(runs, self.agent, self.norm, self.evaluated, self.processes)
        result = {k: float(np.mean([r[k] for r in results])) for k in results[0]}
        result["eval_falls"] = sum(r["eval_falls"] for r in results)
        if "eval_reserve_peak_Nm" in result:
            result["eval_reserve_peak_Nm"] = max(r["eval_reserve_peak_Nm"] for r in results)
        untracked = 1.0 - result["eval_fraction_tracked"]
        return {**result, "eval_score": result["eval_tracking_error_deg"] + 90.0 * untracked}


# a fine-tune's card: the policy it began from, with that policy's training to then
WARM_START_CARD = {"policy": "source", "steps": "global_step", "cpu_time_s": "cpu_time",
                   "setting_changes": "setting_changes"}  # fmt: skip
PPO_CHANGEABLE = ("eval_every", "eval_bodies", "eval_later_starts", "eval_noisy", "learning_rate")
"""PPO settings a resumed run may change: how it evaluates (policy.pt is chosen by it) and its
learning rate (annealed over each call's budget, so a resumed run starts again from it)."""
REWARD_PREFIXES = ("w_", "k_")
"""TrackingConfig settings that only weigh or scale a reward term (any may change on resume)."""
KEEP_SCORES = ("eval_every", "learning_rate", "first_frame_share")
"""Changes after which earlier evaluations still compare (policy.pt is not chosen afresh): the
evaluation runs every trial whole from its first row whatever the training's start frames.
Reward weights and scales (``w_*``/``k_*``) keep them too: the evaluation measures tracking and
falls, never the reward (:func:`keeps_scores`)."""


def keeps_scores(changes: dict | None) -> bool:
    """Whether earlier evaluations still compare after ``changes`` (see :data:`KEEP_SCORES`)."""
    return all(k in KEEP_SCORES or k.startswith(REWARD_PREFIXES) for k in changes or ())


def _differs(value, saved) -> bool:
    """Whether a setting's new ``value`` differs from its ``saved`` one (tuples as lists)."""
    return (list(value) if isinstance(value, tuple) else value) != (
        list(saved) if isinstance(saved, tuple) else saved
    )


CHANGEABLE_ON_RESUME = (
    "muscle_effort", "muscle_reachable", "muscle_map_steps", "failure_weight",
    "first_frame_share", "max_root_error", "max_pose_error", "max_root_angle", "scale_every",
    "scale_lengths", "scale_mass_kg", "seat_friction",
)  # fmt: skip
"""Settings a resumed run may change (besides every reward weight and scale, ``w_*``/``k_*``):
they change what is rewarded, where episodes start, how actions become forces or which random
bodies it meets (the ranges of a run on random bodies; not turning them on or off), never what
the policy observes or how many actions it gives."""


def changed_settings(saved: TrackingConfig, changes: dict) -> dict:
    """The ``changes`` that differ from ``saved`` (repeating the run's own settings is no
    change); changing a setting a resumed run keeps raises KintwinError naming it."""
    saved_values = saved.to_dict()
    resolved = TrackingConfig.from_dict({**saved_values, **changes}).to_dict()
    changed = {k: resolved[k] for k in changes if resolved[k] != saved_values[k]}
    fixed = [
        k for k in changed
        if k not in CHANGEABLE_ON_RESUME and not k.startswith(REWARD_PREFIXES)
        or k.startswith("scale_") and None in (saved_values[k], resolved[k])
    ]  # fmt: skip
    if fixed:
        raise KintwinError(
            f"--set {', '.join(fixed)}: a resumed run keeps it (it changes what the policy "
            "observes or does); start a new run with --warm-start instead"
        )
    return changed


def _seed_all(seed: int) -> torch.Generator:
    """Seed torch's global generator (action sampling); the minibatch generator to return."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _describe(motion: str) -> dict:
    """A training motion as a colleague can find it: file name and SHA-256 (None for a label
    that is not a file; a copy ``<file>#mirrored`` names the file it comes from)."""
    path = Path(motion.split(COPY, 1)[0])
    return {"file": Path(motion).name, "sha256": file_sha256(path) if path.is_file() else None}


def _check_same_motions(outdir: Path, motions: list[dict]) -> None:
    """A resumed run trains on the motions it began with (its card's, by name and SHA-256, in
    order, copies included): raise KintwinError naming the first difference."""
    card = outdir / CARD_FILE
    if not card.is_file():
        return
    saved = json.loads(card.read_text())
    names, digests = saved.get("training_motions", []), saved.get("training_motions_sha256", [])
    before = list(zip(names, digests, strict=True))
    now = [(m["file"], m["sha256"]) for m in motions]
    if before == now:
        return
    changed = next((i for i, (a, b) in enumerate(zip(before, now, strict=False)) if a != b), None)
    if changed is None:
        what = f"{len(before)} motions, now {len(now)}"
    else:
        what = f"motion {changed + 1} was {before[changed][0]}, now {now[changed][0]}"
        if before[changed][0] == now[changed][0]:
            what += " with other contents"
    raise KintwinError(f"{outdir}: a resumed run trains on the motions it began with ({what})")


def _open_session(
    converted, trajectories, motions, outdir, tracking, cfg, resume, init=None, workers=1,
    loads=None, bc=None, changes=None,
) -> _Session:  # fmt: skip
    from policies.augment import evaluated_motions
    from policies.body_randomization import uniform_bodies, with_body_reference
    from policies.env import TrackingEnv
    from policies.parallel import make_vector_env
    from policies.reference import applied_fits, prepare_motions

    outdir = Path(outdir)
    described = [_describe(m) for m in motions]  # files hashed once: the card's and the check's
    if resume:
        sha, name = converted.map["source_sha256"], converted.osim.path
        old = load_checkpoint(outdir / LAST_FILE, sha, name, model_family(converted.osim))
        _check_same_motions(outdir, described)
        drive = (tracking or TrackingConfig()).drive
        tracking = TrackingConfig.from_saved(old["tracking_config"])
        if tracking.drive != drive:
            raise KintwinError(
                f"{outdir / LAST_FILE}: the run drives the model by {tracking.drive}, not {drive}"
            )
        changes = dict(changes or {})
        saved = PPOConfig(**old["ppo_config"]).to_dict()
        evaluation = {k: changes.pop(k) for k in PPO_CHANGEABLE if k in changes}
        cfg = PPOConfig(**{**saved, **evaluation})
        changes = changed_settings(tracking, changes)
        tracking = TrackingConfig.from_dict({**tracking.to_dict(), **changes})
        changes.update({k: v for k, v in evaluation.items() if _differs(v, saved[k])})
    tracking, cfg = tracking or TrackingConfig(), cfg or PPOConfig()
    trajectories, tracking, root_fits = prepare_motions(converted, trajectories, tracking)
    if tracking.scale_lengths is not None:  # random subjects: observed against this body
        tracking = with_body_reference(converted, tracking)
    outdir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.torch_threads)
    generator = _seed_all(cfg.seed)
    envs = make_vector_env(
        converted, trajectories, tracking, cfg.num_envs, cfg.seed, workers, loads
    )
    eval_env = TrackingEnv(None, None, tracking, cfg.seed - 1, envs.task, envs.references)
    body_envs = [  # --eval-bodies
        TrackingEnv(None, None, references.config, cfg.seed - 1, body_task, references)
        for body_task, references in uniform_bodies(
            converted, trajectories, tracking, cfg.eval_bodies, envs.task, loads, envs.references
        )
    ]
    agent = Agent(len(envs.obs_names), len(envs.action_names), cfg.hidden, cfg.init_log_std)
    optimizer = torch.optim.Adam(agent.parameters(), lr=cfg.learning_rate, eps=1e-5)
    state = {
        "global_step": 0,
        "iteration": 0,
        "best_error": float("inf"),
        "policy_eval": None,  # iteration, steps, times and score of policy.pt
        "wall_time": 0.0,
        "cpu_time": 0.0,
        "last_eval": None,  # the latest evaluation's log keys, repeated until the next one
        "behaviour_cloning": None,  # policies.warm_start's result, when the run began with it
        "warm_start": None,  # WARM_START_CARD of the policy a fine-tune began from
        "setting_changes": [],  # {iteration, global_step, settings} of each resume that changed any
    }
    session = _Session(
        converted, described, outdir, tracking, cfg, envs, eval_env,
        agent, RunningNorm(len(envs.obs_names)), optimizer, generator, state,
        evaluated=evaluated_motions([str(m) for m in motions], cfg.eval_noisy),
        body_envs=body_envs, root_fits=applied_fits([m["file"] for m in described], root_fits),
        processes=workers,
    )  # fmt: skip
    if resume:
        session.resume()
        if changes:
            session.state["setting_changes"] = [
                *session.state["setting_changes"],
                {"iteration": session.state["iteration"],
                 "global_step": session.state["global_step"], "settings": changes},
            ]  # fmt: skip
        if not keeps_scores(changes):  # older scores measured otherwise: afresh
            session.state["best_error"] = float("inf")
    elif init is not None:  # fine-tuning: start from another run's weights and normaliser
        names = (init.get("obs_names"), init.get("action_names"))
        if None not in names and names != (envs.obs_names, envs.action_names):
            from policies.muscle import warm_start  # e.g. a torque policy starting a muscle one

            init = warm_start(init, envs.obs_names, envs.action_names)
        agent.load_state_dict(init["agent"])
        session.norm.load_state_dict(init["obs_norm"])
        state["warm_start"] = {k: init.get(j) for k, j in WARM_START_CARD.items()}
    if bc and not resume:
        from policies.warm_start import BCConfig, behaviour_clone, cloning_targets

        bc_cfg = BCConfig(seed=cfg.seed)
        targets = [cloning_targets(eval_env, *entry[:3], bc_cfg, entry[3]) for entry in bc]
        state["behaviour_cloning"] = behaviour_clone(agent, session.norm, eval_env, targets, bc_cfg)
    return session


# ------------------------------------------------------------------------------ the loop


def _run(s: _Session, max_steps, max_seconds, on_iteration) -> dict:
    """The training loop of an open session; returns the final card."""
    if s.raw_obs is None:
        s.raw_obs = s.envs.reset()
    start, wall_start, row = time.time(), s.state["wall_time"], {}

    def clock() -> float:
        return wall_start + time.time() - start

    while not (max_steps is not None and s.state["global_step"] >= max_steps) and not (
        max_seconds is not None and time.time() - start >= max_seconds
    ):
        if s.cfg.anneal_lr:
            done = _budget_used(s.state["global_step"], max_steps, time.time() - start, max_seconds)
            s.optimizer.param_groups[0]["lr"] = s.cfg.learning_rate * max(0.05, 1.0 - done)
        row = _iterate(s, clock)
        if on_iteration is not None:
            on_iteration(row)
    if row:
        s.save_last()
    else:  # nothing left to do (a resumed run at its budget): the card keeps its last row
        row = _last_logged_row(s.outdir)
    return _write_card(s, row)


def _cpu_seconds(envs) -> float:
    """CPU time used so far by this process, its stepping workers and its ended children (the
    forked copies sharing an evaluation)."""
    times = os.times()
    return (
        time.process_time()
        + envs.worker_cpu_seconds()
        + times.children_user
        + times.children_system
    )


def _iterate(s: _Session, clock: Callable[[], float]) -> dict:
    """One PPO iteration, its evaluation, log row and checkpoints (the row is logged first, so
    a checkpoint's iteration is always in the log)."""
    t0, cpu0 = time.time(), _cpu_seconds(s.envs)
    exp, s.raw_obs = collect_rollout(
        s.envs, s.agent, s.norm, s.raw_obs, s.cfg, s.state["iteration"]
    )
    with torch.no_grad():
        next_value = s.agent.value(exp.next_obs)
    advantages, returns = compute_gae(
        exp.rewards, exp.values, exp.dones, next_value, exp.next_done,
        s.cfg.gamma, s.cfg.gae_lambda,
    )  # fmt: skip
    warmup = s.state["iteration"] < s.cfg.critic_warmup
    losses = ppo_update(s.agent, s.optimizer, exp, advantages, returns, s.cfg, s.generator, warmup)
    n = s.cfg.num_envs * s.cfg.num_steps
    s.state["global_step"] += n
    s.state["iteration"] += 1
    speed = n / (time.time() - t0)
    evaluation = None
    fresh = s.state["iteration"] % s.cfg.eval_every == 1 or s.cfg.eval_every == 1
    fresh = fresh or s.state["best_error"] == float("inf")  # none under these settings yet
    if fresh:
        evaluation = s.evaluate()
    elif s.state["last_eval"] is not None:
        evaluation = s.state["last_eval"]
    s.state["wall_time"] = clock()
    s.state["cpu_time"] += _cpu_seconds(s.envs) - cpu0
    row = {
        "iteration": s.state["iteration"],
        "global_step": s.state["global_step"],
        "wall_time": s.state["wall_time"],
        "cpu_time": s.state["cpu_time"],
        "steps_per_s": speed,
        **exp.episode_stats,
        **losses,
        **(evaluation or _NO_EVAL),
    }
    s.state["last_eval"] = _eval_part(row) if evaluation is not None else None
    _log(s.outdir, row)
    if fresh:
        score = evaluation["eval_score"]
        s.state["best_error"] = min(s.state["best_error"], score)
        if score <= s.state["best_error"] + s.cfg.keep_within_deg:
            s.state["policy_eval"] = {k: row[k] for k in _POLICY_KEYS}
            save_checkpoint(s.outdir / POLICY_FILE, s.agent, s.norm, s.meta())
    if s.state["iteration"] % s.cfg.checkpoint_every == 0:
        s.save_last()
        _write_card(s, row)
    return row


_NO_EVAL = {
    "eval_tracking_error_deg": float("nan"),
    "eval_falls": -1,
    "eval_fraction_tracked": float("nan"),
    "eval_score": float("nan"),
}


_POLICY_KEYS = ("iteration", "global_step", "wall_time", "cpu_time", "eval_score")


def _eval_part(row: dict) -> dict:
    """The evaluation's columns of a log row (the drive may add some to ``_NO_EVAL``'s)."""
    return {k: row[k] for k in row if k.startswith("eval_")}


def _budget_used(
    steps: int, max_steps: int | None, seconds: float, max_seconds: float | None
) -> float:
    """Fraction (0..1) of the step or time budget used, whichever is further along."""
    used = 0.0
    if max_steps:
        used = max(used, steps / max_steps)
    if max_seconds:
        used = max(used, seconds / max_seconds)
    return min(1.0, used)


# ------------------------------------------------------------------------------ log and card


def _log(outdir: Path, row: dict) -> None:
    """Append ``row`` to ``log.jsonl`` and ``log.csv`` (header first)."""
    with open(outdir / "log.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    path = outdir / "log.csv"
    new = not path.exists()
    fields = list(row)
    if not new:  # the columns the file has (a resumed run may have fewer or more keys)
        with open(path, newline="") as f:
            fields = next(csv.reader(f), fields)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(
            f, fieldnames=fields, restval="nan", extrasaction="ignore", lineterminator="\n"
        )  # the line ending _truncate_log writes: one file, one ending
        if new:
            writer.writeheader()
        writer.writerow(row)


def _last_logged_row(outdir: Path) -> dict:
    """The last row of ``log.jsonl`` ({} without one)."""
    path = outdir / "log.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return json.loads(lines[-1]) if lines else {}


def _truncate_log(outdir: Path, iterations: int) -> None:
    """Keep the first ``iterations`` complete rows of each log (one row per iteration from
    the first): a killed run may have logged past its last checkpoint, or half a row."""
    for name, header in zip(LOG_FILES, (0, 1), strict=True):
        path = outdir / name
        if not path.exists():
            continue
        lines = path.read_text().splitlines(keepends=True)[: header + iterations]
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line for line in lines if line.endswith("\n")))
        os.replace(tmp, path)


def _write_card(s: _Session, row: dict) -> dict:
    """``card.json`` of the run so far; files are named (with their SHA-256), not located."""
    meta = s.meta()
    card = {
        "model": meta["model_name"],
        "model_sha256": meta["model_sha256"],
        "coordinates": meta["coordinates"],
        "actuated": meta["action_names"],
        "drive": meta["drive"],
        **drive_card(s.envs.task),
        "training_motions": [m["file"] for m in s.motions],
        "training_motions_sha256": [m["sha256"] for m in s.motions],
        "belt_speeds_m_per_s": [ref.belt_speed for ref in s.envs.references],
        "force_plates_used": [ref.grf is not None for ref in s.envs.references],
        "root_fits": s.root_fits,  # motions whose pelvis path training fitted (kintwin id's rule)
        "steps": meta["global_step"],
        "iterations": meta["iteration"],
        "wall_time_s": meta["wall_time"],
        "cpu_time_s": meta["cpu_time"],
        "metrics": {
            "best_eval_score_deg": meta["best_error"],
            "policy_checkpoint": meta["policy_eval"],
            **{k: row.get(k) for k in ("tracking_error_deg", "reward", *_NO_EVAL)},
            **{k: v for k, v in row.items() if k.startswith("eval_")},
        },
        "behaviour_cloning": meta.get("behaviour_cloning"),
        "warm_start": meta.get("warm_start"),  # the policy a fine-tune began from, if any
        "setting_changes": meta.get("setting_changes") or [],
        "tracking_config": meta["tracking_config"],
        "ppo_config": meta["ppo_config"],
        "versions": package_versions(),
    }
    write_card(s.outdir, card)
    return card
