"""Benchmark: simulate one W2S-sized view (512 x 512 x 400 frames, 3 channels, SIM references).

Prints the wall time and the peak memory of the process (ru_maxrss) against the size of what
is written, and the noise calibration beside the published W2S figures. Goal: well under a
minute on 2 cores, memory bounded (frames are drawn and written in blocks of 16).

    python benchmarks/bench_simulator.py [--size 512] [--frames 400] [--channels 3]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_w2s.analysis.metrics import compare
from napari_w2s.averaging import noise_levels
from napari_w2s.simulate import write_dataset

# W2S noise notebook, averaged over all 360 views (8-bit PNG, [0, 1] scale): PSNR, SSIM, a
W2S = {
    "avg1": (25.1, 0.40, 3.4e-2),
    "avg2": (28.1, 0.54, 1.7e-2),
    "avg4": (31.1, 0.67, 8.4e-3),
    "avg8": (34.0, 0.78, 4.3e-3),
    "avg16": (36.9, 0.87, 2.1e-3),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--channels", type=int, default=3)
    args = ap.parse_args()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = write_dataset(
            tmp, fovs=1, size=args.size, frames=args.frames, channels=args.channels, seed=1
        )
        seconds = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        written = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 2**20
        print(
            f"one view, {args.channels} channels, {args.frames} x {args.size} x {args.size} "
            f"frames + SIM: {seconds:.1f} s"
        )
        print(
            f"peak RSS {rss:.0f} MiB (before: {rss0:.0f} MiB); written {written:.0f} MiB; "
            f"one stack is {args.frames * args.size**2 * 2 / 2**20:.0f} MiB"
        )
        print()
        print("calibration, [0, 1] scale (clean min..max), mean over channels, vs W2S:")
        print(f"{'level':>6} {'PSNR':>6} {'W2S':>6} {'SSIM':>6} {'W2S':>6} {'a':>8} {'W2S':>8}")
        rows = {}
        for c in range(args.channels):
            wf = np.load(Path(tmp) / "Image001" / f"wf_channel{c}.npy", mmap_mode="r")
            lv = noise_levels(wf)
            clean = lv[lv.clean]
            lo, hi = float(clean.min()), float(clean.max())
            a1 = summary["views"][c]["a_unit"]
            for name, (n) in zip(W2S, (1, 2, 4, 8, 16), strict=True):
                m = compare((lv[name] - lo) / (hi - lo), (clean - lo) / (hi - lo), data_range=1.0)
                rows.setdefault(name, []).append((m["psnr"], m["ssim"], a1 / n))
        for name, vals in rows.items():
            p, s, a = np.mean(vals, axis=0)
            wp, ws, wa = W2S[name]
            print(f"{name:>6} {p:6.1f} {wp:6.1f} {s:6.2f} {ws:6.2f} {a:8.1e} {wa:8.1e}")


if __name__ == "__main__":
    main()
