"""Level sets of a noise estimate: positions binned by their signal, and the noise's robust
standard deviation in each bin (the unit every single-image estimator fits ``a mean + b`` to:
:mod:`.noise`'s wavelet estimator, :mod:`.noise_spectral`'s band estimator)."""

from __future__ import annotations

import math

import numpy as np

from ..errors import W2SInputError

OUTLIER_SCALES = 4.0
# std of a standard normal truncated to +-4: rms of the kept coefficients is this times sigma
TRUNC_STD = math.sqrt(
    1.0 - 2 * 4.0 * math.exp(-8.0) / math.sqrt(2 * math.pi) / math.erf(4 / math.sqrt(2))
)
MAD_TO_STD = 1.482602218505602


def robust_std(d: np.ndarray) -> tuple[float, int]:
    """Outlier-rejected rms about 0 (4 robust scales, corrected for the truncation); returns (std, n kept)."""
    ad = np.abs(d)
    scale = MAD_TO_STD * float(np.median(ad))
    if scale == 0.0:  # more than half exactly zero: clipped; mean |d| of a normal is 0.798 s
        scale = 1.2533141373155 * float(ad.mean())
    if scale == 0.0:
        return 0.0, int(d.size)
    kept = d[ad <= OUTLIER_SCALES * scale]
    return float(np.sqrt(np.mean(kept * kept)) / TRUNC_STD), int(kept.size)


def level_edges(v: np.ndarray, n_levels: int, min_count: int) -> np.ndarray:
    """Equal-width intervals over the bulk of ``v``, merged until each holds ``min_count``."""
    lo, hi = np.quantile(v, [0.0005, 0.9995])
    if not hi > lo:
        lo, hi = float(v.min()), float(v.max())
    edges = np.linspace(lo, hi, n_levels + 1)
    edges[0], edges[-1] = v.min(), np.nextafter(v.max(), np.inf)
    counts = np.histogram(v, edges)[0]
    merged, acc = [edges[0]], 0
    for right, c in zip(edges[1:], counts, strict=True):
        acc += c
        if acc >= min_count:
            merged.append(right)
            acc = 0
    if acc and len(merged) > 1:  # leftovers join the last interval
        merged[-1] = edges[-1]
    return np.asarray(merged)


def level_sets(b, a_vals, d, n_levels, min_count):
    """Level sets by the binning variable ``b``: mean of ``a_vals``, robust std of ``d``."""
    if b.size < 3 * min_count:
        raise W2SInputError(
            f"only {b.size} smooth positions in the image; noise estimation needs at least "
            f"{3 * min_count} (the image is too small or too structured)"
        )
    edges = level_edges(b, n_levels, min_count)
    which = np.clip(np.searchsorted(edges, b, side="right") - 1, 0, len(edges) - 2)
    # one stable sort instead of a mask per level set: each set's values in the same order
    order = np.argsort(which, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(which, minlength=len(edges) - 1))])
    means, stds, counts = [], [], []
    for k in range(len(edges) - 1):
        sel = order[starts[k] : starts[k + 1]]
        if sel.size < min_count // 2:
            continue
        s, n = robust_std(d[sel])
        means.append(float(a_vals[sel].mean()))
        stds.append(s)
        counts.append(n)
    return np.asarray(means), np.asarray(stds), np.asarray(counts, dtype=np.float64)
