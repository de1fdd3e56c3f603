"""Benchmark: the inference engine against a plain forward pass, memory on a large image, FLOP/s.

For each architecture's compact configuration (random weights; speed does not depend on them):

* throughput in megapixels/s on a 512 x 512 input, through the engine (``resolve`` + tiling
  with automatic tile size, the memory layout the engine probes as faster, ``inference_mode``)
  and through a plain untiled fp32 eager forward of the same network (NCHW, ``no_grad``):
  ratio engine / plain (goal >= 1);
* achieved FLOP/s (2 x multiply-accumulates / time) as a fraction of this machine's float32
  matmul FLOP/s, measured in the same run;

and the peak memory (ru_maxrss of a fresh process) of restoring a 4096 x 4096 image with the
compact JDSR model, tiled (goal: bounded, well under 4 GB).

    python benchmarks/bench_engine.py [--models dncnn,rcan,jdsr] [--threads 2] [--big 4096]

``--fold-ab dncnn --rounds 7`` instead compares, interleaved (the two variants alternate in
every round, median over the rounds), the engine with BatchNorm folded into the convolutions
(the default) against the same engine without folding, and checks that the outputs agree.

``--lean-ab jdsr`` compares, the same way, the engine with RRDB's dense blocks in their
inference form (no concatenation, ``models/rrdbnet.py``) against the concatenating form.

``--backends`` instead runs every shipped model (its real weights) through the engine on both
backends, torch and ONNX Runtime (``restore/onnx_backend.py``; exports go to a temporary cache
unless ``$NAPARI_W2S_ONNX_CACHE`` is set), alternating in every round, median of ``--rounds``,
at each of ``--sizes`` (default 256,512; 1024 is slow): seconds, achieved GFLOP/s (2 x the
convolutions' multiply-accumulates / time) against a float32 matmul measured at the start and
at the end of the same run, the largest difference between the backends (of the output range),
and the peak memory of a fresh process restoring one image, in bytes per input pixel above
what the process held once the model was loaded (``--no-memory`` skips it)::

    python benchmarks/bench_engine.py --backends [jdsr,dncnn] --sizes 256,512 --threads 1

``--clock cpu`` times the process's CPU time instead of the wall clock (matmul included): on
one thread on a shared machine it leaves out the time slices other jobs take.

Take the figures on an idle machine: other jobs make both backends slower by different amounts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def matmul_flops(threads: int, clock=time.perf_counter) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    a @ b
    t0 = clock()
    for _ in range(5):
        a @ b
    return 5 * 2 * 2048**3 / (clock() - t0)


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
    card = ModelCard(
        name=name,
        architecture=spec.architecture,
        config=spec.config("compact"),
        task=spec.task,
        scale=spec.scale,
        noise_level="blind",
        normalisation={"kind": "zscore", "mean": 150.0, "std": 40.0},
    )
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
            print(
                f"{name} {size}x{size}, {threads} thread(s), {rounds} rounds interleaved: "
                f"folded {med['folded']:.3f} s, unfolded {med['unfolded']:.3f} s, speed-up "
                f"{med['unfolded'] / med['folded']:.2f}x; BatchNorms folded "
                f"{folded.steps[0].model.w2s_folded_bn}; max |difference| {diff:.2e} "
                f"(image units, std 30)"
            )
            print(json.dumps({"model": name, "times": times, "max_abs_diff": diff}))


def lean_ab(names: str, size: int, rounds: int, threads: int) -> None:
    """Engine with RRDB's inference forms (the default) and with the concatenating form
    (``block.lean = ""``), alternating, median of ``rounds``; outputs compared."""
    from napari_w2s.models.rrdbnet import ResidualDenseBlock5C
    from napari_w2s.restore.engine import resolve

    image = np.random.default_rng(0).normal(150, 30, (size, size)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names.split(","):
            weights = str(save_random(name, Path(tmp)))
            pipes = {
                v: resolve(name, weights=weights, device="cpu", threads=threads)
                for v in ("lean", "concatenating")
            }
            blocks = [
                m
                for m in pipes["concatenating"].steps[0].model.modules()
                if isinstance(m, ResidualDenseBlock5C)
            ]
            form = blocks[0].lean
            for block in blocks:
                block.lean = ""
            diff = float(
                np.max(np.abs(pipes["lean"].run(image) - pipes["concatenating"].run(image)))
            )
            times = {v: [] for v in pipes}
            for r in range(rounds):
                for v in list(pipes) if r % 2 == 0 else list(pipes)[::-1]:
                    t0 = time.perf_counter()
                    pipes[v].run(image)
                    times[v].append(time.perf_counter() - t0)
            med = {v: statistics.median(t) for v, t in times.items()}
            print(
                f"{name} {size}x{size}, {threads} thread(s), {rounds} rounds interleaved: "
                f"{form} form {med['lean']:.3f} s, concatenating {med['concatenating']:.3f} s, "
                f"speed-up {med['concatenating'] / med['lean']:.2f}x; max |difference| "
                f"{diff:.2e} (image units, std 30)"
            )
            print(json.dumps({"model": name, "form": form, "times": times, "max_abs_diff": diff}))


BACKEND_PEAK = """
import json, sys, numpy as np
from napari_w2s.restore.alloc import keep_freed_memory
keep_freed_memory()  # as the w2s command does
from napari_w2s.restore.engine import resolve

