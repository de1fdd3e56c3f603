"""Every file napari-w2s writes is written atomically: all or nothing, never half a file.

A write goes to a hidden temporary name in the destination's folder (``.NAME.partial-PID``,
:func:`partial_name`) and is renamed onto the destination when it has completed; on any error
the temporary is removed and the destination is untouched (an older version stays whole). The
one naming convention lets a rerun recognise the leftovers of a killed process
(:data:`PARTIAL`, used by :mod:`napari_w2s.batch.resume`).

- :func:`atomic_path`: a temporary *path*, for writers that take a file name (tifffile,
  ``shutil.copyfile``);
- :func:`atomic_file`: an open temporary *file* (binary or text);
- :func:`write_text`: a whole text file at once;
- :func:`save_figure`: a matplotlib figure.

A failed write (full disk, read-only folder, ...) is a :class:`~napari_w2s.errors.W2SInputError`
naming the destination (:func:`write_error`), its ``OSError`` kept as the cause.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ..errors import W2SInputError

#: the name of a temporary (group 1: the name it will have, group 2: the writer's process id)
PARTIAL = re.compile(r"^\.(.+)\.partial-(\d+)$")


def partial_name(path: str | Path) -> Path:
    """The temporary that ``path`` is written through: ``.NAME.partial-PID`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial-{os.getpid()}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path`` by name; renamed onto ``path`` when the block ends
    without error, removed otherwise. A failed write raises :func:`write_error`."""
    path = Path(path)
    tmp = partial_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        raise write_error(path, err)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_file(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """An open file to write ``path`` through (``mode`` ``"wb"`` or ``"w"``, text in UTF-8); see
    :func:`atomic_path`. The file is closed before it is renamed."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_file writes a new file: mode 'wb' or 'w', not {mode!r}")
    with atomic_path(path) as tmp:
        text = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}  # written as given
        with open(tmp, mode, **text) as fh:
            yield fh


def write_text(path: str | Path, text: str) -> Path:
    """Write the text file ``path`` atomically; returns ``path``."""
    with atomic_file(path, "w") as fh:
        fh.write(text)
    return Path(path)


def save_figure(fig: Any, path: str | Path, **kwargs: Any) -> Path:
    """Save a matplotlib figure to ``path`` atomically (the format from its suffix)."""
    path = Path(path)
    kwargs.setdefault("format", path.suffix.lstrip(".").lower() or "png")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **kwargs)
    return path


def write_error(path: str | Path, err: OSError) -> W2SInputError:
    """The one-line error of a failed write of ``path``, caused by an :class:`OSError` with an
    errno (so that a batch recognises a full disk and stops).

    NumPy's ``tofile`` (under tifffile and ``np.save``) reports a short write as
    ``OSError("16384 requested and 11208 written")`` with no errno: the disk filled up during
    the write (or a quota was reached), so it is reported as ``ENOSPC``.
    """
    if not err.errno and " requested and " in str(err) and str(err).endswith(" written"):
        err = OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (the write stopped short: {err})")
    error = W2SInputError(f"{path}: could not write ({err.strerror or err})")
    error.__cause__ = err
    return error
