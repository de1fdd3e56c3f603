"""The ``w2s`` command.

Contract (docs/cli.md): every sub-command takes ``--help``; exit 0 on success, 2 on a user error
with one line on stderr (never a traceback); ``--json`` prints one JSON object on stdout.
Heavy modules are imported inside the sub-commands, so ``w2s --help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from ._generators import drain
from .errors import W2SInputError

EXIT_OK, EXIT_USAGE = 0, 2


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (and a pointer to --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small; use at least {minimum}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def _positive(text: str) -> float:
    """An argparse type: a finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number above 0")
    return value


def _threads(text: str) -> int | str:
    """An argparse type: ``auto`` or a whole number of at least 1 (CPU threads)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither auto nor a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small; use auto or at least 1")
    return value


_threads.__name__ = "threads"  # argparse names the type in its messages

THREADS_HELP = (
    "CPU threads for the networks: a number, or auto = the cores free now (this "
    "process's cores minus the load average); default: every core"
)


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

    bar = tqdm(
        total=total,
        desc=desc,
        unit="frame",
        disable=quiet or not sys.stderr.isatty(),
        file=sys.stderr,
        leave=False,
    )

    def update(done: int, _total: int) -> None:
        bar.update(done - bar.n)

    return bar, update


def _ensure_out_dir(out: Path) -> Path:
    """Create the output folder if needed and check that it can be written in, up front."""
    from .batch import check_output_dir

    return check_output_dir(out)


def _read_input(path: str, args: argparse.Namespace) -> Any:
    """``read_stack`` of a command's input with its ``--axes`` and ``--channel``; ``--channel``
    chooses among a W2S folder's files, so on a single file it would do nothing: refused."""
    from .restore.files import read_input

    return read_input(path, args.axes, args.channel)


# ---------------------------------------------------------------------------------- average
def cmd_average(args: argparse.Namespace) -> int:
    from ._validate import refuse_overwriting_inputs
    from .averaging import iter_noise_levels, parse_levels, run_generator
    from .io import write_ome_tiff

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
    bar, update = _progress("averaging", stack.n_frames, args.json)
    with bar:
        gen = iter_noise_levels(
            stack.data, levels, mode=args.mode, seed=args.seed, avg1_frame=args.avg1_frame
        )
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
    result = {
        "rmse": result["rmse"],
        "psnr": result["psnr"],
        "ssim": result["ssim"],
        "data_range": result["data_range"],
        "mode": mode,
    }
    if args.json:
        _print_json(result)
    else:
        print(
            f"RMSE {result['rmse']:.6g}   PSNR {result['psnr']:.2f} dB   "
            f"SSIM {result['ssim']:.4f}   ({mode}, data range {result['data_range']:.6g})"
        )
    return EXIT_OK


# ---------------------------------------------------------------------------------- estimation
def _read_2d(path: str, what: str) -> Any:
    image, _ = _read_image(path, what)
    if image.ndim != 2:
        raise W2SInputError(
            f"{path}: the {what} has shape {image.shape}; give one 2-D image (e.g. avg1.tif), "
            "not a stack"
        )
    return image


def _parse_clip(text: str) -> Any:
    if text == "auto":
        return "auto"
    if text == "none":
        return None
    try:
        lo, hi = (None if v.strip() in ("", "none") else float(v) for v in text.split(","))
    except ValueError:
        raise W2SInputError(f"--clip must be auto, none or LO,HI, got {text!r}") from None
    return lo, hi


def _read_frames(path: str, axes: str | None) -> Any:
    """An image (Y, X) or a stack of frames (T, Y, X) of one channel."""
    import numpy as np

    from .io import read_stack

    stack = read_stack(path, axes=axes)
    data = stack.data
    if "C" in stack.axes or "Z" in stack.axes:
        raise W2SInputError(
            f"{path}: axes {stack.axes}; give one channel, frames only (T, Y, X) or one image"
        )
    if "T" in stack.axes and stack.n_frames >= 2:
        return data
    return np.asarray(data).reshape(np.asarray(data).shape[-2:])


