"""Scene jobs on local worker processes: the numbers of one process; errors and dead workers reported."""

import os

import cv2
import numpy as np
import pytest
import torch
from scene_helpers import loud_model, small_config, small_pair, write_pair

from sarflow.errors import InputError, SarflowError
from sarflow.io import read_offsets
from sarflow.scene import coarse
from sarflow.scene.blocks import ArraySource
from sarflow.scene.coarse import CoarsePriorConfig, coarse_prior_grid
from sarflow.scene.inference import lattice_for, prepare_model
from sarflow.scene.predict import plan_block_side, predict, predict_arrays
from sarflow.scene.processes import (
    fork_available,
    local_cores,
    resolve_processes,
    run_in_processes,
    shared_array,
    single_threaded,
)

needs_fork = pytest.mark.skipif(not fork_available(), reason="worker processes are forked")


@pytest.fixture(scope="module")
def model():
    return loud_model()


def _square(state, index):
    return int(state[index]) ** 2


def _fail_on_two(state, index):
    if index == 2:
        raise ValueError(f"block {index} is bad")
    return index


def _die_on_one(state, index):
    if index == 1:
        os._exit(3)
    return index


def _write_and_tell_pid(state, index):
    state[index] = index + 0.5
    return os.getpid()


def test_processes_are_the_cores_by_default_or_the_number_given():
    forks = fork_available()
    assert resolve_processes(0) == resolve_processes(None) == (local_cores() if forks else 1)
    assert resolve_processes(3) == (3 if forks else 1)
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(InputError, match="processes"):
            resolve_processes(bad)


def test_single_threaded_sets_one_thread_and_restores_the_settings():
    before = torch.get_num_threads(), cv2.getNumThreads(), coarse.STRIP_THREADS
    with single_threaded():
        assert (torch.get_num_threads(), cv2.getNumThreads(), coarse.STRIP_THREADS) == (1, 1, 1)
    assert (torch.get_num_threads(), cv2.getNumThreads(), coarse.STRIP_THREADS) == before


@needs_fork
def test_every_block_runs_once_and_its_result_comes_back():
    got = {}
    run_in_processes(_square, np.arange(7), range(7), 2, got.__setitem__)
    assert got == {k: k * k for k in range(7)}


@needs_fork
def test_workers_write_into_memory_the_parent_reads():
    out = shared_array((5,))
    pids = {}
    run_in_processes(_write_and_tell_pid, out, range(5), 2, pids.__setitem__)
    np.testing.assert_array_equal(out, np.arange(5) + 0.5)
    assert os.getpid() not in pids.values()


@needs_fork
def test_a_failing_block_raises_its_error_and_the_thread_settings_come_back():
    before = torch.get_num_threads(), cv2.getNumThreads(), coarse.STRIP_THREADS
    with pytest.raises(ValueError, match="block 2 is bad"):
        run_in_processes(_fail_on_two, None, range(5), 2, lambda index, result: None)
    assert (torch.get_num_threads(), cv2.getNumThreads(), coarse.STRIP_THREADS) == before


@needs_fork
def test_a_dead_worker_fails_the_job_with_a_clear_error():
    with pytest.raises(SarflowError, match="worker process died"):
        run_in_processes(_die_on_one, None, range(4), 2, lambda index, result: None)


def _counting_runs(monkeypatch):
    """Count the calls of `run_in_processes` (the forked route was taken, not the in-process one)."""
    from sarflow.scene import processes

    calls = []
    real = processes.run_in_processes

    def counted(*args, **kwargs):
        calls.append(args[3])  # processes
        return real(*args, **kwargs)

    monkeypatch.setattr(processes, "run_in_processes", counted)
    return calls


