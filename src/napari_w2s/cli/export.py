"""``w2s export-bmz``: a BioImage Model Zoo package of a shipped or trained model."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ._common import EXIT_OK, _at_least, _print_json, add_command


def cmd_export_bmz(args: argparse.Namespace) -> int:
    from ..bmz import export_package

    t0 = time.perf_counter()
    summary = export_package(
        args.source,
        args.out,
        seed=args.seed,
        size=args.size,
        torchscript=not args.no_torchscript,
        onnx=not args.no_onnx,
        log=None if args.json else print,
    )
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    if args.json:
        _print_json(summary)
    else:
        units = (
            "in the input's units"
            if summary["output_units"] == "input"
            else "in normalised units (the per-image map cannot be undone in BMZ)"
        )
        print(
            f"{summary['name']} ({Path(summary['source']).name}) -> {summary['out']}: "
            f"weights {', '.join(summary['weights'])}; output {units}; "
            f"{summary['seconds']:.1f} s"
        )
        print("check it with: bioimageio test " + summary["out"])
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``w2s export-bmz`` to the sub-commands ``sub``."""
    p = add_command(
        sub,
        "export-bmz",
        cmd_export_bmz,
        "Write a BioImage Model Zoo (0.5) package of a shipped or trained model, for Fiji "
        "(deepImageJ), ilastik and QuPath.",
    )
    p.add_argument(
        "source",
        metavar="METHOD_OR_WEIGHTS",
        help="a method with shipped weights (jdsr, dncnn, care, ...) or a "
        ".safetensors file with its .json card",
    )
    p.add_argument("--out", required=True, help="the package: a new folder, or a file ending .zip")
    p.add_argument(
        "--no-torchscript",
        action="store_true",
        help="leave out the TorchScript weights (QuPath needs them)",
    )
    p.add_argument(
        "--no-onnx",
        action="store_true",
        help="leave out the ONNX weights (written when onnx, onnxscript and "
        "onnxruntime are installed and the network's operators export)",
    )
    p.add_argument(
        "--size",
        type=_at_least(32),
        default=64,
        help="size of the simulated test image (32 + n x 8; default 64)",
    )
    p.add_argument("--seed", type=_at_least(0), default=0, help="seed of the test image")
    p.add_argument("--json", action="store_true", help="print one JSON object")