def cmd_estimate_noise(args: argparse.Namespace) -> int:
    from .analysis.noise import estimate_noise, estimate_noise_paired, estimate_noise_stack

    if args.frames and not args.clean:
        raise W2SInputError(
            "--frames corrects the paired estimate for shared frames; it needs --clean"
        )
    clip = _parse_clip(args.clip)
    t0 = time.perf_counter()
    if args.clean:
        image = _read_2d(args.image, "image")
    else:
        data = _read_frames(args.image, args.axes)
        image = data if len(data.shape) == 2 else None
        if image is None and args.single:
            image = _read_2d_frame(data, args.frame)
    if args.clean:
        clean = _read_2d(args.clean, "clean image")
        frames = None
        if args.frames:
            try:
                frames = tuple(int(v) for v in args.frames.split(","))
                n, total = frames
            except ValueError:
                raise W2SInputError(f"--frames must be n,N, got {args.frames!r}") from None
            frames = (n, total)
        est = estimate_noise_paired(image, clean, clip=clip, frames=frames)
    elif image is None:
        est = estimate_noise_stack(data, clip=clip)
        image = _read_2d_frame(data, 0)
    else:
        est = estimate_noise(image, clip=clip)
    seconds = time.perf_counter() - t0
    lo, hi = float(image.min()), float(image.max())
    a01, b01 = est.rescaled(lo, hi)
    gat_a, gat_sigma2, gat_offset = est.gat_params()
    report = {
        "a": est.a,
        "b": est.b,
        "method": est.method,
        "n_level_sets": int(est.used.sum()),
        "clip": [v if math.isfinite(v) else None for v in est.clip],
        "a_01": a01,
        "b_01": b01,
        "image_min": lo,
        "image_max": hi,
        "gat": {"a": gat_a, "sigma2": gat_sigma2, "offset": gat_offset},
        "a_ci": list(est.a_ci),
        "b_ci": list(est.b_ci),
        "answered_by": {"frames": "frames", "single-image": "single image", "paired": "paired"}[
            est.method
        ],
        **({"details": est.extra} if est.extra else {}),
        "notes": list(est.notes),
        "seconds": round(seconds, 3),
    }
    if args.json:
        _print_json(report)
    else:
        for note in est.notes:
            print(f"note: {note}", file=sys.stderr)
        print(
            f"a = {est.a:.6g}   b = {est.b:.6g}   (variance = a * mean + b, image units; "
            f"{est.method}, {report['n_level_sets']} level sets)"
        )
        if math.isfinite(est.a_ci[0]):
            print(
                f"95% intervals: a {est.a_ci[0]:.4g} .. {est.a_ci[1]:.4g}, "
                f"b {est.b_ci[0]:.4g} .. {est.b_ci[1]:.4g}"
            )
        print(f"on the [0, 1] scale (min {lo:.6g} .. max {hi:.6g}): a = {a01:.4g}, b = {b01:.4g}")
    return EXIT_OK


def _read_2d_frame(data: Any, index: int) -> Any:
    import numpy as np

    n = int(data.shape[0])
    if not 0 <= index < n:
        raise W2SInputError(f"--frame {index} is outside the stack's {n} frames")
    return np.asarray(data[index])


def cmd_advise(args: argparse.Namespace) -> int:
    from .analysis.advisor import DEFAULT_LEVELS, advise

    data = _read_frames(args.data, args.axes)
    levels = DEFAULT_LEVELS
    if args.frames:
        try:
            levels = tuple(int(v) for v in args.frames.split(","))
        except ValueError:
            raise W2SInputError(
                f"--frames must be whole numbers like 1,2,4,8, got {args.frames!r}"
            ) from None
    t0 = time.perf_counter()
    adv = advise(
        data,
        target_psnr=args.target_psnr,
        levels=levels,
        reference_frames=args.reference_frames,
        data_range=args.data_range,
    )
    report = adv.to_dict()
    report["answered_by"] = "frames" if adv.method == "frames" else "single image"
    report["seconds"] = round(time.perf_counter() - t0, 3)
    if args.json:
        _print_json(report)
        return EXIT_OK
    for note in adv.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"noise of one frame: a = {adv.a:.4g}, b = {adv.b:.4g} (from the "
        f"{report['answered_by']}); clean range {adv.data_range:.4g}"
    )
    jdsr = any(r.jdsr is not None for r in adv.rows)  # JDSR RMSE against SIM, W2S units
    head = f"{'frames':>7} {'PSNR (dB)':>10} {'95% interval':>16} {'RMSE':>10}"
    print(head + (f" {'JDSR RMSE':>10}" if jdsr else ""))
    for r in adv.rows:
        cells = f"{r.psnr:10.2f} {r.psnr_low:7.2f} .. {r.psnr_high:5.2f} {r.rmse:10.4g}"
        print(f"{r.frames:>7} {cells}" + (f" {r.jdsr['rmse']:10.3f}" if jdsr else ""))
    if adv.target_psnr is not None:
        if adv.frames_needed is None:
            print(f"target {adv.target_psnr:g} dB: out of reach")
        else:
            print(f"target {adv.target_psnr:g} dB: average at least {adv.frames_needed} frames")
    return EXIT_OK


