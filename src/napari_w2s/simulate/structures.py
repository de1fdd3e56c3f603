"""Fluorophore densities on a fine grid: filaments, vesicles, ER-like networks, nuclei,
mitochondria and membranes.

Everything is drawn on a square grid of ``fine_px_um`` pixels (16 nm by default) and returns a
non-negative float array normalised to a maximum of 1 per structure type before mixing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.special import expit

# channel index -> (weights of filaments, vesicles, network, nuclei, mitochondria)
CHANNEL_MIXES: dict[int, dict[str, float]] = {
    0: {"filaments": 1.0, "vesicles": 0.35},  # microtubule-like
    1: {"network": 1.0, "vesicles": 0.5},  # ER / membrane-like
    2: {"nuclei": 0.5, "mitochondria": 1.0, "vesicles": 0.2},
}


@dataclass(frozen=True)
class StructureCounts:
    """How many of each structure a field of view gets (per 10 x 10 µm)."""

    filaments: float = 12.0
    vesicles: float = 40.0
    mitochondria: float = 14.0
    nuclei: float = 0.4


def _splat(img: np.ndarray, ys: np.ndarray, xs: np.ndarray, w: np.ndarray) -> None:
    """Add weights at sub-pixel positions with bilinear splatting (in place)."""
    h, wd = img.shape
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = ys - y0, xs - x0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = y0 + dy, x0 + dx
            ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < wd)
            np.add.at(img, (yy[ok], xx[ok]), (w * wy * wx)[ok])


def worm_like_paths(
    rng: np.random.Generator,
    n: int,
    shape: tuple[int, int],
    px_um: float,
    persistence_um: tuple[float, float] = (5.0, 20.0),
    length_um: tuple[float, float] = (3.0, 15.0),
    step_um: float = 0.008,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Curved paths (worm-like chains): tangent angle diffuses with variance step / Lp."""
    paths = []
    for _ in range(n):
        lp = rng.uniform(*persistence_um)
        length = rng.uniform(*length_um)
        steps = max(2, int(length / step_um))
        dtheta = rng.normal(0.0, np.sqrt(step_um / lp), steps)
        theta = rng.uniform(0, 2 * np.pi) + np.cumsum(dtheta)
        y0, x0 = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        step_px = step_um / px_um
        paths.append(
            (y0 + np.cumsum(np.sin(theta)) * step_px, x0 + np.cumsum(np.cos(theta)) * step_px)
        )
    return paths


def filaments(rng, shape, px_um, n, width_nm: float = 25.0) -> np.ndarray:
    img = np.zeros(shape)
    for ys, xs in worm_like_paths(rng, n, shape, px_um):
        _splat(img, ys, xs, np.full(ys.size, rng.uniform(0.5, 1.0)))
    img = ndimage.gaussian_filter(img, width_nm / 2.355 / (px_um * 1e3))
    return img / max(img.max(), 1e-12)


def mitochondria(rng, shape, px_um, n) -> np.ndarray:
    """Short, thick, tubular segments (0.3-0.5 µm wide, 1-4 µm long), hollow-ish outline."""
    img = np.zeros(shape)
    for ys, xs in worm_like_paths(rng, n, shape, px_um, (2.0, 5.0), (1.0, 4.0)):
        _splat(img, ys, xs, np.full(ys.size, rng.uniform(0.6, 1.0)))
    width = rng.uniform(0.15, 0.25) / px_um
    img = ndimage.gaussian_filter(img, width)
    return img / max(img.max(), 1e-12)


def vesicles(rng, shape, px_um, n) -> np.ndarray:
    """Round blobs 50-300 nm across, some hollow (membrane-labelled)."""
    img = np.zeros(shape)
    ys, xs = rng.uniform(0, shape[0], n), rng.uniform(0, shape[1], n)
    diam = rng.uniform(0.05, 0.3, n) / px_um
    bright = rng.uniform(0.3, 1.0, n)
    for y, x, d, b in zip(ys, xs, diam, bright, strict=True):
        r = int(np.ceil(d)) + 3
        y0, x0 = int(y), int(x)
        yy, xx = np.ogrid[-r : r + 1, -r : r + 1]
        dist = np.sqrt((yy + y0 - y) ** 2 + (xx + x0 - x) ** 2)
        blob = b * np.clip(d / 2 + 0.5 - dist, 0, 1)
        sl = (
            slice(max(0, y0 - r), min(shape[0], y0 + r + 1)),
            slice(max(0, x0 - r), min(shape[1], x0 + r + 1)),
        )
        by = slice(sl[0].start - (y0 - r), sl[0].stop - (y0 - r))
        bx = slice(sl[1].start - (x0 - r), sl[1].stop - (x0 - r))
        img[sl] += blob[by, bx]
    img = ndimage.gaussian_filter(img, 0.6)
    return img / max(img.max(), 1e-12)


