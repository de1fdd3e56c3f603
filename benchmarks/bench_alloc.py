"""Benchmark: ``w2s restore`` with the allocator settings of restore/alloc.py and without.

Fresh processes, the two variants alternating (``W2S_MALLOC=default`` turns the settings off),
median of the restore times the command reports (model loading excluded), and the peak RSS and
page faults of each process.

    python benchmarks/bench_alloc.py [--method jdsr] [--size 512] [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="jdsr")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", default="1")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.npy"
        np.save(src, np.random.default_rng(0).normal(150, 30, (args.size,) * 2).astype(np.float32))
        rows: dict[str, list[dict]] = {"tuned": [], "default": []}
        for r in range(args.rounds):
            for variant in ("tuned", "default") if r % 2 == 0 else ("default", "tuned"):
                env = {**os.environ, "W2S_MALLOC": "" if variant == "tuned" else "default"}
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                proc = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "napari_w2s.cli",
                        "restore",
                        str(src),
                        "--method",
                        args.method,
                        "--device",
                        "cpu",
                        "--threads",
                        args.threads,
                        "--out",
                        str(Path(tmp) / "out.npy"),
                        "--json",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                )
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                rows[variant].append(
                    {
                        "seconds": json.loads(proc.stdout)["seconds"],
                        "minor_faults": after.ru_minflt - before.ru_minflt,
                        "system_s": after.ru_stime - before.ru_stime,
                        "maxrss_mib": after.ru_maxrss / 1024,
                    }
                )
            print(
                f"round {r + 1}: "
                + "  ".join(
                    f"{v}: {rows[v][-1]['seconds']:.2f} s, {rows[v][-1]['minor_faults']} faults"
                    for v in rows
                ),
                flush=True,
            )
    med = {v: {k: statistics.median(x[k] for x in rows[v]) for k in rows[v][0]} for v in rows}
    for v in rows:
        print(
            f"{v:>8}: restore {med[v]['seconds']:.2f} s, page faults {med[v]['minor_faults']:.0f}"
            f", system time {med[v]['system_s']:.2f} s (whole process)"
        )
    print(
        f"speed-up {med['default']['seconds'] / med['tuned']['seconds']:.2f}x "
        "(peak RSS is not comparable: ru_maxrss of children is the largest so far)"
    )
    print(json.dumps({"rows": rows, "median": med}))


if __name__ == "__main__":
    main()
