"""Every file a task on a Dask cluster (``--scheduler tcp://HOST:PORT``, or a client).

The client only submits the tasks (:func:`~napari_w2s.batch.job.process_file`, which resolves its
method on the worker) and receives one record per file; the paths must be visible to the workers
under the same names. Needs the optional ``distributed`` package.
"""

from __future__ import annotations

import os
import queue
import time
from typing import Any

from ..errors import W2SInputError
from .job import process_file

CONNECT_TIMEOUT_S = 10  # how long to try to reach a Dask scheduler


def connect(address: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``, or a :class:`W2SInputError`
    (no ``distributed``, not an address, no scheduler there)."""
    try:
        from distributed import Client
    except ImportError:
        raise W2SInputError(
            "--scheduler needs the optional distributed package: "
            "pip install 'napari-w2s[distributed]'"
        ) from None
    from distributed.comm.addressing import parse_address, parse_host_port

    try:  # before Client(): a half-built Client hangs in its __del__ (20 s, then a traceback)
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(location)
    except (ValueError, TypeError) as err:
        raise W2SInputError(
            f"--scheduler {address!r} is not a scheduler address ({err}); give tcp://HOST:PORT"
        ) from None
    try:
        return Client(address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        raise W2SInputError(
            f"cannot connect to the Dask scheduler at {address} ({type(err).__name__}: {err})"
        ) from None


class DaskRunner:
    """The files of a batch as tasks of a Dask cluster.

    ``scheduler`` is an address (connected here, and closed by :meth:`close`) or a
    ``distributed.Client`` (left open). No tile-by-tile progress comes back, only the records.
    """

    announces_files = False  # a task's start is not seen here: announced when submitted

    def __init__(self, scheduler: str | Any) -> None:
        if isinstance(scheduler, str):
            self.client, self.own_client = connect(scheduler), True
            self.address: str | None = scheduler
        else:
            self.client, self.own_client = scheduler, False
            where = getattr(getattr(scheduler, "scheduler", None), "address", None)
            self.address = where or repr(scheduler)
        self.token = f"{os.getpid()}-{time.time_ns()}"

    def submit(self, i: int, src: str, out: str, kwargs: dict, events: queue.Queue) -> Any:
        """Submit file ``i`` as a task (``kwargs``: :func:`process_file`'s options)."""
        key = f"w2s-batch-{self.token}-{i}"
        return self.client.submit(process_file, src, out, **kwargs, key=key, pure=False)

    def cancel(self, futures: list[Any]) -> None:
        """Cancel the tasks not started yet (a full disk)."""
        for f in futures:
            self.client.cancel([f])

    def stop(self, futures: list[Any]) -> None:
        """The batch ends early: cancel the tasks (running ones finish their file)."""
        if futures:
            self.client.cancel(futures)

    def close(self) -> None:
        """Close the client if it was connected here."""
        if self.own_client:
            self.client.close()
