"""Forward consistency: where is a restoration supported by its input, and where is it invented?

A restoration ``R`` of an input ``I`` (a widefield image) claims a sharper, cleaner image. Pushed
back through the imaging model it must give ``I`` again, up to the noise:

1. **forward image** ``F = bin2(k * R)`` for a x2 result (``k`` the widefield-from-SIM kernel of
   the W2S paper's Eq. 2, on the HR grid; ``bin2`` the mean over 2 x 2 blocks, the geometry of
   the layers' overlay), ``F = R`` for a same-size result. The kernel maps SIM to the bicubic-
   upsampled widefield image, so the input is compared after the same path,
   ``bin2(upsample2(I))``; then a global gain and offset are
   fitted (``F <- g F + o``): W2S matches SIM to the widefield through a plain 2 x 2 mean, which
   leaves the restoration's gain off by up to 1.5x, and a global affine map can neither create
   nor erase a local structure; for a x2 result, the residual's smooth part (a Gaussian of
   ``background`` = 8 LR pixels) is added to ``F`` too: out-of-focus haze is in the widefield
   image but not in SIM (on simulated views it is 94 % of the forward model's error), and a
   smooth field cannot hide a structure a few pixels wide (a line 3 pixels wide keeps 85 % of
   its contrast);
2. **residual in noise units**: ``(I - F) / sqrt(a F + b)``, the Poisson-Gaussian standard
   deviation predicted from the forward image (``a``, ``b`` given, or estimated from ``I``);
3. **smoothed** over a ``window x window`` box and multiplied by ``window``, so that independent
   noise gives a standard normal map while a structure a few pixels wide adds up;
4. **calibrated**: the map is divided by its robust scale (1.4826 x MAD) when that exceeds 1.
   Spatially correlated noise, low-count Poisson tails and the kernel's own error all widen the
   map uniformly; a local invention does not move the median, so it stays out in the tails.

The result ``z`` is on the input grid. ``outside_3sigma`` is the fraction of pixels with
``|z| > 3`` (0.27 % for pure noise). **Verdict**: ``inconsistent`` when ``outside_3sigma`` exceeds
1 % or a connected region of ``|z| > 3`` covers at least ``window^2`` pixels (a structure the
size of the smoothing window that the data contradict); otherwise ``consistent``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import W2SInputError

WINDOW = 5
MAX_OUTSIDE = 0.01
BACKGROUND_PX = 8.0
KERNEL_ERROR = 0.2


@dataclass
class Consistency:
    z: np.ndarray  # float32, the input grid
    outside_3sigma: float
    max_abs_z: float
    largest_region: int  # pixels of the largest connected region with |z| > 3
    verdict: str
    a: float
    b: float
    gain: float
    offset: float
    scale: float  # the robust calibration applied (1 when none)
    kernel_source: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "outside_3sigma": self.outside_3sigma,
                "max_abs_z": self.max_abs_z, "largest_region_px": self.largest_region,
                "a": self.a, "b": self.b, "gain": self.gain, "offset": self.offset,
                "calibration": self.scale, "kernel_source": self.kernel_source,
                "rule": f"inconsistent if more than {100 * MAX_OUTSIDE:g} % of the pixels have "
                        "|z| > 3 or one connected region of |z| > 3 covers the smoothing "
                        "window's area", "notes": self.notes}  # fmt: skip


def _convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Same-size convolution with reflected borders (FFT)."""
    from scipy.signal import fftconvolve

    kh, kw = kernel.shape
    py, px = kh // 2, kw // 2
    padded = np.pad(image, ((py, kh - 1 - py), (px, kw - 1 - px)), mode="reflect")
    return fftconvolve(padded, kernel[::-1, ::-1], mode="valid")


def forward(restored: np.ndarray, scale: int, kernel: np.ndarray | None) -> np.ndarray:
    """The restoration brought back to the input's grid: ``bin2(k * R)`` (or ``R`` at scale 1)."""
    r = np.asarray(restored, dtype=np.float64)
    if kernel is not None:
        r = _convolve(r, np.asarray(kernel, dtype=np.float64))
    if scale == 1:
        return r
    h, w = r.shape[0] // scale, r.shape[1] // scale
    return r[: h * scale, : w * scale].reshape(h, scale, w, scale).mean((1, 3))


def _same_path(image: np.ndarray, scale: int) -> np.ndarray:
    """The input through the path the kernel's convention implies: ``bin2(upsample2(I))``.

    The W2S kernel (Eq. 2) maps SIM to the *bicubic-upsampled* widefield image, so the forward
    image ``bin2(k * R)`` estimates ``bin2(upsample2(I))``, a slightly smoothed ``I``; the input
    takes the same path so that the two are compared like for like.
    """
    if scale == 1:
        return image
    from .kernel import upsample2

    return forward(upsample2(image), 2, None)


