"""`w2s batch` throughput and memory: many small files, locally and on a 2-worker LocalCluster.

Writes N 64 x 64 uint16 2-D TIFFs (default 200, and 50 for the memory comparison), restores
them with ``bicubic`` through :func:`napari_w2s.batch.run_batch` and prints files/s and the
peak memory of each configuration. Every configuration runs in a fresh Python process, so the
peak resident memory (``ru_maxrss``) is comparable between 50 and 200 files: it must not grow
with the number of files. The Python-level peak allocated during the run (``tracemalloc``) is
printed too, and for the cluster the workers' peak resident memory.

    python benchmarks/bench_batch.py [--files 200] [--small 50] [--size 64] [--method bicubic]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def write_inputs(folder: Path, n: int, size: int) -> None:
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        tifffile.imwrite(
            folder / f"cell{i:04d}.tif", rng.integers(100, 4000, (size, size)).astype(np.uint16)
        )


def one_run(mode: str, n: int, size: int, method: str, workers: int) -> dict:
    """One configuration in this process (called in a fresh subprocess by :func:`main`)."""
    import tracemalloc

    from napari_w2s.batch import run_batch

    tmp = Path(tempfile.mkdtemp(prefix="w2s-bench-batch-"))
    write_inputs(tmp / "in", n, size)
    # warm-up outside the measurement: imports, the first file's one-off costs
    write_inputs(tmp / "warm", 1, size)
    run_batch(tmp / "warm", "*", tmp / "warm_out", method)
    cluster = client = None
    scheduler = None
    worker_rss = None
    if mode == "cluster":
        import distributed

        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            worker_dashboard_address=None,
            host="127.0.0.1",
        )
        client = distributed.Client(cluster)
        scheduler = cluster.scheduler_address
        run_batch(tmp / "warm", "*", tmp / "warm_out2", method, scheduler=scheduler)
    rss_before = _rss_mib()
    tracemalloc.start()
    t0 = time.perf_counter()
    report = run_batch(
        tmp / "in",
        "*",
        tmp / "out",
        method,
        scheduler=scheduler,
        workers=1 if mode == "cluster" else workers,
    )
    seconds = time.perf_counter() - t0
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    if client is not None:
        rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        worker_rss = max(rss.values())
        client.close()
        cluster.close()
    assert report.ok and report.counts()["done"] == n, report.summary()
    return {
        "mode": mode,
        "files": n,
        "workers": workers,
        "seconds": seconds,
        "files_per_s": n / seconds,
        "rss_before_mib": rss_before,
        "rss_peak_mib": _rss_mib(),
        "traced_peak_mib": traced_peak,
        "worker_rss_peak_mib": worker_rss,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=200)
    p.add_argument("--small", type=int, default=50, help="the smaller run of the memory check")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--method", default="bicubic")
    p.add_argument(
        "--configs",
        default="local:1,local:2,cluster:2",
        help="comma-separated MODE:WORKERS, MODE local or cluster",
    )
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one run, JSON out
    args = p.parse_args(argv)
    if args.one:
        mode, n, workers = args.one.split(":")
        print(json.dumps(one_run(mode, int(n), args.size, args.method, int(workers))))
        return
    rows = []
    for config in args.configs.split(","):
        mode, workers = config.split(":")
        for n in (args.small, args.files):
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    f"{mode}:{n}:{workers}",
                    "--size",
                    str(args.size),
                    "--method",
                    args.method,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"{args.method} on {args.size} x {args.size} uint16 2-D TIFFs (one process per row)")
    print()
    print(
        "| run | files | files/s | peak RSS (MiB) | Python peak during run (MiB) | "
        "worker peak RSS (MiB) |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        label = f"{r['mode']}, {r['workers']} {'threads' if r['mode'] == 'local' else 'workers'}"
        worker = "-" if r["worker_rss_peak_mib"] is None else f"{r['worker_rss_peak_mib']:.0f}"
        print(
            f"| {label} | {r['files']} | {r['files_per_s']:.1f} | {r['rss_peak_mib']:.0f} | "
            f"{r['traced_peak_mib']:.2f} | {worker} |"
        )
    print()
    for i in range(0, len(rows), 2):
        small, big = rows[i], rows[i + 1]
        print(
            f"{small['mode']} {small['workers']}: peak RSS {big['files']} / {small['files']} "
            f"files = {big['rss_peak_mib'] / small['rss_peak_mib']:.2f}, Python peak "
            f"{big['traced_peak_mib'] / max(small['traced_peak_mib'], 1e-9):.2f}"
        )


if __name__ == "__main__":
    main()
