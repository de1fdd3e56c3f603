"""Benchmark: the inference engine against a plain forward pass, memory on a large image, FLOP/s.

For each architecture's compact configuration (random weights; speed does not depend on them):

* throughput in megapixels/s on a 512 x 512 input, through the engine (``resolve`` + tiling
  with automatic tile size, the memory layout the engine probes as faster, ``inference_mode``) and through a plain untiled fp32
  eager forward of the same network (NCHW, ``no_grad``): ratio engine / plain (goal >= 1);
* achieved FLOP/s (2 x multiply-accumulates / time) as a fraction of this machine's float32
  matmul FLOP/s, measured in the same run;

and the peak memory (ru_maxrss of a fresh process) of restoring a 4096 x 4096 image with the
compact JDSR model, tiled (goal: bounded, well under 4 GB).

    python benchmarks/bench_engine.py [--models dncnn,rcan,jdsr] [--threads 2] [--big 4096]

``--fold-ab dncnn --rounds 7`` instead compares, interleaved (the two variants alternate in
every round, median over the rounds), the engine with BatchNorm folded into the convolutions
(the default) against the same engine without folding, and checks that the outputs agree.
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


def matmul_flops(threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    a @ b
    t0 = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * 2048**3 / (time.perf_counter() - t0)


def best(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def save_random(name: str, folder: Path) -> Path:
    import torch

    from napari_w2s.models import build_model, get_spec
    from napari_w2s.models.weights import ModelCard, save_model

    spec = get_spec(name)
    torch.manual_seed(0)
    card = ModelCard(name=name, architecture=spec.architecture, config=spec.config("compact"),
                     task=spec.task, scale=spec.scale, noise_level="blind",
                     normalisation={"kind": "zscore", "mean": 150.0, "std": 40.0})
    return save_model(build_model(name, "compact").eval(), folder / f"{name}.safetensors", card)


PEAK = """
import resource, sys, time, numpy as np
from napari_w2s.restore.engine import resolve
pipe = resolve("jdsr", weights=sys.argv[1])
image = np.random.default_rng(0).normal(150, 30, (int(sys.argv[2]),) * 2).astype(np.float32)
t0 = time.perf_counter()
out = pipe.run(image)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - t0,
      pipe.steps[0].timings["tile"])
"""


def fold_ab(names: str, size: int, rounds: int, threads: int) -> None:
    """Engine with and without BatchNorm folding, alternating, median of ``rounds``."""
    import statistics

    import napari_w2s.restore.fold as fold
    from napari_w2s.restore.engine import resolve

    image = np.random.default_rng(0).normal(150, 30, (size, size)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names.split(","):
            weights = str(save_random(name, Path(tmp)))
            folded = resolve(name, weights=weights, device="cpu", threads=threads)
            original = fold.fold_batchnorm
            fold.fold_batchnorm = lambda module: 0  # the 0.1.0 engine: no folding
            try:
                plain = resolve(name, weights=weights, device="cpu", threads=threads)
            finally:
                fold.fold_batchnorm = original
            diff = float(np.max(np.abs(folded.run(image) - plain.run(image))))
            times = {"folded": [], "unfolded": []}
            for r in range(rounds):
                pairs = [("folded", folded), ("unfolded", plain)]
                for key, pipe in pairs if r % 2 == 0 else pairs[::-1]:
                    t0 = time.perf_counter()
                    pipe.run(image)
                    times[key].append(time.perf_counter() - t0)
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"{name} {size}x{size}, {threads} thread(s), {rounds} rounds interleaved: "
                  f"folded {med['folded']:.3f} s, unfolded {med['unfolded']:.3f} s, speed-up "
                  f"{med['unfolded'] / med['folded']:.2f}x; BatchNorms folded "
                  f"{folded.steps[0].model.w2s_folded_bn}; max |difference| {diff:.2e} "
                  f"(image units, std 30)")
            print(json.dumps({"model": name, "times": times, "max_abs_diff": diff}))


def main() -> None:
    import torch

    from napari_w2s.models.timing import count_macs
    from napari_w2s.restore.engine import resolve

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="dncnn,memnet,ridnet,rcan,rdn,san,srfbn,epsr,esrgan,jdsr,care")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--big", type=int, default=4096)
    ap.add_argument("--fold-ab", default=None, metavar="MODELS",
                    help="only compare BatchNorm folding on/off for these models, interleaved")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    if args.fold_ab:
        fold_ab(args.fold_ab, args.size, args.rounds, args.threads)
        return
    torch.set_num_threads(args.threads)
    peak_flops = matmul_flops(args.threads)
    print(f"float32 matmul: {peak_flops / 1e9:.0f} GFLOP/s on {args.threads} threads")
    print(f"{'model':<8} {'engine MP/s':>11} {'plain MP/s':>10} {'ratio':>6} {'GFLOP/s':>8} "
          f"{'of matmul':>9}")
    rng = np.random.default_rng(0)
    image = rng.normal(150, 30, (args.size, args.size)).astype(np.float32)
    mp = args.size**2 / 1e6
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            weights = save_random(name, Path(tmp))
            pipe = resolve(name, weights=str(weights), device="cpu")
            t_engine = best(lambda: pipe.run(image))  # noqa: B023
            model = pipe.steps[0].model.to(memory_format=torch.contiguous_format)
            x = torch.from_numpy((image[None, None] - 150.0) / 40.0)

            def plain():
                with torch.no_grad():
                    model(x)  # noqa: B023

            t_plain = best(plain)
            cl = getattr(model, "w2s_channels_last", False)
            pipe.steps[0].model = model.to(
                memory_format=torch.channels_last if cl else torch.contiguous_format)
            flops = 2 * count_macs(name, "compact", args.size)
            row = {"model": name, "engine_mps": mp / t_engine, "plain_mps": mp / t_plain,
                   "ratio": t_plain / t_engine, "gflops": flops / t_engine / 1e9,
                   "fraction": flops / t_engine / peak_flops}
            rows.append(row)
            print(f"{name:<8} {row['engine_mps']:11.3f} {row['plain_mps']:10.3f} "
                  f"{row['ratio']:6.2f} {row['gflops']:8.1f} {row['fraction']:9.2f}")
        weights = save_random("jdsr", Path(tmp))
        proc = subprocess.run([sys.executable, "-c", PEAK, str(weights), str(args.big)],
                              capture_output=True, text=True, check=True)
        rss, seconds, tile = proc.stdout.split()
    print(f"compact jdsr on {args.big} x {args.big} -> {2 * args.big} x {2 * args.big}, tiled "
          f"(tile {tile}): peak RSS {float(rss):.0f} MiB, {float(seconds):.0f} s")
    print(json.dumps({"rows": rows, "big_rss_mib": float(rss), "big_seconds": float(seconds)}))


if __name__ == "__main__":
    main()
