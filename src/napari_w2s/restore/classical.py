"""Classical methods as restoration steps: bicubic upsampling and the Poisson-Gaussian denoisers
of the W2S paper's Table 1 (PURE-LET, VST+NLM, VST+BM3D, VST+EPLL).

Noise model: variance ``a * mean + b`` in the image's units, offset included (the convention of
:mod:`napari_w2s.analysis.noise`). ``ClassicalStep(name, noise=(a, b))`` uses the given
parameters; without them they are estimated from each plane itself
(:func:`napari_w2s.analysis.noise.estimate_noise`), which needs planes of about 64 x 64 pixels
or more. A constant plane (a blank frame) is returned unchanged, and counted in the step's
``note``: it holds no noise to remove, so one blank frame does not fail a whole stack. The
law is written ``a (z - offset) + sigma2`` with ``sigma2 >= 0`` (a negative ``b`` becomes an
offset, as in ``NoiseEstimate.gat_params``).

* ``pure-let``: PURE-LET in the unnormalised Haar domain (:mod:`.pure_let`), 16 cycle spins.
* ``vst-nlm``: generalised Anscombe transform, scikit-image fast non-local means with
  ``sigma = 1``, exact unbiased inverse.
* ``vst-bm3d``: GAT, scaled to [0, 1], BM3D (optional ``bm3d`` package, closed binary,
  non-commercial licence) with ``sigma = 1 / (max - min)``, unscaled, exact unbiased inverse.
* ``vst-epll``: GAT scaled to [0, 1], EPLL with the project's GMM prior (:mod:`.epll`), exact
  unbiased inverse.
* ``bicubic``: x2 bicubic interpolation.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np

from ..errors import W2SInputError
from .methods import CLASSICAL

METHODS = CLASSICAL  # the catalogue owns the names (restore/methods.py)
DESCRIPTIONS = {
    "bicubic": "x2 bicubic interpolation (the baseline of every SR table)",
    "pure-let": "PURE-LET: Haar-domain thresholds fitted by the Poisson-Gaussian unbiased risk "
    "estimate (Luisier et al. 2011)",
    "vst-nlm": "non-local means inside the generalised Anscombe transform, exact unbiased inverse",
    "vst-bm3d": "BM3D inside the generalised Anscombe transform (needs the optional bm3d package, "
    "non-commercial licence)",
    "vst-epll": "EPLL with the project's 8 x 8 patch GMM prior inside the generalised Anscombe "
    "transform",
}
BM3D_MISSING = (
    "vst-bm3d needs the optional bm3d package (non-commercial licence): "
    "pip install 'napari-w2s[bm3d]'"
)

# the noise estimate of the denoisers needs smooth positions: about this many pixels a side
MIN_ESTIMATE_SIZE = 64
# VST+NLM: scikit-image non-local means in the stabilised domain (noise std 1)
NLM_PATCH_SIZE = 5
NLM_PATCH_DISTANCE = 6
NLM_H = 0.6  # filtering strength in noise standard deviations (fast mode)
# VST+EPLL: the image is scaled to [0, 1] by the range of this smoothed copy (the prior's scale)
EPLL_RANGE_SMOOTHING = 2.0


def bicubic_x2(image: np.ndarray) -> np.ndarray:
    """x2 bicubic upsampling with pixel-centre alignment (scikit-image, order 3)."""
    from skimage.transform import resize

    h, w = image.shape
    return resize(
        image, (2 * h, 2 * w), order=3, mode="reflect", anti_aliasing=False, preserve_range=True
    ).astype(np.float32)


def gat_params(a: float, b: float) -> tuple[float, float, float]:
    """``(a, sigma2, offset)`` of the GAT for the variance law ``a * mean + b``."""
    a, b = float(a), float(b)
    if not (math.isfinite(a) and a > 0 and math.isfinite(b)):
        raise W2SInputError(f"the noise parameters must be finite with a > 0, got a={a}, b={b}")
    return (a, b, 0.0) if b >= 0 else (a, 0.0, -b / a)


def bm3d_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("bm3d") is not None


class ClassicalStep:
    """A classical method as a step (see the module docstring).

    ``options`` tune a method: ``cycle_spins`` and ``levels`` (PURE-LET), ``h``,
    ``patch_size``, ``patch_distance`` (VST+NLM), ``prior`` (a path, VST+EPLL).
    """

    def __init__(self, name: str, noise: tuple[float, float] | None = None, **options: Any) -> None:
        if name not in METHODS:
            raise W2SInputError(
                f"unknown classical method {name!r}; choose one of {', '.join(METHODS)}"
            )
        if noise is not None:
            if len(tuple(noise)) != 2:
                raise W2SInputError(f"noise must be (a, b), got {noise!r}")
            gat_params(*noise)  # validates
            noise = (float(noise[0]), float(noise[1]))
        self.name = name
        self.noise = noise
        self.options = options
        if name == "vst-bm3d" and not bm3d_available():
            raise W2SInputError(BM3D_MISSING)
        self.scale = 2 if name == "bicubic" else 1
        self.used_noise: tuple[float, float] | None = None
        self.constant_planes = 0  # passed through unchanged since this step was built

    def describe(self) -> dict:
        d = {
            "method": self.name,
            "task": "sr" if self.scale == 2 else "denoise",
            "noise": self.noise,
        }
        if self.name != "bicubic":
            d["noise_used"] = self.used_noise
            d["noise_source"] = "given" if self.noise is not None else "estimated"
        return d

    @property
    def note(self) -> str:
        """What the user should know about the planes restored (see :meth:`iter_run`)."""
        if not self.constant_planes:
            return ""
        return (
            f"{self.constant_planes} constant plane(s) (e.g. blank frames) passed through "
            f"{self.name} unchanged: they hold no noise to remove"
        )

    def _noise(self, image: np.ndarray) -> tuple[float, float]:
        if self.noise is not None:
            return self.noise
        from ..analysis.noise import estimate_noise

        try:
            est = estimate_noise(image)
        except W2SInputError as err:
            h, w = image.shape
            raise W2SInputError(
                f"{self.name} estimates the noise of each plane and cannot on this {h} x {w} "
                f"plane ({err}); it needs about {MIN_ESTIMATE_SIZE} x {MIN_ESTIMATE_SIZE} "
                "pixels or more (bicubic and the networks do not)"
            ) from err
        if not (est.a > 0):
            raise W2SInputError(
                f"the noise estimated from the image has a = {est.a:.3g} <= 0; "
                "give the noise parameters (a, b) instead"
            )
        return float(est.a), float(est.b)

    def iter_run(self, image: np.ndarray) -> Generator[tuple[int, int], None, np.ndarray]:
        from .steps import _check_image

        image = _check_image(image)
        if self.name == "bicubic":
            out = bicubic_x2(image)
            yield 1, 1
            return out
        if image.max() == image.min():  # a blank frame: no noise, nothing to estimate
            self.constant_planes += 1
            yield 1, 1
            return image.copy()
        a, b = self._noise(image)
        self.used_noise = (a, b)
        run = {
            "pure-let": _iter_pure_let,
            "vst-nlm": _iter_vst_nlm,
            "vst-bm3d": _iter_vst_bm3d,
            "vst-epll": _iter_vst_epll,
        }[self.name]
        out = yield from run(image, a, b, **self.options)
        return np.asarray(out, dtype=np.float32)


def _iter_pure_let(image, a, b, cycle_spins=None, levels=None):
    from .pure_let import DEFAULT_CYCLE_SPINS, iter_pure_let, to_photons

    y, s2, offset = to_photons(image, a, b)
    est = yield from iter_pure_let(
        y, s2, levels=levels, cycle_spins=cycle_spins or DEFAULT_CYCLE_SPINS
    )
    return est * a + offset


def _iter_vst_nlm(
    image, a, b, h=NLM_H, patch_size=NLM_PATCH_SIZE, patch_distance=NLM_PATCH_DISTANCE
):
    from skimage.restoration import denoise_nl_means

    from ..analysis.vst import gat, inverse_gat_exact

    a, s2, off = gat_params(a, b)
    z = gat(image, a, s2, off)
    yield 1, 3
    d = denoise_nl_means(
        z,
        h=float(h),
        sigma=1.0,
        patch_size=int(patch_size),
        patch_distance=int(patch_distance),
        fast_mode=True,
    )
    yield 2, 3
    out = inverse_gat_exact(d, a, s2, off)
    yield 3, 3
    return out


def _iter_vst_bm3d(image, a, b):
    import bm3d

    from ..analysis.vst import gat, inverse_gat_exact

    a, s2, off = gat_params(a, b)
    z = gat(image, a, s2, off)
    lo, hi = float(z.min()), float(z.max())
    span = max(hi - lo, 1e-12)
    yield 1, 3
    d = np.asarray(bm3d.bm3d((z - lo) / span, sigma_psd=1.0 / span), np.float64) * span + lo
    yield 2, 3
    out = inverse_gat_exact(d, a, s2, off)
    yield 3, 3
    return out


def _iter_vst_epll(image, a, b, prior=None):
    from scipy.ndimage import gaussian_filter

    from ..analysis.vst import gat, inverse_gat_exact
    from .epll import BETA_FACTORS, iter_epll, load_prior

    pr = load_prior(prior)
    a, s2, off = gat_params(a, b)
    z = gat(image, a, s2, off)
    smooth = gaussian_filter(z, EPLL_RANGE_SMOOTHING, mode="reflect")
    lo, hi = float(smooth.min()), float(smooth.max())
    span = max(hi - lo, 1e-6)
    total = len(BETA_FACTORS) + 1
    inner = iter_epll((z - lo) / span, 1.0 / span, pr)
    try:
        while True:
            done, _ = next(inner)
            yield done, total
    except StopIteration as stop:
        d = stop.value * span + lo
    out = inverse_gat_exact(d, a, s2, off)
    yield total, total
    return out
