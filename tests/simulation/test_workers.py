"""Worker set-up for parallel simulation."""

import platform
import sys

import cv2
import numpy as np

from sarflow.simulation.fields import UniformShift
from sarflow.simulation.pair import simulate_pair
from sarflow.simulation.workers import configure_worker


def test_configure_worker_sets_one_opencv_thread_and_keeps_pairs_unchanged():
    before = simulate_pair(UniformShift(0.4, -0.3), shape=(64, 64), seed=5, texture="mixed")
    threads = cv2.getNumThreads()
    try:
        tuned = configure_worker(3)  # a worker id, as a PyTorch worker_init_fn receives
        assert cv2.getNumThreads() == 1
        assert isinstance(tuned, bool)
        if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
            assert tuned
        after = simulate_pair(UniformShift(0.4, -0.3), shape=(64, 64), seed=5, texture="mixed")
    finally:
        cv2.setNumThreads(threads)
    np.testing.assert_array_equal(before.reference, after.reference)
    np.testing.assert_array_equal(before.secondary, after.secondary)


def test_keep_freed_memory_leaves_opencv_threads_alone():
    from sarflow.simulation.workers import keep_freed_memory

    threads = cv2.getNumThreads()
    tuned = keep_freed_memory()
    assert cv2.getNumThreads() == threads  # scene jobs keep OpenCV's own threads
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert tuned
