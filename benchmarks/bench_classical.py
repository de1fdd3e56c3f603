"""Classical denoisers on simulated avg1 frames: PSNR / SSIM against the clean image, seconds.

For each of the three channels, one raw 256 x 256 frame of the simulator (the W2S "avg1"
level) is denoised by every classical method with the true noise parameters, and once more by
PURE-LET with parameters estimated from the frame itself. The reference is the simulator's
noise-free expectation of the frame. VST+BM3D runs only where the optional ``bm3d`` package is
installed.

    python benchmarks/bench_classical.py [--size 256] [--seed 20200823]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from napari_w2s.analysis.metrics import psnr, ssim
from napari_w2s.restore.classical import ClassicalStep, bm3d_available
from napari_w2s.simulate.sample import SAMPLE_SEED, sample

METHODS = ("pure-let", "vst-nlm", "vst-bm3d", "vst-epll")


def _run(step, image):
    gen = step.iter_run(image)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--seed", type=int, default=SAMPLE_SEED)
    args = p.parse_args(argv)
    rows = []
    for ch in range(3):
        s = sample(size=args.size, frames=1, channel=ch, seed=args.seed)
        noisy = s.stack[0]
        clean = s.view.expected_clean()
        npar = s.view.noise_params()
        noise = (npar["a_adu"], npar["b_adu"])
        rows.append((ch, "noisy input", psnr(noisy, clean), ssim(noisy, clean), 0.0))
        runs = [(m, noise) for m in METHODS] + [("pure-let", None)]
        for method, nz in runs:
            label = method if nz is not None else f"{method} (estimated noise)"
            if method == "vst-bm3d" and not bm3d_available():
                rows.append((ch, f"{label} (bm3d not installed)", np.nan, np.nan, np.nan))
                continue
            t = time.perf_counter()
            out = _run(ClassicalStep(method, noise=nz), noisy)
            dt = time.perf_counter() - t
            rows.append((ch, label, psnr(out, clean), ssim(out, clean), dt))
    print(f"{args.size} x {args.size} simulated avg1 frames, reference = noise-free expectation")
    print()
    print("| channel | method | PSNR (dB) | SSIM | seconds |")
    print("|---|---|---|---|---|")
    for ch, label, ps, ss, dt in rows:
        if np.isnan(ps):
            print(f"| {ch} | {label} | - | - | - |")
        else:
            print(f"| {ch} | {label} | {ps:.2f} | {ss:.4f} | {dt:.2f} |")
    print()
    for label in dict.fromkeys(r[1] for r in rows if r[1] != "noisy input"):
        gains = [
            r[2] - n[2]
            for r in rows
            for n in rows
            if r[1] == label and n[1] == "noisy input" and n[0] == r[0]
        ]
        times = [r[4] for r in rows if r[1] == label]
        if gains and not np.isnan(gains[0]):
            print(
                f"{label}: PSNR gain over the input {min(gains):+.2f} .. {max(gains):+.2f} dB, "
                f"median {np.median(times):.2f} s"
            )


if __name__ == "__main__":
    main()
