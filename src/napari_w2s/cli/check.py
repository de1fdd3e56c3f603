"""``w2s check``: is a restoration supported by its input (forward consistency)?"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import W2SInputError
from ._common import (
    EXIT_OK,
    _output_file,
    _positive,
    _print_json,
    _read_2d,
    add_command,
)


def cmd_check(args: argparse.Namespace) -> int:
    import numpy as np

    from ..analysis.consistency import check_restoration

    out = _output_file(args.map, (".npy", ".tif", ".tiff"), "the map", [args.restored, args.input])
    restored = _read_2d(args.restored, "restored image")
    image = _read_2d(args.input, "input image")
    noise = _parse_pair(args.noise, "--noise") if args.noise else None
    optics = None
    given = [v is not None for v in (args.na, args.wavelength, args.pixel_size)]
    if any(given):
        if not all(given):
            raise W2SInputError("--na, --wavelength and --pixel-size go together")
        optics = (args.na, args.wavelength, args.pixel_size)
    if args.window < 1 or args.window % 2 == 0:
        raise W2SInputError(f"--window must be an odd number >= 1, not {args.window}")
    t0 = time.perf_counter()
    result = check_restoration(restored, image, args.kernel, optics, noise, window=args.window)
    source = result.kernel_source
    seconds = time.perf_counter() - t0
    if out is not None:
        if out.suffix.lower() == ".npy":
            from ..io import save_npy

            save_npy(out, result.z.astype(np.float32))
        else:
            from ..io import write_ome_tiff

            write_ome_tiff(
                out,
                result.z.astype(np.float32),
                "YX",
                None,
                {
                    "check": result.to_dict(),
                    "restored": str(Path(args.restored).resolve()),
                    "input": str(Path(args.input).resolve()),
                },
                name="consistency",
            )
    report = {**result.to_dict(), "map": str(out) if out else None, "seconds": round(seconds, 3)}
    if args.json:
        _print_json(report)
    else:
        print(
            f"{result.verdict}: {100 * result.outside_3sigma:.2f} % of the pixels beyond 3 "
            f"sigma (max |z| {result.max_abs_z:.1f}, largest region {result.largest_region} px); "
            f"noise a={result.a:.4g} b={result.b:.4g}; kernel: {source}"
        )
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        if out:
            print(f"map -> {out}")
    return EXIT_OK


def _parse_pair(text: str, option: str) -> tuple[float, float]:
    import math

    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise W2SInputError(f"{option} must be two numbers A,B, got {text!r}") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise W2SInputError(f"{option} must be finite numbers, got {text!r}")
    return a, b


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``w2s check`` to the sub-commands ``sub``."""
    p = add_command(
        sub,
        "check",
        cmd_check,
        "Is a restoration supported by its input? Forward-consistency map and verdict.",
    )
    p.add_argument("restored", metavar="RESTORED", help="the restored image (x2 or same size)")
    p.add_argument("input", metavar="INPUT", help="the image it was restored from")
    p.add_argument(
        "--kernel",
        default=None,
        help="widefield-from-SIM kernel (.npy, e.g. from w2s estimate-kernel); default: "
        "fitted to the pair (one parameter, the optics' cutoff)",
    )
    p.add_argument(
        "--na",
        type=_positive,
        default=None,
        help="objective NA (with --wavelength and --pixel-size: the kernel from the optics)",
    )
    p.add_argument("--wavelength", type=_positive, default=None, help="emission wavelength, nm")
    p.add_argument("--pixel-size", type=_positive, default=None, help="INPUT's pixel size, µm")
    p.add_argument(
        "--noise",
        default=None,
        help="A,B: noise variance a * mean + b of INPUT (default: estimated from it)",
    )
    p.add_argument("--window", type=int, default=5, help="smoothing window, odd (default 5)")
    p.add_argument(
        "--map", default=None, help="write the z map (input grid, float32): .npy or .tif"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
