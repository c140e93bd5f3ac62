"""Scene jobs as Dask graphs: one task per block, on any scheduler, a laptop or a cluster.

Each block of a `sarflow.scene.predict.BlockJob` is an independent task: it reads its own windows
of the inputs (workers must see the input paths), runs the network over the block's tiles and
returns the block's bands. The network travels as its configuration and weights (`ModelSpec`,
one graph key, so each worker receives it once) and is built once per worker process.

`run_blocks` drives the tasks on a ``distributed`` cluster and hands each finished block to the
job's journal as it arrives, so the client holds one block at a time, a worker that dies only
costs its running task (the scheduler reruns it elsewhere), and a killed client resumes from the
journal. `offsets_array` exposes the same graph as a lazy dask array for any scheduler (threads,
processes, distributed) and any writer (e.g. Zarr).

A cluster of your own::

    dask scheduler --host 10.0.0.1 --port 8786                  # on one machine
    dask worker tcp://10.0.0.1:8786 --nworkers 8 --nthreads 1   # on each worker machine
    sarflow predict ref.tif sec.tif -o out.tif --scheduler tcp://10.0.0.1:8786
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sarflow.errors import InputError
from sarflow.models import MODEL_ATTRIBUTES

__all__ = ["ModelSpec", "open_client", "block_tasks", "run_blocks", "offsets_array", "task_slots", "TASK_THREADS"]

#: Torch threads per task: one, so a worker with n threads runs n blocks side by side, and results
#: do not depend on how many workers there are.
TASK_THREADS = 1


@dataclass(frozen=True)
class ModelSpec:
    """A network as plain data: ``{"name": ..., **kwargs}`` plus float32 weights, and their digest."""

    config: dict
    state: dict
    digest: str
    attributes: dict = field(default_factory=dict)

    @classmethod
    def from_model(cls, model) -> ModelSpec:
        from sarflow.scene.predict import model_digest

        if not hasattr(model, "to_config"):
            raise InputError("Dask runs need a sarflow.nn network (one with to_config())")
        state = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
        # What sarflow.models.load_model adds beside the weights (route and sigma calibration).
        attributes = {name: getattr(model, name) for name in MODEL_ATTRIBUTES if hasattr(model, name)}
        return cls(model.to_config(), state, model_digest(model), attributes)

    def build(self, config):
        """The network, built once per process (later calls return the same one), prepared for ``config``."""
        model = _MODELS.get(self.digest)
        if model is None:
            import torch

            from sarflow.nn import model_from_config
            from sarflow.scene.inference import prepare_model

            model = model_from_config(self.config)
            model.load_state_dict({k: torch.from_numpy(v) for k, v in self.state.items()})
            for name, value in self.attributes.items():
                setattr(model, name, value)
            model = prepare_model(model, config)
            _MODELS[self.digest] = model
        return model


_MODELS: dict = {}


def _block_task(spec: ModelSpec, job, index: int) -> np.ndarray:
    """Run on a worker: block ``index`` of ``job``."""
    import torch

    from sarflow.scene.predict import compute_block

    from sarflow.simulation.workers import configure_worker

    torch.set_num_threads(TASK_THREADS)
    configure_worker()  # one OpenCV thread; freed block-sized buffers kept for the next block
    return compute_block(spec.build(job.config), job, index)


def block_tasks(model, job, indices: Sequence[int]) -> list:
    """One ``dask.delayed`` per block (the network and the job are single shared keys)."""
    import dask
    from dask.base import tokenize

    spec = model if isinstance(model, ModelSpec) else ModelSpec.from_model(model)
    token = tokenize(spec.digest, job.lattice, job.blocks, job.statistics, repr(job.reference), repr(job.secondary),
                     None if job.prior is None else job.prior.to_arrays(), job.config, job.bands)
    spec_key = dask.delayed(spec, name=f"sarflow-model-{spec.digest[:16]}", traverse=False)
    job_key = dask.delayed(job, name=f"sarflow-job-{token}", traverse=False)
    return [dask.delayed(_block_task, pure=True)(spec_key, job_key, k, dask_key_name=f"sarflow-block-{token}-{k}")
            for k in indices]


def offsets_array(model, job):
    """The job's bands as a lazy dask array ``(len(job.bands), H, W)`` float32, one chunk per block.

    Any scheduler computes it; e.g. ``offsets_array(net, job).to_zarr("out.zarr")``.
    """
    import dask.array as da

    tasks = block_tasks(model, job, range(len(job.blocks)))
    rows: dict[int, list] = {}
    for task, block in zip(tasks, job.blocks):
        rows.setdefault(block.row0, []).append(
            da.from_delayed(task, shape=(len(job.bands), *block.shape), dtype=np.float32))
    return da.block([[chunk for chunk in rows[r]] for r in sorted(rows)])


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Refuse at once a ``tcp://HOST:PORT`` scheduler address nothing listens on (the client would wait 30 s).

    Other protocols (``tls://``, ``ucx://``, ``inproc://``) are left to the client.
    """
    import socket
    from urllib.parse import urlsplit

    if "://" not in address:
        address = f"tcp://{address}"
    parts = urlsplit(address)
    if parts.scheme != "tcp":
        return
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise InputError(f"{address!r} is not a scheduler address (expected tcp://HOST:PORT)") from exc
    if not host or port is None:
        raise InputError(f"{address!r} is not a scheduler address (expected tcp://HOST:PORT)")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address} ({exc.strerror or exc}); start one with "
                         "`dask scheduler` and workers with `dask worker ADDRESS`") from exc


