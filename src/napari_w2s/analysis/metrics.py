"""Image-quality metrics with explicit conventions, and the W2S evaluation mode.

Conventions (the same everywhere in the project, CLI and widgets):

* ``rmse`` is the root of the mean squared difference, in the images' units.
* ``psnr`` = ``10 log10(data_range**2 / mse)``; ``data_range`` is the reference's
  ``max - min`` unless given.
* ``ssim`` is scikit-image's: 7 x 7 uniform window, K1 = 0.01, K2 = 0.03, sample covariance,
  the same ``data_range``. Stacks are measured plane by plane (last two axes) and averaged.

The W2S mode (:func:`w2s_metrics`) puts everything in the units of the paper's tables: the
prediction is z-scored with the mean and standard deviation of the clean LR image (``avg400``),
and a SIM reference is mapped by ``a * SIM + b``, fitted by least squares so that its 2 x 2 mean
downsampling matches the z-scored clean LR (the W2S release does this per image). A reference of
the clean LR's own size (denoising) is z-scored like the prediction.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validate import checked_image
from ..errors import W2SInputError

SSIM_WINDOW = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _pair(pred: Any, ref: Any) -> tuple[np.ndarray, np.ndarray]:
    p, r = checked_image(pred, "the prediction"), checked_image(ref, "the reference")
    if p.shape != r.shape:
        raise W2SInputError(
            f"the prediction {p.shape} and the reference {r.shape} have different shapes"
        )
    if p.ndim < 2:
        raise W2SInputError(f"metrics need 2-D images, got shape {p.shape}")
    return p, r


def _range(ref: np.ndarray, data_range: float | None) -> float:
    if data_range is None:
        data_range = float(ref.max() - ref.min())
    if not data_range > 0:
        raise W2SInputError(
            "the reference is constant (max = min): PSNR and SSIM need a data range; give one"
        )
    return float(data_range)


def rmse(pred: Any, ref: Any) -> float:
    """Root-mean-square error between two images of the same shape."""
    p, r = _pair(pred, ref)
    return float(np.sqrt(np.mean((p - r) ** 2)))


def psnr(pred: Any, ref: Any, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for identical images)."""
    p, r = _pair(pred, ref)
    mse = float(np.mean((p - r) ** 2))
    dr = _range(r, data_range)
    return math.inf if mse == 0 else float(10.0 * np.log10(dr**2 / mse))


def ssim(pred: Any, ref: Any, data_range: float | None = None) -> float:
    """Structural similarity, scikit-image conventions (7 x 7 window, K1 0.01, K2 0.03)."""
    p, r = _pair(pred, ref)
    return _ssim(p, r, _range(r, data_range))


def _ssim(p: np.ndarray, r: np.ndarray, dr: float) -> float:
    from skimage.metrics import structural_similarity

    if min(p.shape[-2:]) < SSIM_WINDOW:
        raise W2SInputError(
            f"SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels, got {p.shape}"
        )
    planes = p.reshape(-1, *p.shape[-2:]), r.reshape(-1, *r.shape[-2:])
    values = [
        structural_similarity(
            rp,
            pp,
            win_size=SSIM_WINDOW,
            K1=SSIM_K1,
            K2=SSIM_K2,
            data_range=dr,
            gaussian_weights=False,
            use_sample_covariance=True,
        )
        for pp, rp in zip(*planes, strict=True)
    ]
    return float(np.mean(values))


def compare(pred: Any, ref: Any, data_range: float | None = None) -> dict[str, float]:
    """RMSE, PSNR and SSIM in one call: ``{"rmse", "psnr", "ssim", "data_range"}``."""
    p, r = _pair(pred, ref)
    dr = _range(r, data_range)
    mse = float(np.mean((p - r) ** 2))
    return {
        "rmse": math.sqrt(mse),
        "psnr": math.inf if mse == 0 else float(10.0 * np.log10(dr**2 / mse)),
        "ssim": _ssim(p, r, dr),
        "data_range": dr,
    }


