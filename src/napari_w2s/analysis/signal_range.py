"""The range ``max - min`` of a view's clean image, estimated from a few noisy frames.

The PSNR of an average against the clean image is ``10 log10(R^2 / MSE)`` with ``R`` the clean
image's range, so the photon-budget advisor (:mod:`napari_w2s.analysis.advisor`) needs ``R``
from the frames it is given. The mean ``M`` of ``T`` frames still has noise of variance
``(a M + b) / T``, which pushes its maximum up (most at broad, dim peaks, and more for skewed
EMCCD noise) and its minimum down.

* **Signal band**: the clean image has no frequency beyond the optical cut-off; ``M`` is
  low-passed there (the band of :mod:`napari_w2s.analysis.noise_spectral`), which removes the
  noise beyond the cut-off and leaves the signal as it is.
* **Maximum**: two estimates from the low-passed mean ``L``, whose errors on the simulator have
  opposite signs: a least-squares quadratic surface on the 3 x 3 pixels around the maximum of
  ``L`` (the peak of a PSF-blurred structure; it averages part of the noise but is still
  selected for it: slightly high), and ``max(L)`` less the excess that the same noise gives a
  maximum, ``E[max(L + e)] - max(L)`` over 8 draws of the noise ``e`` (a parametric bootstrap;
  slightly low). The estimate is their mean, their spread its uncertainty.
* **Minimum**: the minimum of ``M`` smoothed over 2 pixels (backgrounds are smooth).

Measured (``benchmarks/bench_noise_estimation.py --only advisor``): from 16 frames, the range
is within about 6 % (0.5 dB of PSNR) on views whose range is at least 10 noise standard
deviations of the mean; dimmer views get a note and a wide interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import W2SInputError

_PAD = 16
_DRAWS = 8


@dataclass(frozen=True)
class RangeEstimate:
    """The clean image's range and an interval (the spread of the two maximum estimates)."""

    value: float
    low: float
    high: float
    lo: float  # the clean minimum
    hi: float  # the clean maximum
    noise_at_peak: float  # standard deviation of the mean's noise at the maximum
    notes: tuple[str, ...] = ()


def _low_pass(img: np.ndarray, cutoff: float) -> np.ndarray:
    from .noise_spectral import _transfer

    padded = np.pad(img, _PAD, mode="symmetric")
    keep = 1.0 - _transfer(padded.shape, cutoff)
    out = np.real(np.fft.ifft2(np.fft.fft2(padded) * keep))
    return out[_PAD:-_PAD, _PAD:-_PAD]


def _quadratic_peak(img: np.ndarray) -> float:
    """The maximum of a least-squares quadratic surface on the 3 x 3 pixels around the maximum."""
    y0, x0 = np.unravel_index(int(np.argmax(img)), img.shape)
    if not (0 < y0 < img.shape[0] - 1 and 0 < x0 < img.shape[1] - 1):
        return float(img[y0, x0])
    ys, xs = (v.ravel().astype(np.float64) for v in np.mgrid[-1:2, -1:2])
    design = np.stack([np.ones(9), xs, ys, xs * xs, ys * ys, xs * ys], axis=1)
    c = np.linalg.lstsq(design, img[y0 - 1 : y0 + 2, x0 - 1 : x0 + 2].ravel(), rcond=None)[0]
    hess = np.array([[2 * c[3], c[5]], [c[5], 2 * c[4]]])
    try:
        sx, sy = np.clip(np.linalg.solve(hess, -c[1:3]), -1.0, 1.0)
    except np.linalg.LinAlgError:
        sx = sy = 0.0
    return float(c[0] + c[1] * sx + c[2] * sy + c[3] * sx * sx + c[4] * sy * sy + c[5] * sx * sy)


def clean_range(data: np.ndarray, a: float, b: float, seed: int = 0) -> RangeEstimate:
    """The clean image's range from frames ``(T, Y, X)`` or one image, with the noise law ``a, b``
    of one raw frame (see the module docstring)."""
    from scipy import ndimage as ndi

    from .noise_spectral import MAX_CUTOFF, noise_band

    n = data.shape[0] if data.ndim == 3 else 1
    mean = data.mean(axis=0, dtype=np.float64) if data.ndim == 3 else data.astype(np.float64)
    sd = np.sqrt(np.maximum(a * mean + b, 0.0) / n)
    band = noise_band(mean)[0] if min(mean.shape) >= 32 else None
    cutoff = band.cutoff if band is not None else MAX_CUTOFF
    low = _low_pass(mean, cutoff)
    quad = _quadratic_peak(low)
    rng = np.random.default_rng(seed)
    excess = [
        float(np.max(low + _low_pass(rng.standard_normal(mean.shape) * sd, cutoff)))
        - float(low.max())
        for _ in range(_DRAWS)
    ]
    boot = float(low.max()) - float(np.mean(excess))
    hi_est = 0.5 * (quad + boot)
    lo_est = float(ndi.gaussian_filter(mean, 2.0).min())
    if not hi_est > lo_est:
        raise W2SInputError("no signal above the noise: the clean image's range is unknown")
    r = hi_est - lo_est
    r_lo, r_hi = min(quad, boot) - lo_est, max(quad, boot) - lo_est
    sd_top = float(sd.ravel()[int(np.argmax(low))])
    notes = []
    if sd_top > 0.1 * r:
        notes.append(
            f"the clean image's range is estimated from {n} noisy frame(s) (noise at the peak "
            f"{100 * sd_top / r:.0f}% of the range): the PSNR is approximate; give the range of "
            "a clean image (data_range) or more frames"
        )
        # when noise dominates, the two estimates may agree by chance: widen by the noise
        r_lo, r_hi = max(r - 2 * sd_top, 0.5 * r), r + 2 * sd_top
    return RangeEstimate(r, max(r_lo, 1e-12), r_hi, lo_est, hi_est, sd_top, tuple(notes))
