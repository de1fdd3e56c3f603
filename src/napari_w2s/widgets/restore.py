"""Dock widget "Restore": run a method (deep, classical or a sequence) on an image layer.

The widget collects a :class:`~napari_w2s.restore.layers.LayerRun` from its controls, runs
:func:`~napari_w2s.restore.layers.restore_job` in a :class:`~._jobs.Job` and adds the layers
that :mod:`napari_w2s.restore.layers` describes; the method's card comes from
:mod:`napari_w2s.restore.method_cards`.
"""

from __future__ import annotations

import html
from dataclasses import replace
from typing import Any, ClassVar

from qtpy.QtWidgets import QFormLayout, QProgressBar, QPushButton

from ..layer_names import preferred_layer
from ..restore.layers import (
    LayerRun,
    Speeds,
    device_note,
    reliability_layer,
    reliability_summary,
    restore_job,
    result_layer,
    summary,
    trust_layer,
    trust_summary,
)
from ..restore.method_cards import card_html, weights_refusal
from ..restore.methods import is_classical
from ._controls import (
    LayerCombo,
    LevelCombo,
    MethodCombo,
    TileChoice,
    WeightsField,
    checkbox,
    hrow,
    run_cancel_row,
    tip,
    wrap_label,
)
from ._device import DeviceChoice, saved_combo
from ._jobs import (
    Bars,
    Job,
    JobWidget,
    add_image,
    hide_other_results,
    move_below_reference,
    overlay,
    plane_of,
    sim_reference,
    user_error,
    warn,
)
from ._restore_text import (
    AUTO_LEVEL,
    CLASSICAL_NOTE,
    LABELS,
    NOISE_TIP,
    ORIENTATION_ITEMS,
    TIPS,
    orientations_of,
)
from ._settings import get_setting, set_settings


