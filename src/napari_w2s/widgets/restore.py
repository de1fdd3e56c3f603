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
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ..averaging import W2S_LEVEL_NAMES as LEVELS
from ..restore.threads import describe_threads, from_choice, thread_choices
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
    is_clean_name,
    is_sim_name,
    level_from_name,
    missing_weights,
    run_cancel_row,
    set_settings,
    user_error,
    warn,
    wrap_label,
)

AUTO_LEVEL = "auto (from the layer name, else from the image's signal-to-noise)"
META_KEYS = ("split", "views", "units")


def restore_job(data: Any, method: str, device: str, tile: int | None, noise_level: str | None,
                budget_s: float | None = None, trust: bool = False,
                threads: int | str | None = None,
                weights: str | None = None):  # fmt: skip
    """Worker body: resolve the pipeline (loads weights, imports torch), restore tile by tile.

    Yields ``{"stage": "loading"}`` once, then the engine's progress dicts; returns
    ``(result, pipeline description, seconds, scale, check)``. With ``budget_s``, a stack that
    would take longer returns an :class:`~napari_w2s.restore.engine.Estimate` as its result
    (measured on its first plane) and nothing more is computed. With ``trust``, a 2-D result is
    checked against its input (:func:`~napari_w2s.analysis.consistency.check_restoration`):
    ``check`` is the :class:`~napari_w2s.analysis.consistency.Consistency` (else ``None``).
    ``weights``: a ``.safetensors`` file with its card or a BioImage Model Zoo package instead
    of the shipped weights (``w2s restore --weights``).
    """
    import numpy as np

    from ..restore.engine import Estimate, iter_restore, resolve

    yield {"stage": "loading"}
    if noise_level == "auto" and not weights:  # the per-level model for inputs this noisy
        from ..restore.zoo import auto_level

        arr = np.asarray(data[(0,) * (np.ndim(data) - 2)], dtype=np.float64)
        noise_level = auto_level(method, arr)
    pipeline = resolve(method, device=device, tile=tile, noise_level=noise_level, threads=threads,
                       weights=weights or None)  # fmt: skip
    yield {"stage": "running", "scale": pipeline.scale}
    t0 = time.perf_counter()
    result = yield from iter_restore(pipeline, data, budget_s=budget_s)
    seconds = time.perf_counter() - t0
    check = None
    if trust and not isinstance(result, Estimate) and np.ndim(result) == 2:
        from ..analysis.consistency import check_restoration

        yield {"stage": "checking"}
        check = check_restoration(result, np.asarray(data))
    return result, pipeline.describe(), seconds, pipeline.scale, check


# ---------------------------------------------------------------------------------- the card
def card_for(name: str, cards: list[dict], noise_level: str | None) -> dict | None:
    """The card whose weights run for ``noise_level`` (the logic of ``zoo.find_weights``);
    ``name`` may be a model's file stem (a user model)."""
    for c in cards:
        if c.get("source") == "user" and str(c.get("stem", "")).lower() == name.lower():
            return c
    mine = [c for c in cards if c.get("name") == name and c.get("source") != "user"]
    if noise_level:
        for c in mine:
            if c.get("noise_level") == noise_level:
                return c
    for c in mine:
        if c.get("noise_level") == "blind":
            return c
    if mine:
        return mine[0]
    users = [c for c in cards if c.get("name") == name]  # no shipped weights: the user's
    return users[-1] if users else None


def weights_label(card: dict) -> str:
    """``"jdsr-avg1-compact (per-level: avg1)"`` / ``"jdsr-blind-compact (noise-blind)"``."""
    stem = str(card.get("file", "")).split("/")[-1].removesuffix(".safetensors")
    level = card.get("noise_level", "?")
    kind = {"blind": "noise-blind", "clean": "for clean input"}.get(level, f"per-level: {level}")
    return f"{stem or card.get('name', '?')} ({kind})"


