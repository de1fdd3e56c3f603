"""The form controls the dock widgets share (their saved values: :mod:`._settings`).

Pickers of layers, methods, noise levels, devices, threads, tiles and weights; rows, labels, a
scrolling layout and a matplotlib canvas. What the pickers offer comes from the core
(:mod:`napari_w2s.layer_names`, :mod:`napari_w2s.restore.method_cards`); nothing here imports
torch or the maths at module import.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from qtpy.QtCore import Qt
from qtpy.QtGui import QStandardItem, QStandardItemModel
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..averaging import W2S_LEVEL_NAMES
from ..layer_names import is_kernel, noise_level_of
from ..restore.method_cards import model_cards
from ..restore.methods import GROUP_TITLES, method_groups, missing_weights
from ._settings import get_setting, set_settings

W = TypeVar("W", bound=QWidget)


# ---------------------------------------------------------------------------------- layout
def run_cancel_row(
    run_text: str = "Run", run_tip: str = "", cancel_tip: str = ""
) -> tuple[QWidget, QPushButton, QPushButton]:
    """A row with a Run button and a (disabled) Cancel button."""
    run = tip(QPushButton(run_text), run_tip)
    cancel = tip(QPushButton("Cancel"), cancel_tip)
    cancel.setEnabled(False)
    return hrow(run, cancel), run, cancel


def tip(widget: W, text: str) -> W:
    """``widget`` with the tooltip ``text``."""
    widget.setToolTip(text)
    return widget


def hrow(*widgets: QWidget, stretch: tuple[int, ...] | None = None) -> QWidget:
    """``widgets`` side by side, without margins (``stretch``: a factor for each)."""
    row = QWidget()
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    for widget, factor in zip(widgets, stretch or (0,) * len(widgets), strict=True):
        lay.addWidget(widget, factor)
    return row


def scroll_layout(widget: QWidget) -> QVBoxLayout:
    """Put a frameless vertical scroll area in ``widget``; return the layout to fill.

    A dock then needs only a few lines of height: its contents scroll instead of growing the
    napari window beyond the screen.
    """
    from qtpy.QtWidgets import QFrame, QScrollArea

    content = QWidget()
    inner = QVBoxLayout(content)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    area.setWidget(content)
    area.setMinimumHeight(120)
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(area)
    widget.scroll_area = area
    return inner


def wrap_label(text: str = "") -> QLabel:
    """A selectable label that wraps its (rich) text."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    label.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Minimum)
    return label


def checkbox(
    text: str, tooltip: str, setting: str | None = None, default: bool = False
) -> QCheckBox:
    """A check box with a tooltip; with ``setting``, it starts from and saves that setting."""
    box = QCheckBox(text)
    box.setToolTip(tooltip)
    box.setChecked(bool(get_setting(setting, default)) if setting else default)
    if setting:
        box.toggled.connect(lambda on: set_settings(**{setting: on}))
    return box