def downsample_mean(image: np.ndarray, factor: int = 2) -> np.ndarray:
    """Mean over ``factor x factor`` blocks of the last two axes (sizes must divide)."""
    y, x = image.shape[-2:]
    if y % factor or x % factor:
        raise W2SInputError(f"image size {y} x {x} is not divisible by {factor}")
    shaped = image.reshape(*image.shape[:-2], y // factor, factor, x // factor, factor)
    return shaped.mean(axis=(-3, -1))


def affine_fit(source: Any, target: Any) -> tuple[float, float]:
    """Least-squares ``(a, b)`` such that ``a * source + b`` best matches ``target``."""
    s, t = _pair(source, target)
    s, t = s.ravel(), t.ravel()
    sc = s - s.mean()
    # sums of products, not BLAS (@, np.dot): BLAS's threads wait for cores on a busy machine,
    # 16-30 ms for 37 000 pixels with every core taken, against 0.03 ms
    var = float((sc * sc).sum())
    if var == 0:
        raise W2SInputError("cannot match a constant image affinely")
    a = float((sc * (t - t.mean())).sum()) / var
    return a, float(t.mean() - a * s.mean())


def match_affine(ref: Any, target: Any) -> np.ndarray:
    """``ref`` mapped affinely onto ``target``'s intensities (least squares, same shape)."""
    a, b = affine_fit(ref, target)
    return a * np.asarray(ref, dtype=np.float64) + b


def zscore_stats(clean_lr: Any) -> tuple[float, float]:
    """Mean and standard deviation of the clean LR image: the W2S normalisation."""
    c = checked_image(clean_lr, "the clean image")
    sd = float(c.std())
    if sd == 0:
        raise W2SInputError("the clean image is constant; it cannot define a z-score")
    return float(c.mean()), sd


def w2s_reference(ref: Any, clean_lr: Any) -> np.ndarray:
    """A reference in W2S units: z-scored clean LR, or a SIM image matched to it.

    A reference twice the clean LR's size (the SIM image) is mapped by ``a * ref + b`` fitted so
    that its 2 x 2 mean downsampling matches the z-scored clean LR; a reference of the clean
    LR's size is z-scored with the clean LR's statistics.
    """
    mu, sd = zscore_stats(clean_lr)
    c = (checked_image(clean_lr, "the clean image") - mu) / sd
    r = checked_image(ref, "the reference")
    if r.shape == c.shape:
        return (r - mu) / sd
    if r.shape[-2:] == (2 * c.shape[-2], 2 * c.shape[-1]):
        a, b = affine_fit(downsample_mean(r, 2), c)
        return a * r + b
    raise W2SInputError(
        f"the reference {r.shape} is neither the clean image's size {c.shape} nor twice it"
    )


def w2s_metrics(
    pred: Any, ref: Any, clean_lr: Any, data_range: float | None = None
) -> dict[str, float]:
    """RMSE / PSNR / SSIM in the W2S convention (see the module docstring).

    ``pred`` is in the LR image's units (ADU): a denoised LR image or an x2 SR/JDSR output.
    """
    mu, sd = zscore_stats(clean_lr)
    reference = w2s_reference(ref, clean_lr)
    return compare((checked_image(pred, "the prediction") - mu) / sd, reference, data_range)


# ---------------------------------------------------------------------------------- modes
#: How a prediction is compared with its reference (widgets and scripts):
#: ``auto`` = ``w2s`` where a clean LR image is given, else ``affine``;
#: ``w2s`` = :func:`w2s_metrics`; ``affine`` = the *reference* mapped by least squares onto the
#: prediction's units (the prediction itself is never re-normalised); ``plain`` = raw values.
MODES = ("auto", "w2s", "affine", "plain")
UNITS_FACTOR = 10.0  # ranges that differ by this factor or more are "different units"


def resolve_mode(mode: str, clean_lr: Any | None) -> str:
    """The mode that :func:`measure` uses for ``mode`` (``auto`` resolved)."""
    if mode not in MODES:
        raise W2SInputError(f"unknown metrics mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "auto":
        return "w2s" if clean_lr is not None else "affine"
    if mode == "w2s" and clean_lr is None:
        raise W2SInputError("W2S units need the clean LR image (e.g. avg400)")
    return mode


def measure(
    pred: Any,
    ref: Any,
    clean_lr: Any | None = None,
    mode: str = "auto",
    data_range: float | None = None,
) -> tuple[dict[str, float], str]:
    """RMSE / PSNR / SSIM of ``pred`` against ``ref`` in a :data:`MODES` mode.

    Returns the values and the mode actually used (``auto`` resolved to ``w2s`` or ``affine``).
    """
    used = resolve_mode(mode, clean_lr)
    if used == "w2s":
        return w2s_metrics(pred, ref, clean_lr, data_range), used
    if used == "affine":
        p = checked_image(pred, "the prediction")
        return compare(p, match_affine(ref, p), data_range), used
    return compare(pred, ref, data_range), used


def value_range(image: Any, low: float = 1.0, high: float = 99.0) -> tuple[float, float]:
    """The ``low`` and ``high`` percentiles of an image (a subsample of a large one)."""
    arr = np.asarray(image)
    step = max(1, int(np.ceil(np.sqrt(arr.size / 2**18))))
    sub = arr[..., ::step, ::step] if arr.ndim >= 2 else arr
    lo, hi = np.percentile(np.asarray(sub, dtype=np.float64), [low, high])
    return float(lo), float(hi)


def units_mismatch(pred: Any, ref: Any, factor: float = UNITS_FACTOR) -> dict | None:
    """``None`` where ``pred`` and ``ref`` look like the same units, else what differs.

    Different units: the 1-99 % ranges differ by ``factor`` or more, or the medians are more
    than ``factor`` ranges apart (e.g. camera ADU against a SIM image scaled to a few units).
    The dict has ``pred_range``, ``ref_range`` and ``ratio`` (range of pred / range of ref).
    """
    pr, rr = value_range(pred), value_range(ref)
    ps, rs = pr[1] - pr[0], rr[1] - rr[0]
    if ps <= 0 or rs <= 0:
        return None
    ratio = ps / rs
    pm = float(np.median(np.asarray(pred)))
    rm = float(np.median(np.asarray(ref)))
    apart = abs(pm - rm) > factor * max(ps, rs)
    if ratio >= factor or ratio <= 1.0 / factor or apart:
        return {"pred_range": pr, "ref_range": rr, "ratio": ratio}
    return None
