"""Benchmark: peak memory of one restore, measured in a fresh process.

For each size, a child process loads the model (shipped weights), makes a random image, notes
its resident memory (``VmRSS``), restores the image with ``iter_restore`` (what ``w2s restore``
runs) and reports the peak resident memory (``VmHWM``) and tracemalloc's peak of the numpy
arrays allocated during the restore. "Extra" is the peak beyond the memory before the restore
plus the output array: what the engine itself needs.

    python benchmarks/bench_memory.py [--method jdsr] [--sizes 1024,2048] [--tile auto] [--threads 1]
                                      [--malloc default|tuned]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, sys, time, tracemalloc
import numpy as np

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # MiB

from napari_w2s.restore.engine import iter_restore, resolve
from napari_w2s.progress import drain

method, size, tile, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if sys.argv[5] == "tuned":  # what the w2s command does
    from napari_w2s.restore.alloc import keep_freed_memory
    keep_freed_memory()
pipe = resolve(method, device="cpu", tile=None if tile == "auto" else int(tile),
               threads=None if threads == "default" else threads)
image = np.random.default_rng(0).normal(150, 30, (size, size)).astype(np.float32)
pipe.run(np.ascontiguousarray(image[:128, :128]))  # warm-up: one small restore
before = status("VmRSS")
tracemalloc.start()
t0 = time.perf_counter()
out = drain(iter_restore(pipe, image))
seconds = time.perf_counter() - t0
_, traced = tracemalloc.get_traced_memory()
tracemalloc.stop()
step = pipe.steps[0]
print(json.dumps({"size": size, "before_mib": before, "hwm_mib": status("VmHWM"),
                  "traced_peak_mib": traced / 2**20, "out_mib": out.nbytes / 2**20,
                  "in_mib": image.nbytes / 2**20, "seconds": seconds,
                  "tile": step.timings.get("tile")}))
"""


def measure(method: str, size: int, tile: str, threads: str, malloc: str = "default") -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, method, str(size), tile, threads, malloc],
        capture_output=True,
        text=True,
        check=True,
    )
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["extra_mib"] = row["hwm_mib"] - row["before_mib"] - row["out_mib"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="jdsr")
    ap.add_argument("--sizes", default="1024,2048")
    ap.add_argument("--tile", default="auto")
    ap.add_argument("--threads", default="1")
    ap.add_argument(
        "--malloc",
        default="default",
        choices=["default", "tuned"],
        help="tuned: the allocator settings of the w2s command (restore/alloc.py)",
    )
    args = ap.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        r = measure(args.method, size, args.tile, args.threads, args.malloc)
        print(
            f"{args.method} {size}x{size} (tile {r['tile']}): peak RSS {r['hwm_mib']:.0f} MiB, "
            f"before {r['before_mib']:.0f} MiB, output {r['out_mib']:.0f} MiB, extra "
            f"{r['extra_mib']:.0f} MiB; numpy peak (tracemalloc) {r['traced_peak_mib']:.0f} "
            f"MiB; {r['seconds']:.1f} s",
            flush=True,
        )
        print(json.dumps(r))


if __name__ == "__main__":
    main()
