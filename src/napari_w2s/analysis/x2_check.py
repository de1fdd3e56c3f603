"""Does a x2 restoration agree with its own input? Three figures that need no reference.

* ``mean_shift_std``: ``|mean(bin2(R)) - mean(I)| / std(I)``, the intensity bias of the result
  ``R`` against its input ``I`` (``bin2`` = mean over 2 x 2 blocks, the project's x2
  downsampling); a faithful restoration keeps the input's scale: expect <= 0.05;
* ``corr``: correlation of ``bin2(R)`` with ``I``: expect >= 0.95 on real data;
* ``grid_phase_std``: the largest offset of one of the four 2 x 2 sub-grids' means from the mean
  of ``R``, in units of ``std(R)``: a pixel-shuffle grid shows here (bicubic ~0.0004); expect
  <= 0.01.

These are the "no invented structure, no grid" checks of ``docs/models.md``; the generalisation
benchmark reports them on the real nuclei image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import W2SInputError


def x2_consistency(image: Any, restored: Any) -> dict[str, float]:
    x = np.asarray(image, dtype=np.float64)
    y = np.asarray(restored, dtype=np.float64)
    if x.ndim != 2 or y.shape != (2 * x.shape[0], 2 * x.shape[1]):
        raise W2SInputError(f"the restored image {y.shape} must be twice the input {x.shape}")
    down = y.reshape(x.shape[0], 2, x.shape[1], 2).mean((1, 3))
    phases = [y[i::2, j::2].mean() for i in (0, 1) for j in (0, 1)]
    sx, sy = float(x.std()), float(y.std())
    return {
        "mean_shift_std": float(abs(down.mean() - x.mean()) / sx) if sx else 0.0,
        "corr": float(np.corrcoef(down.ravel(), x.ravel())[0, 1]) if sx and sy else 1.0,
        "grid_phase_std": float(max(abs(p - y.mean()) for p in phases) / sy) if sy else 0.0,
    }
