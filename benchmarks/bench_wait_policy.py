"""Benchmark: OpenMP's default wait policy against ``OMP_WAIT_POLICY=PASSIVE`` (what ``w2s``
sets), fresh processes alternating, best of 2 restores each, median over the rounds.

    python benchmarks/bench_wait_policy.py [--method jdsr] [--size 512] [--threads 2] [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time
import numpy as np
from napari_w2s.restore.engine import resolve
method, size, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pipe = resolve(method, device="cpu", threads=threads)
image = np.random.default_rng(0).normal(150, 30, (size, size)).astype(np.float32)
pipe.run(image[:128, :128])
times = []
for _ in range(2):
    t0 = time.perf_counter()
    pipe.run(image)
    times.append(time.perf_counter() - t0)
print(json.dumps(min(times)))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="jdsr")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    res: dict[str, list[float]] = {"default": [], "PASSIVE": []}
    for r in range(args.rounds):
        for variant in ("default", "PASSIVE") if r % 2 == 0 else ("PASSIVE", "default"):
            env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
            if variant == "PASSIVE":
                env["OMP_WAIT_POLICY"] = "PASSIVE"
            out = subprocess.run(
                [sys.executable, "-c", CHILD, args.method, str(args.size), str(args.threads)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            res[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(
            f"round {r + 1}: " + "  ".join(f"{k}: {v[-1]:.2f} s" for k, v in res.items()),
            flush=True,
        )
    med = {k: statistics.median(v) for k, v in res.items()}
    print(
        f"median: default {med['default']:.2f} s, PASSIVE {med['PASSIVE']:.2f} s "
        f"({med['default'] / med['PASSIVE']:.2f}x)"
    )
    print(json.dumps({"times": res, "median": med}))


if __name__ == "__main__":
    main()
