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
    QVBoxLayout,
    QWidget,
)

from ._common import (
    Bars,
    Job,
    JobWidget,
    MethodCombo,
    device_choices,
    get_setting,
    info,
    missing_weights,
    run_cancel_row,
    scroll_layout,
    set_settings,
    user_error,
    wrap_label,
)


def batch_job(input_dir: str, pattern: str, output_dir: str, method: str, device: str):
    from ..batch import iter_batch

    return (yield from iter_batch(input_dir, pattern, output_dir, method, device=device))


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
        self.input_browse = QPushButton("…")
        self.pattern = QLineEdit(get_setting("batch_pattern", "*.tif"))
        self.pattern.setToolTip("a glob pattern, e.g. *.tif, cell_*.ome.tif or **/*.npy")
        self.method = MethodCombo()
        self.method.set_method(get_setting("batch_method",
                                           get_setting("restore_method", "bicubic")))
        self.device = QComboBox()
        self.device.addItems(device_choices())
        device = self.device.findText(get_setting("restore_device", "auto"))
        self.device.setCurrentIndex(max(device, 0))
        self.output_dir = QLineEdit(get_setting("batch_output", ""))
        self.output_browse = QPushButton("…")
        run_row, self.run_button, self.cancel_button = run_cancel_row("Run batch")
        self.bar = QProgressBar()
        self.bar.setFormat("%v / %m files")
        self.files = QTableWidget(0, 3)
        self.files.setHorizontalHeaderLabels(["file", "status", "details"])
        self.files.horizontalHeader().setStretchLastSection(True)
        self.files.setEditTriggers(QTableWidget.NoEditTriggers)
        self.files.setMinimumHeight(120)
        self.status = wrap_label("Outputs are STEM_METHOD.ome.tif; existing ones are skipped.")

        form = QFormLayout()
        form.addRow("input folder", _folder_row(self.input_dir, self.input_browse))
        form.addRow("pattern", self.pattern)
        form.addRow("method", self.method)
        form.addRow("device", self.device)
        form.addRow("output folder", _folder_row(self.output_dir, self.output_browse))
        lay = scroll_layout(self)
        lay.addLayout(form)
        lay.addWidget(run_row)
        lay.addWidget(self.bar)
        lay.addWidget(self.files, 1)
        lay.addWidget(self.status)

        self.input_browse.clicked.connect(lambda: self._browse(self.input_dir, "Input folder"))
        self.output_browse.clicked.connect(lambda: self._browse(self.output_dir, "Output folder"))
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)

    def _browse(self, edit: QLineEdit, title: str) -> None:
        path = QFileDialog.getExistingDirectory(self, title, edit.text() or str(Path.home()))
        if path:
            edit.setText(path)

    def run(self) -> Job | None:
        from ..errors import W2SInputError
        from ..batch import plan

        method = self.method.method()
        src, dst = self.input_dir.text().strip(), self.output_dir.text().strip()
        try:
            if not method:
                raise W2SInputError("choose a method (not a group title)")
            missing = missing_weights(method, self.method.cards)
            if missing:
                raise W2SInputError(f"no trained weights for {', '.join(missing)} are shipped; "
                                    "choose another method")  # fmt: skip
            if not src:
                raise W2SInputError("choose an input folder")
            items = plan(src, self.pattern.text(), dst, method)
        except W2SInputError as exc:
            user_error(exc)
            return None
        set_settings(batch_input=src, batch_output=dst, batch_pattern=self.pattern.text(),
                     batch_method=method, restore_device=self.device.currentText())  # fmt: skip
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
        self.job = Job(batch_job, src, self.pattern.text(), dst, method, self.device.currentText(),
                       on_yield=self._event, on_done=self._done, on_finish=self._finished)  # fmt: skip
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
            if ev["status"] == "done":
                detail = f"{detail} in {ev['seconds']:.2f} s -> {Path(ev['out']).name}"
            self.files.item(ev["index"], 2).setText(detail)
            self.bar.setValue(ev["index"] + 1)
            if self.bars is not None:
                self.bars.set_outer(ev["index"] + 1)

    def _done(self, report: Any) -> None:
        self.report = report
        self.status.setText(f"{report.summary()}<br>report: "
                            f"{report.report_error or report.report}")  # fmt: skip
        info(report.summary())

    def _finished(self) -> None:
        self.idle()
        if self.job is not None and self.job.cancelled:
            for r in range(self.files.rowCount()):
                if self.files.item(r, 1).text() in ("queued", "running"):
                    self.files.item(r, 1).setText("cancelled")
            self.status.setText("cancelled: finished files are kept, run again to resume")
