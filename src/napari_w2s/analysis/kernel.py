"""Blur-kernel estimation between a clean LR image and its HR reference (W2S paper, Eq. 2).

``k = argmin || LR_clean upsampled x2 - k * HR ||^2``, solved in the frequency domain:

    K = conj(F(X)) F(Y) / (|F(X)|^2 + lambda),   X = HR,  Y = LR upsampled x2

with unnormalised FFTs, then the inverse FFT, a circular shift that puts lag 0 in the middle,
a ``size x size`` crop in HR pixels (default 36) and normalisation to sum 1.

Choices (documented in docs/conventions.md):

* Upsampling: ``"bicubic"`` (default, as the paper says; Keys' cubic convolution with
  ``a = -0.5``, MATLAB's ``imresize`` kernel) or ``"bilinear"`` (what the authors' released
  code did). Pixel centres are aligned (the half-pixel convention): LR pixel ``j`` covers HR
  pixels ``2j`` and ``2j + 1``.
* Both images have their mean removed first: the intensity scale and offset between the two
  modalities then only change the kernel's sum, which is normalised away.
* ``lambda`` is relative to the data: ``lambda = reg * N * var(X)``, ``N`` the number of HR
  pixels. ``N * var(X)`` is the mean of ``|F(X)|^2`` over the non-zero frequencies (Parseval),
  so ``reg`` does not depend on the intensity scale or the image size. The authors used
  ``lambda = 2500`` on 8-bit data of 1024 x 1024 pixels; for an 8-bit SIM image with a
  standard deviation of ``s`` grey levels that is ``reg = 2500 / (1024^2 s^2)``, e.g.
  ``reg = 3.8e-6`` for ``s = 25``. :func:`reg_from_lambda` converts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import checked_image
from ..errors import W2SInputError

DEFAULT_SIZE = 36
DEFAULT_REG = 1e-4
UPSAMPLING = ("bicubic", "bilinear")


@dataclass(frozen=True, eq=False)
class KernelEstimate:
    """An estimated blur kernel and its widths.

    Attributes
    ----------
    kernel : ndarray
        ``size x size``, sum 1, lag 0 at index ``size // 2`` on both axes (HR pixels).
    fwhm_px : float
        Full width at half maximum (diameter of the disc with the area above half maximum,
        measured on a 4x-interpolated kernel), HR pixels.
    sigma_px : float
        Second-moment width ``sqrt(trace(cov) / 2)`` of the kernel's positive part about its
        centroid (the sigma of a Gaussian of the same spread).
    energy_r6, energy_r12 : float
        Fraction of the kernel's sum within 6 and 12 pixels of the centroid.
    centre : tuple of float
        The centroid ``(y, x)`` in the kernel's pixel coordinates.
    radial_r, radial_profile : ndarray
        Radially averaged profile about the centroid (1-pixel rings).
    upsample : str
        The upsampling used for the LR image.
    lam : float
        The absolute regularisation that was used (data units squared).
    """

    kernel: np.ndarray = field(repr=False)
    fwhm_px: float
    sigma_px: float
    energy_r6: float
    energy_r12: float
    centre: tuple[float, float]
    radial_r: np.ndarray = field(repr=False)
    radial_profile: np.ndarray = field(repr=False)
    upsample: str = "bicubic"
    lam: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The numbers as plain Python objects (the kernel itself excluded)."""
        return {
            "fwhm_px": self.fwhm_px,
            "sigma_px": self.sigma_px,
            "energy_r6": self.energy_r6,
            "energy_r12": self.energy_r12,
            "centre": list(self.centre),
            "size": int(self.kernel.shape[0]),
            "upsample": self.upsample,
            "lambda": self.lam,
            "radial_profile": self.radial_profile.tolist(),
        }


# ---------------------------------------------------------------------------------- upsampling
def _cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    return np.where(
        x <= 1,
        (a + 2) * x**3 - (a + 3) * x**2 + 1,
        np.where(x < 2, a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a, 0.0),
    )


def _linear(x: np.ndarray) -> np.ndarray:
    return np.maximum(1.0 - np.abs(x), 0.0)


def _up2_axis(img: np.ndarray, kernel, axis: int) -> np.ndarray:
    """x2 along one axis, half-pixel aligned: output ``2j`` at ``j - 1/4``, ``2j+1`` at ``j + 1/4``."""
    taps = np.arange(-2, 3)
    pad = [(0, 0)] * img.ndim
    pad[axis] = (2, 2)
    padded = np.pad(img, pad, mode="symmetric")
    n = img.shape[axis]
    out_shape = list(img.shape)
    out_shape[axis] = 2 * n
    out = np.empty(out_shape)
    for phase, shift in ((0, -0.25), (1, 0.25)):
        w = kernel(shift - taps)
        w = w / w.sum()
        acc = np.zeros(img.shape)
        for t, wt in zip(taps, w, strict=True):
            if wt != 0:
                acc += wt * np.take(padded, np.arange(n) + 2 + t, axis=axis)
        idx = [slice(None)] * img.ndim
        idx[axis] = slice(phase, None, 2)
        out[tuple(idx)] = acc
    return out


