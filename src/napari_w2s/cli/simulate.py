"""``w2s simulate``: a simulated W2S-like data set on disk."""

from __future__ import annotations

import argparse
import time

from ..progress import relay
from ._common import EXIT_OK, _at_least, _print_json, add_command, progress_bar


def cmd_simulate(args: argparse.Namespace) -> int:
    from ..simulate.dataset import iter_write_dataset

    t0 = time.perf_counter()
    total = args.fovs * args.channels * args.frames
    gen = iter_write_dataset(
        args.out_dir,
        fovs=args.fovs,
        size=args.size,
        frames=args.frames,
        channels=args.channels,
        seed=args.seed,
        processed=args.processed,
    )
    with progress_bar("simulating", "frame", args.json, total=total) as bar:
        summary = relay(gen, bar)
    seconds = time.perf_counter() - t0
    if args.json:
        _print_json({"out_dir": str(args.out_dir), "seconds": round(seconds, 2), **summary})
    else:
        split = summary["split"]
        print(
            f"{args.fovs} fields of view x {args.channels} channels, {args.frames} frames of "
            f"{args.size} x {args.size} -> {args.out_dir} in {seconds:.1f} s"
        )
        print(
            f"split: train {split['train']}, test {split['test']}"
            + ("; processed layout written" if args.processed else "")
        )
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``w2s simulate`` to the sub-commands ``sub``."""
    p = add_command(
        sub,
        "simulate",
        cmd_simulate,
        "Write a simulated W2S-like data set (raw layout, truth JSON, optional processed).",
    )
    p.add_argument("out_dir", help="output folder (created; must not hold a data set already)")
    p.add_argument("--fovs", type=int, default=2, help="fields of view (default 2)")
    p.add_argument("--size", type=int, default=512, help="widefield size in pixels (default 512)")
    p.add_argument("--frames", type=int, default=400, help="frames per stack (default 400)")
    p.add_argument("--channels", type=int, default=3, help="channels (default 3)")
    p.add_argument("--seed", type=_at_least(0), default=0, help="random seed (default 0)")
    p.add_argument(
        "--processed",
        action="store_true",
        help="also write the processed layout {train,test}/avgN/NNN_C.npy",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
