"""Progress of long work: one event type, the one reader of every shape, drain, relay, cancel.

Long work in this project is a generator that yields progress and returns its result (a
restoration, a training run, a simulated data set, noise levels, a batch, a benchmark). What
it yields is read here, and only here:

* :class:`Progress` is one progress event: ``done`` of ``total`` ``unit`` (``total`` ``None``
  when unknown), a ``stage`` (``loading``, ``running``, ``checking``, ``preparing`` ...), a
  ``message`` and ``info`` (read-only extras: a training run's loss, learning rate, speed);
* :func:`as_progress` turns whatever a generator of the project yields into a
  :class:`Progress` (the shapes are listed in its docstring);
* :func:`drain` runs a generator to its result; :func:`relay` does too, passing each item on as
  a :class:`Progress` and stopping at the next item once ``cancel`` is set;
* :data:`Cancel` (an event, a callable or ``None``) and :func:`is_cancelled` are the one cancel
  mechanism (``restore.files`` and the CLI use them).

Standard library only: importing this module loads neither numpy nor torch nor Qt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from numbers import Real
from types import MappingProxyType
from typing import Any

__all__ = [
    "Cancel",
    "Cancelled",
    "Progress",
    "as_progress",
    "drain",
    "is_cancelled",
    "relay",
]

Cancel = threading.Event | Callable[[], bool] | None
"""A cancel request: an event (set to cancel), a callable (true to cancel) or ``None``."""

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Cancelled(Exception):
    """Raised by :func:`relay` when its ``cancel`` was set (the generator is closed)."""


@dataclass(frozen=True)
class Progress:
    """One progress event: ``done`` of ``total`` ``unit`` at ``stage``.

    Attributes
    ----------
    done : float
        Work done, in ``unit``.
    total : float or None
        All the work, in ``unit``; ``None`` when unknown (a stage without a count, an iterable
        without a length).
    unit : str
        ``"plane"``, ``"tile"``, ``"it"``, ``"file"``, ``"frame"``, ``"view"`` ... (``""``:
        unknown).
    stage : str
        What is going on: ``"loading"``, ``"running"``, ``"checking"``, ``"preparing"``,
        ``"training"``, ``"start"``, ``"file"``, ``"result"`` ... (``""``: just counting).
    message : str
        One line for a person (may be empty).
    info : Mapping
        Read-only extras (a training run's ``loss``, ``lr``, ``it_per_s``; a batch event's
        fields; the ``plane`` and ``planes`` of a restoration).
    """

    done: float = 0.0
    total: float | None = None
    unit: str = ""
    stage: str = ""
    message: str = ""
    info: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "done", float(self.done))
        if self.total is not None:
            object.__setattr__(self, "total", float(self.total))
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))

    @property
    def fraction(self) -> float | None:
        """``done / total`` clipped to [0, 1]; ``None`` when the total is unknown, 1 when there
        was nothing to do (``total`` 0)."""
        if self.total is None:
            return None
        if self.total <= 0:
            return 1.0
        return min(max(self.done / self.total, 0.0), 1.0)


def _number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _extras(record: Mapping[str, Any], *used: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in used}


def _tiles(record: Mapping[str, Any], stage: str = "running") -> Progress:
    """A restoration's record ``{"plane", "planes", "done", "total"}``: tiles of all planes
    (each plane counted as ``total`` tiles), or of this plane when ``planes`` is unknown."""
    plane, planes = int(record["plane"]), record.get("planes")
    per_plane = max(float(record["total"]), 1.0)
    done = plane * per_plane + float(record["done"])
    total = None if planes is None else int(planes) * per_plane
    return Progress(done, total, "tile", stage, "", _extras(record, "done", "total"))


def _batch(event: Mapping[str, Any]) -> Progress:
    """An event of :func:`napari_w2s.batch.iter_batch`."""
    kind = event["event"]
    if kind == "tile":
        return _tiles(event, stage="tile")
    if kind == "start":
        message = f"{event['n_files']} file(s), {event['todo']} to restore"
        return Progress(0, event["n_files"], "file", "start", message, event)
    if kind == "result":
        message = f"{event.get('rel', event.get('path', ''))}: {event['status']}"
        return Progress(event["completed"], event["n_files"], "file", "result", message, event)
    return Progress(0, None, "", str(kind), str(event.get("path", "")), event)  # a stage


def _record(record: Mapping[str, Any]) -> Progress | None:
    if "event" in record:  # iter_batch
        return _batch(record)
    if "iteration" in record:  # iter_train, iter_self_supervised, iter_finetune
        used = ("iteration", "iterations", "stage")
        extras = _extras(record, *used)
        stage = str(record.get("stage", "training"))
        message = f"loss {record['loss']:.5f}" if _number(record.get("loss")) else ""
        return Progress(record["iteration"], record.get("iterations"), "it", stage, message, extras)
    if "plane" in record and "done" in record:  # restore.files / engine.iter_restore
        return _tiles(record)
    if "stage" in record:  # restore.layers.restore_job, iter_finetune's "preparing"
        extras = _extras(record, "stage")
        return Progress(0, None, "", str(record["stage"]), str(record.get("name", "")), extras)
    if _number(record.get("done")):  # a plain {"done", "total"}
        return Progress(record["done"], record.get("total"), str(record.get("unit", "")))
    return None


def as_progress(item: Any, unit: str = "") -> Progress | None:
    """The :class:`Progress` that a yielded ``item`` says; ``None`` for an item that says none.

    The shapes the project's generators yield:

    * a :class:`Progress`: itself;
    * ``(done, total)`` (``Pipeline.iter_run``, tiling, the classical methods): ``unit`` given;
    * a number: done, of an unknown total (``unit`` given);
    * a string (a widget's ``"estimating"``): a stage;
    * ``{"plane", "planes", "done", "total"}`` (``restore.files``, ``engine.iter_restore``):
      tiles of all planes, ``unit="tile"``, the plane in ``info``;
    * ``{"stage": ...}`` (``restore.layers.restore_job``: loading, running, checking;
      ``iter_finetune``: preparing, with the model's ``name`` as message): a stage, no count;
    * ``{"iteration", "iterations", "loss", "lr", "it_per_s", ...}`` (``iter_train``,
      ``iter_finetune``): iterations, ``unit="it"``, ``stage="training"``, the rest in ``info``;
    * ``{"event": ...}`` (``batch.iter_batch``): ``start`` and ``result`` count files
      (``completed`` of ``n_files``), ``tile`` counts the tiles of one file (``index`` in
      ``info``), ``file`` (a file begins) is a stage without a count.
    """
    if item is None or isinstance(item, Progress):
        return item
    if isinstance(item, str):
        return Progress(stage=item, message=item, unit=unit)
    if _number(item):
        return Progress(item, None, unit)
    if isinstance(item, tuple) and len(item) == 2 and all(_number(v) for v in item):
        return Progress(item[0], item[1], unit)
    if isinstance(item, Mapping):
        return _record(item)
    return None


def is_cancelled(cancel: Cancel) -> Callable[[], bool]:
    """A callable that says whether ``cancel`` (an event, a callable or ``None``) is set."""
    if cancel is None:
        return lambda: False
    is_set = getattr(cancel, "is_set", None)
    return is_set if callable(is_set) else cancel


def drain(gen: Generator[Any, None, Any], on_item: Callable[[Any], None] | None = None) -> Any:
    """Run ``gen`` to the end, passing each yielded item to ``on_item``; return its value.

    The generator is closed if ``on_item`` (or the caller) raises, so work stops between
    units and nothing partial is left behind.
    """
    try:
        while True:
            try:
                item = next(gen)
            except StopIteration as stop:
                return stop.value
            if on_item is not None:
                on_item(item)
    finally:
        gen.close()


def relay(
    gen: Generator[Any, None, Any],
    on_progress: Callable[[Progress], None] | None = None,
    cancel: Cancel = None,
    unit: str = "",
) -> Any:
    """Run ``gen`` to the end, passing each item as a :class:`Progress` to ``on_progress``
    (items that say no progress are skipped; ``unit`` names the unit of bare counts); return
    its value.

    ``cancel`` is checked before each step: once set, the generator is closed (its ``finally``
    blocks run: temporary files go) and :class:`Cancelled` is raised. An error in
    ``on_progress`` also closes the generator.
    """
    cancelled = is_cancelled(cancel)
    try:
        while True:
            if cancelled():
                raise Cancelled("cancelled")
            try:
                item = next(gen)
            except StopIteration as stop:
                return stop.value
            if on_progress is not None:
                progress = as_progress(item, unit)
                if progress is not None:
                    on_progress(progress)
    finally:
        gen.close()
