"""Make docs/images/estimation/sample_*.png from the simulated sample (paper Fig. 2 style).

python docs/scripts/estimation_figures.py
"""

from __future__ import annotations

from pathlib import Path

from napari_w2s.analysis import (
    bicubic_kernel,
    estimate_kernel,
    estimate_noise,
    gaussian_kernel,
    rescale_params,
)
from napari_w2s.analysis.figures import kernels_figure, noise_bar_figure, noise_fit_figure
from napari_w2s.averaging import noise_levels
from napari_w2s.simulate.sample import sample

OUT = Path(__file__).resolve().parents[1] / "images" / "estimation"


def main() -> None:
    s = sample()  # the napari sample: 400 x 256 x 256, fixed seed
    lv = noise_levels(s.stack)
    clean = lv[lv.clean]
    lo, hi = float(clean.min()), float(clean.max())
    fit = estimate_noise(lv["avg1"])
    OUT.mkdir(parents=True, exist_ok=True)
    noise_fit_figure(
        fit,
        title=f"simulated sample, avg1: a = {fit.a:.2f}, b = {fit.b:.0f} ADU "
        f"(true a = {s.view.noise_params()['a_adu']:.2f})",
    ).savefig(OUT / "sample_noise_fit.png")
    levels = {}
    for name in ("avg1", "avg2", "avg4", "avg8", "avg16"):
        e = estimate_noise(lv[name])
        levels[name] = rescale_params(e.a, e.b, lo, hi)[0]  # on the [0, 1] scale, like W2S
    noise_bar_figure(levels, ylabel="Poisson parameter a ([0, 1] scale)").savefig(
        OUT / "sample_noise_levels.png"
    )
    k = estimate_kernel(clean, s.sim)
    kernels_figure(
        {
            "bicubic": bicubic_kernel(),
            "Gaussian sigma 2": gaussian_kernel(sigma=2.0),
            "estimated (sample)": k.kernel,
            "true (simulator)": s.view.kernel,
        }
    ).savefig(OUT / "sample_kernels.png")
    print(f"wrote {OUT}/sample_*.png; a per level: {levels}; kernel FWHM {k.fwhm_px:.2f} px")


if __name__ == "__main__":
    main()
