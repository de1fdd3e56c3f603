"""Fit the Gaussian-mixture patch prior of VST+EPLL on simulated clean images.

Zoran and Weiss (2011) learn a 200-component GMM of 8 x 8 zero-mean patches of natural images.
The W2S-type images are not natural images and the pretrained mixture is not redistributable
offline, so the project fits its own prior on the clean (expected) images of the simulator, in
the domain where EPLL works: the generalised Anscombe transform at several photon levels
(avg1, avg4, avg16 of the camera's noise), taken as the expectation ``E[f(z) | y]`` (what the
exact unbiased inverse maps back), each image scaled to [0, 1] by its own range times a random
contrast in [0.7, 1.3]; patches get a random flip / transpose and their mean removed.

The EM is written here in numpy (no scikit-learn): component means are fixed at zero (as in the
paper), covariances get ``reg * I`` added, log-likelihoods through eigendecompositions.

Usage::

    python scripts/fit_epll_prior.py [--components 64] [--patches 60000] [--iterations 20]
        [--out src/napari_w2s/restore/gmm_prior.npz]

The output ``.npz`` holds float32 ``weights`` (K), ``covs`` (K x 64 x 64) and ``patch_size``,
and loads with ``allow_pickle=False``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from napari_w2s.analysis.vst import expected_gat
from napari_w2s.restore.pure_let import to_photons
from napari_w2s.simulate.sample import sample

P = 8
LEVELS = (1, 4, 16)


def stabilised_clean(clean: np.ndarray, a: float, b: float) -> np.ndarray:
    """``E[f(z) | clean]`` for the GAT of a frame whose variance is ``a * mean + b``."""
    lam, s2, _ = to_photons(clean, a, b)
    lam = np.maximum(lam, 0.0)
    grid = np.concatenate([np.linspace(0.0, 2.0, 41)[:-1], np.geomspace(2.0, lam.max() + 1, 200)])
    table = expected_gat(grid, float(np.sqrt(s2)))
    return np.interp(lam, grid, table)


def collect(n_patches: int, seeds: list[int], size: int, rng: np.random.Generator) -> np.ndarray:
    images = []
    for seed in seeds:
        for channel in range(3):
            s = sample(size=size, frames=1, channel=channel, seed=seed)
            clean = s.view.expected_clean()
            npar = s.view.noise_params()
            for n in LEVELS:
                g = stabilised_clean(clean, npar["a_adu"] / n, npar["b_adu"] / n)
                g = (g - g.min()) / max(float(np.ptp(g)), 1e-12)
                images.append(g * rng.uniform(0.7, 1.3))
    per = int(np.ceil(n_patches / len(images)))
    out = []
    for g in images:
        ys = rng.integers(0, g.shape[0] - P + 1, per)
        xs = rng.integers(0, g.shape[1] - P + 1, per)
        idx = ys[:, None, None] + np.arange(P)[None, :, None], xs[:, None, None] + np.arange(P)
        patches = g[idx]  # per x P x P
        flip = rng.integers(0, 8, per)
        patches = np.where((flip & 1)[:, None, None] > 0, patches[:, ::-1, :], patches)
        patches = np.where((flip & 2)[:, None, None] > 0, patches[:, :, ::-1], patches)
        patches = np.where((flip & 4)[:, None, None] > 0, patches.transpose(0, 2, 1), patches)
        out.append(patches.reshape(per, P * P))
    x = np.concatenate(out)[:n_patches]
    return x - x.mean(axis=1, keepdims=True)


def log_gauss(x: np.ndarray, cov: np.ndarray) -> np.ndarray:
    lam, u = np.linalg.eigh(cov)
    lam = np.maximum(lam, 1e-12)
    proj = (x @ u) / np.sqrt(lam)
    return (
        -0.5 * (proj * proj).sum(axis=1)
        - 0.5 * np.log(lam).sum()
        - 0.5 * x.shape[1] * np.log(2 * np.pi)
    )


def fit_gmm(x: np.ndarray, k: int, iterations: int, reg: float, rng: np.random.Generator):
    n, d = x.shape
    # initialise: sort patches by contrast and split into k groups (components differ by scale),
    # with random membership noise so that groups also differ in structure
    energy = np.log((x * x).sum(axis=1) + reg) + rng.normal(0, 0.5, n)
    groups = np.array_split(np.argsort(energy), k)
    covs = np.stack([x[g].T @ x[g] / len(g) + reg * np.eye(d) for g in groups])
    weights = np.full(k, 1.0 / k)
    prev = -np.inf
    for it in range(iterations):
        t = time.time()
        ll = np.stack([log_gauss(x, covs[j]) for j in range(k)], axis=1) + np.log(weights)
        top = ll.max(axis=1, keepdims=True)
        tot = top[:, 0] + np.log(np.exp(ll - top).sum(axis=1))
        resp = np.exp(ll - tot[:, None])
        nk = resp.sum(axis=0) + 1e-10
        weights = nk / n
        for j in range(k):
            covs[j] = (x * resp[:, j : j + 1]).T @ x / nk[j] + reg * np.eye(d)
        # revive dead components with a copy of the heaviest one, perturbed
        dead = np.where(weights < 1e-4)[0]
        for j in dead:
            big = int(np.argmax(weights))
            covs[j] = covs[big] * rng.uniform(0.5, 2.0)
            weights[j] = weights[big] = weights[big] / 2
        mean_ll = float(tot.mean())
        print(
            f"iteration {it + 1}: mean log-likelihood {mean_ll:.3f} ({time.time() - t:.1f} s)",
            flush=True,
        )
        if abs(mean_ll - prev) < 1e-4 * abs(mean_ll):
            break
        prev = mean_ll
    order = np.argsort(-weights)
    return weights[order], covs[order]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--components", type=int, default=64)
    p.add_argument("--patches", type=int, default=60_000)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--reg", type=float, default=1e-5)
    p.add_argument("--seed", type=int, default=0)
    default_out = Path(__file__).resolve().parents[1] / "src/napari_w2s/restore/gmm_prior.npz"
    p.add_argument("--out", type=Path, default=default_out)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    t = time.time()
    # simulator seeds 1000.. are kept away from the sample's seed and from test seeds
    x = collect(args.patches, [1000 + i for i in range(args.seeds)], args.size, rng)
    print(f"{len(x)} patches in {time.time() - t:.1f} s", flush=True)
    weights, covs = fit_gmm(x, args.components, args.iterations, args.reg, rng)
    np.savez_compressed(
        args.out,
        weights=weights.astype(np.float32),
        covs=covs.astype(np.float32),
        patch_size=np.int32(P),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {time.time() - t:.0f} s")


if __name__ == "__main__":
    main()
