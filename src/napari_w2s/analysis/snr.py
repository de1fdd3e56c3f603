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


def noise_sigma(image: Any) -> float:
    """Robust standard deviation of the noise of a 2-D image (Haar diagonal detail, MAD)."""
    x = np.asarray(image, dtype=np.float64)
    h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    x = x[:h, :w]
    d = (x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) / 2.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))))


def estimate_snr(image: Any, low: float = 1.0, high: float = 99.8) -> float:
    """Signal range over noise standard deviation; ``inf`` for a noiseless image, 0 for a flat one."""
    x = np.asarray(image, dtype=np.float64)
    lo, hi = np.percentile(x, [low, high])
    sigma = noise_sigma(x)
    if hi - lo <= 0:
        return 0.0
    return float((hi - lo) / sigma) if sigma > 0 else float("inf")
