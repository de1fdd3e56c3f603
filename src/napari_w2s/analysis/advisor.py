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
the mean still has (:func:`napari_w2s.analysis.signal_range.clean_range`), or given
(``data_range``).

**SSIM.** The SSIM of the average against the clean image (scikit-image's conventions, as
``w2s metrics``: 7 x 7 uniform window, sample covariance, K1 = 0.01, K2 = 0.03) is predicted
from the local statistics of the clean image and the local noise variance
``s2 = (a * y + b) / N``. Zero-mean noise leaves the covariance of the pair at the clean image's
local variance ``v``, and adds ``s2`` to the average's, so each window's contrast-structure
term is ``(2 v + C2) / (2 v + s2 + C2)`` and its luminance term ``1 - (s2 / 49) / (2 mu^2 + C1)``
(the window mean's own noise); the SSIM is their product averaged over the windows. ``v`` is
the local variance of the mean of the frames less the noise it still has (``s2`` of ``T``
frames), at least 0. A reference that is itself the mean of ``T_ref`` frames including the
averaged ones shares their noise: its variance ``v + s1 / T_ref`` and the covariance both grow.

**JDSR.** The expected RMSE / SSIM of the JDSR restoration of the ``N``-frame average against
SIM come from curves measured on the simulator for the shipped model and stored with its card
(:mod:`napari_w2s.analysis.advisor_curves`), read at the SNR that average will have.
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
    psnr_low: float  # from the ends of the intervals of a and of the clean range
    psnr_high: float
    jdsr: dict | None = None  # snr, rmse, ssim (and their ranges) of the JDSR restoration
    ssim: float = math.nan  # predicted SSIM of the average against the clean image


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
    data_range_interval: tuple[float, float] | None = None  # None: the range was given
    jdsr_note: str = ""  # why there is no JDSR prediction ("" when there is one)
    target_rmse: float | None = None  # the JDSR RMSE wanted (W2S units)
    jdsr_frames_needed: int | None = None  # smallest listed N whose JDSR RMSE reaches it

    def to_dict(self) -> dict[str, Any]:
        preds = []
        for r in self.rows:
            row = {
                "frames": r.frames,
                "psnr": r.psnr,
                "rmse": r.rmse,
                "psnr_interval": [r.psnr_low, r.psnr_high],
                "ssim": r.ssim,
            }
            if r.jdsr is not None:
                row["jdsr"] = dict(r.jdsr)
            preds.append(row)
        return {
            "a": self.a,
            "b": self.b,
            "noise_method": self.method,
            "mean_signal": self.mean_signal,
            "data_range": self.data_range,
            "data_range_interval": list(self.data_range_interval or (self.data_range,) * 2),
            "noise_variance_one_frame": self.noise_var_1,
            "target_psnr": self.target_psnr,
            "frames_needed": self.frames_needed,
            "predictions": preds,
            "jdsr": {
                "available": any(r.jdsr is not None for r in self.rows),
                "note": self.jdsr_note,
                "units": "W2S z-score, against SIM",
                "target_rmse": self.target_rmse,
                "frames_needed": self.jdsr_frames_needed,
            },
            "notes": list(self.notes),
        }

    def summary_lines(self) -> list[str]:
        """The answer in a few sentences (for the widget and the command line)."""
        source = {"frames": "frame differences", "single-image": "one image"}.get(
            self.method, self.method
        )
        noise = f"variance = {self.a:.4g} * signal {self.b:+.4g}"
        lines = [f"noise of one frame: {noise} (from {source}); range {self.data_range:.4g}"]
        if self.target_psnr is not None:
            if self.frames_needed is None:
                lines.append(f"a PSNR of {self.target_psnr:g} dB is out of reach")
            else:
                lines.append(
                    f"for {self.target_psnr:g} dB average at least {self.frames_needed} "
                    f"frame{'s' if self.frames_needed > 1 else ''}"
                )
        scored = [r for r in self.rows if math.isfinite(r.ssim)]
        if scored:
            first, last = scored[0], scored[-1]
            lines.append(
                f"SSIM of the average against the clean image: {first.ssim:.2f} from "
                f"{first.frames} frame{'s' if first.frames > 1 else ''}, {last.ssim:.2f} "
                f"from {last.frames}"
            )
        restored = [r for r in self.rows if r.jdsr is not None]
        if restored:
            first, last = restored[0], restored[-1]

            def rmse(r: AdviceRow) -> str:  # the expectation and where 90 % of samples fall
                lo, hi = r.jdsr["rmse_range"]
                return f"{r.jdsr['rmse']:.3f} ({lo:.2f}-{hi:.2f})"

            lines.append(
                f"JDSR against SIM (RMSE, W2S units; in brackets where 90 % of samples fall): "
                f"{rmse(first)} from {first.frames} frame{'s' if first.frames > 1 else ''}, "
                f"{rmse(last)} from {last.frames}"
            )
            if self.target_rmse is not None:
                n = self.jdsr_frames_needed
                lines.append(
                    f"for a JDSR RMSE of {self.target_rmse:g}: "
                    + (f"{n} frames" if n is not None else "out of reach of the frames listed")
                )
        elif self.jdsr_note and self.jdsr_note != "not asked":
            lines.append(f"no JDSR prediction: {self.jdsr_note}")
        return lines


def predicted_psnr(
    a: float,
    b: float,
    mean_signal: float,
    data_range: float,
    frames: int,
    reference_frames: int | None = None,
) -> float:
    """PSNR (dB) of the ``frames``-frame average against the clean image (see the module)."""
    var1 = a * mean_signal + b
    factor = 1.0 / frames - (1.0 / reference_frames if reference_frames else 0.0)
    mse = var1 * factor
    if not (mse > 0 and data_range > 0):
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def predicted_ssim(
    mean_img: np.ndarray,
    a: float,
    b: float,
    data_range: float,
    frames: tuple[int, ...],
    mean_of: int = 1,
    reference_frames: int | None = None,
) -> list[float]:
    """SSIM of the average of each number of ``frames`` against the clean image (the module).

    ``mean_img`` is the mean of ``mean_of`` raw frames of the view (one raw frame: 1), the
    estimate of the clean image ``y``; ``a``, ``b`` the noise law of one frame; ``data_range``
    the clean image's range (SSIM's ``L``)."""
    from ._filters import box
    from .metrics import SSIM_K1, SSIM_K2, SSIM_WINDOW

    m = np.asarray(mean_img, dtype=np.float64)
    w = SSIM_WINDOW
    n_win = w * w
    mu = box(m, w)  # the window means of scikit-image's SSIM (uniform, reflected borders)
    local_var = (box(m * m, w) - mu * mu) * (n_win / (n_win - 1.0))
    s1 = np.maximum(a * mu + b, 0.0)  # one frame's noise variance, the window's mean signal
    v = np.maximum(local_var - s1 / mean_of, 0.0)  # the clean image's local variance
    pad = (w - 1) // 2
    crop = (slice(pad, -pad or None),) * 2
    v, s1, mu = v[crop], s1[crop], mu[crop]
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    ref = 1.0 / reference_frames if reference_frames else 0.0
    out = []
    for n in frames:
        s2 = s1 / n
        shared = s1 * ref  # the reference's noise, also in the average's
        cs = (2.0 * (v + shared) + c2) / (2.0 * v + s2 + shared + c2)
        lum = 1.0 - (s2 + shared) / n_win / (2.0 * mu * mu + c1)
        out.append(float(np.mean(np.clip(lum, 0.0, 1.0) * cs)))
    return out


def frames_for_psnr(
    a: float, b: float, mean_signal: float, data_range: float, target: float
) -> int:
    """Smallest whole number of frames whose average reaches ``target`` dB (no reference noise)."""
    var1 = a * mean_signal + b
    if var1 <= 0:
        return 1
    return max(1, math.ceil(var1 * 10 ** (target / 10.0) / data_range**2 - 1e-9))


def advise(
    data: Any,
    *,
    target_psnr: float | None = None,
    levels: tuple[int, ...] = DEFAULT_LEVELS,
    noise: NoiseEstimate | tuple[float, float] | None = None,
    reference_frames: int | None = None,
    data_range: float | None = None,
    jdsr: bool | dict = True,
    target_rmse: float | None = None,
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
    jdsr : bool or dict
        Predict the JDSR restoration's RMSE / SSIM against SIM per ``N`` from the shipped
        model's curves (``True``), from these curves (a card's ``advisor["jdsr_vs_sim"]``), or
        not (``False``).
    target_rmse : float, optional
        The JDSR RMSE wanted (W2S units): the smallest listed ``N`` reaching it is reported.
    """
    from .._validate import checked_image
    from .advisor_curves import average_snr, detail_fraction, load_curves, predict
    from .metrics import SSIM_WINDOW
    from .noise import estimate_noise, estimate_noise_stack
    from .signal_range import clean_range

    arr = np.asarray(data)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim not in (2, 3):
        raise W2SInputError(f"give one image (Y, X) or a stack (T, Y, X), got shape {arr.shape}")
    if arr.ndim == 2:
        arr = checked_image(arr, "the image", ndim=2)
    if not levels or min(levels) < 1:
        raise W2SInputError("the numbers of frames to predict for must be at least 1")
    for name, value in (("PSNR", target_psnr), ("RMSE", target_rmse)):
        if value is not None and not math.isfinite(value):
            raise W2SInputError(f"the target {name} must be a finite number, got {value}")
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
        dr = dr_lo = dr_hi = float(data_range)
        dr_interval = None
    else:
        rng_est = clean_range(arr, a, b)
        dr, dr_lo, dr_hi = rng_est.value, rng_est.low, rng_est.high
        dr_interval = (dr_lo, dr_hi)
        notes.extend(rng_est.notes)
    if jdsr is False:
        curves, jdsr_note = None, "not asked"
    elif isinstance(jdsr, dict):
        curves, jdsr_note = jdsr, ""
    else:
        curves, jdsr_note = load_curves("jdsr")
    detail = detail_fraction(mean_img) if curves is not None else None
    rows = []
    wanted = [
        n for n in sorted({int(v) for v in levels}) if not reference_frames or n < reference_frames
    ]
    mean_of = arr.shape[0] if arr.ndim == 3 else 1
    ssims = (
        predicted_ssim(mean_img, a, b, dr, tuple(wanted), mean_of, reference_frames)
        if min(mean_img.shape) >= SSIM_WINDOW
        else [math.nan] * len(wanted)
    )
    for n, ssim_n in zip(wanted, ssims, strict=True):
        p = predicted_psnr(a, b, mean_signal, dr, n, reference_frames)
        # conservative interval: a at the ends of its interval (b fixed: the fit's a and b are
        # correlated, so the truth is usually narrower) and the ends of the range's interval
        lo_v = max(a_lo * mean_signal + b, 1e-300)
        hi_v = max(a_hi * mean_signal + b, 1e-300)
        p1 = predicted_psnr(1.0, 0.0, max(lo_v, hi_v), dr_lo, n, reference_frames)
        p2 = predicted_psnr(1.0, 0.0, min(lo_v, hi_v), dr_hi, n, reference_frames)
        mse = var1 * (1.0 / n - (1.0 / reference_frames if reference_frames else 0.0))
        restored = predict(curves, average_snr(dr, var1, n), detail) if curves else None
        rows.append(AdviceRow(n, p, math.sqrt(mse), min(p1, p), max(p2, p), restored, ssim_n))
    needed = None
    if target_psnr is not None:
        needed = frames_for_psnr(a, b, mean_signal, dr, target_psnr)
        if reference_frames:
            # 1/N - 1/T <= R^2 / (var1 10^(t/10))
            room = dr**2 / (var1 * 10 ** (target_psnr / 10.0)) + 1.0 / reference_frames
            needed = max(1, math.ceil(1.0 / room - 1e-9))
            if needed >= reference_frames:
                needed = None
                notes.append(
                    f"the target is out of reach against a reference of {reference_frames} frames"
                )
    jdsr_needed = None
    if target_rmse is not None and curves is not None:
        jdsr_needed = next((r.frames for r in rows if r.jdsr["rmse"] <= target_rmse), None)
    if any(r.jdsr is not None and r.jdsr["extrapolated"] for r in rows):
        notes.append(
            "some JDSR predictions are for SNRs outside those measured on the simulator (the "
            "curve's end value is used)"
        )
    return Advice(
        a=float(a),
        b=float(b),
        method=method,
        mean_signal=mean_signal,
        data_range=dr,
        noise_var_1=float(var1),
        rows=tuple(rows),
        target_psnr=target_psnr,
        frames_needed=needed,
        notes=tuple(notes),
        noise=est,
        data_range_interval=dr_interval,
        jdsr_note=jdsr_note,
        target_rmse=target_rmse,
        jdsr_frames_needed=jdsr_needed,
    )
