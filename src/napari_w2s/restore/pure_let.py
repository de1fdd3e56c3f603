"""PURE-LET denoising of mixed Poisson-Gaussian images in the unnormalised Haar domain.

Written from F. Luisier, T. Blu and M. Unser, "Image denoising in mixed Poisson-Gaussian noise",
IEEE TIP 20(3), 2011 (and the Haar-domain construction of Luisier, Vonesch, Blu and Unser,
"Fast interscale wavelet denoising of Poisson-corrupted images", Signal Processing 90, 2010).

Model, in photon units (``y = (z - offset) / a`` for an image ``z`` in ADU): ``y = p + g`` with
``p ~ Poisson(x)`` and ``g ~ N(0, s2)``.

Transform: the decimated, *unnormalised* 2-D Haar transform. A 2 x 2 block of children ``c1..c4``
gives the scaling coefficient ``s = c1 + c2 + c3 + c4`` (a sum of pixels, hence again Poisson +
Gaussian) and three details ``d = u - v``, where ``u`` and ``v`` are sums of two children each
(independent, Poisson + Gaussian with Gaussian variance ``tau2 = 2 * 4^(j-1) * s2`` at level
``j``). Dividing level-``j`` coefficients by ``2^j`` gives the orthonormal Haar transform, so the
image-domain squared error is the sum of the subbands' squared errors weighted by ``4^-j``
(plus that of the untouched coarse scaling coefficients) and each subband can be optimised on
its own.

Thresholding: in each subband ``theta(d, s) = sum_k w_k phi_k(d, s)`` (a linear expansion of
thresholds, LET) with ``phi_1 = d`` and ``phi_k = d exp(-d^2 / (c_k v(s)))``, where
``v(s) = |s| + 2 tau2`` is the local variance of ``d`` estimated from the co-located scaling
coefficient (``E[s] = E[u] + E[v]``).

PURE (Poisson unbiased risk estimate) per coefficient, exact for the mixed model: with
``u = (s + d) / 2``, ``v = (s - d) / 2`` and ``delta = E[d]``,

* ``E[x_u f(u, v)] = E[u f(u - 1, v)] - tau2 E[df/du (u - 1, v)]`` (Poisson identity
  ``E[x h(p)] = E[p h(p - 1)]`` plus Stein's lemma for the Gaussian part), so

  ``E[delta theta(d, s)] = E[u theta(d-1, s-1) - v theta(d+1, s-1)
  - tau2 (theta_d + theta_s)(d-1, s-1) + tau2 (theta_s - theta_d)(d+1, s-1)]``;

* ``E[delta^2] = E[d^2 - s - 2 tau2]``.

Hence ``E[(theta - delta)^2]`` has an unbiased estimate that is quadratic in the weights ``w``;
its minimiser solves a K x K linear system. The coarsest scaling coefficients are kept (their
error, estimated by ``s + 4^J s2``, does not depend on ``w``).

The decimated Haar transform is not shift-invariant; ``cycle_spins`` > 1 averages the estimates
of several circular shifts (each optimised by its own PURE), which removes block artefacts.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from ..errors import W2SInputError

# widths of the exponential thresholds, in local noise variances (exp(-d^2 / (c v)))
DEFAULT_WIDTHS = (2.0, 12.0)
# all 16 shifts of a 4 x 4 grid, ordered so that any prefix is spread out
_SHIFTS = (
    (0, 0),
    (2, 2),
    (1, 1),
    (3, 3),
    (0, 2),
    (2, 0),
    (1, 3),
    (3, 1),
    (0, 1),
    (1, 0),
    (2, 3),
    (3, 2),
    (0, 3),
    (3, 0),
    (1, 2),
    (2, 1),
)
DEFAULT_CYCLE_SPINS = 16


@dataclass
class PureResult:
    """A PURE-LET estimate in photon units with its risk estimate.

    ``pure`` is the per-pixel PURE estimate of the mean squared error of ``estimate`` (photon
    units) for a single shift; it is ``nan`` when several cycle spins were averaged.
    """

    estimate: np.ndarray
    pure: float
    weights: list


def _analysis(x: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    a = x[0::2, 0::2]
    b = x[0::2, 1::2]
    c = x[1::2, 0::2]
    d = x[1::2, 1::2]
    s = a + b + c + d
    # the three details as (u, v) pairs: d = u - v
    return s, ((a + b, c + d), (a + c, b + d), (a + d, b + c))


def _synthesis(s: np.ndarray, dh: np.ndarray, dv: np.ndarray, dd: np.ndarray) -> np.ndarray:
    out = np.empty((2 * s.shape[0], 2 * s.shape[1]), dtype=np.float64)
    out[0::2, 0::2] = (s + dh + dv + dd) / 4
    out[0::2, 1::2] = (s + dh - dv - dd) / 4
    out[1::2, 0::2] = (s - dh + dv - dd) / 4
    out[1::2, 1::2] = (s - dh - dv + dd) / 4
    return out


def _basis(d: np.ndarray, s: np.ndarray, tau2: float, widths, derivatives: bool):
    """phi_k(d, s) (K x n) and, if asked, their partial derivatives in d and in s."""
    v = np.abs(s) + 2.0 * tau2
    v = np.maximum(v, 1e-3)
    phis = [d]
    dd = [np.ones_like(d)]
    ds = [np.zeros_like(d)]
    for c in widths:
        q = d * d / (c * v)
        e = np.exp(-q)
        phis.append(d * e)
        if derivatives:
            dd.append(e * (1.0 - 2.0 * q))
            ds.append(d * e * q / v * np.sign(s))
    if not derivatives:
        return np.stack(phis), None, None
    return np.stack(phis), np.stack(dd), np.stack(ds)


def _subband(
    u: np.ndarray, v: np.ndarray, tau2: float, widths
) -> tuple[np.ndarray, float, np.ndarray]:
    """Denoised detail, the subband's summed PURE, and the LET weights."""
    u = u.ravel()
    v = v.ravel()
    d = u - v
    s = u + v
    phi, _, _ = _basis(d, s, tau2, widths, derivatives=False)
    need = tau2 > 0
    pm, pm_d, pm_s = _basis(d - 1.0, s - 1.0, tau2, widths, derivatives=need)
    pp, pp_d, pp_s = _basis(d + 1.0, s - 1.0, tau2, widths, derivatives=need)
    psi = u * pm - v * pp
    if need:
        psi = psi - tau2 * (pm_d + pm_s) + tau2 * (pp_s - pp_d)
    m = phi @ phi.T
    c = psi.sum(axis=1)
    ridge = 1e-9 * np.trace(m) / len(m) + 1e-12
    w = np.linalg.solve(m + ridge * np.eye(len(m)), c)
    const = float(np.sum(d * d - s - 2.0 * tau2))
    pure = float(w @ m @ w - 2.0 * w @ c + const)
    return (w @ phi), pure, w