def status(key):  # bytes; VmHWM: the peak since the last reset
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

name, weights, size, backend, threads = sys.argv[1:6]
pipe = resolve(name, weights=weights, device="cpu", threads=int(threads), backend=backend)
image = np.random.default_rng(0).normal(150, 30, (int(size),) * 2).astype(np.float32)
# a child starts with its parent's peak (ru_maxrss survives fork and exec): reset it here
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = status("VmRSS:")
pipe.run(image)
print(json.dumps({"before": before, "peak": status("VmHWM:")}))
"""


def macs_of(card, size: int) -> int:
    """Multiply-accumulates of the convolutions and linear layers of ``card``'s network for
    one ``size`` x ``size`` input."""
    from napari_w2s.models.timing import count_macs

    return count_macs(card.name, card.config, size)


def peak_per_pixel(name: str, weights: str, size: int, backend: str, threads: int) -> float:
    """Peak RSS of a fresh process restoring one ``size`` x ``size`` image, in bytes per input
    pixel above what it held once the model was loaded (Linux: ``/proc/self/status``)."""
    proc = subprocess.run(
        [sys.executable, "-c", BACKEND_PEAK, name, weights, str(size), backend, str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    return (rec["peak"] - rec["before"]) / size**2


def backends(
    stems: str, sizes: list[int], rounds: int, threads: int, memory: bool, clock=time.perf_counter
) -> None:
    """Both backends per shipped model, alternating in every round (see the module's doc)."""
    from napari_w2s.errors import W2SInputError
    from napari_w2s.models.weights import read_card
    from napari_w2s.restore.alloc import keep_freed_memory
    from napari_w2s.restore.engine import resolve
    from napari_w2s.restore.zoo import shipped

    nan = float("nan")
    keep_freed_memory()  # as the w2s command does: no page-fault storm per image
    tmp = None
    if not os.environ.get("NAPARI_W2S_ONNX_CACHE"):
        tmp = tempfile.TemporaryDirectory()
        os.environ["NAPARI_W2S_ONNX_CACHE"] = tmp.name
    peak_start = matmul_flops(threads, clock)
    files = [Path(c["file"]) for c in shipped()]
    if stems != "all":
        wanted = stems.split(",")
        files = [f for f in files if f.stem in wanted or read_card(f).name in wanted]
    rows = []
    print(f"float32 matmul at the start: {peak_start / 1e9:.1f} GFLOP/s on {threads} thread(s)")
    print(
        f"{'model':<26} {'size':>5} {'torch s':>8} {'onnx s':>8} {'onnx x':>7} "
        f"{'GFLOP/s t/o':>12} {'of matmul t/o':>14} {'B/px t/o':>11} {'max diff':>9}"
    )
    for f in files:
        card = read_card(f)
        pipes = {}
        for b in ("torch", "onnx"):
            try:
                pipes[b] = resolve(
                    card.name, weights=str(f), device="cpu", threads=threads, backend=b
                )
            except W2SInputError as err:  # SAN: the ONNX backend refuses it, torch only
                print(f"{f.stem}: {b} skipped ({err})")
        for size in sizes:
            image = np.random.default_rng(size).normal(150, 30, (size, size)).astype(np.float32)
            outs = {b: p.run(image) for b, p in pipes.items()}  # warm-up
            span = float(outs["torch"].max() - outs["torch"].min())
            other = outs.get("onnx", outs["torch"] + np.nan)
            diff = float(np.abs(outs["torch"] - other).max()) / span
            times = {b: [] for b in pipes}
            for r in range(rounds):
                for b in list(pipes) if r % 2 == 0 else list(pipes)[::-1]:
                    t0 = clock()
                    pipes[b].run(image)
                    times[b].append(clock() - t0)
            med = {b: statistics.median(v) for b, v in times.items()}
            flops = 2 * macs_of(card, size)
            mem = {
                b: peak_per_pixel(card.name, str(f), size, b, threads) if memory else float("nan")
                for b in pipes
            }
            row = {
                "model": f.stem,
                "size": size,
                "seconds": med,
                "times": times,
                "gflops": {b: flops / t / 1e9 for b, t in med.items()},
                "bytes_per_pixel": mem,
                "max_diff_of_range": diff,
            }
            rows.append(row)
            g = {"onnx": nan, **row["gflops"]}
            med, mem = {"onnx": nan, **med}, {"onnx": nan, **mem}
            print(
                f"{f.stem:<26} {size:>5} {med['torch']:8.3f} {med['onnx']:8.3f} "
                f"{med['torch'] / med['onnx']:7.2f} {g['torch']:5.1f}/{g['onnx']:<6.1f} "
                f"{g['torch'] * 1e9 / peak_start:6.2f}/{g['onnx'] * 1e9 / peak_start:<7.2f} "
                f"{mem['torch']:5.0f}/{mem['onnx']:<5.0f} {diff:9.1e}"
            )
    peak_end = matmul_flops(threads, clock)
    print(
        f"float32 matmul at the end: {peak_end / 1e9:.1f} GFLOP/s (fractions above: of the "
        "start's figure)"
    )
    print(
        json.dumps(
            {
                "threads": threads,
                "clock": "cpu" if clock is time.process_time else "wall",
                "matmul_gflops": [peak_start / 1e9, peak_end / 1e9],
                "rows": rows,
            }
        )
    )
    if tmp is not None:
        os.environ.pop("NAPARI_W2S_ONNX_CACHE")
        tmp.cleanup()


def main() -> None:
    import torch

    from napari_w2s.models.timing import count_macs
    from napari_w2s.restore.engine import resolve

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models", default="dncnn,memnet,ridnet,rcan,rdn,san,srfbn,epsr,esrgan,jdsr,care"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--big", type=int, default=4096)
    ap.add_argument(
        "--fold-ab",
        default=None,
        metavar="MODELS",
        help="only compare BatchNorm folding on/off for these models, interleaved",
    )
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument(
        "--backends",
        nargs="?",
        const="all",
        default=None,
        metavar="MODELS",
        help="only compare the torch and ONNX Runtime backends on the shipped models (all, or "
        "names or file stems, comma-separated)",
    )
    ap.add_argument("--sizes", default="256,512", help="image sizes of --backends")
    ap.add_argument("--no-memory", action="store_true", help="--backends without peak memory")
    ap.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="--backends: wall time, or the process's CPU time (one thread on a shared "
        "machine: the time slices other jobs take are not counted, for the matmul either)",
    )
    ap.add_argument(
        "--lean-ab",
        default=None,
        metavar="MODELS",
        help="only compare RRDB's inference forms with concatenating, interleaved",
    )
    args = ap.parse_args()
    if args.lean_ab:
        lean_ab(args.lean_ab, args.size, args.rounds, args.threads)
        return
    if args.backends:
        sizes = [int(v) for v in args.sizes.split(",")]
        clock = time.process_time if args.clock == "cpu" else time.perf_counter
        backends(args.backends, sizes, args.rounds, args.threads, not args.no_memory, clock)
        return
    if args.fold_ab:
        fold_ab(args.fold_ab, args.size, args.rounds, args.threads)
        return
    torch.set_num_threads(args.threads)
    peak_flops = matmul_flops(args.threads)
    print(f"float32 matmul: {peak_flops / 1e9:.0f} GFLOP/s on {args.threads} threads")
    print(
        f"{'model':<8} {'engine MP/s':>11} {'plain MP/s':>10} {'ratio':>6} {'GFLOP/s':>8} "
        f"{'of matmul':>9}"
    )
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
                memory_format=torch.channels_last if cl else torch.contiguous_format
            )
            flops = 2 * count_macs(name, "compact", args.size)
            row = {
                "model": name,
                "engine_mps": mp / t_engine,
                "plain_mps": mp / t_plain,
                "ratio": t_plain / t_engine,
                "gflops": flops / t_engine / 1e9,
                "fraction": flops / t_engine / peak_flops,
            }
            rows.append(row)
            print(
                f"{name:<8} {row['engine_mps']:11.3f} {row['plain_mps']:10.3f} "
                f"{row['ratio']:6.2f} {row['gflops']:8.1f} {row['fraction']:9.2f}"
            )
        weights = save_random("jdsr", Path(tmp))
        proc = subprocess.run(
            [sys.executable, "-c", PEAK, str(weights), str(args.big)],
            capture_output=True,
            text=True,
            check=True,
        )
        rss, seconds, tile = proc.stdout.split()
    print(
        f"compact jdsr on {args.big} x {args.big} -> {2 * args.big} x {2 * args.big}, tiled "
        f"(tile {tile}): peak RSS {float(rss):.0f} MiB, {float(seconds):.0f} s"
    )
    print(json.dumps({"rows": rows, "big_rss_mib": float(rss), "big_seconds": float(seconds)}))


if __name__ == "__main__":
    main()