def cmd_estimate_kernel(args: argparse.Namespace) -> int:
    import numpy as np

    from ._validate import refuse_overwriting_inputs
    from .analysis.kernel import estimate_kernel

    out = _output_file(args.out, (".npy",), "the kernel", [args.lr_clean, args.hr])
    lr = _read_2d(args.lr_clean, "clean LR image")
    hr = _read_2d(args.hr, "HR image")
    t0 = time.perf_counter()
    est = estimate_kernel(
        lr, hr, size=args.size, upsample=args.upsample, reg=args.reg, lam=args.lam
    )
    seconds = time.perf_counter() - t0
    if out is not None:
        from .io import save_npy

        save_npy(out, est.kernel.astype(np.float64))
    report = est.to_dict()
    report.update({"out": str(out) if out else None, "seconds": round(seconds, 3)})
    if args.json:
        _print_json(report)
    else:
        print(
            f"FWHM {est.fwhm_px:.2f} px   sigma {est.sigma_px:.2f} px   energy within 6 px "
            f"{est.energy_r6:.1%}, within 12 px {est.energy_r12:.1%}   "
            f"({est.kernel.shape[0]} x {est.kernel.shape[1]} HR px, {est.upsample})"
        )
        if out:
            print(f"kernel -> {out}")
    return EXIT_OK


def _output_file(
    value: str | None, suffixes: tuple[str, ...], what: str, inputs: list[str]
) -> Path | None:
    """An output file name checked up front: its format, its folder, and that it is no input."""
    from ._validate import refuse_overwriting_inputs

    if not value:
        return None
    out = Path(value)
    if out.suffix.lower() not in suffixes:
        raise W2SInputError(
            f"{out}: {what} is written as {' or '.join(suffixes)}; give such a name"
        )
    if not out.parent.is_dir():
        raise W2SInputError(f"{out.parent}: no such folder")
    refuse_overwriting_inputs([out], inputs)
    return out


# ---------------------------------------------------------------------------------- check
def cmd_check(args: argparse.Namespace) -> int:
    import numpy as np

    from ._validate import refuse_overwriting_inputs
    from .analysis.consistency import check_restoration

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
            from .io import save_npy

            save_npy(out, result.z.astype(np.float32))
        else:
            from .io import write_ome_tiff

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


