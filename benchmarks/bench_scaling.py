"""Benchmark: time per pixel of a small image against a large one (the engine's fixed costs).

One process restores a ``--small`` and a ``--large`` square image with the same pipeline (the
shipped weights of ``--method``, automatic tiles, the allocator settings of the ``w2s``
command), the two sizes alternating in every round, median of ``--rounds``. Both the wall
clock and the process's CPU time are reported (on one thread on a shared machine the CPU time
leaves out the slices other jobs take). Issue 21's goal: per-pixel time at 256 x 256 within
1.3x of that at 1024 x 1024.

    python benchmarks/bench_scaling.py [--method jdsr] [--small 256] [--large 1024]
                                       [--rounds 5] [--threads 1] [--backend torch]

``--tiles 0,576,384,288`` instead restores the ``--large`` image with each tile size (0: the
whole image at once), alternating, and reports the time and the largest difference from the
first: the price in time of the smaller tiles that would hold less memory.
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
    ap.add_argument("--tiles", default=None, help="compare these tile sizes on --large instead")
    args = ap.parse_args()
    if args.tiles:
        tile_sweep(args)
        return

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


def tile_sweep(args: argparse.Namespace) -> None:
    from napari_w2s.restore.alloc import keep_freed_memory

    keep_freed_memory()
    from napari_w2s.restore.engine import resolve

    tiles = [int(t) for t in args.tiles.split(",")]
    kw = {"device": "cpu", "threads": args.threads, "backend": args.backend}
    pipes = {t: resolve(args.method, tile=t, **kw) for t in tiles}
    image = np.random.default_rng(0).normal(150, 30, (args.large,) * 2).astype(np.float32)
    first = None
    for t, pipe in pipes.items():  # warm-up, and the difference from the first tile size
        out = pipe.run(image)
        first = out if first is None else first
        print(f"tile {t}: max |difference| from tile {tiles[0]}: {np.abs(out - first).max():.2e}")
    wall: dict[int, list[float]] = {t: [] for t in tiles}
    cpu: dict[int, list[float]] = {t: [] for t in tiles}
    for r in range(args.rounds):
        for t in tiles if r % 2 == 0 else tiles[::-1]:
            w0, c0 = time.perf_counter(), time.process_time()
            pipes[t].run(image)
            wall[t].append(time.perf_counter() - w0)
            cpu[t].append(time.process_time() - c0)
        print(f"round {r + 1} (load {os.getloadavg()[0]:.2f})", flush=True)
    base = statistics.median(cpu[tiles[0]])
    for t in tiles:
        c = statistics.median(cpu[t])
        print(
            f"tile {t}: {statistics.median(wall[t]):.2f} s wall, {c:.2f} s CPU "
            f"({c / base:.2f}x of tile {tiles[0]})"
        )
    print(json.dumps({"method": args.method, "size": args.large, "wall": wall, "cpu": cpu}))


if __name__ == "__main__":
    main()
