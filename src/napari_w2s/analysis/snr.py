"""Signal-to-noise ratio of one image, in camera-independent terms.

``snr = (p99.8 - p1) / sigma``: the image's signal range (the same percentiles as the per-image
normalisation) over its noise standard deviation, estimated robustly from the finest Haar
diagonal detail (``1.4826 x MAD``, Donoho's estimator; smooth signal barely enters the diagonal
detail). Both scale with the camera's gain and neither depends on its offset, so the ratio is the
same for ``g * x + o`` as for ``x``: the per-level models are chosen from it
(``--noise-level auto``), never from a count of ADU that holds for one camera only.

It always answers (unlike a Poisson-Gaussian fit, which needs smooth regions); it is a ranking
statistic, not a calibrated noise model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Above this many pixels the statistics are taken on a regular subsample (every s-th pixel for
# the percentiles, every s-th 2 x 2 block for the noise): the same answer to well under 1 % for
# an image this large, without float64 copies of the whole image (a 4096 x 4096 plane made the
# restore's peak memory 1.35 x instead of 1.18 x, docs/benchmarks.md).
MAX_PIXELS = 2048 * 2048


def _stride(shape: tuple[int, ...]) -> int:
    return max(1, int(np.ceil(np.sqrt(shape[0] * shape[1] / MAX_PIXELS))))


def noise_sigma(image: Any) -> float:
    """Robust standard deviation of the noise of a 2-D image (Haar diagonal detail, MAD)."""
    x = np.asarray(image)
    h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    s = _stride(x.shape)
    # every s-th 2 x 2 block: four views, converted to float64 only where sampled
    a, b, c, e = (
        np.asarray(x[i:h:2, j:w:2][::s, ::s], dtype=np.float64) for i in (0, 1) for j in (0, 1)
    )
    d = (a - b - c + e) / 2.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))))


def estimate_snr(image: Any, low: float = 1.0, high: float = 99.8) -> float:
    """Signal range over noise standard deviation; ``inf`` for a noiseless image, 0 for a flat one."""
    x = np.asarray(image)
    s = _stride(x.shape)
    lo, hi = np.percentile(np.asarray(x[::s, ::s], dtype=np.float64), [low, high])
    sigma = noise_sigma(x)
    if hi - lo <= 0:
        return 0.0
    return float((hi - lo) / sigma) if sigma > 0 else float("inf")
