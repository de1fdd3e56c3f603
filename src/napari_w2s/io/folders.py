"""The one output-folder policy: a folder is created if needed and proved writable (a hidden
probe file, created and removed) before any file is written in it: ``w2s restore``, ``w2s
batch``, ``w2s demo``, ``w2s train``, ``w2s finetune`` and the benchmarks. Files are then
written atomically (:mod:`.atomic`)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ..errors import W2SInputError

PROBE_PREFIX = ".w2s-probe-"  # the hidden file that proves a folder writable (then removed)


def _probe_write(folder: Path) -> None:
    """Create and remove a hidden file in ``folder`` (``os.access`` is wrong for root and ACLs)."""
    probe = folder / f"{PROBE_PREFIX}{os.getpid()}-{threading.get_ident()}"
    fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)
    os.unlink(probe)


def check_output_dir(output_dir: str | Path) -> Path:
    """Create the output folder if needed and check that files can be written in it."""
    out = Path(output_dir).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise W2SInputError(f"{out}: the output path is a file, not a folder") from None
    except OSError as err:
        raise W2SInputError(
            f"{out}: cannot create the output folder ({err.strerror or err})"
        ) from None
    try:
        _probe_write(out)
    except OSError as err:
        raise W2SInputError(
            f"{out}: cannot write in the output folder ({err.strerror or err}); "
            "choose a writable folder"
        ) from None
    return out
