"""Single-image noise estimation from the frequencies that the optics cannot pass.

A microscope's optical transfer function is exactly zero beyond its cut-off ``2 NA / lambda``.
When the image is sampled finely enough (the cut-off below about 0.5 cycles per pixel), the
highest spatial frequencies of a raw image hold **noise only**, whatever the sample: a high-pass
filter ``h`` that keeps only them gives ``r = h * z = h * noise`` at every pixel, with no
smoothness test and no edge mask, bright structures included. For independent pixels of
variance ``a y + b``::

    E[r(x)^2] = sum_k h_k^2 (a y(x - k) + b) = a (h^2 * y)(x) + b sum_k h_k^2

and ``h^2 * z`` estimates ``h^2 * y`` without bias, so the law is recovered from level sets of
``(h^2 * z) / sum h^2`` against the mean square of ``r / sqrt(sum h^2)`` (the same linear trick
as the wavelet estimator's noise-weighted mean). Using every pixel, bright ones included, gives
the fit far more leverage than smooth regions alone: on the project's benchmark
(``benchmarks/bench_noise_estimation.py``, 24 images) the median error of ``a`` drops from 4.0 %
to 1.8 % and the worst from 21.6 % to 7.7 % (``docs/noise.md``).

**The band.** The cut-off is found from the image itself: the radially averaged periodogram
(Hann window) is flat at the noise floor beyond it. The floor is measured in the corners
(``|f| >= 0.55`` cycles/pixel, beyond any well-sampled cut-off); rings more than 4 standard
errors above it hold signal; the excess of the outermost such rings is extrapolated
log-linearly to 1e-3 of the floor (the OTF falls faster than that near its cut-off, so this is
conservative); the band starts there, at least at :data:`MIN_CUTOFF` (faint signal hidden in
the noise of the periodogram still biases ``a`` when the signal-dependent noise is small) and
at most at :data:`MAX_CUTOFF` (narrower bands give wide filters whose weights overlap the
binning ring and bias the fit). An image whose periodogram still falls between 0.45 and 0.55
cycles/pixel is undersampled (signal up to the corners): :func:`noise_band` returns ``None``
and the wavelet estimator (Foi et al.) answers instead.

**Level sets** are binned by the mean of the ring between 1 and 2 pixels around each position
(independent of most of ``r``'s noise); positions near the border (the image is mirrored) and
within 3 pixels of a clipped pixel are left out, and level sets within 4 standard deviations of
a clipping level are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .level_sets import level_sets

PG_SCATTER = 2.65  # standard deviation of a Hann-windowed periodogram ring mean, times sqrt(n)
CORNER = 0.55  # cycles/pixel: rings beyond hold noise only in any image that is not undersampled
MIN_CUTOFF = 0.33
MAX_CUTOFF = 0.5
WIDTH = 0.08  # raised-cosine transition of the high-pass filter, cycles/pixel
MIN_DOF = 1500  # degrees of freedom of the noise band at least (else the wavelet estimator)
_BORDER = 8
_PAD = 16


@dataclass(frozen=True)
class NoiseBand:
    """The high-pass band used: it starts at ``cutoff`` (cycles/pixel)."""

    cutoff: float
    detected: float  # the outermost ring with significant signal
    extrapolated: float  # where the signal's excess is extrapolated to reach 1e-3 of the floor
    dof: float  # degrees of freedom of the band (``sum h^2`` times the number of pixels)


def _half_plane(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``|f|`` on the half plane of a real FFT of ``shape`` (cycles/pixel), and how many bins of
    the full plane each stands for (2, or 1 for the columns that are their own mirror)."""
    f = np.hypot(np.fft.fftfreq(shape[0])[:, None], np.fft.rfftfreq(shape[1])[None, :])
    weight = np.full(f.shape[1], 2.0)
    weight[0] = 1.0
    if shape[1] % 2 == 0:
        weight[-1] = 1.0
    return f, np.broadcast_to(weight, f.shape)


