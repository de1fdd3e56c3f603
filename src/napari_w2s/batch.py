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
method, missing weights, a Dask scheduler that cannot be reached) raise
:class:`~napari_w2s.errors.W2SInputError` before any file is touched.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import queue
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import W2SInputError

REPORT_NAME = "batch_report.json"
REPORT_VERSION = 1
LOCK_NAME = ".w2s-batch.lock"
LOCK_FRESH_S = 10.0  # an empty lock younger than this is being written: held
INPUT_SUFFIXES = (".tif", ".tiff", ".npy")
# temporaries: write_ome_tiff's ".NAME.partial-PID" and this module's report / probe files
_STALE = re.compile(r"^\..+\.partial-(\d+)$")
_PROBE_PREFIX = ".w2s-probe-"
CONNECT_TIMEOUT_S = 10  # how long to try to reach a Dask scheduler
REPORT_INTERVAL_S = 0.2  # the report is rewritten after a file ends, at most this often

__all__ = [
    "REPORT_NAME",
    "BatchCancelled",
    "BatchReport",
    "FileResult",
    "cleanup_stale",
    "iter_batch",
    "output_name",
    "plan",
    "process_file",
    "restore_lazy",
    "run_batch",
]


class BatchCancelled(Exception):
    """Raised inside a file's work when the batch is cancelled (between tiles)."""


@dataclass
class FileResult:
    """One input file of a batch and what became of it.

    ``status``: ``pending`` (not processed yet: a run that was killed or cancelled), ``done``,
    ``skipped`` (its output existed already) or ``failed`` (``message`` says why).
    """

    path: str
    out: str
    rel: str = ""
    status: str = "pending"
    message: str = ""
    seconds: float = 0.0
    shape_in: list | None = None
    shape_out: list | None = None
    worker: str | None = None


@dataclass
class BatchReport:
    """The state of a batch, as written to ``OUT_DIR/batch_report.json``."""

    method: str
    input_dir: str
    output_dir: str
    pattern: str
    files: list[FileResult] = field(default_factory=list)
    recursive: bool = False
    overwrite: bool = False
    workers: int = 1
    scheduler: str | None = None
    state: str = "running"  # running | complete | cancelled
    started: str = ""
    finished: str | None = None
    seconds: float = 0.0
    cleaned: int = 0
    report: str = ""
    report_error: str = ""  # why the final report could not be written (not in the report)

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "skipped": 0, "failed": 0, "pending": 0}
        for f in self.files:
            out[f.status] = out.get(f.status, 0) + 1
        return out

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def ok(self) -> bool:
        """Every file done or skipped."""
        return all(f.status in ("done", "skipped") for f in self.files)

    def summary(self) -> str:
        c = self.counts()
        text = (f"{self.method}: {c['done']} restored, {c['skipped']} skipped (already done), "
                f"{c['failed']} failed")  # fmt: skip
        if c["pending"]:
            text += f", {c['pending']} not processed ({self.state})"
        return f"{text}, in {self.seconds:.1f} s"

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in vars(self).items() if k not in ("files", "report", "report_error")}
        files = [dict(vars(f)) for f in self.files]
        return {"version": REPORT_VERSION, **d, "counts": self.counts(), "files": files}

    def to_json(self) -> str:
        """The report file's text: one line per key and one line per file."""
        d = self.to_dict()
        files = d.pop("files")
        head = ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in d.items())
        body = ",\n".join(f"  {json.dumps(f)}" for f in files)
        return f'{{\n{head},\n "files": [\n{body}\n ]\n}}\n'


# ------------------------------------------------------------------------------ planning
def output_name(path: str | Path, method: str) -> str:
    """``cell_01.tif`` restored by ``dncnn+rcan`` -> ``cell_01_dncnn_rcan.ome.tif``."""
    from .io.stack import _stem

    return f"{_stem(Path(path))}_{method.strip().lower().replace('+', '_')}.ome.tif"