class RestoreWidget(JobWidget):
    """Method grouped by task, card, noise level, device, tile; Run and Cancel (per tile).

    A stack run that would take longer than :attr:`LONG_S` seconds (the first plane is timed)
    stops after that plane and asks: all planes, or only the displayed frame.
    """

    LONG_S = 60.0
    _speeds: ClassVar[Speeds] = Speeds()  # seconds per plane measured in this session

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.result_layer = None
        self.trust_layer = None
        self.reliability_layer = None
        self.estimate = None
        self._guessed = False
        self._run: LayerRun | None = None
        self._build()
        self._connect()
        self._guess_layer()
        self._layer_changed()
        self._method_changed()
        self.devices.update()

    def _build(self) -> None:
        self.layer = tip(LayerCombo(self.viewer), TIPS["layer"])
        self.method = tip(MethodCombo(), TIPS["method"])
        self.method.set_method(get_setting("restore_method", self.method.default_method()))
        self.card = tip(wrap_label(), TIPS["card"])
        self.card.setOpenExternalLinks(False)
        self.noise = LevelCombo(AUTO_LEVEL, NOISE_TIP)
        self.devices = DeviceChoice(
            TIPS["device"], TIPS["threads"], self._update_estimate, TIPS["precision"]
        )
        self.device, self.threads = self.devices.device, self.devices.threads
        self.precision = self.devices.precision
        self.device_label = self.devices.label
        weights = WeightsField(TIPS["weights"], TIPS["weights_button"])
        self.weights, self.weights_button = weights.edit, weights.button
        self.tile_choice = TileChoice(TIPS["tile_auto"], TIPS["tile"])
        self.tile_auto, self.tile = self.tile_choice.auto, self.tile_choice.size
        self.orientations = saved_combo(
            list(ORIENTATION_ITEMS.values()), "restore_orientations", TIPS["orientations"]
        )
        self.trust = checkbox(LABELS["trust"], TIPS["trust"], "restore_trust", default=True)
        self.current_only = checkbox(LABELS["current_only"], TIPS["current_only"])
        self.reliability = checkbox(LABELS["reliability"], TIPS["reliability"])
        self.replace = checkbox(LABELS["replace"], TIPS["replace"], "restore_replace", True)
        self.estimate_label = wrap_label()
        self.confirm_all = tip(QPushButton("Run all planes"), TIPS["confirm_all"])
        self.confirm_frame = tip(QPushButton("Only the displayed frame"), TIPS["confirm_frame"])
        self.confirm = hrow(self.confirm_all, self.confirm_frame)
        self.confirm.hide()
        run_row, self.run_button, self.cancel_button = run_cancel_row(
            "Run", TIPS["run"], TIPS["cancel"]
        )
        self.compare_button = tip(QPushButton("Overlay with SIM"), TIPS["compare"])
        self.compare_button.setEnabled(False)
        self.bar = tip(QProgressBar(), TIPS["bar"])
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.status = wrap_label()

        form = QFormLayout()
        rows = (
            ("image", self.layer),
            ("", self.current_only),
            ("method", self.method),
            (None, self.card),
            ("noise level", self.noise),
            ("weights", weights),
            ("device, threads, precision", self.devices.row),
            ("", self.device_label),
            ("tile (px)", self.tile_choice),
            ("orientations averaged", self.orientations),
            ("", self.trust),
            ("", self.reliability),
            ("", self.replace),
        )
        for label, widget in rows:
            if label is None:
                form.addRow(widget)
            else:
                form.addRow(label, widget)
        below = (self.estimate_label, self.confirm, self.bar, self.status, self.compare_button)
        self.stack(form, run_row, *below)

    def _connect(self) -> None:
        self.method.currentIndexChanged.connect(self._method_changed)
        self.layer.currentTextChanged.connect(self._layer_changed)
        self.noise.currentIndexChanged.connect(self._layer_changed)
        self.current_only.toggled.connect(self._update_estimate)
        self.orientations.currentTextChanged.connect(self._orientations_changed)
        self.reliability.toggled.connect(self._layer_changed)
        self.weights.textChanged.connect(self._method_changed)
        self.compare_button.clicked.connect(self.compare_with_sim)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.confirm_all.clicked.connect(lambda: self.run(confirmed=True))
        self.confirm_frame.clicked.connect(self._run_frame)

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
        self.reliability.setEnabled(layer is not None and layer.data.ndim == 3)
        level_run = self._level_run(layer)
        self.current_only.setEnabled(layer is not None and layer.data.ndim > 2 and not level_run)
        self._update_card()
        self._update_estimate()

    def _method_changed(self, *_: Any) -> None:
        method = self.method.method()
        if not method:
            return
        classical = is_classical(method)
        self.noise.set_used(not classical or bool(self.weights.text().strip()), CLASSICAL_NOTE)
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

    def threads_value(self) -> int | str | None:
        """The threads choice as the engine takes it (``None``: every core)."""
        return self.devices.threads_value()

    def noise_level(self, layer: Any) -> str | None:
        """A level, or ``"auto"``: chosen in the job from the image's signal-to-noise ratio.

        *auto* takes a W2S level from the layer's name (``avg4``, not ``avg400 (clean)``), or
        the one the Analysis widget estimated (``metadata["noise"]["level"]``)."""
        return self.noise.level(layer)

    def set_noise_level(self, level: str | None) -> None:
        """Choose a W2S level (``None`` or anything else: auto)."""
        self.noise.set_level(level)

    def _orientations_changed(self, choice: str) -> None:
        set_settings(restore_orientations=choice)
        self._update_estimate()

    def _level_run(self, layer: Any) -> bool:
        """Whether Run restores a W2S level of a stack with its reliability map."""
        return layer is not None and layer.data.ndim == 3 and self.reliability.isChecked()

    def _settings(self, layer: Any, method: str, lead: tuple[int, ...] = ()) -> LayerRun:
        """The run of ``method`` on ``layer`` (its frame ``lead``, or the W2S level of a stack
        for the reliability map) with the controls' options."""
        level = self.noise_level(layer)
        stack_level = {}
        if self._level_run(layer) and level not in (None, "auto"):
            stack_level, lead = {"level": int(level[3:]), "reliability": True}, ()
        return LayerRun.of_layer(
            layer,
            method,
            lead,
            device=self.device.currentText(),
            tile=self.tile_choice.value(),
            noise_level=level,
            threads=self.threads_value(),
            precision=self.precision.currentText(),
            orientations=orientations_of(self.orientations.currentText()),
            weights=self.weights.text().strip() or None,
            **stack_level,
        )

    def _planned(self, layer: Any, method: str) -> LayerRun:
        """The run that Run would start (the frame as a placeholder: its index does not
        matter before the run)."""
        frame = layer.data.ndim > 2 and self.current_only.isChecked() and not self._level_run(layer)
        return self._settings(layer, method, (0,) * (layer.data.ndim - 2) if frame else ())

    def _update_estimate(self, *_: Any) -> None:
        """Before a stack run: its planes, and the time they take where it was measured."""
        layer, method = self.layer.value(), self.method.method()
        run = None if layer is None or not method else self._planned(layer, method)
        self.confirm.hide()
        note = "" if run is None or run.planes <= 1 else self._speeds.note(run, self.LONG_S)
        self.estimate_label.setText(note)
        self.estimate_label.setVisible(bool(note))

    # ------------------------------------------------------------------ run
    def _refusal(self, layer: Any, method: str) -> str | None:
        """Why Run cannot start now (``None``: it can)."""
        if self.busy():
            return "a restoration is already running: wait or cancel it"
        if layer is None:
            return "choose an image layer to restore first"
        if not method:
            return "choose a method (not a group title)"
        if getattr(layer, "rgb", False):
            return f"layer {layer.name!r} is RGB; restore a grey image"
        if self._level_run(layer) and self.noise_level(layer) in (None, "auto"):
            return (
                "a reliability map restores a W2S level of the stack: choose it under noise "
                "level (avgN: N frames averaged, and N others for the map)"
            )
        if self.weights.text().strip():
            return None
        return weights_refusal(method, self.method.cards)

    def run(self, confirmed: bool = False) -> Job | None:
        """Restore the chosen layer (its displayed frame, or all of it); the job, or ``None``
        where nothing started (a notification says why, or the widget asks first)."""
        from ..errors import W2SInputError

        layer, method = self.layer.value(), self.method.method()
        refusal = self._refusal(layer, method)
        if refusal is not None:
            user_error(W2SInputError(refusal))
            return None
        self.confirm.hide()
        data, lead = layer.data, ()
        level_run = self._level_run(layer)
        if layer.data.ndim > 2 and self.current_only.isChecked() and not level_run:
            data, lead = plane_of(self.viewer, layer)
        self.current_only.setEnabled(layer.data.ndim > 2 and not level_run)
        run = self._settings(layer, method, lead)
        budget = None if confirmed or run.planes == 1 else self.LONG_S
        if budget is not None:
            known = self._speeds.estimate(self._planned(layer, method))
            if known is not None and known.seconds > budget:
                self._ask(known, layer.name, method)
                return None
        self._run = run = replace(run, trust=self.trust.isChecked() and run.planes == 1)
        self.bars = Bars(f"{method} on {layer.name}", run.planes, "tiles")
        self.bar.setValue(0)
        self.bar.setFormat(f"{method}: loading …")
        self.started()
        what = f"frame {','.join(map(str, lead))} of " if lead else ""
        what += f"avg{run.level} and its twin for the reliability map of " if run.level else ""
        what += f"{run.planes} planes of " if run.planes > 1 else ""
        self.status.setText(f"restoring {what}{layer.name} with {method} …")
        self.job = Job(
            restore_job,
            data,
            run,
            budget,
            on_yield=self._progress,
            on_done=self._add_layer,
            on_finish=self._finished,
        )
        return self.job.start()

    def _run_frame(self) -> Job | None:
        self.current_only.setChecked(True)
        return self.run()

    def _ask(self, estimate: Any, layer: str, method: str) -> None:
        """A long stack run: say how long, offer all planes or the displayed frame."""
        from ..restore.engine import format_seconds

        self.estimate = estimate
        self.confirm_all.setText(
            f"Run all {estimate.planes} planes (~{format_seconds(estimate.seconds)})"
        )
        self.estimate_label.setText(
            f"<b>{method}</b> on all of <b>{html.escape(layer)}</b> takes "
            f"{estimate.describe()} on this machine (measured on the first plane)."
        )
        self.estimate_label.show()
        self.confirm.show()
        self.status.setText("not started: confirm the whole stack, or restore the displayed frame")

    def cancel(self) -> None:
        """Stop the running restoration at its next tile."""
        if self.busy():
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

    def _add_layer(self, restored: Any) -> None:
        from ..restore.engine import Estimate

        run = self._run
        if isinstance(restored.data, Estimate):  # the stack would take too long: ask first
            self._speeds.remember(run, restored.data.seconds_per_plane)
            self.bar.setValue(0)
            self.bar.setFormat("waiting for your choice")
            self._ask(restored.data, run.layer, run.method)
            return
        self._speeds.remember(run, restored.seconds / max(run.planes, 1))
        kind = "method" if self.replace.isChecked() else None
        hide_other_results(self.viewer, run.name, run.layer)
        self.result_layer, added = add_image(self.viewer, result_layer(run, restored), kind)
        if added:
            move_below_reference(self.viewer, self.result_layer)
        else:  # an earlier result of the same method, overwritten: no "name [1]"
            self.result_layer.reset_contrast_limits()
        self.compare_button.setEnabled(sim_reference(self.viewer, self.result_layer) is not None)
        self.bar.setValue(1000)
        self.bar.setFormat("done")
        self.status.setText(summary(run, restored))
        if restored.check is not None:
            self._add_trust_map(restored.check, run)
        if restored.reliability is not None:
            self._add_reliability_map(restored, run)
        for note in (device_note(run, restored), *restored.notes):
            if note:  # a constant, saturated or very noisy input: said, not hidden
                warn(note)

    def _add_trust_map(self, check: Any, run: LayerRun) -> None:
        """The consistency map on the input's grid, diverging around 0, with the verdict."""
        kind = "trust" if self.replace.isChecked() else None
        self.trust_layer, _ = add_image(self.viewer, trust_layer(run, check), kind)
        self.status.setText(f"{self.status.text()}<br>{trust_summary(check)}")

    def _add_reliability_map(self, restored: Any, run: LayerRun) -> None:
        """The calibrated disjoint-frame map on the result's grid, with the predicted RMSE."""
        kind = "reliability" if self.replace.isChecked() else None
        self.reliability_layer, _ = add_image(self.viewer, reliability_layer(run, restored), kind)
        self.status.setText(f"{self.status.text()}<br>{reliability_summary(restored.reliability)}")

    def compare_with_sim(self) -> Any:
        """The last result in green and the SIM reference in magenta, both additive (white
        where they agree), every other layer hidden; the SIM layer is returned."""
        result = self.result_layer
        sim = sim_reference(self.viewer, result)
        if sim is None:
            warn("no SIM layer with the result's pixel size to compare with")
            return None
        overlay(self.viewer, result, sim)
        self.status.setText(
            f"{self.status.text()}<br>overlay: {result.name} green, {sim.name} magenta, white "
            "where they agree"
        )
        return sim
