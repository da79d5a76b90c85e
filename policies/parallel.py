"""The copies of a :class:`~policies.env.VectorEnv` spread over worker processes (one per core).

Each worker owns a contiguous block of the copies, seeded exactly as the single-process
``VectorEnv`` seeds them, so the results do not depend on the number of workers. The main process
keeps the task model and references (for names and evaluation) and talks to the workers over
pipes. Workers are forked, so the converted model is shared, not pickled.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from policies.env import TrackingConfig, TrackingEnv, VectorEnv, task_and_references
from policies.rollout import SamplingPolicy, Segment

__all__ = ["ProcessVectorEnv", "make_vector_env", "fork_map"]

_ORPHAN_CHECK_S = 1.0  # s: an idle worker checks this often whether its trainer still lives


def _worker(
    pipe, converted, trajectories, config, num_envs: int, seed: int, loads, parent: int
) -> None:
    """Serve one block of copies until told to close, or until the process ``parent`` that
    started it is gone (killed: nobody will ask again, and no worker is left behind)."""
    envs = VectorEnv(converted, trajectories, config, num_envs, seed, loads)
    while True:
        if not pipe.poll(_ORPHAN_CHECK_S):
            if os.getppid() != parent:
                return
            continue
        try:
            command, payload = pipe.recv()
        except EOFError:
            return
        if command == "rollout":
            pipe.send(envs.rollout(*payload))
        elif command == "step":
            pipe.send(envs.step(payload))
        elif command == "reset":
            pipe.send(envs.reset())
        elif command == "cpu":
            pipe.send(time.process_time())
        elif command == "get_rng":
            pipe.send(envs.rng_states())
        elif command == "snapshots":
            pipe.send(envs.snapshots())
        elif command == "restore":
            envs.restore(payload)
            pipe.send(None)
        elif command == "set_rng":
            envs.set_rng_states(payload)
            pipe.send(None)
        else:  # close
            pipe.close()
            return


def _blocks(num_envs: int, workers: int) -> list[tuple[int, int]]:
    """Contiguous (start, stop) index blocks, as even as possible."""
    bounds = np.linspace(0, num_envs, workers + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


class ProcessVectorEnv:
    """Same interface as :class:`VectorEnv` (``reset``, ``step``, names, task, references, RNG
    states, snapshots), with the copies stepped in ``workers`` processes."""

    def __init__(
        self,
        converted,
        trajectories: list,
        config: TrackingConfig | None = None,
        num_envs: int = 8,
        seed: int = 0,
        workers: int = 2,
        loads: list | None = None,
    ) -> None:
        self.config = config or TrackingConfig()
        self.task, self.references = task_and_references(
            converted, trajectories, self.config, loads
        )
        names = TrackingEnv(None, None, self.config, seed, self.task, self.references)
        self._obs_names, self._action_names = names.obs_names, names.action_names
        self.num_envs = num_envs
        context = mp.get_context("fork")
        self._pipes, self._processes = [], []
        self._blocks = _blocks(num_envs, workers)
        for start, stop in self._blocks:
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_worker,
                args=(
                    theirs,
                    converted,
                    trajectories,
                    self.config,
                    stop - start,
                    seed + start,
                    loads,
                    os.getpid(),
                ),  # fmt: skip
                daemon=True,
            )
            process.start()
            theirs.close()
            self._pipes.append(ours)
            self._processes.append(process)

    @property
    def obs_names(self) -> list[str]:
        return self._obs_names

    @property
    def action_names(self) -> list[str]:
        return self._action_names

    def reset(self) -> np.ndarray:
        for pipe in self._pipes:
            pipe.send(("reset", None))
        return np.concatenate([pipe.recv() for pipe in self._pipes])

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        for pipe, (start, stop) in zip(self._pipes, self._blocks, strict=True):
            pipe.send(("step", actions[start:stop]))
        parts = [pipe.recv() for pipe in self._pipes]
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(len(parts[0])))

    def rollout(self, policy: SamplingPolicy, raw_obs: np.ndarray, steps: int) -> Segment:
        """As :meth:`policies.env.VectorEnv.rollout`, each worker its block of copies: they
        meet only at the end, not at every step."""
        for pipe, (start, stop) in zip(self._pipes, self._blocks, strict=True):
            pipe.send(("rollout", (policy, raw_obs[start:stop], steps)))
        return Segment.concatenate([pipe.recv() for pipe in self._pipes])

    def rng_states(self) -> list[dict]:
        for pipe in self._pipes:
            pipe.send(("get_rng", None))
        return [state for pipe in self._pipes for state in pipe.recv()]

    def set_rng_states(self, states: list[dict]) -> None:
        for pipe, (start, stop) in zip(self._pipes, self._blocks, strict=True):
            pipe.send(("set_rng", states[start:stop]))
        for pipe in self._pipes:
            pipe.recv()

    def snapshots(self) -> list[dict]:
        """Every copy's :meth:`~policies.env.TrackingEnv.snapshot`, in copy order."""
        for pipe in self._pipes:
            pipe.send(("snapshots", None))
        return [snapshot for pipe in self._pipes for snapshot in pipe.recv()]

    def restore(self, snapshots: list[dict]) -> None:
        for pipe, (start, stop) in zip(self._pipes, self._blocks, strict=True):
            pipe.send(("restore", snapshots[start:stop]))
        for pipe in self._pipes:
            pipe.recv()

    def worker_cpu_seconds(self) -> float:
        """Total CPU time the workers have used so far."""
        for pipe in self._pipes:
            pipe.send(("cpu", None))
        return float(sum(pipe.recv() for pipe in self._pipes))

    def close(self) -> None:
        for pipe, process in zip(self._pipes, self._processes, strict=True):
            try:
                pipe.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
        self._pipes, self._processes = [], []

    def __del__(self) -> None:
        self.close()