def _is_hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def plan(
    input_dir: str | Path,
    pattern: str = "*",
    output_dir: str | Path | None = None,
    method: str | None = None,
    recursive: bool = False,
) -> list[FileResult]:
    """The files a batch would process and the output of each (no file is touched).

    ``pattern`` is a glob on file names (``*.tif``, ``cell_*``); with ``recursive`` it is
    matched in every sub-folder and the outputs keep the relative sub-folder. Hidden files,
    files that are not ``.tif``, ``.tiff`` or ``.npy``, and anything inside the output folder
    (when it lies inside the input folder) are left out. Two inputs with the same output name
    (``a.tif`` and ``a.npy``): the second is marked ``failed`` with a message; so is an input
    whose output name is taken by a folder (it is not "already done").

    Raises
    ------
    W2SInputError
        No such input folder, an output path that is a file or the input folder itself, no
        method, or no file matching.
    """
    if not method or not str(method).strip():
        raise W2SInputError("choose a method (e.g. --method bicubic; see w2s models)")
    if output_dir is None or not str(output_dir).strip():
        raise W2SInputError("choose an output folder")
    src, dst = Path(input_dir).expanduser(), Path(output_dir).expanduser()
    if not src.exists():
        raise W2SInputError(f"{src}: the input folder does not exist")
    if not src.is_dir():
        raise W2SInputError(f"{src}: the input is a file, not a folder (use w2s restore for one "
                            "file)")  # fmt: skip
    if dst.exists() and not dst.is_dir():
        raise W2SInputError(f"{dst}: the output path is a file, not a folder")
    src_r, dst_r = src.resolve(), dst.resolve()
    if dst_r == src_r:
        raise W2SInputError("the output folder must differ from the input folder (inputs are "
                            "never written over)")  # fmt: skip
    pattern = (pattern or "").strip() or "*"
    try:
        found = src.rglob(pattern) if recursive else src.glob(pattern)
        matched = [p for p in found if p.is_file()]
    except (ValueError, NotImplementedError) as err:
        raise W2SInputError(f"bad --pattern {pattern!r} ({err})") from None
    files, other = [], 0
    for p in sorted(matched):
        rel = p.relative_to(src)
        if _is_hidden(rel) or dst_r in p.resolve().parents:
            continue
        if not p.name.lower().endswith(INPUT_SUFFIXES):
            other += 1
            continue
        files.append((p, rel))
    if not files:
        where = f"{src}{' or its sub-folders' if recursive else ''}"
        extra = (f" ({other} other file(s) match, but only .tif, .tiff and .npy are read)"
                 if other else "")  # fmt: skip
        raise W2SInputError(f"no .tif, .tiff or .npy file in {where} matches {pattern!r}{extra}")
    items, taken = [], {}
    for p, rel in files:
        out = dst / rel.parent / output_name(p, method)
        item = FileResult(str(p.resolve()), str(out.resolve()), rel.as_posix())
        key = item.out
        if key in taken:
            item.status = "failed"
            item.message = (f"its output {out.name} is also the output of {taken[key]}; rename "
                            "one of them or narrow --pattern")  # fmt: skip
        elif out.exists() and not out.is_file():  # not "already done": there is no output
            item.status = "failed"
            item.message = (f"a folder (not a file) stands at its output name {out.name}; move "
                            "or rename it")  # fmt: skip
            taken[key] = rel.as_posix()
        else:
            taken[key] = rel.as_posix()
        items.append(item)
    return items


def _validate_method(method: str, device: str, tile: int | None, weights: str | None,
                     noise_level: str | None, remote: bool, threads: Any = None
                     ) -> list[str]:  # fmt: skip
    """Unknown methods, missing weights and devices fail here, once, before any file.
    Returns the notes on options without effect."""
    from .restore.engine import resolve

    # on a cluster the workers choose (and check) the device themselves
    return resolve(method, device="cpu" if remote else device, tile=tile, weights=weights,
                   noise_level=noise_level, threads=threads).option_notes  # fmt: skip


def _probe_write(folder: Path) -> None:
    """Create and remove a hidden file in ``folder`` (``os.access`` is wrong for root and ACLs)."""
    probe = folder / f"{_PROBE_PREFIX}{os.getpid()}-{threading.get_ident()}"
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
        raise W2SInputError(f"{out}: cannot create the output folder "
                            f"({err.strerror or err})") from None  # fmt: skip
    try:
        _probe_write(out)
    except OSError as err:
        raise W2SInputError(f"{out}: cannot write in the output folder ({err.strerror or err}); "
                            "choose a writable folder") from None  # fmt: skip
    return out


