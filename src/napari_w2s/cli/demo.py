"""``w2s demo``: the main job end to end on the embedded simulated sample."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import EXIT_OK, _at_least, _print_json, add_command


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    report = run_demo(
        Path(args.out),
        size=args.size,
        frames=args.frames,
        seed=args.seed,
        log=None if args.json else print,
    )
    if args.json:
        _print_json(report)
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``w2s demo`` to the sub-commands ``sub``."""
    p = add_command(
        sub, "demo", cmd_demo, "Run the main job end to end on the embedded simulated sample."
    )
    p.add_argument("--out", default="w2s-demo", help="output folder (default: ./w2s-demo)")
    p.add_argument("--size", type=int, default=256, help="widefield image size in pixels")
    p.add_argument("--frames", type=int, default=400, help="frames in the stack")
    p.add_argument(
        "--seed",
        type=_at_least(0),
        default=None,
        help="random seed (default: the fixed seed of the napari sample)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
