"""Benchmark: noise and blur-kernel estimation on images with known parameters.

Prints one table row per case: the true Poisson factor ``a``, the single-image estimate (Foi et al.
2008, clipped model) and the paired estimate (against the clean image), with relative errors;
then one row per kernel case: correlation with the true kernel and FWHM error; and the time per
512 x 512 image (noise) and per 1024 x 1024 pair (kernel). The cases are generated here with
numpy (structures, Poisson-Gaussian noise with known a and b, offsets, saturation and zero
clipping; Gaussian and long-tailed kernels); ``--figures DIR`` also writes the figures.

    python benchmarks/bench_estimation.py [--size 512] [--seeds 3] [--figures DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from napari_w2s.analysis import _synthetic as S
from napari_w2s.analysis.kernel import (
    bicubic_kernel,
    estimate_kernel,
    gaussian_kernel,
    kernel_stats,
)
from napari_w2s.analysis.noise import estimate_noise, estimate_noise_paired


def noise_cases(size: int, seed: int):
    rng = np.random.default_rng(seed)
    sh = (size, size)
    specs = [
        ("photons, blobs", 2 + 98 * S.blobs(sh, rng), 1.0, 0.0, 0.0, (None, None)),
        ("ADU + offset 100, blobs", 110 + 400 * S.blobs(sh, rng), 2.0, -191.0, 100.0, (None, None)),
        (
            "[0,1], filaments + haze",
            0.05 + 0.75 * S.filaments(sh, rng),
            0.02,
            1e-4,
            0.0,
            (None, None),
        ),
        ("[0,1], saturated at 1", 0.05 + 1.3 * S.blobs(sh, rng), 0.01, 2e-4, 0.0, (None, 1.0)),
        ("[0,1], clipped at 0", 0.8 * S.blobs(sh, rng) ** 1.5, 0.01, 4e-4, 0.0, (0.0, None)),
        (
            "uint16 ADU, W2S-like avg1",
            100 + 300 * S.blobs(sh, rng) + 60 * S.filaments(sh, rng),
            3.0,
            25.0 - 300.0,
            100.0,
            (None, None),
        ),
    ]
    for name, y, a, b, off, clip in specs:
        z = S.poisson_gaussian(y, a, b, rng, offset=off, clip=clip)
        if name.startswith("uint16"):
            z = np.round(z).astype(np.uint16)
        yield name, z, y, a, b


def kernel_cases(size: int, seed: int):
    rng = np.random.default_rng(100 + seed)
    hr = 0.5 * S.filaments((size, size), rng, n=60, blur=0.7) + 0.5 * S.blobs(
        (size, size), rng, n=80, sigma=(2, 10)
    )
    for name, k in [
        ("Gaussian sigma 2.5", S.gaussian_kernel(61, 2.5)),
        ("Gaussian sigma 3.5", S.gaussian_kernel(61, 3.5)),
        ("long tail (2.5 + 40% of 7)", S.long_tail_kernel(61, 2.5, 7.0, 0.4)),
        ("long tail (3 + 50% of 9)", S.long_tail_kernel(61, 3.0, 9.0, 0.5)),
    ]:
        lr = S.blur_and_downsample(hr, k)
        lr = lr + rng.normal(0, 0.002 * lr.std(), lr.shape)  # avg400's residual noise
        yield name, 3.0 * lr + 50.0, hr, k[30 - 18 : 30 + 18, 30 - 18 : 30 + 18]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="LR image size for the noise cases")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--figures", default=None, help="write the figures (PNG) to this folder")
    args = ap.parse_args()

    print(f"## Noise: {args.size} x {args.size} images, {args.seeds} seeds per case\n")
    print("| case | seed | true a | single-image a | error | paired a | error | level sets |")
    print("|---|---|---|---|---|---|---|---|")
    single, paired, times, last = [], [], [], {}
    for seed in range(args.seeds):
        for name, z, y, a, b in noise_cases(args.size, seed):
            t0 = time.perf_counter()
            est = estimate_noise(z)
            times.append(time.perf_counter() - t0)
            pe = estimate_noise_paired(z, y)
            e1, e2 = est.a / a - 1, pe.a / a - 1
            single.append(abs(e1))
            paired.append(abs(e2))
            flag = " (note)" if est.notes else ""
            print(
                f"| {name} | {seed} | {a:.4g} | {est.a:.4g} | {e1:+.1%}{flag} | {pe.a:.4g} | "
                f"{e2:+.1%} | {int(est.used.sum())} |"
            )
            last[name] = est
    print(
        f"\nsingle-image |error| median {np.median(single):.1%}, max {np.max(single):.1%}; "
        f"paired median {np.median(paired):.1%}, max {np.max(paired):.1%}"
    )
    print(
        f"single-image time per {args.size} x {args.size} image: median "
        f"{np.median(times):.3f} s, max {np.max(times):.3f} s\n"
    )

    print("## Kernel: 1024 x 1024 HR / 512 x 512 LR pairs, 36 x 36 kernel, bicubic\n")
    print(
        "| kernel | seed | correlation | FWHM true | FWHM est. | error | energy r6 true / est. "
        "| energy r12 true / est. |"
    )
    print("|---|---|---|---|---|---|---|---|")
    ktimes, corrs, ferrs = [], [], []
    for seed in range(args.seeds):
        for name, lr, hr, true in kernel_cases(1024, seed):
            t0 = time.perf_counter()
            est = estimate_kernel(lr, hr)
            ktimes.append(time.perf_counter() - t0)
            st = kernel_stats(true)
            corr = float(np.corrcoef(est.kernel.ravel(), true.ravel())[0, 1])
            ferr = est.fwhm_px / st["fwhm_px"] - 1
            corrs.append(corr)
            ferrs.append(abs(ferr))
            print(
                f"| {name} | {seed} | {corr:.4f} | {st['fwhm_px']:.2f} | {est.fwhm_px:.2f} | "
                f"{ferr:+.1%} | {st['energy_r6']:.3f} / {est.energy_r6:.3f} | "
                f"{st['energy_r12']:.3f} / {est.energy_r12:.3f} |"
            )
            last["kernel " + name] = est
    print(
        f"\nkernel correlation min {np.min(corrs):.4f}; |FWHM error| median "
        f"{np.median(ferrs):.1%}, max {np.max(ferrs):.1%}"
    )
    print(
        f"kernel time per 1024 x 1024 pair: median {np.median(ktimes):.3f} s, "
        f"max {np.max(ktimes):.3f} s"
    )

    if args.figures:
        from napari_w2s.analysis.figures import kernels_figure, noise_bar_figure, noise_fit_figure

        out = Path(args.figures)
        out.mkdir(parents=True, exist_ok=True)
        noise_fit_figure(last["[0,1], saturated at 1"], "single image, saturated at 1").savefig(
            out / "noise_fit.png", dpi=110
        )
        est = last["kernel long tail (3 + 50% of 9)"]
        kernels_figure(
            {
                "bicubic x2": bicubic_kernel(36),
                "Gaussian sigma 2": gaussian_kernel(36),
                "estimated (long tail)": est.kernel,
            }
        ).savefig(out / "kernels.png", dpi=110)
        rng = np.random.default_rng(0)
        y = 100 + 300 * S.blobs((args.size, args.size), rng)
        frames = [S.poisson_gaussian(y, 3.0, -275.0, rng, offset=100.0) for _ in range(16)]
        levels = {}
        for n in (1, 2, 4, 8, 16):
            img = np.mean(frames[:n], axis=0)
            levels[f"avg{n}"] = estimate_noise(img).rescaled(img.min(), img.max())[0]
        noise_bar_figure(levels, "a on the [0, 1] scale").savefig(out / "noise_levels.png", dpi=110)
        print(f"\nfigures written to {out}")


if __name__ == "__main__":
    main()
