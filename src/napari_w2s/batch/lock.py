"""One batch at a time writes into an output folder: ``OUT_DIR/.w2s-batch.lock``."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from ..errors import W2SInputError
from .resume import pid_alive

LOCK_NAME = ".w2s-batch.lock"
LOCK_FRESH_S = 10.0  # an empty lock younger than this is being written: held


class _Lock:
    """``OUT_DIR/.w2s-batch.lock``: one batch at a time writes into a folder.

    The lock appears with its content ("PID HOST"): it is written to a temporary file first and
    hard-linked to the lock name, which fails if the name exists. (Created empty with
    ``O_EXCL`` and then written, a second batch could read it in between, find no process and
    take it over.) Where hard links are not supported, it falls back to ``O_EXCL``, and an
    empty lock younger than :data:`LOCK_FRESH_S` counts as held.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self.held = False

    def _create(self, me: str) -> bool:
        """Create the lock holding ``me``; False if it exists already."""
        tmp = self.path.with_name(f"{LOCK_NAME}-{threading.get_ident()}.partial-{os.getpid()}")
        tmp.write_text(me)
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as fh:
                fh.write(me)
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def acquire(self) -> None:
        """Take the lock, or raise :class:`W2SInputError` saying which batch holds it."""
        me = f"{os.getpid()} {socket.gethostname()}"
        for _ in range(2):
            if self._create(me):
                self.held = True
                return
            try:
                text = self.path.read_text()
                age = time.time() - self.path.stat().st_mtime
            except OSError:  # removed meanwhile: try again
                continue
            if not text.strip() and age < LOCK_FRESH_S:  # being written by a starting batch
                raise W2SInputError(
                    f"{self.path.parent}: another w2s batch is starting to write into this "
                    "folder; wait for it or choose another output folder"
                )
            pid_text, _, host = text.partition(" ")
            try:
                pid = int(pid_text)
            except ValueError:
                pid, host = -1, ""
            host = host.strip()
            if host not in ("", socket.gethostname()):  # its liveness cannot be checked
                raise W2SInputError(
                    f"{self.path.parent}: a w2s batch on {host} (process {pid}) writes into "
                    f"this folder; if it is over, delete {self.path.name} and run again"
                )
            if pid != os.getpid() and pid_alive(pid):
                raise W2SInputError(
                    f"{self.path.parent}: another w2s batch (process {pid}) is writing into "
                    "this folder; wait for it or choose another output folder"
                )
            self.path.unlink(missing_ok=True)  # stale (or ours): take it over
        raise W2SInputError(f"{self.path}: cannot take the batch lock")

    def release(self) -> None:
        """Remove the lock if this object holds it."""
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
