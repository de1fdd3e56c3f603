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
    from ..analysis.reliability import disjoint_frames, stack_reliability
    from ..averaging import W2S_AVG1_FRAME, level_frames
    from ..geometry import upsampled_geometry
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
    if map_dst is not None:
        first, second = disjoint_frames(int(data.shape[0]), level)  # checks 2 N frames first
        x = np.asarray(data[first], dtype=np.float32).mean(axis=0)
    else:
        frames, _ = level_frames(int(data.shape[0]), (level,), "w2s", avg1_frame=W2S_AVG1_FRAME)
        first = frames[f"avg{level}"]
        x = np.asarray(data[first], dtype=np.float32).mean(axis=0)
    pipeline = opts.pipeline(x)
    rel = None
    if map_dst is None:
        result = pipeline.run(x)
    else:
        result, rel = stack_reliability(data, level, pipeline.run, card_reliability(pipeline))
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
