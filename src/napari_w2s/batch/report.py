"""The record of a batch: one :class:`FileResult` per input, the :class:`BatchReport` around them,
its one-line summary and ``OUT_DIR/batch_report.json`` (written atomically)."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORT_NAME = "batch_report.json"
REPORT_VERSION = 1


def now() -> str:
    """The local time with its offset, to the second (the report's ``started``, ``finished``)."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


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

    def update(self, rec: dict) -> None:
        """Take the record of :func:`~napari_w2s.batch.job.process_file` (or of its task)."""
        if rec["status"] == "cancelled":
            self.status, self.message = "pending", "cancelled before it finished"
        else:
            self.status, self.message = rec["status"], rec["message"]
        self.seconds = rec.get("seconds", 0.0)
        self.shape_in, self.shape_out = rec.get("shape_in"), rec.get("shape_out")
        self.worker = rec.get("worker")


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
        """How many files are done, skipped, failed and pending."""
        out = {"done": 0, "skipped": 0, "failed": 0, "pending": 0}
        for f in self.files:
            out[f.status] = out.get(f.status, 0) + 1
        return out

    @property
    def failed(self) -> list[FileResult]:
        """The files that failed."""
        return [f for f in self.files if f.status == "failed"]

    @property
    def ok(self) -> bool:
        """Every file done or skipped."""
        return all(f.status in ("done", "skipped") for f in self.files)

    def summary(self) -> str:
        """One line: ``bicubic: 2 restored, 0 skipped (already done), 1 failed, in 0.6 s``."""
        c = self.counts()
        text = (
            f"{self.method}: {c['done']} restored, {c['skipped']} skipped (already done), "
            f"{c['failed']} failed"
        )
        if c["pending"]:
            text += f", {c['pending']} not processed ({self.state})"
        return f"{text}, in {self.seconds:.1f} s"

    def to_dict(self) -> dict[str, Any]:
        """The report's content (``report`` and ``report_error`` are not part of it)."""
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

    def write(self) -> None:
        """Write the report file atomically (:mod:`napari_w2s.io.atomic`); a failed write
        raises its ``OSError`` (the callers word the message)."""
        from ..errors import W2SInputError
        from ..io.atomic import write_text

        try:
            write_text(self.report, self.to_json())
        except W2SInputError as err:
            raise err.__cause__ from None

    def write_final(self) -> str:
        """Write the report at the end; ``""``, or why it could not be written.

        An atomic replace needs room for both copies: on a full disk the start-of-run report
        (``"state": "running"``, every file ``pending``) is removed and the write tried once
        more, so that no stale report is left to mislead a reader either way.
        """
        for attempt in range(2):
            try:
                self.write()
                return ""
            except OSError as err:
                why = err.strerror or str(err)
                if attempt == 0:
                    Path(self.report).unlink(missing_ok=True)
        return (
            f"{self.report}: cannot write the report ({why}); every output written is "
            "complete: run the same command again for the report (done files are skipped)"
        )

    def close(self, complete: bool, seconds: float) -> None:
        """End the run (``complete``, else ``cancelled``) and write the final report; why it
        could not be written is kept in :attr:`report_error`."""
        self.state = "complete" if complete else "cancelled"
        self.finished = now()
        self.seconds = round(seconds, 3)
        for item in self.files:
            if item.status == "pending" and not item.message:
                item.message = "not processed (the run was cancelled)"
        self.report_error = self.write_final()


def result_event(i: int, item: FileResult, completed: int, n: int) -> dict:
    """The ``result`` event of file ``i`` (``completed`` of ``n`` files have ended)."""
    return {
        "event": "result",
        "index": i,
        "path": item.path,
        "rel": item.rel,
        "status": item.status,
        "message": item.message,
        "out": item.out,
        "seconds": item.seconds,
        "completed": completed,
        "n_files": n,
    }
