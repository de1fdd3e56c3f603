"""Benchmark: peak memory of one restore against its arrays and the model, in a fresh process.

For each size, a child process loads the model (shipped weights, ``resolve``), restores a
128 x 128 image once (warm-up), notes its resident memory: ``loaded`` (the interpreter, torch
and the model, as a restore finds them), makes a random image of the size, restores it with
``iter_restore`` (what the Restore widget runs; ``w2s restore`` runs the same per plane) and
reports the peak resident memory of the whole process (``VmHWM``) and tracemalloc's peak of the
numpy arrays allocated during the restore. Issue 21's ratio:

    peak RSS / (loaded + input array + output array)

(goal <= 1.2 at 1024 x 1024 and 4096 x 4096); also "extra", the peak beyond these three, in
MiB and in bytes per input pixel (flat memory: it does not grow with the image), and the
weights' own bytes. ``--malloc tuned`` (the default) uses the allocator settings of the ``w2s``
command (``restore/alloc.py``), ``default`` glibc's.

    python benchmarks/bench_memory.py [--method jdsr] [--sizes 1024,4096] [--tile auto]
                                      [--threads 1] [--malloc tuned|default]
                                      [--precision auto|float32|bfloat16]
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

method, size, tile, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
precision = sys.argv[6]
if sys.argv[5] == "tuned":  # what the w2s command does
    from napari_w2s.restore.alloc import keep_freed_memory
    keep_freed_memory()
from napari_w2s.restore.engine import iter_restore, resolve
from napari_w2s.progress import drain

pipe = resolve(method, device="cpu", tile=None if tile == "auto" else int(tile),
               threads=None if threads == "default" else threads, precision=precision)
rng = np.random.default_rng(0)
pipe.run(rng.normal(150, 30, (128, 128)).astype(np.float32))  # warm-up: one small restore
loaded = status("VmRSS")
params = sum(p.numel() * p.element_size() for s in pipe.steps for p in s.model.parameters())
image = rng.normal(150, 30, (size, size)).astype(np.float32)
tracemalloc.start()
t0 = time.perf_counter()
out = drain(iter_restore(pipe, image))
seconds = time.perf_counter() - t0
_, traced = tracemalloc.get_traced_memory()
tracemalloc.stop()
step = pipe.steps[0]
print(json.dumps({"size": size, "loaded_mib": loaded, "hwm_mib": status("VmHWM"),
                  "traced_peak_mib": traced / 2**20, "out_mib": out.nbytes / 2**20,
                  "in_mib": image.nbytes / 2**20, "params_mib": params / 2**20,
                  "seconds": seconds, "tile": step.timings.get("tile")}))
"""


def measure(
    method: str, size: int, tile: str, threads: str, malloc: str = "tuned", precision: str = "auto"
) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, method, str(size), tile, threads, malloc, precision],
        capture_output=True,
        text=True,
        check=True,
    )
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    arrays = row["loaded_mib"] + row["in_mib"] + row["out_mib"]
    row["ratio"] = row["hwm_mib"] / arrays
    row["extra_mib"] = row["hwm_mib"] - arrays
    row["extra_bytes_per_px"] = row["extra_mib"] * 2**20 / size**2
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="jdsr")
    ap.add_argument("--sizes", default="1024,4096")
    ap.add_argument("--tile", default="auto")
    ap.add_argument("--threads", default="1")
    ap.add_argument(
        "--malloc",
        default="tuned",
        choices=["default", "tuned"],
        help="tuned: the allocator settings of the w2s command (restore/alloc.py)",
    )
    ap.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"])
    args = ap.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        r = measure(args.method, size, args.tile, args.threads, args.malloc, args.precision)
        print(
            f"{args.method} {size}x{size} (tile {r['tile']}, malloc {args.malloc}, "
            f"{args.precision}): peak RSS "
            f"{r['hwm_mib']:.0f} MiB = {r['ratio']:.2f} x (loaded {r['loaded_mib']:.0f} + input "
            f"{r['in_mib']:.0f} + output {r['out_mib']:.0f} MiB); extra {r['extra_mib']:.0f} MiB "
            f"({r['extra_bytes_per_px']:.1f} B per input pixel); weights "
            f"{r['params_mib']:.2f} MiB; numpy peak (tracemalloc) {r['traced_peak_mib']:.0f} MiB; "
            f"{r['seconds']:.1f} s",
            flush=True,
        )
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
