"""Running the same batch again completes it: the temporaries of a killed run are removed and the
files whose output exists are skipped (unless ``overwrite``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..io.atomic import PARTIAL
from ..io.folders import PROBE_PREFIX
from .report import FileResult

# temporaries: every atomic write's ".NAME.partial-PID" (io/atomic.py), the lock's
_STALE = PARTIAL
ALREADY_DONE = "already done (the output exists)"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (one of another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def cleanup_stale(output_dir: str | Path, recursive: bool = False) -> list[Path]:
    """Remove temporaries left by a killed run (``.NAME.partial-PID`` of a dead process).

    Temporaries of this process and of live processes are kept (they are being written).
    Returns the removed paths.
    """
    out = Path(output_dir)
    candidates: Iterable[Path] = out.rglob(".*") if recursive else out.glob(".*")
    removed = []
    for p in candidates:
        m = _STALE.match(p.name)
        if m is None and not p.name.startswith(PROBE_PREFIX):
            continue
        pid = int(m.group(2)) if m else int(p.name[len(PROBE_PREFIX) :].split("-")[0] or 0)
        if pid == os.getpid() or pid_alive(pid) or not p.is_file():
            continue
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def skip_done(items: list[FileResult], overwrite: bool) -> list[int]:
    """Mark ``skipped`` the pending files whose output exists (unless ``overwrite``); the
    indices of the files left to restore."""
    for item in items:
        if item.status == "pending" and Path(item.out).is_file() and not overwrite:
            item.status, item.message = "skipped", ALREADY_DONE
    return [i for i, item in enumerate(items) if item.status == "pending"]
