"""What the dock widgets share: settings, workers with progress, layer choices, plots, methods.

Nothing here imports torch or the maths at module import.
"""

from __future__ import annotations

import json
import logging
import os
import re
import traceback
import weakref
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QStandardItem, QStandardItemModel
from qtpy.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger("napari_w2s.widgets")

SETTINGS_ENV = "NAPARI_W2S_SETTINGS"


# ---------------------------------------------------------------------------------- settings
def settings_path() -> Path:
    """The JSON file of the widgets' settings (``$NAPARI_W2S_SETTINGS`` overrides it)."""
    env = os.environ.get(SETTINGS_ENV)
    if env:
        return Path(env)
    try:
        from platformdirs import user_config_dir

        base = Path(user_config_dir("napari-w2s", appauthor=False))
    except ImportError:  # pragma: no cover - platformdirs comes with napari
        base = Path.home() / ".config" / "napari-w2s"
    return base / "widgets.json"


def load_settings() -> dict:
    try:
        data = json.loads(settings_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def get_setting(key: str, default: Any = None) -> Any:
    return load_settings().get(key, default)


def set_settings(**values: Any) -> None:
    """Merge ``values`` into the settings file (silently skipped where it cannot be written)."""
    path = settings_path()
    data = load_settings()
    data.update(values)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, default=str))
        os.replace(tmp, path)
    except OSError as err:  # a read-only home must not break the widget
        log.warning("could not save napari-w2s settings to %s: %s", path, err)


# ---------------------------------------------------------------------------------- messages
def user_error(exc: BaseException) -> None:
    """A napari notification for an exception: one line for user mistakes, logged bugs."""
    from napari.utils.notifications import show_error

    from ..errors import W2SInputError

    if isinstance(exc, W2SInputError):
        show_error(str(exc))
        return
    log.error("napari-w2s: %s", "".join(traceback.format_exception(exc)))
    show_error(f"napari-w2s: unexpected {type(exc).__name__}: {exc}")


def warn(message: str) -> None:
    from napari.utils.notifications import show_warning

    show_warning(message)


def info(message: str) -> None:
    from napari.utils.notifications import show_info

    show_info(message)


