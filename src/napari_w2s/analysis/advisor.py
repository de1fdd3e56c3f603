"""Photon-budget advisor: how many frames does the plain average need for a target PSNR?

From the Poisson-Gaussian law of one raw frame (variance ``a * y + b``, in the data's units,
from :func:`napari_w2s.analysis.noise.estimate_noise_stack` or ``estimate_noise``) and the
clean signal ``y``, the average of ``N`` frames has, at each pixel, noise variance
``(a * y + b) / N``; its mean squared error against the clean image is the pixel average::

    MSE_N = (a * mean(y) + b) / N          (the law is linear: only the mean of y matters)
    PSNR_N = 10 log10(R^2 / MSE_N),        R = max(y) - min(y), the clean image's range

which is the PSNR that ``w2s metrics avgN clean`` measures with the default data range. With a
clean reference that is itself the mean of ``T`` frames including the ``N`` averaged (the W2S
protocol), ``MSE_N = (a * mean(y) + b) (1 / N - 1 / T)``.

The clean image's range is estimated from the mean of the frames, corrected for the noise that
the mean still has (see :func:`_clean_range`), or given (``data_range``).

No JDSR (network) prediction here: the restoration's RMSE against SIM depends on the model and
the sample, and curves measured on the simulator are not stored with the model cards yet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import W2SInputError
from .noise import NoiseEstimate

DEFAULT_LEVELS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 400)


@dataclass(frozen=True)
class AdviceRow:
    frames: int
    psnr: float  # dB, predicted, average of ``frames`` frames against the clean image
    rmse: float  # in the data's units
    psnr_low: float  # from the ends of the noise estimate's interval of a
    psnr_high: float


@dataclass(frozen=True)
class Advice:
    """The prediction per number of frames and the smallest number reaching the target."""

    a: float
    b: float
    method: str  # which noise estimator answered ("frames", "single-image", or "given")
    mean_signal: float
    data_range: float
    noise_var_1: float  # variance of one frame's noise averaged over the pixels
    rows: tuple[AdviceRow, ...]
    target_psnr: float | None = None
    frames_needed: int | None = None  # smallest N reaching the target (None: none / no target)
    notes: tuple[str, ...] = ()
    noise: NoiseEstimate | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "noise_method": self.method,
            "mean_signal": self.mean_signal,
            "data_range": self.data_range,
            "noise_variance_one_frame": self.noise_var_1,
            "target_psnr": self.target_psnr,
            "frames_needed": self.frames_needed,
            "predictions": [
                {"frames": r.frames, "psnr": r.psnr, "rmse": r.rmse,
                 "psnr_interval": [r.psnr_low, r.psnr_high]}  # fmt: skip
                for r in self.rows
            ],
            "notes": list(self.notes),
        }


def predicted_psnr(a: float, b: float, mean_signal: float, data_range: float, frames: int,
                   reference_frames: int | None = None) -> float:  # fmt: skip
    """PSNR (dB) of the ``frames``-frame average against the clean image (see the module)."""
    var1 = a * mean_signal + b
    factor = 1.0 / frames - (1.0 / reference_frames if reference_frames else 0.0)
    mse = var1 * factor
    if not (mse > 0 and data_range > 0):
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def frames_for_psnr(a: float, b: float, mean_signal: float, data_range: float,
                    target: float) -> int:  # fmt: skip
    """Smallest whole number of frames whose average reaches ``target`` dB (no reference noise)."""
    var1 = a * mean_signal + b
    if var1 <= 0:
        return 1
    return max(1, math.ceil(var1 * 10 ** (target / 10.0) / data_range**2 - 1e-9))


def _clean_range(data: np.ndarray, a: float, b: float) -> tuple[float, list[str]]:
    """The clean image's range ``max - min`` estimated from the frames (or one image).

    The mean ``M`` of the ``T`` frames still has noise of variance ``(a M + b) / T``, which
    pushes its maximum up and its minimum down. The minimum is taken on ``M`` smoothed
    (Gaussian, 2 pixels: backgrounds are smooth), the maximum as ``max(M)`` less 1.5 noise
    standard deviations there (the typical excess of the largest of the few pixels near a peak,
    calibrated on the simulator; a smoothed maximum would cut sharp peaks).
    """
    from scipy import ndimage as ndi

    notes = []
    n = data.shape[0] if data.ndim == 3 else 1
    mean = data.mean(axis=0, dtype=np.float64) if data.ndim == 3 else data.astype(np.float64)
    top = float(mean.max())
    sd_top = math.sqrt(max(a * top + b, 0.0) / n)
    lo = float(ndi.gaussian_filter(mean, 2.0).min())
    hi = top - 1.5 * sd_top
    if not hi > lo:
        raise W2SInputError("no signal above the noise: the clean image's range is unknown")
    if sd_top > 0.05 * (hi - lo):
        notes.append(
            f"the clean image's range is estimated from {n} noisy frame(s) (noise at the peak "
            f"{100 * sd_top / (hi - lo):.0f}% of the range): the PSNR is approximate; give the "
            "range of a clean image (data_range) or more frames"
        )
    return hi - lo, notes


def advise(
    data: Any,
    *,
    target_psnr: float | None = None,
    levels: tuple[int, ...] = DEFAULT_LEVELS,
    noise: NoiseEstimate | tuple[float, float] | None = None,
    reference_frames: int | None = None,
    data_range: float | None = None,
) -> Advice:
    """Predict the PSNR of N-frame averages of this view and the frames needed for a target.

    Parameters
    ----------
    data : array_like, (T, Y, X) or (Y, X)
        Raw frames of the view (T >= 2: the noise is measured from frame differences), or one
        raw frame (single-image noise estimate, less reliable).
    target_psnr : float, optional
        The PSNR (dB) wanted for the average against the clean image.
    levels : tuple of int
        The numbers of frames to predict for.
    noise : NoiseEstimate or (a, b), optional
        A known noise law of one raw frame, instead of estimating it.
    reference_frames : int, optional
        The clean reference is itself the mean of this many frames including the averaged ones
        (the W2S protocol, 400): its remaining noise is taken into account.
    data_range : float, optional
        The clean image's range (e.g. ``max - min`` of the user's avg400) instead of the one
        estimated from the data.
    """
    from .._validate import checked_image
    from .noise import estimate_noise, estimate_noise_stack

    arr = np.asarray(data)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim not in (2, 3):
        raise W2SInputError(f"give one image (Y, X) or a stack (T, Y, X), got shape {arr.shape}")
    if arr.ndim == 2:
        arr = checked_image(arr, "the image", ndim=2)
    if not levels or min(levels) < 1:
        raise W2SInputError("the numbers of frames to predict for must be at least 1")
    if target_psnr is not None and not math.isfinite(target_psnr):
        raise W2SInputError(f"the target PSNR must be a finite number, got {target_psnr}")
    notes: list[str] = []
    est = None
    if noise is None:
        est = estimate_noise_stack(arr) if arr.ndim == 3 else estimate_noise(arr)
        a, b, method = est.a, est.b, est.method
        a_lo, a_hi = est.a_ci
        notes.extend(est.notes)
    elif isinstance(noise, NoiseEstimate):
        est, a, b, method = noise, noise.a, noise.b, noise.method
        a_lo, a_hi = noise.a_ci
    else:
        a, b = (float(v) for v in noise)
        method, a_lo, a_hi = "given", a, a
    if not math.isfinite(a_lo):
        a_lo, a_hi = a, a
    mean_img = arr.mean(axis=0, dtype=np.float64) if arr.ndim == 3 else arr
    mean_signal = float(np.mean(mean_img))
    var1 = a * mean_signal + b
    if not var1 > 0:
        raise W2SInputError(
            f"the noise law gives no positive variance at the mean signal ({mean_signal:.4g}): "
            f"a = {a:.4g}, b = {b:.4g}"
        )
    if data_range is not None:
        if not (math.isfinite(data_range) and data_range > 0):
            raise W2SInputError(f"the data range must be a number above 0, got {data_range}")
        dr = float(data_range)
    else:
        dr, more = _clean_range(arr, a, b)
        notes.extend(more)
    rows = []
    for n in sorted(set(int(v) for v in levels)):
        if reference_frames and n >= reference_frames:
            continue
        p = predicted_psnr(a, b, mean_signal, dr, n, reference_frames)
        # conservative interval: the variance at the mean with a at the ends of its interval
        # and b fixed (the fit's a and b are correlated, so the truth is usually narrower)
        lo_v = max(a_lo * mean_signal + b, 1e-300)
        hi_v = max(a_hi * mean_signal + b, 1e-300)
        p1 = predicted_psnr(1.0, 0.0, lo_v, dr, n, reference_frames)
        p2 = predicted_psnr(1.0, 0.0, hi_v, dr, n, reference_frames)
        mse = var1 * (1.0 / n - (1.0 / reference_frames if reference_frames else 0.0))
        rows.append(AdviceRow(n, p, math.sqrt(mse), min(p1, p2), max(p1, p2)))
    needed = None
    if target_psnr is not None:
        needed = frames_for_psnr(a, b, mean_signal, dr, target_psnr)
        if reference_frames:
            # 1/N - 1/T <= R^2 / (var1 10^(t/10))
            room = dr**2 / (var1 * 10 ** (target_psnr / 10.0)) + 1.0 / reference_frames
            needed = max(1, math.ceil(1.0 / room - 1e-9))
            if needed >= reference_frames:
                needed = None
                notes.append("the target is out of reach against a reference of "
                             f"{reference_frames} frames")  # fmt: skip
    return Advice(a=float(a), b=float(b), method=method, mean_signal=mean_signal,
                  data_range=dr, noise_var_1=float(var1), rows=tuple(rows),
                  target_psnr=target_psnr, frames_needed=needed, notes=tuple(notes),
                  noise=est)  # fmt: skip
