"""Allocator settings for a restoring process (glibc only): no page-fault storm per image.

By default glibc serves every allocation above a threshold (128 KiB, adapting up to 32 MiB)
with a fresh ``mmap`` and gives it back on free, so each feature map of a network, tens to
hundreds of MiB, is new memory from the kernel, faulted in page by page, on every forward
pass. :func:`keep_freed_memory` makes glibc serve large blocks from its heap and keep freed
memory for the next tile instead (``mallopt(M_MMAP_MAX, 0)`` and a high
``M_TRIM_THRESHOLD``), the effect of ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...`` in the
environment. The cost: the process keeps its peak memory until it exits, so the ``w2s``
command applies it (a process that restores then ends) and napari does not.

Set ``W2S_MALLOC=default`` in the environment to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD = 1 << 30  # freed memory above this at the top of the heap goes back


def keep_freed_memory() -> bool:
    """Apply the settings to this process; True when they were applied (Linux with glibc,
    ``W2S_MALLOC`` not ``default``)."""
    if os.environ.get("W2S_MALLOC", "").strip().lower() == "default":
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
