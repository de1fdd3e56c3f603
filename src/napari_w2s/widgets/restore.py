"""Dock widget "Restore": run a method (deep, classical or a sequence) on an image layer."""

from __future__ import annotations

import html
import time
from typing import Any

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QProgressBar,
    QSpinBox,
    QWidget,
)

from ._common import (
    GROUP_TITLES,
    Bars,
    Job,
    JobWidget,
    LayerCombo,
    MethodCombo,
    describe_device,
    device_choices,
    get_setting,
    level_from_name,
    missing_weights,
    run_cancel_row,
    set_settings,
    user_error,
    warn,
    wrap_label,
)

LEVELS = ("avg1", "avg2", "avg4", "avg8", "avg16")


def restore_job(data: Any, method: str, device: str, tile: int | None, noise_level: str | None):
    """Worker body: resolve the pipeline (loads weights, imports torch), restore tile by tile.

    Yields ``{"stage": "loading"}`` once, then the engine's progress dicts; returns
    ``(result, pipeline description, seconds)``.
    """
    from ..restore.engine import iter_restore, resolve

    yield {"stage": "loading"}
    pipeline = resolve(method, device=device, tile=tile, noise_level=noise_level)
    yield {"stage": "running", "scale": pipeline.scale}
    t0 = time.perf_counter()
    result = yield from iter_restore(pipeline, data)
    return result, pipeline.describe(), time.perf_counter() - t0, pipeline.scale


def card_html(method: str, cards: list[dict]) -> str:
    """What a user should know about a method: its task, description and shipped weights."""
    from ..models import get_spec
    from ..restore.classical import DESCRIPTIONS, METHODS

    lines = []
    for part in method.split("+"):
        if part in METHODS:
            lines.append(f"<b>{part}</b> (classical): {html.escape(DESCRIPTIONS[part])}")
            continue
        spec = get_spec(part)
        text = (f"<b>{part}</b> ({GROUP_TITLES.get(spec.task, spec.task)}, "
                f"{spec.architecture}): {html.escape(spec.description)}")  # fmt: skip
        mine = [c for c in cards if c.get("name") == part]
        if not mine:
            text += ("<br><span style='color:#e0a030'>No trained weights shipped: train them with "
                     f"<code>w2s train --model {part}</code>.</span>")  # fmt: skip
        for c in mine:
            bits = [f"noise level {c.get('noise_level', '?')}"]
            if c.get("params"):
                bits.append(f"{int(c['params']):,} parameters")
            training = c.get("training") or {}
            for key in ("data", "iterations", "wall_time_s"):
                if key in training:
                    bits.append(f"{key.replace('_', ' ')} {training[key]}")
            metrics = c.get("metrics") or {}
            shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, (int, float)) else f"{k} {v}"
                              for k, v in list(metrics.items())[:4])  # fmt: skip
            if shown:
                bits.append(f"held-out: {shown}")
            text += "<br>&nbsp;&nbsp;weights " + html.escape(str(c.get("file", "")).split("/")[-1])
            text += ": " + html.escape("; ".join(bits))
        lines.append(text)
    return "<br>".join(lines)