@needs_fork
def test_prior_blocks_on_two_processes_give_the_grid_of_one(monkeypatch):
    calls = _counting_runs(monkeypatch)
    ref, sec = small_pair((160, 176), seed=5, amplitude_px=2.0)
    ref[20:50, 30:70] = np.nan  # a hole: gaps, spreads and filling take part
    config = CoarsePriorConfig(search_radius=8, step=8, chip_size=16, block_size=64)
    one = coarse_prior_grid(ArraySource(ref), ArraySource(sec), config=config)
    seen = []
    two = coarse_prior_grid(ArraySource(ref), ArraySource(sec), config=config, processes=2,
                            progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (9, 9)  # 3 x 3 blocks, every one reported
    assert calls == [2]  # on the workers, not in this process
    for name in ("dx", "dy", "sigma", "spread_dx", "spread_dy"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))


@needs_fork
def test_in_memory_pair_on_two_processes_gives_what_one_gives(model):
    ref, sec = small_pair((160, 176), seed=6)
    options = dict(config=small_config(), prior="always", search_radius=8)
    one = predict_arrays(model, ref, sec, **options)
    seen = []
    two = predict_arrays(model, ref, sec, processes=2, progress=lambda done, total: seen.append((done, total)),
                         **options)
    # Every tile reported; the scene was cut into blocks, so tiles on the cuts count twice.
    assert seen[-1][0] == seen[-1][1] > lattice_for(prepare_model(model, small_config()), ref.shape,
                                                    small_config()).count
    for name in ("dx", "dy", "sigma_dx", "sigma_dy"):
        np.testing.assert_array_equal(np.isnan(one[name]), np.isnan(two[name]))
        # Workers run the network on one thread, this process on all cores: float round-off only.
        assert float(np.nanmax(np.abs(one[name] - two[name]))) < 1e-5


@needs_fork
def test_file_job_on_two_processes_writes_the_product_of_one(tmp_path, model):
    paths = write_pair(tmp_path, *small_pair((128, 144), seed=8))
    options = dict(model=model, config=small_config(), prior="always", search_radius=8)
    single = predict(*paths, tmp_path / "single.tif", processes=1, **options)
    spread = predict(*paths, tmp_path / "spread.tif", processes=2, **options)
    assert single.blocks == 1 and spread.blocks >= 2  # a scene of one memory block is cut for the workers
    a, b = read_offsets(tmp_path / "single.tif"), read_offsets(tmp_path / "spread.tif")
    np.testing.assert_array_equal(np.isnan(a.dx), np.isnan(b.dx))
    assert float(np.nanmax(np.abs(a.dx - b.dx))) < 1e-5
    assert float(np.nanmax(np.abs(a.quality["sigma_dy"] - b.quality["sigma_dy"]))) < 1e-5


def test_small_scenes_stay_in_one_process_by_default(tmp_path, model):
    paths = write_pair(tmp_path, *small_pair((128, 144), seed=8))
    summary = predict(*paths, tmp_path / "out.tif", model=model, config=small_config(), prior="none")
    assert summary.blocks == 1


def test_workers_share_the_memory_budget(model):
    config = small_config()
    net = prepare_model(model, config)
    lattice = lattice_for(net, (4096, 4096), config)
    budget = 2 << 30
    one = plan_block_side(net, lattice, config, budget, margin=0)
    two = plan_block_side(net, lattice, config, budget, margin=0, processes=2)
    assert two < one


def test_a_prior_block_needs_the_tracker_bytes_of_its_window():
    from sarflow.scene.coarse import prior_block_bytes
    from sarflow.scene.track_blocks import TRACK_BYTES_PER_PIXEL
    from sarflow.training.synthetic import PRIOR_BLOCK, prior_config

    config = prior_config(16)  # margin: half the 128 px chip plus the 16 px search, plus two 8 px steps
    assert prior_block_bytes((20000, 30000), config) == TRACK_BYTES_PER_PIXEL * (PRIOR_BLOCK + 2 * 96) ** 2
    assert prior_block_bytes((500, 700), config) == TRACK_BYTES_PER_PIXEL * 500 * 700  # the whole scene
