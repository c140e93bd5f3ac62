"""Scene jobs on Dask: the same numbers as one process, and a lost worker does not lose the job."""

import os
import signal

import numpy as np
import pytest
from scene_helpers import loud_model, small_config, small_pair, write_pair

pytest.importorskip("distributed")

from sarflow.io import read_offsets  # noqa: E402
from sarflow.scene.blocks import ArraySource, split_blocks  # noqa: E402
from sarflow.scene.dask import block_tasks, offsets_array, open_client, run_blocks  # noqa: E402
from sarflow.scene.inference import lattice_for, log_statistics, prepare_model  # noqa: E402
from sarflow.scene.predict import BlockJob, compute_block, predict  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return loud_model()


@pytest.fixture(scope="module")
def cluster():
    client, local = open_client(workers=2)
    yield client
    client.close()
    local.close()


@pytest.fixture(scope="module")
def job(model):
    ref, sec = small_pair()
    config = small_config()
    net = prepare_model(model, config)
    lattice = lattice_for(net, ref.shape, config)
    return BlockJob(ArraySource(ref), ArraySource(sec), lattice, tuple(split_blocks(ref.shape, 48, 48)),
                    log_statistics(ref, sec), None, config, ("dx", "dy", "sigma_dx", "sigma_dy"))


def gather(model, job, client, **compute):
    futures = client.compute(block_tasks(model, job, range(len(job.blocks))), **compute)
    return [f.result() for f in futures]


def test_cluster_job_equals_the_single_process_job(tmp_path, model, cluster):
    paths = write_pair(tmp_path, *small_pair((128, 144), seed=8))
    options = dict(model=model, config=small_config(), prior="always", search_radius=8, block_pixels=48)
    single = predict(*paths, tmp_path / "single.tif", processes=1, **options)
    # As `--scheduler ADDRESS` does: a client of its own on an existing cluster.
    spread = predict(*paths, tmp_path / "dask.tif", scheduler=cluster.scheduler.address, **options)
    assert single.blocks == spread.blocks == 9 and spread.prior_used
    a, b = read_offsets(tmp_path / "single.tif"), read_offsets(tmp_path / "dask.tif")
    np.testing.assert_array_equal(np.isnan(a.dx), np.isnan(b.dx))
    # Tasks run the network on one thread, this process on all cores: float round-off only.
    assert float(np.nanmax(np.abs(a.dx - b.dx))) < 1e-5
    assert float(np.nanmax(np.abs(a.quality["sigma_dy"] - b.quality["sigma_dy"]))) < 1e-5


def test_a_scene_of_one_memory_block_is_cut_for_the_workers(tmp_path, model, cluster):
    paths = write_pair(tmp_path, *small_pair((128, 144), seed=8))
    options = dict(model=model, config=small_config(), prior="none")
    single = predict(*paths, tmp_path / "single.tif", processes=1, **options)
    spread = predict(*paths, tmp_path / "dask.tif", client=cluster, **options)
    assert single.blocks == 1 and spread.blocks >= 2  # two workers: both get a block
    a, b = read_offsets(tmp_path / "single.tif"), read_offsets(tmp_path / "dask.tif")
    assert float(np.nanmax(np.abs(a.dx - b.dx))) < 1e-5


def test_one_worker_gives_what_two_give_bit_for_bit(model, job, cluster):
    one = sorted(cluster.scheduler_info()["workers"])[0]
    both = gather(model, job, cluster)
    alone = gather(model, job, cluster, workers=[one], allow_other_workers=False)
    for x, y in zip(both, alone):
        np.testing.assert_array_equal(x, y)


def test_lazy_array_on_the_synchronous_scheduler(model, job):
    array = offsets_array(model, job)
    assert array.shape == (4, *job.lattice.shape) and array.numblocks == (1, 4, 4)
    values = array[:, 40:100, 30:60].compute(scheduler="synchronous")
    net = prepare_model(model, job.config)
    block = compute_block(net, job, 5)  # rows 48:96, columns 48:96
    np.testing.assert_allclose(values[:, 8:56, 18:30], block[:, :, :12], atol=1e-5)


def test_a_killed_worker_does_not_lose_the_job(model, job, cluster):
    reference = gather(model, job, cluster)
    pids = cluster.run(os.getpid)
    saved, killed = {}, []

    def save(index, bands):
        saved[index] = bands
        if not killed:  # the first block is in: kill a worker while the others run
            address = sorted(pids)[index % 2]
            os.kill(pids[address], signal.SIGKILL)
            killed.append(address)

    run_blocks(model, job, range(len(job.blocks)), save, client=cluster)
    assert killed and sorted(saved) == list(range(len(job.blocks)))
    for k, bands in enumerate(reference):
        np.testing.assert_array_equal(saved[k], bands)


@pytest.mark.parametrize("address, message", [
    ("tcp://127.0.0.1:1", "cannot reach the Dask scheduler at tcp://127.0.0.1:1"),
    ("tcp://127.0.0.1", "is not a scheduler address"),
    ("tcp://127.0.0.1:notaport", "is not a scheduler address"),
])
def test_unreachable_scheduler_is_refused_at_once(address, message):
    import time

    from sarflow.errors import InputError
    from sarflow.scene.dask import open_client

    start = time.perf_counter()
    with pytest.raises(InputError, match=message):
        open_client(scheduler=address)
    assert time.perf_counter() - start < 10  # not the client's 30 s wait
