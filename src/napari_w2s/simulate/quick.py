"""A small, fast simulated sample: Gaussian optics, Poisson-Gaussian camera.

Used by the demo and tests where seconds matter; the physically detailed simulator lives beside
it in this package.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def quick_sample(size: int = 128, frames: int = 400, seed: int = 0) -> dict:
    """Widefield stack (T, size, size) uint16, clean LR, SIM reference (2 size) and truth.

    Optics: Gaussian PSF of 100 nm sigma (widefield) and 52 nm (SIM) on 32 nm HR pixels, LR
    pixels of 64 nm. Camera: peak about 60 photons, gain 1.5 ADU/photon, offset 100 ADU, read
    noise 2 ADU, no bleaching.
    """
    rng = np.random.default_rng(seed)
    hr = 2 * size
    truth = np.zeros((hr, hr))
    yy, xx = np.mgrid[0:hr, 0:hr]
    for _ in range(max(4, size // 8)):  # smooth curved filaments
        t = np.linspace(0, 1, 4 * hr)
        x0, y0 = rng.uniform(0, hr, 2)
        angle = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.02, t.size))
        xs = np.clip(x0 + np.cumsum(np.cos(angle)) * 0.5, 0, hr - 1).astype(int)
        ys = np.clip(y0 + np.cumsum(np.sin(angle)) * 0.5, 0, hr - 1).astype(int)
        truth[ys, xs] += rng.uniform(0.5, 1.0)
    for _ in range(max(8, size // 4)):  # vesicles
        cy, cx = rng.uniform(0, hr, 2)
        r = rng.uniform(1.5, 5.0)
        truth += rng.uniform(0.3, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    truth /= truth.max()
    wf_hr = ndimage.gaussian_filter(truth, 100 / 32) + 0.05
    sim = ndimage.gaussian_filter(truth, 52 / 32) + 0.05
    lr = wf_hr.reshape(size, 2, size, 2).mean(axis=(1, 3))
    photons = 60.0 * lr / lr.max()
    gain, offset, read = 1.5, 100.0, 2.0
    stack = np.empty((frames, size, size), np.uint16)
    for t in range(frames):
        counts = rng.poisson(photons)
        adu = gain * counts + offset + rng.normal(0, read, counts.shape)
        stack[t] = np.clip(np.rint(adu), 0, 65535)
    return {
        "stack": stack,
        "clean": (gain * photons + offset).astype(np.float32),
        "sim": sim.astype(np.float32),
        "truth": truth.astype(np.float32),
        "pixel_size_um": 0.064,
        "a": gain,
        "b": read**2,
    }
