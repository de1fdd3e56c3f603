"""Benchmark: noise and kernel estimation against the simulator's truth.

Each case is one simulated view (`napari_w2s.simulate`): a raw frame (avg1) and the clean
average of its 400 frames, the SIM reference, and the truth the simulator writes to
`truth_channelC.json` (true `a`, `b` of one raw frame in ADU; the true LR-from-HR kernel).
Cases: the three channels' structure mixes (filaments, ER network, mitochondria + nuclei) at
two seeds, a view with saturated regions (uint16 clipping) and one with the plain
Poisson-Gaussian camera. Prints a table per case and the medians.

    python benchmarks/bench_estimation_simulated.py [--size 512] [--seeds 2]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from napari_w2s.analysis.kernel import estimate_kernel
from napari_w2s.analysis.noise import estimate_noise, estimate_noise_paired
from napari_w2s.simulate import Camera, ViewParams, simulate_view


def cases(size: int, seeds: int):
    base = ViewParams(size=size)
    for seed in range(seeds):
        for c, what in enumerate(("filaments + vesicles", "ER network", "mitochondria + nuclei")):
            yield f"ch{c} {what}, seed {seed}", base.for_channel(c), c, seed
    yield "ch0 saturated (uint16 clip)", replace(base, peak_photons=25000.0), 0, 7
    yield (
        "ch1 plain Poisson-Gaussian camera",
        replace(base.for_channel(1), camera=Camera(kind="poisson-gaussian", adu_per_electron=6.0)),
        1,
        8,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    rows = []
    print(
        f"{'case':<36} {'a true':>7} {'single':>7} {'err':>6} {'paired':>7} {'err':>6} "
        f"{'clip %':>6} {'kernel r':>8} {'t noise':>7} {'t kernel':>8}"
    )
    for name, params, channel, seed in cases(args.size, args.seeds):
        view = simulate_view(params, channel=channel, seed=seed)
        frames = view.frames(0, params.frames)
        avg1 = frames[249].astype(np.float64)
        clean = frames.mean(axis=0)
        a_true = view.noise_params()["a_adu"]
        t0 = time.perf_counter()
        single = estimate_noise(avg1)
        t_noise = time.perf_counter() - t0
        paired = estimate_noise_paired(avg1, clean, frames=(1, params.frames))
        t0 = time.perf_counter()
        kernel = estimate_kernel(clean, view.sim)
        t_kernel = time.perf_counter() - t0
        r = float(np.corrcoef(kernel.kernel.ravel(), view.kernel.ravel())[0, 1])
        e1, e2 = single.a / a_true - 1, paired.a / a_true - 1
        clipped = 100 * float((frames[249] == 65535).mean())
        rows.append((e1, e2, r))
        print(
            f"{name:<36} {a_true:7.2f} {single.a:7.2f} {e1:+6.1%} {paired.a:7.2f} {e2:+6.1%} "
            f"{clipped:6.2f} {r:8.4f} {t_noise:6.2f}s {t_kernel:7.2f}s"
        )
    e = np.array(rows)
    print(
        f"\nmedian |error| of a: single image {np.median(np.abs(e[:, 0])):.1%} (goal < 10 %), "
        f"paired {np.median(np.abs(e[:, 1])):.1%} (goal < 3 %); "
        f"kernel correlation min {e[:, 2].min():.4f} (goal >= 0.95)"
    )


if __name__ == "__main__":
    main()
