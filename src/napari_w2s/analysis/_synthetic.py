"""Synthetic images with known noise and blur, for the estimators' tests and benchmark.

Not a simulator of microscopy (that is :mod:`napari_w2s.simulate`): just structures whose
Poisson-Gaussian parameters and blur kernel are known exactly, drawn with numpy and scipy.
"""

from __future__ import annotations

import math

import numpy as np


def blobs(
    shape: tuple[int, int],
    rng: np.random.Generator,
    n: int = 40,
    sigma: tuple[float, float] = (4.0, 20.0),
) -> np.ndarray:
    """Sum of Gaussian blobs of random widths and heights, scaled to ``0 .. 1``."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    out = np.zeros(shape)
    for _ in range(n):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        s = rng.uniform(*sigma)
        out += rng.uniform(0.3, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return (out - out.min()) / (out.max() - out.min())


def filaments(
    shape: tuple[int, int],
    rng: np.random.Generator,
    n: int = 25,
    blur: float = 2.0,
    haze: float = 0.15,
) -> np.ndarray:
    """Curved lines (smooth random walks) blurred by a Gaussian, on a smooth haze; ``0 .. 1``."""
    from scipy import ndimage as ndi

    img = np.zeros(shape)
    for _ in range(n):
        y, x = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        angle, w = rng.uniform(0, 2 * math.pi), rng.uniform(0.3, 1.0)
        for _ in range(int(1.5 * max(shape))):
            angle += rng.normal(0, 0.08)
            y, x = y + math.sin(angle), x + math.cos(angle)
            if 0 <= y < shape[0] and 0 <= x < shape[1]:
                img[int(y), int(x)] += w
    img = ndi.gaussian_filter(img, blur)
    img /= img.max()
    img += haze * ndi.gaussian_filter(rng.random(shape), max(shape) / 8) / 0.5
    return (img - img.min()) / (img.max() - img.min())


def poisson_gaussian(
    expectation: np.ndarray,
    a: float,
    b: float,
    rng: np.random.Generator,
    offset: float = 0.0,
    clip: tuple[float | None, float | None] = (None, None),
) -> np.ndarray:
    """``offset + a * Poisson((y - offset) / a) + N(0, b + a * offset)``, then clipped.

    The variance is ``a * y + b`` exactly (before clipping): ``b`` is the total constant term
    with the offset included, so ``b + a * offset`` (the Gaussian variance) must be >= 0.
    """
    gauss = b + a * offset
    if gauss < 0:
        raise ValueError("b + a * offset (the Gaussian variance) must be >= 0")
    lam = np.maximum(expectation - offset, 0) / a
    z = offset + a * rng.poisson(lam) + rng.normal(0.0, math.sqrt(gauss), expectation.shape)
    lo, hi = clip
    if lo is not None or hi is not None:
        z = np.clip(z, lo, hi)
    return z


def gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """Isotropic Gaussian, ``size x size``, centred at ``size // 2``, sum 1."""
    r = np.arange(size) - size // 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma * sigma))
    return g / g.sum()


def long_tail_kernel(size: int, core: float, tail: float, weight: float) -> np.ndarray:
    """A Gaussian core plus a wider Gaussian tail (``weight`` of the energy), sum 1."""
    k = (1 - weight) * gaussian_kernel(size, core) + weight * gaussian_kernel(size, tail)
    return k / k.sum()


def blur_and_downsample(hr: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``LR = (HR * k)`` averaged over 2 x 2 blocks (camera integration), reflective borders."""
    from scipy import ndimage as ndi

    blurred = ndi.convolve(hr, kernel, mode="reflect")
    h, w = blurred.shape[0] // 2 * 2, blurred.shape[1] // 2 * 2
    return blurred[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
