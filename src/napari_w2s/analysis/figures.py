"""Figures like the W2S paper's Fig. 2, as matplotlib ``Figure`` objects (no pyplot state).

Each function returns a :class:`matplotlib.figure.Figure`; save it with ``fig.savefig(path)``
or put it in a Qt canvas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def noise_fit_figure(estimate: Any, title: str | None = None, units: str = "ADU"):
    """Level-set points (mean, std) and the fitted curve of a :class:`NoiseEstimate`.

    Sized for a narrow dock (4 x 3 in); ``units``: the image's intensity unit, for the axes.
    """
    fig = _figure(4.0, 3.0)
    ax = fig.add_subplot()
    used = np.asarray(estimate.used, bool)
    ax.scatter(estimate.means[used], estimate.stds[used], s=12, c="C0", label="measured")
    if (~used).any():
        ax.scatter(
            estimate.means[~used],
            estimate.stds[~used],
            s=12,
            facecolors="none",
            edgecolors="C7",
            label="not fitted",
        )
    ax.plot(
        estimate.curve_mean,
        estimate.curve_std,
        "C3-",
        label=f"variance = {estimate.a:.3g}·mean {estimate.b:+.3g}",
    )
    ax.set_xlabel(f"mean intensity ({units})")
    ax.set_ylabel(f"noise std ({units})")
    ax.set_title(title or f"noise vs. signal ({estimate.method})", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", loc="lower right", framealpha=0.8)
    return fig


def kernels_figure(
    kernels: Mapping[str, Any], max_radius: int | None = None, pixel_nm: float | None = None
):
    """Kernels side by side (images, each scaled to its own peak) over their radial profiles.

    ``kernels`` maps a label to a 2-D kernel (e.g. ``{"bicubic": ..., "Gaussian sigma 2": ...,
    "estimated": ...}``), as in the paper's Fig. 2b. Laid out for a narrow dock: the kernels in
    a row, the profiles below; ``pixel_nm`` adds a second radius axis in nm.
    """
    from .kernel import radial_profile

    names = list(kernels)
    n = len(names)
    fig = _figure(4.0, 4.4)
    grid = fig.add_gridspec(2, n, height_ratios=[1, 1.5])
    prof_ax = fig.add_subplot(grid[1, :])
    for i, name in enumerate(names):
        k = np.asarray(kernels[name], dtype=np.float64)
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(k, cmap="magma", vmin=0, vmax=float(k.max()))
        ax.set_title(name, fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
        r, p = radial_profile(k / k.sum())
        if max_radius is not None:
            keep = r <= max_radius
            r, p = r[keep], p[keep]
        prof_ax.plot(r, p / p.max(), label=name)
    prof_ax.set_xlabel("radius (HR px)")
    prof_ax.set_ylabel("profile / peak")
    prof_ax.axhline(0.5, color="0.7", lw=0.8, ls=":")
    prof_ax.grid(alpha=0.3)
    if pixel_nm:
        top = prof_ax.secondary_xaxis(
            "top", functions=(lambda r: r * pixel_nm, lambda d: d / pixel_nm)
        )
        top.set_xlabel("radius (nm)", fontsize="small")
    prof_ax.legend(fontsize="x-small", loc="upper right", framealpha=0.8)
    return fig


def noise_bar_figure(
    values: Mapping[str, float] | Sequence[tuple[str, float]],
    ylabel: str = "Poisson parameter a",
    log: bool = True,
):
    """Bar chart of the noise parameter ``a`` of several images or levels (paper Fig. 2a)."""
    items = list(values.items()) if isinstance(values, Mapping) else list(values)
    fig = _figure(max(3.0, 0.8 * len(items) + 1.5), 3.2)
    ax = fig.add_subplot()
    labels = [str(k) for k, _ in items]
    heights = [float(v) for _, v in items]
    ax.bar(range(len(items)), heights, color="C0")
    ax.set_xticks(range(len(items)), labels, rotation=30, ha="right")
    if log and all(h > 0 for h in heights):
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    return fig


def advice_figure(advice: Any):
    """The photon-budget advisor's answer against the number of frames averaged ``N``.

    Predicted PSNR of the ``N``-frame average against the clean image (its interval shaded),
    the target PSNR and the smallest ``N`` reaching it marked; on a second axis the JDSR
    restoration's expected RMSE against SIM where the model's curves exist. Sized for a dock.
    """
    fig = _figure(4.0, 3.0)
    ax = fig.add_subplot()
    n = np.array([r.frames for r in advice.rows], dtype=float)
    psnr = np.array([r.psnr for r in advice.rows])
    ax.fill_between(
        n,
        [r.psnr_low for r in advice.rows],
        [r.psnr_high for r in advice.rows],
        color="C0",
        alpha=0.2,
        linewidth=0,
    )
    ax.plot(n, psnr, "C0o-", ms=3, label="average of N frames (PSNR)")
    if advice.target_psnr is not None:
        ax.axhline(
            advice.target_psnr, color="C3", ls="--", lw=1, label=f"target {advice.target_psnr:g} dB"
        )
        if advice.frames_needed is not None:
            ax.axvline(
                advice.frames_needed, color="C3", ls=":", lw=1, label=f"N = {advice.frames_needed}"
            )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("frames averaged N")
    ax.set_ylabel("PSNR against the clean image (dB)")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    rows = [r for r in advice.rows if r.jdsr is not None]
    if rows:
        ax2 = ax.twinx()
        nj = np.array([r.frames for r in rows], dtype=float)
        ax2.fill_between(
            nj,
            [r.jdsr["rmse_range"][0] for r in rows],
            [r.jdsr["rmse_range"][1] for r in rows],
            color="C2",
            alpha=0.15,
            linewidth=0,
        )
        ax2.plot(nj, [r.jdsr["rmse"] for r in rows], "C2s-", ms=3, label="JDSR vs SIM (RMSE)")
        ax2.set_ylabel("JDSR RMSE against SIM (W2S units)")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, fontsize="x-small", loc="lower right", framealpha=0.8)
    ax.set_title("photon budget", fontsize="medium")
    return fig
