"""Peak memory of `w2s restore` on a 64-plane stack against an 8-plane stack of the same planes.

`w2s restore` streams: each plane is read, restored and written before the next
(:func:`napari_w2s.restore.files.restore_file`), so its peak memory must not grow with the
number of planes (goal: 64 planes / 8 planes <= 1.3). For contrast, the same stacks go through
the engine's in-memory path (:func:`napari_w2s.restore.engine.iter_restore`, the whole output in
one array, then written), which is what `w2s restore` ran before.

Each figure comes from a fresh process: the command itself (``napari_w2s.cli.main``, what
``python -m napari_w2s.cli restore`` runs) reports its peak resident memory (``VmHWM``: its own
peak, where ``ru_maxrss`` may start from the parent's size at fork), and a second run under
``tracemalloc`` reports the peak of what the job allocates once the modules are imported (numpy
reports its buffers to it), which leaves out the interpreter, the libraries and the pages of
the memory-mapped input. The
input is a ``.npy`` of uint16 planes (memory-mapped, as an uncompressed TIFF would be); the
method is ``bicubic`` (x2, float32 output: 16 bytes out per input pixel), cheap enough for about
a minute.

    python benchmarks/bench_restore_memory.py [--sizes 256,512] [--planes 8,64] [--method bicubic]
                                              [--input npy|tif|zlib]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, tracemalloc

trace, kind, argv = sys.argv[1] == "traced", sys.argv[2], sys.argv[3:]
if trace:  # the modules first, and a small warm-up: the trace is of the job, not of imports
    import numpy as np
    import napari_w2s.cli, napari_w2s.io, napari_w2s.restore.files, tqdm.auto
    from napari_w2s.restore.engine import resolve

    resolve(argv[3]).run(np.random.default_rng(0).normal(100, 10, (64, 64)))
    tracemalloc.start()
if kind == "streamed":  # the command itself, as `python -m napari_w2s.cli restore ...` runs it
    from napari_w2s.cli import main

    assert main(argv) == 0
else:  # what `w2s restore` ran before: the whole output in one array, then written
    from napari_w2s.progress import drain
    from napari_w2s.io import read_stack, write_ome_tiff
    from napari_w2s.restore.alloc import keep_freed_memory
    from napari_w2s.restore.engine import iter_restore, resolve

    keep_freed_memory()
    src, out, method = argv[1], argv[5], argv[3]
    stack = read_stack(src)
    result = drain(iter_restore(resolve(method), stack.data))
    write_ome_tiff(out, result, stack.axes, None, {"method": method})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
try:  # this process's own peak (ru_maxrss may start from the parent's size at fork)
    with open("/proc/self/status") as fh:
        peak = next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM:"))
except OSError:
    pass
traced = tracemalloc.get_traced_memory()[1] if trace else 0
print(json.dumps({"rss_mib": peak, "traced_mib": traced / 2**20}))
"""


def measure(src: Path, out: Path, method: str, kind: str) -> dict:
    """Peak resident memory and the job's allocations' peak (MiB) of one case: two processes."""
    argv = ["restore", str(src), "--method", method, "--out", str(out), "--json"]
    row = {}
    for mode in ("rss", "traced"):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, mode, kind, *argv],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{kind} {src.name} failed:\n{proc.stderr}")
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        if mode == "rss":
            row.update(rss_mib=got["rss_mib"], seconds=time.perf_counter() - t0)
        else:
            row["traced_mib"] = got["traced_mib"]
        out.unlink()
    return row


def write_input(path: Path, planes: np.ndarray, kind: str) -> Path:
    """``planes`` as ``.npy`` (memory-mapped when read), a plain TIFF (memory-mapped too) or a
    zlib TIFF (decoded page by page)."""
    if kind == "npy":
        np.save(path.with_suffix(".npy"), planes)
        return path.with_suffix(".npy")
    import tifffile

    compression = "zlib" if kind == "zlib" else None
    tifffile.imwrite(
        path.with_suffix(".tif"),
        planes,
        photometric="minisblack",
        metadata={"axes": "TYX"},
        compression=compression,
    )
    return path.with_suffix(".tif")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="256,512", help="planes are SIZE x SIZE (default 256,512)")
    p.add_argument("--planes", default="8,64", help="the small and the large stack (default 8,64)")
    p.add_argument("--method", default="bicubic", help="any w2s method (default bicubic)")
    p.add_argument(
        "--input",
        default="npy",
        choices=["npy", "tif", "zlib"],
        help="input format: npy (default) or tif (memory-mapped), zlib (compressed "
        "TIFF, decoded page by page)",
    )
    args = p.parse_args(argv)
    small, large = (int(v) for v in args.planes.split(","))
    rows = []
    with tempfile.TemporaryDirectory(prefix="w2s-bench-restore-") as tmp:
        for size in (int(v) for v in args.sizes.split(",")):
            planes = np.random.default_rng(0).poisson(400, (large, size, size)).astype(np.uint16)
            for n in (small, large):
                src = write_input(Path(tmp) / f"stack{size}_{n}", planes[:n], args.input)
                for kind in ("streamed", "in-memory"):
                    out = Path(tmp) / f"out_{kind}.ome.tif"
                    row = measure(src, out, args.method, kind)
                    rows.append({"size": size, "planes": n, "path": kind, **row})
                src.unlink()
    print(f"{args.method}, uint16 planes in a {args.input} file; one fresh process per figure")
    print()
    print(
        "| planes of | path | planes | peak RSS (MiB) | job's allocations, peak (MiB) | seconds |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        what = "`w2s restore` (streamed)" if r["path"] == "streamed" else "in memory (before)"
        print(
            f"| {r['size']} x {r['size']} | {what} | {r['planes']} | {r['rss_mib']:.0f} | "
            f"{r['traced_mib']:.1f} | {r['seconds']:.1f} |"
        )
    print()
    for size in dict.fromkeys(r["size"] for r in rows):
        for kind in ("streamed", "in-memory"):
            a, b = (
                next(r for r in rows if (r["size"], r["planes"], r["path"]) == (size, n, kind))
                for n in (small, large)
            )
            rss, traced = b["rss_mib"] / a["rss_mib"], b["traced_mib"] / a["traced_mib"]
            goal = " (goal <= 1.3)" if kind == "streamed" else ""
            print(
                f"{size} x {size}, {kind}: {large} / {small} planes: peak RSS ratio "
                f"{rss:.2f}{goal}, allocations' peak ratio {traced:.2f}"
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