def _metrics_table(metrics: dict) -> str:
    """Held-out metrics as a small HTML table: one column per noise level, rows RMSE and SSIM."""
    levels = [k for k, v in metrics.items() if k not in META_KEYS and isinstance(v, dict)]
    if not levels:
        return ""
    cell = "style='padding: 0 6px; text-align: right'"
    head = "".join(f"<th {cell}>{html.escape(lv)}</th>" for lv in levels)
    rows = []
    for key, label, fmt in (("rmse", "RMSE", ".3f"), ("ssim", "SSIM", ".2f")):
        vals = [metrics[lv].get(key) for lv in levels]
        if all(v is None for v in vals):
            continue
        tds = "".join(f"<td {cell}>{format(v, fmt) if isinstance(v, (int, float)) else '–'}</td>"
                      for v in vals)  # fmt: skip
        rows.append(f"<tr><td>{label}</td>{tds}</tr>")
    where = ", ".join(str(metrics[k]) for k in ("split", "units") if k in metrics)
    views = f", {metrics['views']} views" if "views" in metrics else ""
    return (f"held-out ({html.escape(where)}{views}):"
            f"<table cellspacing='0'><tr><th></th>{head}</tr>{''.join(rows)}</table>")


def card_html(method: str, cards: list[dict], noise_level: str | None = None) -> str:
    """A readable card: what the method is, which weights run (for this noise level), how the
    image is normalised, and the measured held-out metrics."""
    from ..models import get_spec
    from ..normalisation import describe
    from ..restore.classical import DESCRIPTIONS, METHODS

    lines = []
    for part in method.split("+"):
        if part in METHODS:
            lines.append(f"<b>{part}</b> (classical, x{2 if part == 'bicubic' else 1}): "
                         f"{html.escape(DESCRIPTIONS[part])}")  # fmt: skip
            continue
        card = card_for(part, cards, noise_level)
        user = card is not None and card.get("source") == "user"
        spec = get_spec(card["name"] if user else part)
        scale = int(card.get("scale", 1)) if card else (1 if spec.task == "denoise" else 2)
        text = (f"<b>{part}</b>: {GROUP_TITLES.get(spec.task, spec.task)}, x{scale} "
                f"({spec.architecture}). {html.escape(spec.description)}")  # fmt: skip
        if card is None:
            text += ("<br><span style='color:#e0a030'>No trained weights shipped: train them with "
                     f"<code>w2s train --model {part}</code>.</span>")  # fmt: skip
            lines.append(text)
            continue
        text += f"<br>weights: <b>{html.escape(weights_label(card))}</b>"
        if user:
            text += _user_note(card)
        others = [c for c in cards if c.get("name") == part and c is not card
                  and c.get("source") != "user"]  # fmt: skip
        if others:
            text += " · also shipped: " + ", ".join(
                html.escape(str(c.get("noise_level"))) for c in others)
            if noise_level == "auto":
                text += " (chosen when you run, from the image's signal-to-noise ratio)"
        text += f"<br>normalisation: {html.escape(describe(card.get('normalisation')))}"
        table = _metrics_table(card.get("metrics") or {})
        if table:
            text += "<br>" + table
        lines.append(text)
    return "<br>".join(lines)


def _user_note(card: dict) -> str:
    """Where a user model is and what it was trained from (its card's training record)."""
    t = card.get("training") or {}
    init = (t.get("initialised_from") or {}).get("file")
    parts = [f"your model, {t.get('iterations', '?')} iterations"]
    parts.append(f"fine-tuned from {init}" if init else "trained from scratch")
    data = t.get("data")
    if data:
        parts.append(f"on {data}")
    return (f"<br><span style='color:#80c080'>{html.escape(', '.join(parts))}</span>"
            f"<br><small>{html.escape(str(card.get('file', '')))}</small>")


def preferred_layer(layers: list, active: Any = None) -> Any:
    """The layer a user most likely wants to restore.

    A noise level (``avgN`` but not the clean average: the lowest N first), then the active
    2-D input, then any 2-D input (not a result of a method, not a clean or SIM reference),
    then a stack (whose displayed frame the widget then preselects).
    """
    def is_input(ly: Any) -> bool:
        return ("method" not in (ly.metadata or {}) and not is_sim_name(ly.name)
                and not is_clean_name(ly.name))  # fmt: skip

    levels = []
    for ly in layers:
        level = level_from_name(ly.name)
        if level and "clean" not in ly.name.lower() and ly.data.ndim == 2 and is_input(ly):
            levels.append((int(level[3:]), ly))
    if levels:
        return min(levels, key=lambda t: t[0])[1]
    flat = [ly for ly in layers if ly.data.ndim == 2 and is_input(ly)]
    if active is not None and active in flat:
        return active
    if flat:
        return flat[0]
    stacks = [ly for ly in layers if ly.data.ndim > 2 and is_input(ly)]
    return stacks[0] if stacks else (layers[0] if layers else None)


