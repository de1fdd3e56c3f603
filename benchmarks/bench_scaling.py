"""Benchmark: time per pixel of a small image against a large one (the engine's fixed costs).

One process restores a ``--small`` and a ``--large`` square image with the same pipeline (the
shipped weights of ``--method``, automatic tiles, the allocator settings of the ``w2s``
command), the two sizes alternating in every round, median of ``--rounds``. Both the wall
clock and the process's CPU time are reported (on one thread on a shared machine the CPU time
leaves out the slices other jobs take). Issue 21's goal: per-pixel time at 256 x 256 within
1.3x of that at 1024 x 1024.

    python benchmarks/bench_scaling.py [--method jdsr] [--small 256] [--large 1024]
                                       [--rounds 5] [--threads 1] [--backend torch]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="jdsr")
    ap.add_argument("--small", type=int, default=256)
    ap.add_argument("--large", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", default="1")
    ap.add_argument("--backend", default="torch")
    args = ap.parse_args()

    from napari_w2s.restore.alloc import keep_freed_memory

    keep_freed_memory()  # as the w2s command does
    from napari_w2s.restore.engine import resolve

    pipe = resolve(args.method, device="cpu", threads=args.threads, backend=args.backend)
    rng = np.random.default_rng(0)
    sizes = [args.small, args.large]
    images = {n: rng.normal(150, 30, (n, n)).astype(np.float32) for n in sizes}
    tiles = {}
    for n in sizes:  # warm-up
        pipe.run(images[n])
        tiles[n] = pipe.steps[0].timings.get("tile")
    wall: dict[int, list[float]] = {n: [] for n in sizes}
    cpu: dict[int, list[float]] = {n: [] for n in sizes}
    for r in range(args.rounds):
        for n in sizes if r % 2 == 0 else sizes[::-1]:
            w0, c0 = time.perf_counter(), time.process_time()
            pipe.run(images[n])
            wall[n].append(time.perf_counter() - w0)
            cpu[n].append(time.process_time() - c0)
        print(
            f"round {r + 1}: "
            + "  ".join(f"{n}: {wall[n][-1]:.3f} s wall, {cpu[n][-1]:.3f} s CPU" for n in sizes)
            + f"  (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    per_px = {
        clock: {n: statistics.median(t[n]) / n**2 * 1e6 for n in sizes}
        for clock, t in (("wall", wall), ("cpu", cpu))
    }
    for clock, v in per_px.items():
        print(
            f"{clock}: {args.small}^2 {v[args.small]:.3f} us/px (tile {tiles[args.small]}), "
            f"{args.large}^2 {v[args.large]:.3f} us/px (tile {tiles[args.large]}): ratio "
            f"{v[args.small] / v[args.large]:.2f}"
        )
    print(json.dumps({"method": args.method, "tiles": tiles, "wall": wall, "cpu": cpu}))


if __name__ == "__main__":
    main()