def make_vector_env(
    converted, trajectories, config, num_envs: int, seed: int, workers: int, loads=None
):
    """A :class:`ProcessVectorEnv` for more than one worker, else an in-process VectorEnv."""
    workers = max(1, min(workers, num_envs))
    if workers == 1:
        return VectorEnv(converted, trajectories, config, num_envs, seed, loads)
    return ProcessVectorEnv(converted, trajectories, config, num_envs, seed, workers, loads)


def fork_map(function: Callable[[Any], Any], items: Sequence, processes: int) -> list:
    """``[function(x) for x in items]``, the items dealt out in turn to ``processes`` processes:
    this one and ``processes - 1`` forked copies of it (which share its state as it is now, so
    ``function`` may be a closure over live objects; only the results travel, pickled). An
    error in any of them is raised here. Used by evaluation while the stepping workers idle."""
    processes = max(1, min(processes, len(items)))
    if processes == 1:
        return [function(x) for x in items]
    context = mp.get_context("fork")
    children, finished = [], False
    try:
        for k in range(1, processes):
            ours, theirs = context.Pipe()
            share = items[k::processes]
            child = context.Process(target=_map_share, args=(theirs, function, share), daemon=True)
            child.start()
            theirs.close()
            children.append((child, ours))
        mine = [function(x) for x in items[0::processes]]
        shares = [mine]
        for child, pipe in children:
            try:
                ok, value = pipe.recv()
            except EOFError:  # it ended without a word: killed, out of memory, crashed
                child.join()
                raise RuntimeError(
                    f"a forked copy (pid {child.pid}) ended without a result "
                    f"(exit code {child.exitcode})"
                ) from None
            if not ok:
                raise value
            shares.append(value)
        finished = True
    finally:  # after an error the other copies' work is wasted: stop them
        for child, pipe in children:
            pipe.close()
            if not finished:
                child.terminate()
            child.join()
    results = [None] * len(items)
    for k, share in enumerate(shares):
        results[k::processes] = share
    return results


def _map_share(pipe, function: Callable[[Any], Any], share: Sequence) -> None:
    """A forked copy's part of :func:`fork_map`: its results, or the error that stopped it."""
    try:
        pipe.send((True, [function(x) for x in share]))
    except BaseException as error:  # noqa: BLE001 - every failure goes back to be raised there
        try:
            pickle.loads(pickle.dumps(error))  # some errors pickle but cannot be rebuilt
            pipe.send((False, error))
        except Exception:  # noqa: BLE001 - an error that cannot travel: its text
            pipe.send((False, RuntimeError(f"{type(error).__name__}: {error}")))
    finally:
        pipe.close()
