"""Folder restoration as a generator, free of Qt (the widget's back end until the core has one).

:func:`iter_batch` restores every file of a folder that matches a pattern with one method and
writes ``STEM_METHOD.ome.tif`` files (``+`` becomes ``_``) into an output folder:

* inputs are only read, never written; the output folder must differ from the input folder;
* a file whose output already exists is skipped (so a cancelled or failed run resumes);
* each output is written to a temporary name and renamed when complete
  (:func:`napari_w2s.io.write_ome_tiff`), so nothing partial is left behind;
* a file that cannot be read or restored is reported and the others go on;
* it yields progress events between tiles, so a caller stops it at the next tile by closing it.

At the end a ``w2s-batch-report.json`` is written into the output folder and returned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPORT_NAME = "w2s-batch-report.json"


@dataclass
class FileResult:
    path: str
    out: str
    status: str = "pending"  # pending | done | skipped | failed
    message: str = ""
    seconds: float = 0.0


@dataclass
class BatchReport:
    method: str
    input_dir: str
    output_dir: str
    pattern: str
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    report: str = ""

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "skipped": 0, "failed": 0, "pending": 0}
        for f in self.files:
            out[f.status] = out.get(f.status, 0) + 1
        return out

    def summary(self) -> str:
        c = self.counts()
        return (f"{self.method}: {c['done']} restored, {c['skipped']} skipped (already done), "
                f"{c['failed']} failed, in {self.seconds:.1f} s")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "counts": self.counts()}


def output_name(path: Path, method: str) -> str:
    """``cell_01.tif`` restored by ``dncnn+rcan`` -> ``cell_01_dncnn_rcan.ome.tif``."""
    from ..io.stack import _stem

    return f"{_stem(path)}_{method.replace('+', '_')}.ome.tif"


def plan(input_dir: str | Path, pattern: str, output_dir: str | Path,
         method: str) -> list[FileResult]:  # fmt: skip
    """The files to process and where each goes; checks the folders (``W2SInputError``)."""
    from ..errors import W2SInputError
    from ..io.stack import NPY_SUFFIXES, TIFF_SUFFIXES

    src, dst = Path(input_dir), Path(output_dir)
    if not src.is_dir():
        raise W2SInputError(f"{src}: the input folder does not exist")
    if not str(output_dir).strip():
        raise W2SInputError("choose an output folder")
    if dst.exists() and not dst.is_dir():
        raise W2SInputError(f"{dst}: the output path is a file, not a folder")
    if dst.resolve() == src.resolve():
        raise W2SInputError("the output folder must differ from the input folder (inputs are "
                            "never written over)")  # fmt: skip
    pattern = pattern.strip() or "*"
    files = sorted(p for p in src.glob(pattern)
                   if p.is_file() and p.name.lower().endswith(TIFF_SUFFIXES + NPY_SUFFIXES)
                   and not p.name.startswith("."))  # fmt: skip
    if not files:
        raise W2SInputError(f"no .tif, .tiff or .npy file in {src} matches {pattern!r}")
    return [FileResult(str(p), str(dst / output_name(p, method))) for p in files]


def iter_batch(
    input_dir: str | Path,
    pattern: str,
    output_dir: str | Path,
    method: str,
    device: str = "auto",
    tile: int | None = None,
) -> Generator[dict, None, BatchReport]:
    """Restore a folder; a generator of progress events returning the :class:`BatchReport`.

    Events are dicts with ``event``: ``"start"`` (``files``: the plan), ``"file"`` (``index``,
    ``path``), ``"tile"`` (``index`` and the engine's ``plane``, ``planes``, ``done``,
    ``total``), ``"result"`` (``index``, ``status``, ``message``, ``out``).
    """
    from ..errors import W2SInputError
    from ..geometry import upsampled_geometry
    from ..io import read_stack, write_ome_tiff
    from ..restore.engine import iter_restore, resolve

    t_start = time.perf_counter()
    files = plan(input_dir, pattern, output_dir, method)
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    report = BatchReport(method, str(input_dir), str(output_dir), pattern, files)
    yield {"event": "start", "files": [f.path for f in files]}
    todo = [f for f in files if not Path(f.out).exists()]
    # an unknown method, missing weights or device fail here, once, before any file
    pipeline = resolve(method, device=device, tile=tile) if todo else None
    for i, item in enumerate(files):
        yield {"event": "file", "index": i, "path": item.path}
        if Path(item.out).exists():
            item.status, item.message = "skipped", "output exists"
        else:
            t0 = time.perf_counter()
            try:
                stack = read_stack(item.path)
                gen = iter_restore(pipeline, stack.data)
                while True:
                    try:
                        rec = next(gen)
                    except StopIteration as stop:
                        result = stop.value
                        break
                    yield {"event": "tile", "index": i, **rec}
                seconds = time.perf_counter() - t0
                pixel = stack.pixel_size
                if pixel is not None and pipeline.scale > 1:
                    pixel = upsampled_geometry(pixel, factor=pipeline.scale)[0]
                provenance = {"method": pipeline.method, "pipeline": pipeline.describe(),
                              "source": str(Path(item.path).resolve()),
                              "seconds": round(seconds, 3), "batch": True}  # fmt: skip
                write_ome_tiff(item.out, result, stack.axes, pixel, provenance, name=method)
                item.status, item.seconds = "done", round(time.perf_counter() - t0, 3)
                item.message = f"{stack.shape} -> {result.shape}"
            except W2SInputError as exc:
                item.status, item.message = "failed", str(exc)
        yield {"event": "result", "index": i, **_result(item)}
    report.seconds = round(time.perf_counter() - t_start, 3)
    path = Path(output_dir) / REPORT_NAME
    report.report = str(path)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(report.to_dict(), indent=1))
    tmp.replace(path)
    return report


def _result(item: FileResult) -> dict:
    return {"status": item.status, "message": item.message, "out": item.out,
            "seconds": item.seconds}  # fmt: skip


def run_batch(*args: Any, **kwargs: Any) -> BatchReport:
    """:func:`iter_batch` run to the end (for scripts)."""
    gen = iter_batch(*args, **kwargs)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
