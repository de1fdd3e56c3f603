"""Disjoint-frame reliability of a restored stack: where two independent restorations disagree.

A stack restored at level ``avgN`` (the W2S protocol's frames, :func:`napari_w2s.averaging.
level_frames`) is restored a second time from the average of ``N`` *other* frames of the same
stack. The two inputs share the sample and differ only by their noise, so where the two results
disagree the result depends on noise rather than on the sample: that part of it is not
supported by the data. The map is the local root-mean-square of the half difference,

    map = factor * sqrt(gaussian(((r_a - r_b) ** 2) / 2, sigma)),

in the output's units. ``factor`` is calibrated per model and level on simulated views
(``scripts/calibrate_reliability.py``: the median of true RMSE / mean of the uncalibrated map)
and stored in the model card's ``reliability`` field, so that the map's mean predicts the RMSE of
the result against the truth (SIM for a x2 model, the clean image for a denoiser). The two
restorations' shared error (the model's bias, structure it never learnt) does not show in their
difference: that is what the factor absorbs on average, and what the map cannot locate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import W2SInputError

SIGMA = 2.0  # output pixels: the window of the local RMS


def disjoint_frames(
    n_frames: int, level: int, avg1_frame: int | None = None
) -> tuple[list[int], list[int]]:
    """The frames of level ``avgN`` (W2S protocol) and ``N`` other frames, the nearest after them
    (before them where the stack ends)."""
    from ..averaging import W2S_AVG1_FRAME, level_frames

    level = int(level)
    if n_frames < 2 * level:
        raise W2SInputError(
            f"a reliability map at avg{level} needs {2 * level} frames (two disjoint sets of "
            f"{level}); the stack has {n_frames}"
        )
    frames, _ = level_frames(
        n_frames, (level,), "w2s", avg1_frame=W2S_AVG1_FRAME if avg1_frame is None else avg1_frame
    )
    first = frames[f"avg{level}"]
    used = set(first)
    after = [i for i in range(first[-1] + 1, n_frames) if i not in used]
    before = [i for i in range(first[0] - 1, -1, -1) if i not in used]
    second = sorted((after + before)[:level])
    return first, second


def uncalibrated_map(out_a: Any, out_b: Any, sigma: float = SIGMA) -> np.ndarray:
    """Local RMS of the half difference of two restorations (factor 1), float32."""
    from scipy.ndimage import gaussian_filter

    a = np.asarray(out_a, dtype=np.float64)
    b = np.asarray(out_b, dtype=np.float64)
    if a.shape != b.shape:
        raise W2SInputError(f"the two restorations differ in shape: {a.shape} and {b.shape}")
    half_sq = (a - b) ** 2 / 2.0
    return np.sqrt(np.clip(gaussian_filter(half_sq, sigma, mode="nearest"), 0, None)).astype(
        np.float32
    )


@dataclass
class Reliability:
    """A calibrated reliability map and what it predicts."""

    map: np.ndarray  # predicted local RMS error, output's units and grid
    predicted_rmse: float  # the map's mean
    factor: float
    calibrated: bool  # False: no calibration for this model and level (factor 1)
    frames_a: list[int] = field(default_factory=list)
    frames_b: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "predicted_rmse": self.predicted_rmse,
            "factor": self.factor,
            "calibrated": self.calibrated,
            "frames_a": self.frames_a,
            "frames_b": self.frames_b,
            "sigma": SIGMA,
        }


def factor_for(card_reliability: Mapping | None, level: str) -> tuple[float, bool]:
    """The calibration factor of a level from a card's ``reliability`` field, and whether one
    was found (a level without one takes the nearest calibrated level's)."""
    factors = dict((card_reliability or {}).get("factor", {}))
    if not factors:
        return 1.0, False
    if level in factors:
        return float(factors[level]), True
    n = int(level[3:]) if level.startswith("avg") and level[3:].isdigit() else 1
    nearest = min(factors, key=lambda k: abs(np.log2(int(k[3:])) - np.log2(n)))
    return float(factors[nearest]), True


def stack_reliability(
    stack: Any,
    level: int,
    restore: Callable[[np.ndarray], np.ndarray],
    card_reliability: Mapping | None = None,
    avg1_frame: int | None = None,
) -> tuple[np.ndarray, Reliability]:
    """Restore ``avgN`` of ``stack`` (T, Y, X) and its disjoint twin; the first result and the
    reliability map. ``restore`` maps an image in the stack's units to the result."""
    data = np.asarray(stack) if not hasattr(stack, "shape") else stack
    if len(data.shape) != 3:
        raise W2SInputError(
            f"a reliability map needs a stack of frames (T, Y, X), not shape {tuple(data.shape)}"
        )
    first, second = disjoint_frames(int(data.shape[0]), level, avg1_frame)
    x_a = np.asarray(data[first], dtype=np.float32).mean(axis=0)
    x_b = np.asarray(data[second], dtype=np.float32).mean(axis=0)
    out_a, out_b = restore(x_a), restore(x_b)
    factor, calibrated = factor_for(card_reliability, f"avg{level}")
    m = uncalibrated_map(out_a, out_b) * np.float32(factor)
    rel = Reliability(m, float(m.mean()), factor, calibrated, first, second)
    return np.asarray(out_a), rel
