"""Benchmark: restoring with 1 thread, every core and ``auto``, variants interleaved.

Each round restores the same image once per variant (in a rotating order), so a change in the
machine's load hits every variant alike; the median over the rounds is reported. Run it with
other jobs on the machine to see why ``auto`` exists (docs/benchmarks.md).

    python benchmarks/bench_threads.py [--method jdsr] [--size 512] [--rounds 5] [--variants 1,2,auto]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def main() -> None:
    from napari_w2s.restore.engine import resolve
    from napari_w2s.restore.threads import auto_threads, current_load, usable_cores

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="jdsr")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--variants", default="1,2,auto")
    args = ap.parse_args()
    variants = [v.strip() for v in args.variants.split(",")]
    print(f"{usable_cores()} usable cores, load {os.getloadavg()} -> auto = {auto_threads()}")
    image = np.random.default_rng(0).normal(150, 30, (args.size, args.size)).astype(np.float32)
    pipes = {v: resolve(args.method, device="cpu", threads=v) for v in variants}
    for pipe in pipes.values():
        pipe.run(image)  # warm-up
    times: dict[str, list[float]] = {v: [] for v in variants}
    resolved: dict[str, list[int]] = {v: [] for v in variants}
    for r in range(args.rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for v in order:
            if v == "auto":  # what auto would pick at this moment
                pipes[v].steps[0].threads = auto_threads()
            resolved[v].append(pipes[v].steps[0].threads)
            t0 = time.perf_counter()
            pipes[v].run(image)
            times[v].append(time.perf_counter() - t0)
        print(
            f"round {r + 1}: " + "  ".join(f"{v}: {times[v][-1]:.2f} s" for v in variants),
            f"(load {current_load():.2f})",
            flush=True,
        )
    base = statistics.median(times[variants[0]])
    rows = []
    for v in variants:
        med = statistics.median(times[v])
        rows.append(
            {
                "threads": v,
                "median_s": med,
                "times": times[v],
                "resolved": resolved[v],
                "vs_first": med / base,
            }
        )
        print(
            f"threads {v:>4}: median {med:.2f} s ({med / base:.2f}x of {variants[0]}), "
            f"ran on {sorted(set(resolved[v]))}"
        )
    print(json.dumps({"method": args.method, "size": args.size, "rows": rows}))


if __name__ == "__main__":
    main()
