"""``w2s benchmark``: the paper's Tables 1-3 and its claims on a W2S-layout data set."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import W2SInputError
from ..progress import drain
from ._common import EXIT_OK, EXIT_SOME_FAILED, _at_least, _print_json, add_command


def cmd_benchmark(args: argparse.Namespace) -> int:
    from ..benchmark import DENOISERS, JDSR, SR, iter_benchmark

    def pick(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
        return default if not value else tuple(v.strip() for v in value.split(",") if v.strip())

    levels = (
        [lv if lv.startswith("avg") else f"avg{lv}" for lv in args.levels.split(",")]
        if args.levels
        else None
    )
    from ..averaging import W2S_LEVEL_NAMES

    unknown = [lv for lv in levels or [] if lv not in W2S_LEVEL_NAMES]
    if unknown:
        raise W2SInputError(
            f"--levels {args.levels!r}: no level {unknown[0][3:]!r}; use some of 1, 2, 4, 8, 16"
        )
    weights = {}
    for item in args.weights or []:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise W2SInputError(
                f"--weights {item!r}: give METHOD=FILE, e.g. jdsr=run/jdsr.safetensors"
            )
        weights[name.strip().lower()] = path.strip()
    # the methods named on the command line must run (the default lists may hold n/a rows)
    named = [m for v in (args.denoisers, args.sr, args.jdsr) if v for m in pick(v, ())]
    t0 = time.perf_counter()
    report = drain(
        iter_benchmark(
            args.data,
            args.out,
            views=args.views,
            levels=levels,
            denoisers=pick(args.denoisers, DENOISERS),
            sr=pick(args.sr, SR),
            jdsr=pick(args.jdsr, JDSR),
            device=args.device,
            weights=weights,
            required=named,
            log=None if args.json else (lambda m: print(m, file=sys.stderr)),
        )
    )
    seconds = time.perf_counter() - t0
    if args.json:
        _print_json(
            {
                "out": args.out,
                "seconds": round(seconds, 1),
                "claims": report["claims"],
                "failed_methods": report["failed_methods"],
            }
        )
    else:
        print((Path(args.out) / "benchmark.md").read_text())
        print(f"written to {args.out} (benchmark.md, .csv, .json) in {seconds:.0f} s")
    for method, why in report["failed_methods"].items():  # named, but n/a on every image
        print(f"w2s benchmark: failed: {method}: no result on any image ({why})", file=sys.stderr)
    return EXIT_SOME_FAILED if report["failed_methods"] else EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``w2s benchmark`` to the sub-commands ``sub``."""
    p = add_command(
        sub,
        "benchmark",
        cmd_benchmark,
        "The paper's Tables 1-3 and its claims on the test split of a W2S-layout data set.",
    )
    p.add_argument("--data", required=True, help="data set folder (processed or raw W2S layout)")
    p.add_argument("--out", required=True, help="output folder (benchmark.md, .csv, .json)")
    p.add_argument("--views", type=_at_least(1), default=6, help="test views to use (default 6)")
    p.add_argument("--levels", default=None, help="noise levels, e.g. 1,2,4 (default: all)")
    p.add_argument("--denoisers", default=None, help="comma-separated (default: all six + vst-nlm)")
    p.add_argument("--sr", default=None, help="comma-separated SR methods (default: all + bicubic)")
    p.add_argument("--jdsr", default=None, help="comma-separated JDSR models (default: all)")
    p.add_argument(
        "--weights",
        action="append",
        metavar="METHOD=FILE",
        help="use these weights (with their card) for METHOD instead of the shipped "
        "ones, e.g. jdsr=runs/jdsr/jdsr-blind-compact.safetensors; repeatable",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--json", action="store_true", help="print one JSON object")
