"""A small Nelder-Mead minimiser (the noise fit's two parameters), without scipy.optimize.

``scipy.optimize`` costs about 0.17 s to import, a tenth of ``w2s check``'s whole run; the
noise fit needs only a derivative-free minimum of a smooth function of two variables. The
method and its defaults follow Nelder & Mead (1965) with the usual coefficients (reflection 1,
expansion 2, contraction 1/2, shrink 1/2), the starting simplex of 5 % steps (0.00025 for a
zero coordinate), and stops when both the simplex's size and the spread of its values are
below ``xatol`` and ``fatol``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def nelder_mead(
    f: Callable[[np.ndarray], float],
    x0,
    xatol: float = 1e-4,
    fatol: float = 1e-4,
    maxiter: int = 400,
) -> np.ndarray:
    """The point of the smallest ``f`` found, starting from ``x0``."""
    x0 = np.asarray(x0, dtype=np.float64)
    n = x0.size
    simplex = [x0.copy()]
    for k in range(n):
        p = x0.copy()
        p[k] = p[k] * 1.05 if p[k] != 0 else 0.00025
        simplex.append(p)
    pts = np.array(simplex)
    vals = np.array([f(p) for p in pts])
    for _ in range(maxiter):
        order = np.argsort(vals, kind="stable")
        pts, vals = pts[order], vals[order]
        if (
            np.max(np.abs(pts[1:] - pts[0])) <= xatol
            and np.max(np.abs(vals[1:] - vals[0])) <= fatol
        ):
            break
        centre = pts[:-1].mean(axis=0)
        worst = pts[-1]
        xr = centre + (centre - worst)
        fr = f(xr)
        if fr < vals[0]:
            xe = centre + 2.0 * (centre - worst)
            fe = f(xe)
            pts[-1], vals[-1] = (xe, fe) if fe < fr else (xr, fr)
            continue
        if fr < vals[-2]:
            pts[-1], vals[-1] = xr, fr
            continue
        if fr < vals[-1]:  # outside contraction
            xc = centre + 0.5 * (xr - centre)
            fc = f(xc)
            if fc <= fr:
                pts[-1], vals[-1] = xc, fc
                continue
        else:  # inside contraction
            xc = centre + 0.5 * (worst - centre)
            fc = f(xc)
            if fc < vals[-1]:
                pts[-1], vals[-1] = xc, fc
                continue
        pts[1:] = pts[0] + 0.5 * (pts[1:] - pts[0])  # shrink towards the best point
        vals[1:] = [f(p) for p in pts[1:]]
    return pts[int(np.argmin(vals))]