def _gain2(scale: int, window: int) -> float:
    """Sum of squares of the impulse response of ``box(path(.))``: the variance of the smoothed
    residual for unit white noise."""
    n = 8 * window + 16
    delta = np.zeros((n, n))
    delta[n // 2, n // 2] = 1.0
    return float(np.sum(_box(_same_path(delta, scale), window) ** 2))


def _box(z: np.ndarray, window: int) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    return uniform_filter(z, size=window, mode="reflect")


def check(restored: Any, image: Any, kernel: np.ndarray | None = None,
          noise: tuple[float, float] | None = None, window: int = WINDOW,
          kernel_source: str = "", fit_affine: bool = True,
          background: float = BACKGROUND_PX, kernel_error: float = KERNEL_ERROR
          ) -> Consistency:  # fmt: skip
    """Forward-consistency map and verdict of ``restored`` against its input ``image``."""
    from scipy.ndimage import label

    from .._validate import checked_image

    x = checked_image(image, "the input image", ndim=2)
    r = checked_image(restored, "the restored image", ndim=2)
    if r.shape == x.shape:
        scale = 1
    elif r.shape == (2 * x.shape[0], 2 * x.shape[1]):
        scale = 2
    else:
        raise W2SInputError(f"the restored image {r.shape} is neither the input's size "
                            f"{x.shape} nor twice it")  # fmt: skip
    if scale == 2 and kernel is None:
        raise W2SInputError("a x2 restoration needs the widefield-from-SIM kernel (--kernel, "
                            "the optics, or the model card's)")  # fmt: skip
    if window < 1 or window % 2 == 0:
        raise W2SInputError(f"the smoothing window must be an odd number >= 1, not {window}")
    notes: list[str] = []
    f = forward(r, scale, kernel if scale == 2 else None)
    xt = _same_path(x, scale)
    gain, offset = 1.0, 0.0
    if fit_affine and f.std() > 0:
        from .metrics import affine_fit

        gain, offset = affine_fit(f, xt)
        f = gain * f + offset
    if background and scale == 2:  # out-of-focus light: in the widefield image, not in SIM
        from scipy.ndimage import gaussian_filter

        r = xt - f
        smooth = gaussian_filter(r, background, mode="reflect")
        # twicing: a smooth field is removed to fourth order in (sigma / its scale)
        f = f + smooth + gaussian_filter(r - smooth, background, mode="reflect")
    a, b = noise if noise is not None else _noise_of(x, notes)
    var = a * f + b
    floor = max(1e-12, 1e-6 * float(np.var(x)))
    if np.any(var < floor):
        notes.append("the noise model predicts no noise somewhere: floored")
    # the box sum of the residual, in units of its standard deviation under white noise of the
    # local variance (the transfer of the input's path and of the box, measured on an impulse)
    # the kernel's own error: proportional to the input's local detail (never to the
    # restoration's, which would excuse an invented structure)
    from scipy.ndimage import gaussian_filter

    detail = _box(np.abs(xt - gaussian_filter(xt, 1.5, mode="reflect")), window)
    z = _box(xt - f, window) / np.sqrt(np.maximum(var, floor) * _gain2(scale, window)
                                       + (kernel_error * detail) ** 2)  # fmt: skip
    mad = float(np.median(np.abs(z - np.median(z))))
    cal = max(1.0, 1.4826 * mad)
    z = (z / cal).astype(np.float32)
    out = np.abs(z) > 3
    regions, n = label(out)
    largest = int(np.bincount(regions.ravel())[1:].max()) if n else 0
    outside = float(out.mean())
    verdict = "inconsistent" if outside > MAX_OUTSIDE or largest >= window * window else "consistent"
    return Consistency(z, outside, float(np.abs(z).max()), largest, verdict, float(a), float(b),
                       float(gain), float(offset), cal, kernel_source, notes)  # fmt: skip


def _noise_of(image: np.ndarray, notes: list[str]) -> tuple[float, float]:
    """``(a, b)`` from the image (Foi et al.), else a constant variance from its finest detail."""
    from .noise import estimate_noise

    try:
        est = estimate_noise(image)
        return float(est.a), float(est.b)
    except W2SInputError as err:
        from .snr import noise_sigma

        s = noise_sigma(image)
        notes.append(f"noise: {err}; a constant noise level ({s:.4g}) was used instead")
        return 0.0, s * s
