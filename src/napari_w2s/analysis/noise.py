"""Poisson-Gaussian noise estimation: from one image (Foi et al. 2008) or from a noisy-clean pair.

The noise model is the one of the W2S paper (section 3.3): a pixel ``z`` with expectation ``y``
has variance ``sigma^2(y) = a * y + b``. Both estimators return ``a`` and ``b`` **in the image's
own units, offset included**: for a camera with gain ``g`` (ADU per photon), offset ``o`` and
read-noise variance ``r``, ``a = g`` and ``b = r - g * o`` (so ``b`` is often negative).

Single image (:func:`estimate_noise`), written from Foi, Trimeche, Katkovnik and Egiazarian,
"Practical Poissonian-Gaussian noise modeling and fitting for single-image raw-data", IEEE TIP
17(10), 2008:

1. one level of an orthonormal 2-D wavelet transform (Daubechies ``db2`` by default, two
   vanishing moments, so smooth signal leaks very little into the details); the approximation
   coefficients divided by 2 are local means, the diagonal detail coefficients are noise samples
   with the local noise standard deviation;
2. smooth positions only: the gradient and the Laplacian of the (3 x 3 smoothed) approximation
   must stay within ``edge_threshold`` noise standard deviations of what noise alone gives, then
   the smooth set is eroded (3 x 3) so that positions next to an edge go too;
3. the smooth positions are partitioned into intensity level sets (equal-width intervals of the
   local mean, merged until each holds ``min_count`` positions);
4. per level set a mean (of the local means) and a robust standard deviation of the details:
   a MAD-based scale rejects outliers beyond 4 scales, and the root mean square of the kept
   coefficients is the estimate. (The MAD itself is not a consistent estimate of the standard
   deviation of *clipped* data, whose distribution is not normal; the rms is.);
5. an initial weighted least-squares fit of ``std^2 = a * mean + b`` on the level sets away from
   any clipping level;
6. the final maximum-likelihood fit of the **clipped** model: observed values are
   ``clip(z, lo, hi)`` and the level-set means and standard deviations are compared with the
   expectation and standard deviation of a clipped normal variable (closed form). Each level
   set's unknown underlying expectation is profiled out by inverting the clipped expectation
   (the level-set means have a standard error of ``sigma / (2 sqrt(n))``, negligible against
   ``sigma``), and each level-set standard deviation is taken as normal with variance
   ``sigma~^2 / (2 n)``.

Clipping levels are detected (``clip="auto"``): the image's maximum (minimum) is taken as a
clipping level when at least 0.1 % of the pixels sit exactly on it and it holds at least three
times as many pixels as the next value, which Poisson counts never do. They can be given
(``clip=(lo, hi)``, either may be ``None``) or switched off (``clip=None``).

Paired (:func:`estimate_noise_paired`): with a clean reference of the same view (W2S has the
average of 400 frames), the residual ``noisy - clean`` is binned by intensity, a robust variance
is taken per bin and ``var = a * mean + b`` is fitted by iteratively re-weighted least squares
with rejection of outlying bins. Bins with saturated pixels are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import checked_image
from ..errors import W2SInputError
from .level_sets import MAD_TO_STD as _MAD_TO_STD
from .level_sets import level_edges as _level_edges
from .level_sets import level_sets as _level_sets

MIN_SIZE = 32


@dataclass(frozen=True, eq=False)
class NoiseEstimate:
    """Poisson-Gaussian noise parameters: variance ``a * mean + b`` in the image's units.

    Attributes
    ----------
    a, b : float
        The fitted model (final fit: maximum likelihood of the clipped model for the single-image
        estimator, weighted least squares for the paired one).
    method : str
        ``"single-image"`` (Foi et al. 2008), ``"frames"`` (differences of neighbouring frames
        of a stack, :func:`estimate_noise_stack`) or ``"paired"``.
    means, stds, counts : ndarray
        The level-set points: mean intensity, noise standard deviation, number of samples.
    used : ndarray of bool
        Which level sets entered the final fit.
    clip : tuple of float
        The clipping levels ``(lo, hi)`` of the model, ``-inf`` / ``inf`` where there is none.
    initial : tuple of float
        ``(a, b)`` of the initial least-squares fit.
    curve_mean, curve_std : ndarray
        The fitted curve for plotting: the standard deviation the model predicts for an observed
        mean (clipping included), over the range of the level sets.
    notes : tuple of str
        Warnings about the estimate's reliability (e.g. level sets over a narrow range, a
        fallback that relaxed the smoothness tests).
    a_ci, b_ci : tuple of float
        Approximate 95 % confidence intervals of ``a`` and ``b`` (``(nan, nan)`` where none was
        computed, e.g. by the paired estimator). The single-image interval includes a
        systematic term that grows with each fallback; see ``docs/noise.md``.
    extra : dict
        Method-specific numbers (frame pairs used and rejected, fallback level, ...).
    """

    a: float
    b: float
    method: str
    means: np.ndarray
    stds: np.ndarray
    counts: np.ndarray
    used: np.ndarray
    clip: tuple[float, float]
    initial: tuple[float, float]
    curve_mean: np.ndarray = field(repr=False)
    curve_std: np.ndarray = field(repr=False)
    notes: tuple[str, ...] = ()
    a_ci: tuple[float, float] = (math.nan, math.nan)
    b_ci: tuple[float, float] = (math.nan, math.nan)
    extra: dict = field(default_factory=dict, repr=False)

    def variance(self, mean: Any) -> np.ndarray:
        """Model variance ``max(a * mean + b, 0)`` at the given (unclipped) expectation."""
        return np.maximum(self.a * np.asarray(mean, dtype=np.float64) + self.b, 0.0)

    def std(self, mean: Any) -> np.ndarray:
        """Model standard deviation ``sqrt(max(a * mean + b, 0))`` (no clipping)."""
        return np.sqrt(self.variance(mean))

    def rescaled(self, lo: float, hi: float) -> tuple[float, float]:
        """``(a, b)`` after mapping the intensities ``lo .. hi`` linearly onto ``0 .. 1``.

        With ``lo, hi`` the image's minimum and maximum this is the [0, 1] scale on which the
        W2S paper reports ``a`` (its Fig. 2a).
        """
        return rescale_params(self.a, self.b, lo, hi)

    def gat_params(self) -> tuple[float, float, float]:
        """``(a, sigma2, offset)`` for :func:`napari_w2s.analysis.vst.gat`.

        The variance law ``a z + b`` is written ``a (z - offset) + sigma2`` with ``sigma2 >= 0``:
        a negative ``b`` (an offset larger than the read noise) becomes an offset ``-b / a``
        with no Gaussian part, a positive one a Gaussian variance with no offset. The forward
        transform is the same either way.
        """
        if self.b >= 0 or self.a <= 0:
            return self.a, max(self.b, 0.0), 0.0
        return self.a, 0.0, -self.b / self.a

    def to_dict(self) -> dict[str, Any]:
        """The numbers as plain Python objects (JSON-ready apart from infinities)."""
        return {
            "a": self.a,
            "b": self.b,
            "method": self.method,
            "n_level_sets": int(self.used.sum()),
            "clip": [self.clip[0], self.clip[1]],
            "initial": list(self.initial),
            "notes": list(self.notes),
            "a_ci": list(self.a_ci),
            "b_ci": list(self.b_ci),
            **({"details": dict(self.extra)} if self.extra else {}),
            "level_sets": {
                "mean": self.means.tolist(),
                "std": self.stds.tolist(),
                "count": self.counts.tolist(),
                "used": self.used.tolist(),
            },
        }


def rescale_params(a: float, b: float, lo: float, hi: float) -> tuple[float, float]:
    """Noise parameters of ``(z - lo) / (hi - lo)`` given those of ``z``.

    With ``u = (z - o) / s``: ``var(u) = (a / s) u + (b + a o) / s^2``.
    """
    s = float(hi) - float(lo)
    if not s > 0:
        raise W2SInputError("the intensity range to rescale to is empty (hi <= lo)")
    return a / s, (b + a * lo) / s**2


# ---------------------------------------------------------------------------------- helpers
def _as_image(image: Any, what: str) -> np.ndarray:
    arr = checked_image(image, what, ndim=2)
    if min(arr.shape) < MIN_SIZE:
        raise W2SInputError(
            f"{what} is too small ({arr.shape[0]} x {arr.shape[1]}); noise estimation needs at "
            f"least {MIN_SIZE} x {MIN_SIZE} pixels"
        )
    if arr.max() == arr.min():
        raise W2SInputError(f"{what} is constant: there is no noise to estimate")
    return arr


def detect_clipping(image: Any, min_fraction: float = 1e-3) -> tuple[float, float]:
    """Clipping levels ``(lo, hi)`` of an image, ``-inf`` / ``inf`` where there is none.

    The maximum (minimum) is a clipping level when at least ``min_fraction`` of the pixels sit
    exactly on it and it holds at least 1.5 times as many pixels as the tail of the histogram
    predicts there: the count of the next distinct value ``c1``, or ``c1^2 / c2`` (with ``c2``
    the count of the value after) where the counts fall towards the extreme, as the tail of a
    normal or Poisson law does. (A Poisson count of 0 at a mean of 1 is as frequent as a count
    of 1: not clipping. A background clipped at 0 holds its whole lower tail: clipping, even
    when that is only 30 % more than the next value.)
    """
    z = np.asarray(image, dtype=np.float64).ravel()
    n = z.size
    vals, counts = np.unique(z, return_counts=True)
    out = []
    for side in (-1, 1):
        c = counts[::-1] if side > 0 else counts
        clipped = False
        if c.size >= 2 and c[0] >= max(min_fraction * n, 4):
            expected = float(c[1])
            if c.size >= 3:
                expected = min(expected, float(c[1]) ** 2 / float(c[2]))
            clipped = c[0] >= 1.5 * expected
        ext = vals[-1] if side > 0 else vals[0]
        out.append(float(ext) if clipped else side * math.inf)
    return out[0], out[1]


def _resolve_clip(z: np.ndarray, clip: Any) -> tuple[float, float]:
    if clip is None:
        return -math.inf, math.inf
    if isinstance(clip, str):
        if clip != "auto":
            raise W2SInputError(f"clip must be 'auto', None or (lo, hi), got {clip!r}")
        return detect_clipping(z)
    lo, hi = clip
    lo = -math.inf if lo is None else float(lo)
    hi = math.inf if hi is None else float(hi)
    if not lo < hi:
        raise W2SInputError(f"the clipping levels must satisfy lo < hi, got ({lo}, {hi})")
    return lo, hi


_SQRT2PI = math.sqrt(2 * math.pi)


def clipped_normal_moments(mu: Any, sigma: Any, lo: float = -math.inf, hi: float = math.inf):
    """Expectation and standard deviation of ``clip(X, lo, hi)``, ``X ~ N(mu, sigma^2)``.

    Closed form with ``alpha = (lo - mu) / sigma``, ``beta = (hi - mu) / sigma`` (computed
    about ``mu`` to avoid cancellation)::

        m  = alpha Phi(alpha) + beta Q(beta) + phi(alpha) - phi(beta)
        s2 = alpha^2 Phi(alpha) + beta^2 Q(beta) + Phi(beta) - Phi(alpha)
             + alpha phi(alpha) - beta phi(beta)
        E = mu + sigma m,   Var = sigma^2 (s2 - m^2)
    """
    from scipy.special import ndtr

    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.maximum(np.asarray(sigma, dtype=np.float64), 1e-300)
    al = np.clip((lo - mu) / sigma, -40.0, 40.0)
    be = np.clip((hi - mu) / sigma, -40.0, 40.0)
    pa, qb = ndtr(al), ndtr(-be)
    fa, fb = np.exp(-0.5 * al * al) / _SQRT2PI, np.exp(-0.5 * be * be) / _SQRT2PI
    m = al * pa + be * qb + fa - fb
    s2 = al * al * pa + be * be * qb + (1.0 - qb - pa) + al * fa - be * fb
    return mu + sigma * m, sigma * np.sqrt(np.maximum(s2 - m * m, 0.0))


def _wls_line(x, y, w) -> tuple[float, float]:
    """Weighted least-squares ``y = a x + b``."""
    W = w.sum()
    xm, ym = (w * x).sum() / W, (w * y).sum() / W
    sxx = (w * (x - xm) ** 2).sum()
    if sxx <= 0:
        return 0.0, float(ym)
    a = float((w * (x - xm) * (y - ym)).sum() / sxx)
    return a, float(ym - a * xm)


def _invert_clipped_mean(target, a, b, lo, hi, floor, span):
    """Per level set, the expectation ``y`` whose clipped mean equals ``target`` (bisection).

    Level sets more than 10 standard deviations from both clipping levels are their own
    expectation (the clipped mean differs by less than 1e-20 of a standard deviation).
    """
    if not (math.isfinite(lo) or math.isfinite(hi)):
        return target
    target = np.asarray(target, dtype=np.float64)
    sd = np.sqrt(np.maximum(a * target + b, floor))
    near = (target - lo < 10 * sd) | (hi - target < 10 * sd)
    out = target.copy()
    if not near.any():
        return out
    t = target[near]
    left, right = t - span, t + span
    for _ in range(40):
        mid = 0.5 * (left + right)
        m, _ = clipped_normal_moments(mid, np.sqrt(np.maximum(a * mid + b, floor)), lo, hi)
        below = m < t
        left = np.where(below, mid, left)
        right = np.where(below, right, mid)
    out[near] = 0.5 * (left + right)
    return out


def _ml_fit(y, s, n, lo, hi, a0, b0):
    """Maximum-likelihood ``(a, b)`` of the clipped model; see the module docstring."""
    from ._simplex import nelder_mead

    floor = 1e-6 * float(np.median(s) ** 2) + 1e-300
    span = 10.0 * float(s.max()) + 1e-12
    # parametrise by the log-variance at a low anchor intensity and the log of the slope
    # relative to it: well conditioned, variance positive there, a >= 0
    y1, y2 = np.quantile(y, [0.1, 0.9])
    if not y2 > y1:
        y1, y2 = float(y.min()), float(y.max()) + 1e-12
    unit = 1.0 / (y2 - y1)

    def unpack(p):
        v1 = math.exp(p[0])
        a = v1 * unit * math.exp(p[1])
        return a, v1 - a * y1

    def nll(p):
        a, b = unpack(p)
        yt = _invert_clipped_mean(y, a, b, lo, hi, floor, span)
        _, st = clipped_normal_moments(yt, np.sqrt(np.maximum(a * yt + b, floor)), lo, hi)
        st = np.maximum(st, 1e-12 * span)
        return float(np.sum(2 * np.log(st) + n * (s - st) ** 2 / st**2))

    v1 = max(a0 * y1 + b0, 10 * floor, 1e-3 * float(np.median(s) ** 2))
    p0 = [math.log(v1), math.log(max(a0 / (v1 * unit), 1e-3))]
    return unpack(nelder_mead(nll, p0, xatol=1e-5, fatol=1e-7, maxiter=600))


# ---------------------------------------------------------------------------------- single image
def estimate_noise(
    image: Any,
    *,
    clip: Any = "auto",
    estimator: str = "auto",
    wavelet: str = "db2",
    n_levels: int = 48,
    min_count: int = 64,
    edge_threshold: float = 3.0,
) -> NoiseEstimate:
    """Poisson-Gaussian parameters ``(a, b)`` of one image (clipped model).

    Two estimators: the **spectral** one (:mod:`napari_w2s.analysis.noise_spectral`: the
    frequencies beyond the optical cut-off hold noise only, at every pixel) wherever the image
    is sampled finely enough to have such a band, else the **wavelet** one of Foi et al. 2008
    (smooth positions only, with fallbacks for dense images; see the module docstring).
    ``extra["estimator"]`` says which answered.

    Parameters
    ----------
    image : array_like, 2-D
        One raw or averaged image (not a stack), in any units.
    clip : "auto", None or (lo, hi)
        Clipping levels of the data (saturation, zero). ``"auto"`` detects them (see
        :func:`detect_clipping`); ``None`` fits the unclipped model.
    estimator : {"auto", "spectral", "wavelet"}
        ``"auto"``: spectral where the image has a noise-only band, else wavelet.
        ``"spectral"`` raises where there is no such band.
    wavelet : str
        An orthonormal PyWavelets wavelet for the one-level transform (wavelet estimator).
    n_levels : int
        Number of equal-width intensity intervals before merging.
    min_count : int
        Minimum number of smooth positions per level set (wavelet estimator; the spectral one
        uses four times as many, its values being correlated).
    edge_threshold : float
        Smoothness tests, in noise standard deviations (see the module docstring).

    Returns
    -------
    NoiseEstimate
        ``a``, ``b`` (variance ``a * mean + b`` in the image's units), the level-set points
        and the fitted curve.

    Raises
    ------
    W2SInputError
        An image that is not 2-D, smaller than 32 x 32, constant or not finite, or too
        flat or saturated to leave 2 level sets.
    """
    if estimator not in ("auto", "spectral", "wavelet"):
        raise W2SInputError(f"estimator must be 'auto', 'spectral' or 'wavelet', got {estimator!r}")
    z = _as_image(image, "the image")
    lo_z, hi_z = _resolve_clip(z, clip)
    off, scale = float(z.min()), float(z.max() - z.min())
    u = (z - off) / scale
    lo, hi = (lo_z - off) / scale, (hi_z - off) / scale
    fit, info = None, {}
    if estimator != "wavelet":
        fit, info = _spectral_fit(u, lo, hi, n_levels, 4 * min_count)
        if fit is None and estimator == "spectral":
            raise W2SInputError(f"no noise-only band in the image's spectrum: {info['why']}")
    if fit is None:
        u = u[: u.shape[0] // 2 * 2, : u.shape[1] // 2 * 2]
        fit, info = _wavelet_fit(u, lo, hi, wavelet, n_levels, min_count, edge_threshold)
        if info["fallback"] >= 2 and wavelet == "db2":
            # few smooth positions: a wavelet with four vanishing moments lets much less of the
            # (blurred) structure into the details, which matters once edges are no longer masked
            fit, info = _wavelet_fit(u, lo, hi, "db4", n_levels, min_count, edge_threshold)
    if fit is None:
        raise W2SInputError(
            "fewer than 2 intensity level sets with measurable noise; the image is too flat or "
            "too saturated for noise estimation"
        )
    y, s, n, informative, a0, b0, a1, b1 = fit
    level = info["fallback"]
    # curve for plotting: observed mean and std of the clipped model over the level sets' range
    floor = 1e-6 * float(np.median(s[informative]) ** 2)
    span = max(float(y.max() - y.min()), 1e-12)
    yt = np.linspace(y.min() - 0.05 * span, y.max() + 0.05 * span, 200)
    cm, cs = clipped_normal_moments(yt, np.sqrt(np.maximum(a1 * yt + b1, floor)), lo, hi)
    notes = []
    if info["estimator"] == "spectral":
        # a band held at its upper bound may still hold some signal (an undersampled image)
        systematic = _SYSTEMATIC_SPECTRAL[int(info.pop("capped"))]
    else:
        systematic = _SYSTEMATIC[level]
    if level:
        what = (
            "relaxed smoothness tests and smaller level sets"
            if level < 3
            else "every position (no smooth regions found; robust statistics only)"
        )
        notes.append(
            f"few smooth regions in the image: the estimate uses {what}, so it is less "
            f"reliable (interval widened to +-{100 * systematic:.0f}% systematic); a "
            "stack of frames gives a far better estimate"
        )
    # 95 % interval: the level sets' scatter (bootstrap) and a systematic term (signal leaking
    # into the details, non-normal noise; larger with each fallback; see docs/noise.md)
    inf_ = informative
    se_a, se_b = _bootstrap_line(y[inf_], s[inf_] ** 2, n[inf_])
    a_img = float(scale * a1)
    b_img = float(scale**2 * b1 - scale * a1 * off)
    x_mean = float(off + scale * np.average(y[inf_], weights=n[inf_]))
    sys_a = systematic * abs(a_img)
    half_a = math.hypot(1.96 * scale * se_a, sys_a)
    half_b = math.hypot(1.96 * math.hypot(scale**2 * se_b, scale * off * se_a), sys_a * abs(x_mean))
    p1, p99 = np.percentile(u, [1, 99])
    covered = float(y[informative].max() - y[informative].min()) / max(float(p99 - p1), 1e-12)
    if covered < 0.25:
        notes.append(
            f"the level sets cover only {100 * covered:.0f}% of the image's intensity "
            "range, so a is poorly determined; a paired estimate with a clean image is safer"
        )
    if half_a > 0.5 * abs(a_img):
        notes.append(
            "the signal-dependent part of the noise is small in this image (a dim image, or a "
            f"large read noise): a is known only within +-{100 * half_a / abs(a_img):.0f}%"
        )
    info.pop("why", None)
    return NoiseEstimate(
        notes=tuple(notes),
        a=a_img,
        b=b_img,
        a_ci=(a_img - half_a, a_img + half_a),
        b_ci=(b_img - half_b, b_img + half_b),
        extra={**info, "n_samples": int(n[inf_].sum())},
        method="single-image",
        means=off + scale * y,
        stds=scale * s,
        counts=n.astype(np.int64),
        used=informative,
        clip=(lo_z, hi_z),
        initial=(float(scale * a0), float(scale**2 * b0 - scale * a0 * off)),
        curve_mean=off + scale * cm,
        curve_std=scale * cs,
    )


def _spectral_fit(u, lo, hi, n_levels, min_count):
    """The spectral estimator's level sets and fit (see :mod:`.noise_spectral`), or None."""
    from .noise_spectral import band_level_sets, noise_band

    band, why = noise_band(u)
    sets = band_level_sets(u, band, lo, hi, n_levels, min_count) if band is not None else None
    if sets is None:
        return None, {"why": why or "too few level sets in the noise-only band"}
    y, s, n = sets
    a0, b0 = _wls_line(y, s**2, n / np.maximum(s, 1e-300) ** 4)
    a1, b1 = _ml_fit(y, s, n, -math.inf, math.inf, a0, b0)
    info = {
        "estimator": "spectral",
        "fallback": 0,
        "cutoff": band.cutoff,
        "signal_detected_to": band.detected,
        "band_dof": band.dof,
        "capped": band.extrapolated > band.cutoff,
    }
    return (y, s, n, np.ones(y.size, bool), a0, b0, a1, b1), info


def _wavelet_fit(u, lo, hi, wavelet, n_levels, min_count, edge_threshold):
    """Foi et al.'s level sets and fit with the fallbacks of the module docstring, or None."""
    import pywt

    try:
        cA, (cH, cV, cD) = pywt.dwt2(u, wavelet, mode="periodization")
    except ValueError as err:
        raise W2SInputError(f"wavelet {wavelet!r}: {err}") from err
    A, d = cA / 2.0, cD  # local means; noise samples with the local noise std
    B = _ring_mean(A)  # binning variable: independent of the noise of A at the centre
    M = _noise_weighted_mean(u, wavelet)  # the mean whose a * M + b is var(cD) exactly

    # preliminary noise level per intensity (a robust MAD, edges only inflate it)
    qs = np.quantile(B, np.linspace(0, 1, 17))
    idx = np.clip(np.searchsorted(qs, B.ravel(), side="right") - 1, 0, 15)
    pre_x, pre_s = [], []
    for k in range(16):
        sel = idx == k
        if sel.sum() >= 16:
            pre_x.append(float(np.median(B.ravel()[sel])))
            pre_s.append(_MAD_TO_STD * float(np.median(np.abs(d.ravel()[sel]))))
    pre_s = np.asarray(pre_s)
    positive = pre_s[pre_s > 0]
    if positive.size == 0:
        raise W2SInputError("the image has no measurable noise (wavelet details are all zero)")
    sigma = np.interp(B, pre_x, np.maximum(pre_s, 0.05 * float(np.median(positive))))

    # fallbacks for images with few smooth regions (dense or high-SNR structures): relaxed
    # smoothness tests and smaller level sets, then every position (robust statistics only);
    # each step adds a note and widens the confidence interval instead of refusing
    attempts = [
        (edge_threshold, min_count),
        (1.6 * edge_threshold, max(min_count // 2, 16)),
        (2.5 * edge_threshold, max(min_count // 4, 16)),
        (math.inf, max(min_count // 4, 16)),
    ]
    fit, level = None, 0
    for k, (threshold, count) in enumerate(attempts):
        new = _fit_level_sets(A, cH, cV, B, M, d, sigma, threshold, count, n_levels, lo, hi)
        if new is not None:
            fit, level = new, k
            if int(new[3].sum()) >= 4:  # enough informative level sets: no further fallback
                break
    info = {
        "estimator": "wavelet",
        "fallback": level,
        "wavelet": wavelet,
        "edge_threshold": attempts[level][0],
        "min_count": attempts[level][1],
    }
    return fit, info


_SYSTEMATIC = (0.10, 0.20, 0.30, 0.45)  # relative systematic error of a per fallback level
_SYSTEMATIC_SPECTRAL = (0.06, 0.12)  # spectral estimator: band below / at its upper bound


def _fit_level_sets(A, cH, cV, B, M, d, sigma, threshold, min_count, n_levels, lo, hi):
    """Smooth positions, level sets and the clipped-model fit; None when too few positions."""
    fit = None
    for _ in range(2):  # second pass: smoothness judged against the fitted noise level
        if math.isfinite(threshold):
            smooth = _smooth_positions(A, cH, cV, sigma, threshold)
        else:
            smooth = np.zeros(A.shape, bool)
            smooth[2:-2, 2:-2] = True
        if smooth.sum() < 3 * min_count:
            return fit
        y, s, n = _level_sets(B[smooth], M[smooth], d[smooth], n_levels, min_count)
        informative = s > 0  # a standard deviation of exactly 0: saturated, no information
        far = informative & (y - 3 * s > lo) & (y + 3 * s < hi)
        if far.sum() < 2:
            far = informative
        if far.sum() < 2:
            return fit
        a0, b0 = _wls_line(y[far], s[far] ** 2, n[far] / np.maximum(s[far], 1e-300) ** 4)
        a1, b1 = _ml_fit(y[informative], s[informative], n[informative], lo, hi, a0, b0)
        fit = (y, s, n, informative, a0, b0, a1, b1)
        floor = 1e-4 * float(np.median(s[informative]) ** 2)
        sigma = np.sqrt(np.maximum(a1 * B + b1, floor))
    return fit


def _bootstrap_line(y, v, n, seed: int = 0, rounds: int = 200) -> tuple[float, float]:
    """Standard errors of ``(a, b)`` of ``v = a y + b`` by resampling the level sets."""
    rng = np.random.default_rng(seed)
    k = y.size
    if k < 3:
        return math.inf, math.inf
    w = n / np.maximum(v, 1e-300) ** 2
    out = []
    for _ in range(rounds):
        i = rng.integers(0, k, k)
        if np.ptp(y[i]) <= 0:
            continue
        out.append(_wls_line(y[i], v[i], w[i]))
    if len(out) < 10:
        return math.inf, math.inf
    arr = np.asarray(out)
    return float(arr[:, 0].std()), float(arr[:, 1].std())


def _noise_weighted_mean(u: np.ndarray, wavelet: str) -> np.ndarray:
    """``sum_k g_k^2 z_k`` over the support of each diagonal detail coefficient.

    The diagonal detail is ``sum_k g_k z_k`` (``g`` the 2-D high-pass taps, ``sum g_k^2 = 1``),
    so its variance is ``sum_k g_k^2 (a y_k + b) = a E[M] + b`` for any signal shape: pairing
    the details with ``M`` rather than with the approximation removes the bias that curvature
    (peaks, ridges) would give the level-set means.
    """
    import pywt

    w = pywt.Wavelet(wavelet)
    g2 = (np.asarray(w.dec_hi) ** 2).tolist()
    bank = [g2, list(w.dec_hi), g2[::-1], list(w.rec_hi)]
    cM, _ = pywt.dwt2(u, pywt.Wavelet("noise-weights", filter_bank=bank), mode="periodization")
    return cM


def _ring_mean(A: np.ndarray) -> np.ndarray:
    """Mean of the 8 neighbours (3 x 3 without the centre), reflective borders."""
    from scipy import ndimage as ndi

    return (9.0 * ndi.uniform_filter(A, 3, mode="reflect") - A) / 8.0


def _smooth_positions(A, cH, cV, sigma, threshold) -> np.ndarray:
    """Smooth positions: no edge in the approximation, no structure in the H / V details.

    ``sigma`` is the noise standard deviation of the wavelet coefficients at each position.
    Edge test (Foi et al.): the gradient and the Laplacian of the approximation within
    ``threshold`` times their noise-only standard deviation. Structure test: the local (3 x 3)
    mean of ``(cH^2 + cV^2) / 2``, whose noise is independent of the diagonal details, within
    ``1 + threshold * sqrt(2 / 18)`` times the noise variance (signal that reaches the diagonal
    details reaches the horizontal and vertical ones first). Then a 3 x 3 erosion.
    """
    from scipy import ndimage as ndi

    sA = sigma / 2.0  # noise std of A = cA / 2
    gy, gx = np.gradient(A)  # central differences: noise std sA / sqrt(2)
    lap = ndi.laplace(A, mode="reflect")  # noise std sA * sqrt(20)
    edge = np.maximum(np.abs(gx), np.abs(gy)) * math.sqrt(2.0) > threshold * sA
    edge |= np.abs(lap) > threshold * math.sqrt(20.0) * sA
    energy = ndi.uniform_filter((cH * cH + cV * cV) / 2.0, 3, mode="reflect")
    edge |= energy > (1.0 + threshold * math.sqrt(2.0 / 18.0)) * sigma**2
    smooth = ~edge
    smooth[:2, :] = smooth[-2:, :] = False
    smooth[:, :2] = smooth[:, -2:] = False
    return ndi.binary_erosion(smooth, structure=np.ones((3, 3), bool))


# ---------------------------------------------------------------------------------- paired
def estimate_noise_paired(
    noisy: Any,
    clean: Any,
    *,
    clip: Any = "auto",
    n_bins: int = 64,
    min_count: int = 200,
    frames: tuple[int, int] | None = None,
) -> NoiseEstimate:
    """Poisson-Gaussian parameters from a noisy image and a clean reference of the same view.

    Parameters
    ----------
    noisy, clean : array_like, 2-D, same shape
        The noisy image and its clean version (e.g. W2S ``avg1`` and ``avg400``), same units.
    clip : "auto", None or (lo, hi)
        Clipping levels of the noisy image; bins where more than 0.1 % of the noisy pixels are
        clipped (or the clean image reaches a clipping level) are left out.
    n_bins : int
        Equal-width intensity bins of the clean image before merging.
    min_count : int
        Minimum number of pixels per bin.
    frames : (n, N), optional
        The noisy image is the mean of ``n`` frames and the clean one the mean of ``N`` frames
        that include them (the W2S protocol): the residual variance is then ``(1 - n / N)``
        times the noisy image's and is corrected. Without it the clean image's own noise is
        neglected.

    Returns
    -------
    NoiseEstimate
        ``a``, ``b`` in the images' units and the binned points (mean of the noisy image per
        bin, standard deviation of the residual).
    """
    z = _as_image(noisy, "the noisy image")
    c = _as_image(clean, "the clean image")
    if z.shape != c.shape:
        raise W2SInputError(
            f"the noisy image {z.shape} and the clean image {c.shape} have different shapes"
        )
    factor = 1.0
    if frames is not None:
        nf, nc = frames
        if not (0 < nf < nc):
            raise W2SInputError(f"frames must be (n, N) with 0 < n < N, got {frames}")
        factor = 1.0 / (1.0 - nf / nc)
    lo, hi = _resolve_clip(z, clip)
    zr, cr = z.ravel(), c.ravel()
    cclip = (cr <= lo) | (cr >= hi)
    edges = _level_edges(cr, n_bins, min_count)
    which = np.clip(np.searchsorted(edges, cr, side="right") - 1, 0, len(edges) - 2)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(len(edges)))
    means, stds, counts, ok = [], [], [], []
    r = zr - cr
    for k in range(len(edges) - 1):
        sl = order[bounds[k] : bounds[k + 1]]
        if sl.size < min_count // 2:
            continue
        rk = r[sl]
        med = float(np.median(rk))
        scale = _MAD_TO_STD * float(np.median(np.abs(rk - med)))
        keep = np.abs(rk - med) <= 5.0 * scale if scale > 0 else np.ones(rk.size, bool)
        rk = rk[keep]
        var = float(rk.var(ddof=1)) if rk.size > 1 else 0.0
        means.append(float(zr[sl][keep].mean()))
        stds.append(math.sqrt(var * factor))
        counts.append(int(rk.size))
        ok.append(var > 0 and not cclip[sl].any())
    x, s = np.asarray(means), np.asarray(stds)
    n, used = np.asarray(counts, dtype=np.float64), np.asarray(ok, dtype=bool)
    if used.sum() < 2:
        raise W2SInputError(
            "fewer than 2 usable intensity bins; the clean image is too flat or the noisy "
            "image too saturated for a paired noise estimate"
        )
    # initial fit away from the clipping levels, then ML of the clipped model (as for one
    # image), repeated without bins more than 5 standard errors off (outliers)
    far = used & (x - 3 * s > lo) & (x + 3 * s < hi)
    if far.sum() < 2:
        far = used
    v = s**2
    a0, b0 = _wls_line(x[far], v[far], n[far] / np.maximum(v[far], 1e-300) ** 2)
    off, sc = float(np.min(x)), float(np.ptp(x)) or 1.0
    xu, su, lou, hiu = (x - off) / sc, s / sc, (lo - off) / sc, (hi - off) / sc
    a0u, b0u = a0 / sc, (b0 + a0 * off) / sc**2
    fit = used
    for _ in range(3):
        au, bu = _ml_fit(xu[fit], su[fit], n[fit], lou, hiu, a0u, b0u)
        yt = _invert_clipped_mean(xu, au, bu, lou, hiu, 1e-300, 10.0 * float(su.max()))
        _, st = clipped_normal_moments(yt, np.sqrt(np.maximum(au * yt + bu, 1e-300)), lou, hiu)
        z_res = np.abs(su - st) / np.maximum(st, 1e-300) * np.sqrt(2.0 * n)
        new_fit = used & (z_res < 5.0)
        if new_fit.sum() < 2 or (new_fit == fit).all():
            break
        fit = new_fit
    a, b = sc * au, sc**2 * bu - sc * au * off
    used = fit
    span = max(float(x.max() - x.min()), 1e-12)
    yt = np.linspace(x.min() - 0.05 * span, x.max() + 0.05 * span, 200)
    cm, cs = clipped_normal_moments(yt, np.sqrt(np.maximum(a * yt + b, 0.0)), lo, hi)
    return NoiseEstimate(
        a=float(a),
        b=float(b),
        method="paired",
        means=x,
        stds=s,
        counts=n.astype(np.int64),
        used=used,
        clip=(lo, hi),
        initial=(float(a0), float(b0)),
        curve_mean=cm,
        curve_std=cs,
    )


# ---------------------------------------------------------------------------------- stacks
MAX_STACK_SAMPLES = 8_000_000  # pixel pairs pooled at most (about 30 pairs of 512 x 512)
_STACK_REJECT = 6.0  # |d| beyond this many robust scales of its bin: an outlier


def _pair_indices(n_frames: int, n_pixels: int, max_pairs: int | None) -> np.ndarray:
    """First frames ``t`` of the neighbouring pairs ``(t, t + 1)`` used, spread over the stack."""
    n = n_frames - 1
    want = max(8, MAX_STACK_SAMPLES // max(n_pixels, 1)) if max_pairs is None else max_pairs
    want = max(1, min(n, int(want)))
    return np.unique(np.linspace(0, n - 1, want).round().astype(np.int64))


def _drift_corrected_difference(f0: np.ndarray, f1: np.ndarray, ok: np.ndarray):
    """``d = f0 - f1`` minus its least-squares line in ``m = (f0 + f1) / 2``, and ``m``.

    Bleaching (or a lamp drift) between neighbouring frames makes ``E[d] = (1 - k) (y - o)``,
    linear in the mean; the noise of ``d`` and ``m`` is uncorrelated (equal variances), so the
    line is fitted without bias. Its slope is the relative change per frame.
    """
    d = f0 - f1
    m = 0.5 * (f0 + f1)
    dv, mv = d[ok], m[ok]
    slope, icpt = 0.0, 0.0
    for _ in range(2):  # second pass without gross outliers (moving objects, hot pixels)
        res = dv - (icpt + slope * mv)
        scale = _MAD_TO_STD * float(np.median(np.abs(res - np.median(res)))) or 1.0
        keep = np.abs(res) <= 5.0 * scale
        mm, dd = mv[keep], dv[keep]
        mc = mm - mm.mean()
        sxx = float(np.dot(mc, mc))
        slope = float(np.dot(mc, dd - dd.mean()) / sxx) if sxx > 0 else 0.0
        icpt = float(dd.mean() - slope * mm.mean())
    return d - (icpt + slope * m), m, slope


def _neighbour_correlation(d: np.ndarray, ok: np.ndarray) -> float:
    """Correlation of ``d`` with its right and lower neighbours (0 for white noise)."""
    dz = np.where(ok, d - float(d[ok].mean()), 0.0)
    num = float(np.sum(dz[:, 1:] * dz[:, :-1]) + np.sum(dz[1:, :] * dz[:-1, :]))
    den = float(np.sum(dz[:, 1:] ** 2) + np.sum(dz[1:, :] ** 2))
    return num / den if den > 0 else 0.0


def _fit_line_robust(x, v, n, kurt: float = 0.0):
    """IRLS fit ``v = a x + b`` of binned variances with the standard errors of variances.

    A sample variance of ``n`` values has relative variance ``(2 + kurt) / n``; weights come
    from the fitted line, bins further than 5 (scaled) standard errors are rejected. Returns
    ``(a, b, cov, used, (a0, b0))``.
    """
    used = np.ones(x.size, bool)
    vfit = np.maximum(v, 1e-300)
    a = b = 0.0
    first = None
    cov = np.full((2, 2), np.nan)
    for _ in range(6):
        w = n / ((2.0 + kurt) * np.maximum(np.abs(vfit), 1e-300) ** 2)
        a, b = _wls_line(x[used], v[used], w[used])
        if first is None:
            first = (a, b)
        vfit = a * x + b
        se = np.sqrt((2.0 + kurt) / n) * np.maximum(np.abs(vfit), 1e-300)
        z = (v - vfit) / se
        spread = max(1.0, _MAD_TO_STD * float(np.median(np.abs(z[used]))))
        new = np.abs(z) <= 5.0 * spread
        if new.sum() < 2:
            break
        if (new == used).all():
            break
        used = new
    w = n / ((2.0 + kurt) * np.maximum(np.abs(a * x + b), 1e-300) ** 2)
    xu, wu, vu = x[used], w[used], v[used]
    X = np.stack([xu, np.ones_like(xu)], axis=1)
    info = X.T @ (wu[:, None] * X)
    dof = max(int(used.sum()) - 2, 1)
    chi2 = float(np.sum(wu * (vu - a * xu - b) ** 2)) / dof
    try:
        cov = np.linalg.inv(info) * max(1.0, chi2)
    except np.linalg.LinAlgError:
        pass
    return a, b, cov, used, first


def estimate_noise_stack(
    frames: Any,
    *,
    clip: Any = "auto",
    max_pairs: int | None = None,
    n_bins: int = 64,
    min_count: int = 2000,
    motion_threshold: float = 0.05,
) -> NoiseEstimate:
    """Poisson-Gaussian parameters ``(a, b)`` of one raw frame from a stack of frames.

    For neighbouring frames ``f_t, f_t+1`` of a still sample, ``d = f_t - f_t+1`` has
    expectation 0 and variance ``sigma^2(y_t) + sigma^2(y_t+1) = 2 (a m + b)`` with ``m`` the
    expectation of ``(f_t + f_t+1) / 2``: the noise is measured directly, whatever the
    structure. The pairs are pooled into intensity bins of ``m`` and ``var(d) / 2 = a m + b``
    is fitted by iteratively re-weighted least squares with rejection of outlying bins.

    * **Bleaching / drift**: a change of brightness between the two frames shifts ``d`` by a
      term linear in ``m``; a line is fitted per pair and removed. ``(f_t + f_t+1) / 2`` is the
      mean whose law gives ``var(d)`` exactly, so the mean needs no correction.
    * **Motion / changes**: a pair whose difference has spatial structure (the correlation of
      ``d`` with its neighbouring pixels above ``motion_threshold``; white noise gives 0) is
      left out; within the kept pairs, values beyond 6 robust scales of their bin are outliers.
    * **Clipping**: pixels clipped in either frame are left out, and so are bins where more
      than 0.1 % of the pixels were clipped.

    Parameters
    ----------
    frames : array_like, 3-D (T, Y, X)
        Raw frames of one view, T >= 2, in any units (ADU: ``b`` then includes the offset).
    clip : "auto", None or (lo, hi)
        Clipping levels (see :func:`detect_clipping`, applied to the first pair's frames).
    max_pairs : int, optional
        Pairs used at most (spread over the stack); default: enough for 8 million pixel pairs.
    n_bins, min_count : int
        Equal-width intensity bins before merging, and pixel pairs per bin at least.
    motion_threshold : float
        Neighbour correlation of a pair's difference above which the pair is rejected.

    Returns
    -------
    NoiseEstimate
        ``method="frames"``, ``a``, ``b``, their 95 % intervals (from the fit's covariance,
        inflated by the reduced chi-square), the binned points, and ``extra`` with the pairs
        used and rejected and the mean relative drift per frame.
    """
    arr = np.asarray(frames) if not hasattr(frames, "shape") else frames
    if len(arr.shape) != 3:
        raise W2SInputError(f"the stack must be 3-D (frames, Y, X), got shape {tuple(arr.shape)}")
    n_frames, h, w = (int(v) for v in arr.shape)
    if n_frames < 2:
        raise W2SInputError("the stack has one frame; frame differences need at least 2")
    if min(h, w) < MIN_SIZE:
        raise W2SInputError(
            f"the frames are too small ({h} x {w}); noise estimation needs at least "
            f"{MIN_SIZE} x {MIN_SIZE} pixels"
        )
    starts = _pair_indices(n_frames, h * w, max_pairs)

    def frame(t: int) -> np.ndarray:
        return checked_image(arr[int(t)], f"frame {int(t)} of the stack", ndim=2)

    first = frame(starts[0])
    if first.max() == first.min() and frame(starts[0] + 1).max() == first.max():
        raise W2SInputError("the stack is constant: there is no noise to estimate")
    lo, hi = _resolve_clip(first, clip)

    ds, ms, bs, cl, corr, rejected, drifts = [], [], [], [], [], [], []
    cache: dict[int, np.ndarray] = {int(starts[0]): first}
    for t in starts:
        f0 = cache.pop(int(t), None)
        f0 = frame(t) if f0 is None else f0
        f1 = frame(t + 1)
        cache = {int(t) + 1: f1}
        clipped = (f0 <= lo) | (f0 >= hi) | (f1 <= lo) | (f1 >= hi)
        ok = ~clipped
        if ok.sum() < 16:
            rejected.append(int(t))
            continue
        d, m, slope = _drift_corrected_difference(f0, f1, ok)
        r = _neighbour_correlation(d, ok)
        corr.append((r, int(t)))
        if r > motion_threshold:
            rejected.append(int(t))
            continue
        drifts.append(slope)
        ds.append(d.astype(np.float32).ravel())
        ms.append(m.astype(np.float32).ravel())
        bs.append(_ring_mean(m).astype(np.float32).ravel())
        cl.append(clipped.ravel())
    notes = []
    if not ds:  # every pair moves: keep the quietest quarter and say so
        quiet = sorted(corr)[: max(1, len(corr) // 4)]
        if not quiet:
            raise W2SInputError("every frame pair is clipped; the stack is too saturated")
        notes.append(
            f"every frame pair has structure in its difference (motion or changes in the "
            f"sample; neighbour correlation {quiet[0][0]:.2f} at best): the quietest pairs are "
            "used and the estimate is biased high; register the stack or use --single"
        )
        rejected = [t for t in rejected if t not in {q[1] for q in quiet}]
        for _, t in quiet:
            f0, f1 = frame(t), frame(t + 1)
            clipped = (f0 <= lo) | (f0 >= hi) | (f1 <= lo) | (f1 >= hi)
            d, m, slope = _drift_corrected_difference(f0, f1, ~clipped)
            drifts.append(slope)
            ds.append(d.astype(np.float32).ravel())
            ms.append(m.astype(np.float32).ravel())
            bs.append(_ring_mean(m).astype(np.float32).ravel())
            cl.append(clipped.ravel())
    d = np.concatenate(ds)
    m = np.concatenate(ms)
    ring = np.concatenate(bs)
    clipped = np.concatenate(cl)
    del ds, ms, bs, cl

    # bins by the mean of the 8 neighbours, whose noise is independent of the pixel's own d
    # and m: each bin's var(d) / 2 and mean of m then obey a * mean + b exactly (the law is
    # linear), whatever the noise distribution (binning by m itself is biased for EMCCD data,
    # whose third cumulant is not a * variance)
    good = ~clipped
    edges = _level_edges(ring[good].astype(np.float64), n_bins, min_count)
    nb = len(edges) - 1
    which = np.clip(np.searchsorted(edges, ring, side="right") - 1, 0, nb - 1)
    del ring
    n_all = np.bincount(which, minlength=nb).astype(np.float64)
    n_clip = np.bincount(which[clipped], minlength=nb).astype(np.float64)
    # robust scale per bin from a subsample of at most ~400k unclipped samples
    idx = np.flatnonzero(good)
    step = max(1, idx.size // 400_000)
    sub = idx[::step]
    order = np.argsort(which[sub], kind="stable")
    wsub, asub = which[sub][order], np.abs(d[sub][order])
    bounds = np.searchsorted(wsub, np.arange(nb + 1))
    scale = np.zeros(nb)
    for k in range(nb):
        seg = asub[bounds[k] : bounds[k + 1]]
        if seg.size:
            scale[k] = _MAD_TO_STD * float(np.median(seg)) or 1.2533 * float(seg.mean())
    keep = good & (np.abs(d) <= _STACK_REJECT * np.maximum(scale[which], 1e-300))
    dk, wk = d[keep].astype(np.float64), which[keep]
    n = np.bincount(wk, minlength=nb).astype(np.float64)
    s1 = np.bincount(wk, weights=dk, minlength=nb)
    s2 = np.bincount(wk, weights=dk * dk, minlength=nb)
    s4 = np.bincount(wk, weights=dk**4, minlength=nb)
    sm = np.bincount(wk, weights=m[keep].astype(np.float64), minlength=nb)
    has = n >= max(min_count // 2, 16)
    n_safe = np.maximum(n, 1)
    var_d = (s2 - s1 * s1 / n_safe) / np.maximum(n_safe - 1, 1)
    x = sm / n_safe
    v = 0.5 * var_d
    usable = has & (v > 0) & (n_clip <= 1e-3 * np.maximum(n_all, 1))
    if usable.sum() < 2:
        raise W2SInputError(
            "fewer than 2 usable intensity bins in the frame differences; the stack is too "
            "flat, too saturated or moves too much for a noise estimate"
        )
    # excess kurtosis of the differences (EMCCD at low light is far from normal)
    m4 = s4[usable].sum() / n[usable].sum()
    m2 = s2[usable].sum() / n[usable].sum()
    kurt = max(float(m4 / max(m2 * m2, 1e-300)) - 3.0, 0.0) if usable.sum() else 0.0
    a, b, cov, fit_used, first_fit = _fit_line_robust(x[usable], v[usable], n[usable], kurt)
    used = np.zeros(nb, bool)
    used[np.flatnonzero(usable)[fit_used]] = True
    se_a, se_b = (
        (math.sqrt(max(cov[0, 0], 0.0)), math.sqrt(max(cov[1, 1], 0.0)))
        if np.isfinite(cov).all()
        else (math.inf, math.inf)
    )
    xr = x[usable]
    span = max(float(xr.max() - xr.min()), 1e-12)
    covered = span / max(float(np.percentile(m, 99) - np.percentile(m, 1)), 1e-12)
    if covered < 0.25:
        notes.append(f"the used bins cover only {100 * covered:.0f}% of the intensity range")
    if rejected:
        notes.append(
            f"{len(rejected)} of {len(starts)} frame pairs left out: their differences have "
            "structure (motion, focus drift or changes in the sample)"
        )
    drift = -float(np.median(drifts)) if drifts else 0.0  # d = f_t - f_t+1: a loss is > 0
    if abs(drift) > 0.002:
        notes.append(
            f"brightness changes by {100 * drift:+.2f}% per frame (bleaching); "
            "corrected pair by pair"
        )
    curve_x = np.linspace(xr.min() - 0.05 * span, xr.max() + 0.05 * span, 200)
    cm, cs = clipped_normal_moments(curve_x, np.sqrt(np.maximum(a * curve_x + b, 0.0)), lo, hi)
    keep_bins = has & (v > 0)
    return NoiseEstimate(
        a=float(a),
        b=float(b),
        method="frames",
        means=x[keep_bins],
        stds=np.sqrt(v[keep_bins]),
        counts=n[keep_bins].astype(np.int64),
        used=used[keep_bins],
        clip=(lo, hi),
        initial=(float(first_fit[0]), float(first_fit[1])),
        curve_mean=cm,
        curve_std=cs,
        notes=tuple(notes),
        a_ci=(float(a - 1.96 * se_a), float(a + 1.96 * se_a)),
        b_ci=(float(b - 1.96 * se_b), float(b + 1.96 * se_b)),
        extra={
            "n_frames": n_frames,
            "pairs_used": len(starts) - len(rejected),
            "pairs_rejected": len(rejected),
            "pairs_tried": len(starts),
            "drift_per_frame": drift,
            "max_neighbour_correlation": float(max(corr)[0]) if corr else 0.0,
            "excess_kurtosis": kurt,
        },
    )