def _pid_alive(pid: int) -> bool:
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
        if m is None and not p.name.startswith(_PROBE_PREFIX):
            continue
        pid = int(m.group(1)) if m else int(p.name[len(_PROBE_PREFIX):].split("-")[0] or 0)
        if pid == os.getpid() or _pid_alive(pid) or not p.is_file():
            continue
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


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
            if pid != os.getpid() and _pid_alive(pid):
                raise W2SInputError(
                    f"{self.path.parent}: another w2s batch (process {pid}) is writing into "
                    "this folder; wait for it or choose another output folder"
                )
            self.path.unlink(missing_ok=True)  # stale (or ours): take it over
        raise W2SInputError(f"{self.path}: cannot take the batch lock")

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


# ------------------------------------------------------------------------------ one file
_PIPELINES: dict[tuple, Any] = {}
_PIPELINES_LOCK = threading.Lock()


def _pipeline(method: str, device: str, tile: int | None, weights: str | None,
              noise_level: str | None, threads: Any = None) -> Any:  # fmt: skip
    """The pipeline of a method for this thread. Model weights are loaded once per thread;
    classical pipelines (cheap, but they record the noise used) are built per file."""
    from .restore import classical
    from .restore.engine import resolve

    parts = [p.strip().lower() for p in method.split("+")]
    if all(p in classical.METHODS for p in parts):
        return resolve(method, device=device, tile=tile, weights=weights, noise_level=noise_level)
    key = (threading.get_ident(), os.getpid(), method, device, tile, weights, noise_level, threads)
    with _PIPELINES_LOCK:
        pipe = _PIPELINES.get(key)
    if pipe is None:
        pipe = resolve(method, device=device, tile=tile, weights=weights, noise_level=noise_level,
                       threads=threads)  # fmt: skip
        with _PIPELINES_LOCK:
            _PIPELINES[key] = pipe
    return pipe


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

    from .restore.engine import naming_the_plane

    lead = tuple(int(s) for s in data.shape[:-2])
    h, w = (int(s) for s in data.shape[-2:])
    plane_chunks = (1,) * len(lead) + (h, w)
    if isinstance(data, da.Array):
        arr = data if data.chunksize == plane_chunks else data.rechunk(plane_chunks)
    else:  # numpy or a memory map: each chunk reads one plane when it is computed
        # wrapped and named: dask would otherwise split (copy) a numpy array up front and hash
        # it whole to name it
        arr = da.from_array(_ReadOnDemand(data), chunks=plane_chunks, asarray=False,
                            name=f"w2s-input-{uuid.uuid4().hex}")  # fmt: skip
    planes = int(np.prod(lead)) if lead else 1
    s = int(pipeline.scale)
    # one normalisation for the whole stack, fitted on a sample of its planes, so that the
    # planes stay comparable (a single plane is normalised on its own)
    affine = pipeline.fit_normalisation(data) if lead else None

    def restore_block(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        loc = (block_info or {}).get(None, {}).get("chunk-location", (0,) * arr.ndim)
        p = int(np.ravel_multi_index(loc[: len(lead)], lead)) if lead else 0
        with naming_the_plane(loc[: len(lead)], lead):
            gen = pipeline.iter_run(np.asarray(block).reshape(h, w), affine)  # cast by the step
            while True:
                if cancel is not None and cancel.is_set():
                    gen.close()
                    raise BatchCancelled("cancelled")
                try:
                    done, total = next(gen)
                except StopIteration as stop:
                    out = np.asarray(stop.value, dtype=np.float32)
                    break
                if progress is not None:
                    progress({"plane": p, "planes": planes, "done": done, "total": total})
        return out.reshape(block.shape[:-2] + out.shape)

    return arr.map_blocks(restore_block, dtype=np.float32,
                          chunks=(1,) * len(lead) + (h * s, w * s),
                          meta=np.empty((0,) * arr.ndim, np.float32),
                          name=f"w2s-restore-{uuid.uuid4().hex}")  # fmt: skip


class _ReadOnDemand:
    """An array-like over a numpy array or memory map that dask reads only chunk by chunk."""

    def __init__(self, data: Any) -> None:
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.data[key])


class _Planes:
    """A dask array seen by :func:`write_ome_tiff` plane by plane, each plane computed here, in
    the calling thread (synchronously: no thread pool, no distributed client inside a task)."""

    def __init__(self, arr: Any) -> None:
        self.arr, self.shape, self.dtype, self.ndim = arr, arr.shape, arr.dtype, arr.ndim

    def __getitem__(self, index: Any) -> np.ndarray:
        return np.asarray(self.arr[index].compute(scheduler="sync"))


