"""The unit of work of a batch: :func:`process_file` restores one file into its output, locally or
as a task on a Dask worker, and never raises for a problem with the file."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import W2SInputError
from .resume import ALREADY_DONE
from .streaming import BatchCancelled, PlaneByPlane, restore_lazy

DISK_FULL = "not processed: the output disk is full"  # a file not started after ENOSPC

_PIPELINES: dict[tuple, Any] = {}
_PIPELINES_LOCK = threading.Lock()


def validate_method(
    method: str,
    device: str,
    tile: int | None,
    weights: str | None,
    noise_level: str | None,
    remote: bool,
    threads: Any = None,
    precision: str = "auto",
    orientations: int = 1,
) -> list[str]:
    """Unknown methods, missing weights and devices fail here, once, before any file.
    Returns the notes on options without effect."""
    from ..restore.engine import resolve

    # ``auto`` is chosen per file; the weights checked here are those of an undecided level
    level = None if noise_level == "auto" else noise_level
    # on a cluster the workers choose (and check) the device themselves
    return resolve(
        method,
        device="cpu" if remote else device,
        tile=tile,
        weights=weights,
        noise_level=level,
        threads=threads,
        precision="auto" if remote else precision,  # the workers' CPUs or GPUs decide
        orientations=orientations,
    ).option_notes


def noise_level_for(method: str, noise_level: str | None, data: Any) -> str | None:
    """The noise level to restore ``data`` with: ``noise_level`` itself, or for ``auto`` the
    per-level model's level chosen from the first plane's signal-to-noise ratio
    (:func:`napari_w2s.restore.zoo.auto_level`, as ``w2s restore --noise-level auto``), else
    ``None`` (the noise-blind model)."""
    if noise_level != "auto":
        return noise_level
    from ..restore.zoo import auto_level

    first = np.asarray(data[(0,) * (len(data.shape) - 2)], dtype=np.float64)
    return auto_level(method, first)


def _pipeline(
    method: str,
    device: str,
    tile: int | None,
    weights: str | None,
    noise_level: str | None,
    threads: Any = None,
    precision: str = "auto",
    orientations: int = 1,
) -> Any:
    """The pipeline of a method for this thread. Model weights are loaded once per thread;
    classical pipelines (cheap, but they record the noise used) are built per file."""
    from ..restore.engine import resolve
    from ..restore.methods import is_classical

    if is_classical(method):
        return resolve(method, device=device, tile=tile, weights=weights, noise_level=noise_level)
    key = (
        threading.get_ident(),
        os.getpid(),
        method,
        device,
        tile,
        weights,
        noise_level,
        threads,
        precision,
        orientations,
    )
    with _PIPELINES_LOCK:
        pipe = _PIPELINES.get(key)
    if pipe is None:
        pipe = resolve(
            method,
            device=device,
            tile=tile,
            weights=weights,
            noise_level=noise_level,
            threads=threads,
            precision=precision,
            orientations=orientations,
        )
        with _PIPELINES_LOCK:
            _PIPELINES[key] = pipe
    return pipe


def _errno(exc: BaseException) -> int | None:
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OSError) and exc.errno:
            return exc.errno
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _write(
    src: str,
    dst: Path,
    stack: Any,
    pipeline: Any,
    progress: Callable[[dict], None] | None,
    cancel: threading.Event | None,
) -> list[int]:
    """Restore ``stack`` plane by plane into ``dst`` with its pixel size and provenance; the
    output's shape."""
    from ..geometry import upsampled_geometry
    from ..io import write_ome_tiff

    lazy = restore_lazy(pipeline, stack.data, progress, cancel)
    pixel = stack.pixel_size
    relative = pixel is None and pipeline.scale > 1
    if relative:  # no pixel size: the input's pixel is 1, so the x2 result still overlays it
        pixel = (1.0, 1.0)
    if pixel is not None and pipeline.scale > 1:
        pixel = upsampled_geometry(pixel, factor=pipeline.scale)[0]
    provenance = {
        "method": pipeline.method,
        "pipeline": pipeline.describe(),
        "source": str(Path(src).resolve()),
        "batch": True,
    }
    if relative:
        provenance["pixel_size"] = "relative to the input's pixel (the input had none)"
    stem = Path(src).name.split(".")[0]
    write_ome_tiff(
        dst,
        PlaneByPlane(lazy),
        stack.axes,
        pixel,
        provenance,
        name=f"{stem} {pipeline.method}",
    )
    return [int(v) for v in lazy.shape]


def process_file(
    src: str,
    out: str,
    method: str,
    device: str = "auto",
    tile: int | None = None,
    weights: str | None = None,
    noise_level: str | None = None,
    overwrite: bool = False,
    threads: int | str | None = None,
    precision: str = "auto",
    orientations: int = 1,
    progress: Callable[[dict], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """Restore one file into ``out`` (atomically); the unit of work, locally or as a Dask task.

    Never raises for a problem with the file: returns a record ``{"status": "done" | "skipped"
    | "failed" | "cancelled", "message", "seconds", "shape_in", "shape_out", "worker",
    "errno"}`` (and ``noise_level``, the level chosen, with ``noise_level="auto"``). Resolves its
    pipeline itself (once per thread for models), so it runs anywhere the package is installed
    and the paths are visible.
    """
    from ..io import read_stack

    t0 = time.perf_counter()
    rec: dict[str, Any] = {
        "status": "failed",
        "message": "",
        "seconds": 0.0,
        "shape_in": None,
        "shape_out": None,
        "errno": None,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }
    dst = Path(out)
    try:
        if dst.is_file() and not overwrite:
            rec.update(status="skipped", message=ALREADY_DONE)
            return rec
        dst.parent.mkdir(parents=True, exist_ok=True)
        stack = read_stack(src)
        rec["shape_in"] = list(stack.shape)
        level = noise_level_for(method, noise_level, stack.data)
        if noise_level == "auto":
            rec["noise_level"] = level or "blind"
        pipeline = _pipeline(method, device, tile, weights, level, threads, precision, orientations)
        if min(stack.shape[-2:]) < 8:
            raise W2SInputError(
                f"the image ({stack.shape[-2]} x {stack.shape[-1]} pixels) is too small to "
                "restore (at least 8 x 8)"
            )
        shape_out = _write(src, dst, stack, pipeline, progress, cancel)
        notes = "".join(f"; note: {n}" for n in pipeline.image_notes)  # e.g. blank planes
        message = f"{tuple(stack.shape)} -> {tuple(shape_out)}{notes}"
        rec.update(status="done", shape_out=shape_out, message=message)
    except BatchCancelled:
        rec.update(status="cancelled", message="cancelled")
    except W2SInputError as err:
        rec.update(status="failed", message=str(err), errno=_errno(err))
    except MemoryError:
        rec.update(status="failed", message="out of memory; use --tile to restore smaller tiles")
    except OSError as err:
        message = f"{err.filename or src}: {err.strerror or err}"
        rec.update(status="failed", errno=err.errno, message=message)
    except Exception as err:  # a bug: report it on this file and go on with the others
        message = f"internal error ({type(err).__name__}: {err}); please report it"
        rec.update(status="failed", message=message)
    for prefix in (f"{src}: ", f"{Path(src).resolve()}: "):  # the report says which file
        rec["message"] = rec["message"].removeprefix(prefix)
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    return rec