def upsample2(image: Any, method: str = "bicubic") -> np.ndarray:
    """Upsample a 2-D image x2 (``"bicubic"``: Keys ``a = -0.5``; ``"bilinear"``).

    Pixel centres are aligned (LR pixel ``j`` covers HR pixels ``2j, 2j + 1``); borders are
    mirrored, as MATLAB's ``imresize`` does.
    """
    if method not in UPSAMPLING:
        raise W2SInputError(f"upsampling must be one of {', '.join(UPSAMPLING)}, got {method!r}")
    kern = _cubic if method == "bicubic" else _linear
    img = np.asarray(image, dtype=np.float64)
    return _up2_axis(_up2_axis(img, kern, 0), kern, 1)


# ---------------------------------------------------------------------------------- estimation
def _as_image(image: Any, what: str) -> np.ndarray:
    arr = checked_image(image, what, ndim=2)
    if arr.max() == arr.min():
        raise W2SInputError(f"{what} is constant: it carries no information about the blur")
    return arr


def reg_from_lambda(lam: float, hr: Any) -> float:
    """The relative ``reg`` equivalent to an absolute ``lambda`` for this HR image."""
    x = np.asarray(hr, dtype=np.float64)
    return float(lam) / (x.size * float(x.var()))


def estimate_kernel(
    lr_clean: Any,
    hr: Any,
    *,
    size: int = DEFAULT_SIZE,
    upsample: str = "bicubic",
    reg: float = DEFAULT_REG,
    lam: float | None = None,
    band_limit: bool = True,
    taper: float = 0.25,
) -> KernelEstimate:
    """Blur kernel from a clean LR image and its x2 HR reference (W2S Eq. 2).

    Parameters
    ----------
    lr_clean : array_like, (H, W)
        The noise-free LR image (W2S ``avg400``).
    hr : array_like, (2H, 2W)
        The HR reference (SIM), any intensity scale.
    size : int
        Side of the returned kernel in HR pixels (default 36, as the paper).
    upsample : {"bicubic", "bilinear"}
        Upsampling of the LR image.
    reg : float
        Regularisation relative to the data: ``lambda = reg * N * var(HR)`` (see the module
        docstring for the equivalence with the authors' ``lambda = 2500`` on 8-bit data).
    lam : float, optional
        An absolute ``lambda`` in the HR image's units squared; overrides ``reg``.
    band_limit : bool
        Keep only the frequencies the LR image can carry (a cosine roll-off from 0.8 to 1 times
        the LR Nyquist frequency, per axis). Beyond it the upsampled LR image holds only
        interpolation images, unrelated to the HR image, which would add speckle to the kernel.
        ``False`` is the plain formula of the paper.
    taper : float
        Fraction of each axis faded to 0 by a Tukey window applied to both images (0: none,
        the paper). Without it the jump between opposite borders, which the FFT treats as
        neighbours, is fitted too and sharpens the kernel's centre.

    Returns
    -------
    KernelEstimate
        The kernel (sum 1, lag 0 at ``size // 2``) and its FWHM, second-moment width, energy
        within 6 and 12 pixels and radial profile.
    """
    y_lr = _as_image(lr_clean, "the clean LR image")
    x = _as_image(hr, "the HR image")
    if x.shape != (2 * y_lr.shape[0], 2 * y_lr.shape[1]):
        raise W2SInputError(
            f"the HR image {x.shape} must be exactly twice the LR image {y_lr.shape}"
        )
    size = int(size)
    if not 3 <= size <= min(x.shape):
        raise W2SInputError(
            f"the kernel size must be between 3 and the HR image size {min(x.shape)}, got {size}"
        )
    if lam is None:
        if not (reg > 0 and math.isfinite(reg)):
            raise W2SInputError(f"the regularisation must be a positive number, got {reg}")
        lam = float(reg) * x.size * float(x.var())
    y = upsample2(y_lr, upsample)
    x = x - x.mean()
    y = y - y.mean()
    if taper > 0:  # the FFT wraps the borders around: fade both images to 0 there
        win = np.outer(_tukey(x.shape[0], taper), _tukey(x.shape[1], taper))
        x, y = x * win, y * win
        x, y = x - x.mean(), y - y.mean()
    fx = np.fft.rfft2(x)
    fy = np.fft.rfft2(y)
    kf = np.conj(fx) * fy / (np.abs(fx) ** 2 + lam)
    if band_limit:
        kf *= np.outer(_lr_band(np.fft.fftfreq(x.shape[0])), _lr_band(np.fft.rfftfreq(x.shape[1])))
    k = np.fft.irfft2(kf, s=x.shape)
    k = np.fft.fftshift(k)
    cy, cx = x.shape[0] // 2, x.shape[1] // 2
    h = size // 2
    k = k[cy - h : cy - h + size, cx - h : cx - h + size]
    total = k.sum()
    if not abs(total) > 0:
        raise W2SInputError("the estimated kernel sums to zero: the images are unrelated")
    k = k / total
    stats = kernel_stats(k)
    return KernelEstimate(kernel=k, upsample=upsample, lam=float(lam), **stats)