def _speed_key(layer: Any, method: str, device: str, tile: Any, noise: Any, threads: Any = None
               ) -> tuple:  # fmt: skip
    return (method, device, tile, noise, threads, tuple(layer.data.shape[-2:]))


class RestoreWidget(JobWidget):
    """Method grouped by task, card, noise level, device, tile; Run and Cancel (per tile).

    A stack run that would take longer than :attr:`LONG_S` seconds (the first plane is timed)
    stops after that plane and asks: all planes, or only the displayed frame.
    """

    LONG_S = 60.0
    _speeds: dict = {}  # seconds per plane measured in this session, by _speed_key

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.result_layer = None
        self.trust_layer = None
        self.estimate = None
        self._guessed = False

        self.layer = LayerCombo(napari_viewer)
        self.layer.setToolTip("the image to restore: a noise level (avgN), a 2-D image, or a "
                              "stack (frame by frame)")  # fmt: skip
        self.method = MethodCombo()
        self.method.set_method(get_setting("restore_method", self.method.default_method()))
        self.method.setToolTip("what to do with the image: JDSR denoises and doubles the "
                               "resolution in one step (the main method); the other groups "
                               "only denoise, only upsample x2, or do one after the other")  # fmt: skip
        self.card = wrap_label()
        self.card.setOpenExternalLinks(False)
        self.card.setToolTip("the selected method: what it does, which trained weights run for "
                             "this image, and how well it did on held-out test images")  # fmt: skip
        self.noise = QComboBox()
        self.noise.addItems([AUTO_LEVEL, *LEVELS])
        self._noise_tip = ("how noisy the image is, in W2S frames averaged (avg1 = one "
                           "frame): it decides which trained model runs. auto takes avgN from "
                           "the layer name or the Analysis widget's estimate, else the image's "
                           "signal-to-noise ratio (the per-level model where the image is as "
                           "noisy as its training data, else the noise-blind one)")  # fmt: skip
        self.noise.setToolTip(self._noise_tip)
        self.device = QComboBox()
        self.device.addItems(device_choices())
        self.device.setToolTip("where the networks run: auto takes the GPU when there is one, "
                               "else the CPU")  # fmt: skip
        index = self.device.findText(get_setting("restore_device", "auto"))
        self.device.setCurrentIndex(max(index, 0))
        self.threads = QComboBox()
        self.threads.addItems(thread_choices())
        chosen = self.threads.findText(str(get_setting("restore_threads", "auto")))
        self.threads.setCurrentIndex(max(chosen, 0))
        self.threads.setToolTip("CPU threads of the networks: auto = the cores free now (the "
                                "cores minus the load of other programs); all = every core")  # fmt: skip
        device_row = QWidget()
        row = QHBoxLayout(device_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.device, 1)
        row.addWidget(self.threads)
        self.device_label = wrap_label()
        weights_row = QWidget()
        wrow = QHBoxLayout(weights_row)
        wrow.setContentsMargins(0, 0, 0, 0)
        self.weights = QLineEdit()
        self.weights.setPlaceholderText("shipped weights")
        self.weights.setToolTip("your own weights instead of the shipped ones: a .safetensors file "
                                "with its .json card, or a BioImage Model Zoo package (.zip, or "
                                "a folder with rdf.yaml: 2-D, one channel, same size or x2)")  # fmt: skip
        self.weights_button = QPushButton("Choose …")
        self.weights_button.setToolTip("pick your own weights file or BioImage Model Zoo package")
        self.weights_button.clicked.connect(self._choose_weights)
        wrow.addWidget(self.weights)
        wrow.addWidget(self.weights_button)
        tile_row = QWidget()
        row = QHBoxLayout(tile_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.tile_auto = QCheckBox("auto")
        self.tile_auto.setChecked(True)
        self.tile_auto.setToolTip("tiles sized from the free memory of the device; set a smaller "
                                  "tile if the GPU runs out of memory")  # fmt: skip
        self.tile = QSpinBox()
        self.tile.setRange(96, 4096)  # at least twice the 48-pixel tile overlap
        self.tile.setSingleStep(32)
        self.tile.setValue(256)
        self.tile.setEnabled(False)
        self.tile.setToolTip("the image is processed in square pieces of this many pixels "
                             "(overlapping, so no seams); smaller pieces need less memory")  # fmt: skip
        row.addWidget(self.tile_auto)
        row.addWidget(self.tile)
        self.trust = QCheckBox("add a trust map (where the data support the result)")
        self.trust.setChecked(bool(get_setting("restore_trust", True)))
        self.trust.setToolTip("push the result back through the imaging model and compare it with "
                              "the input, in noise units: red/blue where the result has more/less "
                              "than the data support (w2s check); for one image or frame")  # fmt: skip
        self.current_only = QCheckBox("only the displayed frame of a stack")
        self.current_only.setToolTip("restore the frame under the slider; the result shows at "
                                     "that frame only")  # fmt: skip
        self.replace = QCheckBox("replace an earlier result of the same method")
        self.replace.setChecked(bool(get_setting("restore_replace", True)))
        self.replace.setToolTip("on: running the same method on the same image again overwrites "
                                "its result layer instead of adding 'name [1]'; earlier results "
                                "of other methods are hidden, not deleted")  # fmt: skip
        self.estimate_label = wrap_label()
        self.confirm = QWidget()
        confirm_row = QHBoxLayout(self.confirm)
        confirm_row.setContentsMargins(0, 0, 0, 0)
        self.confirm_all = QPushButton("Run all planes")
        self.confirm_frame = QPushButton("Only the displayed frame")
        self.confirm_all.setToolTip("restore every plane of the stack (the time shown is "
                                    "measured on the first plane)")  # fmt: skip
        self.confirm_frame.setToolTip("restore only the frame under the slider")
        confirm_row.addWidget(self.confirm_all)
        confirm_row.addWidget(self.confirm_frame)
        self.confirm.hide()
        run_row, self.run_button, self.cancel_button = run_cancel_row("Run")
        self.run_button.setToolTip("restore the image with the method; the result is added as a "
                                   "new layer that overlays the input (x2: half the pixel size)")  # fmt: skip
        self.cancel_button.setToolTip("stop after the current tile; nothing is added")
        self.compare_button = QPushButton("Overlay with SIM")
        self.compare_button.setToolTip("show the last result in green over the SIM reference in "
                                       "magenta (white where they agree), other layers hidden")  # fmt: skip
        self.compare_button.setEnabled(False)
        self.bar = QProgressBar()
        self.bar.setToolTip("progress of the running restoration (tiles and planes)")
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.status = wrap_label()

        form = QFormLayout()
        form.addRow("image", self.layer)
        form.addRow("", self.current_only)
        form.addRow("method", self.method)
        form.addRow(self.card)
        form.addRow("noise level", self.noise)
        form.addRow("weights", weights_row)
        form.addRow("device, threads", device_row)
        form.addRow("", self.device_label)
        form.addRow("tile (px)", tile_row)
        form.addRow("", self.trust)
        form.addRow("", self.replace)
        self.stack(form, run_row, self.estimate_label, self.confirm, self.bar, self.status,
                   self.compare_button)  # fmt: skip

        self.method.currentIndexChanged.connect(self._method_changed)
        self.device.currentTextChanged.connect(self._device_changed)
        self.threads.currentTextChanged.connect(self._threads_changed)
        self.layer.currentTextChanged.connect(self._layer_changed)
        self.noise.currentIndexChanged.connect(self._layer_changed)
        self.current_only.toggled.connect(self._update_estimate)
        self.tile_auto.toggled.connect(lambda on: self.tile.setEnabled(not on))
        self.trust.toggled.connect(lambda on: set_settings(restore_trust=on))
        self.replace.toggled.connect(lambda on: set_settings(restore_replace=on))
        self.weights.textChanged.connect(self._method_changed)
        self.compare_button.clicked.connect(self.compare_with_sim)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.confirm_all.clicked.connect(lambda: self.run(confirmed=True))
        self.confirm_frame.clicked.connect(self._run_frame)
        self._guess_layer()
        self._layer_changed()
        self._method_changed()
        self._device_changed(self.device.currentText())

    def _choose_weights(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self, "Weights or BioImage Model Zoo package", "",
            "weights or packages (*.safetensors *.zip *.yaml);;all files (*)")  # fmt: skip
        if path:
            if path.endswith(".yaml"):  # a package folder, chosen by its rdf.yaml
                from pathlib import Path

                path = str(Path(path).parent)
            self.weights.setText(path)

    # ------------------------------------------------------------------ choices
    def reset_choices(self, *_: Any) -> None:
        self.layer.reset_choices()
        self._guess_layer()
        self._layer_changed()

    def _guess_layer(self) -> None:
        """Preselect a noise level, a 2-D image, or a stack's displayed frame (until the user
        chooses)."""
        if self.layer.chosen:
            return
        active = self.viewer.layers.selection.active
        layer = preferred_layer(self.layer.layers(), active)
        if layer is None:
            return
        if self.layer.currentText() != layer.name or not self._guessed:
            self._guessed = True
            self.layer.set_value(layer.name, chosen=False)
            self.current_only.setChecked(layer.data.ndim > 2)

    def _layer_changed(self, *_: Any) -> None:
        layer = self.layer.value()
        self.current_only.setEnabled(layer is not None and layer.data.ndim > 2)
        self._update_card()
        self._update_estimate()

    def _method_changed(self, *_: Any) -> None:
        method = self.method.method()
        if not method:
            return
        from ..restore.classical import METHODS

        classical = all(p.strip() in METHODS for p in method.split("+"))
        self.noise.setEnabled(not classical or bool(self.weights.text().strip()))
        self.noise.setToolTip(self._noise_tip + (" (classical methods estimate the noise "
                              "themselves: not used)" if classical else ""))  # fmt: skip
        self._update_card()
        self._update_estimate()
        set_settings(restore_method=method)

    def _update_card(self) -> None:
        method = self.method.method()
        if not method:
            return
        layer = self.layer.value()
        level = self.noise_level(layer) if layer is not None else None
        self.card.setText(card_html(method, self.method.cards, level))

    def _device_changed(self, choice: str) -> None:
        from ..errors import W2SInputError

        try:
            text = f"runs on: {describe_device(choice)}"
            if "cpu" in text.split("(")[0]:  # threads matter on the CPU only
                text += f"; threads: {describe_threads(self.threads_value())}"
            self.device_label.setText(text)
        except W2SInputError as exc:
            self.device_label.setText(str(exc))
        set_settings(restore_device=choice)
        self._update_estimate()

    def _threads_changed(self, choice: str) -> None:
        set_settings(restore_threads=choice)
        self._device_changed(self.device.currentText())

    def threads_value(self) -> int | str | None:
        """The threads choice as the engine takes it (``None``: every core)."""
        return from_choice(self.threads.currentText())

    def noise_level(self, layer: Any) -> str | None:
        """A level, or ``"auto"``: chosen in the job from the image's signal-to-noise ratio.

        *auto* takes a W2S level from the layer's name (``avg4``, not ``avg400 (clean)``), or
        the one the Analysis widget estimated (``metadata["noise"]["level"]``)."""
        if self.noise.currentIndex() > 0:
            return self.noise.currentText()
        if layer is None:
            return None
        level = level_from_name(layer.name)
        if level in LEVELS and "clean" not in layer.name.lower():
            return level
        estimated = ((layer.metadata or {}).get("noise") or {}).get("level")
        return estimated if estimated in LEVELS else "auto"

    def set_noise_level(self, level: str | None) -> None:
        """Choose a W2S level (``None`` or anything else: auto)."""
        index = self.noise.findText(level) if level in LEVELS else 0
        self.noise.setCurrentIndex(max(index, 0))

    def _tile(self) -> int | None:
        return None if self.tile_auto.isChecked() else int(self.tile.value())

    def _planes(self, layer: Any) -> int:
        if layer is None or layer.data.ndim <= 2 or self.current_only.isChecked():
            return 1
        return _prod(layer.data.shape[:-2])

    def _known_estimate(self, layer: Any, method: str) -> Any:
        from ..restore.engine import Estimate

        key = _speed_key(layer, method, self.device.currentText(), self._tile(),
                         self.noise_level(layer), self.threads_value())  # fmt: skip
        spp = self._speeds.get(key)
        return None if spp is None else Estimate(self._planes(layer), spp)

    def _update_estimate(self, *_: Any) -> None:
        """Before a stack run: its planes, and the time they take where it was measured."""
        layer, method = self.layer.value(), self.method.method()
        planes = self._planes(layer)
        self.confirm.hide()
        if planes <= 1 or not method:
            self.estimate_label.setText("")
            self.estimate_label.hide()
            return
        est = self._known_estimate(layer, method)
        if est is not None:
            text = f"whole stack: {est.describe()} (measured here)"
        else:
            text = (f"whole stack: {planes} planes; the first one is timed, and a run longer "
                    f"than {self.LONG_S:.0f} s asks before going on")  # fmt: skip
        self.estimate_label.setText(text)
        self.estimate_label.show()

    # ------------------------------------------------------------------ run
    def run(self, confirmed: bool = False) -> Job | None:
        from ..errors import W2SInputError
        from ._common import plane_of

        layer = self.layer.value()
        method = self.method.method()
        try:
            if self.job is not None and not self.job.finished:
                raise W2SInputError("a restoration is already running: wait or cancel it")
            if layer is None:
                raise W2SInputError("choose an image layer to restore first")
            if not method:
                raise W2SInputError("choose a method (not a group title)")
            if getattr(layer, "rgb", False):
                raise W2SInputError(f"layer {layer.name!r} is RGB; restore a grey image")
            missing = [] if self.weights.text().strip() else missing_weights(
                method, self.method.cards)  # fmt: skip
            if missing:
                raise W2SInputError(
                    f"no trained weights for {', '.join(missing)} are shipped with this version; "
                    f"train them with `w2s train --model {missing[0]}` or choose a classical "
                    "method")  # fmt: skip
        except W2SInputError as exc:
            user_error(exc)
            return None
        self.confirm.hide()
        data, lead = layer.data, ()
        if layer.data.ndim > 2 and self.current_only.isChecked():
            data, lead = plane_of(self.viewer, layer)
        self.current_only.setEnabled(layer.data.ndim > 2)
        planes = 1 if data.ndim == 2 else int(_prod(data.shape[:-2]))
        budget = None if confirmed or planes == 1 else self.LONG_S
        if budget is not None:
            known = self._known_estimate(layer, method)
            if known is not None and known.seconds > budget:
                self._ask(known, layer, method)
                return None
        tile = self._tile()
        self._run = {"layer": layer, "method": method, "lead": lead, "device":
                     self.device.currentText(), "tile": tile, "noise_level":
                     self.noise_level(layer), "threads": self.threads_value(),
                     "t0": time.perf_counter(),
                     "shape": tuple(data.shape), "planes": planes}  # fmt: skip
        self.bars = Bars(f"{method} on {layer.name}", planes, "tiles")
        self.bar.setValue(0)
        self.bar.setFormat(f"{method}: loading …")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        what = f"frame {','.join(map(str, lead))} of " if lead else ""
        what += f"{planes} planes of " if planes > 1 else ""
        self.status.setText(f"restoring {what}{layer.name} with {method} …")
        self.job = Job(restore_job, data, method, self._run["device"], tile,
                       self._run["noise_level"], budget, self.trust.isChecked() and planes == 1,
                       self._run["threads"], self.weights.text().strip() or None,
                       on_yield=self._progress,
                       on_done=self._add_layer, on_finish=self._finished)  # fmt: skip
        return self.job.start()

    def _run_frame(self) -> Job | None:
        self.current_only.setChecked(True)
        return self.run()

    def _ask(self, estimate: Any, layer: Any, method: str) -> None:
        """A long stack run: say how long, offer all planes or the displayed frame."""
        from ..restore.engine import format_seconds

        self.estimate = estimate
        self.confirm_all.setText(f"Run all {estimate.planes} planes "
                                 f"(~{format_seconds(estimate.seconds)})")  # fmt: skip
        self.estimate_label.setText(
            f"<b>{method}</b> on all of <b>{html.escape(layer.name)}</b> takes "
            f"{estimate.describe()} on this machine (measured on the first plane).")  # fmt: skip
        self.estimate_label.show()
        self.confirm.show()
        self.status.setText("not started: confirm the whole stack, or restore the displayed frame")

    def cancel(self) -> None:
        if self.job is not None and not self.job.finished:
            self.job.cancel()
            self.status.setText("cancelling at the next tile …")

    def _progress(self, rec: dict) -> None:
        if "stage" in rec:
            if rec["stage"] == "running":
                self.bar.setFormat("%p%")
            elif rec["stage"] == "checking":
                self.bar.setFormat("checking against the input …")
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

    def _remember_speed(self, seconds_per_plane: float) -> None:
        run = self._run
        key = _speed_key(run["layer"], run["method"], run["device"], run["tile"],
                         run["noise_level"], run["threads"])  # fmt: skip
        self._speeds[key] = float(seconds_per_plane)

    def _add_layer(self, value: Any) -> None:
        from ..geometry import upsampled_geometry
        from ..restore.engine import Estimate

        result, pipeline, seconds, factor, check = value
        run = self._run
        layer = run["layer"]
        if isinstance(result, Estimate):  # the stack would take too long: ask first
            self._remember_speed(result.seconds_per_plane)
            self.bar.setValue(0)
            self.bar.setFormat("waiting for your choice")
            self._ask(result, layer, run["method"])
            return
        self._remember_speed(seconds / max(run["planes"], 1))
        scale = tuple(float(s) for s in layer.scale)
        translate = tuple(float(t) for t in layer.translate)
        if run["lead"]:  # one plane of a stack: a one-frame stack at that frame
            result = result.reshape((1,) * len(run["lead"]) + result.shape)
            n = len(run["lead"])
            moved = tuple(t + i * s for t, s, i in zip(translate[:n], scale[:n], run["lead"],
                                                       strict=True))  # fmt: skip
            translate = moved + translate[n:]
        if factor > 1:
            scale, translate = upsampled_geometry(scale, translate, factor=factor)
        axes = (layer.metadata.get("axes") or "")[-result.ndim:]
        if len(axes) != result.ndim:
            axes = {2: "YX", 3: "TYX", 4: "TCYX"}.get(result.ndim, "")
        weights = [s.get("weights") for s in pipeline["steps"] if s.get("weights")]
        levels = [s.get("noise_level") for s in pipeline["steps"] if s.get("weights")]
        parameters = {"device": run["device"], "threads": run.get("threads") or "all",
                      "tile": run["tile"] or "auto",
                      "noise_level": run["noise_level"] or "blind/estimated",
                      "weights_noise_level": levels or None,
                      "frame": list(run["lead"]) or "all"}  # fmt: skip
        provenance = {"method": run["method"], "model": weights or None, "parameters": parameters,
                      "pipeline": pipeline, "seconds": round(seconds, 3),
                      "source": layer.metadata.get("source") or layer.name,
                      "source_layer": layer.name}  # fmt: skip
        meta = {"method": run["method"], "model": weights or None, "parameters": parameters,
                "seconds": round(seconds, 3), "pipeline": pipeline, "axes": axes,
                "source": provenance["source"], "provenance": provenance}  # fmt: skip
        suffix = f" [frame {','.join(map(str, run['lead']))}]" if run["lead"] else ""
        name = f"{layer.name} {run['method']}{suffix}"
        self._hide_other_results(name, layer.name)
        earlier = self._earlier_result(name)
        if earlier is not None:  # the same method again: overwrite, no "name [1]"
            earlier.data = result
            earlier.scale, earlier.translate = scale, translate
            earlier.metadata = meta
            earlier.visible = True
            earlier.reset_contrast_limits()
            self.result_layer = earlier
        else:
            self.result_layer = self.viewer.add_image(
                result, name=name, scale=scale, translate=translate, colormap="gray",
                metadata=meta)  # fmt: skip
            self._below_reference(self.result_layer)
        self.compare_button.setEnabled(self._sim_for(self.result_layer) is not None)
        devices = {s.get("device") for s in pipeline["steps"] if s.get("device")}
        where = f" on {', '.join(sorted(devices))}" if devices else ""
        used = ""
        if weights:
            kinds = [f"{w.removesuffix('.safetensors')}"
                     + (" (noise-blind)" if lv == "blind" else f" ({lv})" if lv else "")
                     for w, lv in zip(weights, levels, strict=False)]  # fmt: skip
            used = f" with {', '.join(kinds)}"
        self.bar.setValue(1000)
        self.bar.setFormat("done")
        self.status.setText(f"{run['method']}{used}: {run['shape']} -> "
                            f"{tuple(result.shape[-2:]) if run['lead'] else result.shape} in "
                            f"{seconds:.2f} s{where}")  # fmt: skip
        if check is not None:
            self._add_trust_map(check, layer, run)
        if not devices and run["device"] not in ("auto", "cpu"):
            warn(f"{run['method']} is a classical method: it runs on the CPU whatever the device")

    def _add_trust_map(self, check: Any, layer: Any, run: dict) -> None:
        """The consistency map on the input's grid, diverging around 0, with the verdict."""
        z = check.z
        scale = tuple(float(s) for s in layer.scale)[-2:]
        translate = tuple(float(t) for t in layer.translate)
        if run["lead"]:
            n = len(run["lead"])
            lead_s = tuple(float(s) for s in layer.scale)[:n]
            lead_t = tuple(t + i * s for t, s, i in zip(translate[:n], lead_s, run["lead"],
                                                        strict=True))  # fmt: skip
            z = z.reshape((1,) * n + z.shape)
            scale, translate = lead_s + scale, lead_t + translate[n:]
        suffix = f" [frame {','.join(map(str, run['lead']))}]" if run["lead"] else ""
        name = f"{layer.name} {run['method']} trust z{suffix}"
        meta = {"trust": check.to_dict(), "source_layer": layer.name}
        old = self.viewer.layers[name] if name in self.viewer.layers else None
        if old is not None and self.replace.isChecked() and "trust" in (old.metadata or {}):
            old.data, old.scale, old.translate, old.metadata = z, scale, translate, meta
            old.visible = True
            self.trust_layer = old
        else:
            self.trust_layer = self.viewer.add_image(
                z, name=name, scale=scale, translate=translate, colormap="RdBu_r",
                contrast_limits=(-6, 6), opacity=0.7, metadata=meta)  # fmt: skip
        self.status.setText(
            f"{self.status.text()}<br>trust: <b>{check.verdict}</b>, "
            f"{100 * check.outside_3sigma:.2f} % of the pixels beyond 3 sigma "
            f"(blue: brighter than the data support, e.g. invented; red: darker, e.g. lost)")  # fmt: skip

    def _earlier_result(self, name: str) -> Any:
        """The result layer ``name`` of an earlier run, where it may be replaced."""
        if not self.replace.isChecked() or name not in self.viewer.layers:
            return None
        layer = self.viewer.layers[name]
        return layer if "method" in (layer.metadata or {}) else None

    def _hide_other_results(self, name: str, source: str) -> None:
        """Hide earlier results of other methods on the same input: the new one shows."""
        for ly in self.viewer.layers:
            meta = ly.metadata or {}
            if (ly.name != name and ("method" in meta or "trust" in meta)
                    and meta.get("source_layer") == source):
                ly.visible = False

    def _sim_for(self, result: Any) -> Any:
        """A SIM layer on the result's grid (same pixel size), or ``None``."""
        import numpy as np

        if result is None or result not in self.viewer.layers:
            return None
        for ly in self.viewer.layers:
            if (ly.name != result.name and is_sim_name(ly.name) and ly.data.ndim == 2
                    and np.allclose(ly.scale[-2:], result.scale[-2:], rtol=1e-3)):
                return ly
        return None

    def compare_with_sim(self) -> Any:
        """The last result in green and the SIM reference in magenta, both additive (white
        where they agree), every other layer hidden; the SIM layer is returned."""
        result = self.result_layer
        sim = self._sim_for(result)
        if sim is None:
            warn("no SIM layer with the result's pixel size to compare with")
            return None
        keep = {result.name, sim.name}  # by name: the viewer hands out proxies of the layers
        for ly in self.viewer.layers:
            ly.visible = ly.name in keep
        result.colormap, result.blending = "green", "additive"
        sim.colormap, sim.blending = "magenta", "additive"
        self.status.setText(f"{self.status.text()}<br>overlay: {result.name} green, {sim.name} "
                            "magenta, white where they agree")  # fmt: skip
        return sim

    def _below_reference(self, result: Any) -> None:
        """Move a result under a SIM reference of the same geometry, so the overlay shows."""
        import numpy as np

        layers = self.viewer.layers
        for i, ly in enumerate(layers):
            if ly.name == result.name or not is_sim_name(ly.name) or ly.data.ndim != 2:
                continue
            if np.allclose(ly.scale[-2:], result.scale[-2:], rtol=1e-3):
                layers.move(layers.index(result), i)
                return


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out
