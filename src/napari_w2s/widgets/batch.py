"""Dock widget "Batch": restore every matching file of a folder into an output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ..averaging import W2S_LEVEL_NAMES as LEVELS
from ..restore.device import PRECISIONS
from ..restore.methods import missing_weights
from ._controls import MethodCombo, run_cancel_row, scroll_layout, wrap_label
from ._device import device_choices, saved_combo
from ._jobs import Bars, Job, JobWidget, info, user_error
from ._restore_text import ORIENTATION_ITEMS, TIPS, orientations_of
from ._settings import get_setting, set_settings


def batch_job(
    input_dir: str,
    pattern: str,
    output_dir: str,
    method: str,
    device: str,
    noise_level: str | None = "auto",
    precision: str = "auto",
    orientations: int = 1,
):
    from ..batch import iter_batch

    return (
        yield from iter_batch(
            input_dir,
            pattern,
            output_dir,
            method,
            device=device,
            noise_level=noise_level,
            precision=precision,
            orientations=orientations,
        )
    )


def _folder_row(edit: QLineEdit, button: QPushButton) -> QWidget:
    row = QWidget()
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    lay.addWidget(button)
    return row


class BatchWidget(JobWidget):
    """Input folder + pattern, method, device, output folder; per-file status and a report."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.report = None

        self.input_dir = QLineEdit(get_setting("batch_input", ""))
        self.input_dir.setToolTip(
            "the folder with the images to restore (TIFF, OME-TIFF or "
            ".npy); the files are only read"
        )
        self.input_browse = QPushButton("…")
        self.input_browse.setToolTip("choose the input folder")
        self.pattern = QLineEdit(get_setting("batch_pattern", "*.tif"))
        self.pattern.setToolTip(
            "which files of the folder: a pattern such as *.tif, "
            "cell_*.ome.tif or **/*.npy (** also looks in sub-folders)"
        )
        self.method = MethodCombo()
        self.method.set_method(get_setting("batch_method", self.method.default_method()))
        self.method.setToolTip(
            "the restoration for every file; JDSR (denoise + x2) is the main method"
        )
        self.noise = QComboBox()
        self.noise.addItems(["auto", *LEVELS])
        self.noise.setToolTip(
            "how noisy the images are (W2S frames averaged): auto picks, per "
            "image, from its signal-to-noise ratio which trained model runs"
        )
        self.device = saved_combo(
            device_choices(),
            "restore_device",
            "where the networks run: auto takes the GPU when there is one",
        )
        self.precision = saved_combo(list(PRECISIONS), "restore_precision", TIPS["precision"])
        self.orientations = saved_combo(
            list(ORIENTATION_ITEMS.values()), "restore_orientations", TIPS["orientations"]
        )
        self.output_dir = QLineEdit(get_setting("batch_output", ""))
        self.output_dir.setToolTip(
            "where the results go, as STEM_METHOD.ome.tif with their "
            "pixel size and how they were made; results already there "
            "are skipped, so a stopped batch resumes"
        )
        self.output_browse = QPushButton("…")
        self.output_browse.setToolTip("choose the output folder")
        run_row, self.run_button, self.cancel_button = run_cancel_row("Run batch")
        self.run_button.setToolTip("restore every matching file into the output folder")
        self.cancel_button.setToolTip("stop after the current tile; finished files are kept")
        self.bar = QProgressBar()
        self.bar.setFormat("%v / %m files")
        self.bar.setToolTip("files finished")
        self.files = QTableWidget(0, 3)
        self.files.setHorizontalHeaderLabels(["file", "status", "result"])
        self.files.horizontalHeader().setStretchLastSection(True)
        self.files.setEditTriggers(QTableWidget.NoEditTriggers)
        self.files.setSelectionBehavior(QTableWidget.SelectRows)
        self.files.setMinimumHeight(120)
        self.files.setToolTip(
            "one row per file; double-click a finished one to open its result in napari"
        )
        self.open_button = QPushButton("Open the results in napari")
        self.open_button.setToolTip(
            "add every result of this batch (done or already there) to "
            "the viewer, each with its own pixel size"
        )
        self.open_button.setEnabled(False)
        self.status = wrap_label("Outputs are STEM_METHOD.ome.tif; existing ones are skipped.")
        self.outputs: dict[int, str] = {}

        form = QFormLayout()
        form.addRow("input folder", _folder_row(self.input_dir, self.input_browse))
        form.addRow("pattern", self.pattern)
        form.addRow("method", self.method)
        form.addRow("noise level", self.noise)
        form.addRow("device", self.device)
        form.addRow("precision", self.precision)
        form.addRow("orientations averaged", self.orientations)
        form.addRow("output folder", _folder_row(self.output_dir, self.output_browse))
        lay = scroll_layout(self)
        lay.addLayout(form)
        lay.addWidget(run_row)
        lay.addWidget(self.bar)
        lay.addWidget(self.files, 1)
        lay.addWidget(self.status)
        lay.addWidget(self.open_button)

        self.input_browse.clicked.connect(lambda: self._browse(self.input_dir, "Input folder"))
        self.output_browse.clicked.connect(lambda: self._browse(self.output_dir, "Output folder"))
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button.clicked.connect(self.open_results)
        self.files.cellDoubleClicked.connect(lambda row, _col: self.open_results([row]))

    def _browse(self, edit: QLineEdit, title: str) -> None:
        path = QFileDialog.getExistingDirectory(self, title, edit.text() or str(Path.home()))
        if path:
            edit.setText(path)

    def run(self) -> Job | None:
        from ..batch import plan
        from ..errors import W2SInputError

        method = self.method.method()
        src, dst = self.input_dir.text().strip(), self.output_dir.text().strip()
        try:
            if not method:
                raise W2SInputError("choose a method (not a group title)")
            missing = missing_weights(method, self.method.cards)
            if missing:
                raise W2SInputError(
                    f"no trained weights for {', '.join(missing)} are shipped; "
                    "choose another method"
                )
            if not src:
                raise W2SInputError("choose an input folder")
            items = plan(src, self.pattern.text(), dst, method)
        except W2SInputError as exc:
            user_error(exc)
            return None
        set_settings(
            batch_input=src,
            batch_output=dst,
            batch_pattern=self.pattern.text(),
            batch_method=method,
            restore_device=self.device.currentText(),
            restore_precision=self.precision.currentText(),
            restore_orientations=self.orientations.currentText(),
        )
        self.files.setRowCount(len(items))
        for r, item in enumerate(items):
            self.files.setItem(r, 0, QTableWidgetItem(Path(item.path).name))
            self.files.setItem(r, 1, QTableWidgetItem("queued"))
            self.files.setItem(r, 2, QTableWidgetItem(""))
        self.files.resizeColumnToContents(0)
        self.bar.setRange(0, len(items))
        self.bar.setValue(0)
        self.bars = Bars(f"batch {method}", len(items), "tiles")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"{method} on {len(items)} file(s) …")
        self.report = None
        self.outputs = {}
        self.open_button.setEnabled(False)
        noise = self.noise.currentText()
        self.job = Job(
            batch_job,
            src,
            self.pattern.text(),
            dst,
            method,
            self.device.currentText(),
            noise,
            self.precision.currentText(),
            orientations_of(self.orientations.currentText()),
            on_yield=self._event,
            on_done=self._done,
            on_finish=self._finished,
        )
        return self.job.start()

    def cancel(self) -> None:
        if self.job is not None and not self.job.finished:
            self.job.cancel()
            self.status.setText("cancelling at the next tile (finished files are kept) …")

    def _event(self, ev: dict) -> None:
        kind = ev["event"]
        if kind == "file":
            self.files.item(ev["index"], 1).setText("running")
            self.files.scrollToItem(self.files.item(ev["index"], 0))
        elif kind == "tile" and self.bars is not None:
            self.bars.set_inner(ev["plane"] * ev["total"] + ev["done"], ev["planes"] * ev["total"])
        elif kind == "result":
            self.files.item(ev["index"], 1).setText(ev["status"])
            detail = ev["message"]
            if ev["status"] in ("done", "skipped") and ev.get("out"):
                self.outputs[ev["index"]] = ev["out"]
                took = f" ({ev['seconds']:.1f} s)" if ev["status"] == "done" else ""
                detail = f"{Path(ev['out']).name}{took}"
            cell = self.files.item(ev["index"], 2)
            cell.setText(detail)
            cell.setToolTip(f"{ev['message']}\n{ev.get('out') or ''}".strip())
            self.bar.setValue(ev["index"] + 1)
            if self.bars is not None:
                self.bars.set_outer(ev["index"] + 1)

    def _done(self, report: Any) -> None:
        import html

        self.report = report
        c = report.counts()
        failed = [f for f in report.files if f.status == "failed"]
        text = (
            f"<b>{c['done']} restored</b>, {c['skipped']} already done, "
            f"<b>{c['failed']} failed</b> in {report.seconds:.1f} s with {report.method}"
            f"<br>results in {html.escape(str(self.output_dir.text()))}"
        )
        if failed:
            text += "<br>failed: " + "; ".join(
                f"{html.escape(Path(f.path).name)}: {html.escape(f.message)}" for f in failed[:3]
            )
        text += f"<br><small>report: {html.escape(str(report.report_error or report.report))}"
        text += "</small><br>Double-click a row, or the button below, to open the results."
        self.status.setText(text)
        self.open_button.setEnabled(bool(self.outputs))
        info(report.summary())

    def open_results(self, rows: list[int] | None = None) -> list:
        """Open the results of the last run (all, or those of ``rows``) in the viewer."""
        paths = [
            self.outputs[r]
            for r in (rows if rows is not None else sorted(self.outputs))
            if r in self.outputs
        ]
        layers = []
        for path in paths:
            try:
                layers += self.viewer.open(path, plugin="napari-w2s")
            except Exception as exc:  # a reader error: one line, the others still open
                from ..errors import W2SInputError

                user_error(W2SInputError(f"{path}: could not open the result ({exc})"))
        return layers

    def _finished(self) -> None:
        self.idle()
        if self.job is not None and self.job.cancelled:
            for r in range(self.files.rowCount()):
                if self.files.item(r, 1).text() in ("queued", "running"):
                    self.files.item(r, 1).setText("cancelled")
            self.status.setText("cancelled: finished files are kept, run again to resume")
