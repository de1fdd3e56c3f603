"""Restore one noise level of a raw stack, optionally with its disjoint-frame reliability map.

``w2s restore STACK --level N [--reliability MAP]``: the stack's frames are averaged as the W2S
protocol does for level ``avgN`` (``avg1`` = frame 249, ``avgN`` = frames 0..N-1;
:func:`napari_w2s.averaging.level_frames`), the average is restored, and with ``reliability``
the average of ``N`` other frames is restored too and the two results' disagreement is written
as a map on the output's grid (:mod:`napari_w2s.analysis.reliability`: calibrated from the
model card, so that its mean predicts the RMSE against the truth).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import W2SInputError
from .files import RestoreOptions, read_input


@dataclass(frozen=True)
class LevelResult:
    """What :func:`restore_level_file` wrote."""

    path: Path
    map_path: Path | None
    method: str
    level: int
    frames: list[int]
    reliability: dict | None
    seconds: float
    notes: tuple[str, ...]


def card_reliability(pipeline: Any) -> dict | None:
    """The ``reliability`` calibration of a single-network pipeline's card (``None`` for a
    sequence, a classical method or a card without one: the map then has factor 1)."""
    steps = getattr(pipeline, "steps", [])
    if len(steps) != 1 or getattr(steps[0], "card", None) is None:
        return None
    return dict(getattr(steps[0].card, "reliability", {}) or {}) or None


def level_frames_of(n_frames: int, level: int, twin: bool) -> tuple[list[int], list[int]]:
    """The frames of ``avg{level}`` (W2S protocol) and, with ``twin``, ``level`` other frames
    for the reliability map (else an empty second set)."""
    from ..analysis.reliability import disjoint_frames
    from ..averaging import W2S_AVG1_FRAME, level_frames

    if int(level) < 1:
        raise W2SInputError(f"the level must be at least avg1, not avg{level}")
    if twin:
        return disjoint_frames(n_frames, int(level))  # checks that there are 2 N frames
    frames, _ = level_frames(n_frames, (int(level),), "w2s", avg1_frame=W2S_AVG1_FRAME)
    return frames[f"avg{int(level)}"], []


def iter_restore_level(
    pipeline: Any,
    stack: Any,
    level: int,
    reliability: bool = False,
    average: Any = None,
) -> Generator[dict, None, tuple[np.ndarray, Any, list[int]]]:
    """Restore ``avg{level}`` of ``stack`` (T, Y, X) with ``pipeline`` and, with
    ``reliability``, the average of as many other frames; yields the engine's progress dicts
    (two planes with the twin). Returns the result, its
    :class:`~napari_w2s.analysis.reliability.Reliability` (``None`` without) and the frames.
    ``average``: the first set's average where the caller has it (not averaged again)."""
    from ..analysis.reliability import frames_average, reliability_of
    from .engine import iter_restore

    if len(stack.shape) != 3:
        raise W2SInputError(
            f"a W2S level averages the frames of a stack (T, Y, X), not shape {tuple(stack.shape)}"
        )
    first, second = level_frames_of(int(stack.shape[0]), level, reliability)
    x_a = frames_average(stack, first) if average is None else np.asarray(average, np.float32)
    planes = 2 if reliability else 1
    out_a = yield from _progress(iter_restore(pipeline, x_a), 0, planes)
    if not reliability:
        return np.asarray(out_a), None, first
    x_b = frames_average(stack, second)
    out_b = yield from _progress(iter_restore(pipeline, x_b), 1, planes)
    card = card_reliability(pipeline)
    rel = reliability_of(out_a, out_b, x_a, level, card, (first, second))
    return np.asarray(out_a), rel, first


def _progress(gen: Generator, plane: int, planes: int) -> Generator[dict, None, Any]:
    """The engine's progress of one image, as plane ``plane`` of ``planes``."""
    while True:
        try:
            rec = next(gen)
        except StopIteration as stop:
            return stop.value
        yield {**rec, "plane": plane, "planes": planes}


def _write_image(path: Path, image: np.ndarray, pixel: Any, record: dict, name: str) -> Path:
    if path.suffix.lower() == ".npy":
        from ..io.tiff import save_npy

        return save_npy(path, image.astype(np.float32))
    from ..io import write_ome_tiff

    return write_ome_tiff(path, image.astype(np.float32), "YX", pixel, record, name=name)


def restore_level_file(
    src: str | Path,
    out: str | Path,
    options: RestoreOptions | None,
    level: int,
    reliability: str | Path | None = None,
    *,
    axes: str | None = None,
    channel: int = 0,
) -> LevelResult:
    """Restore level ``avg{level}`` of the stack in ``src`` into ``out`` (``.ome.tif``, ``.tif``
    or ``.npy``, or a folder), and with ``reliability`` write the map there (same formats).
    Without a noise level in ``options`` the model trained for ``avg{level}`` is preferred."""
    from .._validate import refuse_overwriting_inputs
    from ..analysis.reliability import frames_average
    from ..geometry import upsampled_geometry
    from ..progress import drain
    from .files import output_path

    opts = options or RestoreOptions()
    if int(level) < 1:
        raise W2SInputError(f"--level must be at least 1, not {level}")
    level = int(level)
    if opts.noise_level is None:
        from ..averaging import W2S_LEVELS

        if level in W2S_LEVELS:
            opts = replace(opts, noise_level=f"avg{level}")
    stack = read_input(src, axes, channel)
    data = stack.data
    if len(data.shape) != 3:
        raise W2SInputError(
            f"--level averages the frames of a stack (T, Y, X); {src} has shape {tuple(data.shape)}"
        )
    dst = output_path(out, stack, f"{opts.method}_avg{level}")
    map_dst = Path(reliability) if reliability is not None else None
    if map_dst is not None and map_dst.resolve() == dst.resolve():
        raise W2SInputError(f"--reliability {map_dst} is the output file; give another name")
    refuse_overwriting_inputs([p for p in (dst, map_dst) if p], [src, stack.source])
    t0 = time.perf_counter()
    first, _ = level_frames_of(int(data.shape[0]), level, map_dst is not None)
    x = frames_average(data, first)
    pipeline = opts.pipeline(x)
    result, rel, first = drain(
        iter_restore_level(pipeline, data, level, map_dst is not None, average=x)
    )
    s = int(pipeline.scale)
    pixel = stack.pixel_size
    if pixel is not None and s > 1:
        pixel = upsampled_geometry(pixel, factor=s)[0]
    seconds = time.perf_counter() - t0
    record = {
        "method": pipeline.method,
        "pipeline": pipeline.describe(),
        "source": str(Path(src).resolve()),
        "level": f"avg{level}",
        "frames": [int(i) for i in first],
        "seconds": round(seconds, 3),
    }
    path = _write_image(dst, np.asarray(result), pixel, record, opts.method)
    map_path = None
    if rel is not None:
        map_record = {**record, "kind": "reliability map", "reliability": rel.to_dict()}
        map_path = _write_image(map_dst, rel.map, pixel, map_record, "reliability")
    notes = list(pipeline.notes)
    if rel is not None and not rel.calibrated:
        notes.append(
            f"{pipeline.method} has no reliability calibration in its card: the map is the raw "
            "disagreement of the two restorations (factor 1), which underestimates the error"
        )
    return LevelResult(
        path=path,
        map_path=map_path,
        method=pipeline.method,
        level=level,
        frames=[int(i) for i in first],
        reliability=rel.to_dict() if rel is not None else None,
        seconds=seconds,
        notes=tuple(notes),
    )