def _errno(exc: BaseException) -> int | None:
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OSError) and exc.errno:
            return exc.errno
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


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
    progress: Callable[[dict], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """Restore one file into ``out`` (atomically); the unit of work, locally or as a Dask task.

    Never raises for a problem with the file: returns a record ``{"status": "done" | "skipped"
    | "failed" | "cancelled", "message", "seconds", "shape_in", "shape_out", "worker",
    "errno"}``. Resolves its pipeline itself (once per thread for models), so it runs anywhere
    the package is installed and the paths are visible.
    """
    from .geometry import upsampled_geometry
    from .io import read_stack, write_ome_tiff

    t0 = time.perf_counter()
    rec: dict[str, Any] = {"status": "failed", "message": "", "seconds": 0.0, "shape_in": None,
                           "shape_out": None, "errno": None,
                           "worker": f"{socket.gethostname()}:{os.getpid()}"}  # fmt: skip
    dst = Path(out)
    try:
        if dst.is_file() and not overwrite:
            rec.update(status="skipped", message="already done (the output exists)")
            return rec
        dst.parent.mkdir(parents=True, exist_ok=True)
        stack = read_stack(src)
        rec["shape_in"] = list(stack.shape)
        level = noise_level
        if level == "auto":  # as `w2s restore`: from the first plane's signal-to-noise ratio
            from .restore.zoo import auto_level

            first = np.asarray(stack.data[(0,) * (len(stack.shape) - 2)], dtype=np.float64)
            level = auto_level(method, first)
            rec["noise_level"] = level or "blind"
        pipeline = _pipeline(method, device, tile, weights, level, threads)
        if min(stack.shape[-2:]) < 8:
            raise W2SInputError(
                f"the image ({stack.shape[-2]} x {stack.shape[-1]} pixels) is too small to "
                "restore (at least 8 x 8)"
            )
        lazy = restore_lazy(pipeline, stack.data, progress, cancel)
        pixel = stack.pixel_size
        relative = pixel is None and pipeline.scale > 1
        if relative:  # no pixel size: the input's pixel is 1, so the x2 result still overlays it
            pixel = (1.0, 1.0)
        if pixel is not None and pipeline.scale > 1:
            pixel = upsampled_geometry(pixel, factor=pipeline.scale)[0]
        provenance = {"method": pipeline.method, "pipeline": pipeline.describe(),
                      "source": str(Path(src).resolve()), "batch": True}  # fmt: skip
        if relative:
            provenance["pixel_size"] = "relative to the input's pixel (the input had none)"
        stem = Path(src).name.split(".")[0]
        write_ome_tiff(dst, _Planes(lazy), stack.axes, pixel, provenance,
                       name=f"{stem} {pipeline.method}")  # fmt: skip
        shape_out = [int(v) for v in lazy.shape]
        notes = "".join(f"; note: {n}" for n in pipeline.image_notes)  # e.g. blank planes
        rec.update(status="done", shape_out=shape_out,
                   message=f"{tuple(stack.shape)} -> {tuple(shape_out)}{notes}")  # fmt: skip
    except BatchCancelled:
        rec.update(status="cancelled", message="cancelled")
    except W2SInputError as err:
        rec.update(status="failed", message=str(err), errno=_errno(err))
    except MemoryError:
        rec.update(status="failed", message="out of memory; use --tile to restore smaller tiles")
    except OSError as err:
        rec.update(status="failed", errno=err.errno,
                   message=f"{err.filename or src}: {err.strerror or err}")  # fmt: skip
    except Exception as err:  # a bug: report it on this file and go on with the others
        rec.update(status="failed", message=f"internal error ({type(err).__name__}: {err}); "
                                            "please report it")  # fmt: skip
    for prefix in (f"{src}: ", f"{Path(src).resolve()}: "):
        if rec["message"].startswith(prefix):  # the report says which file already
            rec["message"] = rec["message"][len(prefix):]
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    return rec


# ------------------------------------------------------------------------------ the batch
def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _write_report(report: BatchReport) -> None:
    path = Path(report.report)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        tmp.write_text(report.to_json())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _write_final_report(report: BatchReport) -> str:
    """Write the report at the end; ``""``, or why it could not be written.

    An atomic replace needs room for both copies: on a full disk the start-of-run report
    (``"state": "running"``, every file ``pending``) is removed and the write tried once more,
    so that no stale report is left to mislead a reader either way.
    """
    for attempt in range(2):
        try:
            _write_report(report)
            return ""
        except OSError as err:
            why = err.strerror or str(err)
            if attempt == 0:
                Path(report.report).unlink(missing_ok=True)
    return (f"{report.report}: cannot write the report ({why}); every output written is "
            "complete: run the same command again for the report (done files are skipped)")


def _connect(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise W2SInputError(
            "--scheduler needs the optional distributed package: "
            "pip install 'napari-w2s[distributed]'"
        ) from None
    from distributed.comm.addressing import parse_address, parse_host_port

    try:  # before Client(): a half-built Client hangs in its __del__ (20 s, then a traceback)
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(location)
    except (ValueError, TypeError) as err:
        raise W2SInputError(f"--scheduler {address!r} is not a scheduler address ({err}); "
                            "give tcp://HOST:PORT") from None  # fmt: skip
    try:
        return Client(address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        raise W2SInputError(f"cannot connect to the Dask scheduler at {address} "
                            f"({type(err).__name__}: {err})") from None  # fmt: skip


def _address(scheduler: Any, client: Any) -> str | None:
    if scheduler is None or isinstance(scheduler, str):
        return scheduler
    return getattr(getattr(client, "scheduler", None), "address", None) or repr(client)


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
) -> Generator[dict, None, BatchReport]:
    """Restore every matching file of a folder; a generator of events returning the report.

    Parameters
    ----------
    input_dir, pattern, output_dir, method
        As ``w2s batch IN_DIR OUT_DIR --method M --pattern GLOB`` (see :func:`plan`).
    device, tile, weights, noise_level, threads
        As ``w2s restore``. ``threads="auto"`` shares the cores free now among the local
        ``workers``; on a cluster each worker measures its own machine.
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
    workers = int(workers)
    if workers < 1:
        raise W2SInputError(f"--workers must be at least 1, got {workers}")
    if tile is not None:
        tile = int(tile)
    items = plan(input_dir, pattern, output_dir, method, recursive=recursive)
    method = str(method).strip().lower()
    remote = scheduler is not None
    from .restore.threads import parse_threads, resolve_threads

    threads = parse_threads(threads)
    if threads == "auto" and not remote:
        threads = resolve_threads("auto", share=workers)
    notes = _validate_method(method, device, tile, weights, noise_level, remote,
                             None if remote else threads)  # fmt: skip
    client = None
    own_client = False
    if remote:
        if isinstance(scheduler, str):
            client, own_client = _connect(scheduler), True
        else:
            client = scheduler
    lock = None
    try:
        out_dir = check_output_dir(output_dir)
        lock = _Lock(out_dir)
        lock.acquire()
    except BaseException:
        if own_client:
            client.close()
        raise
    report = BatchReport(method, str(Path(input_dir).resolve()), str(out_dir.resolve()),
                         (pattern or "*").strip() or "*", items, recursive=recursive,
                         overwrite=overwrite, workers=workers,
                         scheduler=_address(scheduler, client),
                         started=_now(), report=str(out_dir / REPORT_NAME))  # fmt: skip
    cancel = threading.Event()
    disk_full_event = threading.Event()
    events: queue.Queue = queue.Queue()
    pool = None
    futures: dict[Any, int] = {}
    finished_normally = False
    try:
        report.cleaned = len(cleanup_stale(out_dir, recursive=recursive))
        for item in items:
            if item.status == "pending" and Path(item.out).is_file() and not overwrite:
                item.status, item.message = "skipped", "already done (the output exists)"
        todo = [i for i, item in enumerate(items) if item.status == "pending"]
        try:
            _write_report(report)
        except OSError as err:
            raise W2SInputError(f"{report.report}: cannot write the report "
                                f"({err.strerror or err})") from None  # fmt: skip
        n = len(items)
        yield {"event": "start", "files": [f.path for f in items], "n_files": n,
               "skipped": report.counts()["skipped"], "todo": len(todo),
               "cleaned": report.cleaned, "report": report.report, "notes": notes}  # fmt: skip
        completed = 0
        for i, item in enumerate(items):
            if item.status != "pending":
                completed += 1
                yield {"event": "file", "index": i, "path": item.path}
                yield _result_event(i, item, completed, n)

        kwargs = {"method": method, "device": device, "tile": tile, "weights": weights,
                  "noise_level": noise_level, "overwrite": overwrite,
                  "threads": threads}  # fmt: skip
        if remote:
            token = f"{os.getpid()}-{time.time_ns()}"
            for i in todo:
                fut = client.submit(process_file, items[i].path, items[i].out, **kwargs,
                                    key=f"w2s-batch-{token}-{i}", pure=False)  # fmt: skip
                futures[fut] = i
                fut.add_done_callback(lambda f: events.put(("done", f)))
                yield {"event": "file", "index": i, "path": items[i].path}
        elif todo:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(workers, thread_name_prefix="w2s-batch")
            for i in todo:
                fut = pool.submit(_local_task, i, items[i].path, items[i].out, kwargs, events,
                                  cancel, disk_full_event)  # fmt: skip
                futures[fut] = i
                fut.add_done_callback(lambda f: events.put(("done", f)))

        remaining = len(futures)
        disk_full = False
        last_write = time.monotonic()
        while remaining:
            kind, payload = events.get()
            if kind == "event":
                yield payload
                continue
            fut = payload
            i = futures[fut]
            remaining -= 1
            item = items[i]
            rec = _future_record(fut, disk_full)
            if rec["status"] == "cancelled":
                item.status, item.message = "pending", "cancelled before it finished"
            else:
                item.status, item.message = rec["status"], rec["message"]
            item.seconds = rec.get("seconds", 0.0)
            item.shape_in, item.shape_out = rec.get("shape_in"), rec.get("shape_out")
            item.worker = rec.get("worker")
            if rec.get("errno") == errno.ENOSPC and not disk_full:
                # every later write would fail too: stop starting files
                disk_full = True
                for f in futures:
                    if remote:
                        client.cancel([f])
                    else:
                        f.cancel()
            completed += 1
            now = time.monotonic()
            if now - last_write >= REPORT_INTERVAL_S or remaining == 0:
                try:  # at most a few times a second: the cost grows with the number of files
                    _write_report(report)
                    last_write = now
                except OSError:
                    pass  # e.g. a full disk: the final write tries again
            yield _result_event(i, item, completed, n)
        finished_normally = True
    finally:
        if not finished_normally:
            cancel.set()
            if remote and futures:
                client.cancel(list(futures))
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if own_client:
            client.close()
        if report.started:
            report.state = "complete" if finished_normally else "cancelled"
            report.finished = _now()
            report.seconds = round(time.perf_counter() - t_start, 3)
            for item in items:
                if item.status == "pending" and not item.message:
                    item.message = "not processed (the run was cancelled)"
            report.report_error = _write_final_report(report)
        lock.release()
    return report


def _local_task(i: int, src: str, out: str, kwargs: dict, events: queue.Queue,
                cancel: threading.Event, disk_full: threading.Event) -> dict:  # fmt: skip
    if cancel.is_set():
        return {"status": "cancelled", "message": "cancelled"}
    if disk_full.is_set():
        return {"status": "failed", "message": "not processed: the output disk is full"}
    events.put(("event", {"event": "file", "index": i, "path": src}))

    def progress(rec: dict) -> None:
        events.put(("event", {"event": "tile", "index": i, **rec}))

    rec = process_file(src, out, progress=progress, cancel=cancel, **kwargs)
    if rec.get("errno") == errno.ENOSPC:
        disk_full.set()  # every later write would fail too
    return rec


def _future_record(fut: Any, disk_full: bool) -> dict:
    stopped = {"status": "failed", "message": "not processed: the output disk is full"} \
        if disk_full else {"status": "cancelled", "message": "cancelled"}
    if fut.cancelled():
        return stopped
    try:
        return fut.result()
    except BaseException as err:  # a task that died on a cluster worker, ...
        if type(err).__name__ == "CancelledError":
            return stopped
        return {"status": "failed", "message": f"the task failed ({type(err).__name__}: {err})"}


def _result_event(i: int, item: FileResult, completed: int, n: int) -> dict:
    return {"event": "result", "index": i, "path": item.path, "rel": item.rel,
            "status": item.status, "message": item.message, "out": item.out,
            "seconds": item.seconds, "completed": completed, "n_files": n}  # fmt: skip


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
    from ._generators import drain

    return drain(iter_batch(input_dir, pattern, output_dir, method, device, tile, **options),
                 on_event)  # fmt: skip
