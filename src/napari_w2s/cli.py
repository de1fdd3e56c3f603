"""The ``w2s`` command.

Contract (docs/cli.md): every sub-command takes ``--help``; exit 0 on success, 2 on a user error
with one line on stderr (never a traceback); ``--json`` prints one JSON object on stdout.
Heavy modules are imported inside the sub-commands, so ``w2s --help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .errors import W2SInputError

EXIT_OK, EXIT_USAGE = 0, 2


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (and a pointer to --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _json_ready(obj: Any) -> Any:
    """Replace non-finite floats (JSON has no Infinity) by None, recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    return obj


def _print_json(obj: Any) -> None:
    print(json.dumps(_json_ready(obj), indent=2))


def _progress(desc: str, total: int, quiet: bool):
    """A tqdm bar on stderr (silent with --json or when stderr is not a terminal)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="frame", disable=quiet or not sys.stderr.isatty(),
               file=sys.stderr, leave=False)  # fmt: skip

    def update(done: int, _total: int) -> None:
        bar.update(done - bar.n)

    return bar, update


def _ensure_out_dir(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise W2SInputError(f"{out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise W2SInputError(f"{out}: cannot create the output folder ({err.strerror})") from err
    return out


# ---------------------------------------------------------------------------------- average
def cmd_average(args: argparse.Namespace) -> int:
    from .averaging import iter_noise_levels, parse_levels, run_generator
    from .io import read_stack, write_ome_tiff

    levels = parse_levels(args.levels)
    stack = read_stack(args.stack, axes=args.axes, channel=args.channel)
    if "T" not in stack.axes:
        raise W2SInputError(
            f"{args.stack}: a single {'x'.join(map(str, stack.shape))} image has no frames to "
            "average; noise levels need a stack (T, Y, X)"
        )
    out = _ensure_out_dir(Path(args.out))
    t0 = time.perf_counter()
    bar, update = _progress("averaging", stack.n_frames, args.json)
    with bar:
        gen = iter_noise_levels(stack.data, levels, mode=args.mode, seed=args.seed,
                                avg1_frame=args.avg1_frame)  # fmt: skip
        result = run_generator(gen, stack.n_frames, update)
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
        path = write_ome_tiff(out / f"{name}.tif", image, frame_axes, stack.pixel_size,
                              provenance, name=name)  # fmt: skip
        written[name] = {"path": str(path), "frames": _compact_frames(frames)}
    seconds = time.perf_counter() - t0
    if args.json:
        _print_json({"levels": written, "clean": result.clean, "n_frames": result.n_frames,
                     "notes": result.notes, "seconds": round(seconds, 3)})  # fmt: skip
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


# ---------------------------------------------------------------------------------- metrics
def _read_image(path: str, what: str) -> Any:
    import numpy as np

    from .io import read_stack

    stack = read_stack(path)
    return np.asarray(stack.data), stack


def cmd_metrics(args: argparse.Namespace) -> int:
    from .analysis.metrics import compare, match_affine, w2s_metrics

    pred, _ = _read_image(args.pred, "prediction")
    ref, _ = _read_image(args.ref, "reference")
    mode = "plain"
    if args.clean:
        clean, _ = _read_image(args.clean, "clean")
        result = w2s_metrics(pred, ref, clean, data_range=args.data_range)
        mode = "w2s"
    else:
        if args.match_affine:
            if pred.shape != ref.shape:
                raise W2SInputError(
                    f"the prediction {pred.shape} and the reference {ref.shape} have different "
                    "shapes"
                )
            ref = match_affine(ref, pred)
            mode = "affine"
        result = compare(pred, ref, data_range=args.data_range)
    result = {"rmse": result["rmse"], "psnr": result["psnr"], "ssim": result["ssim"],
              "data_range": result["data_range"], "mode": mode}  # fmt: skip
    if args.json:
        _print_json(result)
    else:
        print(f"RMSE {result['rmse']:.6g}   PSNR {result['psnr']:.2f} dB   "
              f"SSIM {result['ssim']:.4f}   ({mode}, data range {result['data_range']:.6g})")  # fmt: skip
    return EXIT_OK


# ---------------------------------------------------------------------------------- simulate
def cmd_simulate(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .simulate.dataset import iter_write_dataset

    t0 = time.perf_counter()
    total = args.fovs * args.channels * args.frames
    gen = iter_write_dataset(args.out_dir, fovs=args.fovs, size=args.size, frames=args.frames,
                             channels=args.channels, seed=args.seed, processed=args.processed)  # fmt: skip
    with tqdm(total=total, desc="simulating", unit="frame", file=sys.stderr, leave=False,
              disable=args.json or not sys.stderr.isatty()) as bar:  # fmt: skip
        while True:
            try:
                done, _ = next(gen)
            except StopIteration as stop:
                summary = stop.value
                break
            bar.update(done - bar.n)
    seconds = time.perf_counter() - t0
    if args.json:
        _print_json({"out_dir": str(args.out_dir), "seconds": round(seconds, 2), **summary})
    else:
        split = summary["split"]
        print(f"{args.fovs} fields of view x {args.channels} channels, {args.frames} frames of "
              f"{args.size} x {args.size} -> {args.out_dir} in {seconds:.1f} s")
        print(f"split: train {split['train']}, test {split['test']}"
              + ("; processed layout written" if args.processed else ""))  # fmt: skip
    return EXIT_OK


# ---------------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    report = run_demo(Path(args.out), size=args.size, frames=args.frames, seed=args.seed,
                      log=None if args.json else print)  # fmt: skip
    if args.json:
        _print_json(report)
    return EXIT_OK


# ---------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="w2s",
        description="Widefield2SIM: noise levels, metrics, restoration of widefield stacks.",
    )
    parser.add_argument("--version", action="version", version=f"napari-w2s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str) -> _Parser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("demo", cmd_demo, "Run the main job end to end on the embedded simulated sample.")
    p.add_argument("--out", default="w2s-demo", help="output folder (default: ./w2s-demo)")
    p.add_argument("--size", type=int, default=256, help="widefield image size in pixels")
    p.add_argument("--frames", type=int, default=400, help="frames in the stack")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed (default: the fixed seed of the napari sample)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("simulate", cmd_simulate,
            "Write a simulated W2S-like data set (raw layout, truth JSON, optional processed).")  # fmt: skip
    p.add_argument("out_dir", help="output folder (created; must not hold a data set already)")
    p.add_argument("--fovs", type=int, default=2, help="fields of view (default 2)")
    p.add_argument("--size", type=int, default=512, help="widefield size in pixels (default 512)")
    p.add_argument("--frames", type=int, default=400, help="frames per stack (default 400)")
    p.add_argument("--channels", type=int, default=3, help="channels (default 3)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--processed", action="store_true",
                   help="also write the processed layout {train,test}/avgN/NNN_C.npy")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("average", cmd_average,
            "Make noise levels by frame averaging (W2S: avg1 = frame 249, avgN = frames 0..N-1).")  # fmt: skip
    p.add_argument("stack", help="TIFF / OME-TIFF / .npy stack (T, Y, X) or a W2S ImageNNN folder")
    p.add_argument("--levels", default="1,2,4,8,16", help="frames per level (default 1,2,4,8,16)")
    p.add_argument("--out", required=True, help="output folder for avgN.tif (created if needed)")
    p.add_argument("--mode", default="w2s", choices=["w2s", "first", "random"],
                   help="which frames: W2S protocol, first N, or N at random")  # fmt: skip
    p.add_argument("--seed", type=int, default=None, help="seed of --mode random")
    p.add_argument("--avg1-frame", type=int, default=249, help="frame of avg1 in --mode w2s")
    p.add_argument("--axes", default=None, help="axes of the file, e.g. TYX or CTYX")
    p.add_argument("--channel", type=int, default=0, help="channel of a W2S ImageNNN folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("metrics", cmd_metrics, "RMSE, PSNR and SSIM of a prediction against a reference.")
    p.add_argument("pred", help="the image to measure")
    p.add_argument("ref", help="the reference (same shape; a SIM image with --clean)")
    p.add_argument("--match-affine", action="store_true",
                   help="map the reference affinely (least squares) onto the prediction first")  # fmt: skip
    p.add_argument("--clean", default=None,
                   help="clean LR image (avg400): W2S mode, z-scored with its statistics and the "
                        "reference affinely matched to it, as in the paper's tables")  # fmt: skip
    p.add_argument("--data-range", type=float, default=None,
                   help="PSNR/SSIM data range (default: reference max - min)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    try:
        return int(args.func(args) or EXIT_OK)
    except W2SInputError as err:
        print(f"w2s {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"w2s {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
