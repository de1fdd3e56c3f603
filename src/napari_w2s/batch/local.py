"""Files restored at once on this machine: a pool of threads (numpy, scikit-image and torch
release the GIL), with tile-by-tile progress and a cancel between tiles."""

from __future__ import annotations

import errno
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from .job import DISK_FULL, process_file


def _task(
    i: int,
    src: str,
    out: str,
    kwargs: dict,
    events: queue.Queue,
    cancel: threading.Event,
    disk_full: threading.Event,
) -> dict:
    if cancel.is_set():
        return {"status": "cancelled", "message": "cancelled"}
    if disk_full.is_set():
        return {"status": "failed", "message": DISK_FULL}
    events.put(("event", {"event": "file", "index": i, "path": src}))

    def progress(rec: dict) -> None:
        events.put(("event", {"event": "tile", "index": i, **rec}))

    rec = process_file(src, out, progress=progress, cancel=cancel, **kwargs)
    if rec.get("errno") == errno.ENOSPC:
        disk_full.set()  # every later write would fail too
    return rec


class LocalRunner:
    """``workers`` threads, started with the first file.

    A task puts ``("event", {"event": "file" | "tile", ...})`` on the batch's queue as it starts
    and between tiles; :meth:`stop` makes the running ones end at their next tile.
    """

    address = None  # the report's "scheduler"
    announces_files = True  # a task says itself when it starts

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: ThreadPoolExecutor | None = None
        self._cancel = threading.Event()
        self._disk_full = threading.Event()

    def submit(self, i: int, src: str, out: str, kwargs: dict, events: queue.Queue) -> Future:
        """Start restoring file ``i`` (``kwargs``: :func:`process_file`'s options)."""
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="w2s-batch")
        args = (i, src, out, kwargs, events, self._cancel, self._disk_full)
        return self.pool.submit(_task, *args)

    def cancel(self, futures: list[Future]) -> None:
        """Cancel the files not started yet (a full disk)."""
        for f in futures:
            f.cancel()

    def stop(self, futures: list[Future]) -> None:
        """The batch ends early: the running files stop at their next tile."""
        self._cancel.set()

    def close(self) -> None:
        """Wait for the running files; drop those not started."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
