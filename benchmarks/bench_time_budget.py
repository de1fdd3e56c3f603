"""Benchmark: JDSR against CARE at the same wall-time budget of training (issue 6's goal).

Trains the compact JDSR model and the CARE baseline for ``--minutes`` of wall time each, one
after the other (so each has every core), with the same command differing only in ``--model``
and ``--out``; then scores both on every test view of the data at every noise level (RMSE /
SSIM against SIM, W2S units, via ``w2s benchmark``) and prints:

* the iterations each model reached in the budget (CARE is the baseline of the same run);
* per level, JDSR - CARE in RMSE and SSIM;
* per level, the JDSR model against CAREamics' CARE figures quoted in issue 6 (15 minutes on 2
  CPU cores, noise-blind, other simulated data of 128 x 128 views: only the RMSE can be set
  against them, the two data sets give different SSIM for the same input).

Data: a W2S-layout folder; without ``--data`` one is simulated like the issue's (60 fields of
view of 128 x 128, seed 2027, about 4 minutes on 2 cores).

    python benchmarks/bench_time_budget.py [--data D128] [--minutes 15] [--threads 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CAREAMICS_15_MIN = {
    "avg1": (0.269, 0.818),
    "avg2": (0.228, 0.859),
    "avg4": (0.197, 0.891),
    "avg8": (0.178, 0.911),
    "avg16": (0.165, 0.925),
}
# The JDSR recipe for a short budget: the feature losses cost 30 % of an iteration and do not
# move RMSE / SSIM (docs/models.md, loss ablation), so a short run spends it on iterations.
RECIPE = [
    "--level",
    "blind",
    "--iterations",
    "1000000",
    "--batch",
    "8",
    "--patch",
    "48",
    "--lr",
    "1e-3",
    "--no-texture",
    "--no-perceptual",
    "--seed",
    "21",
]


def w2s(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "napari_w2s.cli", *args], check=True)


def train(model: str, data: Path, out: Path, minutes: float, threads: int) -> tuple[Path, dict]:
    w2s(
        "train",
        "--model",
        model,
        "--data",
        str(data),
        "--out",
        str(out),
        *RECIPE,
        "--max-minutes",
        str(minutes),
        "--threads",
        str(threads),
    )
    weights = out / f"{model}-blind-compact.safetensors"
    card = json.loads(weights.with_suffix(".json").read_text())
    return weights, card["training"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, help="W2S-layout data (default: simulate one)")
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, help="keep the runs here (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        data = args.data
        if data is None:
            data = root / "d128"
            w2s(
                "simulate",
                str(data),
                "--fovs",
                "60",
                "--size",
                "128",
                "--frames",
                "400",
                "--channels",
                "3",
                "--seed",
                "2027",
                "--processed",
            )
        runs = {m: train(m, data, root / m, args.minutes, args.threads) for m in ("jdsr", "care")}
        w2s(
            "benchmark",
            "--data",
            str(data),
            "--out",
            str(root / "bench"),
            "--views",
            "100000",
            "--denoisers",
            "dncnn",
            "--sr",
            "bicubic",
            "--jdsr",
            "jdsr,care",
            *(x for m, (w, _) in runs.items() for x in ("--weights", f"{m}={w}")),
        )
        report = json.loads((root / "bench" / "benchmark.json").read_text())
    t3 = report["tables"]["Table 3: sequential vs joint, RMSE/SSIM vs SIM"]
    print(
        f"\n{args.minutes:g} minutes of training each, {args.threads} thread(s), "
        f"{report['views']} test views of {data}"
    )
    for m, (_, info) in runs.items():
        print(f"  {m}: {info['iterations']} iterations in {info['wall_time_s']:.0f} s")
    print(
        "\nlevel   JDSR RMSE/SSIM   CARE RMSE/SSIM   JDSR-CARE RMSE  SSIM    "
        "CAREamics (quoted)  JDSR-CAREamics RMSE"
    )
    for level in report["levels"]:
        j, c = t3[f"jdsr | {level}"], t3[f"care | {level}"]
        ref = CAREAMICS_15_MIN.get(level)
        tail = f"{ref[0]:.3f}/{ref[1]:.3f}         {j['rmse'] - ref[0]:+.3f}" if ref else ""
        print(
            f"{level:<7} {j['rmse']:.3f}/{j['ssim']:.3f}      {c['rmse']:.3f}/{c['ssim']:.3f}"
            f"      {j['rmse'] - c['rmse']:+.3f}          {j['ssim'] - c['ssim']:+.3f}   {tail}"
        )


if __name__ == "__main__":
    main()
