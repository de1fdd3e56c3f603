"""Benchmark: W2S noise levels from a 400 x 512 x 512 uint16 TIFF on disk.

Prints the time to make all W2S levels (avg1, 2, 4, 8, 16, avg400) as a ratio to one plain
sequential read of the same file (tifffile.imread into memory; goal <= 1.5), and the peak
memory the averaging allocates (tracemalloc) for stacks of 100 and 400 frames (goal: the same,
independent of T). Both are measured in the same run, on a warm page cache, best of --repeat.

    python benchmarks/bench_averaging.py [--frames 400] [--size 512] [--repeat 3] [--compressed]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import tifffile

from napari_w2s.averaging import noise_levels
from napari_w2s.io import read_stack


def make_stack(path: Path, frames: int, size: int, compressed: bool) -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(100, 400, (size, size)).astype(np.uint16)

    def pages():
        for t in range(frames):
            yield base + np.uint16(t % 7)

    tifffile.imwrite(
        path,
        pages(),
        shape=(frames, size, size),
        dtype=np.uint16,
        compression="zlib" if compressed else None,
    )


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def peak_bytes(path: Path) -> int:
    data = read_stack(path).data
    tracemalloc.start()
    noise_levels(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compressed", action="store_true", help="zlib TIFF (read page by page)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stack.tif"
        make_stack(path, args.frames, args.size, args.compressed)
        mb = path.stat().st_size / 2**20
        tifffile.imread(path)  # warm the page cache
        t_read = best(lambda: tifffile.imread(path), args.repeat)
        t_avg = best(lambda: noise_levels(read_stack(path).data), args.repeat)
        short = Path(tmp) / "short.tif"
        make_stack(short, 100, args.size, args.compressed)
        peak_short, peak_long = peak_bytes(short), peak_bytes(path)
    print(
        f"stack: {args.frames} x {args.size} x {args.size} uint16, {mb:.0f} MiB"
        f"{' (zlib)' if args.compressed else ''}"
    )
    print(f"plain sequential read (tifffile.imread): {t_read:.3f} s")
    print(f"all W2S levels (1,2,4,8,16,{args.frames}):  {t_avg:.3f} s")
    print(f"ratio averaging / read: {t_avg / t_read:.2f}   (goal <= 1.5)")
    print(
        f"peak memory allocated by averaging: {peak_short / 2**20:.1f} MiB at 100 frames, "
        f"{peak_long / 2**20:.1f} MiB at {args.frames} frames "
        f"(ratio {peak_long / peak_short:.2f}; goal: 1.0, independent of T; "
        f"the stack itself is {mb:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
