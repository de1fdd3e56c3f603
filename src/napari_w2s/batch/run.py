"""The batch itself: :func:`iter_batch` (events for the CLI and the widget, returns the report)
and :func:`run_batch` (to the end, for scripts).

It checks the arguments before any file is touched, takes the folder's lock, then hands the
files to one runner (:class:`~napari_w2s.batch.local.LocalRunner` or
:class:`~napari_w2s.batch.cluster.DaskRunner`, the same interface) and turns their records into
events and the report.
"""

from __future__ import annotations

import errno
import queue
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, Protocol

from ..errors import W2SInputError
from ..io.folders import check_output_dir
from .inputs import plan
from .job import DISK_FULL, validate_method
from .lock import _Lock
from .report import REPORT_NAME, BatchReport, FileResult, now, result_event
from .resume import cleanup_stale, skip_done

REPORT_INTERVAL_S = 0.2  # the report is rewritten after a file ends, at most this often


class Runner(Protocol):
    """Where the files are restored: :class:`~napari_w2s.batch.local.LocalRunner` or
    :class:`~napari_w2s.batch.cluster.DaskRunner`."""

    address: str | None  # the report's "scheduler"
    announces_files: bool  # its tasks put their own "file" event on the queue when they start

    def submit(self, i: int, src: str, out: str, kwargs: dict, events: queue.Queue) -> Any:
        """Start file ``i``; a future whose result is :func:`~napari_w2s.batch.job.process_file`'s record."""

    def cancel(self, futures: list) -> None:
        """Cancel the files not started yet (a full disk)."""

    def stop(self, futures: list) -> None:
        """The batch ends early (a cancel, an error): stop what can be stopped."""

    def close(self) -> None:
        """Release the threads or the client."""


def _options(
    workers: int, tile: int | None, noise_level: str | None
) -> tuple[int, int | None, str | None]:
    """``workers``, ``tile`` and ``noise_level`` checked and in their final form."""
    from ..averaging import noise_level_option

    workers = int(workers)
    if workers < 1:
        raise W2SInputError(f"--workers must be at least 1, got {workers}")
    if tile is not None:
        tile = int(tile)
    return workers, tile, noise_level_option(noise_level)


def _threads(threads: Any, remote: bool, workers: int) -> Any:
    """``threads`` checked; ``auto`` measured now for local runs (shared among the workers),
    left to each worker of a cluster."""
    from ..restore.threads import parse_threads, resolve_threads

    threads = parse_threads(threads)
    if threads == "auto" and not remote:
        threads = resolve_threads("auto", share=workers)
    return threads


def _runner(scheduler: Any, workers: int) -> Runner:
    """The files' runner: on the Dask cluster of ``scheduler``, else in local threads."""
    if scheduler is None:
        from .local import LocalRunner

        return LocalRunner(workers)
    from .cluster import DaskRunner

    return DaskRunner(scheduler)


def _record(fut: Any, disk_full: bool) -> dict:
    """The record of a finished (or cancelled) file."""
    if disk_full:
        stopped = {"status": "failed", "message": DISK_FULL}
    else:
        stopped = {"status": "cancelled", "message": "cancelled"}
    if fut.cancelled():
        return stopped
    try:
        return fut.result()
    except BaseException as err:  # a task that died on a cluster worker, ...
        if type(err).__name__ == "CancelledError":
            return stopped
        return {"status": "failed", "message": f"the task failed ({type(err).__name__}: {err})"}


