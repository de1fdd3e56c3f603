"""A noise estimate in a microscopist's words: gain, dark level or read noise, photons, SNR.

:class:`~napari_w2s.analysis.noise.NoiseEstimate` gives the law ``variance = a * mean + b`` in
the image's units (ADU). Read as a camera model, ``variance = a * (mean - offset) + read²``:

- ``a`` is the gain, in ADU per detected photon (the slope of variance against mean; for an
  EMCCD it includes the excess-noise factor, so it is an *effective* gain);
- a negative ``b`` is mostly the camera's offset: the dark level ``-b / a`` at which the
  Poisson part of the variance vanishes (the read noise is then too small to separate);
- a positive ``b`` is a read noise ``sqrt(b)`` (ADU), with no measurable offset.

From these, the photons per pixel at the image's median signal, ``(median - offset) / a``,
and the per-pixel SNR there, ``(median - offset) / sqrt(a * median + b)``, follow; the image's
SNR (signal range over noise, :func:`~napari_w2s.analysis.snr.estimate_snr`) is the number the
Restore widget's *auto* noise level is chosen from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class NoiseSummary:
    """The camera reading of a noise estimate, and the restore settings it suggests."""

    gain: float  # ADU per detected photon (a)
    offset: float | None  # dark level -b/a (ADU) when b < 0
    read_noise: float | None  # sqrt(b) (ADU) when b >= 0
    median: float  # the image's median value (ADU)
    photons: float  # detected photons per pixel at the median (nan where the gain is not > 0)
    pixel_snr: float  # signal over noise of one pixel at the median
    snr: float  # signal range (p99.8 - p1) over the noise standard deviation
    frames: int | None  # frames averaged, where known (a noise level made from a stack)
    level: str | None  # the W2S noise level of this image (None: unknown)
    model_level: str | None = None  # the level of the per-level model that runs (None: blind)

    def lines(self) -> list[str]:
        """Plain sentences, one per line (HTML-free)."""
        out = [f"gain ≈ {self.gain:.3g} ADU per detected photon"]
        if self.offset is not None:
            out.append(
                f"camera offset (dark level) ≈ {self.offset:.4g} ADU; read noise "
                "too small to separate"
            )
        elif self.read_noise is not None:
            out.append(f"read noise ≈ {self.read_noise:.3g} ADU (no offset measurable)")
        if math.isfinite(self.photons):
            out.append(
                f"about {self.photons:.3g} photons per pixel at the median signal "
                f"({self.median:.4g} ADU): one pixel's SNR ≈ {self.pixel_snr:.2g}"
            )
        what = (
            "one raw frame"
            if self.frames == 1
            else f"an average of {self.frames} frames"
            if self.frames
            else "this image"
        )
        out.append(f"{what}: SNR ≈ {self.snr:.3g} (signal range / noise standard deviation)")
        return out

    def restore_hint(self) -> str:
        """Which model the Restore widget will use for this image."""
        if self.model_level:
            return (
                f"noise level {self.level}: the {self.model_level} model (trained on images "
                "this noisy) will restore it"
            )
        known = f"noise level {self.level}: " if self.level else ""
        return f"{known}the noise-blind model (for any noise) will restore it"


def summarise_noise(
    estimate: Any,
    image: Any,
    frames: int | None = None,
    level: str | None = None,
    method: str = "jdsr",
) -> NoiseSummary:
    """Read a :class:`~napari_w2s.analysis.noise.NoiseEstimate` of ``image`` as a camera.

    ``frames``: how many frames ``image`` averages, where known. ``level``: the W2S noise level
    already known (from the layer's name); else the one :func:`napari_w2s.restore.zoo.auto_level`
    picks for ``method`` from the image's SNR (``None``: the noise-blind model).
    """
    from .snr import estimate_snr

    x = np.asarray(image, dtype=np.float64)
    a, b = float(estimate.a), float(estimate.b)
    offset = -b / a if (b < 0 and a > 0) else None
    read = math.sqrt(b) if b >= 0 else None
    median = float(np.median(x))
    dark = offset or 0.0
    if a > 0:
        photons = max(median - dark, 0.0) / a
        var = max(a * median + b, 1e-12)
        pixel_snr = max(median - dark, 0.0) / math.sqrt(var)
    else:
        photons = pixel_snr = math.nan
    snr = estimate_snr(x)
    if level is None and frames is not None:
        from ..averaging import W2S_LEVELS

        level = f"avg{frames}" if frames in W2S_LEVELS else None
    if level is None:
        from ..restore.zoo import auto_level

        level = auto_level(method, x)
    from ..restore.zoo import shipped

    model = (
        level
        if level
        and any(c.get("name") == method and c.get("noise_level") == level for c in shipped())
        else None
    )
    return NoiseSummary(
        gain=a,
        offset=offset,
        read_noise=read,
        median=median,
        photons=photons,
        pixel_snr=pixel_snr,
        snr=snr,
        frames=frames,
        level=level,
        model_level=model,
    )