# ---------------------------------------------------------------------------------- workers
class Job:
    """A generator run in a napari thread worker, with progress bars and a cooperative cancel.

    ``func(*args)`` must be a generator function; whatever it yields goes to ``on_yield`` (in the
    main thread), its return value to ``on_done``. Errors become notifications
    (:func:`user_error`). ``cancel()`` stops it at its next ``yield``: ``on_done`` is then never
    called, so nothing is added.

    The worker's signals are handled strictly one after the other, in the order they were sent.
    napari's progress bars call ``QApplication.processEvents()`` when they change, so a progress
    update (``on_yield``) can re-enter the event loop, which would deliver the next records, the
    result and ``finished`` *inside* the update: teardown would then run in the middle of it
    (``'NoneType' object has no attribute 'set_inner'``). Signals that arrive while one is being
    handled are queued and handled after it returns, so ``on_done`` and ``on_finish`` always run
    after the last progress update.
    """

    def __init__(
        self,
        func: Callable[..., Generator],
        *args: Any,
        on_yield: Callable[[Any], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_finish: Callable[[], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        from collections import deque

        from napari.qt.threading import create_worker

        self.worker = create_worker(func, *args, _start_thread=False, _ignore_errors=True)
        self.cancelled = False
        self.failed = False
        self.finished = False
        self.result: Any = None
        self._on_yield = on_yield
        self._on_done = on_done
        self._on_error = on_error
        self._on_finish = on_finish
        self._pending: deque = deque()
        self._dispatching = False
        self.worker.yielded.connect(lambda value: self._dispatch(self._yielded, value))
        self.worker.returned.connect(lambda value: self._dispatch(self._returned, value))
        self.worker.errored.connect(lambda exc: self._dispatch(self._errored, exc))
        self.worker.finished.connect(lambda: self._dispatch(self._finished))

    def start(self) -> Job:
        self.worker.start()
        return self

    def cancel(self) -> None:
        self.cancelled = True
        self.worker.quit()

    def _dispatch(self, handler: Callable[..., None], *args: Any) -> None:
        """Run ``handler(*args)`` now, or after the handler that is running (re-entrancy)."""
        self._pending.append((handler, args))
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._pending:
                handler, args = self._pending.popleft()
                try:
                    handler(*args)
                except Exception as exc:  # a bug in a widget's slot: reported, the queue goes on
                    user_error(exc)
        finally:
            self._dispatching = False

    def _yielded(self, value: Any) -> None:
        if self._on_yield is not None and not self.finished:
            self._on_yield(value)

    def _returned(self, value: Any) -> None:
        self.result = value
        if self.cancelled or self._on_done is None:
            return
        try:
            self._on_done(value)
        except Exception as exc:  # turning results into layers: a bug, but no dead UI
            self.failed = True
            user_error(exc)

    def _errored(self, exc: BaseException) -> None:
        self.failed = True
        (self._on_error or user_error)(exc)

    def _finished(self) -> None:
        try:
            if self._on_finish is not None:
                self._on_finish()
        finally:
            self.finished = True


class JobWidget(QWidget):
    """Base of the dock widgets that run one background :class:`Job` at a time with progress bars.

    A subclass creates ``run_button`` / ``cancel_button`` (:func:`run_cancel_row`), lays itself
    out with :meth:`stack`, and calls :meth:`idle` when its job has finished.
    """

    run_button: QPushButton
    cancel_button: QPushButton

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.job: Job | None = None
        self.bars: Bars | None = None

    def stack(self, *parts: QWidget | QLayout) -> None:
        """Lay out ``parts`` (widgets or layouts) top to bottom, with the space left below, in a
        scroll area."""
        lay = scroll_layout(self)
        for part in parts:
            if isinstance(part, QLayout):
                lay.addLayout(part)
            else:
                lay.addWidget(part)
        lay.addStretch(1)

    def idle(self) -> None:
        """Close the progress bars and offer Run again (not Cancel)."""
        bars, self.bars = self.bars, None
        if bars is not None:
            bars.close()
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)


class Bars:
    """Two ``napari.utils.progress`` bars, outer (planes / files) over inner (tiles).

    The inner bar is deliberately not ``nest_under`` the outer one: napari 0.9.2 deletes a
    nested group together with its bars and its ``maybe_hide_progress_indicator`` then touches a
    half-destroyed bar (a segmentation fault on the next bar, reproduced in the widget tests).
    Two plain bars, one under the other, show the same information safely.

    Safe to call in any order: updates after :meth:`close`, and updates made while another
    update is in progress (napari's bars re-enter the event loop), are ignored. The inner bar is
    redrawn at most every :attr:`INTERVAL` seconds (each redraw runs the event loop).
    """

    INTERVAL = 0.1

    def __init__(self, outer_desc: str, outer_total: int, inner_desc: str | None = None) -> None:
        from napari.utils import progress

        self.outer = progress(total=max(int(outer_total), 1), desc=outer_desc)
        self.inner = None
        if inner_desc is not None:
            self.inner = progress(total=1, desc=f"{outer_desc}: {inner_desc}")
        self._outer_n = 0
        self._inner_t = 0.0
        self.closed = False
        self._busy = False

    def _enter(self) -> bool:
        if self.closed or self._busy:
            return False
        self._busy = True
        return True

    def set_outer(self, n: int, total: int | None = None) -> None:
        if not self._enter():
            return
        try:
            if total is not None and total != self.outer.total:
                self.outer.total = max(int(total), 1)
            if n != self._outer_n:
                self.outer.update(int(n) - self._outer_n)
                self._outer_n = int(n)
        finally:
            self._busy = False

    def set_inner(self, done: int, total: int) -> None:
        import time

        if self.inner is None or not self._enter():
            return
        try:
            now = time.monotonic()
            if self.inner.total != total:
                self.inner.total = max(int(total), 1)
            self.inner.n = int(done)
            if done >= total or now - self._inner_t >= self.INTERVAL:
                self._inner_t = now
                self.inner.refresh()
        finally:
            self._busy = False

    def close(self) -> None:
        """Close both bars (once; later updates are ignored)."""
        if self.closed:
            return
        self.closed = True
        if self.inner is not None:
            self.inner.close()
        self.outer.close()


def run_cancel_row(run_text: str = "Run") -> tuple[QWidget, QPushButton, QPushButton]:
    row = QWidget()
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    run = QPushButton(run_text)
    cancel = QPushButton("Cancel")
    cancel.setEnabled(False)
    lay.addWidget(run)
    lay.addWidget(cancel)
    return row, run, cancel


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
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    label.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Minimum)
    return label


# ---------------------------------------------------------------------------------- layers
def is_kernel(layer: Any) -> bool:
    """A blur-kernel estimate added by the Analysis widget (not an image to process)."""
    return "kernel" in (getattr(layer, "metadata", None) or {})


class LayerCombo(QComboBox):
    """Image layers of the viewer (optionally filtered), refreshed by ``reset_choices``.

    Kernel estimates (:func:`is_kernel`) and RGB layers are never offered.
    """

    def __init__(self, viewer: Any, accept: Callable[[Any], bool] | None = None,
                 optional: str | None = None) -> None:  # fmt: skip
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
        from napari.layers import Image

        return [ly for ly in self.viewer.layers if isinstance(ly, Image) and not is_kernel(ly)
                and not getattr(ly, "rgb", False) and self.accept(ly)]  # fmt: skip

    def reset_choices(self, *_: Any) -> None:
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

    def value(self):
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


def plane_of(viewer: Any, layer: Any) -> tuple[Any, tuple[int, ...]]:
    """The 2-D plane of ``layer`` that the viewer shows (index of the leading axes too)."""
    data = layer.data
    if data.ndim == 2:
        return data, ()
    point = layer.world_to_data(viewer.dims.point)
    lead = tuple(
        int(min(max(round(float(point[i])), 0), data.shape[i] - 1)) for i in range(data.ndim - 2)
    )
    return data[lead], lead


def leading_geometry(layer: Any, keep_leading: bool = True) -> tuple[tuple, tuple]:
    """The layer's (scale, translate), or only their last two (YX) entries."""
    scale, translate = tuple(layer.scale), tuple(layer.translate)
    if not keep_leading:
        scale, translate = scale[-2:], translate[-2:]
    return tuple(float(s) for s in scale), tuple(float(t) for t in translate)


_AVG = re.compile(r"\bavg(\d+)\b")
_SIM = re.compile(r"\bsim\b", re.IGNORECASE)


def is_sim_name(name: str) -> bool:
    """A SIM reference by its name (``SIM (simulated)``, ``sim``), not ``widefield (simulated)``."""
    return bool(_SIM.search(name))


def is_clean_name(name: str) -> bool:
    """A clean average by its name (``avg400 (clean)``, ``avg400``)."""
    return "clean" in name.lower() or "avg400" in name.lower()


def level_from_name(name: str) -> str | None:
    """``"avg4"`` from a layer name such as ``avg4`` or ``avg4 (test)``; ``None`` otherwise."""
    match = _AVG.search(name)
    return f"avg{match.group(1)}" if match else None


# ---------------------------------------------------------------------------------- methods
GROUP_TITLES = {
    "denoise": "Denoise (deep)",
    "sr": "Super-resolution x2 (deep)",
    "jdsr": "Joint denoising + SR (JDSR)",
    "classical": "Classical",
    "sequences": "Sequences (denoise, then SR)",
}


def method_groups() -> dict[str, list[str]]:
    """Method strings by group (torch-free: the registry and classical list are plain data)."""
    from ..models import list_models
    from ..restore.classical import METHODS

    denoisers = list_models("denoise")
    srs = list_models("sr")
    sequences = [f"{d}+{s}" for d in denoisers[:1] for s in srs[:1]]  # dncnn+rcan
    sequences += [f"{d}+{s}" for d in ("pure-let", "vst-nlm", "vst-epll") for s in ("bicubic",)]
    sequences += [f"{d}+{s}" for d in denoisers[:1] for s in ("bicubic",)]
    return {
        "jdsr": list_models("jdsr"),
        "denoise": denoisers,
        "sr": srs,
        "classical": list(METHODS),
        "sequences": sequences,
    }


def shipped_cards() -> list[dict]:
    """Cards of the shipped models and of the user's own (``source``: ``shipped`` / ``user``)."""
    from ..restore.zoo import all_models

    try:
        return all_models()
    except (OSError, ValueError) as err:  # a broken card must not break the widget
        log.warning("could not read the model cards: %s", err)
        return []


def missing_weights(method: str, cards: Iterable[dict]) -> list[str]:
    """The deep parts of ``method`` that have no weights (shipped or the user's; a part may be
    a user model's file stem)."""
    from ..restore.classical import METHODS

    cards = list(cards)
    names = {c.get("name") for c in cards} | {str(c.get("stem", "")).lower() for c in cards}
    parts = [p.strip() for p in method.split("+") if p.strip()]
    return [p for p in parts if p not in METHODS and p.lower() not in names]


GROUP_TITLES["user"] = "Your models (trained or fine-tuned)"
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

    def __init__(self, groups: dict[str, list[str]] | None = None,
                 cards: list[dict] | None = None) -> None:  # fmt: skip
        super().__init__()
        self._fixed_groups = groups
        self._fixed_cards = cards
        self._fill()
        self.set_method(self.default_method())
        _METHOD_COMBOS.add(self)

    def _fill(self) -> None:
        self.cards = shipped_cards() if self._fixed_cards is None else self._fixed_cards
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
        return str(self.currentData(Qt.UserRole) or "")

    def methods(self) -> list[str]:
        return [m for ms in self.groups.values() for m in ms]

    def set_method(self, method: str) -> bool:
        for i in range(self.count()):
            if self.itemData(i, Qt.UserRole) == method:
                self.setCurrentIndex(i)
                return True
        return False


def device_choices() -> list[str]:
    """``auto`` and the devices this machine has (imports torch: call it once, lazily)."""
    from ..restore.device import available_devices

    return ["auto", *available_devices()]


def describe_device(choice: str) -> str:
    from ..restore.device import choose_device, describe

    return describe(choose_device(choice))


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
