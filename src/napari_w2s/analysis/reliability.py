"""Disjoint-frame reliability of a restored stack: where two independent restorations disagree.

A stack restored at level ``avgN`` (the W2S protocol's frames, :func:`napari_w2s.averaging.
level_frames`) is restored a second time from the average of ``N`` *other* frames of the same
stack. The two inputs share the sample and differ only by their noise, so where the two results
disagree the result depends on noise rather than on the sample: that part of it is not
supported by the data. The map is the local root-mean-square of the half difference,

    d = sqrt(gaussian(((r_a - r_b) ** 2) / 2, sigma))
    map = sqrt((floor * range) ** 2 + (factor * d) ** 2),

in the output's units, where ``range`` is the input's 1st-99.8th percentile range (the
per-image normalisation's scale). ``d`` is the part of the error that changes with the noise;
the two restorations' *shared* error (the model's bias, structure it never learnt) does not
show in their difference, so a floor proportional to the image's range stands for it.
``factor`` and ``floor`` are fitted per model and level on simulated views
(``scripts/calibrate_reliability.py``: least squares of RMSE² on range² and mean(d)², the
factor at least the ratio rms(d) / mean(d), below which the map would claim less error than
the noise-driven part alone) and
stored in the model card's ``reliability`` field, so that the map's mean predicts the RMSE of
the result against the truth (SIM for a x2 model, the clean image for a denoiser). The floor is
the same everywhere in an image: the map locates noise-driven error, not the model's bias.
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
    calibrated: bool  # False: no calibration for this model and level (factor 1, no floor)
    frames_a: list[int] = field(default_factory=list)
    frames_b: list[int] = field(default_factory=list)
    floor: float = 0.0
    noise_part: float = 0.0  # mean of the uncalibrated disagreement map (d)
    image_range: float = 0.0
    noise_rms: float = 0.0  # root-mean-square of d: the noise-driven RMSE itself

    def to_dict(self) -> dict:
        return {
            "predicted_rmse": self.predicted_rmse,
            "factor": self.factor,
            "floor": self.floor,
            "noise_part": self.noise_part,
            "image_range": self.image_range,
            "noise_rms": self.noise_rms,
            "calibrated": self.calibrated,
            "frames_a": self.frames_a,
            "frames_b": self.frames_b,
            "sigma": SIGMA,
        }


def _nearest(values: Mapping, level: str) -> Any:
    if level in values:
        return values[level]
    n = int(level[3:]) if level.startswith("avg") and level[3:].isdigit() else 1
    return values[min(values, key=lambda k: abs(np.log2(int(k[3:])) - np.log2(n)))]


def factor_for(card_reliability: Mapping | None, level: str) -> tuple[float, bool]:
    """The calibration factor of a level from a card's ``reliability`` field, and whether one
    was found (a level without one takes the nearest calibrated level's)."""
    factors = dict((card_reliability or {}).get("factor", {}))
    if not factors:
        return 1.0, False
    return float(_nearest(factors, level)), True


def floor_for(card_reliability: Mapping | None, level: str) -> float:
    """The error floor (a fraction of the input's range) of a level; 0 without calibration."""
    floors = dict((card_reliability or {}).get("floor", {}))
    return float(_nearest(floors, level)) if floors else 0.0


def image_range(image: Any) -> float:
    """The input's 1st-99.8th percentile range: the scale of the per-image normalisation."""
    lo, hi = np.percentile(np.asarray(image, dtype=np.float64), [1.0, 99.8])
    return float(hi - lo)


def reliability_of(
    out_a: Any,
    out_b: Any,
    input_a: Any,
    level: int,
    card_reliability: Mapping | None = None,
    frames: tuple[list[int], list[int]] = ([], []),
) -> Reliability:
    """The calibrated map of two restorations of disjoint ``avgN`` averages (``out_a`` of
    ``input_a``, the first set's average, whose range scales the floor)."""
    factor, calibrated = factor_for(card_reliability, f"avg{level}")
    floor, rng = floor_for(card_reliability, f"avg{level}"), image_range(input_a)
    d = uncalibrated_map(out_a, out_b)
    m = np.sqrt((floor * rng) ** 2 + (factor * d.astype(np.float64)) ** 2).astype(np.float32)
    first, second = (list(map(int, f)) for f in frames)
    d64 = d.astype(np.float64)
    return Reliability(
        m,
        float(m.mean()),
        factor,
        calibrated,
        first,
        second,
        floor,
        float(d64.mean()),
        rng,
        float(np.sqrt((d64**2).mean())),
    )


def fit_calibration(rows: Any) -> tuple[float, float]:
    """``(factor, floor)`` of one level from calibration views, rows of (true RMSE, mean(d),
    the input's range, rms(d)): RMSE² ≈ factor² mean(d)² + floor² range², each view's equation
    divided by its RMSE² (every view weighs the same), non-negative least squares, with the
    factor at least the median of rms(d) / mean(d): ``factor * mean(d)`` is then at least the
    noise-driven RMSE the two restorations measure, so a bias that ``d`` cannot see (shared by
    both results) is left to the floor and never removes the map's noise part."""
    from scipy.optimize import nnls

    a = np.asarray(rows, dtype=np.float64)
    t2 = a[:, 0] ** 2
    least = float(np.median(a[:, 3] / np.maximum(a[:, 1], 1e-30)))
    u, w = a[:, 1] ** 2 / t2, a[:, 2] ** 2 / t2
    # factor² = least² + extra² with extra² >= 0: the fit is of what the noise part leaves
    coef, _ = nnls(np.stack([u, w], axis=1), 1.0 - least**2 * u)
    return float(np.sqrt(least**2 + coef[0])), float(np.sqrt(coef[1]))


def stack_reliability(
    stack: Any,
    level: int,
    restore: Callable[[np.ndarray], np.ndarray],
    card_reliability: Mapping | None = None,
    avg1_frame: int | None = None,
    average: Any = None,
) -> tuple[np.ndarray, Reliability]:
    """Restore ``avgN`` of ``stack`` (T, Y, X) and its disjoint twin; the first result and the
    reliability map. ``restore`` maps an image in the stack's units to the result;
    ``average``: the first set's average where the caller has it already (not recomputed)."""
    data = np.asarray(stack) if not hasattr(stack, "shape") else stack
    if len(data.shape) != 3:
        raise W2SInputError(
            f"a reliability map needs a stack of frames (T, Y, X), not shape {tuple(data.shape)}"
        )
    first, second = disjoint_frames(int(data.shape[0]), level, avg1_frame)
    x_a = frames_average(data, first) if average is None else np.asarray(average, np.float32)
    x_b = frames_average(data, second)
    out_a, out_b = restore(x_a), restore(x_b)
    rel = reliability_of(out_a, out_b, x_a, level, card_reliability, (first, second))
    return np.asarray(out_a), rel


def frames_average(stack: Any, frames: list[int]) -> np.ndarray:
    """The float32 average of ``frames`` of ``stack``, read frame by frame."""
    total = np.zeros(tuple(stack.shape[1:]), np.float64)
    for i in frames:
        total += np.asarray(stack[int(i)], dtype=np.float64)
    return (total / max(len(frames), 1)).astype(np.float32)
