"""One shared thread pool for numpy work that releases the GIL (sums, random draws)."""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor


def n_threads() -> int:
    """Worker threads: the cores available to this process, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


@functools.cache
def thread_pool() -> ThreadPoolExecutor:
    """The process-wide pool (created on first use)."""
    return ThreadPoolExecutor(n_threads(), thread_name_prefix="napari-w2s")
