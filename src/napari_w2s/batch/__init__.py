"""Folder processing: every matching file restored with one method, locally or on a Dask cluster.

:func:`iter_batch` is the back end of ``w2s batch`` and of the Batch dock widget, a generator of
per-file events returning a :class:`BatchReport`; :func:`run_batch` runs it to the end for
scripts. For each input ``IN_DIR/sub/cell01.tif`` it writes ``OUT_DIR/sub/cell01_METHOD.ome.tif``
(``+`` in the method becomes ``_``; the sub-folder only with ``recursive=True``), float32 in the
input's units, with the pixel size (halved for x2 methods) and a provenance record.

Guarantees (docs/batch.md):

* inputs are only read; an output exists under its final name only when it is complete (it is
  written to a hidden ``.NAME.partial-PID`` and renamed, :func:`napari_w2s.io.write_ome_tiff`);
* a file whose output exists is skipped unless ``overwrite=True``, so re-running the same
  command after a crash, a cancel or a failure completes the rest;
* stale temporaries of a killed run are removed at the start of the next one;
* a file that cannot be read or restored is reported (status ``failed`` with one sentence) and
  the others go on;
* ``OUT_DIR/batch_report.json`` lists every file with its status, time and message; it is
  written atomically at the start and after every file, so a killed run leaves a valid report;
* stacks are processed lazily, plane by plane (a dask array whose chunks are restored planes,
  written plane by plane), so a stack larger than memory is fine; a single plane is tiled by
  the engine.

Bad arguments (a missing input folder, no matching file, an unusable output folder, an unknown
method, missing weights, a bad noise level, a Dask scheduler that cannot be reached) raise
:class:`~napari_w2s.errors.W2SInputError` before any file is touched.

The modules, in the order a batch uses them:

* :mod:`.inputs`: which files, and the output name of each (:func:`plan`, :func:`output_name`);
* :mod:`.folder`, :mod:`.lock`: the output folder checked writable, one batch at a time in it;
* :mod:`.resume`: stale temporaries removed, done files skipped;
* :mod:`.job`: one file restored (:func:`process_file`), the unit of work everywhere;
* :mod:`.streaming`: a stack restored and written plane by plane (:func:`restore_lazy`);
* :mod:`.local`, :mod:`.cluster`: the two runners (threads here, tasks on a Dask cluster);
* :mod:`.report`: :class:`BatchReport`, its summary and ``batch_report.json``;
* :mod:`.run`: :func:`iter_batch` and :func:`run_batch`, which tie them together.

Importing this package loads neither torch nor dask (they load when a file is restored).
"""

from __future__ import annotations

from ..io.folders import check_output_dir
from .inputs import INPUT_SUFFIXES, output_name, plan
from .job import process_file
from .lock import LOCK_NAME
from .lock import _Lock as _Lock  # the tests take the lock by hand
from .report import REPORT_NAME, REPORT_VERSION, BatchReport, FileResult
from .resume import cleanup_stale
from .run import iter_batch, run_batch
from .streaming import BatchCancelled, restore_lazy

__all__ = [
    "INPUT_SUFFIXES",
    "LOCK_NAME",
    "REPORT_NAME",
    "REPORT_VERSION",
    "BatchCancelled",
    "BatchReport",
    "FileResult",
    "check_output_dir",
    "cleanup_stale",
    "iter_batch",
    "output_name",
    "plan",
    "process_file",
    "restore_lazy",
    "run_batch",
]
