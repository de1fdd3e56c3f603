"""Background work of the dock widgets: thread workers, progress, cancel, messages, new layers.

A widget hands a core generator (it yields progress, returns its result) to a :class:`Job`;
:class:`Bars` show its progress in napari's activity dock; errors become notifications
(:func:`user_error`); results arrive as layer-data tuples that :func:`add_image` adds or
updates. Nothing here imports torch or the maths at module import.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Generator
from typing import Any

from qtpy.QtWidgets import QLayout, QPushButton, QWidget

from ..layer_names import is_sim_name
from ._controls import scroll_layout

log = logging.getLogger("napari_w2s.widgets")


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
    """A napari warning notification."""
    from napari.utils.notifications import show_warning

    show_warning(message)


def info(message: str) -> None:
    """A napari information notification."""
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
        """Start the worker thread."""
        self.worker.start()
        return self

    def cancel(self) -> None:
        """Stop at the next ``yield``; nothing is added."""
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

    A subclass creates ``run_button`` / ``cancel_button``
    (:func:`~napari_w2s.widgets._controls.run_cancel_row`), lays itself out with :meth:`stack`,
    and calls :meth:`idle` when its job has finished.
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

    def busy(self) -> bool:
        """A job is running."""
        return self.job is not None and not self.job.finished

    def started(self) -> None:
        """Offer Cancel (not Run) while a job runs."""
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)

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
        """Show ``n`` of ``total`` (planes, files)."""
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
        """Show ``done`` of ``total`` (tiles), redrawn at most every :attr:`INTERVAL`."""
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


# ---------------------------------------------------------------------------------- layers
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


def add_image(viewer: Any, layer_data: tuple, replace: str | None = None) -> tuple[Any, bool]:
    """Add a layer-data tuple ``(data, kwargs, "image")`` to the viewer; ``(layer, added)``.

    With ``replace``, a layer of the same name whose metadata has that key (an earlier result
    of the same kind) gets the new data, geometry and metadata instead, and shows again: no
    ``name [1]`` (``added`` is then ``False``).
    """
    data, kwargs, _ = layer_data
    name = kwargs["name"]
    old = viewer.layers[name] if replace and name in viewer.layers else None
    if old is None or replace not in (old.metadata or {}):
        return viewer.add_image(data, **kwargs), True
    old.data = data
    old.scale, old.translate = kwargs["scale"], kwargs["translate"]
    old.metadata = kwargs["metadata"]
    old.visible = True
    return old, False


def hide_other_results(viewer: Any, name: str, source: str) -> None:
    """Hide the results, trust and reliability maps of ``source`` other than ``name``: the new
    one shows."""
    for ly in viewer.layers:
        meta = ly.metadata or {}
        if (
            ly.name != name
            and ("method" in meta or "trust" in meta or "reliability" in meta)
            and meta.get("source_layer") == source
        ):
            ly.visible = False


def sim_reference(viewer: Any, layer: Any) -> Any:
    """A 2-D SIM layer on ``layer``'s grid (same pixel size), or ``None``."""
    import numpy as np

    if layer is None or layer not in viewer.layers:
        return None
    for ly in viewer.layers:
        if (
            ly.name != layer.name
            and is_sim_name(ly.name)
            and ly.data.ndim == 2
            and np.allclose(ly.scale[-2:], layer.scale[-2:], rtol=1e-3)
        ):
            return ly
    return None


def move_below_reference(viewer: Any, layer: Any) -> None:
    """Move ``layer`` under a 2-D SIM layer of the same pixel size, so an overlay shows."""
    import numpy as np

    layers = viewer.layers
    for i, ly in enumerate(layers):
        if ly.name == layer.name or not is_sim_name(ly.name) or ly.data.ndim != 2:
            continue
        if np.allclose(ly.scale[-2:], layer.scale[-2:], rtol=1e-3):
            layers.move(layers.index(layer), i)
            return


def overlay(viewer: Any, layer: Any, reference: Any) -> None:
    """``layer`` in green and ``reference`` in magenta, both additive (white where they agree),
    every other layer hidden."""
    keep = {layer.name, reference.name}  # by name: the viewer hands out proxies of the layers
    for ly in viewer.layers:
        ly.visible = ly.name in keep
    layer.colormap, layer.blending = "green", "additive"
    reference.colormap, reference.blending = "magenta", "additive"
