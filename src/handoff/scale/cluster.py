"""The Dask cluster the engine runs on: the configured scheduler, or a LocalCluster sized to this machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from handoff.errors import ExternalFailure


def _machine_memory_bytes() -> int:
    import psutil

    return int(psutil.virtual_memory().total)


def local_cluster_shape(workers: int | None, memory_limit: str | None) -> dict[str, Any]:
    """Workers, threads and the per-worker memory limit of a LocalCluster on this machine.

    One thread per worker process: features and LightGBM hold the GIL, so a second thread only waits. Without a
    limit, half the machine's memory is shared by the workers; a worker past it is paused, then restarted.
    """
    count = workers or os.cpu_count() or 1
    limit: str | int = memory_limit or _machine_memory_bytes() // 2 // count
    return {"n_workers": count, "threads_per_worker": 1, "memory_limit": limit}


@contextmanager
def dask_client(settings, *, processes: bool = True) -> Iterator[Any]:
    """A `distributed.Client` on `settings.dask.scheduler`, or on a LocalCluster that lives as long as the block.

    `processes=False` runs the LocalCluster's workers as threads of this process (tests: no process start-up).
    """
    from distributed import Client, LocalCluster

    section = settings.dask
    if section.scheduler:
        try:
            client = Client(section.scheduler, timeout="30s")
        except OSError as error:
            raise ExternalFailure(f"no Dask scheduler at {section.scheduler}: {error}") from error
        try:
            yield client
        finally:
            client.close()
        return
    shape = local_cluster_shape(section.workers, section.memory_limit)
    with (
        LocalCluster(processes=processes, dashboard_address=None, **shape) as cluster,
        Client(cluster) as client,
    ):
        yield client
