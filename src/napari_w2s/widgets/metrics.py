"""Dock widget "Metrics": RMSE / PSNR / SSIM of result layers against a reference layer."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ..analysis.metrics_rows import metrics_job, rows_csv, source_image, summary_html, units_html
from ..errors import W2SInputError
from ..io.atomic import write_text
from ..layer_names import is_clean_name, is_kernel, is_sim_name
from ._controls import LayerCombo, scroll_layout, wrap_label
from ._jobs import Job, user_error, warn
from ._settings import get_setting, set_settings

COLUMNS = ("layer", "RMSE", "PSNR", "SSIM", ">3σ %", "mode")
NO_CLEAN = "(none)"
MODE_TEXTS = {
    "auto": "auto (like with like)",
    "w2s": "W2S units (z-score by clean LR)",
    "affine": "reference matched affinely",
    "plain": "plain values (same units only)",
}


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
    """Any number of result layers against one reference, in comparable units; CSV export.

    The default mode, *auto*, gives the paper's numbers: W2S units where a clean LR layer is
    available, else the reference matched affinely to each result (the result is never
    re-normalised). A warning shows when results and reference are in very different units.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.job: Job | None = None
        self.rows: list[dict] = []
        self._ref_name = ""

        self.results = QListWidget()
        self.results.setMinimumHeight(70)
        self.results.setToolTip(
            "tick the result layers to measure; the results of the Restore "
            "widget that fit the reference are ticked for you"
        )
        self._seen: set[str] = set()
        self.reference = LayerCombo(napari_viewer, accept=lambda ly: ly.data.ndim == 2)
        self.reference.setToolTip(
            "the ground truth: the SIM layer for x2 results, the clean "
            "average (avg400) for denoised LR images"
        )
        self.mode = QComboBox()
        for key, text in MODE_TEXTS.items():
            self.mode.addItem(text, key)
        self.mode.setToolTip(
            "how results and reference are put in the same units before "
            "comparing. auto: W2S units where a clean LR layer is chosen (the "
            "W2S paper's numbers), else the reference matched affinely to each "
            "result; the result's values are never changed. Plain values only "
            "make sense when both are in the same units"
        )
        self.clean = LayerCombo(
            napari_viewer, accept=lambda ly: ly.data.ndim == 2, optional=NO_CLEAN
        )
        self.clean.setToolTip(
            "the clean LR image (e.g. avg400 (clean), the average of all "
            "frames): its mean and spread define W2S units"
        )
        buttons = QWidget()
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        self.compute_button = QPushButton("Compute")
        self.compute_button.setToolTip(
            "measure every ticked result against the reference: "
            "RMSE (lower is better), PSNR and SSIM (higher is better)"
        )
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip(
            "save the table, with full precision and the reference's name, as a CSV file"
        )
        self.export_button.setEnabled(False)
        row.addWidget(self.compute_button)
        row.addWidget(self.export_button)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.verticalHeader().hide()
        self.table.setTextElideMode(Qt.ElideMiddle)  # long layer names keep both ends
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.Stretch)  # the names take what is left
        self.table.setMinimumHeight(110)
        self.table.setToolTip(
            "RMSE: typical error (lower is better); PSNR: the same in dB "
            "(higher is better); SSIM: structural similarity, 1 = "
            "identical; >3σ %: % of input pixels the result contradicts (lower is "
            "better); click a header to sort"
        )
        self.units_label = wrap_label()
        self.units_label.setStyleSheet("color: #e0a030")
        self.units_label.hide()
        self.status = wrap_label(
            "Tick the results, check the reference (SIM for x2 results), then Compute."
        )

        form = QFormLayout()
        form.addRow("results", self.results)
        form.addRow("reference", self.reference)
        form.addRow("mode", self.mode)
        form.addRow("clean LR", self.clean)
        lay = scroll_layout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.units_label)
        lay.addWidget(self.status)

        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.reference.activated.connect(self._reference_changed)
        self.compute_button.clicked.connect(self.compute)
        self.export_button.clicked.connect(self._choose_csv)
        self.reset_choices()
        self.set_mode(get_setting("metrics_mode", "auto"))

    # ------------------------------------------------------------------ choices
    def _image_layers(self) -> list:
        from napari.layers import Image

        return [ly for ly in self.viewer.layers if isinstance(ly, Image) and not is_kernel(ly)]

    def reset_choices(self, *_: Any) -> None:
        checked = set(self.selected_names())
        for combo in (self.reference, self.clean):
            combo.reset_choices()
        self._guess_layers()
        ref = self.reference.value()
        self.results.blockSignals(True)
        self.results.clear()
        for layer in self._image_layers():
            item = QListWidgetItem(layer.name)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            if layer.name in self._seen:
                on = layer.name in checked
            else:  # a new layer: ticked where it is a result that fits the reference
                on = self._fits(layer, ref)
            item.setCheckState(Qt.Checked if on else Qt.Unchecked)
            self.results.addItem(item)
            self._seen.add(layer.name)
        self.results.blockSignals(False)

    @staticmethod
    def _fits(layer: Any, ref: Any) -> bool:
        """A restore result (``method`` in its metadata) of the reference's 2-D shape."""
        if ref is None or layer.name == ref.name or "method" not in (layer.metadata or {}):
            return False
        shape = tuple(layer.data.shape)
        return shape[-2:] == tuple(ref.data.shape) and all(n == 1 for n in shape[:-2])

    def _reference_changed(self, *_: Any) -> None:
        """Another reference: tick the results that fit it (and only those)."""
        ref = self.reference.value()
        layers = {ly.name: ly for ly in self._image_layers()}
        for i in range(self.results.count()):
            item = self.results.item(i)
            layer = layers.get(item.text())
            if layer is not None and "method" in (layer.metadata or {}):
                item.setCheckState(Qt.Checked if self._fits(layer, ref) else Qt.Unchecked)

    def _guess_layers(self) -> None:
        """SIM as the reference and a clean average as the clean layer, where names say so."""
        names = [ly.name for ly in self.reference.layers()]
        sim = [n for n in names if is_sim_name(n)]
        clean = [n for n in names if is_clean_name(n)]
        pick = sim or clean
        if pick and not self.reference.chosen and self.reference.currentText() != pick[0]:
            self.reference.set_value(pick[0], chosen=False)
        if clean and not self.clean.chosen and self.clean.currentText() == NO_CLEAN:
            self.clean.set_value(clean[0], chosen=False)

    def selected_names(self) -> list[str]:
        """The ticked result layers."""
        return [
            self.results.item(i).text()
            for i in range(self.results.count())
            if self.results.item(i).checkState() == Qt.Checked
        ]

    def select(self, names: list[str]) -> None:
        """Tick exactly these result layers (for scripts and tests)."""
        for i in range(self.results.count()):
            item = self.results.item(i)
            item.setCheckState(Qt.Checked if item.text() in names else Qt.Unchecked)

    def mode_key(self) -> str:
        return str(self.mode.currentData())

    def set_mode(self, key: str) -> None:
        index = self.mode.findData(key)
        self.mode.setCurrentIndex(max(index, 0))

    def _mode_changed(self, *_: Any) -> None:
        key = self.mode_key()
        self.clean.setEnabled(key in ("auto", "w2s"))
        set_settings(metrics_mode=key)

    # ------------------------------------------------------------------ compute
    def compute(self) -> Job | None:
        from ..errors import W2SInputError

        layers = {ly.name: ly for ly in self._image_layers()}
        names = self.selected_names()
        ref = self.reference.value()
        mode = self.mode_key()
        clean = self.clean.value() if mode in ("auto", "w2s") else None
        try:
            if not names:
                raise W2SInputError("select at least one result layer")
            if ref is None:
                raise W2SInputError("choose a reference layer (SIM or clean image)")
            if mode == "w2s" and clean is None:
                raise W2SInputError("W2S units need the clean LR layer (e.g. avg400)")
            ref_data = np.asarray(ref.data)
            clean_data = None if clean is None else np.asarray(clean.data)
            if clean_data is not None and ref_data.shape not in (
                clean_data.shape,
                (2 * clean_data.shape[0], 2 * clean_data.shape[1]),
            ):
                if mode == "w2s":
                    raise W2SInputError(
                        f"the reference {ref.name!r} {ref_data.shape} is neither the clean "
                        f"layer's size {clean_data.shape} nor twice it"
                    )
                clean, clean_data = None, None  # auto: this clean layer does not fit; affine
            preds, inputs = [], {}
            for name in names:
                layer = layers[name]
                data = np.asarray(layer.data)
                if data.ndim > 2 and all(n == 1 for n in data.shape[:-2]):
                    data = data.reshape(data.shape[-2:])  # one frame of a stack
                if data.shape != ref_data.shape:
                    raise W2SInputError(
                        f"layer {name!r} is {data.shape} but the reference {ref.name!r} is "
                        f"{ref_data.shape}: compare images of the same size (x2 outputs against "
                        "the SIM layer, denoised LR images against the clean one)"
                    )
                if not np.allclose(layer.scale[-2:], ref.scale[-2:], rtol=1e-3):
                    warn(
                        f"layer {name!r} (pixel {tuple(layer.scale[-2:])}) and the reference "
                        f"(pixel {tuple(ref.scale[-2:])}) have different pixel sizes; compared "
                        "pixel by pixel"
                    )
                preds.append((name, data))
                source = source_image(layer, layers)
                if source is not None:
                    inputs[name] = source
        except W2SInputError as exc:
            user_error(exc)
            return None
        self.rows = []
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        self.units_label.hide()
        self.compute_button.setEnabled(False)
        self.status.setText(f"measuring {len(preds)} layer(s) against {ref.name} …")
        self._ref_name = ref.name
        self._clean_name = clean.name if clean is not None else None
        self.job = Job(
            metrics_job,
            preds,
            ref_data,
            clean_data,
            mode,
            inputs,
            on_yield=self._add_row,
            on_done=self._done,
            on_finish=self._finished,
        )
        return self.job.start()

    def _add_row(self, row: dict) -> None:
        self.rows.append(row)
        r = self.table.rowCount()
        self.table.insertRow(r)
        self.table.setItem(r, 0, QTableWidgetItem(row["layer"]))
        self.table.setItem(r, 1, _Number(row["rmse"], ".4g"))
        self.table.setItem(r, 2, _Number(row["psnr"], ".2f"))
        self.table.setItem(r, 3, _Number(row["ssim"], ".4f"))
        outside = row.get("outside_3sigma")
        self.table.setItem(
            r, 4, _Number(100 * outside, ".2f") if outside is not None else QTableWidgetItem("–")
        )
        self.table.setItem(r, 5, QTableWidgetItem(row["mode"]))

    def _done(self, rows: list[dict]) -> None:
        self.status.setText(summary_html(rows, self._ref_name, self._clean_name))
        text = units_html(rows, self._ref_name)
        self.units_label.setText(text)
        self.units_label.setVisible(bool(text))
        if text.startswith("⚠"):
            warn(
                f"metrics: the results and the reference {self._ref_name!r} are in different "
                "units; the plain numbers are meaningless (use the mode auto)"
            )
        self.export_button.setEnabled(bool(rows))

    def _finished(self) -> None:
        self.table.setSortingEnabled(True)
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
            write_text(path, rows_csv(self.rows, self._ref_name, self._clean_name))
        except W2SInputError as err:
            user_error(err)
            return path
        set_settings(last_csv_folder=str(path.parent))
        self.status.setText(f"saved {len(self.rows)} row(s) to {path}")
        return path