def iter_batch(
    input_dir: str | Path,
    pattern: str = "*",
    output_dir: str | Path | None = None,
    method: str | None = None,
    device: str = "auto",
    tile: int | None = None,
    *,
    recursive: bool = False,
    workers: int = 1,
    scheduler: str | Any | None = None,
    overwrite: bool = False,
    weights: str | None = None,
    noise_level: str | None = None,
    threads: int | str | None = None,
    precision: str = "auto",
    orientations: int = 1,
) -> Generator[dict, None, BatchReport]:
    """Restore every matching file of a folder; a generator of events returning the report.

    Parameters
    ----------
    input_dir, pattern, output_dir, method
        As ``w2s batch IN_DIR OUT_DIR --method M --pattern GLOB`` (see :func:`plan`).
    device, tile, weights, noise_level, threads, precision, orientations
        As ``w2s restore``. ``noise_level``: ``None`` (the noise-blind model), a level (``4`` or
        ``avg4``) or ``"auto"``: for each file, the level chosen from its first plane's
        signal-to-noise ratio, as ``w2s restore --noise-level auto``
        (:func:`napari_w2s.averaging.noise_level_option`). ``threads="auto"`` shares the cores
        free now among the local ``workers``; on a cluster each worker measures its own machine.
    recursive : bool
        Also match in sub-folders; outputs keep the relative sub-folder.
    workers : int
        Files restored at once on this machine (threads; numpy, scikit-image and torch release
        the GIL).
    scheduler : str or distributed.Client, optional
        A Dask scheduler address (``tcp://host:8786``) or a client: every file is a task on
        that cluster (the paths must be visible to the workers). Needs ``distributed``.
    overwrite : bool
        Restore again files whose output exists (replaced atomically).

    Yields
    ------
    dict
        ``{"event": "start", "files": [...], "n_files", "skipped", "todo", "cleaned",
        "report", "notes"}`` (``notes``: options given that have no effect); per file
        ``{"event": "file", "index", "path"}`` when it starts,
        ``{"event": "tile", "index", "plane", "planes", "done", "total"}`` between tiles (local
        runs), ``{"event": "result", "index", "path", "status", "message", "out", "seconds",
        "completed", "n_files"}`` when it ends.

    Returns
    -------
    BatchReport
        Also in ``OUT_DIR/batch_report.json``. Closing the generator (a cancel) stops at the
        next tile; finished files are kept and the report says ``"state": "cancelled"``.

    Raises
    ------
    W2SInputError
        Bad arguments, before any file is processed.
    """
    t_start = time.perf_counter()
    workers, tile, noise_level = _options(workers, tile, noise_level)
    items = plan(input_dir, pattern, output_dir, method, recursive=recursive)
    method = str(method).strip().lower()
    remote = scheduler is not None
    threads = _threads(threads, remote, workers)
    from ..restore.device import parse_precision
    from ..restore.orientations import parse_orientations

    precision = parse_precision(precision)
    orientations = parse_orientations(orientations)
    notes = validate_method(
        method,
        device,
        tile,
        weights,
        noise_level,
        remote,
        None if remote else threads,
        precision,
        orientations,
    )
    runner = _runner(scheduler, workers)
    try:
        out_dir = check_output_dir(output_dir)
        lock = _Lock(out_dir)
        lock.acquire()
    except BaseException:
        runner.close()
        raise
    report = BatchReport(
        method,
        str(Path(input_dir).resolve()),
        str(out_dir.resolve()),
        (pattern or "*").strip() or "*",
        items,
        recursive=recursive,
        overwrite=overwrite,
        workers=workers,
        scheduler=runner.address,
        started=now(),
        report=str(out_dir / REPORT_NAME),
    )
    events: queue.Queue = queue.Queue()
    futures: dict[Any, int] = {}
    finished_normally = False
    try:
        report.cleaned = len(cleanup_stale(out_dir, recursive=recursive))
        todo = skip_done(items, overwrite)
        try:
            report.write()
        except OSError as err:
            raise W2SInputError(
                f"{report.report}: cannot write the report ({err.strerror or err})"
            ) from None
        n = len(items)
        yield {
            "event": "start",
            "files": [f.path for f in items],
            "n_files": n,
            "skipped": report.counts()["skipped"],
            "todo": len(todo),
            "cleaned": report.cleaned,
            "report": report.report,
            "notes": notes,
        }
        completed = 0
        for i, item in enumerate(items):
            if item.status != "pending":
                completed += 1
                yield {"event": "file", "index": i, "path": item.path}
                yield result_event(i, item, completed, n)

        kwargs = {
            "method": method,
            "device": device,
            "tile": tile,
            "weights": weights,
            "noise_level": noise_level,
            "overwrite": overwrite,
            "threads": threads,
            "precision": precision,
            "orientations": orientations,
        }
        for i in todo:
            fut = runner.submit(i, items[i].path, items[i].out, kwargs, events)
            futures[fut] = i
            fut.add_done_callback(lambda f: events.put(("done", f)))
            if not runner.announces_files:
                yield {"event": "file", "index": i, "path": items[i].path}
        yield from _results(items, futures, events, runner, report, completed)
        finished_normally = True
    finally:
        if not finished_normally:
            runner.stop(list(futures))
        runner.close()
        report.close(finished_normally, time.perf_counter() - t_start)
        lock.release()
    return report


def _results(
    items: list[FileResult],
    futures: dict[Any, int],
    events: queue.Queue,
    runner: Runner,
    report: BatchReport,
    completed: int,
) -> Generator[dict, None, None]:
    """The runner's events as they come, and a ``result`` event as each file ends; on a full
    disk the files not started are cancelled (every later write would fail too)."""
    n = len(items)
    remaining = len(futures)
    disk_full = False
    last_write = time.monotonic()
    while remaining:
        kind, payload = events.get()
        if kind == "event":
            yield payload
            continue
        i = futures[payload]
        remaining -= 1
        rec = _record(payload, disk_full)
        items[i].update(rec)
        if rec.get("errno") == errno.ENOSPC and not disk_full:
            disk_full = True
            runner.cancel(list(futures))
        completed += 1
        now_s = time.monotonic()
        if now_s - last_write >= REPORT_INTERVAL_S or remaining == 0:
            try:  # at most a few times a second: the cost grows with the number of files
                report.write()
                last_write = now_s
            except OSError:
                pass  # e.g. a full disk: the final write tries again
        yield result_event(i, items[i], completed, n)


def run_batch(
    input_dir: str | Path,
    pattern: str = "*",
    output_dir: str | Path | None = None,
    method: str | None = None,
    device: str = "auto",
    tile: int | None = None,
    *,
    on_event: Callable[[dict], None] | None = None,
    **options: Any,
) -> BatchReport:
    """:func:`iter_batch` run to the end, for scripts; ``on_event`` sees every event.

    >>> report = run_batch("raw", "*.tif", "restored", "bicubic", workers=2)  # doctest: +SKIP
    >>> report.counts()  # doctest: +SKIP
    {'done': 12, 'skipped': 0, 'failed': 1, 'pending': 0}
    """
    from ..progress import drain

    gen = iter_batch(input_dir, pattern, output_dir, method, device, tile, **options)
    return drain(gen, on_event)
