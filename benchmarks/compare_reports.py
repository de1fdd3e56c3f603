"""Two runs of the generalisation benchmark on the same draw, one row against another, paired.

    python benchmarks/compare_reports.py A/generalisation.json B/generalisation.json \
        [--row jdsr] [--row-b ridnet+rcan]

What chooses between trained weights: run ``bench_generalisation.py --seed 778 --quick`` once
with the candidate (``--weights jdsr=FILE``, out A) and once with the shipped weights (out B),
then compare A's ``jdsr`` with B's. Prints, per set and level, both means and the paired
difference A - B with its standard error over the views (within about two standard errors of
0 is a tie another draw may turn), then the mean RMSE ratio A / B (and its range over the cells),
the mean SSIM difference, and in how many cells A is lower in RMSE and higher in SSIM.
``--row-b`` compares with another row (e.g. ``ridnet+rcan``) of B; B may be A itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from napari_w2s.benchmark.generalisation_report import compare_reports


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--row", default="jdsr", help="the row of A (default jdsr)")
    ap.add_argument("--row-b", default=None, help="the row of B (default: the same as --row)")
    args = ap.parse_args()
    try:
        a, b = (json.loads(Path(p).read_text()) for p in (args.a, args.b))
        c = compare_reports(a, b, args.row, args.row_b)
    except (OSError, ValueError) as err:
        print(f"compare_reports: {err}", file=sys.stderr)
        return 2
    rb = args.row_b or args.row
    print(f"A: {args.row} of {args.a}\nB: {rb} of {args.b}\n")
    print(
        "| set | level | A RMSE / SSIM | B RMSE / SSIM | A - B RMSE (± s.e.) | A - B SSIM (± s.e.) |"
    )
    print("|---|---|---|---|---|---|")
    for x in c["cells"]:
        print(
            f"| {x['set']} | {x['level']} | {x['a'][0]:.3f} / {x['a'][1]:.3f} "
            f"| {x['b'][0]:.3f} / {x['b'][1]:.3f} | {x['rmse']:+.4f} ± {x['rmse_se']:.4f} "
            f"| {x['ssim']:+.4f} ± {x['ssim_se']:.4f} |"
        )
    lo, hi = c["rmse_ratio_range"]
    n = len(c["cells"])
    print(
        f"\nRMSE ratio A / B: mean {c['rmse_ratio']:.3f} ({lo:.3f}-{hi:.3f}); "
        f"SSIM A - B: mean {c['ssim_difference']:+.4f}; A lower in RMSE in {c['lower_rmse']} "
        f"of {n} cells, higher in SSIM in {c['higher_ssim']} of {n}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
