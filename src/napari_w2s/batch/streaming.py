"""A stack restored plane by plane, lazily: memory bounded by a few planes whatever its size.

:func:`restore_lazy` turns an array ``(..., Y, X)`` into a dask array whose chunks are restored
planes; :class:`PlaneByPlane` lets :func:`napari_w2s.io.write_ome_tiff` compute and write them
one at a time. Setting the ``cancel`` event stops the work at the next tile with
:class:`BatchCancelled`. Each plane is restored by the restore job's
:func:`napari_w2s.restore.files.restore_plane` (progress, cancel, the plane named in errors);
this module adds Dask: the planes as chunks, computed anywhere.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from ..restore.files import RestoreCancelled, restore_plane

# raised inside a file's work when the batch is cancelled (between tiles)
BatchCancelled = RestoreCancelled


def restore_lazy(
    pipeline: Any,
    data: Any,
    progress: Callable[[dict], None] | None = None,
    cancel: threading.Event | None = None,
) -> Any:
    """A lazy dask array: every 2-D plane of ``data`` restored by ``pipeline`` when computed.

    ``data`` is any array with axes ``(..., Y, X)`` (numpy, memmap or dask); nothing is read
    or restored until a plane is computed, so writing it plane by plane keeps memory bounded
    by a few planes whatever the stack's size. ``progress`` receives the engine's dicts
    (``plane``, ``planes``, ``done``, ``total``) between tiles; setting ``cancel`` stops the
    computation at the next tile with :class:`BatchCancelled`.
    """
    import dask.array as da

    lead = tuple(int(s) for s in data.shape[:-2])
    h, w = (int(s) for s in data.shape[-2:])
    plane_chunks = (1,) * len(lead) + (h, w)
    if isinstance(data, da.Array):
        arr = data if data.chunksize == plane_chunks else data.rechunk(plane_chunks)
    else:  # numpy or a memory map: each chunk reads one plane when it is computed
        # wrapped and named: dask would otherwise split (copy) a numpy array up front and hash
        # it whole to name it
        arr = da.from_array(
            ReadOnDemand(data),
            chunks=plane_chunks,
            asarray=False,
            name=f"w2s-input-{uuid.uuid4().hex}",
        )
    planes = int(np.prod(lead)) if lead else 1
    s = int(pipeline.scale)
    # one normalisation for the whole stack, fitted on a sample of its planes, so that the
    # planes stay comparable (a single plane is normalised on its own)
    affine = pipeline.fit_normalisation(data) if lead else None

    def restore_block(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        loc = (block_info or {}).get(None, {}).get("chunk-location", (0,) * arr.ndim)
        p = int(np.ravel_multi_index(loc[: len(lead)], lead)) if lead else 0
        out = restore_plane(
            pipeline,
            np.asarray(block).reshape(h, w),
            affine,
            where=(p, planes),
            index=loc[: len(lead)],
            lead=lead,
            progress=progress,
            cancel=cancel,
        )
        return out.reshape(block.shape[:-2] + out.shape)

    return arr.map_blocks(
        restore_block,
        dtype=np.float32,
        chunks=(1,) * len(lead) + (h * s, w * s),
        meta=np.empty((0,) * arr.ndim, np.float32),
        name=f"w2s-restore-{uuid.uuid4().hex}",
    )


class ReadOnDemand:
    """An array-like over a numpy array or memory map that dask reads only chunk by chunk."""

    def __init__(self, data: Any) -> None:
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.data[key])


class PlaneByPlane:
    """A dask array seen by :func:`write_ome_tiff` plane by plane, each plane computed here, in
    the calling thread (synchronously: no thread pool, no distributed client inside a task)."""

    def __init__(self, arr: Any) -> None:
        self.arr, self.shape, self.dtype, self.ndim = arr, arr.shape, arr.dtype, arr.ndim

    def __getitem__(self, index: Any) -> np.ndarray:
        return np.asarray(self.arr[index].compute(scheduler="sync"))