def _ring_profile(z: np.ndarray, n_rings: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Radial mean of the Hann-windowed periodogram: ring centres, means, counts (the
    periodogram of a real image is symmetric: the half plane, each bin counted for its mirror)."""
    h, w = z.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    p = np.abs(np.fft.rfft2((z - z.mean()) * win)) ** 2 / (win * win).sum()
    f, weight = _half_plane((h, w))
    edges = np.linspace(0.0, 0.5 * math.sqrt(2.0), n_rings + 1)
    idx = np.clip(np.digitize(f.ravel(), edges) - 1, 0, n_rings - 1)
    count = np.bincount(idx, weights=weight.ravel(), minlength=n_rings)
    total = np.bincount(idx, weights=(weight * p).ravel(), minlength=n_rings)
    centres = 0.5 * (edges[1:] + edges[:-1])
    return centres, total / np.maximum(count, 1), count.round().astype(np.int64)


def _transfer(shape: tuple[int, int], cutoff: float, half: bool = False) -> np.ndarray:
    """The high-pass filter's frequency response: 0 below ``cutoff``, a raised cosine to 1
    (``half``: on the half plane of a real FFT)."""
    kx = (np.fft.rfftfreq if half else np.fft.fftfreq)(shape[1])
    f = np.hypot(np.fft.fftfreq(shape[0])[:, None], kx[None, :])
    t = np.clip((f - cutoff) / WIDTH, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def noise_band(z: np.ndarray) -> tuple[NoiseBand | None, str]:
    """The noise-only band of an image, or ``None`` and why there is none."""
    f, p, n = _ring_profile(z)
    corner = f >= CORNER
    if n[corner].sum() < 256:
        return None, "the image is too small for its spectrum"
    floor = float((p[corner] * n[corner]).sum() / n[corner].sum())
    if not floor > 0:
        return None, "no noise in the highest frequencies"
    se0 = PG_SCATTER / math.sqrt(n[corner].sum())
    mid = (f >= 0.45) & (f < CORNER)
    p_mid = float((p[mid] * n[mid]).sum() / n[mid].sum())
    if p_mid / floor - 1 > 3 * math.hypot(se0, PG_SCATTER / math.sqrt(n[mid].sum())):
        return None, "signal up to the highest frequencies (undersampled image)"
    excess = p / floor - 1
    signal = (excess > 4.0 * np.hypot(PG_SCATTER / np.sqrt(np.maximum(n, 1)), se0)) & (f > 0.02)
    signal &= f < CORNER
    idx = np.flatnonzero(signal)
    detected = float(f[idx.max()]) if idx.size else 0.0
    extrapolated = 1.3 * detected
    outer = signal & (f >= 0.5 * detected)
    if outer.sum() >= 3:
        weights = np.sqrt(n[outer]) * excess[outer] / PG_SCATTER  # 1 / se of log(excess)
        slope, icpt = np.polyfit(f[outer], np.log(excess[outer]), 1, w=weights)
        if slope < 0:
            extrapolated = max(extrapolated, (math.log(1e-3) - icpt) / slope)
    cutoff = min(max(extrapolated, MIN_CUTOFF), MAX_CUTOFF)
    t2 = _transfer(z.shape, cutoff, half=True) ** 2
    dof = float((t2 * _half_plane(z.shape)[1]).sum())  # sum over the full plane
    if dof < MIN_DOF:
        return None, f"the noise-only band is too small ({dof:.0f} degrees of freedom)"
    return NoiseBand(cutoff, detected, float(extrapolated), dof), ""


def band_level_sets(
    z: np.ndarray, band: NoiseBand, lo: float, hi: float, n_levels: int, min_count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Level sets ``(mean, std, effective count)`` of the band-passed noise; ``None`` if too few.

    ``mean`` is the level set's mean of ``(h^2 * z) / sum h^2``, ``std`` the robust standard
    deviation of ``r / sqrt(sum h^2)``: ``std^2 = a mean + b`` for any signal. The counts are
    the numbers of positions times ``sum h^2`` (neighbouring values of ``r`` are correlated).
    """
    from scipy import ndimage as ndi

    # real FFTs on the half plane: the image is real and the filter even
    padded = np.pad(z, _PAD, mode="symmetric")
    shape = padded.shape
    transfer = _transfer(shape, band.cutoff, half=True)
    spec = np.fft.rfft2(padded)
    r = np.fft.irfft2(spec * transfer, s=shape)
    h = np.fft.irfft2(transfer, s=shape)
    h2 = h * h
    energy = float(h2.sum())
    m = np.fft.irfft2(spec * np.fft.rfft2(h2), s=shape) / energy
    inner = (slice(_PAD, _PAD + z.shape[0]), slice(_PAD, _PAD + z.shape[1]))
    r, m = r[inner] / math.sqrt(energy), m[inner]
    # binning variable: the mean of the ring between 1 and 2 pixels (5 x 5 less 3 x 3)
    ring = (
        25.0 * ndi.uniform_filter(z, 5, mode="reflect")
        - 9.0 * ndi.uniform_filter(z, 3, mode="reflect")
    ) / 16.0
    ok = np.zeros(z.shape, bool)
    ok[_BORDER:-_BORDER, _BORDER:-_BORDER] = True
    if math.isfinite(lo) or math.isfinite(hi):
        clipped = (z <= lo) | (z >= hi)
        ok &= ~ndi.binary_dilation(clipped, np.ones((7, 7), bool))
    if ok.sum() < 3 * min_count:
        return None
    y, s, n = level_sets(ring[ok], m[ok], r[ok], n_levels, min_count)
    keep = (s > 0) & (y - 4 * s > lo) & (y + 4 * s < hi)
    if keep.sum() < 2:
        return None
    return y[keep], s[keep], n[keep] * energy