# ---------------------------------------------------------------------------------- layers
class LayerCombo(QComboBox):
    """Image layers of the viewer (optionally filtered), refreshed by ``reset_choices``.

    Kernel estimates (:func:`~napari_w2s.layer_names.is_kernel`) and RGB layers are never
    offered.
    """

    def __init__(
        self, viewer: Any, accept: Callable[[Any], bool] | None = None, optional: str | None = None
    ) -> None:
        super().__init__()
        self.viewer = viewer
        self.accept = accept or (lambda layer: True)
        self.optional = optional
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(14)
        self.chosen = False  # set once the user (or a script) picks a layer: no more guessing
        self.activated.connect(self._activated)
        self.reset_choices()

    def _activated(self, *_: Any) -> None:
        self.chosen = True

    def layers(self) -> list:
        """The layers offered."""
        from napari.layers import Image

        return [
            ly
            for ly in self.viewer.layers
            if isinstance(ly, Image)
            and not is_kernel(ly)
            and not getattr(ly, "rgb", False)
            and self.accept(ly)
        ]

    def reset_choices(self, *_: Any) -> None:
        """Offer the viewer's layers now, keeping the current choice."""
        current = self.currentText()
        self.blockSignals(True)
        self.clear()
        if self.optional is not None:
            self.addItem(self.optional)
        for layer in self.layers():
            self.addItem(layer.name)
        index = self.findText(current)
        if index >= 0:
            self.setCurrentIndex(index)
        self.blockSignals(False)

    def value(self) -> Any:
        """The chosen layer, or ``None``."""
        name = self.currentText()
        if not name or name == self.optional:
            return None
        for layer in self.layers():
            if layer.name == name:
                return layer
        return None

    def set_value(self, name: str, chosen: bool = True) -> None:
        """Select the layer ``name``; ``chosen=False`` for a widget's own guess."""
        self.reset_choices()
        index = self.findText(name)
        if index >= 0:
            self.setCurrentIndex(index)
            self.chosen = self.chosen or chosen


# ---------------------------------------------------------------------------------- methods
_METHOD_COMBOS: weakref.WeakSet = weakref.WeakSet()


def models_changed() -> None:
    """Reload the method lists of every open widget (a model was saved to the user folder)."""
    for combo in list(_METHOD_COMBOS):
        try:
            combo.reload()
        except RuntimeError:  # its Qt object is gone
            _METHOD_COMBOS.discard(combo)


class MethodCombo(QComboBox):
    """Methods grouped under non-selectable headers; methods without weights are marked; the
    user's models (by file stem) in a group of their own."""

    def __init__(
        self, groups: dict[str, list[str]] | None = None, cards: list[dict] | None = None
    ) -> None:
        super().__init__()
        self._fixed_groups = groups
        self._fixed_cards = cards
        self._fill()
        self.set_method(self.default_method())
        _METHOD_COMBOS.add(self)

    def _fill(self) -> None:
        self.cards = model_cards() if self._fixed_cards is None else self._fixed_cards
        self.groups = dict(self._fixed_groups or method_groups())
        users = [c["stem"] for c in self.cards if c.get("source") == "user"]
        if users and self._fixed_groups is None:
            self.groups["user"] = users
        model = QStandardItemModel(self)
        for key, methods in self.groups.items():
            header = QStandardItem(GROUP_TITLES.get(key, key))
            header.setFlags(Qt.NoItemFlags)
            font = header.font()
            font.setBold(True)
            header.setFont(font)
            model.appendRow(header)
            for m in methods:
                missing = missing_weights(m, self.cards)
                item = QStandardItem(f"   {m}" + ("   (no weights)" if missing else ""))
                item.setData(m, Qt.UserRole)
                model.appendRow(item)
        self.setModel(model)

    def reload(self) -> None:
        """Read the cards again (a new user model) and keep the current choice."""
        current = self.method()
        self.blockSignals(True)
        try:
            self._fill()
            if not self.set_method(current):
                self.set_method(self.default_method())
        finally:
            self.blockSignals(False)
        self.currentIndexChanged.emit(self.currentIndex())

    def default_method(self) -> str:
        """JDSR where its weights are shipped (the project's default), else bicubic."""
        return "jdsr" if not missing_weights("jdsr", self.cards) else "bicubic"

    def method(self) -> str:
        """The chosen method (``""`` on a group title)."""
        return str(self.currentData(Qt.UserRole) or "")

    def methods(self) -> list[str]:
        """Every method offered."""
        return [m for ms in self.groups.values() for m in ms]

    def set_method(self, method: str) -> bool:
        """Choose ``method``; ``False`` where it is not offered."""
        for i in range(self.count()):
            if self.itemData(i, Qt.UserRole) == method:
                self.setCurrentIndex(i)
                return True
        return False