def n_levels_for(shape: tuple[int, int], levels: int | None = None) -> int:
    """Decomposition depth: the given one, else 4, fewer for small images (coarse side >= 4)."""
    small = min(shape)
    top = max(1, int(np.floor(np.log2(small))) - 2)
    return min(4, top) if levels is None else max(1, min(int(levels), top))


def pure_let_single(
    y: np.ndarray, s2: float = 0.0, levels: int = 4, widths=DEFAULT_WIDTHS
) -> PureResult:
    """One PURE-LET pass on ``y`` (photon units, sides divisible by ``2^levels``)."""
    y = np.asarray(y, dtype=np.float64)
    h, w = y.shape
    if h % (1 << levels) or w % (1 << levels):
        raise W2SInputError(
            f"the image sides must be multiples of {1 << levels} for {levels} levels"
        )
    s = y
    details = []
    total = 0.0
    weights = []
    for j in range(1, levels + 1):
        s, pairs = _analysis(s)
        tau2 = 2.0 * 4.0 ** (j - 1) * s2
        band = []
        for u, v in pairs:
            den, pure, wts = _subband(u, v, tau2, widths)
            band.append(den.reshape(u.shape))
            total += pure / 4.0**j
            weights.append(wts)
        details.append(band)
    total += float(np.sum(s + 4.0**levels * s2)) / 4.0**levels
    for j in range(levels, 0, -1):
        s = _synthesis(s, *details[j - 1])
    return PureResult(estimate=s, pure=total / y.size, weights=weights)


def iter_pure_let(
    y: np.ndarray,
    s2: float = 0.0,
    levels: int | None = None,
    cycle_spins: int = DEFAULT_CYCLE_SPINS,
    widths=DEFAULT_WIDTHS,
) -> Generator[tuple[int, int], None, np.ndarray]:
    """PURE-LET of ``y`` (photon units, any size), averaged over ``cycle_spins`` circular shifts.

    Yields ``(done, total)`` once per shift.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2:
        raise W2SInputError(f"PURE-LET takes one 2-D image, got shape {y.shape}")
    if not 1 <= int(cycle_spins) <= len(_SHIFTS):
        raise W2SInputError(f"cycle_spins must be between 1 and {len(_SHIFTS)}, got {cycle_spins}")
    lev = n_levels_for(y.shape, levels)
    m = 1 << lev
    h, w = y.shape
    ph, pw = (-h) % m, (-w) % m
    yp = np.pad(y, ((0, ph), (0, pw)), mode="symmetric") if (ph or pw) else y
    acc = np.zeros_like(yp)
    n = int(cycle_spins)
    for i, (dy, dx) in enumerate(_SHIFTS[:n]):
        r = pure_let_single(np.roll(yp, (dy, dx), axis=(0, 1)), s2, lev, widths)
        acc += np.roll(r.estimate, (-dy, -dx), axis=(0, 1))
        yield i + 1, n
    return (acc / n)[:h, :w]


def to_photons(image: np.ndarray, a: float, b: float) -> tuple[np.ndarray, float, float]:
    """``(y, s2, offset)``: an ADU image with variance ``a z + b`` in Poisson units.

    ``a z + b = a (z - offset) + sigma2`` with ``sigma2 >= 0`` (a negative ``b`` becomes an
    offset, as in :meth:`NoiseEstimate.gat_params`); ``y = (z - offset) / a`` has variance
    ``E[y] + s2`` with ``s2 = sigma2 / a^2``.
    """
    a = float(a)
    b = float(b)
    if not (np.isfinite(a) and a > 0 and np.isfinite(b)):
        raise W2SInputError(f"noise parameters must be finite with a > 0, got a={a}, b={b}")
    if b >= 0:
        sigma2, offset = b, 0.0
    else:
        sigma2, offset = 0.0, -b / a
    return (np.asarray(image, np.float64) - offset) / a, sigma2 / (a * a), offset
