"""EPLL denoising (Zoran and Weiss, "From learning models of natural image patches to whole image
restoration", ICCV 2011) with a Gaussian-mixture prior over 8 x 8 zero-mean patches.

Half-quadratic splitting for a Gaussian noise of standard deviation ``sigma``: with
``lambda = 64 / sigma^2`` and ``beta`` running through ``sigma^-2 * [1, 4, 8, 16, 32]``,

1. every overlapping 8 x 8 patch ``P_i x`` of the current estimate is split into its mean and a
   zero-mean part ``p``; the mixture component with the highest posterior under noise of
   variance ``1 / beta`` is chosen (``log pi_k + log N(p; 0, Sigma_k + I / beta)``) and ``p`` is
   replaced by its Wiener estimate ``Sigma_k (Sigma_k + I / beta)^-1 p`` (the mean is kept);
2. the image is the minimiser of ``lambda / 2 |x - y|^2 + beta / 2 sum_i |P_i x - z_i|^2``, a
   per-pixel average: ``x = (lambda y + beta sum_i P_i^T z_i) / (lambda + beta * count)``.

The prior (``gmm_prior.npz`` next to this file, float32 ``weights`` and ``covs``) is fitted by
``scripts/fit_epll_prior.py`` on simulated clean images in the stabilised domain scaled to
[0, 1]; :func:`iter_epll` expects images on that scale.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import W2SInputError

PRIOR_PATH = Path(__file__).with_name("gmm_prior.npz")
BETA_FACTORS = (1.0, 4.0, 8.0, 16.0, 32.0)
_CHUNK = 2048  # patches per block (bounds memory: CHUNK x K x 64 float32 projections)


@dataclass(frozen=True)
class GMMPrior:
    """A zero-mean Gaussian mixture over ``patch x patch`` patches, kept as eigendecompositions."""

    weights: np.ndarray  # K
    eigvals: np.ndarray  # K x D
    eigvecs: np.ndarray  # K x D x D (columns)
    patch: int

    @property
    def eigvecs32(self) -> np.ndarray:
        return self._cache("eigvecs32", lambda: self.eigvecs.astype(np.float32))

    def _cache(self, key, make):
        store = self.__dict__.setdefault("_arrays", {})
        if key not in store:
            store[key] = make()
        return store[key]


def load_prior(path: str | Path | None = None) -> GMMPrior:
    """Load a prior ``.npz`` (``weights``, ``covs``, ``patch_size``) without unpickling."""
    return _load(str(path or PRIOR_PATH))


@lru_cache(maxsize=4)
def _load(path: str) -> GMMPrior:
    try:
        with np.load(path, allow_pickle=False) as f:
            weights = np.asarray(f["weights"], np.float64)
            covs = np.asarray(f["covs"], np.float64)
            patch = int(f["patch_size"])
    except (OSError, KeyError, ValueError) as exc:
        raise W2SInputError(f"cannot read the EPLL prior {path}: {exc}") from exc
    if covs.shape != (len(weights), patch * patch, patch * patch):
        raise W2SInputError(f"the EPLL prior {path} has inconsistent shapes {covs.shape}")
    lam, vec = np.linalg.eigh(covs)
    return GMMPrior(weights / weights.sum(), np.maximum(lam, 0.0), vec, patch)


def _patches(x: np.ndarray, p: int) -> np.ndarray:
    from numpy.lib.stride_tricks import sliding_window_view

    return sliding_window_view(x, (p, p)).reshape(-1, p * p)


def _scaled_basis(prior: GMMPrior, noise_var: float) -> tuple[np.ndarray, np.ndarray]:
    """D x (K * D) float32 eigenvectors divided by ``sqrt(lambda + noise_var)``, and the
    per-component constant ``log pi_k - 1/2 log det(Sigma_k + noise_var I)``."""
    var = prior.eigvals + noise_var  # K x D
    k, d = var.shape
    basis = prior.eigvecs / np.sqrt(var)[:, None, :]  # K x D x D, column j scaled
    basis = np.ascontiguousarray(basis.transpose(1, 0, 2).reshape(d, k * d), np.float32)
    const = np.log(np.maximum(prior.weights, 1e-300)) - 0.5 * np.log(var).sum(axis=1)
    return basis, const


def _denoise_patches(q: np.ndarray, prior: GMMPrior, noise_var: float, scaled=None) -> np.ndarray:
    """MAP-component Wiener estimate of zero-mean patches ``q`` (N x D) under noise ``noise_var``.

    The whitened projections on every component's eigenvectors come from one float32 matrix
    product (``scaled``: the output of :func:`_scaled_basis`, computed once per noise level).
    """
    n, d = q.shape
    k = len(prior.weights)
    basis, const = scaled if scaled is not None else _scaled_basis(prior, noise_var)
    proj = (q.astype(np.float32) @ basis).reshape(n, k, d)  # whitened coordinates
    maha = np.einsum("nkd,nkd->nk", proj, proj)
    choice = np.argmax(const[None, :] - 0.5 * maha, axis=1)
    var = prior.eigvals + noise_var
    # Wiener: lambda / (lambda + nv) times the plain coordinate = lambda / sqrt(var) * whitened
    gain = (prior.eigvals / np.sqrt(var)).astype(np.float32)
    coef = proj[np.arange(n), choice] * gain[choice]  # N x D
    out = np.empty((n, d), dtype=np.float64)
    order = np.argsort(choice, kind="stable")
    bounds = np.searchsorted(choice[order], np.arange(k + 1))
    vecs = prior.eigvecs32
    for c in range(k):
        lo, hi = bounds[c], bounds[c + 1]
        if hi > lo:
            idx = order[lo:hi]
            out[idx] = coef[idx] @ vecs[c].T
    return out


def iter_epll(
    y: np.ndarray, sigma: float, prior: GMMPrior | None = None, betas=BETA_FACTORS
) -> Generator[tuple[int, int], None, np.ndarray]:
    """EPLL of ``y`` (Gaussian noise of standard deviation ``sigma``); yields once per beta."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2:
        raise W2SInputError(f"EPLL takes one 2-D image, got shape {y.shape}")
    sigma = float(sigma)
    if not (np.isfinite(sigma) and sigma > 0):
        raise W2SInputError(f"EPLL needs a positive noise level, got {sigma}")
    prior = prior or load_prior()
    p = prior.patch
    if min(y.shape) < p:
        raise W2SInputError(f"EPLL needs an image of at least {p} x {p} pixels")
    h, w = y.shape
    nh, nw = h - p + 1, w - p + 1
    count = np.zeros_like(y)
    for dy in range(p):
        for dx in range(p):
            count[dy : dy + nh, dx : dx + nw] += 1.0
    lam = p * p / sigma**2
    x = y.copy()
    for i, factor in enumerate(betas):
        beta = factor / sigma**2
        scaled = _scaled_basis(prior, 1.0 / beta)
        pat = _patches(x, p)
        z = np.empty((nh * nw, p * p))
        for start in range(0, len(pat), _CHUNK):
            blk = np.array(pat[start : start + _CHUNK])
            mean = blk.mean(axis=1, keepdims=True)
            den = _denoise_patches(blk - mean, prior, 1.0 / beta, scaled)
            z[start : start + _CHUNK] = den + mean
        z = z.reshape(nh, nw, p, p)
        acc = np.zeros_like(y)
        for dy in range(p):
            for dx in range(p):
                acc[dy : dy + nh, dx : dx + nw] += z[:, :, dy, dx]
        x = (lam * y + beta * acc) / (lam + beta * count)
        yield i + 1, len(betas)
    return x
