"""Dock widget "Metrics": RMSE / PSNR / SSIM of result layers against a reference layer."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QListWidget,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ._common import Job, LayerCombo, get_setting, set_settings, user_error, warn, wrap_label

COLUMNS = ("layer", "RMSE", "PSNR (dB)", "SSIM", "mode")


def metrics_job(preds: list[tuple[str, np.ndarray]], ref: np.ndarray, clean: np.ndarray | None,
                affine: bool):  # fmt: skip
    """Worker body: one row per prediction, yielded as it is measured."""
    from ..analysis.metrics import compare, match_affine, w2s_metrics

    rows = []
    for name, pred in preds:
        if clean is not None:
            values, mode = w2s_metrics(pred, ref, clean), "w2s"
        elif affine:
            values, mode = compare(pred, match_affine(ref, pred)), "affine"
        else:
            values, mode = compare(pred, ref), "plain"
        row = {"layer": name, "rmse": values["rmse"], "psnr": values["psnr"],
               "ssim": values["ssim"], "mode": mode}  # fmt: skip
        rows.append(row)
        yield row
    return rows


class _Number(QTableWidgetItem):
    """A table cell that sorts by its number, shown with a fixed precision."""

    def __init__(self, value: float, fmt: str) -> None:
        super().__init__("inf" if math.isinf(value) else format(value, fmt))
        self.value = float(value)
        self.setData(Qt.UserRole, self.value)
        self.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, _Number):
            return self.value < other.value
        return super().__lt__(other)


class MetricsWidget(QWidget):
    """Any number of result layers against one reference; W2S mode or affine matching; CSV."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.job: Job | None = None
        self.rows: list[dict] = []

        self.results = QListWidget()
        self.results.setSelectionMode(QAbstractItemView.MultiSelection)
        self.results.setMinimumHeight(90)
        self.reference = LayerCombo(napari_viewer)
        self.w2s = QCheckBox("W2S units (z-score by the clean LR image)")
        self.clean = LayerCombo(napari_viewer, accept=lambda ly: ly.data.ndim == 2)
        self.clean.setEnabled(False)
        self.affine = QCheckBox("match the reference affinely to each result")
        buttons = QWidget()
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        self.compute_button = QPushButton("Compute")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setEnabled(False)
        row.addWidget(self.compute_button)
        row.addWidget(self.export_button)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(140)
        self.status = wrap_label("Select result layers and a reference (SIM or clean).")

        form = QFormLayout()
        form.addRow("results", self.results)
        form.addRow("reference", self.reference)
        form.addRow(self.w2s)
        form.addRow("clean LR", self.clean)
        form.addRow(self.affine)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.status)

        self.w2s.toggled.connect(self._w2s_toggled)
        self.compute_button.clicked.connect(self.compute)
        self.export_button.clicked.connect(self._choose_csv)
        self.reset_choices()

    # ------------------------------------------------------------------ choices
    def _image_layers(self) -> list:
        from napari.layers import Image

        return [ly for ly in self.viewer.layers if isinstance(ly, Image)]

    def reset_choices(self, *_: Any) -> None:
        selected = set(self.selected_names())
        self.results.clear()
        for layer in self._image_layers():
            self.results.addItem(layer.name)
            if layer.name in selected:
                self.results.item(self.results.count() - 1).setSelected(True)
        for combo in (self.reference, self.clean):
            combo.reset_choices()

    def selected_names(self) -> list[str]:
        return [item.text() for item in self.results.selectedItems()]

    def select(self, names: list[str]) -> None:
        """Select result layers by name (for scripts and tests)."""
        for i in range(self.results.count()):
            item = self.results.item(i)
            item.setSelected(item.text() in names)

    def _w2s_toggled(self, on: bool) -> None:
        self.clean.setEnabled(on)
        self.affine.setEnabled(not on)

    # ------------------------------------------------------------------ compute
    def compute(self) -> Job | None:
        from ..errors import W2SInputError

        layers = {ly.name: ly for ly in self._image_layers()}
        names = self.selected_names()
        ref = self.reference.value()
        clean = self.clean.value() if self.w2s.isChecked() else None
        try:
            if not names:
                raise W2SInputError("select at least one result layer")
            if ref is None:
                raise W2SInputError("choose a reference layer (SIM or clean image)")
            if self.w2s.isChecked() and clean is None:
                raise W2SInputError("W2S units need the clean LR layer (e.g. avg400)")
            ref_data = np.asarray(ref.data)
            clean_data = None if clean is None else np.asarray(clean.data)
            if clean_data is not None and ref_data.shape not in (
                    clean_data.shape, (2 * clean_data.shape[0], 2 * clean_data.shape[1])):
                raise W2SInputError(
                    f"the reference {ref.name!r} {ref_data.shape} is neither the clean layer's "
                    f"size {clean_data.shape} nor twice it")  # fmt: skip
            preds = []
            for name in names:
                layer = layers[name]
                data = np.asarray(layer.data)
                if data.shape != ref_data.shape:
                    raise W2SInputError(
                        f"layer {name!r} is {data.shape} but the reference {ref.name!r} is "
                        f"{ref_data.shape}: compare images of the same size (x2 outputs against "
                        "the SIM layer, denoised LR images against the clean one)")  # fmt: skip
                if not np.allclose(layer.scale[-2:], ref.scale[-2:], rtol=1e-3):
                    warn(f"layer {name!r} (pixel {tuple(layer.scale[-2:])}) and the reference "
                         f"(pixel {tuple(ref.scale[-2:])}) have different pixel sizes; compared "
                         "pixel by pixel")  # fmt: skip
                preds.append((name, data))
        except W2SInputError as exc:
            user_error(exc)
            return None
        self.rows = []
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        self.compute_button.setEnabled(False)
        self.status.setText(f"measuring {len(preds)} layer(s) against {ref.name} …")
        self._ref_name = ref.name
        self.job = Job(metrics_job, preds, ref_data, clean_data, self.affine.isChecked(),
                       on_yield=self._add_row, on_done=self._done,
                       on_finish=self._finished)  # fmt: skip
        return self.job.start()

    def _add_row(self, row: dict) -> None:
        self.rows.append(row)
        r = self.table.rowCount()
        self.table.insertRow(r)
        self.table.setItem(r, 0, QTableWidgetItem(row["layer"]))
        self.table.setItem(r, 1, _Number(row["rmse"], ".5g"))
        self.table.setItem(r, 2, _Number(row["psnr"], ".3f"))
        self.table.setItem(r, 3, _Number(row["ssim"], ".4f"))
        self.table.setItem(r, 4, QTableWidgetItem(row["mode"]))

    def _done(self, rows: list[dict]) -> None:
        self.status.setText(f"{len(rows)} layer(s) against {self._ref_name}; click a header to "
                            "sort")  # fmt: skip
        self.export_button.setEnabled(bool(rows))

    def _finished(self) -> None:
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        self.compute_button.setEnabled(True)

    # ------------------------------------------------------------------ export
    def _choose_csv(self) -> None:
        start = str(Path(get_setting("last_csv_folder", str(Path.home()))) / "metrics.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics", start, "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> Path:
        """Write the table (reference included) to ``path``."""
        path = Path(path)
        try:
            with open(path, "w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["layer", "reference", "rmse", "psnr_db", "ssim", "mode"])
                for row in self.rows:
                    writer.writerow([row["layer"], self._ref_name, repr(row["rmse"]),
                                     repr(row["psnr"]), repr(row["ssim"]), row["mode"]])  # fmt: skip
        except OSError as err:
            from ..errors import W2SInputError

            user_error(W2SInputError(f"{path}: could not write the CSV ({err.strerror or err})"))
            return path
        set_settings(last_csv_folder=str(path.parent))
        self.status.setText(f"saved {len(self.rows)} row(s) to {path}")
        return path
