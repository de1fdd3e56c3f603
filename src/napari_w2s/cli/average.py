"""``w2s average``: noise levels by frame averaging (the W2S protocol)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import W2SInputError
from ..progress import relay
from ._common import (
    EXIT_OK,
    _at_least,
    _ensure_out_dir,
    _print_json,
    _read_input,
    add_command,
    progress_bar,
)


def cmd_average(args: argparse.Namespace) -> int:
    from .._validate import refuse_overwriting_inputs
    from ..averaging import iter_noise_levels, parse_levels
    from ..io import write_ome_tiff

    levels = parse_levels(args.levels)
    stack = _read_input(args.stack, args)
    if "T" not in stack.axes:
        raise W2SInputError(
            f"{args.stack}: a single {'x'.join(map(str, stack.shape))} image has no frames to "
            "average; noise levels need a stack (T, Y, X)"
        )
    refuse_overwriting_inputs(
        [Path(args.out) / f"avg{n}.tif" for n in levels], [args.stack, stack.source]
    )
    out = _ensure_out_dir(Path(args.out))
    t0 = time.perf_counter()
    with progress_bar("averaging", "frame", args.json, total=stack.n_frames) as bar:
        gen = iter_noise_levels(
            stack.data, levels, mode=args.mode, seed=args.seed, avg1_frame=args.avg1_frame
        )
        result = relay(gen, bar)
    frame_axes = stack.axes.replace("T", "")
    written = {}
    for name, image in result.images.items():
        frames = result.frames[name]
        provenance = {
            "method": "frame-average",
            "level": name,
            "mode": args.mode,
            "seed": args.seed,
            "frames": _compact_frames(frames),
            "n_frames_averaged": len(frames),
            "source": str(Path(args.stack).resolve()),
        }
        path = write_ome_tiff(
            out / f"{name}.tif", image, frame_axes, stack.pixel_size, provenance, name=name
        )
        written[name] = {"path": str(path), "frames": _compact_frames(frames)}
    seconds = time.perf_counter() - t0
    if args.json:
        _print_json(
            {
                "levels": written,
                "clean": result.clean,
                "n_frames": result.n_frames,
                "notes": result.notes,
                "seconds": round(seconds, 3),
            }
        )
    else:
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        for name, info in written.items():
            print(f"{name:>8}  frames {info['frames']:<14} -> {info['path']}")
        print(f"{len(written)} levels from {result.n_frames} frames in {seconds:.2f} s")
    return EXIT_OK


def _compact_frames(frames: Sequence[int]) -> str:
    """``[0, 1, 2, 3]`` -> ``"0-3"``, ``[249]`` -> ``"249"``, anything else comma-joined."""
    if len(frames) > 1 and list(frames) == list(range(frames[0], frames[0] + len(frames))):
        return f"{frames[0]}-{frames[-1]}"
    return ",".join(map(str, frames))


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``w2s average`` to the sub-commands ``sub``."""
    p = add_command(
        sub,
        "average",
        cmd_average,
        "Make noise levels by frame averaging (W2S: avg1 = frame 249, avgN = frames 0..N-1).",
    )
    p.add_argument("stack", help="TIFF / OME-TIFF / .npy stack (T, Y, X) or a W2S ImageNNN folder")
    p.add_argument("--levels", default="1,2,4,8,16", help="frames per level (default 1,2,4,8,16)")
    p.add_argument("--out", required=True, help="output folder for avgN.tif (created if needed)")
    p.add_argument(
        "--mode",
        default="w2s",
        choices=["w2s", "first", "random"],
        help="which frames: W2S protocol, first N, or N at random",
    )
    p.add_argument("--seed", type=_at_least(0), default=None, help="seed of --mode random")
    p.add_argument(
        "--avg1-frame", type=_at_least(0), default=249, help="frame of avg1 in --mode w2s"
    )
    p.add_argument("--axes", default=None, help="axes of the file, e.g. TYX or CTYX")
    p.add_argument("--channel", type=int, default=0, help="channel of a W2S ImageNNN folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")
