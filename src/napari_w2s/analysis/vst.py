"""Generalised Anscombe transform (GAT) and its inverses (Makitalo & Foi 2013).

Model: ``z = a * p + offset + n`` with ``p ~ Poisson(lambda)`` and ``n ~ N(0, sigma2)``, so that
``E[z] = y = a * lambda + offset`` and ``var(z) = a * (y - offset) + sigma2``. The forward
transform

    f(z) = (2 / a) * sqrt(max(0, a * (z - offset) + 3/8 * a^2 + sigma2))

makes the noise approximately unit-variance Gaussian. ``sigma2`` is clamped at 0. With the
``(a, b)`` of :mod:`napari_w2s.analysis.noise` (variance ``a * z + b``, offset included) use
``NoiseEstimate.gat_params()``, which writes a negative ``b`` as an offset.

Inverses of a denoised value ``D`` (in the transformed domain):

* :func:`inverse_gat_algebraic`: ``f^-1(D)``. Biased at low counts, because ``E[f(z)]`` is not
  ``f(E[z])``.
* :func:`inverse_gat_exact`: the exact unbiased inverse, the ``y`` for which ``E[f(z) | y] = D``.
  ``E[f(z) | y]`` is tabulated over ``lambda`` for the given ``sigma / a`` by summing the
  Poisson probabilities times the Gaussian expectation of ``2 sqrt(max(0, k + 3/8 + s^2 + n))``
  (numerical quadrature), and inverted by monotone interpolation; above the table the
  closed-form asymptotic approximation (in units where ``a = 1``)
  ``I(D) = D^2/4 + sqrt(3/2)/4 D^-1 - 11/8 D^-2 + 5/8 sqrt(3/2) D^-3 - 1/8 - s^2`` is used,
  and values below ``E[f | lambda = 0]`` map to ``lambda = 0``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import W2SInputError

_TABLE_LAMBDA_MAX = 200.0


def _check(a: float, sigma2: float) -> tuple[float, float]:
    a = float(a)
    if not (math.isfinite(a) and a > 0):
        raise W2SInputError(f"the Poisson gain a must be a positive number, got {a}")
    sigma2 = float(sigma2)
    if not math.isfinite(sigma2):
        raise W2SInputError(f"the Gaussian variance must be finite, got {sigma2}")
    return a, max(sigma2, 0.0)


def gat(z: Any, a: float, sigma2: float = 0.0, offset: float = 0.0) -> np.ndarray:
    """Generalised Anscombe transform ``(2/a) sqrt(max(0, a (z - offset) + 3/8 a^2 + sigma2))``."""
    a, sigma2 = _check(a, sigma2)
    z = np.asarray(z, dtype=np.float64)
    return (2.0 / a) * np.sqrt(np.maximum(0.0, a * (z - offset) + 0.375 * a * a + sigma2))


def inverse_gat_algebraic(d: Any, a: float, sigma2: float = 0.0, offset: float = 0.0) -> np.ndarray:
    """Algebraic inverse ``a D^2 / 4 - 3/8 a - sigma2 / a + offset`` (biased at low counts)."""
    a, sigma2 = _check(a, sigma2)
    d = np.asarray(d, dtype=np.float64)
    return a * d * d / 4.0 - 0.375 * a - sigma2 / a + offset


def inverse_gat_asymptotic(
    d: Any, a: float, sigma2: float = 0.0, offset: float = 0.0
) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse (Makitalo & Foi 2011), >= offset."""
    a, sigma2 = _check(a, sigma2)
    d = np.maximum(np.asarray(d, dtype=np.float64), 1e-6)
    s2 = sigma2 / (a * a)
    c = math.sqrt(1.5)
    lam = d * d / 4 + c / 4 / d - 11 / 8 / d**2 + 5 / 8 * c / d**3 - 1 / 8 - s2
    return a * np.maximum(lam, 0.0) + offset


def expected_gat(lam: Any, s: float, k_max: int | None = None) -> np.ndarray:
    """``E[2 sqrt(max(0, p + n + 3/8 + s^2))]`` for ``p ~ Poisson(lam)``, ``n ~ N(0, s^2)``.

    The unit-gain form of ``E[f(z) | y]``: ``lam = (y - offset) / a``, ``s = sqrt(sigma2) / a``.
    """
    from scipy.special import gammaln

    lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
    if k_max is None:
        top = float(lam.max())
        k_max = int(top + 12 * math.sqrt(top + 1) + 30)
    k = np.arange(k_max + 1, dtype=np.float64)
    t = k + 0.375 + s * s
    if s > 0:  # Gaussian expectation on a fine grid (the sqrt has a kink at 0: no Hermite)
        x = np.linspace(-8.0, 8.0, 641)
        w = np.exp(-0.5 * x * x)
        w /= w.sum()
        h = 2.0 * np.sqrt(np.maximum(0.0, t[:, None] + s * x[None, :])) @ w
    else:
        h = 2.0 * np.sqrt(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        loglam = np.log(lam)
        logp = k[None, :] * loglam[:, None] - lam[:, None] - gammaln(k + 1)[None, :]
    logp[lam == 0, :] = np.where(k == 0, 0.0, -np.inf)
    return np.exp(logp) @ h


def inverse_gat_exact(
    d: Any,
    a: float,
    sigma2: float = 0.0,
    offset: float = 0.0,
    lambda_max: float = _TABLE_LAMBDA_MAX,
) -> np.ndarray:
    """Exact unbiased inverse of the GAT: the ``y`` with ``E[f(z) | y] = D``.

    Parameters
    ----------
    d : array_like
        Values in the transformed domain (typically a denoised transformed image).
    a, sigma2, offset : float
        The transform's parameters (see :func:`gat`).
    lambda_max : float
        Upper end of the table in photons (``(y - offset) / a``); above it the asymptotic
        closed form is used (its error there is far below 0.1 %).

    Returns
    -------
    ndarray
        ``y`` in the image's units, ``>= offset``.
    """
    a, sigma2 = _check(a, sigma2)
    d = np.asarray(d, dtype=np.float64)
    s = math.sqrt(sigma2) / a
    lam = np.concatenate([np.linspace(0.0, 2.0, 81)[:-1], np.geomspace(2.0, lambda_max, 320)])
    ef = expected_gat(lam, s)
    ef = np.maximum.accumulate(ef)  # monotone (numerically) for the interpolation
    out = np.interp(d, ef, lam, left=0.0)
    high = d > ef[-1]
    if np.any(high):
        out = np.where(high, inverse_gat_asymptotic(d, 1.0, s * s), out)
    return a * out + offset
