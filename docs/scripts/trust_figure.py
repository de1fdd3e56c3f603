"""Make docs/images/trust/*.png: what `w2s check` shows.

    python docs/scripts/trust_figure.py [--real img2d.tif [--weights FILE]]

1. ``fake_filament.png``: a simulated view's SIM image with a filament pasted in (half the
   brightness of the real structures), its avg1 input, and the consistency map (z, diverging,
   centred on 0); the true SIM's map beside it for comparison.
2. ``real_nuclei.png`` (with ``--real``): the shipped JDSR on a real widefield image and its map,
   and the table of docs/trust.md: the map's mean z and its share of pixels beyond 3 sigma in
   the background, the 3-pixel bands either side of each nucleus edge and the nucleus interiors.
   ``--weights FILE`` runs other JDSR weights (a run to be chosen, say) and writes the figure as
   ``real_nuclei_candidate.png``: look at a model on the real image before shipping it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from scipy import ndimage

from napari_w2s.analysis.consistency import check, kernel_for
from napari_w2s.averaging import noise_levels
from napari_w2s.simulate.structures import _splat, worm_like_paths
from napari_w2s.simulate.view import ViewParams, simulate_view

OUT = Path(__file__).resolve().parents[1] / "images" / "trust"


def _show(ax, img, title, z=False):
    if z:
        ax.imshow(img, cmap="RdBu_r", vmin=-6, vmax=6)
    else:
        lo, hi = np.nanpercentile(img, [0.5, 99.8])
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def fake_filament() -> None:
    v = simulate_view(ViewParams(size=128, frames=400), channel=1, seed=2)
    x = noise_levels(v.frames(0, 400))["avg1"]
    sim = v.sim.astype(np.float64)
    bg, top = np.percentile(sim, [10, 99.5])
    fake = np.zeros_like(sim)
    ys, xs = worm_like_paths(np.random.default_rng(7), 1, sim.shape, 0.032, length_um=(3, 4))[0]
    _splat(fake, ys - ys.mean() + 128, xs - xs.mean() + 128, np.ones(ys.size))
    fake = ndimage.gaussian_filter(fake, 1.0)
    fake *= 0.5 * (top - bg) / fake.max()
    fig = Figure(figsize=(12, 3.4), dpi=110, layout="constrained")
    axes = fig.subplots(1, 4)
    res = {}
    for name, r in (("true SIM", sim), ("SIM + invented filament", sim + fake)):
        k, _ = kernel_for(r, x)
        res[name] = check(r, x, k)
    _show(axes[0], x, "input: one widefield frame (avg1)")
    _show(axes[1], sim + fake, "'restoration': SIM + invented filament")
    for ax, (name, c) in zip(axes[2:], res.items(), strict=True):
        title = f"z map, {name}: {c.verdict}\n{100 * c.outside_3sigma:.1f} % beyond 3 sigma"
        _show(ax, c.z, title, z=True)
    fig.savefig(OUT / "fake_filament.png")


def nucleus_regions(x: np.ndarray, edge: int = 3) -> tuple[dict[str, np.ndarray], int]:
    """Regions of a nuclei image, on its own grid: nuclei are where the input smoothed with
    sigma 2 is above the level halfway between its 30th and 90th percentiles. Returns the masks
    (background more than ``edge`` px from a nucleus, the bands 0-``edge`` px outside and inside
    each edge, the interiors more than ``edge`` px in) and the number of nuclei."""
    smooth = ndimage.gaussian_filter(x.astype(np.float64), 2.0)
    p30, p90 = np.percentile(smooth, [30, 90])
    nuclei = smooth > (p30 + p90) / 2
    n = int(ndimage.label(nuclei)[1])
    outside = ndimage.distance_transform_edt(~nuclei)
    inside = ndimage.distance_transform_edt(nuclei)
    masks = {
        f"background (more than {edge} px from a nucleus)": outside > edge,
        f"just outside a nucleus (0-{edge} px)": (outside > 0) & (outside <= edge),
        f"just inside (0-{edge} px)": (inside > 0) & (inside <= edge),
        f"interior (more than {edge} px in)": inside > edge,
    }
    return masks, n


def region_table(x: np.ndarray, z: np.ndarray) -> str:
    """docs/trust.md's table: the map's mean z and the share beyond 3 sigma in each region of
    :func:`nucleus_regions` (z on the input's grid); the interior's split by sign."""
    masks, n = nucleus_regions(x)
    rows = [f"{n} nuclei", "| where | mean z | beyond 3 sigma |", "|---|---|---|"]
    for name, m in masks.items():
        zz = z[m & np.isfinite(z)]
        share = f"{100 * np.mean(np.abs(zz) > 3):.2f} %"
        if name.startswith("interior"):
            share += (
                f": {100 * np.mean(zz < -3):.1f} % blue (z < -3), "
                f"{100 * np.mean(zz > 3):.1f} % red (z > 3)"
            )
        rows.append(f"| {name} | {np.mean(zz):+.2f} | {share} |")
    return "\n".join(rows)


def real(path: str, weights: str | None = None) -> None:
    """The shipped JDSR on a real image: the whole field, then the 96 x 96 input pixels with
    the most pixels beyond 3 sigma, with bicubic upsampling beside it and the flagged pixels
    outlined on the result."""
    from napari_w2s.analysis.kernel import upsample2
    from napari_w2s.io import read_stack
    from napari_w2s.restore.engine import resolve

    x = np.asarray(read_stack(path).data, dtype=np.float32).squeeze()
    out = resolve("jdsr", device="cpu", tile=0, weights=weights).run(x)
    k, src = kernel_for(out, x)
    c = check(out, x, k, kernel_source=src)
    flagged = np.abs(np.nan_to_num(c.z)) > 3
    density = ndimage.uniform_filter(flagged.astype(float), 96)
    m = 60
    cy, cx = np.unravel_index(np.argmax(density[m:-m, m:-m]), density[m:-m, m:-m].shape)
    cy, cx = cy + m, cx + m
    lr = (slice(cy - 48, cy + 48), slice(cx - 48, cx + 48))
    hr = (slice(2 * cy - 96, 2 * cy + 96), slice(2 * cx - 96, 2 * cx + 96))
    fig = Figure(figsize=(12, 8.6), dpi=110, layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.0, 0.75])
    axes = top.subplots(1, 3)
    _show(axes[0], x, "real widefield nuclei (DSB 2018)")
    axes[0].add_patch(
        Rectangle((cx - 48, cy - 48), 96, 96, fill=False, edgecolor="yellow", linewidth=1)
    )
    _show(axes[1], out, "JDSR (x2)")
    _show(
        axes[2], c.z, f"z map: {c.verdict}, {100 * c.outside_3sigma:.2f} % beyond 3 sigma", z=True
    )
    axes = bottom.subplots(1, 4)
    _show(axes[0], upsample2(x)[hr], "the yellow box: bicubic x2")
    _show(axes[1], out[hr], "JDSR")
    _show(axes[2], c.z[lr], "z map", z=True)
    _show(axes[3], out[hr], "JDSR, |z| > 3 outlined")
    zoom = np.kron(np.nan_to_num(c.z[lr]), np.ones((2, 2)))
    axes[3].contour(zoom, levels=[-3], colors="deepskyblue", linewidths=0.8)
    axes[3].contour(zoom, levels=[3], colors="red", linewidths=0.8)
    fig.savefig(OUT / ("real_nuclei_candidate.png" if weights else "real_nuclei.png"))
    print(c.to_dict())
    print(region_table(x, c.z))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", default=None, help="a real 2-D widefield nuclei image")
    ap.add_argument("--weights", default=None, help="other JDSR weights for --real")
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if not a.weights:
        fake_filament()
    if a.real:
        real(a.real, a.weights)


if __name__ == "__main__":
    main()
