"""Benchmark: this checkout's engine against an earlier commit's (the 0.1.0 engine by default).

The earlier commit's ``src`` is extracted with ``git archive`` into a temporary folder. Every
variant is a warm worker process (its own ``PYTHONPATH``, thread count, backend, allocator and
OpenMP wait policy) that loads the method once, restores the image once as a warm-up, then
restores it again whenever asked; the variants take turns in every round (the order rotating),
so a change of the machine's load hits them alike, and the median over the rounds is reported,
of the wall clock and of the worker's CPU time (for one thread on a shared machine, the CPU
time leaves out the slices other jobs take; for several threads it adds theirs up).

Variants (``--variants``, comma-separated):

* ``old`` / ``old1``: the earlier engine with torch's default threads / 1 thread, glibc's
  allocator, no OpenMP wait policy (what 0.1.0 did);
* ``torch1`` / ``onnx1``: this engine on 1 thread, backend torch / ONNX Runtime, with what the
  ``w2s`` command sets (``keep_freed_memory``, ``OMP_WAIT_POLICY=PASSIVE``);
* ``torchauto`` / ``onnxauto``: the same with ``--threads auto``;
* ``torchall``: this engine with torch's default threads;
* ``bf16_1`` / ``bf16all``: ``torch1`` / ``torchall`` with ``--precision bfloat16`` (a CPU with
  native bfloat16: AVX512-BF16 or AMX).

Both engines run the earlier commit's shipped weights of ``--method`` (same network and card),
so only the engine differs.

    python benchmarks/bench_vs_release.py [--ref 2bd792e] [--method dncnn] [--size 512]
                                          [--rounds 7] [--variants old,old1,torch1,onnx1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
RELEASE_010 = "2bd792e"  # version 0.1.0: the commit before issue 21's first change

WORKER = r"""
import json, os, sys, time
cfg = json.loads(sys.argv[1])
if cfg["malloc"] == "tuned":
    from napari_w2s.restore.alloc import keep_freed_memory
    keep_freed_memory()
import numpy as np
import torch
from napari_w2s.restore.engine import resolve
kwargs = {}
if cfg["new"]:
    kwargs = {"threads": cfg["threads"], "backend": cfg["backend"]}
    if cfg["precision"]:
        kwargs["precision"] = cfg["precision"]
elif cfg["threads"] is not None:
    torch.set_num_threads(int(cfg["threads"]))
pipe = resolve(cfg["method"], device="cpu", weights=cfg["weights"], **kwargs)
size = cfg["size"]
image = np.random.default_rng(0).normal(150, 30, (size, size)).astype(np.float32)
pipe.run(image)  # warm-up
print(json.dumps({"ready": True, "threads": getattr(pipe.steps[0], "threads", None)}), flush=True)
for line in sys.stdin:
    if line.strip() != "run":
        break
    t0, c0 = time.perf_counter(), time.process_time()
    pipe.run(image)
    print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0}),
          flush=True)
"""

VARIANTS = {  # new, threads, backend, allocator, OpenMP wait policy[, precision]
    "old": (False, None, None, "default", None),
    "old1": (False, 1, None, "default", None),
    "torch1": (True, 1, "torch", "tuned", "PASSIVE"),
    "onnx1": (True, 1, "onnx", "tuned", "PASSIVE"),
    "torchauto": (True, "auto", "torch", "tuned", "PASSIVE"),
    "onnxauto": (True, "auto", "onnx", "tuned", "PASSIVE"),
    "torchall": (True, None, "torch", "tuned", "PASSIVE"),
    # bfloat16 on a CPU with native support (--precision bfloat16)
    "bf16_1": (True, 1, "torch", "tuned", "PASSIVE", "bfloat16"),
    "bf16all": (True, None, "torch", "tuned", "PASSIVE", "bfloat16"),
}


def extract(ref: str, dest: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(HERE), "archive", ref, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def start(name: str, old_src: Path, method: str, weights: str, size: int) -> subprocess.Popen:
    new, threads, backend, malloc, policy, *rest = VARIANTS[name]
    env = dict(os.environ, PYTHONPATH=str(HERE / "src" if new else old_src))
    env.pop("OMP_WAIT_POLICY", None)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    cfg = {
        "new": new,
        "threads": threads,
        "backend": backend,
        "precision": rest[0] if rest else None,
        "malloc": malloc,
        "method": method,
        "weights": weights,
        "size": size,
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(cfg)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    ready = json.loads(proc.stdout.readline())
    print(f"{name}: ready (threads {ready['threads']})", flush=True)
    return proc


def ask(proc: subprocess.Popen) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the worker) of one restore."""
    proc.stdin.write("run\n")
    proc.stdin.flush()
    answer = json.loads(proc.stdout.readline())
    return float(answer["seconds"]), float(answer["cpu"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default=RELEASE_010, help="the earlier commit (default: 0.1.0)")
    ap.add_argument("--method", default="dncnn")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--variants", default="old,old1,torch1,onnx1")
    args = ap.parse_args()
    names = [v.strip() for v in args.variants.split(",")]
    for v in names:
        if v not in VARIANTS:
            ap.error(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)}")
    with tempfile.TemporaryDirectory() as tmp:
        old_src = extract(args.ref, Path(tmp))
        cache = Path(tmp) / "onnx-cache"
        os.environ["NAPARI_W2S_ONNX_CACHE"] = str(cache)
        zoo = old_src / "napari_w2s" / "models" / "zoo"
        weights = sorted(zoo.glob(f"{args.method}-blind-*.safetensors"))
        weights = weights or sorted(zoo.glob(f"{args.method}-*.safetensors"))
        print(f"{args.ref}: {weights[0].name}; load {os.getloadavg()}", flush=True)
        procs = {v: start(v, old_src, args.method, str(weights[0]), args.size) for v in names}
        times: dict[str, list[float]] = {v: [] for v in names}
        cpu: dict[str, list[float]] = {v: [] for v in names}
        try:
            for r in range(args.rounds):
                order = names[r % len(names) :] + names[: r % len(names)]
                for v in order:
                    wall, used = ask(procs[v])
                    times[v].append(wall)
                    cpu[v].append(used)
                print(
                    f"round {r + 1}: "
                    + "  ".join(f"{v} {times[v][-1]:.3f} s" for v in names)
                    + f"  (load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
        finally:
            for proc in procs.values():
                proc.stdin.close()
                proc.wait()
    med = {v: statistics.median(t) for v, t in times.items()}
    med_cpu = {v: statistics.median(t) for v, t in cpu.items()}
    base = names[0]
    for v in names:
        print(
            f"{v:>10}: median {med[v]:.3f} s wall ({med[base] / med[v]:.2f}x faster than {base}), "
            f"{med_cpu[v]:.3f} s CPU ({med_cpu[base] / med_cpu[v]:.2f}x)"
        )
    print(
        json.dumps(
            {"ref": args.ref, "method": args.method, "size": args.size, "wall": times, "cpu": cpu}
        )
    )


if __name__ == "__main__":
    main()
