"""Scene jobs on all local cores: blocks on worker processes forked from the job, one thread each.

Two threads in one process are an unreliable way to use two cores on the machines this was
measured on (the tracker's tiles on threads gained 1.4 to 1.7 times one thread, the network's
NumPy work around its forward passes less), while two processes reliably give twice one. So the
blocks of a scene job (the tracker prior's blocks, the network's blocks) can run on ``processes``
worker processes instead. The workers are *forked* from the calling process once everything they
need is in memory (images held as arrays, the network, the prior), so nothing is pickled to start
them and they start in milliseconds; each block's result comes back to the parent (or, for
in-memory jobs, is written into memory shared with it). Results are those of the single-process
run: a block computes the same thing wherever it runs (tests check equality).

Forking a process whose thread pools have run (torch's OpenMP pool, OpenCV's) is only safe if
the child never uses those pools: `run_in_processes` therefore switches both libraries, and the
strip threads of `sarflow.scene.coarse`, to one thread before it forks, and restores them when the
workers are gone. Where fork is not available (Windows, and macOS, where forking a process that
has started threads is unsafe) jobs run in the calling process (`fork_available`).

A worker that dies (killed, out of memory) fails the job with a `SarflowError`; a block that
raises fails it with that error. Nothing is written by the workers themselves except into the
shared output arrays of in-memory jobs.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

import numpy as np

from sarflow.errors import InputError, SarflowError

__all__ = ["fork_available", "local_cores", "resolve_processes", "single_threaded", "run_in_processes",
           "shared_array"]

# What the forked workers run: set by `run_in_processes` just before it forks, so that the
# children inherit it instead of receiving it pickled.
_TASK: tuple[Callable, object] | None = None


def fork_available() -> bool:
    """Whether worker processes can be forked here (Linux and other Unixes but macOS)."""
    return "fork" in multiprocessing.get_all_start_methods() and sys.platform != "darwin"


def local_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve_processes(processes: int | None) -> int:
    """Worker processes for a local job: ``processes`` if given (>= 1), else every local core; 1 where
    fork is not available (the job then runs in the calling process)."""
    if processes is not None:
        if isinstance(processes, bool) or not isinstance(processes, int) or processes < 0:
            raise InputError(f"processes must be a whole number >= 0 (0: every core), got {processes!r}")
    wanted = local_cores() if not processes else processes
    return wanted if fork_available() else 1


@contextmanager
def single_threaded():
    """torch, OpenCV and the strip threads of `sarflow.scene.coarse` on one thread, restored on exit."""
    import cv2
    import torch

    from sarflow.scene import coarse

    saved = torch.get_num_threads(), cv2.getNumThreads(), coarse.STRIP_THREADS
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    coarse.STRIP_THREADS = 1
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        cv2.setNumThreads(saved[1])
        coarse.STRIP_THREADS = saved[2]


def _run(index: int):
    function, state = _TASK
    return function(state, index)


def _start_worker() -> None:
    from sarflow.simulation.workers import keep_freed_memory

    keep_freed_memory()  # block-sized buffers reused from block to block, not faulted in afresh


def run_in_processes(function: Callable[[object, int], object], state, indices: Iterable[int], processes: int,
                     on_result: Callable[[int, object], None]) -> None:
    """Call ``function(state, index)`` for every index on ``processes`` forked workers.

    ``on_result(index, result)`` runs in the calling process as each block finishes (in the order
    they finish). ``state`` is inherited by the workers, never pickled; results are pickled back.

    Raises
    ------
    SarflowError
        A worker died (the message says so); an exception raised by ``function`` is raised as is.
    """
    global _TASK
    indices = list(indices)
    if not indices:
        return
    if _TASK is not None:
        raise SarflowError("run_in_processes is already running in this process")
    _TASK = (function, state)
    try:
        with single_threaded():
            pool = ProcessPoolExecutor(max_workers=min(processes, len(indices)),
                                       mp_context=multiprocessing.get_context("fork"), initializer=_start_worker)
            try:
                pending = {pool.submit(_run, k): k for k in indices}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_EXCEPTION)
                    for future in done:
                        index = pending.pop(future)
                        on_result(index, future.result())
            except BrokenProcessPool as exc:
                raise SarflowError(f"a worker process died while running the job's blocks ({exc}); run "
                                   "again with --processes 1, or with a lower --max-memory") from exc
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        _TASK = None


def shared_array(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """A zero-filled array in memory shared with processes forked after it was made (an anonymous
    shared mapping): what a forked worker writes into it, the parent sees."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = mmap.mmap(-1, max(size, 1), flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    return np.frombuffer(buffer, dtype=dtype, count=int(np.prod(shape))).reshape(shape)