# ---------------------------------------------------------------------------------- simulate
def cmd_simulate(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .simulate.dataset import iter_write_dataset

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
    with tqdm(
        total=total,
        desc="simulating",
        unit="frame",
        file=sys.stderr,
        leave=False,
        disable=args.json or not sys.stderr.isatty(),
    ) as bar:
        summary = drain(gen, lambda item: bar.update(item[0] - bar.n))
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


# ---------------------------------------------------------------------------------- restore
def _restore_level(args: argparse.Namespace, options: object) -> int:
    """``w2s restore STACK --level N [--reliability MAP]`` (restore/stack_level.py)."""
    from .restore.stack_level import restore_level_file

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
    from tqdm.auto import tqdm

    from .restore.alloc import keep_freed_memory
    from .restore.files import RestoreOptions, restore_file

    keep_freed_memory()  # reuse freed feature maps: no page-fault storm per tile (glibc)
    options = RestoreOptions(
        method=args.method,
        noise_level=args.noise_level,
        device=args.device,
        tile=args.tile,
        threads=args.threads,
        weights=args.weights,
        backend=args.backend,
    )
    if args.level is not None or args.reliability is not None:
        return _restore_level(args, options)
    quiet = args.json or not sys.stderr.isatty()
    with tqdm(
        total=None, desc=args.method, unit="%", file=sys.stderr, leave=False, disable=quiet
    ) as bar:

        def show(rec: dict) -> None:
            frac = (rec["plane"] + rec["done"] / max(rec["total"], 1)) / rec["planes"]
            bar.n = round(100 * frac, 1)
            bar.refresh()

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


# ---------------------------------------------------------------------------------- batch
EXIT_SOME_FAILED = 3


def cmd_batch(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .batch import iter_batch
    from .restore.alloc import keep_freed_memory

    from .averaging import noise_level_option

    keep_freed_memory()  # reuse freed feature maps: no page-fault storm per tile (glibc)
    level = noise_level_option(args.noise_level)
    gen = iter_batch(
        args.in_dir,
        args.pattern,
        args.out_dir,
        args.method,
        device=args.device,
        tile=args.tile,
        recursive=args.recursive,
        workers=args.workers,
        scheduler=args.scheduler,
        overwrite=args.overwrite,
        weights=args.weights,
        noise_level=level,
        threads=args.threads,
    )
    bar = None
    try:
        while True:
            try:
                ev = next(gen)
            except StopIteration as stop:
                report = stop.value
                break
            if ev["event"] == "start":
                for note in ev["notes"]:
                    print(f"note: {note}", file=sys.stderr)
                if not args.json:
                    where = f" on {args.scheduler}" if args.scheduler else ""
                    skipped = (
                        (
                            f", {ev['skipped']} skipped (already done; --overwrite restores "
                            "them again)"
                        )
                        if ev["skipped"]
                        else ""
                    )
                    cleaned = (
                        (f", {ev['cleaned']} stale temporary file(s) of an interrupted run removed")
                        if ev["cleaned"]
                        else ""
                    )
                    print(
                        f"{ev['n_files']} file(s): {ev['todo']} to restore with {args.method}"
                        f"{where}{skipped}{cleaned}",
                        flush=True,
                    )
                bar = tqdm(
                    total=ev["todo"],
                    desc=f"batch {args.method}",
                    unit="file",
                    file=sys.stderr,
                    leave=False,
                    disable=args.json or not sys.stderr.isatty(),
                )
            elif ev["event"] == "result" and ev["status"] != "skipped":
                if bar is not None:
                    bar.update(1)
                if ev["status"] == "failed":
                    print(f"w2s batch: failed: {ev['rel']}: {ev['message']}", file=sys.stderr)
                elif not args.json:
                    line = (
                        f"[{ev['completed']}/{ev['n_files']}] {ev['rel']} -> {ev['out']} "
                        f"({ev['seconds']:.2f} s)"
                    )
                    (
                        bar.write(line, file=sys.stdout)
                        if bar is not None and not bar.disable
                        else print(line, flush=True)
                    )
    finally:
        gen.close()
        if bar is not None:
            bar.close()
    if args.json:
        _print_json({**report.to_dict(), "report": report.report})
    else:
        print(f"{report.summary()}; report: {report.report}")
    if report.report_error:  # the files went through, but the record of them did not
        print(f"w2s batch: error: {report.report_error}", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK if report.ok else EXIT_SOME_FAILED


# ---------------------------------------------------------------------------------- models
def cmd_models(args: argparse.Namespace) -> int:
    from .models import get_spec, list_models, parameter_count
    from .restore import classical
    from .restore.zoo import shipped, user_models, user_models_dir

    cards = shipped()
    rows = []
    for name in list_models():
        spec = get_spec(name)
        mine = [c for c in cards if c["name"] == name]
        rows.append(
            {
                "name": name,
                "task": spec.task,
                "architecture": spec.architecture,
                "params_full": parameter_count(name, "full"),
                "params_shipped": mine[0]["params"] if mine else None,
                "weights": bool(mine),
                "levels": sorted(c["noise_level"] for c in mine),
                "description": spec.description,
            }
        )
    for name in classical.METHODS:
        rows.append(
            {
                "name": name,
                "task": "sr" if name == "bicubic" else "denoise",
                "architecture": "classical",
                "params_full": 0,
                "params_shipped": 0,
                "weights": True,
                "levels": ["any"],
                "description": classical.DESCRIPTIONS.get(name, ""),
            }
        )
    users = []
    for c in user_models():  # the user's own models: picked by their file stem
        t = c.get("training") or {}
        users.append(
            {
                "name": c["stem"],
                "method": c["name"],
                "task": c.get("task"),
                "architecture": c.get("architecture"),
                "params_full": 0,
                "params_shipped": c.get("params"),
                "weights": True,
                "levels": [c.get("noise_level")],
                "source": "user",
                "file": c["file"],
                "initialised_from": (t.get("initialised_from") or {}).get("file"),
                "iterations": t.get("iterations"),
                "description": f"your {c['name']} model ({c['file']})",
            }
        )
    if args.json:
        print(json.dumps(rows + users, indent=2))
    else:
        print(f"{'name':<12} {'task':<8} {'params (paper)':>14} {'shipped':>9}  levels")
        for r in rows:
            shipped_params = f"{r['params_shipped']:,}" if r["params_shipped"] else "-"
            print(
                f"{r['name']:<12} {r['task']:<8} {r['params_full']:>14,} {shipped_params:>9}  "
                f"{', '.join(r['levels']) or '-'}"
            )
        print(f"\nyour models ({user_models_dir()}; run one with --method NAME):")
        if not users:
            print("  none yet (w2s finetune, or the Train widget, saves them here)")
        for r in users:
            start = (
                f"fine-tuned from {r['initialised_from']}"
                if r["initialised_from"]
                else "from scratch"
            )
            print(
                f"  {r['name']:<32} {r['method']:<8} {r['task']:<7} {r['levels'][0]:<6} "
                f"{r['iterations']} it, {start}"
            )
    return EXIT_OK


# ---------------------------------------------------------------------------------- benchmark
def cmd_benchmark(args: argparse.Namespace) -> int:
    from .benchmark import DENOISERS, JDSR, SR, iter_benchmark

    def pick(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
        return default if not value else tuple(v.strip() for v in value.split(",") if v.strip())

    levels = (
        [lv if lv.startswith("avg") else f"avg{lv}" for lv in args.levels.split(",")]
        if args.levels
        else None
    )
    from .averaging import W2S_LEVEL_NAMES

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


# ---------------------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .training.trainer import TrainConfig, iter_train

    levels = None
    if args.level and args.level != "blind":
        levels = [lv if lv.startswith("avg") else f"avg{lv}" for lv in args.level.split(",")]
    cfg = TrainConfig(
        model=args.model,
        data=args.data,
        out=args.out,
        levels=levels,
        config=args.config,
        iterations=args.iterations,
        batch=args.batch,
        patch=args.patch,
        lr=args.lr,
        loss_form=args.loss_form,
        features=args.features,
        texture=not args.no_texture,
        perceptual=not args.no_perceptual,
        gan=not args.no_gan,
        device=args.device,
        seed=args.seed,
        threads=args.threads,
        max_minutes=args.max_minutes,
        init=args.init,
        random_size=args.random_size,
        random_pool=args.random_pool,
        random_refresh=args.random_refresh,
    )
    gen = iter_train(cfg, resume=args.resume)
    with tqdm(
        total=cfg.iterations,
        desc=f"training {cfg.model}",
        unit="it",
        file=sys.stderr,
        disable=args.json or not sys.stderr.isatty(),
    ) as bar:

        def show(rec: dict) -> None:
            bar.n = rec["iteration"]
            bar.set_postfix(loss=f"{rec['loss']:.4f}", lr=f"{rec['lr']:.1e}")
            if not sys.stderr.isatty() and not args.json:
                print(
                    f"iteration {rec['iteration']}/{rec['iterations']} loss {rec['loss']:.5f} "
                    f"{rec['it_per_s']:.2f} it/s",
                    flush=True,
                )

        weights = drain(gen, show)
    from .models.weights import read_card

    card = read_card(weights)
    if args.json:
        _print_json(
            {
                "weights": str(weights),
                "card": str(weights.with_suffix(".json")),
                "metrics": card.metrics,
                "wall_time_s": card.training["wall_time_s"],
            }
        )
    else:
        print(f"weights -> {weights}")
        print(f"model card -> {weights.with_suffix('.json')}")
        for level, m in card.metrics.items():
            if isinstance(m, dict):
                print(f"  held-out {level}: RMSE {m['rmse']:.4f}  SSIM {m['ssim']:.4f}")
    return EXIT_OK


# ---------------------------------------------------------------------------------- finetune
def _is_dataset(path: Path) -> bool:
    """A W2S-layout data set folder (processed train/ test/, or raw ImageNNN/ views)."""
    return path.is_dir() and ((path / "train").is_dir() or any(path.glob("Image[0-9][0-9][0-9]")))


def cmd_finetune(args: argparse.Namespace) -> int:
    from .training.finetune import FinetuneConfig, iter_finetune

    src = Path(args.input)
    if not src.exists():
        raise W2SInputError(f"{src}: no such file or folder")
    level = None
    if args.level and args.level != "blind":
        level = args.level if args.level.startswith("avg") else f"avg{args.level}"
    cfg = FinetuneConfig(
        base=args.base,
        scratch=args.scratch,
        minutes=args.minutes,
        iterations=args.iterations,
        name=args.name,
        level=level,
        patch=args.patch,
        batch=args.batch,
        lr=args.lr,
        device=args.device,
        seed=args.seed,
        threads=args.threads,
        models_dir=args.out,
        log_every=args.log_every,
        command=shlex.join(["w2s", *(sys.argv[1:] or ["finetune"])]),
    )
    if _is_dataset(src):
        if args.sim:
            raise W2SInputError("--sim is for a single stack; a data set folder has its own SIM")
        gen = iter_finetune(cfg, folder=str(src), resume=args.resume)
    else:
        stack = _read_input(str(src), args)
        sim = _read_image(args.sim, "SIM")[0] if args.sim else None
        gen = iter_finetune(cfg, stack=stack.data, sim=sim, resume=args.resume, data_name=src.name)

    noted: list[str] = []

    def show(rec: dict) -> None:
        if "loss" in rec and not args.json and not noted:  # the data passed every check
            noted.append(rec["supervision"])
            print(f"w2s finetune: supervision: {rec['supervision']}", file=sys.stderr)
        if "loss" in rec and not args.json:
            val = (
                f" val RMSE {rec['val']:.4f} (start {rec['val_start']:.4f})" if "val" in rec else ""
            )
            print(
                f"iteration {rec['iteration']} loss {rec['loss']:.5f}{val} "
                f"{rec['it_per_s']:.2f} it/s",
                file=sys.stderr,
                flush=True,
            )

    weights = drain(gen, show)
    from .models.weights import read_card

    card = read_card(weights)
    if args.json:
        _print_json(
            {
                "weights": str(weights),
                "name": weights.stem,
                "metrics": card.metrics,
                "iterations": card.training["iterations"],
                "supervision": card.training.get("supervision"),
            }
        )
    else:
        print(
            f"model {weights.stem} -> {weights} ({card.training['iterations']} iterations); "
            f"run it with: w2s restore IMAGE --method {weights.stem} --out DIR"
        )
    return EXIT_OK


# ---------------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

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


# ---------------------------------------------------------------------------------- export-bmz
def cmd_export_bmz(args: argparse.Namespace) -> int:
    from .bmz import export_package

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


# ---------------------------------------------------------------------------------- doctor
def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import format_report, report

    r = report()
    if args.json:
        _print_json(r)
    else:
        print(format_report(r))
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
    p.add_argument(
        "--seed",
        type=_at_least(0),
        default=None,
        help="random seed (default: the fixed seed of the napari sample)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add(
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

    p = add(
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

    p = add(
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

    p = add(
        "doctor",
        cmd_doctor,
        "What this installation runs on (versions, devices, display, weights): for bug reports.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("models", cmd_models, "List the methods, their parameters and the shipped weights.")
    p.add_argument("--json", action="store_true", help="print one JSON array")

    p = add(
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

    p = add(
        "finetune",
        cmd_finetune,
        "Adapt a model to your microscope: fine-tune a shipped model on a widefield stack "
        "(+ its SIM) or a W2S-layout folder; saved in your model folder.",
    )
    p.add_argument(
        "input", help="a widefield stack (T, Y, X) file, or a W2S-layout data set folder"
    )
    p.add_argument(
        "--sim",
        default=None,
        help="the stack's SIM image (2Y x 2X, registered): supervised fine-tuning; "
        "without it JDSR models learn self-supervised from the stack (disjoint "
        "frames + forward consistency), denoisers from its average",
    )
    p.add_argument(
        "--base",
        default="jdsr",
        help="the model to start from: a method (its shipped weights) or one of your "
        "models (default jdsr)",
    )
    p.add_argument(
        "--scratch", action="store_true", help="train --base's method from random weights"
    )
    p.add_argument("--minutes", type=_positive, default=5.0, help="time budget (default 5)")
    p.add_argument(
        "--iterations",
        type=_at_least(1),
        default=100_000,
        help="upper bound on the iterations (default 100000)",
    )
    p.add_argument("--name", default=None, help="the new model's name (default METHOD-ft-DATE)")
    p.add_argument(
        "--out", default=None, help="model folder (default: your model folder, see w2s models)"
    )
    p.add_argument("--resume", action="store_true", help="continue a stopped run of this --name")
    p.add_argument("--level", default="blind", help="noise level to train on (default: all)")
    p.add_argument("--patch", type=_at_least(16), default=48, help="LR patch size (default 48)")
    p.add_argument("--batch", type=_at_least(1), default=8, help="batch size (default 8)")
    p.add_argument("--lr", type=_positive, default=None, help="learning rate (default by task)")
    p.add_argument("--log-every", type=_at_least(1), default=10, help="iterations per report")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=_at_least(0), default=0, help="random seed")
    p.add_argument("--threads", type=_at_least(1), default=None, help="CPU threads for torch")
    p.add_argument("--axes", default=None, help="axes of the stack file, e.g. TYX")
    p.add_argument("--channel", type=int, default=0, help="channel of a W2S ImageNNN folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add(
        "train", cmd_train, "Train a model on a W2S-layout data set (real or simulated); resumable."
    )
    p.add_argument(
        "--model", required=True, help="method name, e.g. jdsr, dncnn, rcan (w2s models)"
    )
    p.add_argument(
        "--data",
        required=True,
        help="data set folder (processed or raw W2S layout), or `random`: views "
        "simulated afresh from randomised cameras, light, optics and samples",
    )
    p.add_argument("--out", required=True, help="folder for checkpoints, weights and model card")
    p.add_argument(
        "--init",
        default=None,
        help="start from these weights (a .safetensors file, or a shipped method "
        "name such as jdsr): fine-tuning",
    )
    p.add_argument(
        "--random-size",
        type=_at_least(16),
        default=96,
        help="--data random: LR size of each simulated view (default 96)",
    )
    p.add_argument(
        "--random-pool",
        type=_at_least(1),
        default=64,
        help="--data random: views kept in memory (default 64)",
    )
    p.add_argument(
        "--random-refresh",
        type=_at_least(0),
        default=1,
        help="--data random: views replaced by new ones before each batch (default 1)",
    )
    p.add_argument(
        "--level",
        default="blind",
        help="noise level(s) of the input, e.g. avg1 or 1,2 (default: blind = all)",
    )
    p.add_argument(
        "--config",
        default="compact",
        choices=["compact", "full"],
        help="compact (CPU-sized, default) or full (the paper's configuration)",
    )
    p.add_argument("--iterations", type=_at_least(1), default=20000, help="training iterations")
    p.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="also stop after this much wall time (the learning-rate drop follows "
        "whichever budget runs out first)",
    )
    p.add_argument(
        "--batch", type=_at_least(1), default=16, help="batch size (paper: 16 JDSR, 128 denoisers)"
    )
    p.add_argument("--patch", type=_at_least(16), default=64, help="LR patch size (paper: 64)")
    p.add_argument("--lr", type=_positive, default=None, help="learning rate (default by task)")
    p.add_argument(
        "--loss-form",
        default="paper",
        choices=["paper", "released"],
        help="JDSR loss as in the paper (default) or the authors' released code",
    )
    p.add_argument(
        "--features",
        default="random-quarter",
        help="feature net of the perceptual/texture losses: random, random-quarter, "
        "dncnn (the shipped denoiser's features) or a torchvision VGG19 state "
        "dict file",
    )
    p.add_argument("--no-texture", action="store_true", help="drop the texture loss term")
    p.add_argument("--no-perceptual", action="store_true", help="drop the perceptual loss term")
    p.add_argument(
        "--no-gan",
        action="store_true",
        help="drop the adversarial term (ESRGAN, EPSR): the pixel-loss pre-training "
        "that their GAN training starts from (--init)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=_at_least(0), default=0, help="random seed")
    p.add_argument(
        "--threads",
        type=_threads,
        default=None,
        help="CPU threads for torch: a number, or auto = the cores free now",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.*")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")

    p = add(
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

    p = add("metrics", cmd_metrics, "RMSE, PSNR and SSIM of a prediction against a reference.")
    p.add_argument("pred", help="the image to measure")
    p.add_argument("ref", help="the reference (same shape; a SIM image with --clean)")
    p.add_argument(
        "--match-affine",
        action="store_true",
        help="map the reference affinely (least squares) onto the prediction first",
    )
    p.add_argument(
        "--clean",
        default=None,
        help="clean LR image (avg400): W2S mode, z-scored with its statistics and the "
        "reference affinely matched to it, as in the paper's tables",
    )
    p.add_argument(
        "--data-range",
        type=_positive,
        default=None,
        help="PSNR/SSIM data range (default: reference max - min)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add(
        "estimate-noise",
        cmd_estimate_noise,
        "Poisson-Gaussian noise (variance = a * mean + b) of one image, or of a noisy image "
        "against its clean version.",
    )
    p.add_argument(
        "image",
        help="a stack of raw frames (frame differences: the default) or one "
        "2-D image (e.g. avg1.tif)",
    )
    p.add_argument(
        "--single",
        action="store_true",
        help="with a stack: estimate from one frame (--frame) with the single-image "
        "method instead of the frame differences",
    )
    p.add_argument("--frame", type=_at_least(0), default=0, help="the frame used by --single")
    p.add_argument("--axes", default=None, help="axes of the file, e.g. TYX")
    p.add_argument(
        "--clean", default=None, help="clean image of the same view (e.g. avg400): paired estimate"
    )
    p.add_argument(
        "--frames",
        default=None,
        help="with --clean: n,N when IMAGE averages n of the N frames of CLEAN "
        "(W2S: 1,400 for avg1) to correct for the shared frames",
    )
    p.add_argument(
        "--clip",
        default="auto",
        help="clipping levels: auto (detect saturation / zero), none, or LO,HI",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add(
        "advise",
        cmd_advise,
        "Photon budget: predicted PSNR of the average of N frames against the clean image, "
        "and the frames needed for a target.",
    )
    p.add_argument(
        "data",
        metavar="STACK_OR_IMAGE",
        help="raw frames (T, Y, X) of a still view, or one raw frame",
    )
    p.add_argument("--target-psnr", type=float, default=None, help="the PSNR wanted, in dB")
    p.add_argument(
        "--frames",
        default=None,
        help="numbers of frames to predict for (default 1,2,4,...,256,400)",
    )
    p.add_argument(
        "--reference-frames",
        type=_at_least(2),
        default=None,
        help="the clean reference is the mean of this many frames including the "
        "averaged ones (W2S: 400)",
    )
    p.add_argument(
        "--data-range",
        type=_positive,
        default=None,
        help="the clean image's range (default: estimated from the data)",
    )
    p.add_argument("--axes", default=None, help="axes of the file, e.g. TYX")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add(
        "estimate-kernel",
        cmd_estimate_kernel,
        "Blur kernel between a clean LR image and its x2 HR (SIM) reference (W2S Eq. 2).",
    )
    p.add_argument("lr_clean", metavar="LR_CLEAN", help="the clean LR image (e.g. avg400)")
    p.add_argument("hr", metavar="HR", help="the HR reference, twice the LR size (SIM)")
    p.add_argument("--size", type=int, default=36, help="kernel size in HR pixels (default 36)")
    p.add_argument(
        "--upsample",
        default="bicubic",
        choices=["bicubic", "bilinear"],
        help="LR upsampling (bicubic as the paper; bilinear as the authors' code)",
    )
    p.add_argument(
        "--reg",
        type=float,
        default=1e-4,
        help="regularisation relative to the data (lambda = reg * N * var(HR))",
    )
    p.add_argument(
        "--lam",
        type=_positive,
        default=None,
        help="absolute lambda in HR units squared (overrides --reg)",
    )
    p.add_argument("--out", default=None, help="write the kernel to this .npy file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = add(
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
    p = add(
        "batch",
        cmd_batch,
        "Restore every matching file of a folder (locally or on a Dask cluster); resumable.",
    )
    p.add_argument("in_dir", metavar="IN_DIR", help="folder of TIFF / OME-TIFF / .npy files")
    p.add_argument(
        "out_dir",
        metavar="OUT_DIR",
        help="output folder (created); gets NAME_METHOD.ome.tif and batch_report.json",
    )
    p.add_argument(
        "--method",
        required=True,
        help="jdsr, dncnn, rcan, dncnn+rcan, pure-let, bicubic, ... (w2s models)",
    )
    p.add_argument(
        "--pattern",
        default="*",
        help="glob on file names, e.g. '*.tif' or 'cell_*' (default: every .tif, .tiff and .npy)",
    )
    p.add_argument(
        "--recursive",
        action="store_true",
        help="also match in sub-folders; outputs keep the sub-folder",
    )
    p.add_argument("--workers", type=int, default=1, help="files restored at once here (threads)")
    p.add_argument(
        "--scheduler",
        default=None,
        help="a Dask scheduler, tcp://HOST:PORT: every file is a task on that cluster "
        "(needs napari-w2s[distributed]; paths must be visible to the workers)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="restore again files whose output exists (default: skip them)",
    )
    p.add_argument(
        "--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, mps"
    )
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        help="tile size in input pixels; 0 = whole image; default: from free memory",
    )
    p.add_argument(
        "--threads",
        type=_threads,
        default=None,
        help=THREADS_HELP + "; with --workers N, auto shares the free cores",
    )
    p.add_argument(
        "--weights",
        default=None,
        help="a .safetensors file with its .json card, the name of one of your "
        "models (w2s models), or a BioImage Model Zoo package (.zip or folder)",
    )
    p.add_argument(
        "--noise-level",
        default=None,
        help="auto (per file, from its signal-to-noise ratio), or prefer the model "
        "trained for this level (1, 2, 4, 8, 16) if shipped",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (the report)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .restore.threads import quiet_idle_threads

    quiet_idle_threads()  # before torch loads: idle OpenMP threads sleep instead of spinning
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
    except MemoryError as err:
        detail = f" ({err})" if str(err) else ""
        print(
            f"w2s {args.command}: error: out of memory{detail}; the image is too large for "
            "this machine (crop it, or restore with w2s batch --tile)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"w2s {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
