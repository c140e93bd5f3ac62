"""Set up a process that simulates pairs in parallel with others (a data-loader or pool worker).

Simulating a pair is a few tens of milliseconds of single-threaded work on arrays of a few MB. Run
one process per core and call `configure_worker` first in each, e.g.
``DataLoader(..., worker_init_fn=configure_worker)`` or
``ProcessPoolExecutor(n, initializer=configure_worker)``. It

* stops OpenCV from starting its own thread pool in every process (cores oversubscribed);
* keeps the C library's memory allocator from handing the freed multi-MB temporaries of one pair back
  to the operating system only to fault them in again, zeroed, for the next pair: with glibc's
  default thresholds that costs about a fifth of the time of a pair in system time (page faults).
  The process keeps its peak heap (a few tens of MB) instead.

Nothing here changes the pairs themselves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import cv2

__all__ = ["configure_worker", "keep_freed_memory"]

# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Allocations below this come from the heap (reused) rather than a fresh mapping each time.
_MMAP_THRESHOLD_BYTES = 64 << 20
# Free memory at the top of the heap is returned to the system only beyond this.
_TRIM_THRESHOLD_BYTES = 512 << 20


def configure_worker(worker_id: int | None = None) -> bool:
    """Prepare the calling process to simulate pairs on one core (see the module docstring).

    Parameters
    ----------
    worker_id : int, optional
        Ignored; accepted so that the function can serve as a PyTorch ``worker_init_fn``.

    Returns
    -------
    bool
        Whether the allocator could be tuned (glibc only; elsewhere only OpenCV is set up).
    """
    cv2.setNumThreads(1)
    return keep_freed_memory()


def keep_freed_memory() -> bool:
    """Keep freed buffers of up to 64 MB in the process for reuse instead of returning them to the system.

    glibc hands large freed blocks back to the operating system and faults fresh, zeroed pages in
    for the next allocation of the same size. Work that allocates the same multi-MB temporaries
    over and over (simulated pairs, network tiles and scene blocks) then spends a large share of its
    time in the kernel: `sarflow predict` of the 4096 x 4096 pair of
    ``benchmarks/bench_predict_speed.py --write-pair`` spent 15.9 of 68.6 s in system time, 3.6 of
    61.4 s with this; on a two-process Dask cluster 2 min 12 s of system time became 16 s. The
    process keeps its peak heap instead. The command line calls it for scene jobs; a no-op (False)
    where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES))