def _smooth_noise(rng, shape, scale_px: float) -> np.ndarray:
    field = np.fft.rfft2(rng.standard_normal(shape))
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    field *= np.exp(-0.5 * (ky**2 + kx**2) * (2 * np.pi * scale_px) ** 2)
    out = np.fft.irfft2(field, s=shape)
    return out / out.std()


def network(rng, shape, px_um, tubule_nm: float = 60.0, mesh_um: float = 0.8) -> np.ndarray:
    """ER-like tubular network: curved polygons with three-way junctions, plus a few sheets.

    The edges of a Voronoi tessellation of random seeds (about one per ``mesh_um``^2), bent by
    a smooth displacement field, drawn ``tubule_nm`` wide.
    """
    n_seeds = max(3, int(shape[0] * shape[1] * px_um**2 / mesh_um**2))
    seeds = np.ones(shape, bool)
    seeds[rng.integers(0, shape[0], n_seeds), rng.integers(0, shape[1], n_seeds)] = False
    _, (iy, ix) = ndimage.distance_transform_edt(seeds, return_indices=True)
    label = iy * shape[1] + ix  # the nearest seed of every pixel
    amp = 0.25 * mesh_um / px_um
    dy = _smooth_noise(rng, shape, mesh_um / px_um) * amp
    dx = _smooth_noise(rng, shape, mesh_um / px_um) * amp
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    label = ndimage.map_coordinates(label, [yy + dy, xx + dx], order=0, mode="nearest")
    edges = np.zeros(shape)
    edges[:-1] += label[:-1] != label[1:]
    edges[:, :-1] += label[:, :-1] != label[:, 1:]
    keep = rng.random(n_seeds + 1) < 0.85  # some cells merge: open, irregular meshes
    edges *= keep[np.minimum(label % (n_seeds + 1), n_seeds)]
    lines = ndimage.gaussian_filter(np.clip(edges, 0, 1), tubule_nm / 2.355 / (px_um * 1e3))
    lines /= max(lines.max(), 1e-12)
    sheets = np.clip(_smooth_noise(rng, shape, 1.5 / px_um) - 1.4, 0, None)
    img = lines + 0.4 * sheets / max(sheets.max(), 1e-12)
    return img / max(img.max(), 1e-12)


def nuclei(rng, shape, px_um, n) -> np.ndarray:
    """Large smooth regions (5-10 µm) with internal texture."""
    img = np.zeros(shape)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    for _ in range(n):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        ry, rx = rng.uniform(2.5, 5.0, 2) / px_um
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        img += expit((1.0 - inside) * 12.0)
    if img.max() > 0:
        img *= 0.6 + 0.4 * np.clip(_smooth_noise(rng, shape, 0.3 / px_um) * 0.5 + 0.5, 0, 1)
    return img / max(img.max(), 1e-12)


def membranes(rng, shape, px_um, n, width_nm: float = 40.0) -> np.ndarray:
    """Cell outlines: closed, wobbly contours 4-12 µm across (plasma-membrane labelling), some
    cut by the image border."""
    img = np.zeros(shape)
    for _ in range(n):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        r0 = rng.uniform(2.0, 6.0) / px_um
        t = np.linspace(0, 2 * np.pi, max(64, int(2 * np.pi * r0 * 2)), endpoint=False)
        harmonics = sum(
            rng.normal(0, 0.12 / k) * np.cos(k * t + rng.uniform(0, 2 * np.pi)) for k in range(2, 6)
        )
        r = r0 * (1 + harmonics)
        _splat(img, cy + r * np.sin(t), cx + r * np.cos(t), np.full(t.size, rng.uniform(0.5, 1.0)))
    img = ndimage.gaussian_filter(img, width_nm / 2.355 / (px_um * 1e3))
    return img / max(img.max(), 1e-12)


KINDS = ("filaments", "vesicles", "network", "nuclei", "mitochondria", "membranes")


def density(
    rng: np.random.Generator,
    shape: tuple[int, int],
    px_um: float,
    channel: int,
    counts: StructureCounts = StructureCounts(),
    mix: dict[str, float] | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """The fluorophore density of one channel (max 1) and how many of each structure it has.

    ``mix`` (structure kind -> weight, kinds from :data:`KINDS`) replaces the channel's mix.
    """
    area = shape[0] * shape[1] * px_um**2 / 100.0  # in units of 10 x 10 µm
    mix = mix or CHANNEL_MIXES[channel % len(CHANNEL_MIXES)]
    img = np.zeros(shape)
    used: dict[str, int] = {}
    for kind, weight in mix.items():
        if kind == "network":
            part, used[kind] = network(rng, shape, px_um), 1
        else:
            mean = getattr(counts, kind, 0.6) * area  # membranes: about 0.6 cells per 100 µm²
            n = max(1, int(rng.poisson(mean)))
            used[kind] = n
            part = {
                "filaments": filaments,
                "vesicles": vesicles,
                "mitochondria": mitochondria,
                "nuclei": nuclei,
                "membranes": membranes,
            }[kind](rng, shape, px_um, n)
        img += weight * part
    return img / max(img.max(), 1e-12), used