class RestoreWidget(JobWidget):
    """Method grouped by task, card, noise level, device, tile; Run and Cancel (per tile)."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.result_layer = None

        self.layer = LayerCombo(napari_viewer)
        self.method = MethodCombo()
        self.method.set_method(get_setting("restore_method", "bicubic"))
        self.card = wrap_label()
        self.card.setOpenExternalLinks(False)
        self.noise = QComboBox()
        self.noise.addItems(["auto (from the layer name, else noise-blind)", *LEVELS])
        self.device = QComboBox()
        self.device.addItems(device_choices())
        index = self.device.findText(get_setting("restore_device", "auto"))
        self.device.setCurrentIndex(max(index, 0))
        self.device_label = wrap_label()
        tile_row = QWidget()
        row = QHBoxLayout(tile_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.tile_auto = QCheckBox("auto")
        self.tile_auto.setChecked(True)
        self.tile = QSpinBox()
        self.tile.setRange(32, 4096)
        self.tile.setSingleStep(32)
        self.tile.setValue(256)
        self.tile.setEnabled(False)
        row.addWidget(self.tile_auto)
        row.addWidget(self.tile)
        self.current_only = QCheckBox("only the displayed frame of a stack")
        run_row, self.run_button, self.cancel_button = run_cancel_row("Run")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.status = wrap_label()

        form = QFormLayout()
        form.addRow("image", self.layer)
        form.addRow("method", self.method)
        form.addRow(self.card)
        form.addRow("noise level", self.noise)
        form.addRow("device", self.device)
        form.addRow("", self.device_label)
        form.addRow("tile (px)", tile_row)
        form.addRow("", self.current_only)
        self.stack(form, run_row, self.bar, self.status)

        self.method.currentIndexChanged.connect(self._method_changed)
        self.device.currentTextChanged.connect(self._device_changed)
        self.tile_auto.toggled.connect(lambda on: self.tile.setEnabled(not on))
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self._method_changed()
        self._device_changed(self.device.currentText())

    def reset_choices(self, *_: Any) -> None:
        self.layer.reset_choices()

    def _method_changed(self, *_: Any) -> None:
        method = self.method.method()
        if not method:
            return
        self.card.setText(card_html(method, self.method.cards))
        set_settings(restore_method=method)

    def _device_changed(self, choice: str) -> None:
        from ..errors import W2SInputError

        try:
            self.device_label.setText(f"runs on: {describe_device(choice)}")
        except W2SInputError as exc:
            self.device_label.setText(str(exc))
        set_settings(restore_device=choice)

    def noise_level(self, layer: Any) -> str | None:
        if self.noise.currentIndex() > 0:
            return self.noise.currentText()
        return level_from_name(layer.name)

    # ------------------------------------------------------------------ run
    def run(self) -> Job | None:
        from ..errors import W2SInputError
        from ._common import plane_of

        layer = self.layer.value()
        method = self.method.method()
        try:
            if layer is None:
                raise W2SInputError("choose an image layer to restore first")
            if not method:
                raise W2SInputError("choose a method (not a group title)")
            if getattr(layer, "rgb", False):
                raise W2SInputError(f"layer {layer.name!r} is RGB; restore a grey image")
            missing = missing_weights(method, self.method.cards)
            if missing:
                raise W2SInputError(
                    f"no trained weights for {', '.join(missing)} are shipped with this version; "
                    f"train them with `w2s train --model {missing[0]}` or choose a classical "
                    "method")  # fmt: skip
        except W2SInputError as exc:
            user_error(exc)
            return None
        data, lead = layer.data, ()
        if layer.data.ndim > 2 and self.current_only.isChecked():
            data, lead = plane_of(self.viewer, layer)
        tile = None if self.tile_auto.isChecked() else int(self.tile.value())
        self._run = {"layer": layer, "method": method, "lead": lead, "device":
                     self.device.currentText(), "tile": tile, "noise_level":
                     self.noise_level(layer), "t0": time.perf_counter()}  # fmt: skip
        planes = 1 if data.ndim == 2 else int(_prod(data.shape[:-2]))
        self.bars = Bars(f"{method} on {layer.name}", planes, "tiles")
        self.bar.setValue(0)
        self.bar.setFormat(f"{method}: loading …")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"restoring {layer.name} with {method} …")
        self.job = Job(restore_job, data, method, self._run["device"], tile,
                       self._run["noise_level"], on_yield=self._progress, on_done=self._add_layer,
                       on_finish=self._finished)  # fmt: skip
        return self.job.start()

    def cancel(self) -> None:
        if self.job is not None and not self.job.finished:
            self.job.cancel()
            self.status.setText("cancelling at the next tile …")

    def _progress(self, rec: dict) -> None:
        if "stage" in rec:
            if rec["stage"] == "running":
                self.bar.setFormat("%p%")
            return
        frac = (rec["plane"] + rec["done"] / max(rec["total"], 1)) / rec["planes"]
        self.bar.setValue(round(1000 * frac))
        bars = self.bars  # a local reference: the bars may be closed during the update
        if bars is not None:
            bars.set_outer(rec["plane"], rec["planes"])
            bars.set_inner(rec["done"], rec["total"])

    def _finished(self) -> None:
        self.idle()
        if self.job is not None and self.job.cancelled:
            self.bar.setFormat("cancelled")
            self.status.setText("cancelled: no layer added")
        elif self.job is not None and self.job.failed:
            self.bar.setFormat("failed")
            self.status.setText("failed: see the notification")

    def _add_layer(self, value: Any) -> None:
        from ..geometry import upsampled_geometry

        result, pipeline, seconds, factor = value
        run = self._run
        layer = run["layer"]
        scale = tuple(float(s) for s in layer.scale)
        translate = tuple(float(t) for t in layer.translate)
        if run["lead"]:  # one plane of a stack: a 2-D layer at the same place
            scale, translate = scale[-2:], translate[-2:]
        if factor > 1:
            scale, translate = upsampled_geometry(scale, translate, factor=factor)
        axes = (layer.metadata.get("axes") or "")[-result.ndim:]
        if len(axes) != result.ndim:
            axes = {2: "YX", 3: "TYX", 4: "TCYX"}.get(result.ndim, "")
        weights = [s.get("weights") for s in pipeline["steps"] if s.get("weights")]
        parameters = {"device": run["device"], "tile": run["tile"] or "auto",
                      "noise_level": run["noise_level"] or "blind/estimated",
                      "frame": list(run["lead"]) or "all"}  # fmt: skip
        provenance = {"method": run["method"], "model": weights or None, "parameters": parameters,
                      "pipeline": pipeline, "seconds": round(seconds, 3),
                      "source": layer.metadata.get("source") or layer.name,
                      "source_layer": layer.name}  # fmt: skip
        meta = {"method": run["method"], "model": weights or None, "parameters": parameters,
                "seconds": round(seconds, 3), "pipeline": pipeline, "axes": axes,
                "source": provenance["source"], "provenance": provenance}  # fmt: skip
        suffix = f" frame {','.join(map(str, run['lead']))}" if run["lead"] else ""
        self.result_layer = self.viewer.add_image(
            result, name=f"{layer.name}{suffix} {run['method']}", scale=scale,
            translate=translate, colormap="gray", metadata=meta)  # fmt: skip
        devices = {s.get("device") for s in pipeline["steps"] if s.get("device")}
        where = f" on {', '.join(sorted(devices))}" if devices else ""
        self.bar.setValue(1000)
        self.status.setText(f"{run['method']}: {tuple(layer.data.shape)} -> {result.shape} in "
                            f"{seconds:.2f} s{where}")  # fmt: skip
        if not devices and run["device"] not in ("auto", "cpu"):
            warn(f"{run['method']} is a classical method: it runs on the CPU whatever the device")


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out
