"""Filters of large images on every core, with the results of their scipy counterparts.

A separable filter (Gaussian, box) is a 1-D filter along axis 0, then along axis 1, each line
on its own: the lines are split into blocks filtered in threads (scipy.ndimage releases the
GIL), which gives exactly what one call gives. FFTs take pocketfft's ``workers``. A machine
shared with other jobs gains too: each thread gets its share of the cores.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from itertools import pairwise

import numpy as np

WORKERS = max(1, min(os.cpu_count() or 1, 8))
MIN_THREADED = 1 << 17  # pixels: smaller images are filtered in one call


def _blocks(n: int, parts: int) -> list[slice]:
    edges = np.linspace(0, n, parts + 1).round().astype(int)
    return [slice(a, b) for a, b in pairwise(edges) if b > a]


def _along_axes(image: np.ndarray, line: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
    """``line(., axis)`` along axis 0 then axis 1, the other axis split across threads."""
    a = np.asarray(image, dtype=np.float64)
    if a.size < MIN_THREADED or WORKERS == 1:
        return line(line(a, 0), 1)
    from concurrent.futures import ThreadPoolExecutor

    out = np.empty_like(a)
    with ThreadPoolExecutor(WORKERS) as pool:
        cols = _blocks(a.shape[1], WORKERS)
        for sl, done in zip(cols, pool.map(lambda s: line(a[:, s], 0), cols), strict=True):
            out[:, sl] = done
        rows = _blocks(a.shape[0], WORKERS)
        firsts = out
        out = np.empty_like(a)
        for sl, done in zip(rows, pool.map(lambda s: line(firsts[s], 1), rows), strict=True):
            out[sl] = done
    return out


def gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(image, sigma, mode="reflect")`` of a 2-D image."""
    from scipy.ndimage import gaussian_filter1d

    return _along_axes(image, lambda a, ax: gaussian_filter1d(a, sigma, axis=ax, mode="reflect"))


def box(image: np.ndarray, size: int) -> np.ndarray:
    """``scipy.ndimage.uniform_filter(image, size, mode="reflect")`` of a 2-D image."""
    from scipy.ndimage import uniform_filter1d

    return _along_axes(image, lambda a, ax: uniform_filter1d(a, size, axis=ax, mode="reflect"))


class Convolver:
    """Same-size convolutions of one image with kernels of one shape, reflected borders (FFT):
    the image's transform is computed once (the kernel fit convolves one crop many times)."""

    def __init__(self, image: np.ndarray, kernel_shape: tuple[int, int]) -> None:
        from scipy import fft

        kh, kw = kernel_shape
        py, px = kh // 2, kw // 2
        padded = np.pad(image, ((py, kh - 1 - py), (px, kw - 1 - px)), mode="reflect")
        self.kernel_shape, self.out_shape = (kh, kw), image.shape
        full = (padded.shape[0] + kh - 1, padded.shape[1] + kw - 1)
        self.fshape = tuple(fft.next_fast_len(n, True) for n in full)
        self.spectrum = fft.rfft2(padded, self.fshape, workers=WORKERS)

    def __call__(self, kernel: np.ndarray) -> np.ndarray:
        from scipy import fft

        if kernel.shape != self.kernel_shape:
            raise ValueError(f"kernel {kernel.shape}, not {self.kernel_shape}")
        k = fft.rfft2(kernel[::-1, ::-1], self.fshape)
        # the 'valid' part of the full convolution of the padded image with the flipped kernel
        full = fft.irfft2(self.spectrum * k, self.fshape, workers=WORKERS)
        kh, kw = self.kernel_shape
        h, w = self.out_shape
        return full[kh - 1 : kh - 1 + h, kw - 1 : kw - 1 + w]