def open_client(*, workers: int = 0, scheduler: str | None = None):
    """A ``distributed`` client: of the scheduler at ``scheduler``, or of a new local cluster.

    The local cluster has ``workers`` worker processes of one thread each, listening on the
    loopback interface only, without a dashboard.

    Returns
    -------
    (client, cluster)
        ``cluster`` is None for an existing scheduler; close both when done.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - the dask extra is part of the dev install
        raise InputError("Dask runs need the 'dask' extra: pip install 'sarflow[dask]'") from exc
    if scheduler:
        _check_reachable(scheduler)
        try:
            return Client(scheduler, timeout="30s"), None
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); start one with "
                             "`dask scheduler` and workers with `dask worker ADDRESS`") from exc
    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=40)
    return Client(cluster), cluster


def run_blocks(model, job, indices: Sequence[int], save: Callable[[int, np.ndarray], None], *, client=None,
               workers: int = 0, scheduler: str | None = None, retries: int = 2,
               progress: Callable[[int], None] | None = None) -> None:
    """Compute blocks ``indices`` of ``job`` on a Dask cluster, handing each to ``save(index, bands)`` as it ends.

    Parameters
    ----------
    client : distributed.Client, optional
        Used as is; otherwise one is opened (``workers`` local processes, or ``scheduler``) and
        closed at the end.
    retries : int
        Reruns of a task that raised (a task whose worker died is rerun by the scheduler anyway).
    progress : callable ``(index)``, optional
        Called after each saved block.
    """
    if not indices:
        return
    from distributed import as_completed

    own = client is None
    cluster = None
    if own:
        client, cluster = open_client(workers=workers, scheduler=scheduler)
    try:
        tasks = block_tasks(model, job, indices)
        index_of = {task.key: k for task, k in zip(tasks, indices)}
        futures = client.compute(tasks, retries=retries)
        for future in as_completed(futures):
            k = index_of[future.key]
            save(k, future.result())
            future.release()
            if progress is not None:
                progress(k)
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()


def task_slots(client) -> int:
    """Block tasks the cluster runs at once: its workers' threads together (at least 1)."""
    try:
        return max(1, int(sum(client.nthreads().values())))
    except (OSError, TimeoutError, AttributeError, TypeError, ValueError):  # a client that cannot say
        return 1


def worker_pids(client) -> dict[str, int]:
    """Process ids of the cluster's workers, by address (for monitoring and fault tests)."""
    return client.run(os.getpid)
