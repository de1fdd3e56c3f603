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

The result ``z`` is on the input grid; pixels within reach of the image border (the kernel's
half-width plus the window's, 11 LR pixels for the 36-pixel W2S kernel) are not judged (NaN): the
forward model would need the restoration beyond the image. ``outside_3sigma`` is the fraction of pixels with
``|z| > 3`` (0.27 % for pure noise). **Verdict**: ``inconsistent`` when ``outside_3sigma`` exceeds
1 % or a connected region of ``|z| > 3`` covers at least ``window^2`` pixels (a structure the
size of the smoothing window that the data contradict); otherwise ``consistent``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import W2SInputError

WINDOW = 5
MAX_OUTSIDE = 0.02
BACKGROUND_PX = 8.0
KERNEL_ERROR = 0.1


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
        return {
            "verdict": self.verdict,
            "outside_3sigma": self.outside_3sigma,
            "max_abs_z": self.max_abs_z,
            "largest_region_px": self.largest_region,
            "a": self.a,
            "b": self.b,
            "gain": self.gain,
            "offset": self.offset,
            "calibration": self.scale,
            "kernel_source": self.kernel_source,
            "rule": f"inconsistent if more than {100 * MAX_OUTSIDE:g} % of the pixels have "
            "|z| > 3 or one connected region of |z| > 3 covers the smoothing "
            "window's area",
            "notes": self.notes,
        }


def _convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Same-size convolution with reflected borders (FFT)."""
    from ._filters import Convolver

    return Convolver(image, kernel.shape)(kernel)


def _bin(image: np.ndarray, scale: int) -> np.ndarray:
    """The mean over ``scale x scale`` blocks (the overlay's geometry)."""
    h, w = image.shape[0] // scale, image.shape[1] // scale
    return image[: h * scale, : w * scale].reshape(h, scale, w, scale).mean((1, 3))


def forward(restored: np.ndarray, scale: int, kernel: np.ndarray | None) -> np.ndarray:
    """The restoration brought back to the input's grid: ``bin2(k * R)`` (or ``R`` at scale 1)."""
    r = np.asarray(restored, dtype=np.float64)
    if kernel is not None:
        r = _convolve(r, np.asarray(kernel, dtype=np.float64))
    return r if scale == 1 else _bin(r, scale)


def _path_taps() -> np.ndarray:
    """The 5 taps of ``bin2(upsample2(.))`` along one axis: the mean of the bicubic
    upsampling's two phases (:func:`napari_w2s.analysis.kernel.upsample2`)."""
    from .kernel import _cubic

    taps = np.arange(-2, 3)
    phases = [_cubic(shift - taps) for shift in (-0.25, 0.25)]
    return 0.5 * sum(w / w.sum() for w in phases)


def _same_path(image: np.ndarray, scale: int) -> np.ndarray:
    """The input through the path the kernel's convention implies: ``bin2(upsample2(I))``.

    The W2S kernel (Eq. 2) maps SIM to the *bicubic-upsampled* widefield image, so the forward
    image ``bin2(k * R)`` estimates ``bin2(upsample2(I))``, a slightly smoothed ``I``; the input
    takes the same path so that the two are compared like for like. Both steps are separable
    and linear, so the path is one 5-tap filter per axis (mirrored borders, as the upsampling's).
    """
    if scale == 1:
        return image
    from scipy.ndimage import correlate1d

    taps = _path_taps()
    out = correlate1d(np.asarray(image, dtype=np.float64), taps, axis=0, mode="reflect")
    return correlate1d(out, taps, axis=1, mode="reflect")


def _gain2(scale: int, window: int) -> float:
    """Sum of squares of the impulse response of ``box(path(.))``: the variance of the smoothed
    residual for unit white noise."""
    n = 8 * window + 16
    delta = np.zeros((n, n))
    delta[n // 2, n // 2] = 1.0
    return float(np.sum(_box(_same_path(delta, scale), window) ** 2))


def _box(z: np.ndarray, window: int) -> np.ndarray:
    from ._filters import box

    return box(z, window)


def check(
    restored: Any,
    image: Any,
    kernel: np.ndarray | None = None,
    noise: tuple[float, float] | None = None,
    window: int = WINDOW,
    kernel_source: str = "",
    fit_affine: bool = True,
    background: float = BACKGROUND_PX,
    kernel_error: float = KERNEL_ERROR,
    notes: tuple[str, ...] = (),
) -> Consistency:
    """Forward-consistency map and verdict of ``restored`` against its input ``image``
    (``notes``: notes of what was estimated before, kept in the result's)."""
    from scipy.ndimage import label

    from .._validate import checked_image

    x = checked_image(image, "the input image", ndim=2)
    r = checked_image(restored, "the restored image", ndim=2)
    if r.shape == x.shape:
        scale = 1
    elif r.shape == (2 * x.shape[0], 2 * x.shape[1]):
        scale = 2
    else:
        raise W2SInputError(
            f"the restored image {r.shape} is neither the input's size {x.shape} nor twice it"
        )
    if scale == 2 and kernel is None:
        raise W2SInputError(
            "a x2 restoration needs the widefield-from-SIM kernel (--kernel, "
            "the optics, or the model card's)"
        )
    if window < 1 or window % 2 == 0:
        raise W2SInputError(f"the smoothing window must be an odd number >= 1, not {window}")
    notes = list(notes)
    f = forward(r, scale, kernel if scale == 2 else None)
    xt = _same_path(x, scale)
    gain, offset = 1.0, 0.0
    if fit_affine and f.std() > 0:
        from .metrics import affine_fit

        gain, offset = affine_fit(f, xt)
        f = gain * f + offset
    if background and scale == 2:  # out-of-focus light: in the widefield image, not in SIM
        from ._filters import gaussian

        r = xt - f
        smooth = gaussian(r, background)
        # twicing: a smooth field is removed to fourth order in (sigma / its scale)
        f = f + smooth + gaussian(r - smooth, background)
    a, b = noise if noise is not None else _noise_of(x, notes)
    var = a * f + b
    floor = max(1e-12, 1e-6 * float(np.var(x)))
    if np.any(var < floor):
        notes.append("the noise model predicts no noise somewhere: floored")
    # the box sum of the residual, in units of its standard deviation under white noise of the
    # local variance (the transfer of the input's path and of the box, measured on an impulse)
    # the kernel's own error: proportional to the input's local detail (never to the
    # restoration's, which would excuse an invented structure)
    from ._filters import gaussian

    detail = _box(np.abs(xt - gaussian(xt, 1.5)), window)
    z = _box(xt - f, window) / np.sqrt(
        np.maximum(var, floor) * _gain2(scale, window) + (kernel_error * detail) ** 2
    )
    # the border: the forward model needs the restoration beyond the image (the kernel's half
    # width, plus the window's): pixels there are not judged (NaN in the map)
    m = (int(np.asarray(kernel).shape[0]) // 4 if scale == 2 else 0) + window // 2
    if 2 * m >= min(z.shape) - 2:
        raise W2SInputError(
            f"the image {x.shape} is too small to judge: {m} pixels at each "
            "border are within reach of the kernel"
        )
    inner = z[m : z.shape[0] - m, m : z.shape[1] - m]
    mad = float(np.median(np.abs(inner - np.median(inner))))
    cal = max(1.0, 1.4826 * mad)
    z = (z / cal).astype(np.float32)
    if m:
        z[:m], z[-m:], z[:, :m], z[:, -m:] = np.nan, np.nan, np.nan, np.nan
    judged = np.isfinite(z)
    out = np.abs(np.where(judged, z, 0.0)) > 3
    regions, n = label(out)
    largest = int(np.bincount(regions.ravel())[1:].max()) if n else 0
    outside = float(out.sum() / judged.sum())
    verdict = (
        "inconsistent" if outside > MAX_OUTSIDE or largest >= window * window else "consistent"
    )
    return Consistency(
        z,
        outside,
        float(np.nanmax(np.abs(z))),
        largest,
        verdict,
        float(a),
        float(b),
        float(gain),
        float(offset),
        cal,
        kernel_source,
        notes,
    )


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


def kernel_for(
    restored: np.ndarray,
    image: np.ndarray,
    path: str | None = None,
    optics: tuple[float, float, float] | None = None,
) -> tuple[np.ndarray, str]:
    """The widefield-from-SIM kernel of a check, and where it came from.

    ``path``: a ``.npy`` kernel (e.g. from ``w2s estimate-kernel``); ``optics``: ``(NA, emission
    wavelength in nm, input pixel size in µm)``, the kernel of the simulator's widefield and SIM
    models for those optics; neither: estimated from the pair itself (W2S Eq. 2 with the
    restoration as the HR image). A kernel is one global filter: fitted to the pair, it follows
    the restoration's overall sharpness but cannot absorb a local invention.
    """
    if path is not None:
        from ..io.stack import read_npy

        k = np.asarray(read_npy(path), dtype=np.float64) if str(path).endswith(".npy") else None
        if k is None or k.ndim != 2 or not np.isfinite(k).all() or not abs(k.sum()) > 0:
            raise W2SInputError(
                f"{path}: not a kernel (a finite 2-D .npy array with a non-zero sum)"
            )
        return k / k.sum(), f"file {path}"
    if optics is not None:
        from ..simulate import optics as opt
        from ..simulate.view import ViewParams

        na, wavelength, pixel_um = optics
        if not (0 < na < 1.7 and 200 < wavelength < 1200 and 0 < pixel_um < 10):
            raise W2SInputError(
                f"optics NA {na}, {wavelength} nm, {pixel_um} µm pixels: out of "
                "range (NA 0-1.7, 200-1200 nm, pixels in µm)"
            )
        p = ViewParams()
        k = opt.lr_from_hr_kernel(
            opt.cutoff(na, wavelength), p.damping, p.sim_kwargs(), pixel_um / 2
        )
        return k, f"optics: NA {na:g}, {wavelength:g} nm, {pixel_um:g} µm pixels"
    k, c = fit_kernel(restored, image)
    return k, f"fitted to the pair: the optics' kernel with a cutoff of {c:.3f} cycles per HR pixel"


@lru_cache(maxsize=64)
def _optics_kernel(cutoff_hr: float) -> np.ndarray:
    """The simulator's widefield-from-SIM kernel for a widefield cutoff in cycles per HR pixel
    (cached: the kernel fit tries the same grid of cutoffs on every image; read-only)."""
    from ..simulate import optics as opt
    from ..simulate.view import ViewParams

    p = ViewParams()
    k = opt.lr_from_hr_kernel(cutoff_hr, p.damping, p.sim_kwargs(), 1.0)
    k.setflags(write=False)
    return k


def fit_kernel(
    restored: np.ndarray, image: np.ndarray, crop: int = 192
) -> tuple[np.ndarray, float]:
    """The one-parameter optics kernel (its cutoff) that best maps the restoration to the input.

    One parameter cannot follow noise (a free 36 x 36 kernel estimated against a single noisy
    frame does, and then flags the true SIM image), nor a local invention. Fitted on a central
    crop of ``crop`` LR pixels: the residual's robust spread after the forward model's gain,
    offset and background, minimised over the cutoff (a grid, then golden-section refinement).
    """
    from ._filters import Convolver

    x = np.asarray(image, dtype=np.float64)
    r = np.asarray(restored, dtype=np.float64)
    h, w = x.shape
    cy, cx, c = h // 2, w // 2, min(crop, h, w) // 2
    xs = x[cy - c : cy + c, cx - c : cx + c]
    rs = r[2 * (cy - c) : 2 * (cy + c), 2 * (cx - c) : 2 * (cx + c)]
    xt = _same_path(xs, 2)
    grid = np.geomspace(0.06, 0.6, 13)
    convolve = Convolver(rs, _optics_kernel(float(grid[0])).shape)

    def cost(cutoff: float) -> float:
        from scipy.ndimage import gaussian_filter

        from .metrics import affine_fit

        f = _bin(convolve(_optics_kernel(float(cutoff))), 2)
        g, o = affine_fit(f, xt)
        res = xt - (g * f + o)
        res = res - gaussian_filter(res, BACKGROUND_PX, mode="reflect")
        m = 10
        inner = res[m:-m, m:-m]
        return float(np.median(np.abs(inner - np.median(inner))))

    costs = [cost(v) for v in grid]
    i = int(np.argmin(costs))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    phi = (np.sqrt(5) - 1) / 2
    a, b = lo + (1 - phi) * (hi - lo), lo + phi * (hi - lo)
    fa, fb = cost(a), cost(b)
    for _ in range(8):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = lo + (1 - phi) * (hi - lo)
            fa = cost(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + phi * (hi - lo)
            fb = cost(b)
    best = a if fa < fb else b
    return _optics_kernel(float(best)).copy(), float(best)


def check_restoration(
    restored: Any,
    image: Any,
    kernel_path: str | None = None,
    optics: tuple[float, float, float] | None = None,
    noise: tuple[float, float] | None = None,
    window: int = WINDOW,
) -> Consistency:
    """:func:`check` with the kernel chosen as ``w2s check`` does (given, optics, or fitted)."""
    r = np.asarray(restored, dtype=np.float64)
    x = np.asarray(image, dtype=np.float64)
    if r.shape == x.shape:
        return check(
            r, x, None, noise=noise, window=window, kernel_source="none (same-size result)"
        )
    if r.shape != (2 * x.shape[0], 2 * x.shape[1]):
        raise W2SInputError(
            f"the restored image {r.shape} is neither the input's size {x.shape} nor twice it"
        )
    if noise is not None or kernel_path is not None or optics is not None:
        k, source = kernel_for(r, x, kernel_path, optics)
        return check(r, x, k, noise=noise, window=window, kernel_source=source)
    # the noise estimate and the kernel fit are independent: the estimate runs in a second
    # thread meanwhile (FFTs, sorts and array arithmetic release the GIL)
    from concurrent.futures import ThreadPoolExecutor

    notes: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        estimate = pool.submit(_noise_of, x, notes)
        k, source = kernel_for(r, x)
        noise = estimate.result()
    return check(r, x, k, noise=noise, window=window, kernel_source=source, notes=tuple(notes))