# ---------------------------------------------------------------------------------- levels
class LevelCombo(QComboBox):
    """A W2S noise level (``avg1`` … ``avg16``) after an *auto* entry (``auto_text``): the
    level of a layer for *auto* comes from its name or metadata
    (:func:`~napari_w2s.layer_names.noise_level_of`), else the job decides."""

    def __init__(self, auto_text: str, tooltip: str) -> None:
        super().__init__()
        self.addItems([auto_text, *W2S_LEVEL_NAMES])
        self.tooltip = tooltip
        self.setToolTip(tooltip)

    def level(self, layer: Any) -> str | None:
        """The chosen level, or for *auto* that of ``layer`` (``"auto"``: from its
        signal-to-noise ratio in the job; ``None`` without a layer)."""
        if self.currentIndex() > 0:
            return self.currentText()
        return None if layer is None else noise_level_of(layer.name, layer.metadata)

    def set_level(self, level: str | None) -> None:
        """Choose a W2S level (``None`` or anything else: auto)."""
        index = self.findText(level) if level in W2S_LEVEL_NAMES else 0
        self.setCurrentIndex(max(index, 0))

    def set_used(self, used: bool, why: str = "") -> None:
        """Enable the choice, or disable it and say ``why`` in the tooltip."""
        self.setEnabled(used)
        self.setToolTip(self.tooltip + ("" if used else why))


# ---------------------------------------------------------------------------------- devices
class TileChoice(QWidget):
    """``auto`` (tiles sized from the free memory) or a tile size in pixels."""

    def __init__(self, auto_tip: str, size_tip: str) -> None:
        super().__init__()
        self.auto = checkbox("auto", auto_tip, default=True)
        self.size = QSpinBox()
        self.size.setRange(96, 4096)  # at least twice the 48-pixel tile overlap
        self.size.setSingleStep(32)
        self.size.setValue(256)
        self.size.setEnabled(False)
        self.size.setToolTip(size_tip)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.auto)
        lay.addWidget(self.size)
        self.auto.toggled.connect(lambda on: self.size.setEnabled(not on))

    def value(self) -> int | None:
        """The tile size, or ``None`` for auto."""
        return None if self.auto.isChecked() else int(self.size.value())


class WeightsField(QWidget):
    """A path to weights of one's own (``.safetensors`` with its card, or a BioImage Model Zoo
    package: a ``.zip`` or a folder, chosen by its ``rdf.yaml``), empty for the shipped ones."""

    def __init__(self, tip: str, button_tip: str) -> None:
        super().__init__()
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("shipped weights")
        self.edit.setToolTip(tip)
        self.button = QPushButton("Choose …")
        self.button.setToolTip(button_tip)
        self.button.clicked.connect(self.choose)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit)
        lay.addWidget(self.button)

    def choose(self) -> None:
        """Pick a file in a dialog."""
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self,
            "Weights or BioImage Model Zoo package",
            "",
            "weights or packages (*.safetensors *.zip *.yaml);;all files (*)",
        )
        if path:
            if path.endswith(".yaml"):  # a package folder, chosen by its rdf.yaml
                path = str(Path(path).parent)
            self.edit.setText(path)


# ---------------------------------------------------------------------------------- plots
class PlotCanvas(QWidget):
    """A matplotlib Qt canvas that shows a :class:`~matplotlib.figure.Figure` from the core."""

    def __init__(self, height: int = 260) -> None:
        super().__init__()
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.canvas = None
        self.figure = None
        self.setMinimumHeight(height)
        self.hide()

    def show_figure(self, figure: Any) -> None:
        """Show ``figure`` (replacing the one shown)."""
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

        if self.canvas is not None:
            self._layout.removeWidget(self.canvas)
            self.canvas.setParent(None)
            self.canvas.deleteLater()
        self.figure = figure
        self.canvas = FigureCanvasQTAgg(figure)
        self.canvas.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self._layout.addWidget(self.canvas)
        self.show()
        self.canvas.draw_idle()
