"""Benchmark: ``--precision bfloat16`` against float32, per shipped network (speed and accuracy).

On a CPU with native bfloat16 (AVX512-BF16 or AMX) every shipped deep model restores the same
simulated views (settings of the generalisation benchmark's ``camera`` set, never trained on)
through the engine twice, float32 and bfloat16, taking turns, on ``--threads`` threads; it prints
the median time of each and their ratio, how far the bfloat16 result is from the float32 one
(RMS and largest difference, in output standard deviations) and both RMSEs against the truth
(the clean image for denoisers, SIM for SR and JDSR; the clean image's z-score, as the
generalisation benchmark scores). Exits 2 on a CPU without native bfloat16.

    python benchmarks/bench_precision.py [--size 512] [--views 2] [--rounds 3] [--threads 1]
                                         [--methods dncnn,jdsr]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="LR size of each view")
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="timed restores of each variant")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--methods", default=None, help="comma-separated (default: every network)")
    args = ap.parse_args()

    import numpy as np

    from napari_w2s.restore.alloc import keep_freed_memory
    from napari_w2s.restore.device import cpu_has_native_bf16
    from napari_w2s.restore.methods import is_classical
    from napari_w2s.restore.resolver import resolve
    from napari_w2s.restore.zoo import shipped
    from napari_w2s.simulate.randomised import make_view, shifted_settings

    if not cpu_has_native_bf16():
        print("this CPU has no native bfloat16 (AVX512-BF16 or AMX)", file=sys.stderr)
        return 2
    keep_freed_memory()
    threads = args.threads if args.threads == "auto" else int(args.threads)
    names = sorted({m["name"] for m in shipped() if not is_classical(m["name"])})
    if args.methods:
        names = [n.strip() for n in args.methods.split(",")]
    rng = np.random.default_rng(2024)
    views = [
        make_view(shifted_settings("camera", rng), args.size, (99, i)) for i in range(args.views)
    ]
    rows = []
    for name in names:
        pipes = {
            p: resolve(name, device="cpu", threads=threads, precision=p)
            for p in ("float32", "bfloat16")
        }
        task = pipes["float32"].steps[0].card.task
        seconds: dict[str, list[float]] = {p: [] for p in pipes}
        diffs, peaks, rmse = [], [], {p: [] for p in pipes}
        for v in views:
            image = v.clean if task == "sr" else v.levels["avg1"]
            truth = v.clean if task == "denoise" else v.sim
            sd = float(v.clean.std())
            out = {p: pipe.run(image) for p, pipe in pipes.items()}  # warm-up, and the results
            for r in range(args.rounds):
                for p in pipes if r % 2 == 0 else reversed(list(pipes)):
                    t0 = time.perf_counter()
                    pipes[p].run(image)
                    seconds[p].append(time.perf_counter() - t0)
            ref = out["float32"]
            d = out["bfloat16"] - ref
            diffs.append(float(np.sqrt(np.mean(d**2)) / ref.std()))
            peaks.append(float(np.abs(d).max() / ref.std()))
            for p, y in out.items():
                rmse[p].append(float(np.sqrt(np.mean(((y - truth) / sd) ** 2))))
        t32, t16 = (statistics.median(seconds[p]) for p in ("float32", "bfloat16"))
        row = {
            "method": name,
            "float32_s": round(t32, 4),
            "bfloat16_s": round(t16, 4),
            "speed-up": round(t32 / t16, 2),
            "rms_diff_std": round(max(diffs), 5),
            "max_diff_std": round(max(peaks), 4),
            "rmse_float32": round(float(np.mean(rmse["float32"])), 4),
            "rmse_bfloat16": round(float(np.mean(rmse["bfloat16"])), 4),
        }
        rows.append(row)
        print(
            f"{name:12s} float32 {t32:.3f} s  bfloat16 {t16:.3f} s  ({t32 / t16:.2f}x)  "
            f"diff rms {row['rms_diff_std']:.4f} max {row['max_diff_std']:.3f} output std  "
            f"RMSE {row['rmse_float32']:.4f} -> {row['rmse_bfloat16']:.4f}",
            flush=True,
        )
    print(json.dumps({"size": args.size, "views": args.views, "threads": threads, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
