"""``w2s restore``: one image or stack restored with any method (``restore.files``), or one
noise level of a raw stack with its reliability map (``restore.stack_level``)."""

from __future__ import annotations

import argparse
import sys

from ..errors import W2SInputError
from ..restore.device import PRECISIONS
from ..restore.orientations import ORIENTATIONS
from ._common import (
    EXIT_OK,
    THREADS_HELP,
    _at_least,
    _print_json,
    _threads,
    add_command,
    progress_bar,
)


def _restore_level(args: argparse.Namespace, options: object) -> int:
    """``w2s restore STACK --level N [--reliability MAP]`` (restore/stack_level.py)."""
    from ..restore.stack_level import restore_level_file

    if args.level is None:
        raise W2SInputError("--reliability needs --level N: the frames averaged for each result")
    done = restore_level_file(
        args.input,
        args.out,
        options,
        args.level,
        args.reliability,
        axes=args.axes,
        channel=args.channel,
    )
    for note in done.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        _print_json(
            {
                "out": str(done.path),
                "level": f"avg{done.level}",
                "frames": done.frames,
                "reliability_map": str(done.map_path) if done.map_path else None,
                "reliability": done.reliability,
                "seconds": round(done.seconds, 3),
            }
        )
    else:
        extra = ""
        if done.map_path:
            r = done.reliability
            extra = (
                f"; reliability map -> {done.map_path} (predicted RMSE "
                f"{r['predicted_rmse']:.4g}{'' if r['calibrated'] else ', uncalibrated'})"
            )
        print(
            f"{done.method}: avg{done.level} of frames {done.frames[0]}..{done.frames[-1]} "
            f"-> {done.path} in {done.seconds:.2f} s{extra}"
        )
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    from ..restore.alloc import keep_freed_memory
    from ..restore.files import RestoreOptions, restore_file

    keep_freed_memory()  # reuse freed feature maps: no page-fault storm per tile (glibc)
    options = RestoreOptions(
        method=args.method,
        noise_level=args.noise_level,
        device=args.device,
        tile=args.tile,
        threads=args.threads,
        weights=args.weights,
        backend=args.backend,
        precision=args.precision,
        orientations=args.orientations,
    )
    if args.level is not None or args.reliability is not None:
        return _restore_level(args, options)
    with progress_bar(args.method, "%", args.json) as show:
        done = restore_file(
            args.input, args.out, options, axes=args.axes, channel=args.channel, progress=show
        )
    for note in done.notes:  # a constant, sparse or saturated input: said, not hidden
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        _print_json(
            {
                "out": str(done.path),
                "shape": list(done.shape_out),
                "scale": done.scale,
                "seconds": round(done.seconds, 3),
                "pipeline": done.pipeline,
            }
        )
    else:
        print(
            f"{args.method}: {done.shape_in} -> {done.shape_out} in {done.seconds:.2f} s -> "
            f"{done.path}"
        )
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``w2s restore`` to the sub-commands ``sub``."""
    p = add_command(
        sub,
        "restore",
        cmd_restore,
        "Denoise, super-resolve or both (JDSR) an image or stack with any method.",
    )
    p.add_argument("input", help="TIFF / OME-TIFF / .npy image or stack (each plane is restored)")
    p.add_argument(
        "--method",
        default="jdsr",
        help="jdsr (default), dncnn, rcan, dncnn+rcan, pure-let, bicubic, ... (w2s models)",
    )
    p.add_argument("--out", required=True, help="output file (.ome.tif) or an existing folder")
    p.add_argument(
        "--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, mps"
    )
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        help="tile size in input pixels; 0 = whole image; default: from free memory",
    )
    p.add_argument("--threads", type=_threads, default=None, help=THREADS_HELP)
    p.add_argument(
        "--backend",
        choices=("auto", "torch", "onnx"),
        default="torch",
        help="what runs the networks: torch (default), onnx (ONNX Runtime on the CPU; the onnx "
        "extra) or auto (the faster for each model, measured once on this machine and cached)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto (mixed precision on CUDA, float32 elsewhere), float32, or bfloat16: 1.2-2.7x "
        "faster on a CPU with native bfloat16 (AVX512-BF16, AMX) or a recent GPU; differs from "
        "float32 by about 1 %% of the output's std (torch backend)",
    )
    p.add_argument(
        "--orientations",
        type=int,
        choices=ORIENTATIONS,
        default=1,
        help="average each network's result over 1 (default), 2, 4 or 8 flips and quarter turns "
        "of the image: N times slower, lower error (8: about 2 %% lower RMSE on held-out "
        "tests, docs/models.md)",
    )
    p.add_argument(
        "--weights",
        default=None,
        help="a .safetensors file with its .json card, the name of one of your "
        "models (w2s models), or a BioImage Model Zoo package (.zip or folder: "
        "2-D, one channel, same size or x2)",
    )
    p.add_argument(
        "--noise-level",
        default=None,
        help="auto, 1, 2, 4, 8 or 16: prefer the model trained for that level if one "
        "is shipped (auto estimates it); default: the noise-blind model",
    )
    p.add_argument("--axes", default=None, help="axes of the file, e.g. TYX")
    p.add_argument("--channel", type=int, default=0, help="channel of a W2S ImageNNN folder")
    p.add_argument(
        "--level",
        type=_at_least(1),
        default=None,
        metavar="N",
        help="a raw stack: restore the average of N frames as the W2S protocol takes "
        "them (avg1 = frame 249, avgN = frames 0..N-1) instead of every plane",
    )
    p.add_argument(
        "--reliability",
        default=None,
        metavar="MAP",
        help="with --level: also restore N other frames and write where the two "
        "results disagree (calibrated: the map's mean predicts the RMSE), "
        ".ome.tif or .npy",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
