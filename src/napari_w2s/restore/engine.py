"""Restoring images and stacks held in memory, and the engine's public names.

:func:`iter_restore` restores every plane of an array (the Restore widget; ``w2s restore``
streams plane by plane through :mod:`.files`) and can stop after the first plane with an
:class:`Estimate` of the whole stack. The parts live in their own modules and are importable
from here: the steps and pipelines (:mod:`.steps`: ``ModelStep``, ``Pipeline``), method
strings (:mod:`.resolver`: ``resolve``), the memory budget (:mod:`.memory`: ``auto_tile``,
``check_memory``).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..errors import W2SInputError
from .memory import auto_tile, check_memory
from .resolver import resolve
from .steps import DEFAULT_OVERLAP, SIZE_MULTIPLE, ModelStep, Pipeline, Step

__all__ = [
    "DEFAULT_OVERLAP",
    "SIZE_MULTIPLE",
    "Estimate",
    "ModelStep",
    "Pipeline",
    "Step",
    "auto_tile",
    "check_memory",
    "format_seconds",
    "iter_restore",
    "naming_the_plane",
    "resolve",
]


@dataclass(frozen=True)
class Estimate:
    """How long a whole stack takes, from the measured time of its first plane."""

    planes: int
    seconds_per_plane: float

    @property
    def seconds(self) -> float:
        return self.planes * self.seconds_per_plane

    def describe(self) -> str:
        """``"400 planes x 0.30 s = about 2.0 min"``."""
        return (
            f"{self.planes} planes x {self.seconds_per_plane:.2g} s = about "
            f"{format_seconds(self.seconds)}"
        )


def format_seconds(seconds: float) -> str:
    """``"45 s"``, ``"2.0 min"``, ``"1.3 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.2g} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@contextmanager
def naming_the_plane(index: tuple, lead: tuple) -> Iterator[None]:
    """A :class:`W2SInputError` of one plane of a stack says which plane (``index`` among the
    ``lead`` axes); that of a single image is left as it is."""
    try:
        yield
    except W2SInputError as err:
        if not lead:
            raise
        where = ", ".join(str(int(i)) for i in index)
        raise W2SInputError(f"plane {where} of {' x '.join(map(str, lead))}: {err}") from err


def iter_restore(
    pipeline: Pipeline, data: np.ndarray, frame_axes: int = 0, budget_s: float | None = None
) -> Generator[dict, None, np.ndarray | Estimate]:
    """Restore every 2-D plane of ``data`` (shape ``(..., Y, X)``); yields progress dicts.

    Each dict has ``plane``, ``planes``, ``done``, ``total`` (units of the current plane).
    With ``budget_s``, a stack whose first plane shows that the whole run would take longer
    stops there and returns an :class:`Estimate` instead of the result (ask the user, then run
    again without a budget).
    """
    arr = np.asarray(data) if not hasattr(data, "compute") else data
    lead = tuple(arr.shape[:-2])
    planes = int(np.prod(lead)) if lead else 1
    s = pipeline.scale
    check_memory(arr.shape, s)
    out = np.empty((*lead, arr.shape[-2] * s, arr.shape[-1] * s), np.float32)
    t0 = time.perf_counter()
    affine = pipeline.fit_normalisation(arr) if lead else None  # a stack: one map for all planes
    for p, index in enumerate(np.ndindex(*lead) if lead else [()]):
        with naming_the_plane(index, lead):
            plane = np.asarray(arr[index])  # cast by the step, after its checks of the values
            target = out[index]  # a view: the last network step writes straight into it
            gen = pipeline.iter_run(plane, affine, target)
            while True:
                try:
                    done, total = next(gen)
                except StopIteration as stop:
                    if stop.value is not target:
                        target[...] = stop.value
                    break
                yield {"plane": p, "planes": planes, "done": done, "total": total}
        if p == 0 and planes > 1 and budget_s is not None:
            estimate = Estimate(planes, time.perf_counter() - t0)
            if estimate.seconds > budget_s:
                return estimate
    return out