def _tukey(n: int, alpha: float) -> np.ndarray:
    """Tukey window: cosine fades over ``alpha / 2`` of the length at each end."""
    t = (np.arange(n) + 0.5) / n
    edge = min(max(alpha, 1e-9), 1.0) / 2.0
    w = np.ones(n)
    left, right = t < edge, t > 1 - edge
    w[left] = 0.5 * (1 - np.cos(np.pi * t[left] / edge))
    w[right] = 0.5 * (1 - np.cos(np.pi * (1 - t[right]) / edge))
    return w


def _lr_band(f: np.ndarray) -> np.ndarray:
    """1 up to 0.8 x the LR Nyquist frequency (0.25 cycles / HR pixel), cosine roll-off to 0."""
    nyq = 0.25
    t = np.clip((np.abs(f) - 0.8 * nyq) / (0.2 * nyq), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * t))


# ---------------------------------------------------------------------------------- statistics
def radial_profile(
    kernel: Any, centre: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the kernel in 1-pixel rings about ``centre`` (default: the middle pixel)."""
    k = np.asarray(kernel, dtype=np.float64)
    if centre is None:
        centre = (k.shape[0] // 2, k.shape[1] // 2)
    yy, xx = np.indices(k.shape)
    r = np.hypot(yy - centre[0], xx - centre[1])
    ring = np.rint(r).astype(int)
    n_r = int(min(centre[0], centre[1], k.shape[0] - 1 - centre[0], k.shape[1] - 1 - centre[1]))
    n_r = max(n_r, 1) + 1
    sums = np.bincount(ring.ravel(), k.ravel(), minlength=n_r)[:n_r]
    counts = np.bincount(ring.ravel(), minlength=n_r)[:n_r]
    return np.arange(n_r, dtype=np.float64), sums / np.maximum(counts, 1)


def kernel_stats(kernel: Any) -> dict[str, Any]:
    """FWHM, second-moment width, energy within 6 and 12 px, centroid and radial profile."""
    from scipy import ndimage as ndi

    k = np.asarray(kernel, dtype=np.float64)
    k = k / k.sum()
    pos = np.maximum(k, 0.0)
    yy, xx = np.indices(k.shape)
    w = pos.sum()
    cy, cx = float((pos * yy).sum() / w), float((pos * xx).sum() / w)
    r2 = (yy - cy) ** 2 + (xx - cx) ** 2
    sigma = math.sqrt(float((pos * r2).sum() / w) / 2.0)
    r = np.sqrt(r2)
    e6, e12 = float(k[r <= 6].sum()), float(k[r <= 12].sum())
    fine = ndi.zoom(k, 4, order=3, mode="nearest", grid_mode=True)
    area = np.count_nonzero(fine >= fine.max() / 2.0) / 16.0
    fwhm = 2.0 * math.sqrt(area / math.pi)
    rr, prof = radial_profile(k, (cy, cx))
    return {
        "fwhm_px": fwhm,
        "sigma_px": sigma,
        "energy_r6": e6,
        "energy_r12": e12,
        "centre": (cy, cx),
        "radial_r": rr,
        "radial_profile": prof,
    }


# ---------------------------------------------------------------------------------- references
def gaussian_kernel(size: int = DEFAULT_SIZE, sigma: float = 2.0) -> np.ndarray:
    """Isotropic Gaussian of the given sigma (HR pixels), lag 0 at ``size // 2``, sum 1."""
    r = np.arange(size) - size // 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * sigma * sigma))
    return g / g.sum()


def bicubic_kernel(size: int = DEFAULT_SIZE, scale: int = 2) -> np.ndarray:
    """MATLAB's bicubic downscaling kernel for a factor ``scale`` (Keys ``a = -0.5`` stretched
    by the factor, separable), sampled at integer lags about ``size // 2``, sum 1."""
    r = (np.arange(size) - size // 2) / float(scale)
    c = _cubic(r)
    k = np.outer(c, c)
    return k / k.sum()
